/* list, status and stats: read a helper's state and print it as a table
 * for people or as JSON for scripts. */
#define G_LOG_DOMAIN "ifcvfctl"

#include <stdio.h>

#include "ctl.h"
#include "ifcvf-bus-names.h"

static JsonNode *port_json(CtlPort *port, gboolean full)
{
	JsonNode *node;
	JsonObject *obj;

	if (full) {
		node = ctl_json_from_props(port->props);
	} else {
		node = json_node_new(JSON_NODE_OBJECT);
		json_node_take_object(node, json_object_new());
	}
	obj = json_node_get_object(node);
	json_object_set_int_member(obj, "index", port->index);
	json_object_set_string_member(obj, "path", port->path);
	if (!full) {
		json_object_set_string_member(obj, "state", ctl_prop_str(port->props, "State"));
		json_object_set_string_member(obj, "device", ctl_prop_str(port->props, "Device"));
	}
	return node;
}

static JsonNode *helper_json(CtlHelper *helper, gboolean full)
{
	JsonNode *node = ctl_json_from_props(helper->domain);
	JsonObject *obj = json_node_get_object(node);
	JsonArray *ports = json_array_new();

	/* the list of port paths is in "ports" below, with each port's state */
	json_object_remove_member(obj, "ports");
	json_object_set_string_member(obj, "bus_name", helper->bus_name);
	for (guint i = 0; i < helper->ports->len; i++)
		json_array_add_element(ports, port_json(g_ptr_array_index(helper->ports, i), full));
	json_object_set_array_member(obj, "ports", ports);
	return node;
}

static char *ports_summary(CtlHelper *helper)
{
	GString *s = g_string_new(NULL);

	for (guint i = 0; i < helper->ports->len; i++) {
		CtlPort *port = g_ptr_array_index(helper->ports, i);

		g_string_append_printf(s, "%s%u:%s", i ? " " : "", port->index,
				       ctl_prop_str(port->props, "State"));
	}
	return g_string_free(s, FALSE);
}

gboolean ctl_cmd_list(Ctl *ctl, char **args, GError **error)
{
	g_autoptr(GPtrArray) helpers = g_ptr_array_new_with_free_func((GDestroyNotify)ctl_helper_free);
	g_auto(GStrv) names = NULL;

	if (args[0]) {
		g_set_error_literal(error, CTL_ERROR, CTL_EXIT_USAGE, "usage: list");
		return FALSE;
	}
	names = ctl_list_helpers(ctl, error);
	if (!names)
		return FALSE;
	for (guint i = 0; names[i]; i++) {
		CtlHelper *helper = ctl_helper_load(ctl, names[i], NULL);

		/* one that exits while we look is not listed */
		if (helper)
			g_ptr_array_add(helpers, helper);
	}

	if (ctl->json) {
		g_autoptr(JsonNode) root = json_node_new(JSON_NODE_ARRAY);
		JsonArray *array = json_array_new();

		for (guint i = 0; i < helpers->len; i++)
			json_array_add_element(array, helper_json(g_ptr_array_index(helpers, i), FALSE));
		json_node_take_array(root, array);
		ctl_json_print(root, TRUE);
		return TRUE;
	}
	if (helpers->len == 0) {
		printf("no VM is served on this bus\n");
		return TRUE;
	}
	printf("%-20s %-36s %8s %-13s %s\n", "VM", "UUID", "PID", "MIGRATION", "PORTS");
	for (guint i = 0; i < helpers->len; i++) {
		CtlHelper *h = g_ptr_array_index(helpers, i);
		g_autofree char *ports = ports_summary(h);

		printf("%-20s %-36s %8u %-13s %s\n", ctl_prop_str(h->domain, "Name"),
		       ctl_prop_str(h->domain, "Uuid"), (guint)ctl_prop_uint(h->domain, "Pid"),
		       ctl_prop_str(h->domain, "MigrationPhase"), ports);
	}
	return TRUE;
}

/* "Kicks: vring 0 host-notifier, vring 1 relay" (KickPaths) */
static void print_kick_paths(GVariant *p)
{
	g_autoptr(GVariant) v = p ? g_variant_lookup_value(p, "KickPaths", G_VARIANT_TYPE_STRING_ARRAY)
				  : NULL;
	g_autofree const char **paths = v ? g_variant_get_strv(v, NULL) : NULL;
	g_autoptr(GString) line = g_string_new("");

	for (guint q = 0; paths && paths[q]; q++)
		if (strcmp(paths[q], "off") != 0)
			g_string_append_printf(line, "%svring %u %s", line->len ? ", " : "", q, paths[q]);
	printf("  %-20s %s\n", "Kicks:", line->len ? line->str : "-");
}

static void print_port(CtlPort *port)
{
	GVariant *p = port->props;
	const char *reason = ctl_prop_str(p, "StateReason");
	const char *mac = ctl_prop_str(p, "Mac");

	printf("\nPort %u (%s)\n", port->index, port->path);
	printf("  %-20s %s\n", "Device:", ctl_prop_str(p, "Device"));
	printf("  %-20s %s\n", "Socket:", ctl_prop_str(p, "SocketPath"));
	printf("  %-20s %s\n", "Type:", ctl_prop_str(p, "DeviceType"));
	printf("  %-20s %s%s%s%s\n", "State:", ctl_prop_str(p, "State"), *reason ? " (" : "",
	       reason, *reason ? ")" : "");
	printf("  %-20s %s\n", "Migration mode:", ctl_prop_str(p, "LiveMigrationMode"));
	if (g_strcmp0(ctl_prop_str(p, "DeviceType"), "blk") == 0) {
		guint64 sectors = ctl_prop_uint(p, "Capacity");

		/* a blk port offers request queues, not pairs */
		printf("  %-20s %u (%u enabled)\n", "Queues:", (guint)ctl_prop_uint(p, "QueuePairs"),
		       (guint)ctl_prop_uint(p, "EnabledQueues"));
		printf("  %-20s %" G_GUINT64_FORMAT " sectors (%" G_GUINT64_FORMAT " bytes)\n",
		       "Capacity:", sectors, sectors * 512);
	} else {
		printf("  %-20s %u (%u queues enabled)\n", "Queue pairs:",
		       (guint)ctl_prop_uint(p, "QueuePairs"), (guint)ctl_prop_uint(p, "EnabledQueues"));
	}
	/* the VF's own address; the guest's comes from QEMU (the domain's <mac>) */
	printf("  %-20s %s%s\n", "VF MAC:", *mac ? mac : "-",
	       *mac ? " (the VF's; the guest may use another, the domain's <mac>)" : "");
	printf("  %-20s 0x%016" G_GINT64_MODIFIER "x\n", "Device features:",
	       ctl_prop_uint(p, "DeviceFeatures"));
	printf("  %-20s 0x%016" G_GINT64_MODIFIER "x\n", "Negotiated features:",
	       ctl_prop_uint(p, "NegotiatedFeatures"));
	printf("  %-20s %s\n", "Guest announce:", ctl_prop_bool(p, "GuestAnnounce") ? "yes" : "no");
	print_kick_paths(p);
}

gboolean ctl_cmd_status(Ctl *ctl, char **args, GError **error)
{
	g_autoptr(CtlHelper) helper = NULL;
	g_autofree char *bus_name = NULL;

	if (!args[0] || args[1]) {
		g_set_error_literal(error, CTL_ERROR, CTL_EXIT_USAGE, "usage: status VM");
		return FALSE;
	}
	bus_name = ctl_resolve_vm(ctl, args[0], error);
	if (!bus_name)
		return FALSE;
	helper = ctl_helper_load(ctl, bus_name, error);
	if (!helper)
		return FALSE;

	if (ctl->json) {
		g_autoptr(JsonNode) root = helper_json(helper, TRUE);

		ctl_json_print(root, TRUE);
		return TRUE;
	}
	printf("%-22s %s\n", "VM:", ctl_prop_str(helper->domain, "Name"));
	printf("%-22s %s\n", "UUID:", ctl_prop_str(helper->domain, "Uuid"));
	printf("%-22s %s\n", "Bus name:", helper->bus_name);
	printf("%-22s %u\n", "PID:", (guint)ctl_prop_uint(helper->domain, "Pid"));
	printf("%-22s %s\n", "Version:", ctl_prop_str(helper->domain, "Version"));
	printf("%-22s %u\n", "Restarts:", (guint)ctl_prop_uint(helper->domain, "Restarts"));
	printf("%-22s %s\n", "Migration phase:", ctl_prop_str(helper->domain, "MigrationPhase"));
	for (guint i = 0; i < helper->ports->len; i++)
		print_port(g_ptr_array_index(helper->ports, i));
	return TRUE;
}

static GVariant *get_stats(Ctl *ctl, CtlHelper *helper, CtlPort *port, GError **error)
{
	g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
		ctl->connection, helper->owner, port->path, IFCVF_BUS_PORT_INTERFACE, "GetStats",
		NULL, G_VARIANT_TYPE("(a{st})"), G_DBUS_CALL_FLAGS_NO_AUTO_START, 10000, NULL,
		error);

	if (!reply) {
		g_autofree char *what = g_strdup_printf("port %u", port->index);

		ctl_error_from_call(error, what);
		return NULL;
	}
	return g_variant_get_child_value(reply, 0);
}

gboolean ctl_cmd_stats(Ctl *ctl, char **args, GError **error)
{
	g_autoptr(CtlHelper) helper = NULL;
	g_autofree char *bus_name = NULL;
	g_autoptr(GPtrArray) chosen = g_ptr_array_new();
	g_autoptr(JsonNode) root = NULL;
	JsonArray *json_ports = NULL;
	guint index = 0;

	if (!args[0] || (args[1] && args[2])) {
		g_set_error_literal(error, CTL_ERROR, CTL_EXIT_USAGE, "usage: stats VM [PORT]");
		return FALSE;
	}
	if (args[1] && !ctl_parse_port(args[1], &index, error))
		return FALSE;
	bus_name = ctl_resolve_vm(ctl, args[0], error);
	if (!bus_name)
		return FALSE;
	helper = ctl_helper_load(ctl, bus_name, error);
	if (!helper)
		return FALSE;
	if (args[1]) {
		CtlPort *port = ctl_helper_find_port(helper, index);

		if (!port) {
			g_set_error(error, CTL_ERROR, CTL_EXIT_FAILED, "VM '%s' has no port %u",
				    ctl_prop_str(helper->domain, "Name"), index);
			return FALSE;
		}
		g_ptr_array_add(chosen, port);
	} else {
		g_ptr_array_extend(chosen, helper->ports, NULL, NULL);
	}

	if (ctl->json) {
		JsonObject *obj = json_object_new();

		json_object_set_string_member(obj, "name", ctl_prop_str(helper->domain, "Name"));
		json_object_set_string_member(obj, "uuid", ctl_prop_str(helper->domain, "Uuid"));
		json_ports = json_array_new();
		json_object_set_array_member(obj, "ports", json_ports);
		root = json_node_new(JSON_NODE_OBJECT);
		json_node_take_object(root, obj);
	} else {
		printf("%-6s %-28s %20s\n", "PORT", "COUNTER", "VALUE");
	}
	for (guint i = 0; i < chosen->len; i++) {
		CtlPort *port = g_ptr_array_index(chosen, i);
		g_autoptr(GVariant) stats = get_stats(ctl, helper, port, error);
		JsonObject *counters = json_object_new();
		GVariantIter iter;
		const char *name;
		guint64 value;

		if (!stats) {
			json_object_unref(counters);
			return FALSE;
		}
		g_variant_iter_init(&iter, stats);
		while (g_variant_iter_next(&iter, "{&st}", &name, &value)) {
			if (ctl->json)
				json_object_set_int_member(counters, name, (gint64)value);
			else
				printf("%-6u %-28s %20" G_GUINT64_FORMAT "\n", port->index, name, value);
		}
		if (ctl->json) {
			JsonObject *entry = json_object_new();

			json_object_set_int_member(entry, "index", port->index);
			json_object_set_object_member(entry, "stats", counters);
			json_array_add_object_element(json_ports, entry);
		} else {
			json_object_unref(counters);
		}
	}
	if (ctl->json)
		ctl_json_print(root, TRUE);
	return TRUE;
}

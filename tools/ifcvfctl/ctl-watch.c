/* watch VM: print every change a helper announces (PropertiesChanged,
 * ports added or removed) until interrupted or until the helper leaves. */
#define G_LOG_DOMAIN "ifcvfctl"

#include <glib-unix.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "ifcvf-bus-names.h"

typedef struct {
	Ctl *ctl;
	GMainLoop *loop;
	char *bus_name;
	char *owner;
	GHashTable *cache;     /* object path → (property name → GVariant) */
	GError *error;         /* set when the watch ends badly */
	guint subs[4];
} Watch;

static GHashTable *props_table(GVariant *props)
{
	GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					      (GDestroyNotify)g_variant_unref);
	GVariantIter iter;
	char *name;
	GVariant *value;

	g_variant_iter_init(&iter, props);
	while (g_variant_iter_next(&iter, "{sv}", &name, &value))
		g_hash_table_insert(t, name, value);
	return t;
}

/* "port 3" or "vm", for people */
static char *object_label(const char *path)
{
	guint index;

	if (ifcvf_bus_port_index_from_path(path, &index))
		return g_strdup_printf("port %u", index);
	return g_strdup("vm");
}

static char *format_value(GVariant *v)
{
	if (!v)
		return g_strdup("(unset)");
	if (g_variant_is_of_type(v, G_VARIANT_TYPE_STRING))
		return g_strdup(*g_variant_get_string(v, NULL) ? g_variant_get_string(v, NULL) : "\"\"");
	if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT64))
		return g_strdup_printf("0x%" G_GINT64_MODIFIER "x", g_variant_get_uint64(v));
	if (g_variant_is_of_type(v, G_VARIANT_TYPE_BOOLEAN))
		return g_strdup(g_variant_get_boolean(v) ? "yes" : "no");
	if (g_variant_is_of_type(v, G_VARIANT_TYPE_OBJECT_PATH_ARRAY)) {
		g_autofree const char **paths = g_variant_get_objv(v, NULL);

		return g_strjoinv(" ", (char **)paths);
	}
	return g_variant_print(v, FALSE);
}

static char *now_text(gboolean iso)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_local();

	if (iso)
		return g_date_time_format_iso8601(now);
	return g_strdup_printf("%02d:%02d:%02d.%03d", g_date_time_get_hour(now),
			       g_date_time_get_minute(now), g_date_time_get_second(now),
			       g_date_time_get_microsecond(now) / 1000);
}

/* {"time": ..., "event": @event, "object": "vm"|"port", "port": N} */
static JsonObject *json_event(const char *event, const char *path)
{
	JsonObject *obj = json_object_new();
	g_autofree char *time = now_text(TRUE);
	guint index;

	json_object_set_string_member(obj, "time", time);
	json_object_set_string_member(obj, "event", event);
	if (!path)
		return obj;
	if (ifcvf_bus_port_index_from_path(path, &index)) {
		json_object_set_string_member(obj, "object", "port");
		json_object_set_int_member(obj, "port", index);
	} else {
		json_object_set_string_member(obj, "object", "vm");
	}
	return obj;
}

static void print_json_event(JsonObject *obj)
{
	g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);

	json_node_take_object(node, obj);
	ctl_json_print(node, FALSE);
}

static void properties_changed_cb(GDBusConnection *connection, const char *sender,
				  const char *path, const char *iface, const char *signal,
				  GVariant *params, gpointer user_data)
{
	Watch *w = user_data;
	g_autoptr(GVariant) changed = NULL;
	g_autofree char *label = object_label(path);
	g_autofree char *time = now_text(FALSE);
	JsonObject *obj = NULL, *now_json = NULL, *was_json = NULL;
	const char *changed_iface;
	GHashTable *props;
	GVariantIter iter;
	const char *name;
	GVariant *value;

	if (!g_str_has_prefix(path, IFCVF_BUS_ROOT_PATH))
		return;
	g_variant_get(params, "(&s@a{sv}@as)", &changed_iface, &changed, NULL);
	props = g_hash_table_lookup(w->cache, path);
	if (!props) {
		props = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					      (GDestroyNotify)g_variant_unref);
		g_hash_table_insert(w->cache, g_strdup(path), props);
	}
	if (w->ctl->json) {
		obj = json_event("changed", path);
		now_json = json_object_new();
		was_json = json_object_new();
	}
	g_variant_iter_init(&iter, changed);
	while (g_variant_iter_next(&iter, "{&sv}", &name, &value)) {
		GVariant *old = g_hash_table_lookup(props, name);

		if (w->ctl->json) {
			g_autofree char *key = ctl_json_key(name);

			json_object_set_member(now_json, key, ctl_json_from_variant(value));
			json_object_set_member(was_json, key,
					       old ? ctl_json_from_variant(old) : json_node_new(JSON_NODE_NULL));
		} else {
			g_autofree char *a = format_value(old);
			g_autofree char *b = format_value(value);

			printf("%s %s %s: %s -> %s\n", time, label, name, a, b);
		}
		g_hash_table_insert(props, g_strdup(name), value);
	}
	if (w->ctl->json) {
		json_object_set_object_member(obj, "changed", now_json);
		json_object_set_object_member(obj, "previous", was_json);
		print_json_event(obj);
	}
	fflush(stdout);
}

static void interfaces_added_cb(GDBusConnection *connection, const char *sender,
				const char *path, const char *iface, const char *signal,
				GVariant *params, gpointer user_data)
{
	Watch *w = user_data;
	g_autoptr(GVariant) ifaces = NULL;
	g_autoptr(GVariant) props = NULL;
	const char *object;

	g_variant_get(params, "(&o@a{sa{sv}})", &object, &ifaces);
	props = g_variant_lookup_value(ifaces, IFCVF_BUS_PORT_INTERFACE, G_VARIANT_TYPE("a{sv}"));
	if (!props)
		return;
	g_hash_table_insert(w->cache, g_strdup(object), props_table(props));
	if (w->ctl->json) {
		JsonObject *obj = json_event("port-added", object);

		json_object_set_member(obj, "properties", ctl_json_from_props(props));
		print_json_event(obj);
	} else {
		g_autofree char *label = object_label(object);
		g_autofree char *time = now_text(FALSE);

		printf("%s %s added: %s %s, state %s\n", time, label,
		       ctl_prop_str(props, "DeviceType"), ctl_prop_str(props, "Device"),
		       ctl_prop_str(props, "State"));
		fflush(stdout);
	}
}

static void interfaces_removed_cb(GDBusConnection *connection, const char *sender,
				  const char *path, const char *iface, const char *signal,
				  GVariant *params, gpointer user_data)
{
	Watch *w = user_data;
	const char *object;

	g_variant_get(params, "(&o@as)", &object, NULL);
	if (!g_hash_table_remove(w->cache, object))
		return;
	if (w->ctl->json) {
		print_json_event(json_event("port-removed", object));
	} else {
		g_autofree char *label = object_label(object);
		g_autofree char *time = now_text(FALSE);

		printf("%s %s removed\n", time, label);
		fflush(stdout);
	}
}

static void name_owner_changed_cb(GDBusConnection *connection, const char *sender,
				  const char *path, const char *iface, const char *signal,
				  GVariant *params, gpointer user_data)
{
	Watch *w = user_data;
	const char *new_owner;

	g_variant_get(params, "(&s&s&s)", NULL, NULL, &new_owner);
	if (g_strcmp0(new_owner, w->owner) == 0)
		return;
	if (w->ctl->json) {
		print_json_event(json_event("gone", NULL));
	} else {
		g_autofree char *time = now_text(FALSE);

		printf("%s vm: the helper left the bus\n", time);
		fflush(stdout);
	}
	g_main_loop_quit(w->loop);
}

static void closed_cb(GDBusConnection *connection, gboolean remote_peer_vanished,
		      GError *error, gpointer user_data)
{
	Watch *w = user_data;

	if (!w->error)
		w->error = g_error_new_literal(CTL_ERROR, CTL_EXIT_NO_BUS,
					       "the connection to the bus was closed");
	g_main_loop_quit(w->loop);
}

static gboolean signal_cb(gpointer user_data)
{
	Watch *w = user_data;

	g_main_loop_quit(w->loop);
	return G_SOURCE_CONTINUE;
}

static void print_header(Watch *w, CtlHelper *helper)
{
	const char *name = ctl_prop_str(helper->domain, "Name");
	const char *uuid = ctl_prop_str(helper->domain, "Uuid");

	if (w->ctl->json) {
		JsonObject *obj = json_event("watching", NULL);
		JsonArray *ports = json_array_new();

		json_object_set_string_member(obj, "name", name);
		json_object_set_string_member(obj, "uuid", uuid);
		json_object_set_string_member(obj, "bus_name", helper->bus_name);
		json_object_set_string_member(obj, "migration_phase",
					      ctl_prop_str(helper->domain, "MigrationPhase"));
		for (guint i = 0; i < helper->ports->len; i++) {
			CtlPort *port = g_ptr_array_index(helper->ports, i);
			JsonObject *p = json_object_new();

			json_object_set_int_member(p, "index", port->index);
			json_object_set_string_member(p, "state", ctl_prop_str(port->props, "State"));
			json_array_add_object_element(ports, p);
		}
		json_object_set_array_member(obj, "ports", ports);
		print_json_event(obj);
		return;
	}
	printf("watching VM '%s' (%s), migration phase %s, %u port(s); interrupt to stop\n", name,
	       uuid, ctl_prop_str(helper->domain, "MigrationPhase"), helper->ports->len);
	fflush(stdout);
}

static void subscribe(Watch *w)
{
	GDBusConnection *c = w->ctl->connection;

	w->subs[0] = g_dbus_connection_signal_subscribe(c, "org.freedesktop.DBus",
		"org.freedesktop.DBus", "NameOwnerChanged", "/org/freedesktop/DBus", w->bus_name,
		G_DBUS_SIGNAL_FLAGS_NONE, name_owner_changed_cb, w, NULL);
	w->subs[1] = g_dbus_connection_signal_subscribe(c, w->owner,
		"org.freedesktop.DBus.Properties", "PropertiesChanged", NULL, NULL,
		G_DBUS_SIGNAL_FLAGS_NONE, properties_changed_cb, w, NULL);
	w->subs[2] = g_dbus_connection_signal_subscribe(c, w->owner,
		"org.freedesktop.DBus.ObjectManager", "InterfacesAdded", IFCVF_BUS_ROOT_PATH, NULL,
		G_DBUS_SIGNAL_FLAGS_NONE, interfaces_added_cb, w, NULL);
	w->subs[3] = g_dbus_connection_signal_subscribe(c, w->owner,
		"org.freedesktop.DBus.ObjectManager", "InterfacesRemoved", IFCVF_BUS_ROOT_PATH, NULL,
		G_DBUS_SIGNAL_FLAGS_NONE, interfaces_removed_cb, w, NULL);
}

static gboolean start_watch(Watch *w, const char *vm, GError **error)
{
	g_autoptr(CtlHelper) helper = NULL;
	g_autoptr(GVariant) reply = NULL;

	w->bus_name = ctl_resolve_vm(w->ctl, vm, error);
	if (!w->bus_name)
		return FALSE;
	reply = g_dbus_connection_call_sync(w->ctl->connection, "org.freedesktop.DBus",
					    "/org/freedesktop/DBus", "org.freedesktop.DBus",
					    "GetNameOwner", g_variant_new("(s)", w->bus_name),
					    G_VARIANT_TYPE("(s)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL,
					    error);
	if (!reply) {
		ctl_error_from_call(error, w->bus_name);
		return FALSE;
	}
	g_variant_get(reply, "(s)", &w->owner);
	/* subscribe before reading the state, so no change falls in between */
	subscribe(w);
	helper = ctl_helper_load(w->ctl, w->bus_name, error);
	if (!helper)
		return FALSE;
	if (g_strcmp0(helper->owner, w->owner) != 0) {
		g_set_error(error, CTL_ERROR, CTL_EXIT_NO_HELPER, "the helper of VM '%s' restarted",
			    vm);
		return FALSE;
	}
	g_hash_table_insert(w->cache, g_strdup(IFCVF_BUS_ROOT_PATH), props_table(helper->domain));
	for (guint i = 0; i < helper->ports->len; i++) {
		CtlPort *port = g_ptr_array_index(helper->ports, i);

		g_hash_table_insert(w->cache, g_strdup(port->path), props_table(port->props));
	}
	print_header(w, helper);
	return TRUE;
}

gboolean ctl_cmd_watch(Ctl *ctl, char **args, GError **error)
{
	Watch w = { .ctl = ctl };
	gulong closed_id;
	guint sigint, sigterm;
	gboolean ok;

	if (!args[0] || args[1]) {
		g_set_error_literal(error, CTL_ERROR, CTL_EXIT_USAGE, "usage: watch VM");
		return FALSE;
	}
	w.loop = g_main_loop_new(NULL, FALSE);
	w.cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					(GDestroyNotify)g_hash_table_unref);
	closed_id = g_signal_connect(ctl->connection, "closed", G_CALLBACK(closed_cb), &w);
	sigint = g_unix_signal_add(SIGINT, signal_cb, &w);
	sigterm = g_unix_signal_add(SIGTERM, signal_cb, &w);

	ok = start_watch(&w, args[0], error);
	if (ok) {
		g_main_loop_run(w.loop);
		if (w.error) {
			g_propagate_error(error, g_steal_pointer(&w.error));
			ok = FALSE;
		}
	}

	g_source_remove(sigint);
	g_source_remove(sigterm);
	g_signal_handler_disconnect(ctl->connection, closed_id);
	for (guint i = 0; i < G_N_ELEMENTS(w.subs); i++)
		if (w.subs[i])
			g_dbus_connection_signal_unsubscribe(ctl->connection, w.subs[i]);
	g_hash_table_unref(w.cache);
	g_main_loop_unref(w.loop);
	g_free(w.bus_name);
	g_free(w.owner);
	return ok;
}

/* Reaching the bus, finding the helper of a VM, reading its state, and
 * turning D-Bus errors into exit codes. */
#define G_LOG_DOMAIN "ifcvfctl"

#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "ifcvf-bus-error.h"
#include "ifcvf-bus-names.h"

/* a helper answers from its main loop; one that takes longer is stuck */
#define CALL_TIMEOUT_MS 10000

G_DEFINE_QUARK(ifcvfctl-error-quark, ctl_error)

void ctl_helper_free(CtlHelper *helper)
{
	if (!helper)
		return;
	g_free(helper->bus_name);
	g_free(helper->owner);
	g_clear_pointer(&helper->domain, g_variant_unref);
	g_clear_pointer(&helper->ports, g_ptr_array_unref);
	g_free(helper);
}

static void ctl_port_free(CtlPort *port)
{
	g_free(port->path);
	g_clear_pointer(&port->props, g_variant_unref);
	g_free(port);
}

static const char *bus_label(Ctl *ctl)
{
	if (g_strcmp0(ctl->bus, "system") == 0)
		return "the system bus";
	if (g_strcmp0(ctl->bus, "session") == 0)
		return "the session bus";
	return ctl->bus;
}

gboolean ctl_connect(Ctl *ctl, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autofree char *address = ifcvf_bus_resolve_address(ctl->bus, &error_local);

	if (!address) {
		if (g_error_matches(error_local, IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_INVALID_ARGS))
			g_set_error(error, CTL_ERROR, CTL_EXIT_USAGE, "--bus: %s", error_local->message);
		else
			g_set_error_literal(error, CTL_ERROR, CTL_EXIT_NO_BUS, error_local->message);
		return FALSE;
	}
	ctl->connection = g_dbus_connection_new_for_address_sync(
		address,
		G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
		G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
		NULL, NULL, &error_local);
	if (!ctl->connection) {
		g_dbus_error_strip_remote_error(error_local);
		g_set_error(error, CTL_ERROR, CTL_EXIT_NO_BUS, "cannot reach %s: %s",
			    bus_label(ctl), error_local->message);
		return FALSE;
	}
	return TRUE;
}

static GVariant *call(Ctl *ctl, const char *dest, const char *path, const char *iface,
		      const char *method, GVariant *args, const char *reply_type, GError **error)
{
	return g_dbus_connection_call_sync(ctl->connection, dest, path, iface, method, args,
					   reply_type ? G_VARIANT_TYPE(reply_type) : NULL,
					   G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, NULL,
					   error);
}

#define BUS_ACCESS_DENIED    "org.freedesktop.DBus.Error.AccessDenied"
#define HELPER_ACCESS_DENIED "org.ifcvf.Helper1.Error.AccessDenied"
#define POLKIT_ACTION        "org.ifcvf.helper1.manage"

/* An AccessDenied, from the bus daemon (its policy; its text quotes the
 * rule, long and of no help) or from the helper (its own check), becomes
 * one line saying what the caller needs. */
static void access_denied(GError *e, const char *remote, gboolean change, const char *what)
{
	g_autofree char *msg = NULL;

	if (change && (g_str_equal(remote, HELPER_ACCESS_DENIED) || geteuid() != 0))
		msg = g_strdup_printf("permission denied: changing a port needs root or the polkit "
				      "action " POLKIT_ACTION " (%s)", what);
	else if (g_str_equal(remote, HELPER_ACCESS_DENIED))
		msg = g_strdup_printf("permission denied by the helper (%s): %s", what, e->message);
	else
		msg = g_strdup_printf("permission denied by the D-Bus policy (%s): is "
				      "org.ifcvf.Helper1.conf installed in the bus's system.d and "
				      "the bus reloaded?", what);
	e->domain = CTL_ERROR;
	e->code = CTL_EXIT_DENIED;
	g_free(e->message);
	e->message = g_steal_pointer(&msg);
}

static void error_from_call(GError **error, const char *what, gboolean change)
{
	g_autofree char *remote = NULL;
	GError *e;
	int code = CTL_EXIT_FAILED;

	if (!error || !*error)
		return;
	e = *error;
	if (e->domain == CTL_ERROR)
		return;
	remote = g_dbus_error_get_remote_error(e);
	g_dbus_error_strip_remote_error(e);
	if (remote && (g_str_equal(remote, BUS_ACCESS_DENIED) ||
		       g_str_equal(remote, HELPER_ACCESS_DENIED))) {
		access_denied(e, remote, change, what);
		return;
	}
	/* the helper went away between finding it and asking it */
	if (g_error_matches(e, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
	    g_error_matches(e, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER) ||
	    g_error_matches(e, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY))
		code = CTL_EXIT_NO_HELPER;
	else if (g_error_matches(e, G_IO_ERROR, G_IO_ERROR_CLOSED))
		code = CTL_EXIT_NO_BUS;
	e->domain = CTL_ERROR;
	e->code = code;
	g_prefix_error(error, "%s: ", what);
	if (remote) {
		g_autofree char *msg = g_strdup_printf("%s (%s)", (*error)->message, remote);

		g_free((*error)->message);
		(*error)->message = g_steal_pointer(&msg);
	}
}

void ctl_error_from_call(GError **error, const char *what)
{
	error_from_call(error, what, FALSE);
}

void ctl_error_from_change(GError **error, const char *what)
{
	error_from_call(error, what, TRUE);
}

/* g_ptr_array_sort hands pointers to the elements */
static gint str_ptr_cmp(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

GStrv ctl_list_helpers(Ctl *ctl, GError **error)
{
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GVariantIter) iter = NULL;
	const char *name;

	reply = call(ctl, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
		     "ListNames", NULL, "(as)", error);
	if (!reply) {
		ctl_error_from_call(error, "cannot list the names on the bus");
		return NULL;
	}
	g_variant_get(reply, "(as)", &iter);
	while (g_variant_iter_next(iter, "&s", &name))
		if (g_str_has_prefix(name, IFCVF_BUS_NAME_PREFIX))
			g_ptr_array_add(names, g_strdup(name));
	g_ptr_array_sort(names, str_ptr_cmp);
	g_ptr_array_add(names, NULL);
	return (GStrv)g_ptr_array_free(g_steal_pointer(&names), FALSE);
}

static char *name_owner(Ctl *ctl, const char *bus_name, GError **error)
{
	g_autoptr(GVariant) reply = call(ctl, "org.freedesktop.DBus", "/org/freedesktop/DBus",
					 "org.freedesktop.DBus", "GetNameOwner",
					 g_variant_new("(s)", bus_name), "(s)", error);
	char *owner;

	if (!reply)
		return NULL;
	g_variant_get(reply, "(s)", &owner);
	return owner;
}

static GVariant *domain_props(Ctl *ctl, const char *bus_name, GError **error)
{
	g_autoptr(GVariant) reply = call(ctl, bus_name, IFCVF_BUS_ROOT_PATH,
					 "org.freedesktop.DBus.Properties", "GetAll",
					 g_variant_new("(s)", IFCVF_BUS_DOMAIN_INTERFACE),
					 "(a{sv})", error);

	return reply ? g_variant_get_child_value(reply, 0) : NULL;
}

char *ctl_resolve_vm(Ctl *ctl, const char *vm, GError **error)
{
	g_autofree char *by_uuid = ifcvf_bus_name_for_uuid(vm, NULL);
	g_autoptr(GPtrArray) matches = g_ptr_array_new_with_free_func(g_free);
	g_auto(GStrv) names = NULL;

	if (by_uuid) {
		g_autofree char *owner = name_owner(ctl, by_uuid, NULL);

		if (owner)
			return g_steal_pointer(&by_uuid);
	}
	names = ctl_list_helpers(ctl, error);
	if (!names)
		return NULL;
	for (guint i = 0; names[i]; i++) {
		g_autoptr(GVariant) props = domain_props(ctl, names[i], NULL);

		/* a helper that leaves meanwhile is simply not a match */
		if (props && g_strcmp0(ctl_prop_str(props, "Name"), vm) == 0)
			g_ptr_array_add(matches, g_strdup(names[i]));
	}
	if (matches->len == 1)
		return g_strdup(g_ptr_array_index(matches, 0));
	if (matches->len > 1) {
		g_set_error(error, CTL_ERROR, CTL_EXIT_USAGE,
			    "%u helpers serve VMs named '%s' on %s; give the UUID", matches->len,
			    vm, bus_label(ctl));
		return NULL;
	}
	g_set_error(error, CTL_ERROR, CTL_EXIT_NO_HELPER, "no helper serves VM '%s' on %s", vm,
		    bus_label(ctl));
	return NULL;
}

static gint port_cmp(gconstpointer a, gconstpointer b)
{
	const CtlPort *pa = *(CtlPort *const *)a;
	const CtlPort *pb = *(CtlPort *const *)b;

	return pa->index < pb->index ? -1 : pa->index > pb->index;
}

static gboolean load_ports(Ctl *ctl, CtlHelper *helper, GError **error)
{
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GVariantIter) objects = NULL;
	GVariantIter *ifaces;
	const char *path;

	reply = call(ctl, helper->owner, IFCVF_BUS_ROOT_PATH, "org.freedesktop.DBus.ObjectManager",
		     "GetManagedObjects", NULL, "(a{oa{sa{sv}}})", error);
	if (!reply)
		return FALSE;
	g_variant_get(reply, "(a{oa{sa{sv}}})", &objects);
	while (g_variant_iter_next(objects, "{&oa{sa{sv}}}", &path, &ifaces)) {
		const char *iface;
		GVariant *props;
		guint index;

		while (g_variant_iter_next(ifaces, "{&s@a{sv}}", &iface, &props)) {
			if (strcmp(iface, IFCVF_BUS_PORT_INTERFACE) == 0 &&
			    ifcvf_bus_port_index_from_path(path, &index)) {
				CtlPort *port = g_new0(CtlPort, 1);

				port->index = index;
				port->path = g_strdup(path);
				port->props = g_variant_ref(props);
				g_ptr_array_add(helper->ports, port);
			}
			g_variant_unref(props);
		}
		g_variant_iter_free(ifaces);
	}
	g_ptr_array_sort(helper->ports, port_cmp);
	return TRUE;
}

CtlHelper *ctl_helper_load(Ctl *ctl, const char *bus_name, GError **error)
{
	g_autoptr(CtlHelper) helper = g_new0(CtlHelper, 1);

	helper->bus_name = g_strdup(bus_name);
	helper->ports = g_ptr_array_new_with_free_func((GDestroyNotify)ctl_port_free);
	/* ask the unique name from here on, so every answer is from one process */
	helper->owner = name_owner(ctl, bus_name, error);
	if (helper->owner)
		helper->domain = domain_props(ctl, helper->owner, error);
	if (!helper->domain || !load_ports(ctl, helper, error)) {
		ctl_error_from_call(error, bus_name);
		return NULL;
	}
	return g_steal_pointer(&helper);
}

CtlPort *ctl_helper_find_port(CtlHelper *helper, guint index)
{
	for (guint i = 0; i < helper->ports->len; i++) {
		CtlPort *port = g_ptr_array_index(helper->ports, i);

		if (port->index == index)
			return port;
	}
	return NULL;
}

gboolean ctl_parse_port(const char *s, guint *ret_index, GError **error)
{
	guint64 v;

	if (!g_ascii_string_to_unsigned(s, 10, 0, G_MAXUINT, &v, NULL)) {
		g_set_error(error, CTL_ERROR, CTL_EXIT_USAGE, "'%s' is not a port number", s);
		return FALSE;
	}
	*ret_index = (guint)v;
	return TRUE;
}

const char *ctl_prop_str(GVariant *props, const char *name)
{
	const char *s = NULL;

	if (!props || !g_variant_lookup(props, name, "&s", &s))
		return "";
	return s;
}

guint64 ctl_prop_uint(GVariant *props, const char *name)
{
	g_autoptr(GVariant) v = props ? g_variant_lookup_value(props, name, NULL) : NULL;

	if (!v)
		return 0;
	if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT64))
		return g_variant_get_uint64(v);
	if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT32))
		return g_variant_get_uint32(v);
	return 0;
}

gboolean ctl_prop_bool(GVariant *props, const char *name)
{
	gboolean b = FALSE;

	if (props)
		(void)g_variant_lookup(props, name, "b", &b);
	return b;
}

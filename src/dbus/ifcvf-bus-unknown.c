/* Calls to /org/ifcvf/Helper1/port/<anything> that no port serves get
 * org.ifcvf.Helper1.Error.UnknownPort instead of GDBus's generic
 * "no such interface", so a client can tell a wrong port from a wrong call.
 * A subtree registered at the ports' parent path sees exactly those calls:
 * GDBus dispatches to a registered object first. */
#define G_LOG_DOMAIN "IfcvfBus"

#include "ifcvf-bus-private.h"

static void unknown_method_call(GDBusConnection *connection, const char *sender,
				const char *object_path, const char *interface_name,
				const char *method_name, GVariant *parameters,
				GDBusMethodInvocation *invocation, gpointer user_data)
{
	g_debug("%s.%s() on %s from %s: no such port", interface_name, method_name, object_path,
		sender);
	g_dbus_method_invocation_return_error(invocation, IFCVF_BUS_ERROR,
					      IFCVF_BUS_ERROR_UNKNOWN_PORT, "no port at %s",
					      object_path);
}

/* no property callbacks: GDBus then hands Get, GetAll and Set to
 * method_call too, so they fail like any other call (with a getter, GetAll
 * would quietly answer an empty dictionary) */
static const GDBusInterfaceVTable unknown_vtable = {
	.method_call = unknown_method_call,
};

/* GDBus lists the registered port objects as children by itself; the
 * subtree adds none of its own */
static char **subtree_enumerate(GDBusConnection *connection, const char *sender,
				const char *object_path, gpointer user_data)
{
	return g_new0(char *, 1);
}

static GDBusInterfaceInfo **subtree_introspect(GDBusConnection *connection, const char *sender,
					       const char *object_path, const char *node,
					       gpointer user_data)
{
	GDBusInterfaceInfo **infos;

	/* the parent path itself carries no interface. An unknown node has to
	 * claim the Port interface, or GDBus would answer its calls with a
	 * generic error before asking us; introspecting it shows that. */
	if (!node)
		return NULL;
	infos = g_new0(GDBusInterfaceInfo *, 2);
	infos[0] = g_dbus_interface_info_ref(ifcvf_dbus_port_interface_info());
	return infos;
}

static const GDBusInterfaceVTable *subtree_dispatch(GDBusConnection *connection,
						    const char *sender, const char *object_path,
						    const char *interface_name, const char *node,
						    gpointer *out_user_data, gpointer user_data)
{
	*out_user_data = user_data;
	return &unknown_vtable;
}

static const GDBusSubtreeVTable subtree_vtable = {
	.enumerate = subtree_enumerate,
	.introspect = subtree_introspect,
	.dispatch = subtree_dispatch,
};

guint ifcvf_bus_unknown_port_register(IfcvfBus *bus, GError **error)
{
	return g_dbus_connection_register_subtree(bus->connection, IFCVF_BUS_PORTS_PATH,
						  &subtree_vtable,
						  G_DBUS_SUBTREE_FLAGS_DISPATCH_TO_UNENUMERATED_NODES,
						  bus, NULL, error);
}

const GDBusSubtreeVTable *ifcvf_bus_unknown_port_vtable(void)
{
	return &subtree_vtable;
}

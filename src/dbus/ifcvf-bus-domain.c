/* org.ifcvf.Helper1.Domain at /org/ifcvf/Helper1. */
#define G_LOG_DOMAIN "IfcvfBus"

#include "ifcvf-bus-private.h"

#include <unistd.h>

#include "config.h"

/* run the helper's handler outside the D-Bus dispatch, so it may do
 * anything, including freeing the bus */
static gboolean shutdown_idle_cb(gpointer user_data)
{
	IfcvfBus *bus = user_data;

	g_clear_pointer(&bus->shutdown_idle, g_source_unref);
	if (bus->handlers.shutdown)
		bus->handlers.shutdown(bus, bus->handlers_data);
	return G_SOURCE_REMOVE;
}

static gboolean handle_shutdown_cb(IfcvfDbusDomain *domain, GDBusMethodInvocation *invocation,
				   gpointer user_data)
{
	IfcvfBus *bus = user_data;

	g_debug("Shutdown() from %s", g_dbus_method_invocation_get_sender(invocation));
	if (ifcvf_bus_refuse_if_shutting_down(bus, invocation))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	ifcvf_bus_begin_shutdown(bus);
	ifcvf_dbus_domain_complete_shutdown(domain, invocation);
	bus->shutdown_idle = g_idle_source_new();
	g_source_set_callback(bus->shutdown_idle, shutdown_idle_cb, bus, NULL);
	g_source_attach(bus->shutdown_idle, g_main_context_get_thread_default());
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

IfcvfDbusDomain *ifcvf_bus_domain_new(IfcvfBus *bus)
{
	IfcvfDbusDomain *domain = ifcvf_dbus_domain_skeleton_new();
	const char *const no_ports[] = { NULL };

	ifcvf_dbus_domain_set_name(domain, bus->vm_name);
	ifcvf_dbus_domain_set_uuid(domain, bus->uuid);
	ifcvf_dbus_domain_set_version(domain, PACKAGE_VERSION);
	ifcvf_dbus_domain_set_pid(domain, (guint)getpid());
	ifcvf_dbus_domain_set_migration_phase(domain,
		ifcvf_bus_migration_phase_to_string(IFCVF_BUS_MIGRATION_NONE));
	ifcvf_dbus_domain_set_ports(domain, no_ports);
	g_signal_connect(domain, "handle-shutdown", G_CALLBACK(handle_shutdown_cb), bus);
	ifcvf_bus_auth_guard(bus->auth, G_DBUS_INTERFACE_SKELETON(domain));
	return domain;
}

void ifcvf_bus_domain_update_ports(IfcvfBus *bus)
{
	g_autoptr(GPtrArray) paths = g_ptr_array_new();

	for (guint i = 0; i < bus->ports->len; i++)
		g_ptr_array_add(paths, ((IfcvfBusPort *)g_ptr_array_index(bus->ports, i))->path);
	g_ptr_array_add(paths, NULL);
	ifcvf_dbus_domain_set_ports(bus->domain, (const char *const *)paths->pdata);
	g_dbus_interface_skeleton_flush(G_DBUS_INTERFACE_SKELETON(bus->domain));
}

void ifcvf_bus_set_restarts(IfcvfBus *bus, guint restarts)
{
	g_return_if_fail(bus != NULL);

	ifcvf_dbus_domain_set_restarts(bus->domain, restarts);
}

void ifcvf_bus_set_migration_phase(IfcvfBus *bus, IfcvfBusMigrationPhase phase)
{
	const char *s = ifcvf_bus_migration_phase_to_string(phase);

	g_return_if_fail(bus != NULL);
	g_return_if_fail(s != NULL);

	if (g_strcmp0(ifcvf_dbus_domain_get_migration_phase(bus->domain), s) == 0)
		return;
	g_debug("migration phase %s", s);
	ifcvf_dbus_domain_set_migration_phase(bus->domain, s);
	g_dbus_interface_skeleton_flush(G_DBUS_INTERFACE_SKELETON(bus->domain));
}

/* What the bus, Domain and Port files share. Not for use outside src/dbus.
 *
 * Threads: main thread only (see ifcvf-bus.h). */
#pragma once

#include "ifcvf-bus.h"
#include "ifcvf-bus-auth.h"
#include "ifcvf-dbus-generated.h"

struct _IfcvfBus {
	char *address;
	char *bus_name;
	char *vm_name;
	char *uuid;                        /* canonical, dashed */

	GDBusObjectManagerServer *manager; /* the ports, at IFCVF_BUS_ROOT_PATH */
	IfcvfDbusDomain *domain;           /* exported beside the manager */
	IfcvfBusAuth *auth;                /* checks the calls that change state */
	GPtrArray *ports;                  /* IfcvfBusPort *, ascending index */

	GMainContext *context;             /* the thread-default one of ifcvf_bus_new() */
	GCancellable *cancellable;         /* the connect in flight */
	GDBusConnection *connection;
	char *reconnect_address;           /* address without a guid= (a new daemon has another) */
	GSource *reconnect;                /* the next connect after a lost connection */
	guint reconnect_ms;                /* its delay, doubling up to a bound */
	gboolean reconnecting;             /* the connection was lost: retry, never report a failure */
	gboolean was_owned;                /* the name was owned once: a lost bus is waited for */
	guint owner_id;
	guint unknown_port_id;             /* subtree under IFCVF_BUS_PORTS_PATH */
	gboolean started;
	gboolean owned;
	gboolean shutting_down;
	GSource *shutdown_idle;            /* calls handlers.shutdown */

	IfcvfBusHandlers handlers;
	gpointer handlers_data;
	IfcvfBusNameFunc name_func;
	gpointer name_data;
};

struct _IfcvfBusPort {
	IfcvfBus *bus;                     /* owns this port */
	guint index;
	char *path;
	IfcvfDbusObjectSkeleton *object;
	IfcvfDbusPort *iface;
	GVariant *stats;                   /* a{st}, what GetStats answers */
};

/* ifcvf-bus-domain.c: create the Domain skeleton with its constant
 * properties; publish the list of ports */
IfcvfDbusDomain *ifcvf_bus_domain_new(IfcvfBus *bus);
void ifcvf_bus_domain_update_ports(IfcvfBus *bus);

/* ifcvf-bus-port.c */
IfcvfBusPort *ifcvf_bus_port_new(IfcvfBus *bus, guint index, const char *device,
				 const char *socket_path, IfcvfBusDeviceType device_type);
void ifcvf_bus_port_free(IfcvfBusPort *port);

/* ifcvf-bus-unknown.c: answer calls to port paths nobody serves */
guint ifcvf_bus_unknown_port_register(IfcvfBus *bus, GError **error);
/* the subtree's vtable, for the fuzz target that dispatches as GDBus would */
const GDBusSubtreeVTable *ifcvf_bus_unknown_port_vtable(void);

/* Fail @invocation with ShuttingDown when the bus is stopping; TRUE if so. */
gboolean ifcvf_bus_refuse_if_shutting_down(IfcvfBus *bus, GDBusMethodInvocation *invocation);

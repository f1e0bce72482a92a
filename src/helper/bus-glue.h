/* The helper's ports on D-Bus: binds the port model (port.h) to the bus
 * objects of src/dbus (ifcvf-bus.h). It owns the VM's bus name, adds one
 * Port object per port, publishes a snapshot of a port for every port event
 * the main loop drains, answers GetStats from the port's counters, and turns
 * Shutdown() and SetLiveMigrationMode() into the helper's own verbs.
 *
 * The published State replays the drained events in order (waiting,
 * running, stopped... each one seen by clients even when they follow each
 * other closely); "running" is shown as "logging-hw" or "relaying-sw" while
 * live migration has that in force. StateReason is the reason of the last
 * event that was not a warning (warnings are only logged). The other
 * properties and the counters are read fresh with port_get_info().
 *
 * Domain.MigrationPhase follows migration-phase.h: each port event that
 * says something of a migration (logging on/off, the VF stopped while
 * logging, restarted, the frontend gone) and each libvirt event handed in
 * with ifcvf_bus_glue_migration_signal() goes through
 * migration_phase_next(); a change is logged and published, the same phase
 * reported again (both sources often see the same step) is not.
 *
 * SetLiveMigrationMode() goes to port_set_lm_mode(): refused with Busy while
 * a migration is under way, with NotSupported for "hw" on a VF without the
 * BAR4 block; otherwise the port keeps the mode (struct port's lm_mode) and
 * port/port-lm.c uses it at the next VHOST_F_LOG_ALL. port_set_lm_mode() takes
 * the port's control mutex, so the call waits for a bring-up in progress
 * (bounded by the bring-up's own timeouts).
 *
 * Threads: main thread only. Every function here, and every bus update it
 * makes, runs on the thread that runs the thread-default GLib main context
 * of ifcvf_bus_glue_new() (the helper's main loop); DPDK and relay threads
 * never call it: they push struct port_event, which the main loop drains and
 * hands to ifcvf_bus_glue_port_event(). The ports are borrowed: free the glue
 * before port_close(). Functions taking a glue accept NULL (no bus) and do
 * nothing then. */
#pragma once

#include <glib.h>

#include "migration-phase.h"
#include "port.h"

typedef struct _IfcvfBusGlue IfcvfBusGlue;

/* Shutdown() was called over D-Bus: stop the helper the way SIGTERM does. */
typedef void (*IfcvfBusGlueStopFunc)(gpointer user_data);

/* Prepare the objects of VM @vm_name (NULL: the UUID is the name) and
 * @vm_uuid on @bus ("system", "session" or a D-Bus address); nothing is
 * sent yet. Fails with IFCVF_HELPER_ERROR_INVALID_ARGS for a bad bus, name
 * or UUID, IFCVF_HELPER_ERROR_FAILED when the bus has no address. */
IfcvfBusGlue *ifcvf_bus_glue_new(const char *bus, const char *vm_name, const char *vm_uuid,
				 IfcvfBusGlueStopFunc stop, gpointer user_data, GError **error);

/* Connect and own the VM's bus name, iterating the thread-default main
 * context until that is done or *@cancelled turns TRUE (a signal handler
 * sets it; then FALSE with no error). FALSE with @error (one line: the bus
 * could not be reached, or another helper serves this VM) otherwise. A
 * later loss of the name is logged; the datapath keeps running. A bus that
 * goes away and comes back is followed (ifcvf_bus_start()): the name and
 * every object are back with the current state, and that is logged. */
gboolean ifcvf_bus_glue_own_name(IfcvfBusGlue *glue, const gboolean *cancelled, GError **error);

/* Publish port @index (port_index() of @p, unique) in state "probed". */
gboolean ifcvf_bus_glue_add_port(IfcvfBusGlue *glue, struct port *p, GError **error);

/* @ev was drained from the port events: publish its port. */
void ifcvf_bus_glue_port_event(IfcvfBusGlue *glue, const struct port_event *ev);

/* @signal (from libvirt; @what says what it was, for the log) moves the
 * migration phase. */
void ifcvf_bus_glue_migration_signal(IfcvfBusGlue *glue, enum migration_signal signal,
				     const char *what);

/* The helper is stopping: state-changing calls are refused from now on;
 * properties and GetStats keep answering. */
void ifcvf_bus_glue_begin_shutdown(IfcvfBusGlue *glue);

/* Release the name and unexport everything (clients see the helper leave). */
void ifcvf_bus_glue_free(IfcvfBusGlue *glue);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(IfcvfBusGlue, ifcvf_bus_glue_free)

/* The bus name, for logs. */
const char *ifcvf_bus_glue_get_name(IfcvfBusGlue *glue);

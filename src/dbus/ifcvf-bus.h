/* The helper's D-Bus presence: bus name org.ifcvf.Helper1.Vm_<uuid>, the
 * Domain object at /org/ifcvf/Helper1 (with an ObjectManager) and one Port
 * object per VF at /org/ifcvf/Helper1/port/<n>.
 *
 * The helper tells this module what is true (ifcvf_bus_port_update(),
 * ifcvf_bus_set_migration_phase()) and answers the few calls that change
 * state through IfcvfBusHandlers; this module owns everything D-Bus.
 *
 * Changing calls are checked first (root or polkit, see ifcvf-bus-auth.h).
 *
 * Threads: main thread only. Every function must be called from the thread
 * that runs the GLib main context that was the thread-default one when
 * ifcvf_bus_new() was called, and the handlers are called there too. DPDK
 * and relay threads hand their facts to that thread (for example with
 * g_main_context_invoke()); PropertiesChanged is therefore always emitted
 * from the main loop. */
#pragma once

#include <gio/gio.h>

#include "ifcvf-bus-error.h"
#include "ifcvf-bus-names.h"

typedef struct _IfcvfBus IfcvfBus;
typedef struct _IfcvfBusPort IfcvfBusPort;

typedef struct {
	const char *name;
	guint64 value;
} IfcvfBusCounter;

/* Everything a Port publishes that can change. Strings are copied. */
typedef struct {
	IfcvfBusPortState state;
	const char *state_reason;      /* NULL or "" when there is nothing to say */
	guint64 device_features;
	guint64 negotiated_features;
	guint queue_pairs;
	guint enabled_queues;
	const char *const *kick_paths; /* per vring: "host-notifier", "relay",
					* "off"; NULL-terminated, NULL: none */
	guint64 capacity;        /* blk: 512-byte sectors; 0 for net */
	const char *mac;               /* "xx:xx:xx:xx:xx:xx", NULL or "" for none */
	IfcvfBusLmMode lm_mode;
	gboolean guest_announce;
	const IfcvfBusCounter *counters; /* what GetStats returns, names unique */
	gsize n_counters;
} IfcvfBusPortSnapshot;

typedef struct {
	/* SetLiveMigrationMode(@mode) on @port. Return TRUE once the mode is in
	 * force, or FALSE and set @error: IFCVF_BUS_ERROR_BUSY while a migration
	 * is under way, IFCVF_BUS_ERROR_NOT_SUPPORTED when the VF cannot do it
	 * (no BAR4 for "hw"); any other error reaches the caller as
	 * org.ifcvf.Helper1.Error.Failed with its message. On success the
	 * LiveMigrationMode property is set to @mode before the call returns.
	 * When unset, the call fails with NotSupported. */
	gboolean (*set_lm_mode)(IfcvfBusPort *port, IfcvfBusLmMode mode, gpointer user_data,
				GError **error);
	/* Shutdown() was called: called once, from an idle callback after the
	 * reply was queued; the bus is in its shutting-down state from then on.
	 * The handler may free the bus. */
	void (*shutdown)(IfcvfBus *bus, gpointer user_data);
	/* Optional: called before GetStats answers for @port, so the helper
	 * can call ifcvf_bus_port_update() with fresh counters. */
	void (*refresh_port)(IfcvfBusPort *port, gpointer user_data);
	/* Optional, used instead of set_lm_mode when set: the same request,
	 * answered later, so that the main loop serves other calls (and
	 * signals) while the helper waits for the port. The handler owns
	 * @invocation (GDBus's reference) and answers it exactly once, on the
	 * main loop, with ifcvf_bus_port_return_lm_mode(). */
	void (*set_lm_mode_async)(IfcvfBusPort *port, IfcvfBusLmMode mode,
				  GDBusMethodInvocation *invocation, gpointer user_data);
} IfcvfBusHandlers;

/* The name was owned (@owned TRUE, @error NULL), or could not be owned or
 * was lost (@owned FALSE, @error says why: connection failed or closed,
 * another process owns the name, or the bus policy refused it). The bus may
 * be freed from inside this callback. */
typedef void (*IfcvfBusNameFunc)(IfcvfBus *bus, gboolean owned, const GError *error,
				 gpointer user_data);

/* Prepare the objects for VM @vm_name / @vm_uuid (8-4-4-4-12 or 32 hex
 * digits, any case) on @bus: "system", "session" or a D-Bus address. Nothing
 * is sent until ifcvf_bus_start(). Fails with IFCVF_BUS_ERROR_INVALID_ARGS
 * for a bad UUID, name or bus. */
IfcvfBus *ifcvf_bus_new(const char *bus, const char *vm_name, const char *vm_uuid,
			GError **error);

/* Tear everything down: objects unexported, name released, connection
 * flushed and closed; pending callbacks are not called. NULL is ignored. */
void ifcvf_bus_free(IfcvfBus *bus);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(IfcvfBus, ifcvf_bus_free)

/* Set the handlers (copied) before ifcvf_bus_start(). */
void ifcvf_bus_set_handlers(IfcvfBus *bus, const IfcvfBusHandlers *handlers,
			    gpointer user_data);

/* Connect, export the objects, then ask for the name (never queued behind
 * another owner, never replacing it), all asynchronously. @func reports the
 * outcome and, later, a loss of the name on a live connection. A connection
 * that closes once the name was owned (the bus daemon restarted) is not
 * reported as a loss (before that it is, as a failed start):
 * the module logs it once, connects again to the same address (any guid=
 * dropped) from the main loop, 200 ms apart doubling to 2 s, for as long as
 * it takes, exports every object again with the values it holds, owns the
 * name again and calls @func with @owned TRUE once more. Calls under way on
 * the lost connection are answered there (the replies go nowhere). A first
 * connect that fails is reported and not retried. Call once; to try again,
 * free the bus and make a new one. */
void ifcvf_bus_start(IfcvfBus *bus, IfcvfBusNameFunc func, gpointer user_data);

/* Add port @index (unique) for VF @device with vhost-user socket
 * @socket_path. Works before or after ifcvf_bus_start() (clients see
 * InterfacesAdded). Starts in state "probed", mode "hw". The port belongs to
 * @bus. Fails with IFCVF_BUS_ERROR_INVALID_ARGS for a duplicate index or a
 * string that is not UTF-8. */
IfcvfBusPort *ifcvf_bus_add_port(IfcvfBus *bus, guint index, const char *device,
				 const char *socket_path, IfcvfBusDeviceType device_type,
				 GError **error);

/* The port's index, its bus back-pointer. */
guint ifcvf_bus_port_get_index(IfcvfBusPort *port);
IfcvfBus *ifcvf_bus_port_get_bus(IfcvfBusPort *port);

/* Answer a SetLiveMigrationMode handed to set_lm_mode_async: @error NULL
 * when @mode is in force (LiveMigrationMode is set before the reply), else
 * an error as set_lm_mode describes it. Takes @invocation's reference. Main
 * loop only, before ifcvf_bus_free(). */
void ifcvf_bus_port_return_lm_mode(IfcvfBusPort *port, GDBusMethodInvocation *invocation,
				   IfcvfBusLmMode mode, const GError *error);

/* Publish @snap: properties that differ from what was published are set
 * and announced in one PropertiesChanged right away; equal ones are left
 * alone, so an unchanged snapshot emits nothing. Counters replace the
 * previous ones (no signal; GetStats reads them). */
void ifcvf_bus_port_update(IfcvfBusPort *port, const IfcvfBusPortSnapshot *snap);

/* The Domain's Restarts: how often the supervisor or systemd restarted
 * this helper since the VM's start. Set before ifcvf_bus_start(). */
void ifcvf_bus_set_restarts(IfcvfBus *bus, guint restarts);

/* Publish the Domain's MigrationPhase (PropertiesChanged when it changed). */
void ifcvf_bus_set_migration_phase(IfcvfBus *bus, IfcvfBusMigrationPhase phase);

/* Enter the shutting-down state (Shutdown() does it too): from now on
 * state-changing calls fail with org.ifcvf.Helper1.Error.ShuttingDown;
 * properties and GetStats keep answering until ifcvf_bus_free(). */
void ifcvf_bus_begin_shutdown(IfcvfBus *bus);

/* The bus name this VM uses ("org.ifcvf.Helper1.Vm_..."). */
const char *ifcvf_bus_get_name(IfcvfBus *bus);

/* Whether the name is owned right now. */
gboolean ifcvf_bus_is_owned(IfcvfBus *bus);

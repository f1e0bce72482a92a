/* Names shared by the helper's bus objects and their clients: the bus name
 * of a VM, object paths, and the string forms of states, phases and modes.
 *
 * Threads: any (pure functions). */
#pragma once

#include <gio/gio.h>

#define IFCVF_BUS_NAME_PREFIX       "org.ifcvf.Helper1.Vm_"
#define IFCVF_BUS_ROOT_PATH         "/org/ifcvf/Helper1"
#define IFCVF_BUS_PORTS_PATH        "/org/ifcvf/Helper1/port"
#define IFCVF_BUS_DOMAIN_INTERFACE  "org.ifcvf.Helper1.Domain"
#define IFCVF_BUS_PORT_INTERFACE    "org.ifcvf.Helper1.Port"

typedef enum {
	IFCVF_BUS_PORT_STATE_PROBED,
	IFCVF_BUS_PORT_STATE_WAITING,
	IFCVF_BUS_PORT_STATE_CONNECTED,
	IFCVF_BUS_PORT_STATE_RUNNING,
	IFCVF_BUS_PORT_STATE_LOGGING_HW,
	IFCVF_BUS_PORT_STATE_RELAYING_SW,
	IFCVF_BUS_PORT_STATE_STOPPED,
	IFCVF_BUS_PORT_STATE_FAILED,
	IFCVF_BUS_PORT_STATE_LAST
} IfcvfBusPortState;

typedef enum {
	IFCVF_BUS_MIGRATION_NONE,
	IFCVF_BUS_MIGRATION_SETUP,
	IFCVF_BUS_MIGRATION_ITERATING,
	IFCVF_BUS_MIGRATION_STOP_AND_COPY,
	IFCVF_BUS_MIGRATION_COMPLETED,
	IFCVF_BUS_MIGRATION_CANCELLED,
	IFCVF_BUS_MIGRATION_INCOMING,
	IFCVF_BUS_MIGRATION_RESUMED,
	IFCVF_BUS_MIGRATION_LAST
} IfcvfBusMigrationPhase;

typedef enum {
	IFCVF_BUS_LM_MODE_HW,
	IFCVF_BUS_LM_MODE_SW,
	IFCVF_BUS_LM_MODE_LAST
} IfcvfBusLmMode;

typedef enum {
	IFCVF_BUS_DEVICE_NET,
	IFCVF_BUS_DEVICE_BLK,
	IFCVF_BUS_DEVICE_LAST
} IfcvfBusDeviceType;

/* to-string returns a static string, NULL for an out-of-range value;
 * from-string returns FALSE for an unknown string */
const char *ifcvf_bus_port_state_to_string(IfcvfBusPortState state);
gboolean ifcvf_bus_port_state_from_string(const char *s, IfcvfBusPortState *ret_state);
const char *ifcvf_bus_migration_phase_to_string(IfcvfBusMigrationPhase phase);
gboolean ifcvf_bus_migration_phase_from_string(const char *s, IfcvfBusMigrationPhase *ret_phase);
const char *ifcvf_bus_lm_mode_to_string(IfcvfBusLmMode mode);
gboolean ifcvf_bus_lm_mode_from_string(const char *s, IfcvfBusLmMode *ret_mode);
const char *ifcvf_bus_device_type_to_string(IfcvfBusDeviceType type);

/* Check a VM UUID, given as 8-4-4-4-12 or as 32 hex digits in any case.
 * @ret_canonical (optional) gets the lower-case dashed form, @ret_hex
 * (optional) the 32 lower-case digits. */
gboolean ifcvf_bus_uuid_parse(const char *uuid, char **ret_canonical, char **ret_hex,
			      GError **error);

/* "org.ifcvf.Helper1.Vm_<32 hex digits>" for a valid @uuid */
char *ifcvf_bus_name_for_uuid(const char *uuid, GError **error);

/* "/org/ifcvf/Helper1/port/<index>" */
char *ifcvf_bus_port_path(guint index);

/* The index of a port object path; FALSE when @path is not one. */
gboolean ifcvf_bus_port_index_from_path(const char *path, guint *ret_index);

/* Turn "system", "session" or a D-Bus address into an address to connect
 * to: reads $DBUS_SYSTEM_BUS_ADDRESS or
 * $DBUS_SESSION_BUS_ADDRESS, else the usual defaults. */
char *ifcvf_bus_resolve_address(const char *bus, GError **error);

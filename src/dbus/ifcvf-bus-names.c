#define G_LOG_DOMAIN "IfcvfBus"

#include "ifcvf-bus-names.h"

#include <string.h>

#include "ifcvf-bus-error.h"

static const char *const port_states[] = {
	[IFCVF_BUS_PORT_STATE_PROBED] = "probed",
	[IFCVF_BUS_PORT_STATE_WAITING] = "waiting",
	[IFCVF_BUS_PORT_STATE_CONNECTED] = "connected",
	[IFCVF_BUS_PORT_STATE_RUNNING] = "running",
	[IFCVF_BUS_PORT_STATE_LOGGING_HW] = "logging-hw",
	[IFCVF_BUS_PORT_STATE_RELAYING_SW] = "relaying-sw",
	[IFCVF_BUS_PORT_STATE_STOPPED] = "stopped",
	[IFCVF_BUS_PORT_STATE_FAILED] = "failed",
};
G_STATIC_ASSERT(G_N_ELEMENTS(port_states) == IFCVF_BUS_PORT_STATE_LAST);

static const char *const migration_phases[] = {
	[IFCVF_BUS_MIGRATION_NONE] = "none",
	[IFCVF_BUS_MIGRATION_SETUP] = "setup",
	[IFCVF_BUS_MIGRATION_ITERATING] = "iterating",
	[IFCVF_BUS_MIGRATION_STOP_AND_COPY] = "stop-and-copy",
	[IFCVF_BUS_MIGRATION_COMPLETED] = "completed",
	[IFCVF_BUS_MIGRATION_CANCELLED] = "cancelled",
	[IFCVF_BUS_MIGRATION_INCOMING] = "incoming",
	[IFCVF_BUS_MIGRATION_RESUMED] = "resumed",
};
G_STATIC_ASSERT(G_N_ELEMENTS(migration_phases) == IFCVF_BUS_MIGRATION_LAST);

static const char *const lm_modes[] = {
	[IFCVF_BUS_LM_MODE_HW] = "hw",
	[IFCVF_BUS_LM_MODE_SW] = "sw",
};
G_STATIC_ASSERT(G_N_ELEMENTS(lm_modes) == IFCVF_BUS_LM_MODE_LAST);

static const char *const device_types[] = {
	[IFCVF_BUS_DEVICE_NET] = "net",
	[IFCVF_BUS_DEVICE_BLK] = "blk",
};
G_STATIC_ASSERT(G_N_ELEMENTS(device_types) == IFCVF_BUS_DEVICE_LAST);

static const char *table_to_string(const char *const *table, guint n, guint value)
{
	return value < n ? table[value] : NULL;
}

static gboolean table_from_string(const char *const *table, guint n, const char *s, guint *ret)
{
	for (guint i = 0; s && i < n; i++) {
		if (strcmp(table[i], s) == 0) {
			*ret = i;
			return TRUE;
		}
	}
	return FALSE;
}

const char *ifcvf_bus_port_state_to_string(IfcvfBusPortState state)
{
	return table_to_string(port_states, G_N_ELEMENTS(port_states), state);
}

gboolean ifcvf_bus_port_state_from_string(const char *s, IfcvfBusPortState *ret_state)
{
	guint v;

	if (!table_from_string(port_states, G_N_ELEMENTS(port_states), s, &v))
		return FALSE;
	*ret_state = v;
	return TRUE;
}

const char *ifcvf_bus_migration_phase_to_string(IfcvfBusMigrationPhase phase)
{
	return table_to_string(migration_phases, G_N_ELEMENTS(migration_phases), phase);
}

gboolean ifcvf_bus_migration_phase_from_string(const char *s, IfcvfBusMigrationPhase *ret_phase)
{
	guint v;

	if (!table_from_string(migration_phases, G_N_ELEMENTS(migration_phases), s, &v))
		return FALSE;
	*ret_phase = v;
	return TRUE;
}

const char *ifcvf_bus_lm_mode_to_string(IfcvfBusLmMode mode)
{
	return table_to_string(lm_modes, G_N_ELEMENTS(lm_modes), mode);
}

gboolean ifcvf_bus_lm_mode_from_string(const char *s, IfcvfBusLmMode *ret_mode)
{
	guint v;

	if (!table_from_string(lm_modes, G_N_ELEMENTS(lm_modes), s, &v))
		return FALSE;
	*ret_mode = v;
	return TRUE;
}

const char *ifcvf_bus_device_type_to_string(IfcvfBusDeviceType type)
{
	return table_to_string(device_types, G_N_ELEMENTS(device_types), type);
}

gboolean ifcvf_bus_uuid_parse(const char *uuid, char **ret_canonical, char **ret_hex,
			      GError **error)
{
	/* dash positions of the 8-4-4-4-12 form */
	static const guint dashes[] = { 8, 13, 18, 23 };
	char hex[33];
	gsize len, n = 0;
	gboolean dashed;

	g_return_val_if_fail(uuid != NULL, FALSE);

	len = strlen(uuid);
	dashed = len == 36;
	if (len != 32 && !dashed)
		goto bad;
	for (gsize i = 0; i < len; i++) {
		gboolean want_dash = FALSE;

		for (guint d = 0; dashed && d < G_N_ELEMENTS(dashes); d++)
			want_dash |= i == dashes[d];
		if (want_dash) {
			if (uuid[i] != '-')
				goto bad;
			continue;
		}
		if (!g_ascii_isxdigit(uuid[i]))
			goto bad;
		hex[n++] = g_ascii_tolower(uuid[i]);
	}
	hex[n] = '\0';

	if (ret_canonical)
		*ret_canonical = g_strdup_printf("%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8,
						 hex + 12, hex + 16, hex + 20);
	if (ret_hex)
		*ret_hex = g_strdup(hex);
	return TRUE;
bad:
	g_set_error(error, IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_INVALID_ARGS,
		    "'%s' is not a VM UUID (want 8-4-4-4-12 or 32 hex digits)", uuid);
	return FALSE;
}

char *ifcvf_bus_name_for_uuid(const char *uuid, GError **error)
{
	g_autofree char *hex = NULL;

	if (!ifcvf_bus_uuid_parse(uuid, NULL, &hex, error))
		return NULL;
	return g_strconcat(IFCVF_BUS_NAME_PREFIX, hex, NULL);
}

char *ifcvf_bus_port_path(guint index)
{
	return g_strdup_printf(IFCVF_BUS_PORTS_PATH "/%u", index);
}

gboolean ifcvf_bus_port_index_from_path(const char *path, guint *ret_index)
{
	const char *tail;
	guint64 v;

	if (!path || !g_str_has_prefix(path, IFCVF_BUS_PORTS_PATH "/"))
		return FALSE;
	tail = path + strlen(IFCVF_BUS_PORTS_PATH "/");
	/* plain decimal only: "007" or "+1" would name the same port twice */
	if (!g_ascii_isdigit(*tail) || (tail[0] == '0' && tail[1]))
		return FALSE;
	if (!g_ascii_string_to_unsigned(tail, 10, 0, G_MAXUINT, &v, NULL))
		return FALSE;
	*ret_index = (guint)v;
	return TRUE;
}

char *ifcvf_bus_resolve_address(const char *bus, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	GBusType type = G_BUS_TYPE_NONE;
	char *address;

	if (g_strcmp0(bus, "system") == 0)
		type = G_BUS_TYPE_SYSTEM;
	else if (g_strcmp0(bus, "session") == 0)
		type = G_BUS_TYPE_SESSION;

	if (type == G_BUS_TYPE_NONE) {
		if (!bus || !g_dbus_is_supported_address(bus, &error_local)) {
			g_set_error(error, IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_INVALID_ARGS,
				    "'%s' is not 'system', 'session' or a D-Bus address%s%s",
				    bus ? bus : "", error_local ? ": " : "",
				    error_local ? error_local->message : "");
			return NULL;
		}
		return g_strdup(bus);
	}
	address = g_dbus_address_get_for_bus_sync(type, NULL, &error_local);
	if (!address) {
		g_set_error(error, IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_FAILED,
			    "no address for the %s bus: %s", bus, error_local->message);
		return NULL;
	}
	return address;
}

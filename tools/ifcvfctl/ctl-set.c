/* set-lm-mode VM PORT hw|sw: the one state-changing command. */
#define G_LOG_DOMAIN "ifcvfctl"

#include <stdio.h>

#include "ctl.h"
#include "ifcvf-bus-names.h"

gboolean ctl_cmd_set_lm_mode(Ctl *ctl, char **args, GError **error)
{
	g_autoptr(GVariant) reply = NULL;
	g_autofree char *bus_name = NULL;
	g_autofree char *path = NULL;
	g_autofree char *what = NULL;
	IfcvfBusLmMode mode;
	guint index;

	if (!args[0] || !args[1] || !args[2] || args[3]) {
		g_set_error_literal(error, CTL_ERROR, CTL_EXIT_USAGE, "usage: set-lm-mode VM PORT hw|sw");
		return FALSE;
	}
	if (!ctl_parse_port(args[1], &index, error))
		return FALSE;
	if (!ifcvf_bus_lm_mode_from_string(args[2], &mode)) {
		g_set_error(error, CTL_ERROR, CTL_EXIT_USAGE, "'%s' is not a mode (hw or sw)", args[2]);
		return FALSE;
	}
	bus_name = ctl_resolve_vm(ctl, args[0], error);
	if (!bus_name)
		return FALSE;

	path = ifcvf_bus_port_path(index);
	reply = g_dbus_connection_call_sync(ctl->connection, bus_name, path,
					    IFCVF_BUS_PORT_INTERFACE, "SetLiveMigrationMode",
					    g_variant_new("(s)", ifcvf_bus_lm_mode_to_string(mode)),
					    G_VARIANT_TYPE_UNIT, G_DBUS_CALL_FLAGS_NO_AUTO_START,
					    10000, NULL, error);
	if (!reply) {
		what = g_strdup_printf("port %u of VM '%s'", index, args[0]);
		ctl_error_from_change(error, what);
		return FALSE;
	}
	if (ctl->json) {
		g_autoptr(JsonBuilder) b = json_builder_new();
		g_autoptr(JsonNode) root = NULL;

		json_builder_begin_object(b);
		json_builder_set_member_name(b, "port");
		json_builder_add_int_value(b, index);
		json_builder_set_member_name(b, "live_migration_mode");
		json_builder_add_string_value(b, ifcvf_bus_lm_mode_to_string(mode));
		json_builder_end_object(b);
		root = json_builder_get_root(b);
		ctl_json_print(root, TRUE);
	} else {
		printf("port %u of VM '%s': live-migration mode %s\n", index, args[0],
		       ifcvf_bus_lm_mode_to_string(mode));
	}
	return TRUE;
}

/* ifcvfctl: look at and steer the ifcvf-helper instances on a D-Bus bus. */
#define G_LOG_DOMAIN "ifcvfctl"

#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "ctl.h"

typedef struct {
	const char *name;
	gboolean (*run)(Ctl *ctl, char **args, GError **error);
} CtlCommand;

static const CtlCommand commands[] = {
	{ "list", ctl_cmd_list },
	{ "status", ctl_cmd_status },
	{ "stats", ctl_cmd_stats },
	{ "watch", ctl_cmd_watch },
	{ "set-lm-mode", ctl_cmd_set_lm_mode },
};

static const char summary[] =
	"Commands:\n"
	"  list                       every helper on the bus: VM, UUID, ports and their state\n"
	"  status VM                  a VM's helper and each of its ports\n"
	"  stats VM [PORT]            the counters of every port, or of PORT\n"
	"  watch VM                   print each change as it happens, until interrupted\n"
	"                             or until the helper exits\n"
	"  set-lm-mode VM PORT hw|sw  choose how PORT's next live migration is done\n"
	"                             (root on the system bus)\n"
	"\n"
	"VM is the libvirt domain name or UUID; PORT is the port number (0, 1, ...).";

static const char description[] =
	"Output is a table for people, or JSON with --json (watch prints one JSON object a\n"
	"line, the first one describing the VM).\n"
	"\n"
	"Exit status:\n"
	"  0  success (watch: interrupted, or the helper exited)\n"
	"  1  the helper refused or failed the request\n"
	"  2  bad usage\n"
	"  3  no helper serves that VM\n"
	"  4  the bus cannot be reached\n"
	"  5  permission denied, by the bus policy or the helper (changing a port needs\n"
	"     root or the polkit action org.ifcvf.helper1.manage)\n";

int main(int argc, char **argv)
{
	g_autofree char *bus = NULL;
	gboolean json = FALSE, version = FALSE;
	const GOptionEntry entries[] = {
		{ "bus", 0, 0, G_OPTION_ARG_STRING, &bus,
		  "system (default), session, or a D-Bus address", "BUS" },
		{ "json", 0, 0, G_OPTION_ARG_NONE, &json, "print JSON", NULL },
		{ "version", 0, 0, G_OPTION_ARG_NONE, &version, "print the version", NULL },
		{ NULL }
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("COMMAND [ARGS...]");
	g_autoptr(GError) error = NULL;
	const CtlCommand *cmd = NULL;
	Ctl ctl = { 0 };
	int status = CTL_EXIT_OK;

	setlocale(LC_ALL, "");
	g_option_context_set_summary(ctx, summary);
	g_option_context_set_description(ctx, description);
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
		fprintf(stderr, "ifcvfctl: %s (see --help)\n", error->message);
		return CTL_EXIT_USAGE;
	}
	if (version) {
		printf("ifcvfctl %s\n", PACKAGE_VERSION);
		return CTL_EXIT_OK;
	}
	if (argc < 2) {
		fprintf(stderr, "ifcvfctl: no command given (see --help)\n");
		return CTL_EXIT_USAGE;
	}
	for (guint i = 0; i < G_N_ELEMENTS(commands); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			cmd = &commands[i];
	if (!cmd) {
		fprintf(stderr, "ifcvfctl: unknown command '%s' (see --help)\n", argv[1]);
		return CTL_EXIT_USAGE;
	}

	ctl.bus = g_strdup(bus ? bus : "system");
	ctl.json = json;
	if (!ctl_connect(&ctl, &error) || !cmd->run(&ctl, argv + 2, &error)) {
		status = error->domain == CTL_ERROR ? error->code : CTL_EXIT_FAILED;
		fprintf(stderr, "ifcvfctl: %s: %s\n", cmd->name, error->message);
	}
	if (ctl.connection) {
		(void)g_dbus_connection_flush_sync(ctl.connection, NULL, NULL);
		g_object_unref(ctl.connection);
	}
	g_free(ctl.bus);
	return status;
}

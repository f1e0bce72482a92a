/* ifcvf-helper: per-VM helper for Intel FPGA 100G virtio VFs (IFCVF). */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "hook.h"     /* src/hook */
#include "probe.h"    /* src/probe */
#include "run-cmd.h"  /* the daemon, here */

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "hook", ifcvf_cmd_hook, "the libvirt qemu hook: start and stop a VM's helper" },
	{ "probe", ifcvf_cmd_probe, "identify a VF and print what was found as JSON" },
	{ "run", ifcvf_cmd_run, "serve VFs to a VM as vhost-user ports (the per-VM daemon)" },
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: ifcvf-helper COMMAND [OPTIONS...]\n\nCommands:\n");
	for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nOptions:\n  -h, --help     show this help\n  --version      print the version\n"
		     "\nRun 'ifcvf-helper COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("ifcvf-helper %s\n", PACKAGE_VERSION);
		return 0;
	}
	for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "ifcvf-helper: unknown command '%s' (see --help)\n", argv[1]);
	return 2;
}

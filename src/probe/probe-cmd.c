/* `ifcvf-helper probe DEVICE`: open a VF, identify it and print the facts as
 * JSON. Nothing is left open afterwards, and the device is not reset. */
#include "probe.h"

#include <stdio.h>

#include "helper-error.h"
#include "ifcvf-hw.h"
#include "probe-json.h"

static gboolean probe_device(const char *address, const struct ifcvf_devargs *args,
			     int timeout_ms, GError **error)
{
	struct vfio_dev_options opts = { .timeout_ms = timeout_ms };
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *text = NULL;
	struct vfio_dev *dev = NULL;
	struct cerr ce = { 0 };
	struct ifcvf_hw hw;

	if (vfio_dev_open(address, &opts, &dev, &ce) < 0)
		return ifcvf_helper_error_from_cerr(error, address, &ce);
	if (ifcvf_hw_init(&hw, dev, args, &ce) < 0) {
		vfio_dev_close(dev);
		return ifcvf_helper_error_from_cerr(error, address, &ce);
	}
	root = ifcvf_probe_to_json(address, &hw);
	vfio_dev_close(dev);

	json_generator_set_root(gen, root);
	json_generator_set_pretty(gen, TRUE);
	text = json_generator_to_data(gen, NULL);
	printf("%s\n", text);
	return TRUE;
}

int ifcvf_cmd_probe(int argc, char **argv)
{
	gboolean sw_lm = FALSE;
	g_autofree char *devargs = NULL;
	int timeout_ms = 5000;
	const GOptionEntry entries[] = {
		{ "sw-live-migration", 0, 0, G_OPTION_ARG_NONE, &sw_lm,
		  "Choose software-assisted live migration (same as --devargs sw-live-migration=1)", NULL },
		{ "devargs", 0, 0, G_OPTION_ARG_STRING, &devargs,
		  "Per-VF options: sw-live-migration=0|1, generic-virtio=0|1", "KEY=VALUE[,...]" },
		{ "timeout", 0, 0, G_OPTION_ARG_INT, &timeout_ms,
		  "Milliseconds to wait for each vfio-user reply (default 5000)", "MS" },
		{ NULL }
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("DEVICE - identify a VF and print what was found as JSON");
	g_autoptr(GError) error = NULL;
	struct ifcvf_devargs args;
	struct cerr ce = { 0 };

	g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_set_description(ctx,
		"DEVICE is pci:DDDD:BB:DD.F (kernel VFIO, bound to vfio-pci) or vfio-user:PATH\n"
		"(an emulated VF such as ifcvf-emu).\n\n"
		"Exit status: 0 found, 1 the device could not be probed, 2 bad usage.\n");
	if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
		fprintf(stderr, "ifcvf-helper probe: %s\n", error->message);
		return 2;
	}
	if (argc != 2) {
		fprintf(stderr, "ifcvf-helper probe: expected exactly one DEVICE (see --help)\n");
		return 2;
	}
	if (timeout_ms <= 0) {
		fprintf(stderr, "ifcvf-helper probe: --timeout must be a positive number of milliseconds\n");
		return 2;
	}
	if (ifcvf_devargs_parse(devargs, &args, &ce) < 0) {
		fprintf(stderr, "ifcvf-helper probe: %s: %s\n", argv[1], ce.msg);
		return 2;
	}
	if (sw_lm)
		args.sw_live_migration = true;
	if (!probe_device(argv[1], &args, timeout_ms, &error)) {
		fprintf(stderr, "ifcvf-helper probe: %s\n", error->message);
		return 1;
	}
	return 0;
}

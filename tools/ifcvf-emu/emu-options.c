/* Command-line parsing for ifcvf-emu. Errors are one line naming the option
 * and the cause, returned in a struct cerr; main() prints it and exits 2. */
#include "emu-options.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "ifcvf-regs.h"

static const char help_text[] =
	"Usage: ifcvf-emu --socket PATH [OPTIONS]\n"
	"\n"
	"An emulated Intel IFCVF virtio VF served over vfio-user. Serves one client at\n"
	"a time on PATH; device state survives a disconnect, DMA maps and interrupt\n"
	"eventfds do not.\n"
	"\n"
	"Options:\n"
	"  --socket PATH          listen on PATH (required); it appears once it accepts\n"
	"  --type net|blk         device type (default net)\n"
	"  --queue-pairs N        net: queue pairs, 1..63 (default 1); num_queues = 2N+1\n"
	"                         (the last one is the control queue)\n"
	"  --queues N             blk: queues, 1..63 (default 1)\n"
	"  --mac XX:XX:XX:XX:XX:XX  net: MAC address (default 02:fc:00:00:00:01)\n"
	"  --capacity SECTORS     blk: capacity in 512-byte sectors (default 2097152)\n"
	"  --queue-size-max N     largest queue size, a power of two 1..32768\n"
	"                         (default 1024)\n"
	"  --no-lm                no BAR4 live-migration block (region 4 has size 0)\n"
	"  --fault KIND           make the device deliberately broken, for tests;\n"
	"                         may be repeated. KIND is one of:\n"
	"      cap-outside-bar      the DEVICE cap's offset+length exceeds its BAR\n"
	"      cap-loop             the last capability links back to the first\n"
	"      missing-cap=common|notify|isr|device   omit that virtio capability\n"
	"      missing-notify-cap   same as missing-cap=notify\n"
	"      wrong-vendor         PCI vendor 0x8086 instead of 0x1af4\n"
	"      wrong-device         PCI device 0x1043 (virtio console)\n"
	"      wrong-subsystem      subsystem 1af4:000N as a QEMU virtio device has\n"
	"      num-queues=N         num_queues reads N (0..65535), the queues stay\n"
	"      cap-bar=N            virtio caps name BAR N: 0, 2, 3 or 4 move the\n"
	"                           virtio structures there (4 replaces the LM block,\n"
	"                           as in QEMU's virtio-pci); 6..255 only claim it\n"
	"  --verbose              log every request and error reply to stderr\n"
	"  -h, --help             show this help\n"
	"\n"
	"Signals: SIGTERM/SIGINT close, remove PATH and exit 0; SIGUSR1 prints\n"
	"counters to stderr.\n"
	"Exit status: 0 after a signal, 1 on a runtime failure, 2 on a bad option.\n";

enum {
	OPT_SOCKET = 256,
	OPT_TYPE,
	OPT_QUEUE_PAIRS,
	OPT_QUEUES,
	OPT_MAC,
	OPT_NO_LM,
	OPT_CAPACITY,
	OPT_QUEUE_SIZE_MAX,
	OPT_FAULT,
	OPT_VERBOSE,
};

static const struct option long_options[] = {
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "type", required_argument, NULL, OPT_TYPE },
	{ "queue-pairs", required_argument, NULL, OPT_QUEUE_PAIRS },
	{ "queues", required_argument, NULL, OPT_QUEUES },
	{ "mac", required_argument, NULL, OPT_MAC },
	{ "no-lm", no_argument, NULL, OPT_NO_LM },
	{ "capacity", required_argument, NULL, OPT_CAPACITY },
	{ "queue-size-max", required_argument, NULL, OPT_QUEUE_SIZE_MAX },
	{ "fault", required_argument, NULL, OPT_FAULT },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

unsigned emu_config_vrings(const struct emu_config *cfg)
{
	return cfg->type == EMU_TYPE_NET ? 2 * cfg->queue_pairs + 1 : cfg->blk_queues;
}

/* Parse a whole decimal or 0x-hex number within [min, max]. */
static int parse_number(const char *opt, const char *s, uint64_t min, uint64_t max,
			uint64_t *ret, struct cerr *e)
{
	unsigned long long v;
	char *end;

	errno = 0;
	if (*s == '-' || *s == '+' || *s == '\0')
		goto bad;
	v = strtoull(s, &end, 0);
	if (errno || *end || v < min || v > max)
		goto bad;
	*ret = v;
	return 0;
bad:
	return cerr_set(e, EINVAL, "%s: '%s' is not a number from %llu to %llu", opt, s,
			(unsigned long long)min, (unsigned long long)max);
}

static int parse_mac(const char *s, uint8_t mac[6], struct cerr *e)
{
	if (strlen(s) != 17)
		goto bad;
	for (unsigned i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			goto bad;
	for (unsigned i = 0; i < 6; i++)
		mac[i] = (uint8_t)strtoul(s + 3 * i, NULL, 16);
	if (mac[0] & 1)
		return cerr_set(e, EINVAL, "--mac: '%s' is a multicast address", s);
	return 0;
bad:
	return cerr_set(e, EINVAL, "--mac: '%s' is not of the form XX:XX:XX:XX:XX:XX", s);
}

static int parse_fault(const char *s, struct emu_faults *f, struct cerr *e)
{
	uint64_t v;

	if (!strcmp(s, "cap-outside-bar")) {
		f->cap_outside_bar = true;
	} else if (!strcmp(s, "cap-loop")) {
		f->cap_loop = true;
	} else if (!strcmp(s, "missing-notify-cap") || !strcmp(s, "missing-cap=notify")) {
		f->missing_caps |= 1u << VIRTIO_PCI_CAP_NOTIFY_CFG;
	} else if (!strcmp(s, "missing-cap=common")) {
		f->missing_caps |= 1u << VIRTIO_PCI_CAP_COMMON_CFG;
	} else if (!strcmp(s, "missing-cap=isr")) {
		f->missing_caps |= 1u << VIRTIO_PCI_CAP_ISR_CFG;
	} else if (!strcmp(s, "missing-cap=device")) {
		f->missing_caps |= 1u << VIRTIO_PCI_CAP_DEVICE_CFG;
	} else if (!strncmp(s, "missing-cap=", 12)) {
		return cerr_set(e, EINVAL,
				"--fault: '%s': missing-cap takes common, notify, isr or device", s);
	} else if (!strcmp(s, "wrong-vendor")) {
		f->wrong_vendor = true;
	} else if (!strcmp(s, "wrong-device")) {
		f->wrong_device = true;
	} else if (!strcmp(s, "wrong-subsystem")) {
		f->wrong_subsystem = true;
	} else if (!strncmp(s, "num-queues=", 11)) {
		if (parse_number("--fault num-queues", s + 11, 0, 0xffff, &v, e) < 0)
			return -EINVAL;
		f->num_queues_set = true;
		f->num_queues = (uint16_t)v;
	} else if (!strncmp(s, "cap-bar=", 8)) {
		if (parse_number("--fault cap-bar", s + 8, 0, 255, &v, e) < 0)
			return -EINVAL;
		/* BAR1 holds the MSI-X table and slot 5 is BAR4's upper half */
		if (v == 1 || v == 5)
			return cerr_set(e, EINVAL,
					"--fault cap-bar=%u: BAR%u is taken (MSI-X table or BAR4's "
					"upper half); use 0, 2, 3, 4 or 6..255",
					(unsigned)v, (unsigned)v);
		f->cap_bar_set = true;
		f->cap_bar = (unsigned)v;
	} else {
		return cerr_set(e, EINVAL, "--fault: unknown kind '%s' (see --help)", s);
	}
	return 0;
}

static void set_defaults(struct emu_config *cfg)
{
	static const uint8_t default_mac[6] = { 0x02, 0xfc, 0x00, 0x00, 0x00, 0x01 };

	memset(cfg, 0, sizeof(*cfg));
	cfg->type = EMU_TYPE_NET;
	cfg->queue_pairs = 1;
	cfg->blk_queues = 1;
	memcpy(cfg->mac, default_mac, sizeof(cfg->mac));
	cfg->capacity = 2097152;   /* 1 GiB */
	cfg->queue_size_max = 1024;
}

/* Options that only make sense for one device type are refused for the
 * other, so a typo in a test's command line does not go unnoticed. */
static int check_type_options(struct emu_config *cfg, const bool *given, struct cerr *e)
{
	static const struct {
		int opt;
		const char *name;
		enum emu_type type;
	} only[] = {
		{ OPT_QUEUE_PAIRS, "--queue-pairs", EMU_TYPE_NET },
		{ OPT_MAC, "--mac", EMU_TYPE_NET },
		{ OPT_QUEUES, "--queues", EMU_TYPE_BLK },
		{ OPT_CAPACITY, "--capacity", EMU_TYPE_BLK },
	};

	for (unsigned i = 0; i < sizeof(only) / sizeof(only[0]); i++)
		if (given[only[i].opt - OPT_SOCKET] && cfg->type != only[i].type)
			return cerr_set(e, EINVAL, "%s applies to --type %s only", only[i].name,
					only[i].type == EMU_TYPE_NET ? "net" : "blk");
	return 0;
}

static int parse_one(int opt, const char *arg, struct emu_config *cfg, struct cerr *e)
{
	uint64_t v;

	switch (opt) {
	case OPT_SOCKET:
		if (!*arg)
			return cerr_set(e, EINVAL, "--socket: the path is empty");
		cfg->socket_path = arg;
		return 0;
	case OPT_TYPE:
		if (!strcmp(arg, "net"))
			cfg->type = EMU_TYPE_NET;
		else if (!strcmp(arg, "blk"))
			cfg->type = EMU_TYPE_BLK;
		else
			return cerr_set(e, EINVAL, "--type: '%s' is neither net nor blk", arg);
		return 0;
	case OPT_QUEUE_PAIRS:
		if (parse_number("--queue-pairs", arg, 1, EMU_MAX_QUEUE_PAIRS, &v, e) < 0)
			return -EINVAL;
		cfg->queue_pairs = (unsigned)v;
		return 0;
	case OPT_QUEUES:
		if (parse_number("--queues", arg, 1, EMU_MAX_BLK_QUEUES, &v, e) < 0)
			return -EINVAL;
		cfg->blk_queues = (unsigned)v;
		return 0;
	case OPT_MAC:
		return parse_mac(arg, cfg->mac, e);
	case OPT_NO_LM:
		cfg->no_lm = true;
		return 0;
	case OPT_CAPACITY:
		return parse_number("--capacity", arg, 0, UINT64_MAX >> 9, &cfg->capacity, e);
	case OPT_QUEUE_SIZE_MAX:
		if (parse_number("--queue-size-max", arg, 1, EMU_MAX_QUEUE_SIZE, &v, e) < 0)
			return -EINVAL;
		if (v & (v - 1))
			return cerr_set(e, EINVAL, "--queue-size-max: %s is not a power of two",
					arg);
		cfg->queue_size_max = (unsigned)v;
		return 0;
	case OPT_FAULT:
		return parse_fault(arg, &cfg->faults, e);
	case OPT_VERBOSE:
		cfg->verbose = true;
		return 0;
	default:
		return cerr_set(e, EINVAL, "internal error: option %d not handled", opt);
	}
}

enum emu_options_result emu_options_parse(int argc, char **argv, struct emu_config *cfg,
					  FILE *out, struct cerr *e)
{
	bool given[OPT_VERBOSE - OPT_SOCKET + 1] = { false };
	int opt;

	set_defaults(cfg);
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
		if (opt == 'h') {
			fputs(help_text, out);
			return EMU_OPTIONS_HELP;
		}
		if (opt == ':') {
			cerr_set(e, EINVAL, "%s needs an argument", argv[optind - 1]);
			return EMU_OPTIONS_BAD;
		}
		if (opt == '?') {
			if (optopt && optopt < 256)
				cerr_set(e, EINVAL, "unknown option '-%c' (see --help)", optopt);
			else
				cerr_set(e, EINVAL, "unknown option '%s' (see --help)",
					 argv[optind - 1]);
			return EMU_OPTIONS_BAD;
		}
		if (parse_one(opt, optarg, cfg, e) < 0)
			return EMU_OPTIONS_BAD;
		given[opt - OPT_SOCKET] = true;
	}
	if (optind < argc) {
		cerr_set(e, EINVAL, "unexpected argument '%s' (see --help)", argv[optind]);
		return EMU_OPTIONS_BAD;
	}
	if (!cfg->socket_path) {
		cerr_set(e, EINVAL, "--socket PATH is required (see --help)");
		return EMU_OPTIONS_BAD;
	}
	if (check_type_options(cfg, given, e) < 0)
		return EMU_OPTIONS_BAD;
	return EMU_OPTIONS_OK;
}

/* Command-line parsing for ifcvf-emu. Errors are one line naming the option
 * and the cause, returned in a struct cerr; main() prints it and exits 2. */
#include "emu-options.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "gen-frame.h"
#include "ifcvf-regs.h"

static const char help_text[] =
	"Usage: ifcvf-emu --socket PATH [OPTIONS]\n"
	"\n"
	"An emulated Intel IFCVF virtio VF served over vfio-user. Serves one client at\n"
	"a time on PATH; device state survives a disconnect, DMA maps and interrupt\n"
	"eventfds do not.\n"
	"\n"
	"Options:\n"
	"  --socket PATH          listen on PATH (required); it appears once it accepts;\n"
	"                         missing directories are created (mode 0755)\n"
	"  --type net|blk         device type (default net)\n"
	"  --queue-pairs N        net: queue pairs, 1..63 (default 1); num_queues = 2N+1\n"
	"                         (the last one is the control queue)\n"
	"  --queues N             blk: queues, 1..63 (default 1)\n"
	"  --mac XX:XX:XX:XX:XX:XX  net: MAC address (default 02:fc:00:00:00:01)\n"
	"  --capacity SECTORS     blk: capacity in 512-byte sectors of the memory disk\n"
	"                         (default 2097152); not with --backing\n"
	"  --backing FILE         blk: serve the raw image FILE (its size, rounded down to\n"
	"                         whole sectors, is the capacity) instead of a memory disk\n"
	"  --complete-order fifo|reverse|random\n"
	"                         blk: the order requests in flight complete in (default\n"
	"                         random: part of them, in random order, as disks do)\n"
	"  --queue-size-max N     largest queue size, a power of two 1..32768\n"
	"                         (default 1024)\n"
	"  --no-lm                no BAR4 live-migration block (region 4 has size 0)\n"
	"  --virtio-function      net: a plain modern virtio 1.x function that is not an\n"
	"                         IFCVF, as QEMU's virtio-net-pci,disable-legacy=on:\n"
	"                         the IDs and layout of --fault wrong-subsystem --fault\n"
	"                         cap-bar=4, i.e. subsystem 1af4:0001 (QEMU's own\n"
	"                         modern-only function reads 1af4:1100; neither is\n"
	"                         Intel's) and the virtio structures in BAR4, so no\n"
	"                         live-migration block. --no-lm and those two faults\n"
	"                         are accepted with it, other faults apply on top,\n"
	"                         another cap-bar is an error. A reset (status 0 or\n"
	"                         DEVICE_RESET) restarts every ring at index 0 and keeps\n"
	"                         the frames waiting in the RX FIFO for after DRIVER_OK;\n"
	"                         queue_enable=0 on an enabled queue is ignored and\n"
	"                         counted as a device error (no per-queue stop); with\n"
	"                         several pairs num_queues reads 3 until the driver\n"
	"                         takes MQ, and only pair 0 runs until VQ_PAIRS_SET on\n"
	"                         the control queue (2N) says otherwise, as QEMU's\n"
	"                         virtio-net-pci,mq=on\n"
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
	"      slow-dma-map=MS      every DMA_MAP is answered MS (1..60000) ms late,\n"
	"                           the whole emulator waiting, after a line on stderr\n"
	"      dma-map-log          a DMA map at the IOVA the BAR4 log base registers\n"
	"                           hold is refused (EPERM): dirty logging starts\n"
	"                           once, then its log cannot be mapped there again\n"
	"                           (a new log, a second migration)\n"
	"      queue-no-stop=Q      queue_enable=0 on queue Q is ignored: the queue\n"
	"                           runs on and reads enabled until a reset\n"
	"      blk-no-drain         blk: requests are taken but never completed (a\n"
	"                           disk that hangs); queue_enable=0 stops the queue\n"
	"                           with them undone (BAR4: last_avail ahead of\n"
	"                           last_used)\n"
	"      write-past-len       net RX writes every writable buffer of a used chain\n"
	"                           whole (zeros after the frame) and reports only the\n"
	"                           frame's length, as virtio allows\n"
	"      notify-mult=N        notify_off_multiplier N (a power of two, 2..4096;\n"
	"                           default 4096): below the page size two queues\n"
	"                           share a doorbell page, so none can be a host\n"
	"                           notifier\n"
	"      fail-at=N            the Nth vfio-user message (counted from 1 over\n"
	"                           every client, as the stats' \"messages\") gets\n"
	"                           an error reply (EIO) instead of being served\n"
	"      drop-at=N            the connection is closed at the Nth message,\n"
	"                           unanswered (the emulator serves the next client)\n"
	"      delay-ms=MS          replies are sent MS (1..600000) ms late, the whole\n"
	"                           emulator waiting; with delay-at=N only the Nth\n"
	"      delay-at=N           see delay-ms\n"
	"  --wire KIND            net: what the VF is cabled to (default loop):\n"
	"      loop                 frames sent on TX of pair k come back on RX of pair k\n"
	"      tap:IFNAME           a Linux TAP device (created, or attached when it\n"
	"                           exists); frames from it go to RX of the running\n"
	"                           pair a flow hash picks (pair 0 when none runs)\n"
	"      pair:PATH            another ifcvf-emu over an AF_UNIX SOCK_SEQPACKET\n"
	"                           socket at PATH (one Ethernet frame per message):\n"
	"                           the first to start listens, the other connects;\n"
	"                           both retry and reconnect. PATH.lock is kept\n"
	"      gen[:OPT,...]        frame generator and checker: frames carrying a\n"
	"                           sequence number and a payload checksum (see\n"
	"                           gen-frame.h) go into RX of the pair once that\n"
	"                           queue first runs (enabled, DRIVER_OK); every\n"
	"                           frame the VF sends is checked.\n"
	"                           OPT: pps=N (1..10000000, default 1000): frames\n"
	"                           come at that rate whether or not RX has buffers\n"
	"                           (they wait in the RX FIFO, or are dropped);\n"
	"                           pps=max: as fast as RX takes them, only into\n"
	"                           buffers posted (none dropped for lack of\n"
	"                           buffers, none parked in the FIFO),\n"
	"                           size=BYTES (38..65535, default 128), count=N\n"
	"                           (0 = no end, default 0), pair=K (default 0),\n"
	"                           stream=N (id in the frames, default 0)\n"
	"  --rx-fifo N            net: frames each RX queue holds while it is\n"
	"                         suspended or out of buffers, 1..65536 (default 256);\n"
	"                         beyond that frames are dropped and counted\n"
	"  --features-extra MASK  also offer the feature bits in MASK (0x-hex or\n"
	"                         decimal), whether the model honours them or not:\n"
	"                         for tests of what a driver accepts\n"
	"  --doorbell mapped|message\n"
	"                         how doorbell writes reach the VF (default mapped):\n"
	"                         mapped: the notify area of the virtio BAR is a\n"
	"                         mappable sparse area backed by a sealed memfd, each\n"
	"                         queue's doorbell on its own page (a host notifier),\n"
	"                         watched by a poller thread that spins briefly after\n"
	"                         a doorbell, naps 50 us between looks for 20 ms, then\n"
	"                         sleeps at most 2 ms between looks (and does not\n"
	"                         look while no queue is enabled);\n"
	"                         REGION_WRITE of a doorbell works as well.\n"
	"                         message: nothing is mappable, a doorbell is a\n"
	"                         REGION_WRITE message\n"
	"  --stats-file PATH      write the counters as JSON to PATH on SIGUSR1 and at\n"
	"                         exit (replaced atomically)\n"
	"  --verbose              log every request and error reply to stderr\n"
	"  -h, --help             show this help\n"
	"\n"
	"Datapath (net): split virtqueues only (VIRTIO_F_RING_PACKED is not offered),\n"
	"descriptor chains, indirect descriptors, EVENT_IDX and NO_INTERRUPT/NO_NOTIFY\n"
	"suppression, MRG_RXBUF, the 12-byte virtio_net_hdr_v1. Queue 2N (control) is\n"
	"not served, except with --virtio-function and MQ negotiated: VQ_PAIRS_SET\n"
	"sets the pairs that run (1 after a reset). Every guest address goes through the DMA maps; an address outside\n"
	"them, or a chain longer than the ring, stops that queue and sets NEEDS_RESET.\n"
	"While BAR4 logging is on, every page the device writes is set in the log.\n"
	"Datapath (blk): IN, OUT, FLUSH, GET_ID, and DISCARD / WRITE_ZEROES (one range\n"
	"per request) when negotiated, over the same rings; a malformed request gets\n"
	"IOERR or UNSUPP in its status. A queue stopped with queue_enable=0 first\n"
	"completes every request in flight.\n"
	"\n"
	"Signals: SIGTERM/SIGINT close, remove PATH and exit 0; SIGUSR1 prints\n"
	"counters to stderr (and rewrites --stats-file); they are printed at exit too.\n"
	"SIGUSR2 raises a configuration-change interrupt (config vector, ISR bit 1,\n"
	"a new config generation), as a device whose configuration changed; a blk\n"
	"device first takes its new capacity: the --backing file's size now, or the\n"
	"memory disk grown to twice its size.\n"
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
	OPT_WIRE,
	OPT_RX_FIFO,
	OPT_VIRTIO_FUNCTION,
	OPT_FEATURES_EXTRA,
	OPT_STATS_FILE,
	OPT_DOORBELL,
	OPT_BACKING,
	OPT_COMPLETE_ORDER,
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
	{ "wire", required_argument, NULL, OPT_WIRE },
	{ "rx-fifo", required_argument, NULL, OPT_RX_FIFO },
	{ "virtio-function", no_argument, NULL, OPT_VIRTIO_FUNCTION },
	{ "features-extra", required_argument, NULL, OPT_FEATURES_EXTRA },
	{ "stats-file", required_argument, NULL, OPT_STATS_FILE },
	{ "doorbell", required_argument, NULL, OPT_DOORBELL },
	{ "backing", required_argument, NULL, OPT_BACKING },
	{ "complete-order", required_argument, NULL, OPT_COMPLETE_ORDER },
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
	int r = emu_fault_schedule_parse(s, &f->schedule, e);

	if (r != 0)
		return r < 0 ? r : 0;
	if (!strcmp(s, "blk-no-drain")) {
		f->blk_no_drain = true;
	} else if (!strcmp(s, "cap-outside-bar")) {
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
	} else if (!strncmp(s, "slow-dma-map=", 13)) {
		if (parse_number("--fault slow-dma-map", s + 13, 1, 60000, &v, e) < 0)
			return -EINVAL;
		f->slow_dma_map_ms = (unsigned)v;
	} else if (!strcmp(s, "dma-map-log")) {
		f->dma_map_log = true;
	} else if (!strncmp(s, "queue-no-stop=", 14)) {
		if (parse_number("--fault queue-no-stop", s + 14, 0, EMU_MAX_VRINGS - 1, &v, e) < 0)
			return -EINVAL;
		f->queue_no_stop_set = true;
		f->queue_no_stop = (unsigned)v;
	} else if (!strcmp(s, "write-past-len")) {
		f->write_past_len = true;
	} else if (!strncmp(s, "notify-mult=", 12)) {
		if (parse_number("--fault notify-mult", s + 12, 2, 4096, &v, e) < 0)
			return -EINVAL;
		/* 0 (one shared doorbell) is valid virtio but would merge
		 * kicks of different queues in one polled word */
		if (v & (v - 1))
			return cerr_set(e, EINVAL, "--fault notify-mult=%s: not a power of two",
					s + 12);
		f->notify_mult_set = true;
		f->notify_mult = (uint32_t)v;
	} else {
		return cerr_set(e, EINVAL, "--fault: unknown kind '%s' (see --help)", s);
	}
	return 0;
}

/* gen[:pps=N|max,size=BYTES,count=N,pair=K,stream=N] */
static int parse_gen(const char *s, struct emu_gen_config *g, struct cerr *e)
{
	static const struct {
		const char *key;
		uint64_t min, max;
	} keys[] = {
		{ "pps", 1, EMU_GEN_MAX_PPS },
		{ "size", GEN_FRAME_HDR_LEN, EMU_MAX_FRAME },
		{ "count", 0, UINT64_MAX },
		{ "pair", 0, EMU_MAX_QUEUE_PAIRS - 1 },
		{ "stream", 0, UINT32_MAX },
	};
	char buf[256], *save = NULL, *tok;

	if (*s == '\0')
		return 0;
	if (*s != ':')
		return cerr_set(e, EINVAL, "--wire: unknown kind 'gen%s' (see --help)", s);
	s++;
	if (strlen(s) >= sizeof(buf))
		return cerr_set(e, EINVAL, "--wire gen: the option list is too long");
	strcpy(buf, s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), opt[64];
		unsigned i;
		uint64_t v;

		if (!eq)
			return cerr_set(e, EINVAL, "--wire gen: '%s' is not KEY=VALUE", tok);
		*eq = '\0';
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (!strcmp(tok, keys[i].key))
				break;
		if (i == sizeof(keys) / sizeof(keys[0]))
			return cerr_set(e, EINVAL, "--wire gen: unknown option '%s' (pps, size, count, "
					"pair or stream)", tok);
		snprintf(opt, sizeof(opt), "--wire gen:%s", tok);
		if (i == 0 && !strcmp(eq + 1, "max")) {
			g->max = true;
			continue;
		}
		if (parse_number(opt, eq + 1, keys[i].min, keys[i].max, &v, e) < 0) {
			if (i == 0)
				cerr_set(e, EINVAL, "%s: '%s' is neither max nor a number from "
					 "%llu to %llu", opt, eq + 1,
					 (unsigned long long)keys[i].min,
					 (unsigned long long)keys[i].max);
			return -EINVAL;
		}
		switch (i) {
		case 0: g->pps = v; g->max = false; break;
		case 1: g->size = (unsigned)v; break;
		case 2: g->count = v; break;
		case 3: g->pair = (unsigned)v; break;
		default: g->stream = (uint32_t)v; break;
		}
	}
	return 0;
}

static int parse_wire(const char *s, struct emu_wire_config *w, struct cerr *e)
{
	if (!strcmp(s, "loop")) {
		w->kind = EMU_WIRE_LOOP;
	} else if (!strncmp(s, "tap:", 4)) {
		const char *name = s + 4;

		if (!*name || strlen(name) > EMU_IFNAME_MAX || strchr(name, '/') ||
		    strchr(name, ' ') || !strcmp(name, ".") || !strcmp(name, ".."))
			return cerr_set(e, EINVAL, "--wire tap: '%s' is not an interface name "
					"(1..%u characters, no '/' or space)", name, EMU_IFNAME_MAX);
		w->kind = EMU_WIRE_TAP;
		strcpy(w->ifname, name);
	} else if (!strncmp(s, "pair:", 5)) {
		const char *path = s + 5;
		struct sockaddr_un sa;

		if (!*path)
			return cerr_set(e, EINVAL, "--wire pair: the socket path is empty");
		/* PATH.lock must fit as well as PATH */
		if (strlen(path) + 5 >= sizeof(sa.sun_path))
			return cerr_set(e, EINVAL, "--wire pair: '%s' is too long for a UNIX socket "
					"(at most %zu bytes)", path, sizeof(sa.sun_path) - 6);
		w->kind = EMU_WIRE_PAIR;
		w->path = path;
	} else if (!strncmp(s, "gen", 3)) {
		w->kind = EMU_WIRE_GEN;
		return parse_gen(s + 3, &w->gen, e);
	} else {
		return cerr_set(e, EINVAL, "--wire: unknown kind '%s' (loop, tap:IFNAME, pair:PATH "
				"or gen[:OPTIONS])", s);
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
	cfg->wire.kind = EMU_WIRE_LOOP;
	cfg->wire.gen.pps = 1000;
	cfg->wire.gen.size = 128;
	cfg->rx_fifo = 256;
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
		{ OPT_BACKING, "--backing", EMU_TYPE_BLK },
		{ OPT_COMPLETE_ORDER, "--complete-order", EMU_TYPE_BLK },
		{ OPT_WIRE, "--wire", EMU_TYPE_NET },
		{ OPT_RX_FIFO, "--rx-fifo", EMU_TYPE_NET },
		{ OPT_VIRTIO_FUNCTION, "--virtio-function", EMU_TYPE_NET },
	};

	for (unsigned i = 0; i < sizeof(only) / sizeof(only[0]); i++)
		if (given[only[i].opt - OPT_SOCKET] && cfg->type != only[i].type)
			return cerr_set(e, EINVAL, "%s applies to --type %s only", only[i].name,
					only[i].type == EMU_TYPE_NET ? "net" : "blk");
	if (given[OPT_CAPACITY - OPT_SOCKET] && given[OPT_BACKING - OPT_SOCKET])
		return cerr_set(e, EINVAL, "--capacity and --backing: the backing file's size "
				"is the capacity; give one of them");
	if (cfg->type == EMU_TYPE_NET && cfg->wire.kind == EMU_WIRE_GEN &&
	    cfg->wire.gen.pair >= cfg->queue_pairs)
		return cerr_set(e, EINVAL, "--wire gen:pair=%u: the VF has %u queue pair%s",
				cfg->wire.gen.pair, cfg->queue_pairs,
				cfg->queue_pairs == 1 ? "" : "s");
	return 0;
}

/* --virtio-function takes the IDs and layout of --fault wrong-subsystem
 * --fault cap-bar=4 (a non-Intel subsystem, virtio structures in BAR4 as
 * QEMU places them), so that there is one way to build them; applied once
 * the whole command line is read, as the faults may come in any order. */
static int apply_virtio_function(struct emu_config *cfg, struct cerr *e)
{
	struct emu_faults *f = &cfg->faults;

	if (!cfg->virtio_function)
		return 0;
	if (f->cap_bar_set && f->cap_bar != 4)
		return cerr_set(e, EINVAL,
				"--virtio-function puts the virtio structures in BAR4; --fault "
				"cap-bar=%u contradicts it", f->cap_bar);
	f->wrong_subsystem = true;
	f->cap_bar_set = true;
	f->cap_bar = 4;
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
	case OPT_VIRTIO_FUNCTION:
		cfg->virtio_function = true;
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
	case OPT_WIRE:
		return parse_wire(arg, &cfg->wire, e);
	case OPT_RX_FIFO:
		if (parse_number("--rx-fifo", arg, 1, EMU_RX_FIFO_MAX, &v, e) < 0)
			return -EINVAL;
		cfg->rx_fifo = (unsigned)v;
		return 0;
	case OPT_FEATURES_EXTRA:
		return parse_number("--features-extra", arg, 0, UINT64_MAX, &cfg->features_extra, e);
	case OPT_STATS_FILE:
		if (!*arg)
			return cerr_set(e, EINVAL, "--stats-file: the path is empty");
		cfg->stats_file = arg;
		return 0;
	case OPT_DOORBELL:
		if (!strcmp(arg, "mapped"))
			cfg->doorbell = EMU_DOORBELL_MAPPED;
		else if (!strcmp(arg, "message"))
			cfg->doorbell = EMU_DOORBELL_MESSAGE;
		else
			return cerr_set(e, EINVAL, "--doorbell: '%s' is neither mapped nor message",
					arg);
		return 0;
	case OPT_BACKING:
		if (!*arg)
			return cerr_set(e, EINVAL, "--backing: the path is empty");
		cfg->backing = arg;
		return 0;
	case OPT_COMPLETE_ORDER:
		if (!strcmp(arg, "fifo"))
			cfg->blk_order = EMU_BLK_ORDER_FIFO;
		else if (!strcmp(arg, "reverse"))
			cfg->blk_order = EMU_BLK_ORDER_REVERSE;
		else if (!strcmp(arg, "random"))
			cfg->blk_order = EMU_BLK_ORDER_RANDOM;
		else
			return cerr_set(e, EINVAL, "--complete-order: '%s' is not fifo, reverse "
					"or random", arg);
		return 0;
	default:
		return cerr_set(e, EINVAL, "internal error: option %d not handled", opt);
	}
}

enum emu_options_result emu_options_parse(int argc, char **argv, struct emu_config *cfg,
					  FILE *out, struct cerr *e)
{
	bool given[OPT_COMPLETE_ORDER - OPT_SOCKET + 1] = { false };
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
	if (check_type_options(cfg, given, e) < 0 || apply_virtio_function(cfg, e) < 0)
		return EMU_OPTIONS_BAD;
	return EMU_OPTIONS_OK;
}

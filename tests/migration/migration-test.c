/* Live migration without QEMU: a real ifcvf-emu (generator wire) and a real
 * `ifcvf-helper run`, with this test as the guest through the tests/lib
 * vhost-user frontend (memfd guest memory, split rings, a shared dirty log).
 *
 * The guest posts RX buffers of four shapes (a buffer across a page
 * boundary, a two-descriptor chain, an indirect table, and a buffer larger
 * than the frame) while the generator fills them. The guest fills each
 * buffer with a poison byte before posting it, so it sees what the device
 * wrote, also past the used length (ifcvf-emu --fault write-past-len
 * writes whole buffers, as virtio allows). After each burst every page the
 * device wrote (changed bytes, the used length of every used buffer, and
 * the used ring) must be set in the log, and nothing else may be, but for
 * the relay the rest of the used chains' writable buffers: the relay
 * cannot know how much the device wrote, so it logs them whole; the VF's
 * own logging (hw) logs exactly what it wrote. Frames carry sequence
 * numbers, which must be continuous across every switch (no loss, no
 * duplicate), and the emulator must have dropped none.
 *
 * Each mode goes direct -> logging -> direct (a cancelled migration) ->
 * logging again -> a new log (SET_LOG_BASE) -> GET_VRING_BASE while logging
 * (indices back, used rings fully logged) -> a destination helper and VF
 * given those indices with SET_VRING_BASE, which must resume exactly there.
 *
 * Every wait is bounded (a hang guard, never a pass/fail criterion).
 *
 * With --device=ADDR the "host" is a VF that is already there (a kernel VFIO
 * function bound to vfio-pci, tests/kernel-vfio) instead of an ifcvf-emu:
 * --feed=CMD is run as `CMD COUNT STREAM SIZE` once the datapath is up, and
 * must make the VF's wire deliver exactly the numbered frames the emulator's
 * generator would have sent; --port-options adds KEY=VALUE pairs to the
 * helper's port. Only the software mode applies there, and the emulator's
 * own counters are not available (a lost frame shows in the sequence).
 *
 * A plain virtio function (such a --device, or ifcvf-emu --virtio-function)
 * has no per-queue stop and restarts its rings at 0: the helper resets it
 * and relays every vring with translated indices, stays relayed after a
 * rollback (unlogged), and a destination on such a function resumes at the
 * source's indices through the same translation.
 *
 * /migration/fault/... break the emulated VF in the middle of a migration
 * (ifcvf-emu --fault): a log that cannot be DMA-mapped again (a new log
 * while logging: the port fails, its queues never resume unlogged; LOG_ALL
 * again after a cancelled migration: refused, the frontend told in the
 * REPLY_ACK, the port runs on directly) and a queue that never stops (at
 * GET_VRING_BASE, at a new log, at the software switch: the VF is reset and
 * each vring's state is its used index). Each checks the port's state and
 * reason in the helper's log, that GET_VRING_BASE returns exactly the used
 * index in guest memory, and exact logging of what the VF wrote.
 *
 * /migration/sw/host-notifier: the guest maps the VF's doorbell pages
 * (host notifiers) and kicks there: the switch takes RX's page back (its
 * kicks must reach the relay, or the sequence stalls), the rollback gives
 * it back, and the destination hands out its own. */
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "datapath-util.h"
#include "gen-frame.h"
#include "virtq-drv.h"
#include "vu-frontend.h"

#define MEM_SIZE (16u << 20)
#define PAGE 4096u
#define NPAGES (MEM_SIZE / PAGE)
#define QSIZE 256u
#define SLOT 8192u               /* buffer space per descriptor head */
#define FRAME 200u               /* generator frame size */
#define HDR 12u                  /* virtio_net_hdr_v1 */
#define BURST 48u                /* buffers per burst */
#define BIG 192u                 /* buffers posted around a switch */
#define DST_FRAMES 4096u         /* the destination's generator: plenty */
#define WAIT_S 20                /* hang guard for one burst */
#define POISON 0xee              /* what the guest fills its buffers with */

/* feature bits the guest takes when offered */
#define F_EVENT_IDX 29
#define F_LOG_ALL 26
#define F_PROTOCOL 30
#define F_VERSION_1 32
#define F_GUEST_ANNOUNCE 21

typedef struct {
	unsigned n;
	uint64_t gpa[2];
	uint32_t len[2];
} Chain;

typedef enum {
	MODE_HW,
	MODE_SW,
} Mode;

typedef struct {
	Mode mode;
	gboolean event_idx;   /* guest negotiates EVENT_IDX */
	gboolean napi;        /* reap like a NAPI guest: interrupts off while reaping */
	gboolean no_lm;       /* VF without the BAR4 block */
	gboolean no_announce; /* guest without VIRTIO_NET_F_GUEST_ANNOUNCE */
	/* a plain virtio function (ifcvf-emu --virtio-function, or --device):
	 * no per-queue stop, rings restart at 0; the helper relays it with
	 * translated indices, also to resume at the destination */
	gboolean virtio_function;
	const char *fault;    /* ifcvf-emu --fault KIND, or NULL */
	/* the device writes whole RX buffers and reports the frame's length
	 * (ifcvf-emu --fault write-past-len) */
	gboolean write_past_len;
	/* the helpers run without CAP_SYS_ADMIN and CAP_CHECKPOINT_RESTORE:
	 * they cannot open /proc/self/map_files, so a vfio-user VF gets the
	 * dirty log through the fd SET_LOG_BASE carried */
	gboolean no_sys_admin;
	/* the guest takes host notifiers (maps the doorbell pages, kicks
	 * there) */
	gboolean host_notifier;
} Params;

/* one VF + helper, the "host" */
typedef struct {
	char *dir;
	char *stats;
	char *sock;
	TestEmu *emu;
	DpProc *helper;
	gsize log_off;        /* helper log already looked at */
	uint32_t stream;      /* --device: what the wire is to deliver once the */
	unsigned frames;      /* datapath is up */
	unsigned relay_switches;  /* direct -> relay switches of an IFCVF seen */
} Host;

typedef struct {
	Params prm;
	struct vu_guest_mem mem;
	struct vu_frontend fe;
	gboolean fe_open;
	struct virtq_drv rx, tx;
	uint64_t features;
	uint64_t buf_gpa;             /* QSIZE slots of SLOT bytes */
	Chain chain[QSIZE];           /* by head */
	unsigned posted;              /* shapes rotate */
	uint32_t stream;
	uint64_t next_seq;
	/* a real plain virtio function was just reset (--device, the switch
	 * to the relay): QEMU's virtio-net drops frames that arrive while the
	 * driver re-programs it, so a gap (never a duplicate) is allowed in
	 * that burst, and counted */
	gboolean gap_ok;
	uint64_t lost;
	gboolean logging;             /* LOG_ALL set */
	uint8_t expect[NPAGES];       /* pages the device wrote and must have logged */
	uint8_t written[NPAGES];      /* pages it wrote this burst, logged or not */
	uint8_t whole[NPAGES];        /* the writable buffers of the chains it used */
	uint64_t frames;
	guint calls;
	gboolean warned;              /* the helper said the guest will not announce */
} Guest;

/* ---- hosts ---- */

/* --device, --feed, --port-options (NULL: an ifcvf-emu per host) */
static char *opt_device;
static char *opt_feed;
static char *opt_port_options;

/* The device's wire delivers @frames numbered frames of @stream. */
static void feed_frames(unsigned frames, uint32_t stream)
{
	g_autofree char *cmd = g_strdup_printf("%s %u %u %u", opt_feed, frames, stream, FRAME);
	g_autoptr(GError) error = NULL;
	int status = 0;

	g_test_message("feed: %s", cmd);
	if (!g_spawn_command_line_sync(cmd, NULL, NULL, &status, &error))
		g_error("--feed '%s': %s", cmd, error->message);
	if (!g_spawn_check_wait_status(status, &error))
		g_error("--feed '%s' failed: %s", cmd, error->message);
}

/* The generator sends exactly what the guest will take (@frames): the
 * receive FIFO holds them all, so nothing is dropped however slowly the
 * test runs, and the source's last buffers stay posted, for the
 * destination to fill. */
static Host *host_start(const Params *prm, uint32_t stream, unsigned frames, const char *name)
{
	g_autoptr(GError) error = NULL;
	Host *h = g_new0(Host, 1);
	g_autofree char *wire = g_strdup_printf("gen:pps=1000,size=%u,stream=%u,count=%u", FRAME,
						stream, frames);
	const char *emu_args[] = { "--type", "net", "--wire", wire, "--rx-fifo", "8192",
				   "--stats-file", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL };
	const char *port_options = opt_port_options;
	guint nargs = 8;
	g_autofree char *spec = NULL;
	const char *specs[2] = { NULL, NULL };

	h->dir = g_dir_make_tmp("ifcvf-lm-XXXXXX", &error);
	g_assert_no_error(error);
	h->stats = g_build_filename(h->dir, "stats.json", NULL);
	h->sock = g_build_filename(h->dir, "vu.sock", NULL);
	emu_args[7] = h->stats;
	if (prm->no_lm)
		emu_args[nargs++] = "--no-lm";
	if (prm->virtio_function && !opt_device) {
		emu_args[nargs++] = "--virtio-function";
		port_options = "generic-virtio=1";
	}
	if (prm->fault) {
		emu_args[nargs++] = "--fault";
		emu_args[nargs++] = prm->fault;
	}
	if (prm->write_past_len) {
		emu_args[nargs++] = "--fault";
		emu_args[nargs++] = "write-past-len";
	}
	g_assert_cmpuint(nargs, <, G_N_ELEMENTS(emu_args));
	h->stream = stream;
	h->frames = frames;
	if (!opt_device)
		h->emu = test_emu_start(emu_args);
	spec = g_strdup_printf("device=%s,socket=%s%s%s%s", opt_device ? opt_device : h->emu->address,
			       h->sock, prm->mode == MODE_SW ? ",sw-live-migration=1" : "",
			       port_options ? "," : "", port_options ? port_options : "");
	specs[0] = spec;
	g_test_message("%s: %s", name, spec);
	if (prm->no_sys_admin) {
		const char *argv[] = { "setpriv", "--bounding-set=-sys_admin,-checkpoint_restore",
				       "--inh-caps=-sys_admin,-checkpoint_restore",
				       test_program("IFCVF_HELPER"), "run", "--bus", "none",
				       "--port", spec, NULL };

		h->helper = dp_proc_spawn(h->dir, "helper", argv, FALSE);
		(void)dp_proc_wait_log(h->helper, "): waiting: ", 0, 30);
	} else {
		h->helper = dp_helper_start(h->dir, specs);
	}
	return h;
}

static void host_stop(Host *h)
{
	if (!h)
		return;
	if (h->helper) {
		int status = dp_proc_stop(h->helper, 30);
		g_autofree char *log = dp_proc_log(h->helper);

		g_test_message("helper log:\n%s", log);
		g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		dp_proc_free(h->helper);
	}
	test_emu_stop(h->emu);
	{
		g_autofree char *log = g_build_filename(h->dir, "helper.log", NULL);

		(void)unlink(log);
	}
	(void)unlink(h->stats);
	(void)unlink(h->sock);
	g_assert_cmpint(rmdir(h->dir), ==, 0);
	g_free(h->stats);
	g_free(h->sock);
	g_free(h->dir);
	g_free(h);
}

/* the helper logs @needle (later than anything looked at before) */
static void host_expect_log(Host *h, const char *needle)
{
	h->log_off = dp_proc_wait_log(h->helper, needle, h->log_off, WAIT_S);
}

/* The helper's breakdown of its next WHAT ("WHAT, where the time went:
 * ...; N round trips + M posted writes ..."): N, the exchanges with the VF
 * that waited for an answer (vfio-user messages; none on kernel VFIO).
 * Counted, not timed: each is a wake-up of the device's server. */
static unsigned host_round_trips(Host *h, const char *what, char **ret_line)
{
	g_autofree char *needle = g_strdup_printf("%s, where the time went: ", what);
	g_autofree char *text = NULL;
	const char *line, *sum;
	unsigned n;

	h->log_off = dp_proc_wait_log(h->helper, needle, h->log_off, WAIT_S);
	/* the line may be read half written: its summary ends in the naps */
	(void)dp_proc_wait_log(h->helper, ", naps ", h->log_off, WAIT_S);
	text = dp_proc_log(h->helper);
	line = text + h->log_off;
	*ret_line = g_strndup(line, strcspn(line, "\n"));
	sum = strstr(*ret_line, "; ");
	g_assert_nonnull(sum);
	g_assert_cmpint(sscanf(sum, "; %u round trips", &n), ==, 1);
	g_test_message("%s: %s", what, *ret_line);
	return n;
}

typedef struct {
	guint64 dropped;
	guint64 pages_marked;
	gboolean truncated;
} EmuFacts;

static void host_emu_facts(Host *h, EmuFacts *ret)
{
	gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	JsonObject *dp, *drops, *log;

	(void)unlink(h->stats);
	g_assert_cmpint(kill(h->emu->pid, SIGUSR1), ==, 0);
	while (!g_file_test(h->stats, G_FILE_TEST_EXISTS)) {
		if (g_get_monotonic_time() > deadline)
			g_error("ifcvf-emu wrote no %s within 10 s of SIGUSR1", h->stats);
		g_usleep(10 * 1000);
	}
	json_parser_load_from_file(parser, h->stats, &error);
	g_assert_no_error(error);
	dp = json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)),
					   "datapath");
	drops = json_object_get_object_member(dp, "dropped_gen");
	log = json_object_get_object_member(dp, "log");
	ret->dropped = (guint64)json_object_get_int_member(drops, "frames");
	ret->truncated = json_object_get_boolean_member(drops, "truncated");
	ret->pages_marked = (guint64)json_object_get_int_member(log, "pages_marked");
	g_assert_cmpuint(json_object_get_int_member(dp, "device_errors"), ==, 0);
}

/* ---- the guest ---- */

static void guest_init(Guest *g, const Params *prm)
{
	struct cerr ce = { 0 };

	memset(g, 0, sizeof(*g));
	g->prm = *prm;
	g_assert_cmpint(vu_guest_mem_init(&g->mem, MEM_SIZE, &ce), ==, 0);
	g->buf_gpa = vu_guest_mem_alloc(&g->mem, (uint64_t)QSIZE * SLOT, PAGE);
	g_assert_cmpuint(g->buf_gpa, !=, 0);
	if (virtq_drv_init(&g->rx, &g->mem, 0, QSIZE, prm->event_idx, &ce) < 0 ||
	    virtq_drv_init(&g->tx, &g->mem, 1, QSIZE, prm->event_idx, &ce) < 0)
		g_error("%s", ce.msg);
}

static void guest_fini(Guest *g)
{
	if (g->fe_open)
		vu_frontend_close(&g->fe);
	virtq_drv_fini(&g->rx);
	virtq_drv_fini(&g->tx);
	vu_guest_mem_fini(&g->mem);
}

static void check(int r, const struct cerr *ce, const char *what)
{
	if (r < 0)
		g_error("%s: %s", what, ce->msg);
}

static void request(Guest *g, uint32_t req, const void *payload, uint32_t len, const char *what)
{
	struct cerr ce = { 0 };

	check(vu_frontend_request(&g->fe, req, payload, len, NULL, 0, NULL, 0, &ce), &ce, what);
}

/* SET_VRING_NUM/BASE/ADDR/KICK/CALL with an explicit ring base: the
 * device's position (GET_VRING_BASE), not the driver's avail index */
static void guest_setup_vring(Guest *g, struct virtq_drv *q, uint32_t base)
{
	struct {
		uint32_t index, num;
	} __attribute__((packed)) num = { q->index, q->size }, vbase = { q->index, base };
	struct {
		uint32_t index, flags;
		uint64_t desc, used, avail, log;
	} __attribute__((packed)) addr = {
		.index = q->index,
		.desc = (uint64_t)(uintptr_t)q->desc,
		.used = (uint64_t)(uintptr_t)q->used,
		.avail = (uint64_t)(uintptr_t)q->avail,
		.log = q->used_gpa,
	};
	uint64_t kick = q->index;
	struct cerr ce = { 0 };

	request(g, VU_SET_VRING_NUM, &num, sizeof(num), "SET_VRING_NUM");
	request(g, VU_SET_VRING_BASE, &vbase, sizeof(vbase), "SET_VRING_BASE");
	request(g, VU_SET_VRING_ADDR, &addr, sizeof(addr), "SET_VRING_ADDR");
	check(vu_frontend_request(&g->fe, VU_SET_VRING_KICK, &kick, sizeof(kick), &q->kickfd, 1,
				  NULL, 0, &ce), &ce, "SET_VRING_KICK");
	check(vu_frontend_set_vring_call(&g->fe, q->index, q->callfd, &ce), &ce, "SET_VRING_CALL");
}

static void guest_set_features(Guest *g, gboolean log_all)
{
	struct cerr ce = { 0 };
	uint64_t f = g->features | (log_all ? 1ull << F_LOG_ALL : 0);

	/* with REPLY_ACK the switch is done when this returns */
	check(vu_frontend_set_features(&g->fe, f, &ce), &ce, "SET_FEATURES");
	g->logging = log_all;
}

static void guest_connect(Guest *g, Host *h, uint32_t rx_base, uint32_t tx_base)
{
	uint64_t want = 1ull << F_VERSION_1 | 1ull << F_PROTOCOL;
	struct cerr ce = { 0 };

	if (!g->prm.no_announce)
		want |= 1ull << F_GUEST_ANNOUNCE;

	if (g->prm.event_idx)
		want |= 1ull << F_EVENT_IDX;
	check(vu_frontend_connect(&g->fe, h->sock, 10000, &ce), &ce, "connect");
	g->fe_open = TRUE;
	check(vu_frontend_handshake(&g->fe, 1ull << VU_PROTOCOL_F_REPLY_ACK |
					    1ull << VU_PROTOCOL_F_LOG_SHMFD |
					    (g->prm.host_notifier
						     ? 1ull << VU_PROTOCOL_F_BACKEND_REQ |
						       1ull << VU_PROTOCOL_F_BACKEND_SEND_FD |
						       1ull << VU_PROTOCOL_F_HOST_NOTIFIER
						     : 0), &ce), &ce, "handshake");
	g_assert_true(g->fe.reply_ack);
	if (g->prm.host_notifier) {
		check(vu_frontend_set_backend_req(&g->fe, 0, &ce), &ce, "SET_BACKEND_REQ_FD");
		check(vu_frontend_serve_backend(&g->fe, VU_NOTIFIER_ACCEPT, &ce), &ce,
		      "serve the backend channel");
		vu_frontend_kick_through(&g->fe, &g->rx);
		vu_frontend_kick_through(&g->fe, &g->tx);
	}
	g_assert_cmpuint(g->fe.features & want, ==, want);
	g->features = want;
	guest_set_features(g, FALSE);
	check(vu_frontend_set_mem_table(&g->fe, &g->mem, &ce), &ce, "SET_MEM_TABLE");
	guest_setup_vring(g, &g->rx, rx_base);
	guest_setup_vring(g, &g->tx, tx_base);
	check(vu_frontend_set_vring_enable(&g->fe, 0, true, &ce), &ce, "enable RX");
	check(vu_frontend_set_vring_enable(&g->fe, 1, true, &ce), &ce, "enable TX");
	host_expect_log(h, "running: 2 of 2 vrings enabled");
	/* a real wire's frames reach the guest only once its datapath is up
	 * (a device drops what it took while being reset and programmed) */
	if (opt_device)
		feed_frames(h->frames, h->stream);
}

/* A new shared log (SET_LOG_BASE), replacing the old one if any. */
static void guest_new_log(Guest *g)
{
	uint8_t *old = g->fe.log;
	uint64_t old_size = g->fe.log_size;
	int old_fd = g->fe.log_fd;
	struct cerr ce = { 0 };

	g->fe.log = NULL;
	g->fe.log_fd = -1;
	check(vu_frontend_set_log_base(&g->fe, &ce), &ce, "SET_LOG_BASE");
	if (old)
		munmap(old, old_size);
	if (old_fd >= 0)
		close(old_fd);
}

/* the four buffer shapes, by post count */
static void make_chain(Guest *g, uint16_t slot_hint, unsigned shape, struct virtq_buf *b,
		       unsigned *n, gboolean *indirect)
{
	uint64_t s = g->buf_gpa + (uint64_t)slot_hint * SLOT;

	*indirect = FALSE;
	switch (shape % 4) {
	case 0:   /* one buffer across a page boundary */
		b[0] = (struct virtq_buf){ s + 4000, 1536, true };
		*n = 1;
		break;
	case 1:   /* a chain of two, in two pages */
		b[0] = (struct virtq_buf){ s + 100, 64, true };
		b[1] = (struct virtq_buf){ s + PAGE + 1000, 1472, true };
		*n = 2;
		break;
	case 2:   /* an indirect table of two */
		b[0] = (struct virtq_buf){ s + 2000, 100, true };
		b[1] = (struct virtq_buf){ s + 6000, 1436, true };
		*n = 2;
		*indirect = TRUE;
		break;
	default:  /* one buffer of two pages: the frame fills part of the first */
		b[0] = (struct virtq_buf){ s, 2 * PAGE, true };
		*n = 1;
		break;
	}
}

static void guest_post(Guest *g, unsigned count)
{
	for (unsigned i = 0; i < count; i++) {
		struct virtq_buf b[2];
		gboolean indirect;
		unsigned n;
		/* the head the driver hands out next: its free list head, or
		 * for an indirect chain the one descriptor it takes */
		uint16_t head = g->rx.free_head;
		int id;

		make_chain(g, head, g->posted, b, &n, &indirect);
		for (unsigned k = 0; k < n; k++)
			memset(vu_gpa(&g->mem, b[k].gpa), POISON, b[k].len);
		id = virtq_drv_add(&g->rx, &g->mem, b, n, indirect);
		g_assert_cmpint(id, ==, head);
		g->chain[id].n = n;
		for (unsigned k = 0; k < n; k++) {
			g->chain[id].gpa[k] = b[k].gpa;
			g->chain[id].len[k] = b[k].len;
		}
		g->posted++;
	}
	(void)virtq_drv_kick(&g->rx);
}

static void mark_range(uint8_t *pages, uint64_t gpa, uint64_t len)
{
	if (!len)
		return;
	for (uint64_t p = gpa / PAGE; p <= (gpa + len - 1) / PAGE; p++)
		pages[p] = 1;
}

/* the pages of [gpa, gpa+len) not all POISON any more: the device wrote them */
static void mark_changed(Guest *g, uint8_t *pages, uint64_t gpa, uint64_t len)
{
	for (uint64_t at = gpa, end; at < gpa + len; at = end) {
		const uint8_t *p = vu_gpa(&g->mem, at);

		end = MIN(gpa + len, (at / PAGE + 1) * PAGE);
		for (uint64_t i = 0; i < end - at; i++)
			if (p[i] != POISON) {
				pages[at / PAGE] = 1;
				break;
			}
	}
}

static void used_ring_pages(Guest *g, struct virtq_drv *q, uint8_t *pages)
{
	mark_range(pages, q->used_gpa, 4 + 8u * q->size + 2);
}

/* Reap one used RX entry: in order, the frame whole and next in sequence;
 * its written pages go to expect when @required. Returns 0 when none. */
static int guest_reap_one(Guest *g, gboolean required)
{
	struct virtq_drv *q = &g->rx;
	uint16_t idx = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
	uint16_t slot = q->last_used & (QSIZE - 1);
	uint8_t frame[HDR + FRAME + 64];
	uint32_t id, len, stream = 0;
	uint64_t seq = 0, at = 0;
	Chain *c;

	if (idx == q->last_used)
		return 0;
	/* the device uses RX buffers in the order they were made available */
	g_assert_cmpuint(q->used->ring[slot].id, ==, q->avail->ring[slot]);
	g_assert_cmpint(virtq_drv_get_used(q, &id, &len), ==, 1);
	g_assert_cmpuint(len, ==, HDR + FRAME);
	c = &g->chain[id];
	for (unsigned k = 0; k < c->n && at < len; k++) {
		uint64_t n = MIN((uint64_t)c->len[k], len - at);

		memcpy(frame + at, vu_gpa(&g->mem, c->gpa[k]), n);
		mark_range(g->written, c->gpa[k], n);
		if (required)
			mark_range(g->expect, c->gpa[k], n);
		at += n;
	}
	/* past the used length too, when the device wrote there */
	for (unsigned k = 0; k < c->n; k++) {
		mark_range(g->whole, c->gpa[k], c->len[k]);
		mark_changed(g, g->written, c->gpa[k], c->len[k]);
		if (required)
			mark_changed(g, g->expect, c->gpa[k], c->len[k]);
	}
	g_assert_cmpuint(at, ==, len);
	g_assert_cmpint(gen_frame_parse(frame + HDR, len - HDR, &stream, &seq), ==, GEN_FRAME_OK);
	g_assert_cmpuint(stream, ==, g->stream);
	if (seq > g->next_seq && g->gap_ok) {
		g_test_message("frames %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT
			       " lost at the function reset", g->next_seq, seq - 1);
		g->lost += seq - g->next_seq;
		g->next_seq = seq;
	}
	if (seq != g->next_seq)
		g_error("frame %" G_GUINT64_FORMAT " arrived where %" G_GUINT64_FORMAT
			" was next: %s", seq, g->next_seq, seq > g->next_seq ? "lost" : "duplicate");
	g->next_seq++;
	g->frames++;
	return 1;
}

/* Reap @count entries, waiting as a driver does: by polling, or like NAPI
 * (interrupts off while reaping, then on, look again, sleep on the call). */
static void guest_reap(Guest *g, unsigned count, gboolean required)
{
	gint64 deadline = g_get_monotonic_time() + WAIT_S * G_USEC_PER_SEC;
	unsigned got = 0;

	while (got < count) {
		if (g_get_monotonic_time() > deadline)
			g_error("only %u of %u RX buffers came back within %d s (used idx %u, last %u)",
				got, count, WAIT_S, g->rx.used->idx, g->rx.last_used);
		if (g->prm.napi)
			virtq_drv_disable_interrupts(&g->rx);
		while (got < count && guest_reap_one(g, required))
			got++;
		if (got == count)
			break;
		if (g->prm.napi) {
			virtq_drv_enable_interrupts(&g->rx);
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			if (__atomic_load_n(&g->rx.used->idx, __ATOMIC_ACQUIRE) != g->rx.last_used)
				continue;
			if (virtq_drv_wait_call(&g->rx, 1000) > 0)
				g->calls++;
		} else {
			g_usleep(300);
		}
	}
}

/* Compare the log with what the device wrote. @strict: every page in
 * expect set; always: nothing set outside what the device wrote (changed
 * bytes, used lengths), the used rings, and the buffers still posted
 * (written, maybe, not yet used); and the used chains' writable buffers,
 * which the relay logs whole (sw), as it cannot tell how much of them the
 * device wrote. A VF logging itself (hw) knows, and logs only that. */
static void guest_check_log(Guest *g, gboolean strict, const char *when)
{
	uint8_t may[NPAGES];
	guint missing = 0, extra = 0, set = 0;

	memcpy(may, g->written, sizeof(may));
	if (g->prm.mode == MODE_SW)
		for (uint64_t p = 0; p < NPAGES; p++)
			may[p] |= g->whole[p];
	used_ring_pages(g, &g->rx, may);
	used_ring_pages(g, &g->tx, may);
	for (uint16_t i = g->rx.last_used; i != g->rx.avail_idx; i++) {
		const Chain *c = &g->chain[g->rx.avail->ring[i & (QSIZE - 1)]];

		for (unsigned k = 0; k < c->n; k++)
			mark_range(may, c->gpa[k], c->len[k]);
	}
	for (uint64_t p = 0; p < NPAGES; p++) {
		gboolean bit = vu_frontend_log_test(&g->fe, p * PAGE);

		set += bit;
		if (strict && g->expect[p] && !bit) {
			missing++;
			g_test_message("%s: page 0x%" G_GINT64_MODIFIER "x written, not logged", when,
				       p * PAGE);
		}
		if (bit && !may[p] && !g->expect[p]) {
			extra++;
			g_test_message("%s: page 0x%" G_GINT64_MODIFIER "x logged, not written", when,
				       p * PAGE);
		}
	}
	if (missing || extra)
		g_error("%s: %u pages written but not logged, %u logged but not written (%u set)",
			when, missing, extra, set);
}

static void burst_reset(Guest *g)
{
	memset(g->expect, 0, sizeof(g->expect));
	memset(g->written, 0, sizeof(g->written));
	memset(g->whole, 0, sizeof(g->whole));
}

/* One burst while logging: post, reap, every written page logged, nothing
 * else; then the log is cleared, as a migration's dirty sync does. */
static void burst_logged(Guest *g, const char *when)
{
	burst_reset(g);
	guest_post(g, BURST);
	guest_reap(g, BURST, TRUE);
	used_ring_pages(g, &g->rx, g->expect);
	guest_check_log(g, TRUE, when);
	vu_frontend_log_clear(&g->fe);
}

/* One burst while not logging: nothing may appear in the log. */
static void burst_unlogged(Guest *g, const char *when)
{
	burst_reset(g);
	guest_post(g, BURST);
	guest_reap(g, BURST, FALSE);
	for (uint64_t p = 0; p < NPAGES; p++)
		if (vu_frontend_log_test(&g->fe, p * PAGE))
			g_error("%s: page 0x%" G_GINT64_MODIFIER "x logged while not logging", when,
				p * PAGE);
}

/* Switch LOG_ALL on or off in the middle of a burst: buffers posted, frames
 * arriving. Entries published after the switch returned must be logged
 * (on); nothing may be logged that the device could not have written. */
static void burst_switch(Guest *g, Host *h, gboolean on, const char *when)
{
	unsigned before, after;
	uint16_t at;

	burst_reset(g);
	guest_post(g, BIG);
	/* let part of it go before the switch */
	guest_reap(g, BURST / 2, FALSE);
	guest_set_features(g, on);
	at = __atomic_load_n(&g->rx.used->idx, __ATOMIC_ACQUIRE);
	before = MIN((uint16_t)(at - g->rx.last_used), BIG - BURST / 2);
	after = BIG - BURST / 2 - before;
	guest_reap(g, before, FALSE);
	guest_reap(g, after, on);
	g_test_message("%s: %u entries published by the switch, %u after it", when, before, after);
	if (on) {
		used_ring_pages(g, &g->rx, g->expect);
		guest_check_log(g, TRUE, when);
	}
	/* once per connection, and before the switch: the guest will not
	 * announce itself, and QEMU would ask the VF for a RARP it cannot send */
	if (on && g->prm.no_announce && !g->warned) {
		host_expect_log(h, "no announcement after migration: the VF cannot send RARP");
		g->warned = TRUE;
	}
	if (on)
		host_expect_log(h, g->prm.mode == MODE_HW ? "live migration: logging-hw"
							  : "live migration: relaying-sw");
	else
		host_expect_log(h, g->prm.virtio_function
					   ? "live migration: logging stopped while running: the 2 vrings stay relayed"
					   : "live migration: logging stopped while running: direct again");
	if (g->prm.mode == MODE_SW && !g->prm.virtio_function) {
		/* an IFCVF's RX vring switched on its own: its stop (queue_enable
		 * and the ring state in one exchange), its interrupt, its enable;
		 * nothing read back that the VF told before, and from the second
		 * switch on the mediated ring of the first, still mapped */
		g_autofree char *line = NULL;
		unsigned n = host_round_trips(h, on ? "direct -> relay" : "logging off", &line);

		g_assert_cmpuint(n, <=, 3);
		if (on && h->relay_switches++ > 0)
			g_assert_nonnull(strstr(line, "mediated ring (spare)"));
	}
	vu_frontend_log_clear(&g->fe);
}

/* A new callfd for RX while relaying (DPDK: vring off, then on again). */
static void guest_new_callfd(Guest *g)
{
	struct cerr ce = { 0 };
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	g_assert_cmpint(fd, >=, 0);
	check(vu_frontend_set_vring_call(&g->fe, 0, fd, &ce), &ce, "SET_VRING_CALL");
	close(g->rx.callfd);
	g->rx.callfd = fd;
}

/* With host notifiers: the guest maps exactly the doorbell pages @want
 * (bit per vring) once the frontend has answered (bounded wait). */
static void expect_notifiers(Guest *g, Host *h, guint64 want, const char *when)
{
	gint64 end = g_get_monotonic_time() + WAIT_S * G_TIME_SPAN_SECOND;

	if (!g->prm.host_notifier)
		return;
	while (vu_frontend_notifiers(&g->fe) != want) {
		if (g_get_monotonic_time() > end) {
			g_autofree char *log = dp_proc_log(h->helper);

			g_error("%s: the guest maps doorbell pages 0x%" G_GINT64_MODIFIER "x, expected "
				"0x%" G_GINT64_MODIFIER "x; helper log:\n%s", when,
				(guint64)vu_frontend_notifiers(&g->fe), want, log);
		}
		g_usleep(10 * 1000);
	}
}

/* ---- the scenario ---- */

/* frames the source's guest takes, step by step as run_migration() goes */
static unsigned source_frames(const Params *prm)
{
	unsigned bursts = 1 + 4 + 1 + 1 + 1 + 1 + 1 + 1;

	return 3 * BIG + bursts * BURST + BURST / 2;
}

static void run_migration(gconstpointer data)
{
	const Params *prm = data;
	Guest *g = g_new0(Guest, 1);
	Host *src, *dst;
	EmuFacts facts;
	uint32_t rx_base, tx_base;
	uint16_t pending;
	struct cerr ce = { 0 };

	guest_init(g, prm);
	src = host_start(prm, 0, source_frames(prm), "source");
	guest_connect(g, src, 0, 0);
	expect_notifiers(g, src, 0x3, "source");
	guest_new_log(g);

	/* direct: nothing logged */
	burst_unlogged(g, "direct");

	/* migration starts (a plain virtio function is reset here) */
	g->gap_ok = prm->virtio_function && opt_device;
	burst_switch(g, src, TRUE, "switch on");
	g->gap_ok = FALSE;
	/* RX relayed: its page taken back; TX runs direct, its page kept */
	expect_notifiers(g, src, 0x2, "switch on");
	for (int i = 0; i < 4; i++)
		burst_logged(g, "logging");

	/* cancelled: back to direct, then nothing more logged */
	burst_switch(g, src, FALSE, "rollback");
	expect_notifiers(g, src, 0x3, "rollback");
	vu_frontend_log_clear(&g->fe);
	burst_unlogged(g, "direct after rollback");

	/* a second attempt */
	burst_switch(g, src, TRUE, "second switch on");
	expect_notifiers(g, src, 0x2, "second switch on");
	burst_logged(g, "logging again");

	/* a new log while logging */
	guest_new_log(g);
	burst_logged(g, "new log");

	/* the guest gives RX a new callfd while logging (relayed in sw mode) */
	guest_new_callfd(g);
	burst_logged(g, "new callfd");
	/* and turns RX off and on again */
	check(vu_frontend_set_vring_enable(&g->fe, 0, false, &ce), &ce, "disable RX");
	check(vu_frontend_set_vring_enable(&g->fe, 0, true, &ce), &ce, "enable RX");
	burst_logged(g, "RX enabled again");
	burst_logged(g, "logging");
	if (prm->virtio_function) {
		/* the relay held RX meanwhile: the function was not restarted */
		g_autofree char *log = dp_proc_log(src->helper);

		g_assert_null(strstr(log, "without per-queue stop"));
		g_assert_null(strstr(log, "stopped:"));
	}

	if (src->emu) {
		host_emu_facts(src, &facts);
		g_assert_false(facts.truncated);
		g_assert_cmpuint(facts.dropped, ==, 0);
		if (prm->mode == MODE_HW)
			g_assert_cmpuint(facts.pages_marked, >, 0);
		else
			g_assert_cmpuint(facts.pages_marked, ==, 0);
	}

	/* stop and copy: the generator's last frames fill half the buffers
	 * posted, the rest stay posted; then GET_VRING_BASE */
	burst_reset(g);
	guest_post(g, BURST);
	g_test_message("frames lost at function resets: %" G_GUINT64_FORMAT, g->lost);
	g_assert_cmpuint(g->lost, <=, BURST / 2);
	guest_reap(g, BURST / 2 - (unsigned)g->lost, TRUE);
	g_assert_cmpuint(g->next_seq, ==, source_frames(prm));
	check(vu_frontend_get_vring_base(&g->fe, 0, &rx_base, &ce), &ce, "GET_VRING_BASE 0");
	check(vu_frontend_get_vring_base(&g->fe, 1, &tx_base, &ce), &ce, "GET_VRING_BASE 1");
	host_expect_log(src, "stopped");
	if (!prm->virtio_function) {
		/* two queue stops (one exchange each), the reset, the
		 * interrupts, the memory, and the log unmapped in hw mode or
		 * the relay's spare mediated ring in sw mode (kept mapped
		 * across stops, it outlived a failed bring-up: fault sweep) */
		g_autofree char *line = NULL;

		g_assert_cmpuint(host_round_trips(src, "stop", &line), <=, 6);
	}
	/* what the VF used before it stopped is in the guest's ring by now */
	g_assert_cmpuint(rx_base, ==, __atomic_load_n(&g->rx.used->idx, __ATOMIC_ACQUIRE));
	while (guest_reap_one(g, TRUE))
		;
	g_assert_cmpuint(rx_base, ==, g->rx.last_used);
	g_assert_cmpuint(tx_base, ==, g->tx.used->idx);
	/* the whole used rings are dirty, and every buffer written */
	used_ring_pages(g, &g->rx, g->expect);
	used_ring_pages(g, &g->tx, g->expect);
	guest_check_log(g, TRUE, "GET_VRING_BASE");
	pending = (uint16_t)(g->rx.avail_idx - rx_base);
	g_test_message("source stopped at RX %u (%u buffers still posted), TX %u; %" G_GUINT64_FORMAT
		       " frames received, %u calls", rx_base, pending, tx_base, g->frames, g->calls);
	vu_frontend_close(&g->fe);
	g->fe_open = FALSE;
	host_stop(src);

	if (prm->no_lm) {
		/* no ring-state words: such a VF cannot resume elsewhere */
		guest_fini(g);
		g_free(g);
		return;
	}

	/* destination: its own VF and helper, the same guest memory, the
	 * source's indices; the posted buffers go first. A real wire is fed
	 * exactly what the guest takes. */
	dst = host_start(prm, 1, opt_device ? pending + BURST : DST_FRAMES, "destination");
	g->stream = 1;
	g->next_seq = 0;
	guest_connect(g, dst, rx_base, tx_base);
	expect_notifiers(g, dst, 0x3, "destination");
	if (prm->virtio_function)
		/* it cannot be told the indices: the relay translates them */
		(void)dp_proc_wait_log(dst->helper, "2 vrings relayed from the start", 0, WAIT_S);
	burst_reset(g);
	g_assert_cmpuint(pending, ==, BURST / 2 + g->lost);
	guest_reap(g, pending, FALSE);
	g_assert_cmpuint(g->rx.last_used, ==, (uint16_t)(rx_base + pending));
	burst_unlogged(g, "destination");
	if (dst->emu) {
		host_emu_facts(dst, &facts);
		g_assert_cmpuint(facts.dropped, ==, 0);
	}
	vu_frontend_close(&g->fe);
	g->fe_open = FALSE;
	host_stop(dst);
	guest_fini(g);
	g_free(g);
}

/* ---- device faults in the middle of a migration ---- */

typedef enum {
	FAULT_NEW_LOG,       /* a new log (SET_LOG_BASE) while the VF logs */
	FAULT_SECOND_SWITCH, /* LOG_ALL again after a cancelled migration */
	FAULT_STOP,          /* GET_VRING_BASE while logging */
	FAULT_SW_SWITCH,     /* LOG_ALL in sw mode (each vring stopped, relayed) */
} FaultStep;

typedef struct {
	Params prm;
	FaultStep step;
	const char *expect;  /* what the helper must log for the port */
} FaultCase;

/* more frames than any case takes: the rest wait in the RX FIFO */
#define FAULT_FRAMES (4 * BIG + 4 * BURST)

/* After a fault: GET_VRING_BASE hands back exactly where the VF stopped
 * (never an index of its own, never the old base), every page the device
 * wrote while LOG_ALL was on is in the log, and the helper exits cleanly. */
static void fault_stop_and_check(Guest *g, Host *h, const char *expect)
{
	uint32_t rx_base, tx_base;
	struct cerr ce = { 0 };

	check(vu_frontend_get_vring_base(&g->fe, 0, &rx_base, &ce), &ce, "GET_VRING_BASE 0");
	check(vu_frontend_get_vring_base(&g->fe, 1, &tx_base, &ce), &ce, "GET_VRING_BASE 1");
	if (expect)
		host_expect_log(h, expect);
	host_expect_log(h, "stopped: the frontend stopped the device");
	g_test_message("GET_VRING_BASE: RX %u (used idx %u), TX %u (used idx %u)", rx_base,
		       g->rx.used->idx, tx_base, g->tx.used->idx);
	g_assert_cmpuint(rx_base, ==, __atomic_load_n(&g->rx.used->idx, __ATOMIC_ACQUIRE));
	g_assert_cmpuint(tx_base, ==, g->tx.used->idx);
	while (guest_reap_one(g, g->logging))
		;
	g_assert_cmpuint(rx_base, ==, g->rx.last_used);
	if (g->logging) {
		used_ring_pages(g, &g->rx, g->expect);
		used_ring_pages(g, &g->tx, g->expect);
		guest_check_log(g, TRUE, "GET_VRING_BASE");
	}
	vu_frontend_close(&g->fe);
	g->fe_open = FALSE;
	host_stop(h);
}

static void run_fault(gconstpointer data)
{
	const FaultCase *fc = data;
	Guest *g = g_new0(Guest, 1);
	struct cerr ce = { 0 };
	Host *src;
	int r;

	guest_init(g, &fc->prm);
	src = host_start(&fc->prm, 0, FAULT_FRAMES, "source");
	guest_connect(g, src, 0, 0);
	guest_new_log(g);
	burst_unlogged(g, "direct");

	switch (fc->step) {
	case FAULT_SW_SWITCH:
		/* RX does not stop: the switch is refused, and the frontend
		 * is told (QEMU aborts the migration) */
		burst_reset(g);
		guest_post(g, BIG);
		guest_reap(g, BIG, FALSE);
		r = vu_frontend_set_features(&g->fe, g->features | 1ull << F_LOG_ALL, &ce);
		g_test_message("SET_FEATURES (LOG_ALL): %d %s", r, ce.msg);
		g_assert_cmpint(r, <, 0);
		g_assert_nonnull(strstr(ce.msg, "the backend refused request 2"));
		host_expect_log(src, fc->expect);
		/* QEMU takes LOG_ALL back when it aborts */
		guest_set_features(g, FALSE);
		break;
	case FAULT_SECOND_SWITCH:
		burst_switch(g, src, TRUE, "switch on");
		burst_logged(g, "logging");
		burst_switch(g, src, FALSE, "rollback");
		vu_frontend_log_clear(&g->fe);
		/* the log cannot be mapped again: LOG_ALL is refused, the
		 * frontend is told, the port runs on directly */
		r = vu_frontend_set_features(&g->fe, g->features | 1ull << F_LOG_ALL, &ce);
		g_test_message("SET_FEATURES (LOG_ALL): %d %s", r, ce.msg);
		g_assert_cmpint(r, <, 0);
		g_assert_nonnull(strstr(ce.msg, "the backend refused request 2"));
		host_expect_log(src, fc->expect);
		guest_set_features(g, FALSE);
		burst_unlogged(g, "direct after the refusal");
		break;
	case FAULT_NEW_LOG:
		burst_switch(g, src, TRUE, "switch on");
		burst_logged(g, "logging");
		/* the VF must not run on unlogged: the port fails */
		guest_new_log(g);
		host_expect_log(src, fc->expect);
		/* buffers posted now may be filled only if logged */
		burst_reset(g);
		guest_post(g, BURST);
		break;
	case FAULT_STOP:
		burst_switch(g, src, TRUE, "switch on");
		burst_logged(g, "logging");
		/* stop and copy: RX does not stop when told */
		burst_reset(g);
		guest_post(g, BURST);
		guest_reap(g, BURST / 2, TRUE);
		break;
	}
	fault_stop_and_check(g, src, fc->step == FAULT_STOP ? fc->expect : NULL);
	guest_fini(g);
	g_free(g);
}

static const FaultCase fault_new_log = {
	.prm = { .mode = MODE_HW, .fault = "dma-map-log" },
	.step = FAULT_NEW_LOG,
	.expect = "failed: cannot log into the new dirty log (SET_LOG_BASE): cannot DMA-map the dirty log",
};
static const FaultCase fault_second_switch = {
	.prm = { .mode = MODE_HW, .fault = "dma-map-log" },
	.step = FAULT_SECOND_SWITCH,
	.expect = "running: cannot DMA-map the dirty log",
};
static const FaultCase fault_stop = {
	.prm = { .mode = MODE_HW, .fault = "queue-no-stop=0" },
	.step = FAULT_STOP,
	.expect = "running: queue 0 did not stop within 100 ms: the VF was reset",
};
static const FaultCase fault_new_log_no_stop = {
	.prm = { .mode = MODE_HW, .fault = "queue-no-stop=0" },
	.step = FAULT_NEW_LOG,
	.expect = "failed: queue 0 did not stop within 100 ms",
};
static const FaultCase fault_sw_switch_no_stop = {
	.prm = { .mode = MODE_SW, .fault = "queue-no-stop=0" },
	.step = FAULT_SW_SWITCH,
	.expect = "failed: queue 0 did not stop within 100 ms",
};

static const Params hw = { .mode = MODE_HW };
static const Params hw_no_sys_admin = { .mode = MODE_HW, .no_sys_admin = TRUE };
static const Params hw_event_idx = { .mode = MODE_HW, .event_idx = TRUE, .napi = TRUE };
static const Params sw = { .mode = MODE_SW };
static const Params sw_event_idx = { .mode = MODE_SW, .event_idx = TRUE, .napi = TRUE };
static const Params sw_napi = { .mode = MODE_SW, .napi = TRUE };
static const Params sw_no_lm = { .mode = MODE_SW, .no_lm = TRUE, .no_announce = TRUE };
static const Params sw_virtio_function = { .mode = MODE_SW, .virtio_function = TRUE };
static const Params sw_virtio_function_napi = { .mode = MODE_SW, .virtio_function = TRUE,
						 .event_idx = TRUE, .napi = TRUE };
static const Params sw_write_past_len = { .mode = MODE_SW, .write_past_len = TRUE };
static const Params sw_host_notifier = { .mode = MODE_SW, .host_notifier = TRUE };
static const Params device_sw = { .mode = MODE_SW, .virtio_function = TRUE };

int main(int argc, char **argv)
{
	const GOptionEntry entries[] = {
		{ "device", 0, 0, G_OPTION_ARG_STRING, &opt_device,
		  "Run against this VF instead of ifcvf-emu", "ADDR" },
		{ "feed", 0, 0, G_OPTION_ARG_STRING, &opt_feed,
		  "With --device: the command that sends frames (CMD COUNT STREAM SIZE)", "CMD" },
		{ "port-options", 0, 0, G_OPTION_ARG_STRING, &opt_port_options,
		  "With --device: more KEY=VALUE pairs for the helper's port", "OPTIONS" },
		{ NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	g_autoptr(GError) error = NULL;

	g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_set_ignore_unknown_options(ctx, TRUE);
	g_option_context_set_help_enabled(ctx, FALSE);
	if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
		g_printerr("migration-test: %s\n", error->message);
		return 2;
	}
	if (!opt_device != !opt_feed || (opt_port_options && !opt_device)) {
		g_printerr("migration-test: --feed and --port-options go with --device\n");
		return 2;
	}
	g_test_init(&argc, &argv, NULL);
	if (opt_device) {
		g_test_add_data_func("/migration/device/sw", &device_sw, run_migration);
		return g_test_run();
	}
	g_test_add_data_func("/migration/hw", &hw, run_migration);
	g_test_add_data_func("/migration/hw/event-idx", &hw_event_idx, run_migration);
	g_test_add_data_func("/migration/hw/no-cap-sys-admin", &hw_no_sys_admin, run_migration);
	g_test_add_data_func("/migration/sw", &sw, run_migration);
	g_test_add_data_func("/migration/sw/event-idx", &sw_event_idx, run_migration);
	g_test_add_data_func("/migration/sw/no-interrupt", &sw_napi, run_migration);
	g_test_add_data_func("/migration/sw/no-lm", &sw_no_lm, run_migration);
	g_test_add_data_func("/migration/sw/write-past-len", &sw_write_past_len, run_migration);
	g_test_add_data_func("/migration/sw/host-notifier", &sw_host_notifier, run_migration);
	g_test_add_data_func("/migration/sw/virtio-function", &sw_virtio_function, run_migration);
	g_test_add_data_func("/migration/sw/virtio-function/event-idx", &sw_virtio_function_napi,
			     run_migration);
	g_test_add_data_func("/migration/fault/dma-map-log/new-log", &fault_new_log, run_fault);
	g_test_add_data_func("/migration/fault/dma-map-log/second-switch", &fault_second_switch,
			     run_fault);
	g_test_add_data_func("/migration/fault/queue-no-stop/stop", &fault_stop, run_fault);
	g_test_add_data_func("/migration/fault/queue-no-stop/new-log", &fault_new_log_no_stop,
			     run_fault);
	g_test_add_data_func("/migration/fault/queue-no-stop/sw-switch", &fault_sw_switch_no_stop,
			     run_fault);
	return g_test_run();
}

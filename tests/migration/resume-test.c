/* Resume from the guest's truth (issue 18): a helper killed with SIGKILL
 * while the guest transmits, a frontend that completes the guest's TX
 * entries itself while no backend runs (QEMU's virtio-net does: with the
 * vhost backend gone it takes the TX ring over, and what it sends to a dead
 * peer is used all the same), then a new helper on the same VF, given the
 * guest's indices with SET_VRING_BASE; RESTARTS times.
 *
 * The guest transmits numbered frames (gen-frame.h) that ifcvf-emu's `gen`
 * wire checks, reusing the descriptors and buffers of the entries the
 * frontend completed. A VF that resumed at its own older index would fetch
 * those entries again and send the newer frames now in their buffers twice
 * (duplicates, out of order), and the emulator would say the queue starts
 * at a used index the used ring in guest memory contradicts.
 *
 * Cases: an IFCVF without BAR4 (it cannot be told an index: the helper
 * resets it and relays with translated indices), an IFCVF with BAR4 given a
 * stale ring state by its frontend after the ring's addresses (the helper
 * programs the used index in guest memory into its ring-state registers),
 * and a plain virtio function. Every wait is bounded (a hang guard, never a
 * pass/fail criterion). */
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "datapath-util.h"
#include "gen-frame.h"
#include "virtq-drv.h"
#include "vu-frontend.h"

#define MEM_SIZE (8u << 20)
#define QSIZE 256u
#define SLOT 2048u
#define HDR 12u
#define FRAME 200u
#define STREAM 7u
#define BEFORE 100u     /* frames sent through the first helper */
#define OFFLINE 20u     /* TX entries the frontend completes itself */
#define AFTER 100u      /* frames sent through each new helper */
#define RESTARTS 3u
#define WAIT_S 20

#define F_PROTOCOL 30
#define F_VERSION_1 32

typedef struct {
	gboolean no_lm;
	gboolean virtio_function;
	/* the frontend hands a stale TX ring state (its own, from before it
	 * completed the entries), not the guest's used index, after the
	 * ring's addresses (so DPDK does not correct it) */
	gboolean stale_base;
	/* the helper is stopped with SIGTERM, not killed: a clean stop leaves
	 * the used rings final, so the frontend's fallback (the used index in
	 * guest memory, what QEMU takes when GET_VRING_BASE fails on the
	 * closed socket) is exact */
	gboolean sigterm;
} Params;

typedef struct {
	char *dir, *stats, *sock, *spec;
	TestEmu *emu;
	DpProc *helper;
	struct vu_guest_mem mem;
	struct vu_frontend fe;
	gboolean fe_open;
	struct virtq_drv rx, tx;
	uint64_t buf_gpa;
	uint64_t seq;
	gboolean base_last;   /* SET_VRING_BASE after SET_VRING_ADDR */
} Rig;

static void check(int r, const struct cerr *ce, const char *what)
{
	if (r < 0)
		g_error("%s: %s", what, ce->msg);
}

static void setup_vring(Rig *r, struct virtq_drv *q, uint32_t base)
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
	};
	uint64_t kick = q->index;
	struct cerr ce = { 0 };

	check(vu_frontend_request(&r->fe, VU_SET_VRING_NUM, &num, sizeof(num), NULL, 0, NULL, 0, &ce),
	      &ce, "SET_VRING_NUM");
	/* DPDK takes the used index in guest memory over a ring base that
	 * came before the ring's addresses, not over one that comes after */
	if (!r->base_last)
		check(vu_frontend_request(&r->fe, VU_SET_VRING_BASE, &vbase, sizeof(vbase), NULL, 0,
					  NULL, 0, &ce), &ce, "SET_VRING_BASE");
	check(vu_frontend_request(&r->fe, VU_SET_VRING_ADDR, &addr, sizeof(addr), NULL, 0, NULL, 0,
				  &ce), &ce, "SET_VRING_ADDR");
	if (r->base_last)
		check(vu_frontend_request(&r->fe, VU_SET_VRING_BASE, &vbase, sizeof(vbase), NULL, 0,
					  NULL, 0, &ce), &ce, "SET_VRING_BASE");
	check(vu_frontend_request(&r->fe, VU_SET_VRING_KICK, &kick, sizeof(kick), &q->kickfd, 1,
				  NULL, 0, &ce), &ce, "SET_VRING_KICK");
	check(vu_frontend_set_vring_call(&r->fe, q->index, q->callfd, &ce), &ce, "SET_VRING_CALL");
}

static void helper_start(Rig *r)
{
	const char *specs[2] = { r->spec, NULL };

	r->helper = dp_helper_start(r->dir, specs);
}

static void connect_frontend(Rig *r, uint32_t tx_base)
{
	uint64_t want = 1ull << F_VERSION_1 | 1ull << F_PROTOCOL;
	struct cerr ce = { 0 };

	check(vu_frontend_connect(&r->fe, r->sock, 10000, &ce), &ce, "connect");
	r->fe_open = TRUE;
	check(vu_frontend_handshake(&r->fe, 1ull << VU_PROTOCOL_F_REPLY_ACK, &ce), &ce, "handshake");
	g_assert_cmpuint(r->fe.features & want, ==, want);
	check(vu_frontend_set_features(&r->fe, want, &ce), &ce, "SET_FEATURES");
	check(vu_frontend_set_mem_table(&r->fe, &r->mem, &ce), &ce, "SET_MEM_TABLE");
	setup_vring(r, &r->rx, r->rx.last_used);
	setup_vring(r, &r->tx, tx_base);
	check(vu_frontend_set_vring_enable(&r->fe, 0, true, &ce), &ce, "enable RX");
	check(vu_frontend_set_vring_enable(&r->fe, 1, true, &ce), &ce, "enable TX");
	/* this helper's line (the log holds its predecessors' too) */
	(void)dp_proc_wait_log(r->helper, "running: 2 of 2 vrings enabled", r->helper->log_start,
			       WAIT_S);
}

/* Reap what is used (the frontend's or the VF's) and post @n numbered
 * frames, each in the buffer of the head it goes into, made available (the
 * avail index in guest memory published) and notified, as a guest does:
 * whoever serves the ring next, the frontend or a helper, sees them. */
static void post_frames(Rig *r, unsigned n)
{
	uint32_t id, len;

	while (virtq_drv_get_used(&r->tx, &id, &len) == 1)
		;
	for (unsigned i = 0; i < n; i++) {
		uint16_t head = r->tx.free_head;
		uint64_t gpa = r->buf_gpa + (uint64_t)head * SLOT;
		uint8_t *buf = vu_gpa(&r->mem, gpa);
		static const uint8_t dst[6] = { 0x02, 0, 0, 0, 0, 1 };
		struct virtq_buf b = { gpa, HDR + FRAME, false };

		memset(buf, 0, HDR);
		gen_frame_build(buf + HDR, FRAME, dst, STREAM, r->seq++);
		g_assert_cmpint(virtq_drv_add(&r->tx, &r->mem, &b, 1, false), ==, head);
	}
	(void)virtq_drv_kick(&r->tx);
}

static void wait_tx_used(Rig *r, uint16_t idx)
{
	gint64 deadline = g_get_monotonic_time() + WAIT_S * G_USEC_PER_SEC;

	while (__atomic_load_n(&r->tx.used->idx, __ATOMIC_ACQUIRE) != idx) {
		if (g_get_monotonic_time() > deadline)
			g_error("TX used index %u, not %u, after %d s",
				__atomic_load_n(&r->tx.used->idx, __ATOMIC_ACQUIRE), idx, WAIT_S);
		g_usleep(2000);
	}
}

/* What QEMU's virtio-net does with the TX ring while the backend is gone:
 * every entry made available (up to the avail index in guest memory, never
 * past it: a used index ahead of the avail index is a ring no driver and
 * no device could have made) is used (its frame went nowhere). */
static void frontend_completes_tx(Rig *r)
{
	struct vring_used *u = r->tx.used;
	uint16_t idx = u->idx, avail = __atomic_load_n(&r->tx.avail->idx, __ATOMIC_ACQUIRE);

	for (; idx != avail; idx++) {
		u->ring[idx & (QSIZE - 1)].id = r->tx.avail->ring[idx & (QSIZE - 1)];
		u->ring[idx & (QSIZE - 1)].len = 0;
	}
	__atomic_store_n(&u->idx, idx, __ATOMIC_RELEASE);
}

/* the emulator's stats: the top-level object */
static JsonObject *emu_stats(Rig *r, JsonParser *parser)
{
	gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	g_autoptr(GError) error = NULL;

	(void)unlink(r->stats);
	g_assert_cmpint(kill(r->emu->pid, SIGUSR1), ==, 0);
	while (!g_file_test(r->stats, G_FILE_TEST_EXISTS)) {
		if (g_get_monotonic_time() > deadline)
			g_error("ifcvf-emu wrote no %s within 10 s of SIGUSR1", r->stats);
		g_usleep(10 * 1000);
	}
	g_usleep(100 * 1000);   /* written whole: the emulator writes it at once */
	json_parser_load_from_file(parser, r->stats, &error);
	g_assert_no_error(error);
	return json_node_get_object(json_parser_get_root(parser));
}

/* the sum of a counter over every queue of the datapath's "queues" array */
static guint64 sum_queues(JsonObject *dp, const char *member)
{
	JsonArray *qs = json_object_get_array_member(dp, "queues");
	guint64 sum = 0;

	for (guint i = 0; qs && i < json_array_get_length(qs); i++) {
		JsonObject *q = json_array_get_object_element(qs, i);

		if (json_object_has_member(q, member))
			sum += (guint64)json_object_get_int_member(q, member);
	}
	return sum;
}

static void run_resume(gconstpointer data)
{
	const Params *prm = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autofree char *wire = g_strdup_printf("gen:pps=1000,size=%u,stream=%u,count=1", FRAME,
						STREAM);
	const char *emu_args[] = { "--type", "net", "--wire", wire, "--stats-file", NULL, NULL, NULL,
				   NULL };
	guint nargs = 6;
	struct cerr ce = { 0 };
	Rig r = { 0 };
	JsonObject *top, *dp, *gen;
	int status;

	r.dir = g_dir_make_tmp("ifcvf-resume-XXXXXX", &error);
	g_assert_no_error(error);
	r.stats = g_build_filename(r.dir, "stats.json", NULL);
	r.sock = g_build_filename(r.dir, "vu.sock", NULL);
	emu_args[5] = r.stats;
	if (prm->no_lm)
		emu_args[nargs++] = "--no-lm";
	if (prm->virtio_function)
		emu_args[nargs++] = "--virtio-function";
	r.emu = test_emu_start(emu_args);
	r.spec = g_strdup_printf("device=%s,socket=%s,sw-live-migration=1%s", r.emu->address, r.sock,
				 prm->virtio_function ? ",generic-virtio=1" : "");
	g_assert_cmpint(vu_guest_mem_init(&r.mem, MEM_SIZE, &ce), ==, 0);
	r.buf_gpa = vu_guest_mem_alloc(&r.mem, (uint64_t)QSIZE * SLOT, 4096);
	g_assert_cmpuint(r.buf_gpa, !=, 0);
	check(virtq_drv_init(&r.rx, &r.mem, 0, QSIZE, false, &ce), &ce, "RX ring");
	check(virtq_drv_init(&r.tx, &r.mem, 1, QSIZE, false, &ce), &ce, "TX ring");

	/* 1. traffic through the first helper */
	helper_start(&r);
	connect_frontend(&r, 0);
	post_frames(&r, BEFORE);
	(void)virtq_drv_kick(&r.tx);
	wait_tx_used(&r, BEFORE);

	for (unsigned k = 0; k < RESTARTS; k++) {
		uint16_t at = r.tx.avail_idx;

		/* 2. the helper crashes (or stops); the frontend goes on with
		 * the TX ring */
		g_assert_cmpint(kill(r.helper->pid, prm->sigterm ? SIGTERM : SIGKILL), ==, 0);
		status = dp_proc_wait_exit(r.helper, 10);
		if (prm->sigterm)
			g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		else
			g_assert_true(WIFSIGNALED(status));
		dp_proc_free(r.helper);
		vu_frontend_close(&r.fe);
		r.fe_open = FALSE;
		post_frames(&r, OFFLINE);
		frontend_completes_tx(&r);
		g_test_message("restart %u: the frontend completed TX entries %u..%u itself", k + 1, at,
			       (uint16_t)(at + OFFLINE - 1));

		/* 3. a new helper; the guest reuses the completed entries'
		 * heads and buffers for newer frames before the datapath is
		 * back, so the VF finds them waiting */
		helper_start(&r);
		r.base_last = prm->stale_base;
		post_frames(&r, AFTER);
		connect_frontend(&r, prm->stale_base ? at : (uint16_t)(at + OFFLINE));
		(void)virtq_drv_kick(&r.tx);
		wait_tx_used(&r, r.tx.avail_idx);
	}

	/* 4. the wire saw every frame the guest sent with a backend, once */
	top = emu_stats(&r, parser);
	dp = json_object_get_object_member(top, "datapath");
	gen = json_object_get_object_member(json_object_get_object_member(top, "wire"), "gen");
	g_assert_nonnull(gen);
	g_test_message("checker: in order %" G_GINT64_FORMAT ", duplicates %" G_GINT64_FORMAT
		       ", out of order %" G_GINT64_FORMAT ", resume mismatches %" G_GUINT64_FORMAT,
		       json_object_get_int_member(gen, "in_order"),
		       json_object_get_int_member(gen, "duplicates"),
		       json_object_get_int_member(gen, "out_of_order"),
		       sum_queues(dp, "resume_mismatch"));
	g_assert_cmpint(json_object_get_int_member(gen, "duplicates"), ==, 0);
	g_assert_cmpint(json_object_get_int_member(gen, "out_of_order"), ==, 0);
	g_assert_cmpint(json_object_get_int_member(gen, "corrupted"), ==, 0);
	g_assert_cmpint(json_object_get_int_member(gen, "in_order"), ==, BEFORE + RESTARTS * AFTER);
	g_assert_cmpuint(sum_queues(dp, "resume_mismatch"), ==, 0);

	vu_frontend_close(&r.fe);
	status = dp_proc_stop(r.helper, 30);
	g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	{
		g_autofree char *log = dp_proc_log(r.helper);

		g_test_message("helper log:\n%s", log);
	}
	dp_proc_free(r.helper);
	test_emu_stop(r.emu);
	virtq_drv_fini(&r.rx);
	virtq_drv_fini(&r.tx);
	vu_guest_mem_fini(&r.mem);
	{
		g_autofree char *log = g_build_filename(r.dir, "helper.log", NULL);

		(void)unlink(log);
	}
	(void)unlink(r.stats);
	(void)unlink(r.sock);
	g_assert_cmpint(rmdir(r.dir), ==, 0);
	g_free(r.stats);
	g_free(r.sock);
	g_free(r.spec);
	g_free(r.dir);
}

int main(int argc, char **argv)
{
	static const Params no_lm = { .no_lm = TRUE };
	static const Params bar4 = { .stale_base = TRUE };
	static const Params virtio_function = { .virtio_function = TRUE };
	static const Params no_lm_sigterm = { .no_lm = TRUE, .sigterm = TRUE };

	g_test_init(&argc, &argv, NULL);
	g_test_add_data_func("/resume/no-lm", &no_lm, run_resume);
	g_test_add_data_func("/resume/bar4/stale-base", &bar4, run_resume);
	g_test_add_data_func("/resume/virtio-function", &virtio_function, run_resume);
	g_test_add_data_func("/resume/no-lm/sigterm", &no_lm_sigterm, run_resume);
	return g_test_run();
}

#include "fault-rig.h"

#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#define QSIZE 64u
#define MEM_SIZE (2u << 20)
#define PAGE 4096u
#define BUF 2048u
#define HDR 12u              /* virtio_net_hdr_v1 */
#define FRAME 60u
#define WAIT_S 30            /* hang guard */

#define F_LOG_ALL 26
#define F_PROTOCOL 30
#define F_VERSION_1 32

static const char *const emu_base_args[] = { "--type", "net", "--wire", "loop", NULL };

static void check(int r, const struct cerr *ce, const char *what)
{
	if (r < 0)
		g_error("%s: %s", what, ce->msg);
}

/* ---- the emulators' counters ---- */

static JsonObject *read_stats(FaultRig *r, guint port, JsonParser *parser)
{
	gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	g_autoptr(GError) error = NULL;

	(void)unlink(r->stats[port]);
	g_assert_cmpint(kill(r->emu[port]->pid, SIGUSR1), ==, 0);
	while (!g_file_test(r->stats[port], G_FILE_TEST_EXISTS)) {
		if (g_get_monotonic_time() > deadline)
			g_error("ifcvf-emu wrote no %s within 10 s of SIGUSR1", r->stats[port]);
		g_usleep(2 * 1000);
	}
	json_parser_load_from_file(parser, r->stats[port], &error);
	g_assert_no_error(error);
	return json_node_get_object(json_parser_get_root(parser));
}

guint64 fault_rig_emu_messages(FaultRig *r, guint port)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonObject *root = read_stats(r, port, parser);

	return (guint64)json_object_get_int_member(json_object_get_object_member(root, "server"),
						   "messages");
}

/* The VF's lock: the emulator serves one client at a time, and the helper
 * holds it once (connected), having opened it as often as it lost it. */
static gboolean emu_held(FaultRig *r, guint port)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonObject *root = read_stats(r, port, parser);

	return json_object_get_boolean_member(json_object_get_object_member(root, "server"),
					      "connected");
}

guint64 fault_rig_emu_dma_maps(FaultRig *r, guint port)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonObject *root = read_stats(r, port, parser);

	return (guint64)json_object_get_int_member(json_object_get_object_member(root, "device"),
						   "dma_maps");
}

/* @fault: "KIND[,KIND]", one --fault each */
static void emu_args(FaultRig *r, guint port, const char *fault, const char **argv)
{
	guint n = 0;

	for (; emu_base_args[n]; n++)
		argv[n] = emu_base_args[n];
	argv[n++] = "--stats-file";
	argv[n++] = r->stats[port];
	g_strfreev(r->faults);
	r->faults = fault ? g_strsplit(fault, ",", 3) : NULL;
	for (guint i = 0; r->faults && r->faults[i]; i++) {
		argv[n++] = "--fault";
		argv[n++] = r->faults[i];
	}
	argv[n] = NULL;
}

/* ---- /proc counts ---- */

static guint count_dir(GPid pid, const char *what)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/%s", (int)pid, what);
	g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
	guint n = 0;

	g_assert_nonnull(d);
	while (g_dir_read_name(d))
		n++;
	return n;
}

/* Mappings of what a frontend lends (guest memory, the dirty log: memfds);
 * the heap's and DPDK's own come and go with allocation patterns. */
static guint count_maps(GPid pid)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/maps", (int)pid);
	g_autofree char *text = NULL;
	guint n = 0;

	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	for (const char *p = text; (p = strstr(p, "memfd:")); p++)
		n++;
	return n;
}

/* ---- the guest ---- */

void fault_guest_init(FaultGuest *g)
{
	struct cerr ce = { 0 };

	memset(g, 0, sizeof(*g));
	check(vu_guest_mem_init(&g->mem, MEM_SIZE, &ce), &ce, "guest memory");
	g->bufs = vu_guest_mem_alloc(&g->mem, 2ull * QSIZE * BUF, PAGE);
	g_assert_cmpuint(g->bufs, !=, 0);
	for (unsigned i = 0; i < 2; i++)
		check(virtq_drv_init(&g->q[i], &g->mem, i, QSIZE, false, &ce), &ce, "vring");
}

void fault_guest_fini(FaultGuest *g)
{
	if (g->open)
		vu_frontend_close(&g->fe);
	for (unsigned i = 0; i < 2; i++)
		virtq_drv_fini(&g->q[i]);
	vu_guest_mem_fini(&g->mem);
}

static int bringup(struct vu_frontend *fe, struct vu_guest_mem *mem, struct virtq_drv *q,
		   const char *sock, gboolean *open, unsigned close_at, struct cerr *ce)
{
	uint64_t want = 1ull << F_VERSION_1 | 1ull << F_PROTOCOL;
	int r;

	if ((r = vu_frontend_connect(fe, sock, WAIT_S * 1000, ce)) < 0)
		return r;
	*open = TRUE;
	fe->close_at = close_at;
	if ((r = vu_frontend_handshake(fe, 1ull << VU_PROTOCOL_F_REPLY_ACK |
					       1ull << VU_PROTOCOL_F_LOG_SHMFD, ce)) < 0 ||
	    (r = vu_frontend_set_features(fe, want, ce)) < 0 ||
	    (r = vu_frontend_set_mem_table(fe, mem, ce)) < 0)
		return r;
	for (unsigned i = 0; i < 2; i++)
		if ((r = vu_frontend_setup_vring(fe, &q[i], ce)) < 0)
			return r;
	for (unsigned i = 0; i < 2; i++)
		if ((r = vu_frontend_set_vring_enable(fe, i, true, ce)) < 0)
			return r;
	return 0;
}

int fault_guest_bringup(FaultGuest *g, FaultRig *r, struct cerr *ce)
{
	return bringup(&g->fe, &g->mem, g->q, r->sock[0], &g->open, g->fe.close_at, ce);
}

int fault_guest_log_all(FaultGuest *g, gboolean on, struct cerr *ce)
{
	uint64_t f = 1ull << F_VERSION_1 | 1ull << F_PROTOCOL | (on ? 1ull << F_LOG_ALL : 0);
	int r;

	if (on && !g->fe.log && (r = vu_frontend_set_log_base(&g->fe, ce)) < 0)
		return r;
	/* logging from the moment the request is sent: what the VF writes
	 * after the helper took it must be logged, whatever it answers */
	g->logging = on;
	return vu_frontend_set_features(&g->fe, f, ce);
}

int fault_guest_stop(FaultGuest *g, uint32_t base[2], struct cerr *ce)
{
	int r;

	for (unsigned i = 0; i < 2; i++)
		if ((r = vu_frontend_get_vring_base(&g->fe, i, &base[i], ce)) < 0)
			return r;
	return 0;
}

static void kick(struct virtq_drv *q)
{
	if (virtq_drv_kick(q) == 0)
		(void)eventfd_write(q->kickfd, 1);
}

static void assert_logged(FaultGuest *g, uint64_t gpa, uint64_t len, const char *what)
{
	for (uint64_t p = gpa / PAGE; p <= (gpa + len - 1) / PAGE; p++)
		if (!vu_frontend_log_test(&g->fe, p * PAGE))
			g_error("%s: page 0x%" G_GINT64_MODIFIER "x written while LOG_ALL was on, "
				"not in the dirty log", what, p * PAGE);
}

gboolean fault_guest_frame(FaultGuest *g, guint wait_ms)
{
	struct virtq_drv *rx = &g->q[0], *tx = &g->q[1];
	uint64_t rxb = g->bufs + (uint64_t)rx->free_head * BUF;
	uint64_t txb = g->bufs + (uint64_t)(QSIZE + tx->free_head) * BUF;
	gint64 deadline = g_get_monotonic_time() + (gint64)wait_ms * 1000;
	uint8_t *frame = vu_gpa(&g->mem, txb);
	uint32_t id, len;

	g->tag++;
	memset(vu_gpa(&g->mem, rxb), 0, BUF);
	g_assert_cmpint(virtq_drv_add(rx, &g->mem, &(struct virtq_buf){ rxb, BUF, true }, 1,
				      false), >=, 0);
	kick(rx);
	memset(frame, 0, HDR + FRAME);
	memset(frame + HDR, 0xff, 6);            /* broadcast */
	frame[HDR + 6] = 0x02;
	frame[HDR + 12] = 0x88;
	frame[HDR + 13] = 0xb5;
	frame[HDR + 14] = g->tag;
	g_assert_cmpint(virtq_drv_add(tx, &g->mem, &(struct virtq_buf){ txb, HDR + FRAME, false },
				      1, false), >=, 0);
	kick(tx);
	for (guint i = 1; virtq_drv_get_used(rx, &id, &len) != 1; i++) {
		if (g_get_monotonic_time() > deadline)
			return FALSE;
		g_usleep(500);
		/* a doorbell is a posted write: one the VF lost (fail-at on
		 * it) stalls the ring until the next, as a driver's watchdog
		 * knows; ring both again now and then */
		if (i % 200 == 0) {
			(void)eventfd_write(rx->kickfd, 1);
			(void)eventfd_write(tx->kickfd, 1);
		}
	}
	g_assert_cmpuint(len, ==, HDR + FRAME);
	g_assert_cmpuint(((uint8_t *)vu_gpa(&g->mem, rxb))[HDR + 14], ==, g->tag);
	while (virtq_drv_get_used(tx, &id, &len) != 1) {
		if (g_get_monotonic_time() > deadline)
			return FALSE;
		g_usleep(500);
	}
	if (g->logging) {
		assert_logged(g, rxb, HDR + FRAME, "RX buffer");
		assert_logged(g, rx->used_gpa, 4 + 8u * rx->size + 2, "RX used ring");
		assert_logged(g, tx->used_gpa, 4 + 8u * tx->size + 2, "TX used ring");
	}
	return TRUE;
}

/* ---- the rig ---- */

static gboolean line_is_state(const char *line, guint port, const char *const *states,
			      const char **ret_state)
{
	g_autofree char *head = g_strdup_printf("port %u (", port);
	const char *p = strstr(line, head), *q;

	if (!p || !(q = strstr(p, "): ")))
		return FALSE;
	q += 3;
	for (guint i = 0; states[i]; i++)
		if (g_str_has_prefix(q, states[i])) {
			*ret_state = q;
			return TRUE;
		}
	return FALSE;
}

char *fault_rig_wait_state(FaultRig *r, guint port, gsize from, const char *const *states,
			   guint timeout_s)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;

	for (;;) {
		g_autofree char *log = dp_proc_log(r->helper);
		g_auto(GStrv) lines = g_strsplit(log + MIN(from, strlen(log)), "\n", -1);
		const char *state, *last = NULL;

		for (guint i = 0; lines[i]; i++)
			if (line_is_state(lines[i], port, states, &state))
				last = state;
		if (last)
			return g_strdup(last);
		if (g_get_monotonic_time() > deadline || !dp_proc_alive(r->helper))
			return NULL;
		g_usleep(5 * 1000);
	}
}

static FaultRig *rig_new(const char *shim, const char *ctl_file, gboolean hw);

FaultRig *fault_rig_new(void)
{
	return rig_new(NULL, NULL, FALSE);
}

FaultRig *fault_rig_new_hw(void)
{
	return rig_new(NULL, NULL, TRUE);
}

FaultRig *fault_rig_new_preloaded(const char *shim, const char *ctl_file)
{
	return rig_new(shim, ctl_file, FALSE);
}

static FaultRig *rig_new(const char *shim, const char *ctl_file, gboolean hw)
{
	g_autoptr(GError) error = NULL;
	FaultRig *r = g_new0(FaultRig, 1);
	g_autofree char *spec0 = NULL, *spec1 = NULL;
	const char *specs[3];
	const char *argv[16];
	struct cerr ce = { 0 };
	gboolean open = FALSE;

	r->dir = g_dir_make_tmp("ifcvf-fault-XXXXXX", &error);
	g_assert_no_error(error);
	for (guint i = 0; i < 2; i++) {
		r->sock[i] = g_strdup_printf("%s/vu%u.sock", r->dir, i);
		r->stats[i] = g_strdup_printf("%s/stats%u.json", r->dir, i);
		emu_args(r, i, NULL, argv);
		r->emu[i] = test_emu_start(argv);
	}
	spec0 = g_strdup_printf("device=%s,socket=%s%s", r->emu[0]->address, r->sock[0],
				hw ? "" : ",sw-live-migration=1");
	spec1 = g_strdup_printf("device=%s,socket=%s,sw-live-migration=1", r->emu[1]->address,
				r->sock[1]);
	specs[0] = spec0;
	specs[1] = spec1;
	specs[2] = NULL;
	if (shim) {
		/* the helper alone inherits them; ASan accepts a library
		 * preloaded before its runtime (the shim passes every call
		 * on to ASan's allocator) */
		g_autofree char *asan = g_strdup_printf("%s%sverify_asan_link_order=0",
							g_getenv("ASAN_OPTIONS") ?: "",
							g_getenv("ASAN_OPTIONS") ? ":" : "");
		g_autofree char *old_asan = g_strdup(g_getenv("ASAN_OPTIONS"));

		g_setenv("LD_PRELOAD", shim, TRUE);
		g_setenv("IFCVF_ALLOC_FAULT_FILE", ctl_file, TRUE);
		g_setenv("ASAN_OPTIONS", asan, TRUE);
		r->helper = dp_helper_start(r->dir, specs);
		g_unsetenv("LD_PRELOAD");
		g_unsetenv("IFCVF_ALLOC_FAULT_FILE");
		if (old_asan)
			g_setenv("ASAN_OPTIONS", old_asan, TRUE);
		else
			g_unsetenv("ASAN_OPTIONS");
	} else {
		r->helper = dp_helper_start(r->dir, specs);
	}

	/* the bystander runs all along */
	check(vu_guest_mem_init(&r->by_mem, MEM_SIZE, &ce), &ce, "guest memory");
	for (unsigned i = 0; i < 2; i++)
		check(virtq_drv_init(&r->by_q[i], &r->by_mem, i, QSIZE, false, &ce), &ce, "vring");
	check(bringup(&r->by_fe, &r->by_mem, r->by_q, r->sock[1], &open, 0, &ce), &ce,
	      "bystander bring-up");
	g_free(fault_rig_wait_state(r, 1, 0, (const char *const[]){ "running: 2 of 2", NULL },
				    WAIT_S));
	/* and port 0 once, so that whatever the helper keeps after a first
	 * frontend (DPDK's) is in the counts */
	fault_rig_fresh_frontend(r);
	r->fds = dp_count_fds(r->helper->pid);
	r->threads = count_dir(r->helper->pid, "task");
	r->maps = count_maps(r->helper->pid);
	r->dma = fault_rig_emu_dma_maps(r, 0);
	return r;
}

void fault_rig_free(FaultRig *r)
{
	vu_frontend_close(&r->by_fe);
	if (r->helper) {
		int st = dp_proc_stop(r->helper, 30);

		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			g_autofree char *log = dp_proc_log(r->helper);

			g_test_message("helper log:\n%s", log);
		}
		g_assert_true(WIFEXITED(st));
		g_assert_cmpint(WEXITSTATUS(st), ==, 0);
		dp_proc_free(r->helper);
	}
	for (unsigned i = 0; i < 2; i++)
		virtq_drv_fini(&r->by_q[i]);
	vu_guest_mem_fini(&r->by_mem);
	for (guint i = 0; i < 2; i++) {
		if (r->emu[i])
			test_emu_stop(r->emu[i]);
		(void)unlink(r->stats[i]);
		g_free(r->stats[i]);
		g_free(r->sock[i]);
	}
	test_rm_flat_dir(r->dir);
	g_strfreev(r->faults);
	g_free(r->dir);
	g_free(r);
}

void fault_rig_restart_emu(FaultRig *r, const char *fault)
{
	const char *argv[16];
	gsize off = dp_proc_log_size(r->helper);

	emu_args(r, 0, fault, argv);
	dp_emu_kill(r->emu[0]);
	dp_emu_restart(r->emu[0], argv);
	/* dp_emu_restart adds --socket; wait for the helper to have it */
	dp_proc_wait_log(r->helper, "port 0: device re-attached", off, WAIT_S);
}

void fault_rig_wait_gone(FaultRig *r, gsize from, const char *point)
{
	g_autofree char *seen = fault_rig_wait_state(
		r, 0, from, (const char *const[]){ "connected: a frontend connected", NULL }, 0);
	g_autofree char *state = NULL;

	/* refused before the port knew of it (DPDK's own failure) */
	if (!seen)
		return;
	state = fault_rig_wait_state(
		r, 0, from, (const char *const[]){ "waiting: the frontend disconnected", NULL },
		WAIT_S);
	if (!state)
		g_error("%s: the helper did not see the frontend go within %d s", point, WAIT_S);
}

void fault_rig_fresh_frontend(FaultRig *r)
{
	FaultGuest g;
	struct cerr ce = { 0 };
	gsize off = dp_proc_log_size(r->helper);
	g_autofree char *state = NULL;

	/* a frontend that closed before the helper saw it connect may still
	 * hold the port when this one comes: refused, it reconnects, as
	 * QEMU's reconnect does (a hang guard bounds it) */
	for (guint tries = 1;; tries++) {
		fault_guest_init(&g);
		if (fault_guest_bringup(&g, r, &ce) == 0)
			break;
		if (tries == 500 || !strstr(ce.msg, "the backend closed the connection"))
			g_error("a fresh frontend's bring-up (attempt %u): %s", tries, ce.msg);
		fault_guest_fini(&g);
		cerr_clear(&ce);
		g_usleep(20 * 1000);
	}
	state = fault_rig_wait_state(r, 0, off, (const char *const[]){ "running: 2 of 2", NULL },
				     WAIT_S);
	if (!state) {
		g_autofree char *log = dp_proc_log(r->helper);

		g_error("a fresh frontend got no running port within %d s; helper log:\n%s",
			WAIT_S, log + off);
	}
	if (!fault_guest_frame(&g, WAIT_S * 1000))
		g_error("a fresh frontend's frame did not come back through the loop");
	fault_guest_fini(&g);
	fault_rig_wait_gone(r, off, "a fresh frontend");
}

void fault_rig_check_clean(FaultRig *r, const char *point)
{
	gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	struct cerr ce = { 0 };
	uint64_t n = 0;
	guint fds, threads, maps;
	guint64 dma;

	g_assert_true(dp_proc_alive(r->helper));
	/* the bystander: still answered, still running, never failed */
	check(vu_frontend_get_queue_num(&r->by_fe, &n, &ce), &ce, "the bystander's GET_QUEUE_NUM");
	g_assert_cmpuint(n, >=, 1);
	/* settled: a worker re-attaching, a port stopping may still run */
	for (;;) {
		fds = dp_count_fds(r->helper->pid);
		threads = count_dir(r->helper->pid, "task");
		maps = count_maps(r->helper->pid);
		dma = fault_rig_emu_dma_maps(r, 0);
		if ((fds == r->fds && threads == r->threads && maps == r->maps && dma == r->dma) ||
		    g_get_monotonic_time() > deadline)
			break;
		g_usleep(10 * 1000);
	}
	g_assert_true(emu_held(r, 0));
	g_assert_true(emu_held(r, 1));
	if (fds != r->fds || threads != r->threads || maps != r->maps || dma != r->dma)
		g_error("%s: the helper holds %u fds (%u before), %u threads (%u), %u mappings "
			"(%u); the VF %" G_GUINT64_FORMAT " DMA maps (%" G_GUINT64_FORMAT ")", point,
			fds, r->fds, threads, r->threads, maps, r->maps, dma, r->dma);
}

void fault_rig_restart_emu_traced(FaultRig *r)
{
	g_autofree char *trace = g_build_filename(r->dir, "emu-trace.log", NULL);
	const char *argv[16];
	gsize off = dp_proc_log_size(r->helper);
	guint n;
	int saved, fd;

	emu_args(r, 0, NULL, argv);
	for (n = 0; argv[n]; n++)
		;
	argv[n++] = "--verbose";
	argv[n] = NULL;
	dp_emu_kill(r->emu[0]);
	/* the emulator's stderr (its trace) to a file of ours */
	fd = open(trace, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	g_assert_cmpint(fd, >=, 0);
	saved = dup(2);
	g_assert_cmpint(saved, >=, 0);
	g_assert_cmpint(dup2(fd, 2), ==, 2);
	dp_emu_restart(r->emu[0], argv);
	g_assert_cmpint(dup2(saved, 2), ==, 2);
	close(saved);
	close(fd);
	dp_proc_wait_log(r->helper, "port 0: device re-attached", off, WAIT_S);
}

GArray *fault_rig_emu_posted(FaultRig *r)
{
	g_autofree char *trace = g_build_filename(r->dir, "emu-trace.log", NULL);
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;
	GArray *posted = g_array_new(FALSE, TRUE, sizeof(gboolean));
	gboolean no = FALSE;

	g_assert_true(g_file_get_contents(trace, &text, NULL, NULL));
	lines = g_strsplit(text, "\n", -1);
	/* index 0 unused: messages count from 1 */
	g_array_append_val(posted, no);
	for (guint i = 0; lines[i]; i++) {
		gboolean p;

		if (!g_str_has_prefix(lines[i], "ifcvf-emu: <- "))
			continue;
		p = g_str_has_suffix(lines[i], "(no reply)");
		g_array_append_val(posted, p);
	}
	(void)unlink(trace);
	return posted;
}

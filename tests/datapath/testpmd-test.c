/* The datapath with a real frontend: ifcvf-emu (--wire loop) behind
 * `ifcvf-helper run`, and dpdk-testpmd's net_virtio_user on the helper's
 * socket, forwarding in io mode.
 *
 * How frames are counted: `start tx_first` puts one burst of 32 frames on
 * each forwarding stream; io mode sends back every frame it receives, and
 * the loop wire returns every frame the VF takes from a TX ring to the RX
 * ring of the same pair. So exactly streams x 32 frames circulate. After
 * `stop`, once the VF has taken every frame testpmd sent, the frames that
 * the VF wrote into RX rings (or holds for them) but testpmd did not read
 * must be exactly those streams x 32: one lost frame makes it smaller, one
 * duplicate larger. No assertion depends on a time; waits are bounded only
 * to turn a hang into a failure. */
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "datapath-util.h"

#define BURST 32u
#define TARGET_RX 20000u   /* frames testpmd must receive per session */

typedef struct {
	char *dir;
	TestEmu *emu;
	char *stats;
	char *socket;
	DpProc *helper;
} Rig;

static void rig_free(Rig *r)
{
	if (!r)
		return;
	if (r->helper) {
		int status = dp_proc_stop(r->helper, 30);

		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			g_autofree char *log = dp_proc_log(r->helper);

			g_test_message("helper log:\n%s", log);
			g_error("ifcvf-helper ended with status 0x%x after SIGTERM", status);
		}
		dp_proc_free(r->helper);
	}
	test_emu_stop(r->emu);
	if (r->dir)
		test_rm_flat_dir(r->dir);
	g_free(r->dir);
	g_free(r->stats);
	g_free(r->socket);
	g_free(r);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Rig, rig_free)

/* @extra: one more emulator option, or NULL */
static Rig *rig_new_with(const char *queue_pairs, const char *extra)
{
	g_autoptr(GError) error = NULL;
	Rig *r = g_new0(Rig, 1);
	const char *args[] = { "--type", "net", "--queue-pairs", queue_pairs, "--wire", "loop",
			       "--stats-file", NULL, extra, NULL };

	r->dir = g_dir_make_tmp("ifcvf-dp-XXXXXX", &error);
	g_assert_no_error(error);
	r->stats = g_build_filename(r->dir, "emu-stats.json", NULL);
	r->socket = g_build_filename(r->dir, "vhost.sock", NULL);
	args[7] = r->stats;
	r->emu = test_emu_start(args);
	return r;
}

static Rig *rig_new(const char *queue_pairs)
{
	return rig_new_with(queue_pairs, NULL);
}

/* one port on the rig's emulator, with @extra keys (",client") */
static void rig_start_helper(Rig *r, const char *extra)
{
	g_autofree char *spec = g_strdup_printf("device=%s,socket=%s%s", r->emu->address, r->socket,
						extra ? extra : "");
	const char *specs[] = { spec, NULL };

	r->helper = dp_helper_start(r->dir, specs);
}

static char *running_line(guint enabled, guint total)
{
	return g_strdup_printf("running: %u of %u vrings enabled", enabled, total);
}

/* Start forwarding with @streams streams, let TARGET_RX frames through, stop
 * and check that exactly streams x BURST frames are still in flight. */
static void check_traffic(Rig *r, DpProc *tp, guint streams)
{
	DpEmuStats e0, e1;
	guint64 rx0, tx0, rx, tx, dropped;
	gint64 deadline;

	dp_emu_stats(r->emu, r->stats, &e0);
	dp_testpmd_port_stats(tp, &rx0, &tx0);
	dp_proc_send(tp, "start tx_first");
	deadline = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;
	do {
		if (g_get_monotonic_time() > deadline) {
			dp_emu_stats(r->emu, r->stats, &e1);
			g_error("testpmd received %" G_GUINT64_FORMAT " of %u frames before the deadline "
				"(emulator: tx %" G_GUINT64_FORMAT " rx %" G_GUINT64_FORMAT " kicks %"
				G_GUINT64_FORMAT " errors %" G_GUINT64_FORMAT ")", rx - rx0, TARGET_RX,
				e1.tx_frames - e0.tx_frames, e1.rx_frames - e0.rx_frames,
				e1.kicks - e0.kicks, e1.errors);
		}
		g_usleep(200 * 1000);
		dp_testpmd_port_stats(tp, &rx, &tx);
	} while (rx - rx0 < TARGET_RX);
	dropped = dp_testpmd_stop_fwd(tp);
	dp_testpmd_port_stats(tp, &rx, &tx);

	/* the VF takes what testpmd queued before the stop */
	deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
	for (;;) {
		dp_emu_stats(r->emu, r->stats, &e1);
		if (e1.tx_frames - e0.tx_frames >= tx - tx0 || g_get_monotonic_time() > deadline)
			break;
		g_usleep(50 * 1000);
	}
	g_test_message("testpmd rx %" G_GUINT64_FORMAT " tx %" G_GUINT64_FORMAT " tx-dropped %"
		       G_GUINT64_FORMAT "; emulator tx %" G_GUINT64_FORMAT " rx %" G_GUINT64_FORMAT
		       " held %" G_GUINT64_FORMAT " dropped %" G_GUINT64_FORMAT " kicks %"
		       G_GUINT64_FORMAT, rx - rx0, tx - tx0, dropped, e1.tx_frames - e0.tx_frames,
		       e1.rx_frames - e0.rx_frames, e1.rx_fifo, e1.rx_dropped - e0.rx_dropped,
		       e1.kicks - e0.kicks);
	g_assert_cmpuint(dropped, ==, 0);
	g_assert_cmpuint(e1.errors, ==, e0.errors);
	g_assert_cmpuint(e1.rx_dropped, ==, e0.rx_dropped);
	/* every frame testpmd sent was taken once by the VF */
	g_assert_cmpuint(e1.tx_frames - e0.tx_frames, ==, tx - tx0);
	/* and exactly the injected frames are left unread: none lost, none
	 * duplicated on the way round */
	g_assert_cmpuint(e1.rx_frames - e0.rx_frames + e1.rx_fifo - e0.rx_fifo - (rx - rx0), ==,
			 (guint64)streams * BURST);
}

typedef struct {
	guint queue_pairs;
	guint queue_size;
	guint mrg_rxbuf;
} Combo;

/* One helper and one emulator serve testpmd sessions one after another:
 * 1 and 4 queue pairs, ring sizes 256 and 1024, mergeable RX buffers on and
 * off. Each new session is also a frontend restart the port must survive. */
static void test_traffic_matrix(void)
{
	static const Combo combos[] = {
		{ 1, 256, 1 }, { 1, 256, 0 }, { 1, 1024, 1 }, { 1, 1024, 0 },
		{ 4, 256, 1 }, { 4, 256, 0 }, { 4, 1024, 1 }, { 4, 1024, 0 },
	};
	g_autoptr(Rig) r = rig_new("4");
	gsize off;

	rig_start_helper(r, NULL);
	off = dp_proc_log_size(r->helper);

	for (guint i = 0; i < G_N_ELEMENTS(combos); i++) {
		const Combo *c = &combos[i];
		g_autofree char *vdev = g_strdup_printf("path=%s,queues=%u,queue_size=%u,mrg_rxbuf=%u",
							r->socket, c->queue_pairs, c->queue_size,
							c->mrg_rxbuf);
		g_autofree char *prefix = g_strdup_printf("tpm%u", i);
		g_autofree char *line = running_line(2 * c->queue_pairs, 2 * c->queue_pairs);
		g_autoptr(DpProc) tp = NULL;

		g_test_message("session %u: %u queue pairs, size %u, mrg_rxbuf %u", i, c->queue_pairs,
			       c->queue_size, c->mrg_rxbuf);
		tp = dp_testpmd_start(r->dir, prefix, vdev, c->queue_pairs, TRUE);
		off = dp_proc_wait_log(r->helper, line, off, 60);
		check_traffic(r, tp, c->queue_pairs);
		dp_testpmd_quit(tp);
		off = dp_proc_wait_log(r->helper, "waiting: the frontend disconnected", off, 30);
	}

	/* the helper's own counters: every session started and stopped once,
	 * kicks went through the relay, nothing failed */
	g_assert_cmpint(dp_proc_stop(r->helper, 30), ==, 0);
	{
		g_autofree char *log = dp_proc_log(r->helper);
		const char *line = strstr(log, "port 0: kicks relayed ");

		g_assert_nonnull(line);
		g_assert_cmpuint(g_ascii_strtoull(line + strlen("port 0: kicks relayed "), NULL, 10), >, 0);
		g_assert_nonnull(strstr(line, "DMA maps 8, starts 8, stops 8, errors 0\n"));
	}
	dp_proc_free(g_steal_pointer(&r->helper));
}

/* A frontend that sets up 4 queue pairs but uses 2: DPDK never reports the
 * device ready, yet the port runs the pairs that are enabled. */
static void test_fewer_queues(void)
{
	g_autoptr(Rig) r = rig_new("4");
	g_autofree char *vdev = g_strdup_printf("path=%s,queues=4", r->socket);
	g_autofree char *line = running_line(4, 8);
	g_autoptr(DpProc) tp = NULL;
	gsize off;

	rig_start_helper(r, NULL);
	tp = dp_testpmd_start(r->dir, "tpf", vdev, 2, TRUE);
	off = dp_proc_wait_log(r->helper, line, 0, 60);
	check_traffic(r, tp, 2);
	dp_testpmd_quit(tp);
	dp_proc_wait_log(r->helper, "waiting: the frontend disconnected", off, 30);
	{
		g_autofree char *log = dp_proc_log(r->helper);

		g_assert_null(strstr(log, "failed"));
		g_assert_null(strstr(log, "running: 5 of"));
	}
}

/* A plain virtio function with 2 pairs (as QEMU's virtio-net-pci,mq=on:
 * pair 0 only until VQ_PAIRS_SET on its control queue) under testpmd with
 * 2 queues and its own control queue: every frame of both streams goes
 * round, so the function runs both pairs. */
static void test_plain_function_mq(void)
{
	g_autoptr(Rig) r = rig_new_with("2", "--virtio-function");
	g_autofree char *vdev = g_strdup_printf("path=%s,queues=2,cq=1", r->socket);
	g_autofree char *line = running_line(4, 4);
	g_autoptr(DpProc) tp = NULL;
	gsize off;

	rig_start_helper(r, ",generic-virtio=1,sw-live-migration=1,queue-pairs=2");
	tp = dp_testpmd_start(r->dir, "tpq", vdev, 2, TRUE);
	off = dp_proc_wait_log(r->helper, line, 0, 60);
	check_traffic(r, tp, 2);
	dp_testpmd_quit(tp);
	dp_proc_wait_log(r->helper, "waiting: the frontend disconnected", off, 30);
}

/* The helper connects (QEMU server=on, virtio-user server=1) and connects
 * again when the frontend comes back. */
static void test_client_mode(void)
{
	g_autoptr(Rig) r = rig_new("2");
	g_autofree char *vdev = g_strdup_printf("path=%s,queues=2,server=1", r->socket);
	g_autofree char *line = running_line(4, 4);
	gsize off;

	rig_start_helper(r, ",client");
	off = dp_proc_log_size(r->helper);
	for (guint i = 0; i < 2; i++) {
		g_autofree char *prefix = g_strdup_printf("tpc%u", i);
		g_autoptr(DpProc) tp = dp_testpmd_start(r->dir, prefix, vdev, 2, FALSE);

		off = dp_proc_wait_log(r->helper, line, off, 60);
		dp_proc_wait_log(tp, "testpmd> ", 0, 60);
		check_traffic(r, tp, 2);
		dp_testpmd_quit(tp);
		off = dp_proc_wait_log(r->helper, "waiting: the frontend disconnected", off, 30);
	}
}

/* Frontends the port must refuse, on a second port, while the first port
 * keeps forwarding; the refused port works again for a good frontend. */
static void test_bad_frontends(void)
{
	g_autoptr(Rig) r = rig_new("1");
	g_autofree char *stats_b = g_build_filename(r->dir, "emu-b-stats.json", NULL);
	const char *args_b[] = { "--type", "net", "--queue-pairs", "2", "--wire", "loop",
				 "--stats-file", stats_b, NULL };
	g_autoptr(TestEmu) emu_b = test_emu_start(args_b);
	g_autofree char *sock_b = g_build_filename(r->dir, "vhost-b.sock", NULL);
	g_autofree char *spec_a = g_strdup_printf("device=%s,socket=%s", r->emu->address, r->socket);
	g_autofree char *spec_b = g_strdup_printf("device=%s,socket=%s", emu_b->address, sock_b);
	const char *specs[] = { spec_a, spec_b, NULL };
	g_autofree char *vdev_a = g_strdup_printf("path=%s,queues=1", r->socket);
	g_autoptr(DpProc) tp_a = NULL;
	guint64 rx_before, rx_after, tx;
	gsize off;

	r->helper = dp_helper_start(r->dir, specs);
	tp_a = dp_testpmd_start(r->dir, "tpa", vdev_a, 1, TRUE);
	off = dp_proc_wait_log(r->helper, "vhost.sock): running: 2 of 2 vrings enabled", 0, 60);
	dp_proc_send(tp_a, "start tx_first");
	dp_testpmd_port_stats(tp_a, &rx_before, &tx);

	/* more queue pairs than the VF has */
	{
		g_autofree char *vdev = g_strdup_printf("path=%s,queues=4", sock_b);
		g_autoptr(DpProc) tp = dp_testpmd_start(r->dir, "tpb1", vdev, 4, TRUE);

		off = dp_proc_wait_log(r->helper,
				       "failed: the frontend set up 8 vrings, but the port offers 4 (2 queue pairs)",
				       off, 60);
		dp_testpmd_quit(tp);
		off = dp_proc_wait_log(r->helper, "waiting: the frontend disconnected", off, 30);
	}
	/* a ring larger than the VF's queues */
	{
		g_autofree char *vdev = g_strdup_printf("path=%s,queues=1,queue_size=2048", sock_b);
		g_autoptr(DpProc) tp = dp_testpmd_start(r->dir, "tpb2", vdev, 1, TRUE);

		off = dp_proc_wait_log(r->helper, "failed: vring 0: size 2048 is above the VF maximum 1024",
				       off, 60);
		dp_testpmd_quit(tp);
		off = dp_proc_wait_log(r->helper, "waiting: the frontend disconnected", off, 30);
	}
	/* a ring size that is not a power of two: virtio-user refuses it
	 * itself, before any vhost-user message; the helper must not care */
	{
		g_autofree char *vdev = g_strdup_printf("path=%s,queues=1,queue_size=1000", sock_b);
		g_autoptr(DpProc) tp = dp_testpmd_start(r->dir, "tpb3", vdev, 1, FALSE);
		int status = dp_proc_wait_exit(tp, 60);

		g_assert_true(!WIFEXITED(status) || WEXITSTATUS(status) != 0);
	}
	/* the refused port works for a good frontend */
	{
		g_autofree char *vdev = g_strdup_printf("path=%s,queues=2", sock_b);
		g_autofree char *line = running_line(4, 4);
		g_autoptr(DpProc) tp = dp_testpmd_start(r->dir, "tpb4", vdev, 2, TRUE);
		TestEmu *saved = r->emu;
		char *saved_stats = r->stats;

		off = dp_proc_wait_log(r->helper, line, off, 60);
		r->emu = emu_b;
		r->stats = stats_b;
		check_traffic(r, tp, 2);
		r->emu = saved;
		r->stats = saved_stats;
		dp_testpmd_quit(tp);
	}
	g_assert_true(dp_proc_alive(r->helper));

	/* port 0 forwarded all along, and still loses nothing */
	dp_testpmd_port_stats(tp_a, &rx_after, &tx);
	g_assert_cmpuint(rx_after, >, rx_before);
	g_assert_cmpuint(dp_testpmd_stop_fwd(tp_a), ==, 0);
	dp_testpmd_quit(tp_a);
	test_emu_stop(g_steal_pointer(&emu_b));
}

/* SIGTERM with a frontend attached: the helper stops the VF, unregisters,
 * removes its socket and exits 0. */
static void test_sigterm_while_running(void)
{
	g_autoptr(Rig) r = rig_new("1");
	g_autofree char *vdev = g_strdup_printf("path=%s,queues=1", r->socket);
	g_autoptr(DpProc) tp = NULL;
	g_autofree char *line = running_line(2, 2);
	DpEmuStats e;
	int status;

	rig_start_helper(r, NULL);
	tp = dp_testpmd_start(r->dir, "tps", vdev, 1, TRUE);

	dp_proc_wait_log(r->helper, line, 0, 60);
	dp_proc_send(tp, "start tx_first");
	status = dp_proc_stop(r->helper, 30);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	dp_proc_wait_log(r->helper, "stopped", 0, 1);
	g_assert_false(g_file_test(r->socket, G_FILE_TEST_EXISTS));
	/* the VF was let go: no DMA map, no queue left enabled */
	dp_emu_stats(r->emu, r->stats, &e);
	g_assert_cmpuint(e.dma_maps, ==, 0);
	g_assert_cmpuint(e.enabled, ==, 0);
	dp_proc_free(g_steal_pointer(&r->helper));
	/* not under test: DPDK 22.11's virtio-user whose backend went away
	 * may spin in its disconnect handler and never take SIGTERM */
	dp_proc_free(g_steal_pointer(&tp));
}

/* SIGTERM while a frontend uses fewer queue pairs than it set up, on a plain
 * virtio function: DPDK never marked that device running, so unregistering
 * its socket destroys it (and unmaps guest memory) without a destroy_device
 * callback. The helper must have stopped the datapath before: exit 0, every
 * DMA map and queue gone, the stop said in one line. */
static void test_sigterm_fewer_queues(void)
{
	g_autoptr(Rig) r = rig_new_with("4", "--virtio-function");
	g_autofree char *vdev = g_strdup_printf("path=%s,queues=4", r->socket);
	g_autoptr(DpProc) tp = NULL;
	g_autofree char *line = running_line(4, 8);
	g_autofree char *log = NULL;
	DpEmuStats e;
	int status;

	rig_start_helper(r, ",generic-virtio=1,sw-live-migration=1");
	tp = dp_testpmd_start(r->dir, "tsf", vdev, 2, TRUE);
	dp_proc_wait_log(r->helper, line, 0, 60);
	dp_proc_send(tp, "start tx_first");
	status = dp_proc_stop(r->helper, 30);
	log = dp_proc_log(r->helper);
	g_test_message("helper log:\n%s", log);
	g_test_message("helper wait status 0x%x", status);
	g_assert_false(WIFSIGNALED(status));
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	g_assert_nonnull(strstr(log, "vhost.sock): stopped: the helper stopped the device (signal SIGTERM; "
				     "the frontend learns it from the socket closing)"));
	/* the helper's last word */
	g_assert_true(g_str_has_suffix(log, ": stopped\n"));
	g_assert_false(g_file_test(r->socket, G_FILE_TEST_EXISTS));
	/* the VF was let go: no DMA map, no queue left enabled */
	dp_emu_stats(r->emu, r->stats, &e);
	g_assert_cmpuint(e.dma_maps, ==, 0);
	g_assert_cmpuint(e.enabled, ==, 0);
	dp_proc_free(g_steal_pointer(&r->helper));
	/* not under test: DPDK 22.11's virtio-user whose backend went away
	 * may spin in its disconnect handler and never take SIGTERM */
	dp_proc_free(g_steal_pointer(&tp));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/datapath/testpmd/traffic-matrix", test_traffic_matrix);
	g_test_add_func("/datapath/testpmd/fewer-queues", test_fewer_queues);
	g_test_add_func("/datapath/testpmd/plain-function-mq", test_plain_function_mq);
	g_test_add_func("/datapath/testpmd/client-mode", test_client_mode);
	g_test_add_func("/datapath/testpmd/bad-frontends", test_bad_frontends);
	g_test_add_func("/datapath/testpmd/sigterm-while-running", test_sigterm_while_running);
	g_test_add_func("/datapath/testpmd/sigterm-fewer-queues", test_sigterm_fewer_queues);
	return g_test_run();
}

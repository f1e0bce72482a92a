/* Who stopped what (issue 18): a port's log line names the side that
 * stopped its device, and a helper stopped with SIGTERM leaves the guest's
 * rings as a frontend finds them after a clean stop.
 *
 * vhost-user has no message by which a backend tells its frontend that it
 * is going away: QEMU learns it from the socket closing, asks for the ring
 * state (GET_VRING_BASE) over the closed socket, which fails ("vhost VQ 0
 * ring restore failed: -22"), and falls back to the used index in guest
 * memory (virtio_queue_restore_last_avail_idx). A clean stop is one after
 * which that fallback is exact: every entry the VF completed is in the
 * used ring, and nothing is written to the guest after the socket closed.
 *
 * Real processes: ifcvf-emu (loop wire), `ifcvf-helper run`, the test
 * frontend of tests/lib. Every wait is bounded and only guards a hang. */
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "callfd-rig.h"

static void traffic(Rig *r, guint8 tag)
{
	rig_send_frame(r, 0, tag);
	rig_expect_call(r, 1, tag);
	rig_post_rx(r, 0);
	rig_expect_call(r, 0, tag);
}

/* The frontend's socket is closed by the other side within @timeout_s. */
static void expect_hangup(Rig *r, guint timeout_s)
{
	struct pollfd pfd = { .fd = r->fe.sock, .events = POLLIN };
	char c;

	g_assert_cmpint(poll(&pfd, 1, (int)timeout_s * 1000), ==, 1);
	g_assert_cmpint(read(r->fe.sock, &c, 1), ==, 0);
}

/* SIGTERM: the helper says it stopped the device itself; the frontend's
 * fallback (used index in guest memory) is every frame the VF sent, and
 * the used rings do not move after the socket closed. */
static void test_sigterm(void)
{
	g_autoptr(Rig) r = rig_new("stop-term", 1, TRUE);
	g_autofree char *log = NULL;
	uint16_t tx_used, rx_used;
	int status;

	for (guint8 tag = 1; tag < 5; tag++)
		traffic(r, tag);
	/* a frame in flight and an RX buffer waiting when the stop comes */
	rig_post_rx(r, 0);
	rig_send_frame(r, 0, 9);
	g_assert_cmpint(kill(r->helper->pid, SIGTERM), ==, 0);
	expect_hangup(r, 30);
	status = dp_proc_wait_exit(r->helper, 30);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	log = dp_proc_log(r->helper);
	g_test_message("helper log:\n%s", log);
	g_assert_nonnull(strstr(log, "stopped: the helper stopped the device (signal SIGTERM; "
				     "the frontend learns it from the socket closing)"));
	g_assert_null(strstr(log, "the frontend stopped"));
	/* the guest's truth after the close: the four frames before are used
	 * both ways; the one in flight may be sent or not, and received only
	 * if it was sent (a frame of the outage may be lost, never made up) */
	tx_used = __atomic_load_n(&r->q[1].used->idx, __ATOMIC_ACQUIRE);
	rx_used = __atomic_load_n(&r->q[0].used->idx, __ATOMIC_ACQUIRE);
	g_test_message("TX used %u, RX used %u", tx_used, rx_used);
	g_assert_true(tx_used == 4 || tx_used == 5);
	g_assert_cmpuint(rx_used, >=, 4);
	g_assert_cmpuint(rx_used, <=, tx_used);
	/* and it stays so: nothing writes the guest's rings any more */
	dp_proc_free(g_steal_pointer(&r->helper));
	g_assert_cmpuint(__atomic_load_n(&r->q[1].used->idx, __ATOMIC_ACQUIRE), ==, tx_used);
	g_assert_cmpuint(__atomic_load_n(&r->q[0].used->idx, __ATOMIC_ACQUIRE), ==, rx_used);
}

/* The frontend closes its socket while the port runs: the log says the
 * frontend went away, not that the helper or a GET_VRING_BASE stopped it. */
static void test_frontend_gone(void)
{
	g_autoptr(Rig) r = rig_new("stop-gone", 1, TRUE);
	gsize off = dp_proc_log_size(r->helper);
	g_autofree char *log = NULL;

	traffic(r, 1);
	vu_frontend_close(&r->fe);
	r->fe_open = FALSE;
	(void)dp_proc_wait_log(r->helper, "waiting: the frontend disconnected", off, 30);
	log = dp_proc_log(r->helper);
	g_test_message("helper log:\n%s", log + off);
	g_assert_nonnull(strstr(log + off, "stopped: the frontend closed its connection"));
	g_assert_null(strstr(log + off, "the frontend stopped the device"));
}

/* GET_VRING_BASE: the frontend stopped the device, and the line says by
 * which message. */
static void test_get_vring_base(void)
{
	g_autoptr(Rig) r = rig_new("stop-gvb", 1, TRUE);
	gsize off = dp_proc_log_size(r->helper);
	struct cerr ce = { 0 };
	uint32_t base = 0;

	traffic(r, 1);
	g_assert_cmpint(vu_frontend_get_vring_base(&r->fe, 0, &base, &ce), ==, 0);
	(void)dp_proc_wait_log(r->helper,
			       "stopped: the frontend stopped the device with GET_VRING_BASE for vring 0 (",
			       off, 30);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/datapath/stop/sigterm", test_sigterm);
	g_test_add_func("/datapath/stop/frontend-gone", test_frontend_gone);
	g_test_add_func("/datapath/stop/get-vring-base", test_get_vring_base);
	return g_test_run();
}

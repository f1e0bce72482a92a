/* A lost device (issue 18): the emulator behind a running port is killed
 * and a new one starts on the same socket. The port must fail at once with
 * the reason, come back to running by itself and carry traffic again,
 * without a helper restart, a crash or a leaked fd.
 *
 * Real processes: ifcvf-emu (1 queue pair, loop wire), `ifcvf-helper run`,
 * and the test frontend of tests/lib as the guest. Every wait is bounded
 * and only guards against a hang. */
#include <sys/wait.h>

#include "callfd-rig.h"

/* one frame through the loop: TX completes, then RX gets it back */
static void traffic(Rig *r, guint8 tag)
{
	rig_send_frame(r, 0, tag);
	rig_expect_call(r, 1, tag);
	rig_post_rx(r, 0);
	rig_expect_call(r, 0, tag);
}

static void test_device_lost(void)
{
	g_autoptr(Rig) r = rig_new("devlost", 1, TRUE);
	guint fds_before;
	gsize off;

	traffic(r, 1);
	fds_before = dp_count_fds(r->helper->pid);
	for (guint round = 0; round < 2; round++) {
		off = dp_proc_log_size(r->helper);
		g_test_message("round %u: the emulator is killed", round);
		dp_emu_kill(r->emu);
		off = dp_proc_wait_log(r->helper, "failed: device lost: vfio-user socket hung up",
				       off, 30);
		g_assert_true(dp_proc_alive(r->helper));
		dp_emu_restart(r->emu, r->emu_args);
		/* two threads log these: either may come first */
		dp_proc_wait_log(r->helper, "device re-attached", off, 30);
		dp_proc_wait_log(r->helper, "running: 2 of 2 vrings enabled", off, 30);
		/* frames flow again, counted one by one both ways */
		for (guint8 tag = 2; tag < 6; tag++)
			traffic(r, (guint8)(tag + 10 * round));
		g_assert_cmpuint(dp_count_fds(r->helper->pid), ==, fds_before);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/datapath/device-lost/reattach", test_device_lost);
	return g_test_run();
}

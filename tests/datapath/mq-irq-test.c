/* Interrupts on a multiqueue port: each vring's completions must signal that
 * vring's own callfd and no other. The helper binds MSI-X vector i+1 to
 * vring i's callfd; testpmd polls and the QEMU guests run with shared INTx,
 * so a vector bound to the wrong vring passes every other suite, and stalls
 * the second pair of a real multiqueue guest with MSI-X.
 *
 * Real processes: ifcvf-emu (2 queue pairs, loop wire: what pair k sends
 * comes back on pair k), `ifcvf-helper run`, and the test frontend of
 * tests/lib as the guest, which learns about completions only from its
 * callfds (interrupts on, no EVENT_IDX). Every wait is bounded. */
#include <sys/wait.h>

#include "callfd-rig.h"

/* No callfd fired beyond those rig_expect_call() took. A stray signal of any
 * step before the last is written by now: the emulator runs one thread,
 * and the last step, which we saw complete, came after it; one of the last
 * step is caught after the next. */
static void expect_quiet(Rig *r, unsigned step)
{
	for (unsigned i = 0; i < r->vrings; i++)
		if (rig_virq_pending(r->q[i].callfd))
			g_error("vring %u's callfd fired after step %u, but vring %u had nothing to complete",
				i, step, i);
}

/* Each pair in turn, TX and RX apart: a frame sent on TX of pair k while RX
 * of pair k has no buffer completes TX only (vring 2k+1's callfd); the
 * frame waits in the device and a buffer posted then completes RX only
 * (vring 2k's). Nothing else may fire. */
static void test_callfd_per_vring(gconstpointer data)
{
	g_autoptr(Rig) r = rig_new("mq-irq", 2, GPOINTER_TO_INT(data));
	/* pair 0 again at the end, so that pair 1's last signals are ordered
	 * before the last check */
	const unsigned order[] = { 0, 1, 1, 0, 0 };

	for (unsigned step = 0; step < G_N_ELEMENTS(order); step++) {
		unsigned pair = order[step];

		g_test_message("step %u: a frame over pair %u", step, pair);
		rig_send_frame(r, pair, (guint8)step);
		rig_expect_call(r, 2 * pair + 1, (guint8)step);
		expect_quiet(r, step);
		rig_post_rx(r, pair);
		rig_expect_call(r, 2 * pair, (guint8)step);
		expect_quiet(r, step);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	/* all vectors bound when the port starts, as under QEMU */
	g_test_add_data_func("/datapath/mq-irq/bound-at-start", GINT_TO_POINTER(TRUE),
			     test_callfd_per_vring);
	/* pair 1 enabled while the port runs: its vectors bound one by one */
	g_test_add_data_func("/datapath/mq-irq/bound-at-enable", GINT_TO_POINTER(FALSE),
			     test_callfd_per_vring);
	return g_test_run();
}

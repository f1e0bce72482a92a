/* Host notifiers (issue 15) with real processes: ifcvf-emu, whose doorbell
 * pages are mappable, `ifcvf-helper run`, and the test frontend of
 * tests/lib as the guest.
 *
 * - mapped: the frontend takes every vring's doorbell page and writes its
 *   kicks there; frames flow both ways and the helper relayed no kick;
 * - refused / closed / never read: a frontend that answers "no" (QEMU
 *   without page-per-vq=on), closes its backend channel, or never reads
 *   it: the port keeps working, every kick through the relay, and the
 *   helper's log says why;
 * - not negotiated (testpmd's virtio-user): the same, said once.
 * Every wait is bounded and only guards against a hang. */
#include <string.h>
#include <sys/wait.h>

#include "callfd-rig.h"

#define ROUNDS 4u
#define NOTIFIER_WAIT_S 20   /* hang guard */

/* Frames over pair 0 both ways, @rounds times. */
static void traffic(Rig *r, guint rounds)
{
	for (guint i = 0; i < rounds; i++) {
		rig_send_frame(r, 0, (guint8)i);
		rig_expect_call(r, 1, (guint8)i);
		rig_post_rx(r, 0);
		rig_expect_call(r, 0, (guint8)i);
	}
}

/* The helper's exit line: kicks it relayed. */
static guint64 kicks_relayed(const char *log)
{
	const char *at = strstr(log, "port 0: kicks relayed ");

	g_assert_nonnull(at);
	return g_ascii_strtoull(at + strlen("port 0: kicks relayed "), NULL, 10);
}

static void wait_notifiers(Rig *r, guint64 want)
{
	gint64 end = g_get_monotonic_time() + NOTIFIER_WAIT_S * G_TIME_SPAN_SECOND;

	while (vu_frontend_notifiers(&r->fe) != want) {
		if (g_get_monotonic_time() > end)
			g_error("the frontend maps doorbell pages 0x%" G_GINT64_MODIFIER "x, expected "
				"0x%" G_GINT64_MODIFIER "x (helper log: %s)",
				(guint64)vu_frontend_notifiers(&r->fe), (guint64)want,
				dp_proc_log(r->helper));
		g_usleep(10000);
	}
}

static void test_mapped(void)
{
	g_autoptr(Rig) r = rig_new_notifier("hn-mapped", 1, TRUE, VU_NOTIFIER_ACCEPT);
	g_autofree char *log = NULL;

	wait_notifiers(r, 0x3);
	traffic(r, ROUNDS);
	/* every kick went to a page */
	g_assert_cmpuint(r->fe.hn_doorbells, ==, 2 * ROUNDS);
	g_assert_cmpuint(r->fe.hn_refusals, ==, 0);
	log = rig_stop_helper(r);
	g_assert_nonnull(strstr(log, "port 0: vring 0: kicks go to its doorbell page"));
	g_assert_nonnull(strstr(log, "port 0: vring 1: kicks go to its doorbell page"));
	g_assert_cmpuint(kicks_relayed(log), ==, 0);
}

/* A VM that shuts down: its frontend closes the connection with every
 * vring on a doorbell page. The helper takes the notifiers back as the
 * device stops and finds the channel closed: that is the end of a normal
 * life, said in passing, not a warning that host notifiers failed. */
static void test_frontend_leaves(void)
{
	g_autoptr(Rig) r = rig_new_notifier("hn-leaves", 1, TRUE, VU_NOTIFIER_ACCEPT);
	g_autofree char *log = NULL;

	wait_notifiers(r, 0x3);
	traffic(r, ROUNDS);
	vu_frontend_close(&r->fe);
	r->fe_open = FALSE;
	(void)dp_proc_wait_log(r->helper, "waiting: the frontend disconnected", 0, NOTIFIER_WAIT_S);
	log = rig_stop_helper(r);
	g_assert_null(strstr(log, "given up"));
	g_assert_null(strstr(log, "WARNING"));
}

/* @mode: a frontend that will not have host notifiers; @why: what the
 * helper's log says */
static void check_fallback(const char *prefix, int mode, const char *why)
{
	g_autoptr(Rig) r = mode < 0 ? rig_new(prefix, 1, TRUE)
				    : rig_new_notifier(prefix, 1, TRUE, (enum vu_notifier_mode)mode);
	g_autofree char *log = NULL;
	gsize off;

	/* the helper says why before the kicks are counted (for a frontend
	 * that never reads: once its reply timeout ran out); the relay carries
	 * the kicks meanwhile anyway */
	off = dp_proc_wait_log(r->helper, why, 0, NOTIFIER_WAIT_S);
	(void)off;
	traffic(r, ROUNDS);
	g_assert_cmpuint(vu_frontend_notifiers(&r->fe), ==, 0);
	g_assert_cmpuint(r->fe.hn_doorbells, ==, 0);
	log = rig_stop_helper(r);
	g_assert_null(strstr(log, "kicks go to its doorbell page"));
	g_assert_cmpuint(kicks_relayed(log), >=, 2 * ROUNDS);
}

static void test_refused(void)
{
	check_fallback("hn-refused", VU_NOTIFIER_REFUSE,
		       "port 0: the frontend refused the host notifier of vring");
}

static void test_closed(void)
{
	check_fallback("hn-closed", VU_NOTIFIER_CLOSE,
		       "host notifiers given up on this backend channel");
}

static void test_never_read(void)
{
	check_fallback("hn-unread", VU_NOTIFIER_IGNORE,
		       "did not read its backend channel or answer in time");
}

static void test_not_negotiated(void)
{
	check_fallback("hn-none", -1, "host notifiers: the frontend did not negotiate");
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/datapath/host-notifier/mapped", test_mapped);
	g_test_add_func("/datapath/host-notifier/frontend-leaves", test_frontend_leaves);
	g_test_add_func("/datapath/host-notifier/refused", test_refused);
	g_test_add_func("/datapath/host-notifier/closed", test_closed);
	g_test_add_func("/datapath/host-notifier/never-read", test_never_read);
	g_test_add_func("/datapath/host-notifier/not-negotiated", test_not_negotiated);
	return g_test_run();
}

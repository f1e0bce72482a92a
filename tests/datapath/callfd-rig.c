#include "callfd-rig.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>

#define QSIZE 64u
#define MEM_SIZE (2u << 20)
#define BUF 2048u
#define HDR 12u              /* virtio_net_hdr_v1 */
#define FRAME 60u
#define CALL_WAIT_MS 10000   /* hang guard for one interrupt, not a timing check */

#define F_MQ 22
#define F_PROTOCOL 30
#define F_VERSION_1 32


int rig_virq_pending(int callfd)
{
	struct pollfd p = { .fd = callfd, .events = POLLIN };
	eventfd_t v;

	if (poll(&p, 1, 0) != 1)
		return 0;
	(void)eventfd_read(callfd, &v);
	return 1;
}

static void check(int r, const struct cerr *ce, const char *what)
{
	if (r < 0)
		g_error("%s: %s", what, ce->msg);
}

static uint64_t slot(Rig *r, unsigned qi, unsigned head)
{
	return r->bufs + ((uint64_t)qi * QSIZE + head) * BUF;
}

/* Publish and always ring: the device may not have asked for the kick yet
 * when we look (it does so in the round we just saw complete), and an
 * extra kick costs nothing. */
static void kick(Rig *r, struct virtq_drv *q)
{
	if (virtq_drv_kick(q) == 0)
		g_assert_cmpint(vu_frontend_kick(&r->fe, q->index, q->kickfd), >=, 0);
}

char *rig_stop_helper(Rig *r)
{
	char *log;
	int st;

	g_assert_nonnull(r->helper);
	st = dp_proc_stop(r->helper, 10);
	g_assert_true(WIFEXITED(st));
	g_assert_cmpint(WEXITSTATUS(st), ==, 0);
	log = dp_proc_log(r->helper);
	dp_proc_free(r->helper);
	r->helper = NULL;
	return log;
}

void rig_free(Rig *r)
{
	if (r->fe_open)
		vu_frontend_close(&r->fe);
	if (r->helper) {
		int st = dp_proc_stop(r->helper, 10);

		g_assert_true(WIFEXITED(st));
		g_assert_cmpint(WEXITSTATUS(st), ==, 0);
		dp_proc_free(r->helper);
	}
	for (unsigned i = 0; i < r->vrings; i++)
		virtq_drv_fini(&r->q[i]);
	vu_guest_mem_fini(&r->mem);
	if (r->emu)
		test_emu_stop(r->emu);
	if (r->dir)
		test_rm_flat_dir(r->dir);
	g_free(r->dir);
	g_free(r->socket);
	g_free(r);
}

static Rig *rig_setup(const char *prefix, unsigned pairs, gboolean status, int mode);

Rig *rig_new(const char *prefix, unsigned pairs, gboolean status)
{
	return rig_setup(prefix, pairs, status, -1);
}

Rig *rig_new_notifier(const char *prefix, unsigned pairs, gboolean status,
		      enum vu_notifier_mode mode)
{
	return rig_setup(prefix, pairs, status, (int)mode);
}

/* @mode < 0: no host notifiers */
static Rig *rig_setup(const char *prefix, unsigned pairs, gboolean status, int mode)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *spec = NULL;
	g_autofree char *running = NULL;
	const char *specs[2];
	g_autofree char *tmpl = g_strdup_printf("ifcvf-%s-XXXXXX", prefix);
	uint64_t want = 1ull << F_VERSION_1 | 1ull << F_PROTOCOL | (pairs > 1 ? 1ull << F_MQ : 0);
	struct cerr ce = { 0 };
	Rig *r = g_new0(Rig, 1);
	gsize off;

	g_assert_cmpuint(pairs, >=, 1);
	g_assert_cmpuint(pairs, <=, CALLFD_RIG_MAX_PAIRS);
	r->pairs = pairs;
	r->vrings = 2 * pairs;
	g_snprintf(r->pairs_arg, sizeof(r->pairs_arg), "%u", pairs);
	memcpy(r->emu_args, (const char *const[]){ "--type", "net", "--queue-pairs", r->pairs_arg,
						   "--wire", "loop", NULL },
	       sizeof(r->emu_args));
	r->dir = g_dir_make_tmp(tmpl, &error);
	g_assert_no_error(error);
	r->socket = g_build_filename(r->dir, "vhost.sock", NULL);
	r->emu = test_emu_start(r->emu_args);
	spec = g_strdup_printf("device=%s,socket=%s,queue-pairs=%u", r->emu->address, r->socket,
			       pairs);
	specs[0] = spec;
	specs[1] = NULL;
	r->helper = dp_helper_start(r->dir, specs);
	off = dp_proc_log_size(r->helper);

	check(vu_guest_mem_init(&r->mem, MEM_SIZE, &ce), &ce, "guest memory");
	r->bufs = vu_guest_mem_alloc(&r->mem, (uint64_t)r->vrings * QSIZE * BUF, 4096);
	g_assert_cmpuint(r->bufs, !=, 0);
	for (unsigned i = 0; i < r->vrings; i++)
		check(virtq_drv_init(&r->q[i], &r->mem, i, QSIZE, false, &ce), &ce, "vring");

	check(vu_frontend_connect(&r->fe, r->socket, 10000, &ce), &ce, "connect");
	r->fe_open = TRUE;
	check(vu_frontend_handshake(&r->fe, 1ull << VU_PROTOCOL_F_REPLY_ACK |
					    1ull << VU_PROTOCOL_F_MQ |
					    (status ? 1ull << VU_PROTOCOL_F_STATUS : 0) |
					    (mode >= 0 ? 1ull << VU_PROTOCOL_F_BACKEND_REQ |
							 1ull << VU_PROTOCOL_F_BACKEND_SEND_FD |
							 1ull << VU_PROTOCOL_F_HOST_NOTIFIER : 0),
					    &ce),
	      &ce, "handshake");
	if (mode >= 0) {
		check(vu_frontend_set_backend_req(&r->fe, 0, &ce), &ce, "SET_BACKEND_REQ_FD");
		check(vu_frontend_serve_backend(&r->fe, (enum vu_notifier_mode)mode, &ce), &ce,
		      "serve the backend channel");
		for (unsigned i = 0; i < r->vrings; i++)
			vu_frontend_kick_through(&r->fe, &r->q[i]);
	}
	g_assert_cmphex(r->fe.features & want, ==, want);
	if (status)
		g_assert_true(r->fe.protocol_features & (1ull << VU_PROTOCOL_F_STATUS));
	check(vu_frontend_set_features(&r->fe, want, &ce), &ce, "SET_FEATURES");
	check(vu_frontend_set_mem_table(&r->fe, &r->mem, &ce), &ce, "SET_MEM_TABLE");
	for (unsigned i = 0; i < r->vrings; i++)
		check(vu_frontend_setup_vring(&r->fe, &r->q[i], &ce), &ce, "set up a vring");
	for (unsigned i = 0; i < r->vrings; i++) {
		check(vu_frontend_set_vring_enable(&r->fe, i, true, &ce), &ce, "enable a vring");
		if (!status && i == 1 && pairs > 1) {
			g_autofree char *two = g_strdup_printf("running: 2 of %u vrings enabled",
							       r->vrings);

			dp_proc_wait_log(r->helper, two, off, 30);
			off = dp_proc_log_size(r->helper);
		}
	}
	/* ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK */
	if (status)
		check(vu_frontend_set_status(&r->fe, 0x0f, &ce), &ce, "SET_STATUS");
	running = g_strdup_printf("running: %u of %u vrings enabled", r->vrings, r->vrings);
	dp_proc_wait_log(r->helper, running, off, 30);

	/* interrupts on: avail flags 0, no EVENT_IDX, so every used batch
	 * signals; nothing was used yet, so nothing may have fired */
	for (unsigned i = 0; i < r->vrings; i++) {
		virtq_drv_enable_interrupts(&r->q[i]);
		g_assert_cmpint(rig_virq_pending(r->q[i].callfd), ==, 0);
	}
	return r;
}


void rig_post_rx(Rig *r, unsigned pair)
{
	unsigned qi = 2 * pair;
	struct virtq_drv *q = &r->q[qi];
	struct virtq_buf b = { .gpa = slot(r, qi, q->free_head), .len = BUF,
			       .device_writes = true };

	g_assert_cmpint(virtq_drv_add(q, &r->mem, &b, 1, false), >=, 0);
	kick(r, q);
}

void rig_send_frame(Rig *r, unsigned pair, guint8 tag)
{
	unsigned qi = 2 * pair + 1;
	struct virtq_drv *q = &r->q[qi];
	uint64_t gpa = slot(r, qi, q->free_head);
	guint8 *p = vu_gpa(&r->mem, gpa);
	struct virtq_buf b = { .gpa = gpa, .len = HDR + FRAME, .device_writes = false };

	memset(p, 0, HDR + FRAME);
	memset(p + HDR, 0xff, 6);               /* destination: broadcast */
	p[HDR + 6] = 0x02;                      /* source: locally administered */
	p[HDR + 11] = (guint8)pair;
	p[HDR + 12] = 0x88;                     /* ethertype: local experimental */
	p[HDR + 13] = 0xb5;
	p[HDR + 14] = tag;
	g_assert_cmpint(virtq_drv_add(q, &r->mem, &b, 1, false), >=, 0);
	kick(r, q);
}

void rig_expect_call(Rig *r, unsigned qi, guint8 tag)
{
	struct virtq_drv *q = &r->q[qi];
	uint32_t id, len;
	int n = virtq_drv_wait_call(q, CALL_WAIT_MS);

	g_assert_cmpint(n, >=, 0);
	if (n == 0) {
		GString *others = g_string_new("");

		for (unsigned i = 0; i < r->vrings; i++)
			if (i != qi && rig_virq_pending(r->q[i].callfd))
				g_string_append_printf(others, " %u", i);
		g_error("vring %u (%s of pair %u) completed an entry (used idx %u) but its callfd "
			"did not fire within %d s; callfds that did fire:%s",
			qi, qi % 2 ? "TX" : "RX", qi / 2, q->used->idx, CALL_WAIT_MS / 1000,
			others->len ? others->str : " none");
	}
	g_assert_cmpint(virtq_drv_get_used(q, &id, &len), ==, 1);
	if (qi % 2 == 0) {
		const guint8 *f = vu_gpa(&r->mem, slot(r, qi, id));

		g_assert_cmpuint(len, ==, HDR + FRAME);
		g_assert_cmpuint(f[HDR + 11], ==, qi / 2);
		g_assert_cmpuint(f[HDR + 14], ==, tag);
	}
	g_assert_cmpint(virtq_drv_get_used(q, &id, &len), ==, 0);
}


/* The pure pieces of live migration on crafted input: the avail relay
 * (copy, kick requests, doorbell and interrupt decisions, 16-bit wrap,
 * garbage indices), the used relay's own_notify mode, the mediated ring's
 * layout, the ring relay thread end to end on fake rings, the re-opening of
 * a mapping through /proc/self/map_files, and GPA -> HVA translation. */
#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "avail-relay.h"
#include "mediated-ring.h"
#include "port-mem.h"
#include "ring-relay.h"
#include "self-map.h"
#include "used-relay.h"

#define MEM_SIZE (1u << 20)
#define PAGE 4096u

/* guest memory at GPA 0, rings at fixed GPAs, a mediated ring, a log with
 * one byte per page */
typedef struct {
	uint8_t *mem;
	uint8_t log[MEM_SIZE / PAGE];
	uint16_t size;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	struct mediated_ring *med;
	struct used_relay_ops ops;
	GMutex lock;
	GCond cond;
	guint doorbells;
	guint errors;
	char error[256];
} Rig;

static void *translate(void *opaque, uint64_t gpa, uint64_t len)
{
	Rig *r = opaque;

	if (gpa >= MEM_SIZE || len > MEM_SIZE - gpa)
		return NULL;
	return r->mem + gpa;
}

static void log_cb(void *opaque, uint64_t gpa, uint64_t len)
{
	Rig *r = opaque;

	g_assert_cmpuint(len, >, 0);
	g_assert_cmpuint(gpa + len, <=, MEM_SIZE);
	for (uint64_t p = gpa / PAGE; p <= (gpa + len - 1) / PAGE; p++)
		__atomic_store_n(&r->log[p], 1, __ATOMIC_RELAXED);
}

static Rig *rig_new(uint16_t size)
{
	Rig *r = g_new0(Rig, 1);
	struct cerr ce = { 0 };

	r->mem = g_malloc0(MEM_SIZE);
	r->size = size;
	r->desc_gpa = 0x10000;
	r->avail_gpa = 0x20000;
	r->used_gpa = 0x30000;
	r->desc = (struct vring_desc *)(r->mem + r->desc_gpa);
	r->avail = (struct vring_avail *)(r->mem + r->avail_gpa);
	r->used = (struct vring_used *)(r->mem + r->used_gpa);
	g_assert_cmpint(mediated_ring_new(size, &r->med, &ce), ==, 0);
	r->ops.translate = translate;
	r->ops.log = log_cb;
	r->ops.opaque = r;
	g_mutex_init(&r->lock);
	g_cond_init(&r->cond);
	return r;
}

static void rig_free(Rig *r)
{
	mediated_ring_free(r->med);
	g_mutex_clear(&r->lock);
	g_cond_clear(&r->cond);
	g_free(r->mem);
	g_free(r);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Rig, rig_free)

static uint16_t *used_event(struct vring_avail *a, uint16_t size)
{
	return &a->ring[size];
}

static uint16_t *avail_event(struct vring_used *u, uint16_t size)
{
	return (uint16_t *)&u->ring[size];
}

static gboolean logged(Rig *r, uint64_t gpa)
{
	return r->log[gpa / PAGE] != 0;
}

static void avail_q(Rig *r, struct avail_relay_queue *q, gboolean event_idx)
{
	*q = (struct avail_relay_queue){
		.size = r->size,
		.event_idx = event_idx,
		.guest_avail = r->avail,
		.guest_used = r->used,
		.guest_used_gpa = r->used_gpa,
		.dev_avail = r->med->avail,
		.dev_used = r->med->used,
	};
}

/* the guest makes head @head available */
static void guest_avail(Rig *r, uint16_t head)
{
	uint16_t idx = r->avail->idx;

	r->avail->ring[idx & (r->size - 1)] = head;
	__atomic_store_n(&r->avail->idx, (uint16_t)(idx + 1), __ATOMIC_RELEASE);
}

/* ---- avail relay ---- */

static void test_avail_start(void)
{
	g_autoptr(Rig) r = rig_new(8);
	struct avail_relay_queue q;

	/* where the guest stands when the relay takes over; the VF asked for
	 * no kicks */
	for (uint16_t i = 0; i < 8; i++)
		r->avail->ring[i] = (uint16_t)(7 - i);
	r->avail->idx = 5;
	r->used->flags = VRING_USED_F_NO_NOTIFY;
	*avail_event(r->used, 8) = 1;
	avail_q(r, &q, TRUE);
	avail_relay_start(&q, &r->ops, 3);

	g_assert_cmpuint(r->med->avail->idx, ==, 5);
	g_assert_cmpmem(r->med->avail->ring, 16, r->avail->ring, 16);
	g_assert_cmpuint(r->med->avail->flags, ==, 0);
	g_assert_cmpuint(*used_event(r->med->avail, 8), ==, 3);
	/* the guest kicks for its next buffer, and those writes are logged */
	g_assert_cmpuint(r->used->flags, ==, 0);
	g_assert_cmpuint(*avail_event(r->used, 8), ==, 5);
	g_assert_true(logged(r, r->used_gpa));
	g_assert_cmpuint(q.next, ==, 5);
}

/* A VF restarted at 0 under a guest at index 0xfffd (a plain virtio
 * function): its avail ring is the guest's rotated, its index shifted;
 * what the guest adds lands shifted too, across the 16-bit wrap, and the
 * doorbell decision reads the VF's avail_event in the VF's indices. */
static void test_avail_shift(void)
{
	g_autoptr(Rig) r = rig_new(8);
	struct avail_relay_result res;
	struct avail_relay_queue q;
	struct cerr ce = { 0 };

	/* guest used and avail at 0xfffd, then four new buffers */
	r->avail->idx = 0xfffd;
	avail_q(r, &q, TRUE);
	q.shift = 0xfffd;
	avail_relay_start(&q, &r->ops, 0);
	g_assert_cmpuint(r->med->avail->idx, ==, 0);
	g_assert_cmpuint(*used_event(r->med->avail, 8), ==, 0);
	g_assert_cmpuint(*avail_event(r->used, 8), ==, 0xfffd);

	guest_avail(r, 5);      /* guest slot 5, index 0xfffd */
	guest_avail(r, 3);      /* guest slot 6 */
	guest_avail(r, 7);      /* guest slot 7 */
	guest_avail(r, 1);      /* guest slot 0, index 0 (wrapped) */
	*avail_event(r->med->used, 8) = 2;
	g_assert_cmpint(avail_relay_run(&q, &r->ops, &res, &ce), ==, 0);
	g_assert_cmpuint(res.entries, ==, 4);
	g_assert_cmpuint(r->med->avail->idx, ==, 4);
	g_assert_cmpuint(r->med->avail->ring[0], ==, 5);
	g_assert_cmpuint(r->med->avail->ring[1], ==, 3);
	g_assert_cmpuint(r->med->avail->ring[2], ==, 7);
	g_assert_cmpuint(r->med->avail->ring[3], ==, 1);
	/* the VF asked for a kick past its entry 2: crossed */
	g_assert_true(res.notify);
	g_assert_cmpuint(*avail_event(r->used, 8), ==, 1);

	/* a buffer posted before the relay took over is carried too */
	{
		g_autoptr(Rig) r2 = rig_new(8);
		struct avail_relay_queue q2;

		r2->avail->ring[2] = 6;   /* index 10: posted, not used */
		r2->avail->ring[3] = 4;   /* index 11 */
		r2->avail->idx = 12;
		avail_q(r2, &q2, FALSE);
		q2.shift = 10;          /* the guest's used index */
		avail_relay_start(&q2, &r2->ops, 0);
		g_assert_cmpuint(r2->med->avail->idx, ==, 2);
		g_assert_cmpuint(r2->med->avail->ring[0], ==, 6);
		g_assert_cmpuint(r2->med->avail->ring[1], ==, 4);
	}
}

static void test_avail_run(gconstpointer data)
{
	gboolean event_idx = GPOINTER_TO_INT(data);
	g_autoptr(Rig) r = rig_new(8);
	struct avail_relay_result res;
	struct avail_relay_queue q;
	struct cerr ce = { 0 };

	avail_q(r, &q, event_idx);
	avail_relay_start(&q, &r->ops, 0);

	/* nothing new: nothing to do */
	g_assert_cmpint(avail_relay_run(&q, &r->ops, &res, &ce), ==, 0);
	g_assert_cmpuint(res.entries, ==, 0);
	g_assert_false(res.notify);

	/* the VF wants kicks (a zeroed ring) */
	guest_avail(r, 4);
	guest_avail(r, 6);
	g_assert_cmpint(avail_relay_run(&q, &r->ops, &res, &ce), ==, 0);
	g_assert_cmpuint(res.entries, ==, 2);
	g_assert_true(res.notify);
	g_assert_cmpuint(r->med->avail->idx, ==, 2);
	g_assert_cmpuint(r->med->avail->ring[0], ==, 4);
	g_assert_cmpuint(r->med->avail->ring[1], ==, 6);
	if (event_idx)
		g_assert_cmpuint(*avail_event(r->used, 8), ==, 2);

	/* the VF is polling: no doorbell */
	if (event_idx)
		*avail_event(r->med->used, 8) = 10;
	else
		r->med->used->flags = VRING_USED_F_NO_NOTIFY;
	guest_avail(r, 1);
	g_assert_cmpint(avail_relay_run(&q, &r->ops, &res, &ce), ==, 0);
	g_assert_cmpuint(res.entries, ==, 1);
	g_assert_false(res.notify);

	/* the VF's avail_event crossed: a doorbell */
	if (event_idx) {
		*avail_event(r->med->used, 8) = 3;
		guest_avail(r, 2);
		g_assert_cmpint(avail_relay_run(&q, &r->ops, &res, &ce), ==, 0);
		g_assert_true(res.notify);
	}
}

static void test_avail_wrap(void)
{
	g_autoptr(Rig) r = rig_new(4);
	struct avail_relay_result res;
	struct avail_relay_queue q;
	struct cerr ce = { 0 };

	r->avail->idx = 65534;
	avail_q(r, &q, TRUE);
	avail_relay_start(&q, &r->ops, 65534);
	for (uint16_t i = 0; i < 4; i++)
		guest_avail(r, i);
	g_assert_cmpint(avail_relay_run(&q, &r->ops, &res, &ce), ==, 0);
	g_assert_cmpuint(res.entries, ==, 4);
	g_assert_cmpuint(r->med->avail->idx, ==, 2);
	g_assert_cmpuint(r->med->avail->ring[65534 & 3], ==, 0);
	g_assert_cmpuint(r->med->avail->ring[1], ==, 3);
	g_assert_cmpuint(*avail_event(r->used, 4), ==, 2);
}

static void test_avail_garbage(void)
{
	g_autoptr(Rig) r = rig_new(8);
	struct avail_relay_result res;
	struct avail_relay_queue q;
	struct cerr ce = { 0 };

	avail_q(r, &q, FALSE);
	avail_relay_start(&q, &r->ops, 0);
	r->avail->idx = 9;   /* more than a ring ahead */
	g_assert_cmpint(avail_relay_run(&q, &r->ops, &res, &ce), ==, -EINVAL);
	g_assert_nonnull(strstr(ce.msg, "guest avail index 9"));
	g_assert_cmpuint(r->med->avail->idx, ==, 0);
	g_assert_cmpuint(q.next, ==, 0);
}

static void test_avail_arm_stop(void)
{
	g_autoptr(Rig) r = rig_new(8);
	struct avail_relay_queue q;

	avail_q(r, &q, TRUE);
	avail_relay_start(&q, &r->ops, 0);
	r->med->used->idx = 7;
	g_assert_cmpuint(avail_relay_arm_interrupt(&q, 5), ==, 7);
	g_assert_cmpuint(*used_event(r->med->avail, 8), ==, 5);
	/* hand back: the guest kicks for the buffer after what it posted */
	r->avail->idx = 4;
	avail_relay_stop(&q, &r->ops);
	g_assert_cmpuint(*avail_event(r->used, 8), ==, 4);
}

/* ---- used relay, own_notify ---- */

static void test_used_own_notify(gconstpointer data)
{
	gboolean own = GPOINTER_TO_INT(data);
	g_autoptr(Rig) r = rig_new(8);
	struct used_relay_result res;
	struct used_relay_queue q = {
		.size = 8, .event_idx = TRUE, .desc = r->desc, .avail = r->avail,
		.used = r->used, .used_gpa = r->used_gpa, .mediated = r->med->used,
		.own_notify = own,
	};
	struct cerr ce = { 0 };

	r->desc[0] = (struct vring_desc){ .addr = 0x40000, .len = 100, .flags = VRING_DESC_F_WRITE };
	r->med->used->ring[0] = (struct vring_used_elem){ .id = 0, .len = 50 };
	r->med->used->flags = VRING_USED_F_NO_NOTIFY;
	*avail_event(r->med->used, 8) = 9;
	r->med->used->idx = 1;
	g_assert_cmpint(used_relay_run(&q, &r->ops, 8, &res, &ce), ==, 0);
	g_assert_cmpuint(res.entries, ==, 1);
	g_assert_cmpuint(r->used->idx, ==, 1);
	g_assert_cmpuint(r->used->flags, ==, own ? 0 : VRING_USED_F_NO_NOTIFY);
	g_assert_cmpuint(*avail_event(r->used, 8), ==, own ? 0 : 9);
}

/* ---- mediated ring ---- */

static void test_mediated_layout(void)
{
	const struct {
		uint16_t qsize;
		uint64_t used_off, size;
	} cases[] = { { 1, 0x1000, 0x2000 }, { 256, 0x1000, 0x2000 },
		      { 1024, 0x1000, 0x4000 }, { 32768, 0x11000, 0x52000 } };
	struct mediated_ring *m;
	struct cerr ce = { 0 };

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_assert_cmpint(mediated_ring_new(cases[i].qsize, &m, &ce), ==, 0);
		g_assert_cmpuint(m->used_off, ==, cases[i].used_off);
		g_assert_cmpuint(m->size, ==, cases[i].size);
		g_assert_cmpuint(m->size, <=, MEDIATED_RING_STRIDE);
		g_assert_true((uint8_t *)m->used == (uint8_t *)m->base + m->used_off);
		/* the memfd is the memory: what a vfio-user server maps */
		m->used->idx = 0x1234;
		{
			uint16_t v = 0;

			g_assert_cmpint(pread(m->fd, &v, 2, (off_t)(m->used_off + 2)), ==, 2);
			g_assert_cmpuint(v, ==, 0x1234);
		}
		mediated_ring_free(m);
	}
	g_assert_cmpint(mediated_ring_new(0, &m, &ce), ==, -EINVAL);
	g_assert_cmpint(mediated_ring_new(384, &m, &ce), ==, -EINVAL);
	mediated_ring_free(NULL);
}

/* ---- ring relay thread ---- */

static void rr_doorbell(void *opaque, unsigned qid)
{
	Rig *r = opaque;

	g_mutex_lock(&r->lock);
	r->doorbells++;
	g_cond_broadcast(&r->cond);
	g_mutex_unlock(&r->lock);
}

static void rr_error(void *opaque, unsigned qid, const char *msg)
{
	Rig *r = opaque;

	g_mutex_lock(&r->lock);
	r->errors++;
	g_strlcpy(r->error, msg, sizeof(r->error));
	g_cond_broadcast(&r->cond);
	g_mutex_unlock(&r->lock);
}

static gboolean wait_fd(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	eventfd_t v;

	if (poll(&p, 1, timeout_ms) != 1)
		return FALSE;
	(void)eventfd_read(fd, &v);
	return TRUE;
}

static void wait_u16(uint16_t *at, uint16_t value)
{
	gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

	while (__atomic_load_n(at, __ATOMIC_ACQUIRE) != value) {
		if (g_get_monotonic_time() > deadline)
			g_error("value %u did not become %u within 10 s", *at, value);
		g_usleep(100);
	}
}

static void wait_count(Rig *r, guint *counter, guint value)
{
	gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

	g_mutex_lock(&r->lock);
	while (*counter < value)
		if (!g_cond_wait_until(&r->cond, &r->lock, deadline))
			g_error("count %u did not reach %u within 10 s", *counter, value);
	g_mutex_unlock(&r->lock);
}

/* the device uses head @id, writing @len bytes, and interrupts */
static void device_used(Rig *r, int irqfd, uint16_t id, uint32_t len)
{
	uint16_t idx = r->med->used->idx;

	r->med->used->ring[idx & (r->size - 1)] = (struct vring_used_elem){ id, len };
	__atomic_store_n(&r->med->used->idx, (uint16_t)(idx + 1), __ATOMIC_RELEASE);
	g_assert_cmpint(eventfd_write(irqfd, 1), ==, 0);
}

static void test_ring_relay(void)
{
	g_autoptr(Rig) r = rig_new(8);
	struct ring_relay_ops ops = {
		.translate = translate, .log = log_cb, .doorbell = rr_doorbell, .error = rr_error,
		.opaque = r,
	};
	int callfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int callfd2 = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int kickfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct ring_relay_vring v = {
		.qid = 2, .size = 8, .event_idx = TRUE, .desc = r->desc, .avail = r->avail,
		.used = r->used, .used_gpa = r->used_gpa, .dev_avail = r->med->avail,
		.dev_used = r->med->used, .used_idx = 0, .callfd = callfd, .kickfd = kickfd,
	};
	struct ring_relay *rr;
	struct cerr ce = { 0 };
	int irqfd;

	for (uint16_t i = 0; i < 8; i++)
		r->desc[i] = (struct vring_desc){ .addr = 0x40000 + i * PAGE, .len = 2048,
						  .flags = VRING_DESC_F_WRITE };
	g_assert_cmpint(ring_relay_new("test-ring", &ops, &rr, &ce), ==, 0);
	g_assert_cmpint(ring_relay_prepare(rr, &v, &irqfd, &ce), ==, 0);
	g_assert_cmpint(ring_relay_prepare(rr, &v, &irqfd, &ce), ==, -EBUSY);
	g_assert_cmpuint(ring_relay_count(rr), ==, 1);
	/* callfd and kickfd are the relay's own copies from here */
	g_assert_cmpint(ring_relay_start(rr, 2, &ce), ==, 0);
	/* the start pass rings the doorbell only when buffers came */
	g_assert_cmpuint(r->doorbells, ==, 0);

	/* guest buffers reach the VF's ring, with a doorbell */
	guest_avail(r, 3);
	guest_avail(r, 5);
	g_assert_cmpint(eventfd_write(kickfd, 1), ==, 0);
	wait_count(r, &r->doorbells, 1);
	g_assert_cmpuint(r->med->avail->idx, ==, 2);
	g_assert_cmpuint(*avail_event(r->used, 8), ==, 2);

	/* the guest asks for an interrupt after its next entry */
	*used_event(r->avail, 8) = 0;
	device_used(r, irqfd, 3, 300);
	wait_u16(&r->used->idx, 1);
	g_assert_true(wait_fd(callfd, 10000));
	g_assert_cmpuint(r->used->ring[0].id, ==, 3);
	g_assert_true(logged(r, 0x40000 + 3 * PAGE));
	/* the relay asked the VF for an interrupt at its next entry */
	g_assert_cmpuint(*used_event(r->med->avail, 8), ==, 1);

	/* the guest polls (used_event behind): relayed, no call */
	*used_event(r->avail, 8) = 0;
	device_used(r, irqfd, 5, 10);
	wait_u16(&r->used->idx, 2);
	g_assert_false(wait_fd(callfd, 50));
	g_assert_cmpuint(ring_relay_entries(rr), ==, 2);

	/* held (a vring disabled, then enabled with a new callfd): what the
	 * VF uses meanwhile waits, then goes to the guest, called on the new fd */
	g_assert_cmpint(ring_relay_set_fds(rr, 2, callfd2, kickfd, &ce), ==, -EBUSY);
	ring_relay_stop(rr, 2);
	*used_event(r->avail, 8) = 2;
	device_used(r, irqfd, 3, 7);
	g_usleep(20 * 1000);
	g_assert_cmpuint(r->used->idx, ==, 2);
	g_assert_cmpint(ring_relay_set_fds(rr, 2, callfd2, kickfd, &ce), ==, 0);
	g_assert_cmpint(ring_relay_start(rr, 2, &ce), ==, 0);
	wait_u16(&r->used->idx, 3);
	g_assert_true(wait_fd(callfd2, 10000));
	g_assert_false(wait_fd(callfd, 50));
	g_assert_cmpuint(r->used->ring[2].len, ==, 7);

	/* stop: what the VF used since goes with the last pass */
	ring_relay_stop(rr, 2);
	r->med->used->ring[3] = (struct vring_used_elem){ 5, 1 };
	__atomic_store_n(&r->med->used->idx, 4, __ATOMIC_RELEASE);
	*used_event(r->avail, 8) = 3;
	g_assert_cmpint(ring_relay_finish(rr, 2, &ce), ==, 1);
	g_assert_cmpuint(r->used->idx, ==, 4);
	g_assert_true(wait_fd(callfd2, 10000));
	g_assert_cmpuint(ring_relay_count(rr), ==, 0);
	g_assert_cmpint(ring_relay_finish(rr, 2, &ce), ==, -ENOENT);

	/* a guest that breaks its ring stops its relay, said once */
	v.used_idx = 4;
	g_assert_cmpint(ring_relay_prepare(rr, &v, &irqfd, &ce), ==, 0);
	g_assert_cmpint(ring_relay_start(rr, 2, &ce), ==, 0);
	device_used(r, irqfd, 200, 1);
	wait_count(r, &r->errors, 1);
	g_assert_nonnull(strstr(r->error, "descriptor 200"));
	device_used(r, irqfd, 1, 1);
	g_usleep(20 * 1000);
	g_assert_cmpuint(r->errors, ==, 1);
	g_assert_cmpuint(r->used->idx, ==, 4);
	ring_relay_free(rr);
	close(callfd);
	close(callfd2);
	close(kickfd);
}

/* ---- /proc/self/map_files ---- */

static void test_self_map_parse(void)
{
	uint64_t start, end, off;

	g_assert_cmpint(self_map_parse_line("7f1c2a000000-7f1c2a021000 rw-s 00003000 00:01 1234   "
					    "/memfd:vu-dirty-log (deleted)\n", &start, &end, &off), ==, 0);
	g_assert_cmpuint(start, ==, 0x7f1c2a000000ull);
	g_assert_cmpuint(end, ==, 0x7f1c2a021000ull);
	g_assert_cmpuint(off, ==, 0x3000);
	g_assert_cmpint(self_map_parse_line("55d0-55e0 r-xp 0 08:01 42 /bin/true", &start, &end,
					    &off), ==, 0);
	g_assert_cmpint(self_map_parse_line("", &start, &end, &off), ==, -EINVAL);
	g_assert_cmpint(self_map_parse_line("garbage", &start, &end, &off), ==, -EINVAL);
	g_assert_cmpint(self_map_parse_line("2000-1000 rw-p 0 0:0 0", &start, &end, &off), ==, -EINVAL);
}

static void test_self_map_open(void)
{
	int memfd = memfd_create("self-map-test", MFD_CLOEXEC);
	struct cerr ce = { 0 };
	uint64_t off;
	uint8_t *map, v = 0;
	int fd, r;

	g_assert_cmpint(memfd, >=, 0);
	g_assert_cmpint(ftruncate(memfd, 4 * PAGE), ==, 0);
	/* mapped from page 1 on, then closed, as DPDK does with the log */
	map = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, PAGE);
	g_assert_true(map != MAP_FAILED);
	close(memfd);
	map[PAGE + 5] = 0xab;

	r = self_map_open((uint64_t)(uintptr_t)(map + PAGE), 2 * PAGE, &fd, &off, &ce);
	if (r == -EPERM || r == -EACCES) {
		munmap(map, 3 * PAGE);
		/* the helper needs it for hardware-mode logging: fail, do not skip */
		g_test_fail_printf("opening /proc/self/map_files needs CAP_SYS_ADMIN (run as root)");
		return;
	}
	g_assert_cmpint(r, ==, 0);
	g_assert_cmpuint(off, ==, 2 * PAGE);
	g_assert_cmpint(pread(fd, &v, 1, (off_t)off + 5), ==, 1);
	g_assert_cmpuint(v, ==, 0xab);
	close(fd);

	/* past the mapping, or nowhere */
	g_assert_cmpint(self_map_open((uint64_t)(uintptr_t)map, 4 * PAGE, &fd, &off, &ce), ==, -ERANGE);
	munmap(map, 3 * PAGE);
	g_assert_cmpint(self_map_open((uint64_t)(uintptr_t)map, PAGE, &fd, &off, &ce), ==, -ENOENT);
}

/* ---- GPA -> HVA ---- */

static void test_gpa_to_hva(void)
{
	struct port_mem m = { .n = 2 };

	m.r[0] = (struct port_mem_region){ .gpa = 0, .size = 0xa0000, .hva = 0x7f0000000000ull };
	m.r[1] = (struct port_mem_region){ .gpa = 0x100000, .size = 0x100000, .hva = 0x7f1000000000ull };
	g_assert_true(port_mem_gpa_to_hva(&m, 0x1000, 16) == (void *)0x7f0000001000ull);
	g_assert_true(port_mem_gpa_to_hva(&m, 0x180000, 0x80000) == (void *)0x7f1000080000ull);
	g_assert_null(port_mem_gpa_to_hva(&m, 0x9fff0, 0x20));          /* runs out */
	g_assert_null(port_mem_gpa_to_hva(&m, 0xb0000, 1));             /* a hole */
	g_assert_null(port_mem_gpa_to_hva(&m, 0x1ffff0, 0x20));         /* across the end */
	g_assert_null(port_mem_gpa_to_hva(&m, UINT64_MAX - 1, 4));      /* wraps */
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/lm/avail/start", test_avail_start);
	g_test_add_func("/lm/avail/shift", test_avail_shift);
	g_test_add_data_func("/lm/avail/run", GINT_TO_POINTER(FALSE), test_avail_run);
	g_test_add_data_func("/lm/avail/run-event-idx", GINT_TO_POINTER(TRUE), test_avail_run);
	g_test_add_func("/lm/avail/wrap", test_avail_wrap);
	g_test_add_func("/lm/avail/garbage", test_avail_garbage);
	g_test_add_func("/lm/avail/arm-stop", test_avail_arm_stop);
	g_test_add_data_func("/lm/used/propagate-notify", GINT_TO_POINTER(FALSE), test_used_own_notify);
	g_test_add_data_func("/lm/used/own-notify", GINT_TO_POINTER(TRUE), test_used_own_notify);
	g_test_add_func("/lm/mediated/layout", test_mediated_layout);
	g_test_add_func("/lm/ring-relay", test_ring_relay);
	g_test_add_func("/lm/self-map/parse", test_self_map_parse);
	g_test_add_func("/lm/self-map/open", test_self_map_open);
	g_test_add_func("/lm/gpa-to-hva", test_gpa_to_hva);
	return g_test_run();
}

/* The ring-relay core on crafted rings: entries, logging, 16-bit wrap,
 * chains and indirect tables, pages crossed, interrupt suppression, and
 * guests that write garbage. Logging is of whole device-writable
 * descriptors: a device may write past the used length it reports. */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "used-relay.h"

#define MEM_SIZE (16u << 20)
#define PAGE 4096u

typedef struct {
	uint8_t *mem;                 /* guest memory, GPA = offset */
	uint8_t log[MEM_SIZE / PAGE]; /* one byte per page: simpler to check */
	guint log_calls;
	guint word_calls;             /* log_word calls */
	guint word_seen[MEM_SIZE / PAGE / 64];   /* log_word calls per word */
	struct used_relay_queue q;
	struct vring_used *mediated;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	struct used_relay_ops ops;
} Ring;

static void *translate(void *opaque, uint64_t gpa, uint64_t len)
{
	Ring *r = opaque;

	if (gpa >= MEM_SIZE || len > MEM_SIZE - gpa)
		return NULL;
	return r->mem + gpa;
}

static void log_cb(void *opaque, uint64_t gpa, uint64_t len)
{
	Ring *r = opaque;

	g_assert_cmpuint(len, >, 0);
	g_assert_cmpuint(gpa + len, <=, MEM_SIZE);
	r->log_calls++;
	for (uint64_t p = gpa / PAGE; p <= (gpa + len - 1) / PAGE; p++)
		r->log[p] = 1;
}

static void log_word_cb(void *opaque, uint64_t word, uint64_t bits)
{
	Ring *r = opaque;

	g_assert_cmpuint(word, <, G_N_ELEMENTS(r->word_seen));
	g_assert_cmpuint(bits, !=, 0);
	r->word_calls++;
	r->word_seen[word]++;
	for (unsigned b = 0; b < 64; b++)
		if (bits & (1ull << b))
			r->log[word * 64 + b] = 1;
}

static Ring *ring_new(uint16_t size, gboolean event_idx)
{
	Ring *r = g_new0(Ring, 1);

	r->mem = g_malloc0(MEM_SIZE);
	r->desc_gpa = 0x10000;
	r->avail_gpa = 0x20000;
	r->used_gpa = 0x30000;
	r->mediated = g_malloc0(4096 * 4);
	r->q.size = size;
	r->q.event_idx = event_idx;
	r->q.desc = (struct vring_desc *)(r->mem + r->desc_gpa);
	r->q.avail = (struct vring_avail *)(r->mem + r->avail_gpa);
	r->q.used = (struct vring_used *)(r->mem + r->used_gpa);
	r->q.used_gpa = r->used_gpa;
	r->q.mediated = r->mediated;
	r->ops.translate = translate;
	r->ops.log = log_cb;
	r->ops.opaque = r;
	return r;
}

static void ring_free(Ring *r)
{
	g_free(r->mem);
	g_free(r->mediated);
	g_free(r);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Ring, ring_free)

static void set_desc(Ring *r, struct vring_desc *table, uint16_t i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	(void)r;
	table[i].addr = addr;
	table[i].len = len;
	table[i].flags = flags;
	table[i].next = next;
}

/* the device completes chain @id having written @len bytes */
static void device_used(Ring *r, uint32_t id, uint32_t len)
{
	uint16_t idx = r->mediated->idx;

	r->mediated->ring[idx & (r->q.size - 1)].id = id;
	r->mediated->ring[idx & (r->q.size - 1)].len = len;
	__atomic_store_n(&r->mediated->idx, (uint16_t)(idx + 1), __ATOMIC_RELEASE);
}

static gboolean logged(Ring *r, uint64_t gpa)
{
	return r->log[gpa / PAGE] != 0;
}

static guint count_logged(Ring *r)
{
	guint n = 0;

	for (guint i = 0; i < G_N_ELEMENTS(r->log); i++)
		n += r->log[i];
	return n;
}

static void test_basic(void)
{
	g_autoptr(Ring) r = ring_new(8, FALSE);
	struct used_relay_result res;
	struct cerr e = { 0 };

	for (uint16_t i = 0; i < 3; i++)
		set_desc(r, r->q.desc, i, 0x40000 + i * PAGE, 1500, VRING_DESC_F_WRITE, 0);
	device_used(r, 0, 100);
	device_used(r, 1, 1500);
	device_used(r, 2, 0);

	g_assert_cmpint(used_relay_run(&r->q, &r->ops, 64, &res, &e), ==, 0);
	g_assert_cmpuint(res.entries, ==, 3);
	g_assert_cmpuint(res.bytes_logged, ==, 3 * 1500);
	g_assert_true(res.interrupt);
	g_assert_cmpuint(r->q.used->idx, ==, 3);
	g_assert_cmpuint(r->q.used->ring[1].id, ==, 1);
	g_assert_cmpuint(r->q.used->ring[1].len, ==, 1500);
	/* the pages the device may have written: the three buffers whole, the
	 * one it reported empty too, and the used ring */
	g_assert_true(logged(r, 0x40000));
	g_assert_true(logged(r, 0x41000));
	g_assert_true(logged(r, 0x42000));
	g_assert_true(logged(r, r->used_gpa));
	g_assert_cmpuint(count_logged(r), ==, 4);

	/* nothing new: nothing relayed, no interrupt */
	memset(r->log, 0, sizeof(r->log));
	g_assert_cmpint(used_relay_run(&r->q, &r->ops, 64, &res, &e), ==, 0);
	g_assert_cmpuint(res.entries, ==, 0);
	g_assert_false(res.interrupt);
	g_assert_cmpuint(count_logged(r), ==, 0);
}

/* A VF that restarted at 0 while the guest's ring stands at 0xfffe: its
 * entries land in the guest's slots and index shifted, across the 16-bit
 * wrap, and the interrupt decision uses the guest's used_event. */
static void test_shift(void)
{
	g_autoptr(Ring) r = ring_new(8, TRUE);
	struct used_relay_result res;
	struct cerr e = { 0 };

	r->q.shift = 0xfffe;
	r->q.used->idx = 0xfffe;
	for (uint16_t i = 0; i < 3; i++)
		set_desc(r, r->q.desc, i, 0x40000 + i * PAGE, 1500, VRING_DESC_F_WRITE, 0);
	/* the guest wants an interrupt once entry 0xffff (its second) is used */
	*(uint16_t *)&r->q.avail->ring[8] = 0xffff;
	device_used(r, 2, 10);
	g_assert_cmpint(used_relay_run(&r->q, &r->ops, 64, &res, &e), ==, 0);
	g_assert_cmpuint(res.entries, ==, 1);
	g_assert_false(res.interrupt);
	g_assert_cmpuint(r->q.used->idx, ==, 0xffff);
	/* guest slot 0xfffe & 7 = 6, the VF's slot 0 */
	g_assert_cmpuint(r->q.used->ring[6].id, ==, 2);
	g_assert_cmpuint(r->q.used->ring[0].id, ==, 0);

	device_used(r, 0, 20);
	device_used(r, 1, 30);
	g_assert_cmpint(used_relay_run(&r->q, &r->ops, 64, &res, &e), ==, 0);
	g_assert_cmpuint(res.entries, ==, 2);
	g_assert_true(res.interrupt);
	g_assert_cmpuint(r->q.used->idx, ==, 1);
	g_assert_cmpuint(r->q.used->ring[7].id, ==, 0);
	g_assert_cmpuint(r->q.used->ring[0].id, ==, 1);
	g_assert_cmpuint(r->q.used->ring[0].len, ==, 30);
	g_assert_cmpuint(r->q.last, ==, 3);
	g_assert_true(logged(r, 0x40000));
	g_assert_true(logged(r, 0x41000));
	g_assert_true(logged(r, 0x42000));
}

static void test_wrap(void)
{
	g_autoptr(Ring) r = ring_new(4, FALSE);
	struct used_relay_result res;
	struct cerr e = { 0 };
	uint16_t start = 65534;

	r->mediated->idx = start;
	r->q.used->idx = start;
	r->q.last = start;
	for (uint16_t i = 0; i < 4; i++)
		set_desc(r, r->q.desc, i, 0x50000 + i * 64, 64, VRING_DESC_F_WRITE, 0);
	for (uint32_t i = 0; i < 4; i++)
		device_used(r, (i + 2) % 4, 10 + i);
	g_assert_cmpuint(r->mediated->idx, ==, 2);
	g_assert_cmpint(used_relay_run(&r->q, &r->ops, 64, &res, &e), ==, 0);
	g_assert_cmpuint(res.entries, ==, 4);
	g_assert_cmpuint(r->q.used->idx, ==, 2);
	g_assert_cmpuint(r->q.last, ==, 2);
	/* slot = index mod size: 65534 -> 2, 65535 -> 3, 0 -> 0, 1 -> 1 */
	g_assert_cmpuint(r->q.used->ring[2].len, ==, 10);
	g_assert_cmpuint(r->q.used->ring[3].len, ==, 11);
	g_assert_cmpuint(r->q.used->ring[0].len, ==, 12);
	g_assert_cmpuint(r->q.used->ring[1].len, ==, 13);
}

static void test_chain_pages(void)
{
	g_autoptr(Ring) r = ring_new(8, FALSE);
	struct used_relay_result res;
	struct cerr e = { 0 };

	/* header the device only reads, then two writable buffers: the first
	 * crosses a page boundary, the second is reported written only in part */
	set_desc(r, r->q.desc, 0, 0x60000, 12, VRING_DESC_F_NEXT, 5);
	set_desc(r, r->q.desc, 5, 0x61f00, 0x200, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 6);
	set_desc(r, r->q.desc, 6, 0x70000, 3 * PAGE, VRING_DESC_F_WRITE, 0);
	device_used(r, 0, 0x200 + PAGE + 1);
	g_assert_cmpint(used_relay_run(&r->q, &r->ops, 64, &res, &e), ==, 0);
	g_assert_cmpuint(res.bytes_logged, ==, 0x200 + 3 * PAGE);
	g_assert_false(logged(r, 0x60000));  /* read-only header */
	g_assert_true(logged(r, 0x61000));
	g_assert_true(logged(r, 0x62000));
	g_assert_true(logged(r, 0x70000));
	g_assert_true(logged(r, 0x71000));
	g_assert_true(logged(r, 0x72000));  /* past the used length, still writable */
	g_assert_false(logged(r, 0x73000));
	g_assert_cmpuint(count_logged(r), ==, 6);
}

/* A device that writes more than it reports (virtio allows it: the used
 * length is what the driver may rely on, not all the device wrote): every
 * page of every writable descriptor is logged, direct and indirect, with
 * the length 0 or 1; read-only descriptors and pages between buffers are
 * not. */
static void test_write_past_len(void)
{
	g_autoptr(Ring) r = ring_new(8, FALSE);
	struct vring_desc *table = (struct vring_desc *)(r->mem + 0x80000);
	struct used_relay_result res;
	struct cerr e = { 0 };

	/* direct: read-only header, a 5-page buffer not page aligned, a
	 * buffer two pages further on */
	set_desc(r, r->q.desc, 0, 0x40000, 12, VRING_DESC_F_NEXT, 1);
	set_desc(r, r->q.desc, 1, 0x41800, 4 * PAGE, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	set_desc(r, r->q.desc, 2, 0x47ff0, 0x20, VRING_DESC_F_WRITE, 0);
	/* indirect: read-only, then two writable buffers, one of them empty */
	set_desc(r, table, 0, 0x90000, 64, VRING_DESC_F_NEXT, 1);
	set_desc(r, table, 1, 0xa0000, 0, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	set_desc(r, table, 2, 0xa3000, 2 * PAGE + 1, VRING_DESC_F_WRITE, 0);
	set_desc(r, r->q.desc, 4, 0x80000, 3 * 16, VRING_DESC_F_INDIRECT, 0);
	device_used(r, 0, 1);
	device_used(r, 4, 0);
	g_assert_cmpint(used_relay_run(&r->q, &r->ops, 64, &res, &e), ==, 0);
	g_assert_cmpuint(res.entries, ==, 2);
	g_assert_false(logged(r, 0x40000));
	for (uint64_t p = 0x41000; p <= 0x45000; p += PAGE)
		if (!logged(r, p))
			g_error("page 0x%" G_GINT64_MODIFIER "x of a writable buffer is not logged", p);
	g_assert_false(logged(r, 0x46000));   /* between the two buffers */
	g_assert_true(logged(r, 0x47000));
	g_assert_true(logged(r, 0x48000));
	g_assert_false(logged(r, 0x49000));
	g_assert_false(logged(r, 0x80000));   /* the table */
	g_assert_false(logged(r, 0x90000));
	g_assert_false(logged(r, 0xa0000));   /* empty */
	g_assert_true(logged(r, 0xa3000));
	g_assert_true(logged(r, 0xa4000));
	g_assert_true(logged(r, 0xa5000));    /* its last byte */
	g_assert_false(logged(r, 0xa6000));
	g_assert_true(logged(r, r->used_gpa));
	g_assert_cmpuint(count_logged(r), ==, 5 + 2 + 3 + 1);
	g_assert_cmpuint(res.bytes_logged, ==, 4 * PAGE + 0x20 + 2 * PAGE + 1);
}

/* Buffers back to back, in a chain and from one entry to the next, are
 * logged with one call; a range is never stretched over a page between
 * buffers; a large buffer costs one call, not one per page or byte. */
static void test_log_merged(void)
{
	g_autoptr(Ring) r = ring_new(8, FALSE);
	struct used_relay_result res;
	struct cerr e = { 0 };

	for (uint16_t i = 0; i < 4; i++)
		set_desc(r, r->q.desc, i, 0x40000 + i * 1024u, 1024,
			 VRING_DESC_F_WRITE | (i < 3 ? VRING_DESC_F_NEXT : 0), (uint16_t)(i + 1));
	set_desc(r, r->q.desc, 4, 0x41000, 64 * PAGE, VRING_DESC_F_WRITE, 0);
	device_used(r, 0, 1500);
	device_used(r, 4, 60);
	g_assert_cmpint(used_relay_run(&r->q, &r->ops, 64, &res, &e), ==, 0);
	g_assert_cmpuint(res.entries, ==, 2);
	g_assert_cmpuint(count_logged(r), ==, 1 + 64 + 1);
	/* the buffers, the used elements, the used index */
	g_assert_cmpuint(r->log_calls, ==, 3);

	/* two buffers with a page between them: two calls, the page clean */
	memset(r->log, 0, sizeof(r->log));
	r->log_calls = 0;
	set_desc(r, r->q.desc, 5, 0x40000, 16, VRING_DESC_F_WRITE, 0);
	set_desc(r, r->q.desc, 6, 0x42000, 16, VRING_DESC_F_WRITE, 0);
	device_used(r, 5, 16);
	device_used(r, 6, 16);
	g_assert_cmpint(used_relay_run(&r->q, &r->ops, 64, &res, &e), ==, 0);
	g_assert_true(logged(r, 0x40000));
	g_assert_false(logged(r, 0x41000));
	g_assert_true(logged(r, 0x42000));
	g_assert_cmpuint(r->log_calls, ==, 4);
}

/* With log_word, a round hands each 64-page word of the log over once (the
 * pages of every buffer, the used elements), and the used index's word once
 * more after the index: buffers in their own pages, pages apart, cost one
 * call per word, not one per buffer. A buffer over more words than the
 * round's cache holds is logged whole all the same. */
static void test_log_words(void)
{
	g_autoptr(Ring) r = ring_new(64, FALSE);
	struct used_relay_result res;
	struct cerr e = { 0 };

	r->ops.log_word = log_word_cb;
	/* 16 buffers, every other page from 0x40000 (page 64: word 1) */
	for (uint16_t i = 0; i < 16; i++) {
		set_desc(r, r->q.desc, i, 0x40000 + 2u * i * PAGE, 100, VRING_DESC_F_WRITE, 0);
		device_used(r, i, 10);
	}
	g_assert_cmpint(used_relay_run(&r->q, &r->ops, 64, &res, &e), ==, 0);
	g_assert_cmpuint(res.entries, ==, 16);
	for (uint16_t i = 0; i < 16; i++) {
		g_assert_true(logged(r, 0x40000 + 2u * i * PAGE));
		g_assert_false(logged(r, 0x41000 + 2u * i * PAGE));
	}
	g_assert_true(logged(r, r->used_gpa));
	g_assert_cmpuint(count_logged(r), ==, 16 + 1);
	/* word 1 (the buffers) and word 0 (the used ring) before the index,
	 * word 0 again after it; nothing by range */
	g_assert_cmpuint(r->log_calls, ==, 0);
	g_assert_cmpuint(r->word_seen[1], ==, 1);
	g_assert_cmpuint(r->word_seen[0], ==, 2);
	g_assert_cmpuint(r->word_calls, ==, 3);

	/* 2560 pages (40 words) from 1 MiB: past the cache, all logged */
	memset(r->log, 0, sizeof(r->log));
	memset(r->word_seen, 0, sizeof(r->word_seen));
	r->word_calls = 0;
	set_desc(r, r->q.desc, 16, 1u << 20, 2560 * PAGE, VRING_DESC_F_WRITE, 0);
	device_used(r, 16, 1);
	g_assert_cmpint(used_relay_run(&r->q, &r->ops, 64, &res, &e), ==, 0);
	g_assert_cmpuint(res.entries, ==, 1);
	g_assert_false(logged(r, (1u << 20) - PAGE));
	for (uint64_t p = 0; p < 2560; p++)
		if (!logged(r, (1u << 20) + p * PAGE))
			g_error("page %" G_GUINT64_FORMAT " of the large buffer is not logged", p);
	g_assert_false(logged(r, (1u << 20) + 2560 * PAGE));
	g_assert_cmpuint(count_logged(r), ==, 2560 + 1);
	for (guint w = 1; w < G_N_ELEMENTS(r->word_seen); w++)
		g_assert_cmpuint(r->word_seen[w], <=, 1);

	/* the same buffer without log_word: runs of pages, as few calls */
	memset(r->log, 0, sizeof(r->log));
	r->ops.log_word = NULL;
	r->log_calls = 0;
	device_used(r, 16, 1);
	g_assert_cmpint(used_relay_run(&r->q, &r->ops, 64, &res, &e), ==, 0);
	g_assert_cmpuint(count_logged(r), ==, 2560 + 1);
	/* the cache's first 32 words, the rest with the used ring, the index */
	g_assert_cmpuint(r->log_calls, ==, 4);
}

static void test_indirect(void)
{
	g_autoptr(Ring) r = ring_new(8, FALSE);
	struct vring_desc *table = (struct vring_desc *)(r->mem + 0x80000);
	struct used_relay_result res;
	struct cerr e = { 0 };

	set_desc(r, table, 0, 0x90000, 12, VRING_DESC_F_NEXT, 1);
	set_desc(r, table, 1, 0x91000, 2048, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	set_desc(r, table, 2, 0x92000, 2048, VRING_DESC_F_WRITE, 0);
	set_desc(r, r->q.desc, 3, 0x80000, 3 * 16, VRING_DESC_F_INDIRECT, 0);
	device_used(r, 3, 1000);   /* the second buffer not reported written */
	g_assert_cmpint(used_relay_run(&r->q, &r->ops, 64, &res, &e), ==, 0);
	g_assert_cmpuint(res.entries, ==, 1);
	g_assert_cmpuint(res.bytes_logged, ==, 4096);
	g_assert_false(logged(r, 0x90000));
	g_assert_true(logged(r, 0x91000));
	g_assert_true(logged(r, 0x92000));
	g_assert_false(logged(r, 0x80000)); /* the table is only read */
}

static void test_interrupts(void)
{
	g_autoptr(Ring) r = ring_new(8, FALSE);
	g_autoptr(Ring) ev = ring_new(8, TRUE);
	volatile uint16_t *used_event = &ev->q.avail->ring[8];
	struct used_relay_result res;
	struct cerr e = { 0 };

	set_desc(r, r->q.desc, 0, 0x40000, 64, VRING_DESC_F_WRITE, 0);
	r->q.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	device_used(r, 0, 64);
	g_assert_cmpint(used_relay_run(&r->q, &r->ops, 64, &res, &e), ==, 0);
	g_assert_false(res.interrupt);

	/* EVENT_IDX: interrupt when used->idx passes used_event */
	for (uint16_t i = 0; i < 8; i++)
		set_desc(ev, ev->q.desc, i, 0x40000, 64, VRING_DESC_F_WRITE, 0);
	*used_event = 2;    /* wants to hear when entry 2 is used */
	device_used(ev, 0, 1);
	device_used(ev, 1, 1);
	g_assert_cmpint(used_relay_run(&ev->q, &ev->ops, 64, &res, &e), ==, 0);
	g_assert_false(res.interrupt);     /* idx 0 -> 2 does not pass 2 */
	device_used(ev, 2, 1);
	g_assert_cmpint(used_relay_run(&ev->q, &ev->ops, 64, &res, &e), ==, 0);
	g_assert_true(res.interrupt);      /* 2 -> 3 does */
	device_used(ev, 3, 1);
	g_assert_cmpint(used_relay_run(&ev->q, &ev->ops, 64, &res, &e), ==, 0);
	g_assert_false(res.interrupt);     /* the guest did not move used_event */
}

static void test_flags_and_avail_event(void)
{
	g_autoptr(Ring) r = ring_new(8, TRUE);
	struct used_relay_result res;
	struct cerr e = { 0 };
	volatile uint16_t *dev_ev = (uint16_t *)((uint8_t *)r->mediated + 4 + 8 * 8);
	volatile uint16_t *guest_ev = (uint16_t *)((uint8_t *)r->q.used + 4 + 8 * 8);

	r->mediated->flags = VRING_USED_F_NO_NOTIFY;
	*dev_ev = 17;
	g_assert_cmpint(used_relay_run(&r->q, &r->ops, 64, &res, &e), ==, 0);
	g_assert_cmpuint(r->q.used->flags, ==, VRING_USED_F_NO_NOTIFY);
	g_assert_cmpuint(*guest_ev, ==, 17);
	g_assert_true(logged(r, r->used_gpa));
}

static void test_budget(void)
{
	g_autoptr(Ring) r = ring_new(16, FALSE);
	struct used_relay_result res;
	struct cerr e = { 0 };

	for (uint16_t i = 0; i < 10; i++) {
		set_desc(r, r->q.desc, i, 0x40000, 64, VRING_DESC_F_WRITE, 0);
		device_used(r, i, 64);
	}
	g_assert_cmpint(used_relay_run(&r->q, &r->ops, 4, &res, &e), ==, 0);
	g_assert_cmpuint(res.entries, ==, 4);
	g_assert_cmpuint(r->q.used->idx, ==, 4);
	g_assert_cmpint(used_relay_run(&r->q, &r->ops, 100, &res, &e), ==, 0);
	g_assert_cmpuint(res.entries, ==, 6);
	g_assert_cmpuint(r->q.used->idx, ==, 10);
}

/* Bad rings: an error naming the fault, entries before it published,
 * and guest memory outside the used ring untouched. */
static void expect_garbage(Ring *r, int err, const char *needle, guint published)
{
	g_autofree uint8_t *before = g_memdup2(r->mem, MEM_SIZE);
	struct used_relay_result res;
	struct cerr e = { 0 };

	g_assert_cmpint(used_relay_run(&r->q, &r->ops, 64, &res, &e), ==, -err);
	if (!strstr(e.msg, needle))
		g_error("message '%s' does not mention '%s'", e.msg, needle);
	g_assert_cmpuint(res.entries, ==, published);
	g_assert_cmpuint(r->q.used->idx, ==, published);
	for (guint64 i = 0; i < MEM_SIZE; i++) {
		if (i >= r->used_gpa && i < r->used_gpa + 4 + 8 * r->q.size + 2)
			continue;
		if (before[i] != r->mem[i])
			g_error("relay wrote guest byte 0x%" G_GINT64_MODIFIER "x outside the used ring", i);
	}
}

static void test_garbage(void)
{
	{
		g_autoptr(Ring) r = ring_new(8, FALSE);

		set_desc(r, r->q.desc, 0, 0x40000, 64, VRING_DESC_F_WRITE, 0);
		device_used(r, 0, 64);
		device_used(r, 9, 64);   /* id past the ring */
		expect_garbage(r, EINVAL, "names descriptor 9", 1);
	}
	{
		g_autoptr(Ring) r = ring_new(8, FALSE);

		set_desc(r, r->q.desc, 0, 0x40000, 64, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
		set_desc(r, r->q.desc, 1, 0x41000, 64, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0);
		device_used(r, 0, 16);   /* the device wrote little, but the chain loops */
		expect_garbage(r, ELOOP, "chain longer", 0);
	}
	{
		g_autoptr(Ring) r = ring_new(8, FALSE);

		set_desc(r, r->q.desc, 0, 0x40000, 64, VRING_DESC_F_NEXT, 200);
		device_used(r, 0, 16);
		expect_garbage(r, EINVAL, "next 200", 0);
	}
	{
		g_autoptr(Ring) r = ring_new(8, FALSE);

		set_desc(r, r->q.desc, 0, MEM_SIZE - 16, 64, VRING_DESC_F_WRITE, 0);
		device_used(r, 0, 64);
		expect_garbage(r, EFAULT, "outside guest memory", 0);
	}
	{
		/* reported empty, but the device may write all of it: a
		 * writable buffer outside guest memory is refused all the same */
		g_autoptr(Ring) r = ring_new(8, FALSE);

		set_desc(r, r->q.desc, 0, 0x40000, 64, VRING_DESC_F_WRITE, 0);
		set_desc(r, r->q.desc, 1, MEM_SIZE - 16, 64, VRING_DESC_F_WRITE, 0);
		device_used(r, 0, 64);
		device_used(r, 1, 0);
		expect_garbage(r, EFAULT, "descriptor 1: buffer 0xfffff0+64 is outside", 1);
	}
	{
		/* a 4 GiB buffer: refused at once, no walk over its pages */
		g_autoptr(Ring) r = ring_new(8, FALSE);

		set_desc(r, r->q.desc, 0, 0x40000, 0xffffffffu, VRING_DESC_F_WRITE, 0);
		device_used(r, 0, 1);
		expect_garbage(r, EFAULT, "outside guest memory", 0);
	}
	{
		g_autoptr(Ring) r = ring_new(8, FALSE);

		set_desc(r, r->q.desc, 0, 0xffffffffffff0000ull, 64, VRING_DESC_F_INDIRECT, 0);
		device_used(r, 0, 64);
		expect_garbage(r, EFAULT, "indirect table", 0);
	}
	{
		g_autoptr(Ring) r = ring_new(8, FALSE);
		struct vring_desc *table = (struct vring_desc *)(r->mem + 0x80000);

		set_desc(r, table, 0, 0x80000, 16, VRING_DESC_F_INDIRECT, 0);
		set_desc(r, r->q.desc, 0, 0x80000, 16, VRING_DESC_F_INDIRECT, 0);
		device_used(r, 0, 64);
		expect_garbage(r, EINVAL, "nested indirect", 0);
	}
	{
		g_autoptr(Ring) r = ring_new(8, FALSE);

		set_desc(r, r->q.desc, 0, 0x80000, 17, VRING_DESC_F_INDIRECT, 0);
		device_used(r, 0, 64);
		expect_garbage(r, EINVAL, "indirect table of 17 bytes", 0);
	}
	{
		g_autoptr(Ring) r = ring_new(8, FALSE);

		r->mediated->idx = 100;  /* the device claims more than a ring */
		expect_garbage(r, EINVAL, "entries past", 0);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ifcvf-helper/used-relay/basic", test_basic);
	g_test_add_func("/ifcvf-helper/used-relay/wrap", test_wrap);
	g_test_add_func("/ifcvf-helper/used-relay/shift", test_shift);
	g_test_add_func("/ifcvf-helper/used-relay/chain-pages", test_chain_pages);
	g_test_add_func("/ifcvf-helper/used-relay/indirect", test_indirect);
	g_test_add_func("/ifcvf-helper/used-relay/write-past-len", test_write_past_len);
	g_test_add_func("/ifcvf-helper/used-relay/log-merged", test_log_merged);
	g_test_add_func("/ifcvf-helper/used-relay/log-words", test_log_words);
	g_test_add_func("/ifcvf-helper/used-relay/interrupts", test_interrupts);
	g_test_add_func("/ifcvf-helper/used-relay/flags-avail-event", test_flags_and_avail_event);
	g_test_add_func("/ifcvf-helper/used-relay/budget", test_budget);
	g_test_add_func("/ifcvf-helper/used-relay/garbage", test_garbage);
	return g_test_run();
}

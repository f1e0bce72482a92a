/* Fuzz target 3: the software relay of live migration, its avail side, its
 * used side and the shifted indices together, over guest rings the input
 * writes (descriptor table, chains, indirect tables, avail ring, indices,
 * EVENT_IDX words) and a mediated used ring the input fills as the VF.
 *
 * The input: a header (ring size, EVENT_IDX, the log's form, own_notify,
 * shift, the VF's used index), a script of up to 32 steps (the guest
 * publishes or rewrites a byte of its memory, the VF uses entries or
 * changes its wishes, the avail relay runs, the used relay runs, the
 * interrupt is armed), then the mediated used ring and the guest's rings
 * and indirect tables.
 * avail_relay_start() opens, avail_relay_stop() and
 * used_relay_log_used_ring() close.
 *
 * Oracles, after every relay call: it returned (no crash, no loop); it wrote
 * guest memory only inside the guest's used ring; every byte it changed there
 * is on a page it logged in that call; it logged only inside guest memory;
 * and every page of every device-writable descriptor (indirect ones too) of
 * each used entry relayed is logged, whatever used length the VF reported.
 * (This replaces tests/relay/used-relay-fuzz.c, the used side alone.) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define RELAY_FUZZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RELAY_FUZZ_ASAN 1
#endif
#endif
#ifdef RELAY_FUZZ_ASAN
#include <sanitizer/asan_interface.h>
#endif

#include "avail-relay.h"
#include "used-relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 8 pages: rings of up to 256 entries in the first three, buffers and
 * indirect tables anywhere */
#define MEM_SIZE (32u * 1024)
#define AVAIL_GPA 0x1000u
#define USED_GPA 0x2000u
#define PAGE 4096u
#define MAX_STEPS 32u

struct ctx {
	uint8_t *mem;
	uint8_t dirty[MEM_SIZE / PAGE];   /* pages logged by the current call */
};

static void fail(const char *why)
{
	fprintf(stderr, "relay fuzz: %s\n", why);
	abort();
}

/* Guest memory between the rings' ends and the next ring's page is a hole
 * while a relay runs: poisoned under ASan, so a read past a ring (a
 * descriptor index past the table, an avail or used slot past the ring) is
 * a report, and refused by translate(), so no buffer or indirect table may
 * lie there. The harness's own copies run with it unpoisoned. */
static uint32_t hole_start[3], hole_end[3];

static void holes_set(uint16_t qsize)
{
	hole_start[0] = 16u * qsize;
	hole_end[0] = AVAIL_GPA;
	hole_start[1] = AVAIL_GPA + 4 + 2u * qsize + 2;
	hole_end[1] = USED_GPA;
	hole_start[2] = USED_GPA + 4 + 8u * qsize + 2;
	hole_end[2] = 0x3000;
}

static void holes_poison(uint8_t *mem, bool on)
{
#ifdef RELAY_FUZZ_ASAN
	for (int i = 0; i < 3; i++) {
		if (on)
			ASAN_POISON_MEMORY_REGION(mem + hole_start[i], hole_end[i] - hole_start[i]);
		else
			ASAN_UNPOISON_MEMORY_REGION(mem + hole_start[i], hole_end[i] - hole_start[i]);
	}
#else
	(void)mem;
	(void)on;
#endif
}

static void *translate(void *opaque, uint64_t gpa, uint64_t len)
{
	struct ctx *c = opaque;

	if (gpa >= MEM_SIZE || len > MEM_SIZE - gpa)
		return NULL;
	for (int i = 0; i < 3; i++)
		if (gpa < hole_end[i] && gpa + len > hole_start[i])
			return NULL;
	return c->mem + gpa;
}

static void log_cb(void *opaque, uint64_t gpa, uint64_t len)
{
	struct ctx *c = opaque;

	if (len == 0 || gpa >= MEM_SIZE || len > MEM_SIZE - gpa)
		fail("logged a range outside guest memory");
	for (uint64_t p = gpa / PAGE; p <= (gpa + len - 1) / PAGE; p++)
		c->dirty[p] = 1;
}

static void log_word_cb(void *opaque, uint64_t word, uint64_t bits)
{
	struct ctx *c = opaque;

	if (!bits)
		fail("logged an empty word");
	for (unsigned b = 0; b < 64; b++) {
		uint64_t p = word * 64 + b;

		if (!(bits & (1ull << b)))
			continue;
		if (p >= MEM_SIZE / PAGE)
			fail("logged a page outside guest memory");
		c->dirty[p] = 1;
	}
}

/* The chain at @head as the relay saw it (@view: guest memory with the
 * used entries relayed before it): every page of its writable descriptors
 * must be logged. The relay accepted the chain, so an inconsistency here
 * is the relay's. */
static void require_chain_logged(const struct ctx *c, const uint8_t *view, uint16_t qsize,
				 uint32_t head)
{
	uint64_t table = 0;
	uint32_t n = qsize, i = head, steps = 0;
	bool indirect = false;

	for (;;) {
		struct vring_desc d;

		if (i >= n || table + (uint64_t)(i + 1) * sizeof(d) > MEM_SIZE || ++steps > 2 * 4096u)
			fail("relayed a chain it should have refused");
		memcpy(&d, view + table + (uint64_t)i * sizeof(d), sizeof(d));
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (indirect || d.addr >= MEM_SIZE)
				fail("relayed a nested or outside indirect table");
			table = d.addr;
			n = d.len / sizeof(d);
			indirect = true;
			i = 0;
			continue;
		}
		if ((d.flags & VRING_DESC_F_WRITE) && d.len) {
			if (d.addr >= MEM_SIZE || d.len > MEM_SIZE - d.addr)
				fail("relayed a buffer outside guest memory");
			for (uint64_t p = d.addr / PAGE; p <= (d.addr + d.len - 1) / PAGE; p++)
				if (!c->dirty[p])
					fail("a writable page of a relayed entry is not logged");
		}
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		i = d.next;
	}
}

/* what a relay call changed: inside the used ring only, and logged */
static void require_writes_logged(const struct ctx *c, const uint8_t *before, uint16_t qsize)
{
	uint32_t used_end = USED_GPA + 4 + 8u * qsize + 2;

	for (uint32_t p = 0; p < MEM_SIZE; p += PAGE) {
		if (!memcmp(c->mem + p, before + p, PAGE))
			continue;
		for (uint32_t i = p; i < p + PAGE; i++) {
			if (c->mem[i] == before[i])
				continue;
			if (i < USED_GPA || i >= used_end)
				fail("wrote guest memory outside the used ring");
			if (!c->dirty[i / PAGE])
				fail("changed a guest byte without logging its page");
		}
	}
}

/* copy up to @len input bytes to @to */
static void take(const uint8_t **data, size_t *size, uint8_t *to, size_t len)
{
	if (len > *size)
		len = *size;
	memcpy(to, *data, len);
	*data += len;
	*size -= len;
}

static uint16_t used_idx_of(const uint8_t *ring)
{
	uint16_t v;

	memcpy(&v, ring + 2, 2);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t mem[MEM_SIZE], before[MEM_SIZE], view[MEM_SIZE];
	/* the mediated rings: avail at 0, used at 2 pages (as mediated-ring.h) */
	static uint8_t dev[4 * PAGE];
	static struct ctx c;
	struct used_relay_ops ops = { translate, log_cb, &c, NULL };
	struct used_relay_queue uq;
	struct avail_relay_queue aq;
	const uint8_t *steps;
	unsigned nsteps;
	size_t used_len;
	uint16_t qsize, mask;

	if (size < 8)
		return 0;
	memset(&c, 0, sizeof(c));
	c.mem = mem;
	memset(mem, 0, sizeof(mem));
	memset(dev, 0, sizeof(dev));
	qsize = (uint16_t)(1u << (data[0] % 9));   /* 1..256 */
	mask = (uint16_t)(qsize - 1);
	if (data[1] & 2)
		ops.log_word = log_word_cb;

	memset(&uq, 0, sizeof(uq));
	uq.size = qsize;
	uq.event_idx = data[1] & 1;
	uq.own_notify = !(data[1] & 4);   /* as the ring relay runs it, mostly */
	uq.shift = (data[1] & 8) ? (uint16_t)(data[2] | data[3] << 8) : 0;
	uq.last = (uint16_t)(data[4] | data[5] << 8);
	uq.desc = (struct vring_desc *)mem;
	uq.avail = (struct vring_avail *)(mem + AVAIL_GPA);
	uq.used = (struct vring_used *)(mem + USED_GPA);
	uq.used_gpa = USED_GPA;
	uq.mediated = (struct vring_used *)(dev + 2 * PAGE);

	memset(&aq, 0, sizeof(aq));
	aq.size = qsize;
	aq.event_idx = uq.event_idx;
	aq.guest_avail = uq.avail;
	aq.guest_used = uq.used;
	aq.guest_used_gpa = USED_GPA;
	aq.dev_avail = (struct vring_avail *)dev;
	aq.dev_used = uq.mediated;
	aq.shift = uq.shift;

	nsteps = data[6] % (MAX_STEPS + 1);
	data += 7;
	size -= 7;
	if ((size_t)nsteps * 4 > size)
		nsteps = (unsigned)(size / 4);
	steps = data;
	data += nsteps * 4;
	size -= nsteps * 4;
	/* the VF's used ring (flags, idx, entries, avail_event), then the
	 * guest's rings where they lie (descriptors at 0, avail at 0x1000,
	 * used at 0x2000), then the rest from 0x3000 (indirect tables; the
	 * buffers' contents do not matter to the relay) */
	used_len = 4 + 8u * qsize + 2;
	take(&data, &size, dev + 2 * PAGE, used_len);
	take(&data, &size, mem, 16u * qsize);
	take(&data, &size, mem + AVAIL_GPA, 4 + 2u * qsize + 2);
	take(&data, &size, mem + USED_GPA, used_len);
	take(&data, &size, mem + 0x3000, MEM_SIZE - 0x3000);

	holes_set(qsize);
	memcpy(before, mem, sizeof(mem));
	holes_poison(mem, true);
	avail_relay_start(&aq, &ops, uq.last);
	holes_poison(mem, false);
	require_writes_logged(&c, before, qsize);

	for (unsigned s = 0; s < nsteps; s++) {
		const uint8_t *st = steps + 4 * s;
		uint8_t a = st[1], b = st[2], k = st[3];
		struct used_relay_result ur;
		struct avail_relay_result ar;
		struct cerr e;
		uint16_t first;

		switch (st[0] % 7) {
		case 0: {   /* the guest makes k entries available */
			uint16_t idx = (uint16_t)(aq.guest_avail->idx + k % (qsize + 2u));

			aq.guest_avail->idx = idx;
			continue;
		}
		case 1:     /* the guest rewrites a byte of its memory */
			mem[(a | b << 8) % MEM_SIZE] = k;
			continue;
		case 2: {   /* the VF uses k entries: the heads it was given */
			uint16_t idx = used_idx_of(dev + 2 * PAGE), n = (uint16_t)(k % (qsize + 2u));

			for (uint16_t j = 0; j < n; j++, idx++) {
				struct vring_used_elem el = {
					.id = aq.dev_avail->ring[idx & mask],
					.len = (uint32_t)a << 8 | b,
				};

				memcpy(&uq.mediated->ring[idx & mask], &el, sizeof(el));
			}
			uq.mediated->idx = idx;
			continue;
		}
		case 3:     /* the VF's wishes: NO_NOTIFY, avail_event */
			uq.mediated->flags = a & 1;
			memcpy(&uq.mediated->ring[qsize], (uint16_t[]){ (uint16_t)(b | k << 8) }, 2);
			continue;
		case 4:
			memcpy(before, mem, sizeof(mem));
			memset(c.dirty, 0, sizeof(c.dirty));
			holes_poison(mem, true);
			(void)avail_relay_run(&aq, &ops, &ar, &e);
			holes_poison(mem, false);
			require_writes_logged(&c, before, qsize);
			continue;
		case 5:
			memcpy(before, mem, sizeof(mem));
			memset(c.dirty, 0, sizeof(c.dirty));
			first = uq.last;
			memset(&ur, 0, sizeof(ur));
			holes_poison(mem, true);
			(void)used_relay_run(&uq, &ops, 1u + a, &ur, &e);
			holes_poison(mem, false);
			require_writes_logged(&c, before, qsize);
			/* an indirect table may lie in the used ring: replay
			 * the relay's element writes in order */
			memcpy(view, before, sizeof(view));
			for (unsigned j = 0; j < ur.entries; j++) {
				uint16_t vf = (uint16_t)(first + j);
				struct vring_used_elem el;

				memcpy(&el, &uq.mediated->ring[vf & mask], sizeof(el));
				require_chain_logged(&c, view, qsize, el.id);
				memcpy(view + USED_GPA + 4 + 8u * ((uint16_t)(vf + uq.shift) & mask), &el,
				       sizeof(el));
			}
			continue;
		case 6:
			holes_poison(mem, true);
			(void)avail_relay_arm_interrupt(&aq, uq.last);
			holes_poison(mem, false);
			continue;
		}
	}

	memcpy(before, mem, sizeof(mem));
	memset(c.dirty, 0, sizeof(c.dirty));
	holes_poison(mem, true);
	avail_relay_stop(&aq, &ops);
	used_relay_log_used_ring(&uq, &ops);
	holes_poison(mem, false);
	require_writes_logged(&c, before, qsize);
	return 0;
}

/* Fuzz target for the ring-relay core. Input bytes become the guest's
 * descriptor table, avail ring fields, indirect tables and the device's
 * used ring; the relay must return (no crash, no loop), write nothing in
 * guest memory but the used ring, log only inside guest memory (by range
 * or a 64-page word at a time, as the input picks), and log
 * every page of every device-writable descriptor (indirect ones included)
 * of each entry it relayed, whatever used length the device reported.
 *
 * Built two ways: with -fsanitize=fuzzer as a libFuzzer target
 * (-DUSED_RELAY_LIBFUZZER), and as a plain program for the unit suite that
 * feeds it a fixed number of pseudo-random inputs from a fixed seed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "used-relay.h"

#define MEM_SIZE (64u * 1024)
#define USED_GPA 0x8000u
#define PAGE 4096u

struct ctx {
	uint8_t *mem;
	uint8_t dirty[MEM_SIZE / PAGE];   /* pages logged */
};

/* how much of the relay the inputs reached, for the plain program's report */
static unsigned long long relayed, refused, writable_checked;

static void *translate(void *opaque, uint64_t gpa, uint64_t len)
{
	struct ctx *c = opaque;

	if (gpa >= MEM_SIZE || len > MEM_SIZE - gpa)
		return NULL;
	return c->mem + gpa;
}

static void log_cb(void *opaque, uint64_t gpa, uint64_t len)
{
	struct ctx *c = opaque;

	if (len == 0 || gpa >= MEM_SIZE || len > MEM_SIZE - gpa)
		abort();   /* the relay logged outside guest memory */
	for (uint64_t p = gpa / PAGE; p <= (gpa + len - 1) / PAGE; p++)
		c->dirty[p] = 1;
}

/* the log a 64-page word at a time (used_relay_ops.log_word) */
static void log_word_cb(void *opaque, uint64_t word, uint64_t bits)
{
	struct ctx *c = opaque;

	if (!bits)
		abort();   /* an empty word is a wasted call */
	for (unsigned b = 0; b < 64; b++) {
		uint64_t p = word * 64 + b;

		if (!(bits & (1ull << b)))
			continue;
		if (p >= MEM_SIZE / PAGE)
			abort();   /* the relay logged outside guest memory */
		c->dirty[p] = 1;
	}
}

/* The oracle: walk the chain at @head as the relay saw it (@view: guest
 * memory with the used entries relayed before it) and require every page
 * of its writable descriptors in the log. The relay accepted the chain,
 * so any inconsistency here is the relay's. Returns the writable
 * descriptors checked. */
static unsigned require_chain_logged(const struct ctx *c, const uint8_t *view, uint16_t qsize,
				 uint32_t head)
{
	uint64_t table = 0;
	uint32_t n = qsize, i = head, steps = 0;
	unsigned checked = 0;
	bool indirect = false;

	for (;;) {
		struct vring_desc d;

		if (i >= n || table + (uint64_t)(i + 1) * sizeof(d) > MEM_SIZE || ++steps > 2 * 4096u)
			abort();   /* a chain the relay should have refused */
		memcpy(&d, view + table + (uint64_t)i * sizeof(d), sizeof(d));
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (indirect || d.addr >= MEM_SIZE)
				abort();
			table = d.addr;
			n = d.len / sizeof(d);
			indirect = true;
			i = 0;
			continue;
		}
		if ((d.flags & VRING_DESC_F_WRITE) && d.len) {
			if (d.addr >= MEM_SIZE || d.len > MEM_SIZE - d.addr)
				abort();   /* accepted a buffer outside guest memory */
			for (uint64_t p = d.addr / PAGE; p <= (d.addr + d.len - 1) / PAGE; p++)
				if (!c->dirty[p])
					abort();   /* a writable page the device may have written, not logged */
			checked++;
		}
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		i = d.next;
	}
	return checked;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t mem[MEM_SIZE], before[MEM_SIZE], view[MEM_SIZE];
	static uint8_t mediated[4096 * 4];
	static struct ctx c;
	struct used_relay_ops ops = { translate, log_cb, &c };
	struct used_relay_queue q;
	struct used_relay_result res;
	struct cerr e;
	uint16_t size_log2, first;
	size_t used_len;

	if (size < 8)
		return 0;
	memset(&c, 0, sizeof(c));
	c.mem = mem;
	memset(mem, 0, sizeof(mem));
	memset(mediated, 0, sizeof(mediated));
	size_log2 = data[0] % 9;   /* ring sizes 1..256 */
	memset(&q, 0, sizeof(q));
	q.size = (uint16_t)(1u << size_log2);
	q.event_idx = data[1] & 1;
	/* both ways of logging: by range, and a word at a time */
	if (data[1] & 2)
		ops.log_word = log_word_cb;
	q.last = (uint16_t)(data[2] | data[3] << 8);
	data += 4;
	size -= 4;
	/* then the device's used ring (flags, idx, entries, avail_event), then
	 * guest memory below the used ring (descriptors at 0, avail at 0x4000,
	 * indirect tables and buffers anywhere) */
	used_len = 4 + 8u * q.size + 2;
	if (used_len > size)
		used_len = size;
	memcpy(mediated, data, used_len);
	data += used_len;
	size -= used_len;
	memcpy(mem, data, size < USED_GPA ? size : USED_GPA);
	q.desc = (struct vring_desc *)mem;
	q.avail = (struct vring_avail *)(mem + 0x4000);
	q.used = (struct vring_used *)(mem + USED_GPA);
	q.used_gpa = USED_GPA;
	q.mediated = (struct vring_used *)mediated;
	memcpy(before, mem, sizeof(mem));
	first = q.last;

	if (used_relay_run(&q, &ops, 1024, &res, &e) < 0)
		refused++;
	relayed += res.entries;
	for (size_t i = 0; i < sizeof(mem); i++)
		if ((i < USED_GPA || i >= USED_GPA + 4 + 8u * q.size + 2) && mem[i] != before[i])
			abort();   /* written outside the used ring */
	/* each relayed entry's writable pages are logged; an indirect table
	 * may lie in the used ring, so replay the relay's element writes */
	memcpy(view, before, sizeof(view));
	for (unsigned k = 0; k < res.entries; k++) {
		uint16_t slot = (uint16_t)((first + k) & (q.size - 1));
		struct vring_used_elem el;

		memcpy(&el, mediated + 4 + 8u * slot, sizeof(el));
		writable_checked += require_chain_logged(&c, view, q.size, el.id);
		memcpy(view + USED_GPA + 4 + 8u * slot, &el, sizeof(el));
	}
	return 0;
}

#ifndef USED_RELAY_LIBFUZZER
int main(int argc, char **argv)
{
	unsigned iterations = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 20000;
	static uint8_t buf[8192];
	uint64_t x = 0x9e3779b97f4a7c15ull;

	printf("1..1\n");
	for (unsigned it = 0; it < iterations; it++) {
		size_t len = 4 + (size_t)(x % (sizeof(buf) - 4)), ring, i;

		for (size_t k = 0; k < len; k++) {
			/* xorshift64*: reproducible inputs, no libFuzzer needed */
			x ^= x >> 12;
			x ^= x << 25;
			x ^= x >> 27;
			buf[k] = (uint8_t)((x * 0x2545f4914f6cdd1dull) >> 56);
		}
		/* bias towards plausible rings, or almost every input fails on
		 * its first entry: small ids, few entries, short next links */
		ring = 1u << (buf[0] % 9);
		buf[4 + 2] = (uint8_t)(buf[2] + (buf[4 + 2] % (ring + 2)));
		buf[4 + 3] = buf[3];
		for (i = 0; i < ring && 4 + 4 + 8 * i + 4 <= len; i++) {
			buf[4 + 4 + 8 * i] %= (uint8_t)(ring < 255 ? ring + 1 : 255);
			buf[4 + 4 + 8 * i + 1] = buf[4 + 4 + 8 * i + 2] = buf[4 + 4 + 8 * i + 3] = 0;
			/* mostly short used lengths: a device that wrote past
			 * them must still have its buffers logged whole */
			if (buf[4 + 4 + 8 * i + 7] & 3)
				buf[4 + 4 + 8 * i + 5] = buf[4 + 4 + 8 * i + 6] = buf[4 + 4 + 8 * i + 7] = 0;
		}
		for (i = 4 + 4 + 8 * ring + 2 + 14; i + 1 < len; i += 16) {
			buf[i] %= (uint8_t)(ring < 255 ? ring + 1 : 255);
			buf[i + 1] = 0;
			/* three descriptors in four point into guest memory with
			 * a length below 16 KiB (some still reach past its end) */
			if (buf[i - 14 + 7] & 3) {
				memset(&buf[i - 14 + 2], 0, 6);
				buf[i - 6 + 1] &= 0x3f;
				buf[i - 6 + 2] = buf[i - 6 + 3] = 0;
			}
		}
		LLVMFuzzerTestOneInput(buf, len);
	}
	printf("ok 1 - %u random rings: %llu entries relayed (%llu writable descriptors, every page "
	       "logged), %llu rings refused, no fault\n", iterations, relayed, writable_checked, refused);
	return 0;
}
#endif

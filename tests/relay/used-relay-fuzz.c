/* Fuzz target for the ring-relay core. Input bytes become the guest's
 * descriptor table, avail ring fields, indirect tables and the device's
 * used ring; the relay must return (no crash, no loop), write nothing in
 * guest memory but the used ring, and log only inside guest memory.
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

struct ctx {
	uint8_t *mem;
};

/* how much of the relay the inputs reached, for the plain program's report */
static unsigned long long relayed, refused;

static void *translate(void *opaque, uint64_t gpa, uint64_t len)
{
	struct ctx *c = opaque;

	if (gpa >= MEM_SIZE || len > MEM_SIZE - gpa)
		return NULL;
	return c->mem + gpa;
}

static void log_cb(void *opaque, uint64_t gpa, uint64_t len)
{
	(void)opaque;
	if (len == 0 || gpa >= MEM_SIZE || len > MEM_SIZE - gpa)
		abort();   /* the relay logged outside guest memory */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t mem[MEM_SIZE], before[MEM_SIZE];
	static uint8_t mediated[4096 * 4];
	struct ctx c = { .mem = mem };
	struct used_relay_ops ops = { translate, log_cb, &c };
	struct used_relay_queue q;
	struct used_relay_result res;
	struct cerr e;
	uint16_t size_log2;
	size_t used_len;

	if (size < 8)
		return 0;
	memset(mem, 0, sizeof(mem));
	memset(mediated, 0, sizeof(mediated));
	size_log2 = data[0] % 9;   /* ring sizes 1..256 */
	memset(&q, 0, sizeof(q));
	q.size = (uint16_t)(1u << size_log2);
	q.event_idx = data[1] & 1;
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

	if (used_relay_run(&q, &ops, 1024, &res, &e) < 0)
		refused++;
	relayed += res.entries;
	for (size_t i = 0; i < sizeof(mem); i++)
		if ((i < USED_GPA || i >= USED_GPA + 4 + 8u * q.size + 2) && mem[i] != before[i])
			abort();   /* written outside the used ring */
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
		}
		for (i = 4 + 4 + 8 * ring + 2 + 14; i + 1 < len; i += 16) {
			buf[i] %= (uint8_t)(ring < 255 ? ring + 1 : 255);
			buf[i + 1] = 0;
		}
		LLVMFuzzerTestOneInput(buf, len);
	}
	printf("ok 1 - %u random rings: %llu entries relayed, %llu rings refused, no fault\n",
	       iterations, relayed, refused);
	return 0;
}
#endif

/* blk-check: runs in the test guest (static) on a virtio-blk disk, while the
 * VM migrates: writes numbered 4 KiB blocks with O_DIRECT (block k holds k,
 * its generation, a payload derived from both and a checksum), and after
 * each write reads back a random block written before and checks it holds
 * exactly the generation last written there. Every 256 writes it reads
 * the control block (index BLOCKS, past the numbered ones): once the host
 * wrote the stop word there, it verifies every block once more and ends.
 * Several may run on disjoint ranges of one disk (FIRST, BLOCKS), sharing
 * the control block, so that requests are in flight together. Prints
 *   BLKCHECK first=F writes=N reads=N mismatches=N errors=N   (every 2 s)
 *   BLKCHECK-MISMATCH block=K want=G got=...            (each, the first 20)
 *   BLKCHECK-FINAL first=F writes=N reads=N mismatches=N errors=N verified=N
 *
 * usage: blk-check DEVICE FIRST BLOCKS CONTROL   (block numbers, 4 KiB) */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BS 4096u
#define MAGIC 0x49464342u          /* "IFCB" */
#define STOP_WORD "IFCVF-BLK-CHECK-STOP"

struct hdr {
	uint32_t magic;
	uint32_t block;
	uint32_t gen;
	uint32_t sum;                  /* of the payload */
};

static uint64_t writes, reads, mismatches, errors;

static uint32_t payload_sum(const uint8_t *p, size_t n)
{
	uint32_t s = 2166136261u;

	for (size_t i = 0; i < n; i++)
		s = (s ^ p[i]) * 16777619u;
	return s;
}

static void fill(uint8_t *buf, uint32_t block, uint32_t gen)
{
	struct hdr *h = (struct hdr *)buf;
	uint32_t x = block * 2654435761u ^ gen * 40503u;

	for (size_t i = sizeof(*h); i < BS; i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (uint8_t)(x >> 16);
	}
	h->magic = MAGIC;
	h->block = block;
	h->gen = gen;
	h->sum = payload_sum(buf + sizeof(*h), BS - sizeof(*h));
}

static int io(int fd, uint8_t *buf, uint32_t block, int write_it)
{
	ssize_t n = write_it ? pwrite(fd, buf, BS, (off_t)block * BS)
			     : pread(fd, buf, BS, (off_t)block * BS);

	if (n != (ssize_t)BS) {
		errors++;
		printf("BLKCHECK-ERROR %s block=%u: %s\n", write_it ? "write" : "read", block,
		       n < 0 ? strerror(errno) : "short");
		return -1;
	}
	return 0;
}

/* block @first + @k must hold generation @gen (0: never written, anything
 * goes) */
static void verify(int fd, uint8_t *buf, uint32_t first, uint32_t k, uint32_t gen)
{
	const struct hdr *h = (const struct hdr *)buf;

	k += first;
	if (io(fd, buf, k, 0) < 0)
		return;
	reads++;
	if (gen == 0)
		return;
	if (h->magic != MAGIC || h->block != k || h->gen != gen ||
	    h->sum != payload_sum(buf + sizeof(*h), BS - sizeof(*h))) {
		if (mismatches < 20)
			printf("BLKCHECK-MISMATCH block=%u want=%u got=magic:%08x block:%u gen:%u sum:%s\n",
			       k, gen, h->magic, h->block, h->gen,
			       h->sum == payload_sum(buf + sizeof(*h), BS - sizeof(*h)) ? "ok" : "bad");
		mismatches++;
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	uint32_t first, blocks, control, *gen, rng;
	uint8_t *buf;
	double last = now();
	int fd;

	if (argc != 5 || (blocks = (uint32_t)strtoul(argv[3], NULL, 0)) < 2) {
		fprintf(stderr, "usage: blk-check DEVICE FIRST BLOCKS CONTROL\n");
		return 2;
	}
	first = (uint32_t)strtoul(argv[2], NULL, 0);
	control = (uint32_t)strtoul(argv[4], NULL, 0);
	rng = 12345 + first;
	setvbuf(stdout, NULL, _IOLBF, 0);
	fd = open(argv[1], O_RDWR | O_DIRECT);
	gen = calloc(blocks, sizeof(*gen));
	if (fd < 0 || !gen || posix_memalign((void **)&buf, BS, BS)) {
		printf("BLKCHECK-ERROR open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	for (uint64_t i = 0;; i++) {
		uint32_t k = (uint32_t)(i % blocks), j;

		fill(buf, first + k, gen[k] + 1);
		if (io(fd, buf, first + k, 1) == 0) {
			gen[k]++;
			writes++;
		}
		rng = rng * 1664525u + 1013904223u;
		j = (rng >> 8) % blocks;
		verify(fd, buf, first, j, gen[j]);
		if (i % 64 == 63 && fdatasync(fd) < 0)
			errors++;
		if (i % 256 == 255) {
			if (io(fd, buf, control, 0) == 0 && !memcmp(buf, STOP_WORD, strlen(STOP_WORD)))
				break;
		}
		if (now() - last >= 2.0) {
			last = now();
			printf("BLKCHECK first=%u writes=%llu reads=%llu mismatches=%llu errors=%llu\n",
			       first, (unsigned long long)writes, (unsigned long long)reads,
			       (unsigned long long)mismatches, (unsigned long long)errors);
		}
	}
	for (uint32_t k = 0; k < blocks; k++)
		verify(fd, buf, first, k, gen[k]);
	printf("BLKCHECK-FINAL first=%u writes=%llu reads=%llu mismatches=%llu errors=%llu verified=%u\n",
	       first, (unsigned long long)writes, (unsigned long long)reads,
	       (unsigned long long)mismatches, (unsigned long long)errors, blocks);
	return mismatches || errors;
}

/* blk-io: runs inside the benchmark guest (static, no libc beyond the
 * kernel's AIO syscalls): 4 KiB random reads or writes with O_DIRECT on a
 * block device, at a queue depth, for a number of seconds, through Linux
 * native AIO (io_setup/io_submit/io_getevents, no libaio). Prints
 *   IOPS <read|write> <qd> <iops> <requests> <errors>
 *
 * usage: blk-io DEVICE read|write QD SECONDS */
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/fs.h>

#define BS 4096u
#define MAX_QD 256

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

int main(int argc, char **argv)
{
	struct iocb cbs[MAX_QD], *ptrs[MAX_QD];
	struct io_event ev[MAX_QD];
	aio_context_t ctx = 0;
	uint64_t size = 0, blocks, seed = 88172645463325252ull, done = 0, errors = 0;
	unsigned qd;
	double secs, t0, t1;
	int fd, write_mode;
	char *buf;

	if (argc != 5 || (strcmp(argv[2], "read") && strcmp(argv[2], "write"))) {
		fprintf(stderr, "usage: blk-io DEVICE read|write QD SECONDS\n");
		return 2;
	}
	write_mode = !strcmp(argv[2], "write");
	qd = (unsigned)atoi(argv[3]);
	secs = atof(argv[4]);
	if (qd < 1 || qd > MAX_QD || secs <= 0) {
		fprintf(stderr, "blk-io: QD must be 1..%d and SECONDS > 0\n", MAX_QD);
		return 2;
	}
	fd = open(argv[1], (write_mode ? O_RDWR : O_RDONLY) | O_DIRECT);
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size) < 0 || size < 16 * BS) {
		fprintf(stderr, "blk-io: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	blocks = size / BS;
	if (posix_memalign((void **)&buf, BS, (size_t)qd * BS)) {
		fprintf(stderr, "blk-io: out of memory\n");
		return 1;
	}
	memset(buf, 0x5a, (size_t)qd * BS);
	if (syscall(SYS_io_setup, qd, &ctx) < 0) {
		fprintf(stderr, "blk-io: io_setup: %s\n", strerror(errno));
		return 1;
	}
	for (unsigned i = 0; i < qd; i++) {
		memset(&cbs[i], 0, sizeof(cbs[i]));
		cbs[i].aio_fildes = (uint32_t)fd;
		cbs[i].aio_lio_opcode = write_mode ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
		cbs[i].aio_buf = (uint64_t)(uintptr_t)(buf + (size_t)i * BS);
		cbs[i].aio_nbytes = BS;
		cbs[i].aio_data = i;
		cbs[i].aio_offset = (int64_t)((rnd(&seed) % blocks) * BS);
		ptrs[i] = &cbs[i];
	}
	t0 = t1 = now();
	if (syscall(SYS_io_submit, ctx, (long)qd, ptrs) != (long)qd) {
		fprintf(stderr, "blk-io: io_submit: %s\n", strerror(errno));
		return 1;
	}
	/* keep QD requests in flight until the time is up, then reap the rest */
	for (unsigned inflight = qd; inflight;) {
		struct timespec to = { 5, 0 };
		long n = syscall(SYS_io_getevents, ctx, 1L, (long)qd, ev, &to);
		long again = 0;

		if (n <= 0) {
			fprintf(stderr, "blk-io: no completion within 5 s (%ld: %s)\n", n,
				n < 0 ? strerror(errno) : "timeout");
			return 1;
		}
		inflight -= (unsigned)n;
		if (now() - t0 < secs)
			t1 = now();
		for (long i = 0; i < n; i++) {
			struct iocb *cb = &cbs[ev[i].data];

			if (ev[i].res != (int64_t)BS)
				errors++;
			if (now() - t0 >= secs)
				continue;
			done++;
			cb->aio_offset = (int64_t)((rnd(&seed) % blocks) * BS);
			ptrs[again++] = cb;
		}
		if (again && syscall(SYS_io_submit, ctx, again, ptrs) != again) {
			fprintf(stderr, "blk-io: io_submit: %s\n", strerror(errno));
			return 1;
		}
		inflight += (unsigned)again;
	}
	printf("IOPS %s %u %.0f %llu %llu\n", argv[2], qd, (double)done / (t1 - t0),
	       (unsigned long long)done, (unsigned long long)errors);
	return errors ? 1 : 0;
}

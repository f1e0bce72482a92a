/* kv-irq: MSI-X and DMA through kernel VFIO, seen from the guest's side of a
 * port. Run inside the kernel-vfio guest against `ifcvf-helper run` whose
 * port is a vfio-pci function. It is the frontend (tests/lib: memfd guest
 * memory at GPA 0, split rings), posts RX buffers, has the host send
 * numbered frames (--feed, like the migration test's), and learns about
 * received frames only from its RX callfd, which the VF signals itself:
 * the helper binds the VF's MSI-X vector to that eventfd with
 * VFIO_DEVICE_SET_IRQS, so nothing of ours relays it. A lost interrupt
 * leaves the wait to run out, and the check fails. Every frame must arrive
 * whole, once and in order (DMA into IOVA = GPA through the IOMMU).
 *
 * It also reads the guest's /proc/interrupts for the function's vfio-msix
 * vectors while the port still holds them.
 *
 * Output: one line, "kv-irq: ..." ; exit 0 when every frame came, 1 if not,
 * 2 on bad usage. Every wait is bounded. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gen-frame.h"
#include "virtq-drv.h"
#include "vu-frontend.h"

#define MEM_SIZE (4u << 20)
#define QSIZE 256u
#define POSTED 64u              /* RX buffers kept posted */
#define BUF 2048u
#define FRAME 200u
#define HDR 12u                 /* virtio_net_hdr_v1 */
#define STREAM 7u
#define CALL_WAIT_MS 10000      /* hang guard for one interrupt */
#define RUNNING_WAIT_S 60

#define F_VERSION_1 32
#define F_PROTOCOL 30

static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("kv-irq: ", stdout);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	exit(1);
}

static void check(int r, const struct cerr *ce, const char *what)
{
	if (r < 0)
		fail("%s: %s", what, ce->msg);
}

static long log_size(const char *log)
{
	FILE *f = fopen(log, "re");
	long n = 0;

	if (f && fseek(f, 0, SEEK_END) == 0)
		n = ftell(f);
	if (f)
		fclose(f);
	return n < 0 ? 0 : n;
}

/* The helper's log says, past @from, that the VF runs both vrings. */
static void wait_running(const char *log, long from)
{
	for (int i = 0; i < RUNNING_WAIT_S * 10; i++) {
		char line[1024];
		FILE *f = fopen(log, "re");
		int found = 0;

		if (f && fseek(f, from, SEEK_SET) != 0) {
			fclose(f);
			f = NULL;
		}
		while (f && fgets(line, sizeof(line), f))
			found |= strstr(line, "running: 2 of 2 vrings enabled") != NULL;
		if (f)
			fclose(f);
		if (found)
			return;
		usleep(100 * 1000);
	}
	fail("the helper did not bring the VF up within %d s (%s)", RUNNING_WAIT_S, log);
}

/* Interrupts taken on @bdf's vfio-msix vectors, summed over CPUs. */
static unsigned long long msix_interrupts(const char *bdf)
{
	char needle[64], line[1024];
	unsigned long long sum = 0;
	FILE *f = fopen("/proc/interrupts", "re");

	snprintf(needle, sizeof(needle), "(%s)", bdf);
	while (f && fgets(line, sizeof(line), f)) {
		char *p;

		if (!strstr(line, "vfio-msix") || !strstr(line, needle))
			continue;
		p = strchr(line, ':');
		while (p) {
			char *end;
			unsigned long long v = strtoull(p + 1, &end, 10);

			if (end == p + 1 || (*end != ' ' && *end != '\t'))
				break;
			sum += v;
			p = end;
		}
	}
	if (f)
		fclose(f);
	return sum;
}

static void post(struct virtq_drv *rx, struct vu_guest_mem *mem, uint64_t bufs)
{
	/* buffer i of the pool is used by head i: one descriptor per chain */
	struct virtq_buf b = { .gpa = bufs + (uint64_t)rx->free_head * BUF, .len = BUF,
			       .device_writes = true };

	if (virtq_drv_add(rx, mem, &b, 1, false) < 0)
		fail("no free RX descriptor");
}

static void usage(void)
{
	fputs("usage: kv-irq --socket PATH --helper-log FILE --feed CMD --bdf DDDD:BB:DD.F "
	      "[--frames N]\n", stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "helper-log", required_argument, NULL, 'l' },
		{ "feed", required_argument, NULL, 'f' },
		{ "bdf", required_argument, NULL, 'b' },
		{ "frames", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *log = NULL, *feed = NULL, *bdf = NULL;
	unsigned frames = 300, got = 0, calls = 0;
	struct vu_guest_mem mem;
	struct vu_frontend fe;
	struct virtq_drv rx, tx;
	struct cerr ce = { 0 };
	unsigned long long irqs;
	uint64_t bufs, next_seq = 0;
	char cmd[1024];
	long log_from;
	int c, st;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'l': log = optarg; break;
		case 'f': feed = optarg; break;
		case 'b': bdf = optarg; break;
		case 'n': frames = (unsigned)strtoul(optarg, NULL, 10); break;
		default: usage();
		}
	}
	if (!sock || !log || !feed || !bdf || !frames || optind != argc)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	log_from = log_size(log);

	check(vu_guest_mem_init(&mem, MEM_SIZE, &ce), &ce, "guest memory");
	bufs = vu_guest_mem_alloc(&mem, (uint64_t)QSIZE * BUF, 4096);
	if (!bufs)
		fail("guest memory: no room for %u buffers", QSIZE);
	check(virtq_drv_init(&rx, &mem, 0, QSIZE, false, &ce), &ce, "RX ring");
	check(virtq_drv_init(&tx, &mem, 1, QSIZE, false, &ce), &ce, "TX ring");

	check(vu_frontend_connect(&fe, sock, 10000, &ce), &ce, "connect");
	check(vu_frontend_handshake(&fe, 1ull << VU_PROTOCOL_F_REPLY_ACK, &ce), &ce, "handshake");
	if ((fe.features & (1ull << F_VERSION_1)) == 0)
		fail("the port does not offer VERSION_1 (features 0x%llx)",
		     (unsigned long long)fe.features);
	check(vu_frontend_set_features(&fe, 1ull << F_VERSION_1 | 1ull << F_PROTOCOL, &ce), &ce,
	      "SET_FEATURES");
	check(vu_frontend_set_mem_table(&fe, &mem, &ce), &ce, "SET_MEM_TABLE");
	check(vu_frontend_setup_vring(&fe, &rx, &ce), &ce, "RX vring");
	check(vu_frontend_setup_vring(&fe, &tx, &ce), &ce, "TX vring");
	check(vu_frontend_set_vring_enable(&fe, 0, true, &ce), &ce, "enable RX");
	check(vu_frontend_set_vring_enable(&fe, 1, true, &ce), &ce, "enable TX");
	wait_running(log, log_from);

	/* interrupts on (avail flags 0, no EVENT_IDX): one per used batch */
	virtq_drv_enable_interrupts(&rx);
	for (unsigned i = 0; i < POSTED; i++)
		post(&rx, &mem, bufs);
	(void)virtq_drv_kick(&rx);

	snprintf(cmd, sizeof(cmd), "%s %u %u %u", feed, frames, STREAM, FRAME);
	st = system(cmd);
	if (st != 0)
		fail("'%s' failed (status 0x%x)", cmd, st);

	while (got < frames) {
		uint32_t id, len;
		int n = virtq_drv_wait_call(&rx, CALL_WAIT_MS);

		if (n < 0)
			fail("waiting for the RX callfd: %s", strerror(-n));
		if (n == 0)
			fail("no interrupt within %d s with %u of %u frames received (used idx %u, %u reaped)",
			     CALL_WAIT_MS / 1000, got, frames, rx.used->idx, rx.last_used);
		calls++;
		while (virtq_drv_get_used(&rx, &id, &len) == 1) {
			const uint8_t *f = vu_gpa(&mem, bufs + (uint64_t)id * BUF);
			uint32_t stream = 0;
			uint64_t seq = 0;

			if (len != HDR + FRAME)
				fail("frame %u: used length %u, expected %u", got, len, HDR + FRAME);
			if (gen_frame_parse(f + HDR, len - HDR, &stream, &seq) != GEN_FRAME_OK ||
			    stream != STREAM)
				fail("frame %u: not an intact generator frame of stream %u", got, STREAM);
			if (seq != next_seq)
				fail("frame %llu arrived where %llu was next: %s",
				     (unsigned long long)seq, (unsigned long long)next_seq,
				     seq > next_seq ? "lost" : "duplicate");
			next_seq++;
			got++;
			post(&rx, &mem, bufs);
		}
		(void)virtq_drv_kick(&rx);
	}
	irqs = msix_interrupts(bdf);
	if (irqs == 0)
		fail("%u frames came with %u callfd signals, but /proc/interrupts shows no vfio-msix interrupt for %s",
		     got, calls, bdf);
	printf("kv-irq: %u frames whole and in order, woken %u times by the RX callfd; "
	       "%llu vfio-msix interrupts on %s\n", got, calls, irqs, bdf);
	vu_frontend_close(&fe);
	virtq_drv_fini(&rx);
	virtq_drv_fini(&tx);
	vu_guest_mem_fini(&mem);
	return 0;
}

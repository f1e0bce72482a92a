/* The emulator's doorbells: mapped (host notifier) against the message path.
 *
 * In one invocation, repeated (REPEATS runs, each with fresh emulators):
 *   - doorbell -> fetch latency (the doorbell written, the TX chain fetched
 *     and completed, the used entry and the interrupt seen here), p50/p99:
 *       mapped:  --doorbell mapped; the page ifcvf_hw_notify_area() hands out,
 *                mapped here, one 16-bit store (what a guest's kick is with
 *                a host notifier); the emulator's poller finds it;
 *       message: --doorbell message; ifcvf_hw_notify_queue(), a posted
 *                REGION_WRITE over the vfio-user socket (the baseline);
 *     each two ways: back to back (the next kick as soon as the last one
 *     completed: the poller is still spinning) and spaced (SPACED_GAP_US
 *     apart: the poller has gone to sleep, the latency of an idle VF's
 *     first kick);
 *   - the emulator's idle CPU (utime+stime from /proc/PID/stat over
 *     IDLE_SECONDS, % of one core): a VF with its queues enabled and
 *     DRIVER_OK but no traffic, mapped and message; and mapped with no queue
 *     enabled (the poller parked).
 * Prints per figure the median over the runs with min-max, and the ratio
 * mapped/message. A kick without completion within STALL_MS is reported
 * loudly (STALL), and the run is dropped from the figures after
 * GIVE_UP_MS; nothing here passes or fails.
 *
 * usage: doorbell EMU [KICKS [REPEATS]]     (run by bench/run)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench-proc.h"
#include "ifcvf-hw.h"
#include "virtq-drv.h"
#include "vu-frontend.h"

#define FRAME 64u
#define SPACED_GAP_US 5000u
#define SPACED_KICKS 200u
#define IDLE_SECONDS 5.0
#define STALL_MS 1000
#define GIVE_UP_MS 5000
#define MAX_REPEATS 20u

enum mode { MAPPED, MESSAGE };
static const char *const mode_name[] = { "mapped", "message" };

static void die(const char *what, const struct cerr *e)
{
	fprintf(stderr, "doorbell: %s: %s\n", what, e ? e->msg : strerror(errno));
	exit(1);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One emulator and this process as its driver, one TX queue running. */
struct rig {
	pid_t emu;
	char dir[64], sock[128], address[160];
	struct vfio_dev *dev;
	struct ifcvf_hw hw;
	struct vu_guest_mem mem;
	struct virtq_drv tx;
	uint64_t tx_buf;
	volatile uint16_t *doorbell;   /* mapped: the page handed out */
	size_t page;
	enum mode mode;
};

static void rig_start(struct rig *r, const char *emu, enum mode mode, bool enable)
{
	struct ifcvf_devargs args = { .sw_live_migration = true };
	struct cerr e = { 0 };
	int fds[3] = { -1, -1, -1 };

	memset(r, 0, sizeof(*r));
	r->mode = mode;
	snprintf(r->dir, sizeof(r->dir), "/tmp/ifcvf-bench-db-XXXXXX");
	if (!mkdtemp(r->dir))
		die("mkdtemp", NULL);
	snprintf(r->sock, sizeof(r->sock), "%s/vf.sock", r->dir);
	snprintf(r->address, sizeof(r->address), "vfio-user:%s", r->sock);
	r->emu = bench_spawn((char *[]){ (char *)emu, "--socket", r->sock, "--wire", "loop",
					 "--doorbell", (char *)mode_name[mode], NULL },
			     NULL);
	bench_wait_socket(r->sock, r->emu);
	if (vu_guest_mem_init(&r->mem, 16 << 20, &e) < 0)
		die("guest memory", &e);
	r->tx_buf = vu_guest_mem_alloc(&r->mem, 4096, 4096);
	if (virtq_drv_init(&r->tx, &r->mem, 1, 256, false, &e) < 0)
		die("ring", &e);
	fds[2] = r->tx.callfd;
	if (vfio_dev_open(r->address, NULL, &r->dev, &e) < 0 ||
	    ifcvf_hw_init(&r->hw, r->dev, &args, &e) < 0)
		die(r->address, &e);
	{
		struct ifcvf_vring_cfg q = {
			.desc = r->tx.desc_gpa, .avail = r->tx.avail_gpa, .used = r->tx.used_gpa,
			.size = r->tx.size, .vector = 2,
		};

		if (vfio_dev_dma_map(r->dev, 0, r->mem.size, r->mem.base, r->mem.fd, 0, &e) < 0 ||
		    vfio_dev_set_irq_eventfds(r->dev, VFIO_DEV_IRQ_MSIX, 0, 3, fds, &e) < 0 ||
		    ifcvf_hw_reset(&r->hw, 1000, &e) < 0 ||
		    ifcvf_hw_add_status(&r->hw, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER,
					&e) < 0 ||
		    ifcvf_hw_set_features(&r->hw, r->hw.features & (1ull << VIRTIO_F_VERSION_1),
					  &e) < 0 ||
		    ifcvf_hw_queue_program(&r->hw, 1, &q, &e) < 0)
			die("program the VF", &e);
		if (enable && (ifcvf_hw_queue_enable(&r->hw, 1, &e) < 0 ||
			       ifcvf_hw_add_status(&r->hw, VIRTIO_STATUS_DRIVER_OK, &e) < 0))
			die("start the VF", &e);
	}
	if (mode == MAPPED) {
		uint64_t off = 0, size = 0;
		int fd = -1;
		void *p;

		if (ifcvf_hw_notify_area(&r->hw, 1, &fd, &off, &size, &e) < 0)
			die("host notifier", &e);
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
		if (p == MAP_FAILED)
			die("mmap the doorbell page", NULL);
		r->doorbell = p;
		r->page = size;
	}
}

static void rig_stop(struct rig *r)
{
	struct cerr e = { 0 };

	if (r->doorbell)
		munmap((void *)r->doorbell, r->page);
	(void)ifcvf_hw_reset(&r->hw, 1000, &e);
	vfio_dev_close(r->dev);
	bench_stop(r->emu);
	virtq_drv_fini(&r->tx);
	vu_guest_mem_fini(&r->mem);
	unlink(r->sock);
	rmdir(r->dir);
}

static void post_tx(struct rig *r)
{
	struct virtq_buf b = { .gpa = r->tx_buf, .len = 12 + FRAME, .device_writes = false };

	if (virtq_drv_add(&r->tx, &r->mem, &b, 1, false) < 0)
		die("queue full", NULL);
	__atomic_store_n(&r->tx.avail->idx, r->tx.avail_idx, __ATOMIC_RELEASE);
}

static void ring(struct rig *r)
{
	struct cerr e = { 0 };

	if (r->mode == MAPPED) {
		/* the ring reaches the device before the doorbell does */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		*r->doorbell = 1;
	} else if (ifcvf_hw_notify_queue(&r->hw, 1, &e) < 0) {
		die("doorbell", &e);
	}
}

static void reap(struct rig *r)
{
	uint32_t id, len;

	while (virtq_drv_get_used(&r->tx, &id, &len) > 0)
		;
}

/* @n kicks, @gap_us apart (0: back to back); latencies into @lat. false
 * when the run stalled (said on stderr and stdout). */
static bool measure(struct rig *r, unsigned n, unsigned gap_us, long long *lat, unsigned run)
{
	for (unsigned i = 0; i < n; i++) {
		long long t0;
		int got;

		if (gap_us)
			usleep(gap_us);
		post_tx(r);
		t0 = bench_now_ns();
		ring(r);
		got = virtq_drv_wait_call(&r->tx, STALL_MS);
		if (got <= 0) {
			printf("STALL: run %u, %s, kick %u: no completion within %d ms\n", run,
			       mode_name[r->mode], i, STALL_MS);
			fprintf(stderr, "doorbell: STALL: run %u, %s, kick %u: no completion within %d ms\n",
				run, mode_name[r->mode], i, STALL_MS);
			got = virtq_drv_wait_call(&r->tx, GIVE_UP_MS - STALL_MS);
			if (got <= 0) {
				printf("RUN STALLED: run %u, %s: kick %u never completed (%d ms); run dropped\n",
				       run, mode_name[r->mode], i, GIVE_UP_MS);
				fprintf(stderr, "doorbell: RUN STALLED: run %u, %s, kick %u\n", run,
					mode_name[r->mode], i);
				return false;
			}
		}
		lat[i] = bench_now_ns() - t0;
		reap(r);
	}
	return true;
}

/* % of one core the emulator used over IDLE_SECONDS. */
static double idle_cpu(pid_t emu)
{
	double c0, c1;
	long long t0, t1;

	usleep(200 * 1000);   /* past the spin after the last request */
	c0 = bench_cpu_seconds(emu);
	t0 = bench_now_ns();
	usleep((useconds_t)(IDLE_SECONDS * 1e6));
	c1 = bench_cpu_seconds(emu);
	t1 = bench_now_ns();
	return (c1 - c0) * 100.0 / ((double)(t1 - t0) / 1e9);
}

/* ---- figures over the runs ---- */

struct figure {
	const char *name;
	const char *unit;
	double v[2][MAX_REPEATS];  /* per mode, per good run */
	unsigned n[2];
};

static void add(struct figure *f, enum mode m, double v)
{
	f->v[m][f->n[m]++] = v;
}

static double median(double *v, unsigned n, double *lo, double *hi)
{
	double s[MAX_REPEATS];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_d);
	*lo = s[0];
	*hi = s[n - 1];
	return s[n / 2];
}

static void print_figure(const struct figure *f, bool ratio)
{
	double med[2] = { 0, 0 }, lo, hi;

	printf("%-44s", f->name);
	for (int m = 0; m < 2; m++) {
		if (!f->n[m]) {
			printf("  %-8s NO-FIGURE (every run stalled)           ", mode_name[m]);
			continue;
		}
		med[m] = median((double *)f->v[m], f->n[m], &lo, &hi);
		printf("  %-8s %8.2f %s (%.2f-%.2f, %u runs)", mode_name[m], med[m], f->unit, lo, hi,
		       f->n[m]);
	}
	if (ratio && f->n[0] && f->n[1] && med[1] > 0)
		printf("  ratio mapped/message %.2f", med[0] / med[1]);
	printf("\n");
}

int main(int argc, char **argv)
{
	unsigned kicks = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) : 5000;
	unsigned repeats = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 0) : 3;
	struct figure f[6] = {
		{ .name = "doorbell -> fetch, back to back, p50", .unit = "us" },
		{ .name = "doorbell -> fetch, back to back, p99", .unit = "us" },
		{ .name = "doorbell -> fetch, spaced 5 ms, p50", .unit = "us" },
		{ .name = "doorbell -> fetch, spaced 5 ms, p99", .unit = "us" },
		{ .name = "idle CPU, queue enabled, % of a core", .unit = "% " },
		{ .name = "idle CPU, no queue enabled, % of a core", .unit = "% " },
	};
	long long *lat;
	unsigned stalled = 0;

	if (argc < 2 || kicks < 100 || repeats < 1 || repeats > MAX_REPEATS) {
		fprintf(stderr, "usage: %s IFCVF-EMU [KICKS>=100 [REPEATS 1..%u]]\n", argv[0],
			MAX_REPEATS);
		return 2;
	}
	lat = calloc(kicks > SPACED_KICKS ? kicks : SPACED_KICKS, sizeof(*lat));
	if (!lat)
		die("calloc", NULL);
	for (unsigned run = 1; run <= repeats; run++) {
		for (int m = 0; m < 2; m++) {
			struct rig r;

			rig_start(&r, argv[1], (enum mode)m, true);
			/* the first kicks warm the path up, not counted */
			if (!measure(&r, 50, 0, lat, run)) {
				stalled++;
				rig_stop(&r);
				continue;
			}
			if (measure(&r, kicks, 0, lat, run)) {
				qsort(lat, kicks, sizeof(*lat), bench_cmp_ll);
				add(&f[0], (enum mode)m, (double)lat[kicks / 2] / 1000.0);
				add(&f[1], (enum mode)m, (double)lat[(kicks * 99) / 100] / 1000.0);
			} else {
				stalled++;
			}
			if (measure(&r, SPACED_KICKS, SPACED_GAP_US, lat, run)) {
				qsort(lat, SPACED_KICKS, sizeof(*lat), bench_cmp_ll);
				add(&f[2], (enum mode)m, (double)lat[SPACED_KICKS / 2] / 1000.0);
				add(&f[3], (enum mode)m,
				    (double)lat[(SPACED_KICKS * 99) / 100] / 1000.0);
			} else {
				stalled++;
			}
			add(&f[4], (enum mode)m, idle_cpu(r.emu));
			rig_stop(&r);

			rig_start(&r, argv[1], (enum mode)m, false);
			add(&f[5], (enum mode)m, idle_cpu(r.emu));
			rig_stop(&r);
		}
		fprintf(stderr, "doorbell: run %u of %u done\n", run, repeats);
	}
	printf("doorbell: %u kicks back to back, %u spaced %u us apart, idle over %.0f s; "
	       "%u runs; median (min-max) over the runs\n",
	       kicks, SPACED_KICKS, SPACED_GAP_US, IDLE_SECONDS, repeats);
	for (int i = 0; i < 6; i++)
		print_figure(&f[i], i < 4);
	if (stalled)
		printf("WARNING: %u measurement(s) STALLED and were dropped (see STALL lines above)\n",
		       stalled);
	free(lat);
	return 0;
}

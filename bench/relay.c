/* Software live-migration relay: the ring-relay core against DPDK's, and the
 * switch between the direct path and the relay on the real helper.
 *
 * 1. Core: the same prepared rings (256 and 1024 entries, 1, 2 or 4
 *    descriptors per chain, every buffer device-written, dirty logging on)
 *    relayed by this project's used_relay_run() and by DPDK's
 *    rte_vdpa_relay_vring_used(), both on a live vhost device in this
 *    process (DPDK's vhost-user backend, the tests/lib frontend connected
 *    to it, LOG_ALL and a shared log), both logging through DPDK's log.
 *    Prints entries per second of the thread's CPU time (the machine may be
 *    shared: time spent descheduled is not counted) and the ratio. Twice:
 *    buffers back to back (2 KiB per chain, one after the other), and
 *    scattered (each descriptor in a page of its own, pages apart), where
 *    no two ranges can be logged as one. Both log every writable
 *    descriptor whole; what else each does per entry is not the same: DPDK
 *    leaves the used ring to its caller (its driver logs the whole used
 *    ring at stop); ours gathers the round's dirty pages in a cache of
 *    64-page log words, each page once, and hands them over at the end of
 *    the round, logs the used elements and index, checks the chain against
 *    guest memory, and decides the guest's interrupt. Ours runs two ways:
 *    "ours" hands the words to DPDK's log directly (log_word, with
 *    rte_vhost_get_log_base), "ranges" calls rte_vhost_log_write once per
 *    run of consecutive pages (no log_word: what the helper does until it
 *    wires log_word). The ratio to DPDK is taken in each repeat.
 * 2. Switch: ifcvf-emu (generator at PPS frames/s, the default 256-frame
 *    receive FIFO) + `ifcvf-helper run`, this program as the guest keeping
 *    the RX ring full: LOG_ALL on and off SWITCHES times each, in sw mode
 *    (direct -> relay -> direct) and hw mode (VF logging on/off): the time
 *    SET_FEATURES takes as the guest sees it and as the helper reports it
 *    (median, max), frames lost at the switches (sequence gaps, and the
 *    emulator's drop counter); then GET_VRING_BASE while logging, repeated:
 *    the time the helper spends handing the ring state back.
 *
 * Not a test: nothing passes or fails on these numbers, but a lost frame
 * is reported loudly. usage: relay [--switches] EMU HELPER [SWITCHES] [PPS]
 * (--switches: part 2 alone), or
 * relay --cores [SECONDS [REPEATS]] for part 1 alone (SECONDS per
 * measurement, 0.5 by default; REPEATS, 5 by default, each row measured
 * anew in each: the table prints the medians and the ratio's min-max;
 * "ours", "ranges" or "dpdk" after REPEATS runs that side only, to
 * profile it).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_vhost.h>

#include "bench-proc.h"
#include "gen-frame.h"
#include "used-relay.h"
#include "virtq-drv.h"
#include "vu-frontend.h"

/* exported by librte_vhost for vDPA drivers (INTERNAL); the header that
 * declares it is not installed by every distribution */
int rte_vdpa_relay_vring_used(int vid, uint16_t qid, void *vring_m);

#define F_LOG_ALL (1ull << 26)
#define F_PROTOCOL (1ull << 30)
#define F_VERSION_1 (1ull << 32)
#define MEM_SIZE (64u << 20)
#define PAGE 4096u

static void die(const char *what, const struct cerr *e)
{
	fprintf(stderr, "relay: %s: %s\n", what, e ? e->msg : strerror(errno));
	exit(1);
}

static long long median(long long *v, unsigned n)
{
	qsort(v, n, sizeof(*v), bench_cmp_ll);
	return v[n / 2];
}

static long long maximum(const long long *v, unsigned n)
{
	long long m = 0;

	for (unsigned i = 0; i < n; i++)
		if (v[i] > m)
			m = v[i];
	return m;
}

/* ====================================================================== */
/* 1. the relay cores on a live vhost device                              */
/* ====================================================================== */

static volatile int bench_vid = -1;

static int on_new_connection(int vid)
{
	bench_vid = vid;
	return 0;
}

static int on_new_device(int vid)
{
	return 0;
}

static void on_destroy_device(int vid)
{
}

static const struct rte_vhost_device_ops bench_ops = {
	.new_device = on_new_device,
	.destroy_device = on_destroy_device,
	.new_connection = on_new_connection,
};

struct core_rig {
	struct vu_guest_mem mem;
	struct vu_frontend fe;
	struct virtq_drv q;
	struct vring_used *mediated;
	struct vring_avail *mediated_avail;
	uint64_t buf_gpa;
};

static void *core_translate(void *opaque, uint64_t gpa, uint64_t len)
{
	struct core_rig *r = opaque;

	return gpa + len <= r->mem.size ? r->mem.base + gpa : NULL;
}

static void core_log(void *opaque, uint64_t gpa, uint64_t len)
{
	rte_vhost_log_write(bench_vid, gpa, len);
}

/* DPDK's log itself (rte_vhost_get_log_base), a 64-page word at a time:
 * what the relay's log_word does when the helper hands it the log */
static uint8_t *bench_log;
static uint64_t bench_log_size;

static void core_log_word(void *opaque, uint64_t word, uint64_t bits)
{
	uint64_t off = word * 8;

	if (off + 8 <= bench_log_size) {
		__atomic_fetch_or((uint64_t *)(bench_log + off), bits, __ATOMIC_RELAXED);
		return;
	}
	for (unsigned b = 0; b < 8 && off + b < bench_log_size; b++)
		if ((uint8_t)(bits >> (8 * b)))
			__atomic_fetch_or(bench_log + off + b, (uint8_t)(bits >> (8 * b)), __ATOMIC_RELAXED);
}

/* chains of @per descriptors, every one device-written, the buffers
 * laid out one after the other (@scattered: each in its own page, every
 * other page); the mediated ring names them in turn */
static void core_prepare(struct core_rig *r, uint16_t size, unsigned per, bool scattered)
{
	uint32_t blen = 2048 / per;
	uint64_t stride = scattered ? 2 * PAGE : blen;

	for (unsigned d = 0; d < size; d++) {
		r->q.desc[d].addr = r->buf_gpa + (uint64_t)d * stride;
		r->q.desc[d].len = blen;
		r->q.desc[d].flags = VRING_DESC_F_WRITE | ((d % per) + 1 < per ? VRING_DESC_F_NEXT : 0);
		r->q.desc[d].next = (uint16_t)(d + 1);
	}
	for (unsigned i = 0; i < size; i++) {
		r->mediated->ring[i].id = (i * per) % size;
		r->mediated->ring[i].len = 1500;   /* spread over the chain */
	}
	r->mediated->idx = 0;
	r->q.used->idx = 0;
}

/* CPU time of this thread: both cores run on it, and only on it */
static long long thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

enum core_side { SIDE_OURS, SIDE_OURS_RANGES, SIDE_DPDK, SIDES };

static double core_run(struct core_rig *r, uint16_t size, enum core_side side, double secs,
		       uint64_t *ret_entries)
{
	bool dpdk = side == SIDE_DPDK;
	struct used_relay_ops ops = { core_translate, core_log, r,
				      side == SIDE_OURS ? core_log_word : NULL };
	struct used_relay_queue uq = {
		.size = size, .desc = r->q.desc, .avail = r->q.avail, .used = r->q.used,
		.used_gpa = r->q.used_gpa, .mediated = r->mediated,
	};
	struct vring m = {
		.num = size, .desc = r->q.desc, .avail = r->mediated_avail, .used = r->mediated,
	};
	long long t0 = thread_cpu_ns(), end = t0 + (long long)(secs * 1e9), t;
	uint64_t entries = 0;
	struct cerr e = { 0 };

	uq.last = r->mediated->idx;
	r->q.used->idx = r->mediated->idx;
	do {
		for (int k = 0; k < 16; k++) {
			r->mediated->idx = (uint16_t)(r->mediated->idx + size);
			if (dpdk) {
				int n = rte_vdpa_relay_vring_used(bench_vid, 0, &m);

				if (n != size)
					die("rte_vdpa_relay_vring_used relayed a short round", NULL);
			} else {
				struct used_relay_result res;

				if (used_relay_run(&uq, &ops, size, &res, &e) < 0 || res.entries != size)
					die("used_relay_run", &e);
			}
			entries += size;
		}
		t = thread_cpu_ns();
	} while (t < end);
	*ret_entries = entries;
	return (double)entries / ((double)(t - t0) / 1e9);
}

#define CORE_ROWS 12   /* 2 layouts x 2 ring sizes x 3 chain lengths */
#define CORE_REPEATS_MAX 20

static const char *const side_name[SIDES] = { "ours", "ranges", "dpdk" };

/* median and min-max over the repeats of @v[k][row] */
static void spread(double v[][CORE_ROWS], unsigned row, unsigned reps, double *med, double *min,
		   double *max)
{
	long long x[CORE_REPEATS_MAX];

	for (unsigned k = 0; k < reps; k++)
		x[k] = (long long)(v[k][row] * 10000.0);
	*med = (double)median(x, reps) / 10000.0;   /* sorts */
	*min = (double)x[0] / 10000.0;
	*max = (double)x[reps - 1] / 10000.0;
}

static void print_core_table(double rate[SIDES][CORE_REPEATS_MAX][CORE_ROWS], unsigned reps)
{
	static const uint16_t sizes[] = { 256, 1024 };
	static const unsigned pers[] = { 1, 2, 4 };
	static double q[2][CORE_REPEATS_MAX][CORE_ROWS];
	double all_min = 1e9, all_max = 0;

	printf("relay core: used entries/s of thread CPU time, dirty logging on (DPDK's log), %u "
	       "repeats: medians, and min-max of the ratios over the repeats\n"
	       "  ours:   used_relay_run() with log_word (the round's pages into DPDK's log, a "
	       "64-page word at a time)\n"
	       "  ranges: used_relay_run() without log_word (each run of pages through "
	       "rte_vhost_log_write)\n"
	       "  DPDK:   rte_vdpa_relay_vring_used()\n", reps);
	printf("%-10s %5s %5s %9s %9s %9s %18s %18s\n", "buffers", "ring", "descs", "ours M/s",
	       "ranges", "DPDK M/s", "ours/DPDK", "ranges/DPDK");
	for (unsigned k = 0; k < reps; k++)
		for (unsigned row = 0; row < CORE_ROWS; row++) {
			q[0][k][row] = rate[SIDE_OURS][k][row] / rate[SIDE_DPDK][k][row];
			q[1][k][row] = rate[SIDE_OURS_RANGES][k][row] / rate[SIDE_DPDK][k][row];
		}
	for (unsigned row = 0; row < CORE_ROWS; row++) {
		unsigned layout = row / 6, si = (row / 3) % 2, pi = row % 3;
		double m[SIDES], lo, hi, qm, qlo, qhi, rm, rlo, rhi;

		for (unsigned sd = 0; sd < SIDES; sd++)
			spread(rate[sd], row, reps, &m[sd], &lo, &hi);
		spread(q[0], row, reps, &qm, &qlo, &qhi);
		spread(q[1], row, reps, &rm, &rlo, &rhi);
		if (qlo < all_min)
			all_min = qlo;
		if (qhi > all_max)
			all_max = qhi;
		printf("%-10s %5u %5u %9.1f %9.1f %9.1f %5.2f (%.2f-%.2f) %5.2f (%.2f-%.2f)%s\n",
		       layout ? "scattered" : "contig", sizes[si], pers[pi], m[SIDE_OURS] / 1e6,
		       m[SIDE_OURS_RANGES] / 1e6, m[SIDE_DPDK] / 1e6, qm, qlo, qhi, rm, rlo, rhi,
		       qlo < 2.0 ? "   <-- ours below 2x DPDK in a repeat" : "");
	}
	printf("relay core: ours/DPDK over all rows and repeats: %.2f-%.2f\n", all_min, all_max);
}

/* @reps times over every row, each row measured anew in each repeat (its
 * own connection and rings), so the spread covers the setup too */
static void bench_cores(double secs, unsigned reps, const char *only)
{
	char dir[] = "/tmp/ifcvf-bench-relay-XXXXXX", sock[128], prefix[64];
	struct core_rig r;
	struct cerr e = { 0 };
	uint16_t sizes[] = { 256, 1024 };
	unsigned pers[] = { 1, 2, 4 };
	static double rate[SIDES][CORE_REPEATS_MAX][CORE_ROWS];

	if (reps < 1 || reps > CORE_REPEATS_MAX)
		reps = 5;
	if (!mkdtemp(dir))
		die("mkdtemp", NULL);
	snprintf(sock, sizeof(sock), "%s/vhost.sock", dir);
	snprintf(prefix, sizeof(prefix), "bench-relay-%d", (int)getpid());
	{
		char *argv[] = { "relay", "--no-huge", "-m", "256", "--no-pci", "--no-shconf",
				 "--no-telemetry", "--file-prefix", prefix, "--lcores", "0@0",
				 "--log-level", "*:error", NULL };

		if (rte_eal_init((int)(sizeof(argv) / sizeof(argv[0])) - 1, argv) < 0)
			die("rte_eal_init", NULL);
	}
	if (rte_vhost_driver_register(sock, 0) < 0 ||
	    rte_vhost_driver_set_features(sock, F_VERSION_1 | F_LOG_ALL | F_PROTOCOL) < 0 ||
	    rte_vhost_driver_set_protocol_features(sock, 1ull << VU_PROTOCOL_F_LOG_SHMFD |
							 1ull << VU_PROTOCOL_F_REPLY_ACK) < 0 ||
	    rte_vhost_driver_callback_register(sock, &bench_ops) < 0 ||
	    rte_vhost_driver_start(sock) < 0)
		die("vhost-user backend", NULL);

	for (unsigned rep = 0; rep < reps; rep++) {
		/* each layout with each ring size */
		for (unsigned run = 0; run < 4; run++) {
			unsigned layout = run / 2, si = run % 2;
			uint16_t size = sizes[si];

			memset(&r, 0, sizeof(r));
			if (vu_guest_mem_init(&r.mem, MEM_SIZE, &e) < 0 ||
			    virtq_drv_init(&r.q, &r.mem, 0, size, false, &e) < 0)
				die("guest memory", &e);
			r.buf_gpa = vu_guest_mem_alloc(&r.mem, 2ull * PAGE * size, PAGE);
			r.mediated = aligned_alloc(PAGE, PAGE * 4);
			r.mediated_avail = aligned_alloc(PAGE, PAGE);
			memset(r.mediated, 0, PAGE * 4);
			memset(r.mediated_avail, 0, PAGE);
			bench_vid = -1;
			if (vu_frontend_connect(&r.fe, sock, 10000, &e) < 0 ||
			    vu_frontend_handshake(&r.fe, 1ull << VU_PROTOCOL_F_REPLY_ACK |
							       1ull << VU_PROTOCOL_F_LOG_SHMFD, &e) < 0 ||
			    vu_frontend_set_features(&r.fe, F_VERSION_1 | F_PROTOCOL | F_LOG_ALL, &e) < 0 ||
			    vu_frontend_set_mem_table(&r.fe, &r.mem, &e) < 0 ||
			    vu_frontend_set_log_base(&r.fe, &e) < 0 ||
			    vu_frontend_setup_vring(&r.fe, &r.q, &e) < 0 ||
			    vu_frontend_set_vring_enable(&r.fe, 0, true, &e) < 0)
				die("frontend", &e);
			if (bench_vid < 0)
				die("no vhost connection", NULL);
			if (rte_vhost_get_log_base(bench_vid, (uint64_t *)&bench_log, &bench_log_size) < 0 ||
			    !bench_log || (uintptr_t)bench_log % 8)
				die("no (aligned) dirty log", NULL);
			for (unsigned pi = 0; pi < 3; pi++) {
				unsigned row = layout * 6 + si * 3 + pi;

				core_prepare(&r, size, pers[pi], layout == 1);
				/* warm both, then measure; @only: one side (under a
				 * profiler), the other's figure is a placeholder */
				for (unsigned sd = 0; sd < SIDES; sd++) {
					uint64_t n;

					rate[sd][rep][row] = 1;
					if (only && strcmp(only, side_name[sd]))
						continue;
					(void)core_run(&r, size, sd, secs / 10, &n);
					rate[sd][rep][row] = core_run(&r, size, sd, secs, &n);
				}
			}
			/* both logged: the buffers' pages are dirty */
			if (!vu_frontend_log_test(&r.fe, r.buf_gpa))
				die("nothing was logged", NULL);
			vu_frontend_close(&r.fe);
			virtq_drv_fini(&r.q);
			vu_guest_mem_fini(&r.mem);
			free(r.mediated);
			free(r.mediated_avail);
			/* let DPDK drop the connection before the next one */
			usleep(100 * 1000);
		}
		fprintf(stderr, "relay core: repeat %u of %u done\n", rep + 1, reps);
	}
	if (only)
		printf("relay core: only '%s' ran (for a profiler): the other columns and the ratios "
		       "are placeholders\n", only);
	print_core_table(rate, reps);
	(void)rte_vhost_driver_unregister(sock);
	unlink(sock);
	rmdir(dir);
	(void)rte_eal_cleanup();
}

/* ====================================================================== */
/* 2. switches and stops on the real helper                               */
/* ====================================================================== */

struct host {
	char dir[64], emu_sock[128], sock[128], stats[128], log[128];
	pid_t emu, helper;
	size_t log_off;
};

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return strdup("");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		buf[0] = '\0';
	fclose(f);
	return buf;
}

/* the next "NEEDLE<number>" in the helper's log; -1 after 10 s without */
static long long next_figure(struct host *h, const char *needle)
{
	for (int i = 0; i < 1000; i++) {
		char *text = slurp(h->log), *hit = strlen(text) > h->log_off ? strstr(text + h->log_off, needle) : NULL;
		long long v = -1;

		if (hit) {
			v = strtoll(hit + strlen(needle), NULL, 10);
			h->log_off = (size_t)(hit - text) + strlen(needle);
		}
		free(text);
		if (hit)
			return v;
		usleep(10 * 1000);
	}
	return -1;
}

/* the rest of the line after the next "WHAT, where the time went: " in the
 * helper's log (its timing breakdown, port-phases.h), or a copy of "?" */
static char *next_detail(struct host *h, const char *what)
{
	char needle[96];

	snprintf(needle, sizeof(needle), "%s, where the time went: ", what);
	for (int i = 0; i < 100; i++) {
		char *text = slurp(h->log), *hit = strlen(text) > h->log_off ? strstr(text + h->log_off, needle) : NULL;
		char *line = NULL;

		if (hit) {
			hit += strlen(needle);
			line = strndup(hit, strcspn(hit, "\n"));
			h->log_off = (size_t)(hit - text);
		}
		free(text);
		if (line)
			return line;
		usleep(10 * 1000);
	}
	return strdup("?");
}

/* the breakdown of the run whose time is the median of @v (unsorted) */
static const char *median_detail(const long long *v, char **detail, unsigned n)
{
	long long *sorted = malloc(n * sizeof(*sorted));
	long long med;

	memcpy(sorted, v, n * sizeof(*sorted));
	med = median(sorted, n);
	free(sorted);
	for (unsigned i = 0; i < n; i++)
		if (v[i] == med)
			return detail[i];
	return "?";
}

static void print_us(const char *what, long long *v, unsigned n, double scale)
{
	long long max = maximum(v, n), med = median(v, n);

	printf("  %-40s median %8.1f us   max %8.1f us   (%u)\n", what, (double)med / scale,
	       (double)max / scale, n);
}

/* print_us() of the helper's times, then the median one's breakdown and
 * the slowest one's */
static void print_helper_us(long long *v, char **detail, unsigned n)
{
	const char *d = median_detail(v, detail, n), *slow = "?";
	long long max = maximum(v, n);

	for (unsigned i = 0; i < n; i++)
		if (v[i] == max)
			slow = detail[i];
	print_us("  of which in the helper", v, n, 1000.0);
	printf("    the median one's breakdown: %s\n", d);
	printf("    the slowest one's breakdown: %s\n", slow);
}

static void free_details(char **detail, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(detail[i]);
	free(detail);
}

/* @function: ifcvf-emu --virtio-function, taken with generic-virtio=1 (sw) */
static void host_start(struct host *h, const char *emu, const char *helper, bool sw, bool function,
		       unsigned pps)
{
	char wire[96], port[400];

	snprintf(h->dir, sizeof(h->dir), "/tmp/ifcvf-bench-switch-XXXXXX");
	if (!mkdtemp(h->dir))
		die("mkdtemp", NULL);
	snprintf(h->emu_sock, sizeof(h->emu_sock), "%s/vf.sock", h->dir);
	snprintf(h->sock, sizeof(h->sock), "%s/vu.sock", h->dir);
	snprintf(h->stats, sizeof(h->stats), "%s/stats.json", h->dir);
	snprintf(h->log, sizeof(h->log), "%s/helper.log", h->dir);
	snprintf(wire, sizeof(wire), "gen:pps=%u,size=256", pps);
	snprintf(port, sizeof(port), "device=vfio-user:%s,socket=%s%s%s", h->emu_sock, h->sock,
		 sw ? ",sw-live-migration=1" : "", function ? ",generic-virtio=1" : "");
	h->log_off = 0;
	h->emu = bench_spawn((char *[]){ (char *)emu, "--socket", h->emu_sock, "--type", "net", "--wire",
				   wire, "--stats-file", h->stats,
				   function ? "--virtio-function" : NULL, NULL }, NULL);
	bench_wait_socket(h->emu_sock, h->emu);
	h->helper = bench_spawn((char *[]){ (char *)helper, "run", "--bus", "none", "--port", port, NULL },
			  h->log);
	bench_wait_socket(h->sock, h->helper);
}

static void host_stop(struct host *h)
{
	bench_stop(h->helper);
	bench_stop(h->emu);
	unlink(h->stats);
	unlink(h->log);
	rmdir(h->dir);
}

static unsigned long long emu_dropped(struct host *h)
{
	const char *key = "\"dropped_gen\":{\"frames\":";
	unsigned long long v = ~0ull;

	unlink(h->stats);
	kill(h->emu, SIGUSR1);
	for (int i = 0; i < 500; i++) {
		char *text = slurp(h->stats), *hit = strstr(text, key);

		if (hit)
			v = strtoull(hit + strlen(key), NULL, 10);
		free(text);
		if (hit)
			return v;
		usleep(10 * 1000);
	}
	die("no emulator stats", NULL);
	return v;
}

struct guest {
	struct vu_guest_mem mem;
	struct vu_frontend fe;
	struct virtq_drv rx, tx;
	uint64_t buf_gpa;
	uint64_t next_seq, frames, lost, dups;
	bool seq_started;
};

static void guest_vring(struct guest *g, struct virtq_drv *q, uint32_t base)
{
	struct {
		uint32_t index, num;
	} __attribute__((packed)) num = { q->index, q->size }, vbase = { q->index, base };
	struct {
		uint32_t index, flags;
		uint64_t desc, used, avail, log;
	} __attribute__((packed)) addr = { q->index, 0, (uint64_t)(uintptr_t)q->desc,
					   (uint64_t)(uintptr_t)q->used,
					   (uint64_t)(uintptr_t)q->avail, q->used_gpa };
	uint64_t kick = q->index;
	struct cerr e = { 0 };

	if (vu_frontend_request(&g->fe, VU_SET_VRING_NUM, &num, sizeof(num), NULL, 0, NULL, 0, &e) < 0 ||
	    vu_frontend_request(&g->fe, VU_SET_VRING_BASE, &vbase, sizeof(vbase), NULL, 0, NULL, 0, &e) < 0 ||
	    vu_frontend_request(&g->fe, VU_SET_VRING_ADDR, &addr, sizeof(addr), NULL, 0, NULL, 0, &e) < 0 ||
	    vu_frontend_request(&g->fe, VU_SET_VRING_KICK, &kick, sizeof(kick), &q->kickfd, 1, NULL, 0, &e) < 0 ||
	    vu_frontend_set_vring_call(&g->fe, q->index, q->callfd, &e) < 0 ||
	    vu_frontend_set_vring_enable(&g->fe, q->index, true, &e) < 0)
		die("vring setup", &e);
}

static void guest_post_all(struct guest *g)
{
	while (g->rx.num_free > 0) {
		uint16_t head = g->rx.free_head;
		struct virtq_buf b = { g->buf_gpa + (uint64_t)head * 2048, 2048, true };

		if (virtq_drv_add(&g->rx, &g->mem, &b, 1, false) < 0)
			break;
	}
	(void)virtq_drv_kick(&g->rx);
}

/* reap RX, check the generator's sequence, refill; for @ms */
static void guest_pump(struct guest *g, unsigned ms)
{
	long long end = bench_now_ns() + (long long)ms * 1000000;

	do {
		uint32_t id, len, stream;
		uint64_t seq;
		bool any = false;

		while (virtq_drv_get_used(&g->rx, &id, &len) > 0) {
			const uint8_t *f = vu_gpa(&g->mem, g->buf_gpa + (uint64_t)id * 2048) + 12;

			any = true;
			if (len < 12 || gen_frame_parse(f, len - 12, &stream, &seq) != GEN_FRAME_OK)
				continue;
			if (g->seq_started && seq > g->next_seq)
				g->lost += seq - g->next_seq;
			else if (g->seq_started && seq < g->next_seq)
				g->dups++;
			g->next_seq = seq + 1;
			g->seq_started = true;
			g->frames++;
		}
		if (any)
			guest_post_all(g);
		else
			usleep(20);
	} while (bench_now_ns() < end);
}

static void guest_connect(struct guest *g, struct host *h)
{
	struct cerr e = { 0 };

	if (vu_frontend_connect(&g->fe, h->sock, 10000, &e) < 0 ||
	    vu_frontend_handshake(&g->fe, 1ull << VU_PROTOCOL_F_REPLY_ACK |
					      1ull << VU_PROTOCOL_F_LOG_SHMFD, &e) < 0 ||
	    vu_frontend_set_features(&g->fe, F_VERSION_1 | F_PROTOCOL, &e) < 0 ||
	    vu_frontend_set_mem_table(&g->fe, &g->mem, &e) < 0 ||
	    vu_frontend_set_log_base(&g->fe, &e) < 0)
		die("frontend", &e);
	guest_vring(g, &g->rx, 0);
	guest_vring(g, &g->tx, 0);
	guest_post_all(g);
}

static long long set_log_all(struct guest *g, bool on)
{
	struct cerr e = { 0 };
	long long t0 = bench_now_ns();

	if (vu_frontend_set_features(&g->fe, F_VERSION_1 | F_PROTOCOL | (on ? F_LOG_ALL : 0), &e) < 0)
		die("SET_FEATURES", &e);
	return bench_now_ns() - t0;
}

/* Returns the helper's median direct -> relay time on an IFCVF (ns). */
static long long bench_switches(const char *emu, const char *helper, unsigned n, unsigned pps)
{
	long long sw_on_median = 0;

	for (int sw = 1; sw >= 0; sw--) {
		long long *on_fe = calloc(n, sizeof(long long)), *off_fe = calloc(n, sizeof(long long));
		long long *on_h = calloc(n, sizeof(long long)), *off_h = calloc(n, sizeof(long long));
		long long *stop_fe = calloc(n, sizeof(long long)), *stop_h = calloc(n, sizeof(long long));
		char **on_d = calloc(n, sizeof(char *)), **off_d = calloc(n, sizeof(char *));
		char **stop_d = calloc(n, sizeof(char *));
		unsigned long long dropped;
		struct cerr e = { 0 };
		struct guest g;
		struct host h;

		memset(&g, 0, sizeof(g));
		if (vu_guest_mem_init(&g.mem, MEM_SIZE, &e) < 0 ||
		    virtq_drv_init(&g.rx, &g.mem, 0, 256, false, &e) < 0 ||
		    virtq_drv_init(&g.tx, &g.mem, 1, 256, false, &e) < 0)
			die("guest", &e);
		g.buf_gpa = vu_guest_mem_alloc(&g.mem, 256 * 2048, PAGE);
		host_start(&h, emu, helper, sw, false, pps);
		guest_connect(&g, &h);
		if (next_figure(&h, "running: ") < 0)
			die("the port did not start", NULL);
		guest_pump(&g, 200);

		for (unsigned i = 0; i < n; i++) {
			on_fe[i] = set_log_all(&g, true);
			on_h[i] = next_figure(&h, "switched in ") * 1000;
			on_d[i] = next_detail(&h, sw ? "direct -> relay" : "logging on");
			guest_pump(&g, 30);
			off_fe[i] = set_log_all(&g, false);
			off_h[i] = next_figure(&h, "switched in ") * 1000;
			off_d[i] = next_detail(&h, "logging off");
			guest_pump(&g, 30);
		}
		dropped = emu_dropped(&h);

		printf("%s mode, %u switches each way, generator at %u frames/s, 256-frame FIFO:\n",
		       sw ? "sw (direct <-> relay)" : "hw (VF logging on/off)", n, pps);
		print_us(sw ? "direct -> relay, SET_FEATURES round trip" : "logging on, SET_FEATURES round trip",
			 on_fe, n, 1000.0);
		print_helper_us(on_h, on_d, n);
		if (sw)
			sw_on_median = median(on_h, n);
		print_us(sw ? "relay -> direct, SET_FEATURES round trip" : "logging off, SET_FEATURES round trip",
			 off_fe, n, 1000.0);
		print_helper_us(off_h, off_d, n);
		printf("  frames received %llu, lost at the switches %llu (gaps), duplicates %llu, "
		       "emulator dropped %llu%s\n", (unsigned long long)g.frames,
		       (unsigned long long)g.lost, (unsigned long long)g.dups, dropped,
		       g.lost || g.dups || dropped ? "   <-- FRAMES LOST" : "");

		/* GET_VRING_BASE while logging, then the guest starts the rings again */
		for (unsigned i = 0; i < n; i++) {
			uint32_t rx_base, tx_base;
			long long t0;

			set_log_all(&g, true);
			guest_pump(&g, 20);
			t0 = bench_now_ns();
			if (vu_frontend_get_vring_base(&g.fe, 0, &rx_base, &e) < 0)
				die("GET_VRING_BASE", &e);
			stop_fe[i] = bench_now_ns() - t0;
			if (vu_frontend_get_vring_base(&g.fe, 1, &tx_base, &e) < 0)
				die("GET_VRING_BASE", &e);
			stop_h[i] = next_figure(&h, "ring state handed back in ") * 1000;
			stop_d[i] = next_detail(&h, "stop");
			/* what the VF used before it stopped, then a clean start */
			guest_pump(&g, 1);
			set_log_all(&g, false);
			guest_vring(&g, &g.rx, rx_base);
			guest_vring(&g, &g.tx, tx_base);
			g.seq_started = false;   /* frames dropped while stopped are expected */
			guest_pump(&g, 20);
		}
		print_us("GET_VRING_BASE while logging, round trip", stop_fe, n, 1000.0);
		print_helper_us(stop_h, stop_d, n);
		vu_frontend_close(&g.fe);
		host_stop(&h);
		virtq_drv_fini(&g.rx);
		virtq_drv_fini(&g.tx);
		vu_guest_mem_fini(&g.mem);
		free(on_fe);
		free(off_fe);
		free(on_h);
		free(off_h);
		free(stop_fe);
		free(stop_h);
		free_details(on_d, n);
		free_details(off_d, n);
		free_details(stop_d, n);
	}
	return sw_on_median;
}

/* A plain virtio function: each round starts its rings at 0 (a driver that
 * reset its device), switches to the relay (a function reset and all of it
 * programmed again, indices translated), back (logging off, still relayed)
 * and stops. The baseline is the IFCVF's per-queue switch, measured above. */
static void bench_function_switches(const char *emu, const char *helper, unsigned n, unsigned pps,
				    long long ifcvf_on_median)
{
	long long *on_h = calloc(n, sizeof(long long)), *off_h = calloc(n, sizeof(long long));
	long long *stop_h = calloc(n, sizeof(long long));
	unsigned long long dropped, at_switches;
	struct cerr e = { 0 };
	struct guest g;
	struct host h;

	memset(&g, 0, sizeof(g));
	if (vu_guest_mem_init(&g.mem, MEM_SIZE, &e) < 0)
		die("guest", &e);
	g.buf_gpa = vu_guest_mem_alloc(&g.mem, 256 * 2048, PAGE);
	host_start(&h, emu, helper, true, true, pps);
	if (vu_frontend_connect(&g.fe, h.sock, 10000, &e) < 0 ||
	    vu_frontend_handshake(&g.fe, 1ull << VU_PROTOCOL_F_REPLY_ACK |
					     1ull << VU_PROTOCOL_F_LOG_SHMFD, &e) < 0 ||
	    vu_frontend_set_features(&g.fe, F_VERSION_1 | F_PROTOCOL, &e) < 0 ||
	    vu_frontend_set_mem_table(&g.fe, &g.mem, &e) < 0 ||
	    vu_frontend_set_log_base(&g.fe, &e) < 0)
		die("frontend", &e);
	for (unsigned i = 0; i < n; i++) {
		uint32_t base;

		/* fresh rings at index 0 */
		if (virtq_drv_init(&g.rx, &g.mem, 0, 256, false, &e) < 0 ||
		    virtq_drv_init(&g.tx, &g.mem, 1, 256, false, &e) < 0)
			die("guest rings", &e);
		guest_vring(&g, &g.rx, 0);
		guest_vring(&g, &g.tx, 0);
		if (next_figure(&h, "running: ") < 0)
			die("the port did not start", NULL);
		g.seq_started = false;   /* frames the FIFO dropped while stopped */
		guest_post_all(&g);
		guest_pump(&g, 30);
		set_log_all(&g, true);
		on_h[i] = next_figure(&h, "switched in ") * 1000;
		guest_pump(&g, 30);
		set_log_all(&g, false);
		off_h[i] = next_figure(&h, "switched in ") * 1000;
		guest_pump(&g, 30);
		if (vu_frontend_get_vring_base(&g.fe, 0, &base, &e) < 0 ||
		    vu_frontend_get_vring_base(&g.fe, 1, &base, &e) < 0)
			die("GET_VRING_BASE", &e);
		stop_h[i] = next_figure(&h, "ring state handed back in ") * 1000;
		virtq_drv_fini(&g.rx);
		virtq_drv_fini(&g.tx);
	}
	dropped = emu_dropped(&h);
	printf("plain virtio function (ifcvf-emu --virtio-function, generic-virtio=1), %u rounds, "
	       "generator at %u frames/s:\n", n, pps);
	print_us("direct -> relay (function reset), in the helper", on_h, n, 1000.0);
	print_us("logging off (stays relayed), in the helper", off_h, n, 1000.0);
	print_us("GET_VRING_BASE while relaying, in the helper", stop_h, n, 1000.0);
	if (ifcvf_on_median > 0)
		printf("  direct -> relay, plain function / IFCVF (medians, helper time): %.2f\n",
		       (double)median(on_h, n) / (double)ifcvf_on_median);
	/* the FIFO overflows while the rings are stopped between rounds; any
	 * other gap was lost at a switch */
	at_switches = g.lost > dropped ? g.lost - dropped : 0;
	printf("  frames received %llu, gaps %llu, of which the emulator's FIFO dropped %llu while "
	       "stopped between rounds: lost at the switches %llu, duplicates %llu%s\n",
	       (unsigned long long)g.frames, (unsigned long long)g.lost, dropped, at_switches,
	       (unsigned long long)g.dups, at_switches || g.dups ? "   <-- FRAMES LOST" : "");
	vu_frontend_close(&g.fe);
	host_stop(&h);
	vu_guest_mem_fini(&g.mem);
	free(on_h);
	free(off_h);
	free(stop_h);
}

int main(int argc, char **argv)
{
	unsigned n;
	unsigned pps;
	bool switches_only = false;
	long long ifcvf_on;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && !strcmp(argv[1], "--cores")) {
		bench_cores(argc > 2 ? strtod(argv[2], NULL) : 0.5,
			    argc > 3 ? (unsigned)strtoul(argv[3], NULL, 0) : 5, argc > 4 ? argv[4] : NULL);
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "--switches")) {
		/* part 2 alone, to profile the helper's switches */
		switches_only = true;
		argv++;
		argc--;
	}
	n = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 0) : 20;
	pps = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 0) : 20000;
	if (argc < 3 || n < 10) {
		fprintf(stderr, "usage: %s [--switches] IFCVF-EMU IFCVF-HELPER [SWITCHES>=10] [PPS]\n"
				"       %s --cores [SECONDS [REPEATS [ours|ranges|dpdk]]]\n", argv[0], argv[0]);
		return 2;
	}
	/* processes first: forking after DPDK's threads start is best avoided */
	ifcvf_on = bench_switches(argv[1], argv[2], n, pps);
	bench_function_switches(argv[1], argv[2], n, pps, ifcvf_on);
	if (!switches_only)
		bench_cores(0.5, 5, NULL);
	return 0;
}

/* kv-irq: MSI-X, DMA and host notifiers through kernel VFIO, seen from the
 * guest's side of a port. Run inside the kernel-vfio guest against
 * `ifcvf-helper run` whose port is a vfio-pci function. It is the frontend
 * (tests/lib: memfd guest memory at GPA 0, split rings), posts RX buffers,
 * has the host send numbered frames (--feed, like the migration test's),
 * and learns about received frames only from its RX callfd, which the VF
 * signals itself: the helper binds the VF's MSI-X vector to that eventfd
 * with VFIO_DEVICE_SET_IRQS, so nothing of ours relays it. A lost interrupt
 * leaves the wait to run out, and the check fails. Every frame must arrive
 * whole, once and in order (DMA into IOVA = GPA through the IOMMU).
 *
 * It also reads the guest's /proc/interrupts for the function's vfio-msix
 * vectors while the port still holds them.
 *
 * --host-notifier map: it negotiates HOST_NOTIFIER (+ BACKEND_REQ,
 * BACKEND_SEND_FD, REPLY_ACK), serves the backend channel, and waits for the
 * helper to hand over each vring's doorbell page (the vfio-pci device fd at
 * the notify BAR's region offset + the queue's notify offset) before its
 * first kick; every kick is then a store of the queue index into that page,
 * straight to the function, and none goes to a kickfd. --host-notifier
 * offer negotiates the same but expects no page (a function whose notify
 * multiplier puts two queues in one page): every kick goes to the kickfd,
 * which only the helper's relay carries to the function.
 *
 * --tx N sends N numbered frames (stream 8) on the TX vring first and waits
 * for the function to complete them; the host's kv-peer counts them.
 * --exec CMD runs CMD (sh -c) after the traffic, while the port still runs
 * with the pages mapped (the caller reads the helper's D-Bus there).
 *
 * --kill-helper PID (with --host-notifier map and --tx): after the traffic,
 * SIGKILL the helper, wait for the vhost-user connection to close, then do
 * what QEMU may do meanwhile, its mapping still there: post AFTER_KILL more
 * TX frames (the sequence goes on) and kick through the doorbell page. After
 * AFTER_KILL_WAIT_MS none of them may have been used: the helper's sentinel
 * stopped the function before the connection closed. The caller checks that
 * kv-peer got none of them either.
 *
 * Output: one line, "kv-irq: ..." ; exit 0 when every frame came, 1 if not,
 * 2 on bad usage. Every wait is bounded. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
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
#define NOTIFIER_WAIT_S 30      /* the helper's host-notifier messages */
#define TX_WAIT_S 30            /* the function completing what we sent */
#define TX_STREAM 8u
#define TX_BATCH 16u            /* frames per TX kick */
#define AFTER_KILL 16u          /* TX frames posted once the helper died */
#define CLOSE_WAIT_S 10         /* hang guard: the connection closing */
#define AFTER_KILL_WAIT_MS 1000 /* what a running function takes in far less */

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

/* Reap what the function completed on TX; the number reaped. */
static unsigned tx_reap(struct virtq_drv *tx)
{
	unsigned n = 0;
	uint32_t id, len;
	int r;

	while ((r = virtq_drv_get_used(tx, &id, &len)) == 1)
		n++;
	if (r < 0)
		fail("TX used ring: a used entry names no chain we posted");
	return n;
}

/* Send @count numbered frames on TX, kicking after every TX_BATCH, and wait
 * until the function completed them all (bounded). */
static void tx_post(struct virtq_drv *tx, struct vu_guest_mem *mem, uint64_t bufs, uint64_t seq)
{
	static const uint8_t dst[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 };
	/* buffer i of the pool is used by head i, as on RX */
	uint64_t gpa = bufs + (uint64_t)tx->free_head * BUF;
	struct virtq_buf b;

	memset(vu_gpa(mem, gpa), 0, HDR);
	gen_frame_build(vu_gpa(mem, gpa + HDR), FRAME, dst, TX_STREAM, seq);
	b = (struct virtq_buf){ .gpa = gpa, .len = HDR + FRAME };
	if (virtq_drv_add(tx, mem, &b, 1, false) < 0)
		fail("no free TX descriptor");
}

static void tx_send(struct virtq_drv *tx, struct vu_guest_mem *mem, uint64_t bufs, unsigned count)
{
	unsigned done = 0, queued = 0;
	time_t deadline = time(NULL) + TX_WAIT_S;

	for (unsigned i = 0; i < count; i++) {
		while (tx->num_free == 0) {
			done += tx_reap(tx);
			if (tx->num_free)
				break;
			if (time(NULL) > deadline)
				fail("TX: the function completed %u of %u frames within %d s (used idx %u)",
				     done, count, TX_WAIT_S, tx->used->idx);
			usleep(1000);
		}
		tx_post(tx, mem, bufs, i);
		if (++queued % TX_BATCH == 0 || i + 1 == count)
			(void)virtq_drv_kick(tx);
	}
	while (done < count) {
		done += tx_reap(tx);
		if (done >= count)
			break;
		if (time(NULL) > deadline)
			fail("TX: the function completed %u of %u frames within %d s (used idx %u)",
			     done, count, TX_WAIT_S, tx->used->idx);
		usleep(1000);
	}
}

/* Both vrings' doorbell pages mapped, within NOTIFIER_WAIT_S. */
static void wait_notifiers(struct vu_frontend *fe)
{
	unsigned long long mapped = 0;
	unsigned installs, refusals;

	for (int i = 0; i < NOTIFIER_WAIT_S * 100; i++) {
		if ((mapped = vu_frontend_notifiers(fe)) == 0x3)
			return;
		usleep(10 * 1000);
	}
	pthread_mutex_lock(&fe->hn_lock);
	installs = fe->hn_installs;
	refusals = fe->hn_refusals;
	pthread_mutex_unlock(&fe->hn_lock);
	fail("the helper did not hand over both doorbell pages within %d s (mapped 0x%llx, %u installed, %u refused)",
	     NOTIFIER_WAIT_S, mapped, installs, refusals);
}

static void fact(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The helper SIGKILLed under traffic with the pages mapped: once the
 * connection closed, AFTER_KILL more TX frames kicked through the page
 * must stay unused. */
static void kill_helper(struct vu_frontend *fe, struct virtq_drv *tx, struct vu_guest_mem *mem,
			uint64_t bufs, unsigned n_tx, pid_t helper)
{
	struct pollfd p = { .fd = fe->sock, .events = POLLIN };
	uint16_t used_before = __atomic_load_n(&tx->used->idx, __ATOMIC_ACQUIRE), used_after;
	char buf[256];
	ssize_t n = 1;
	int r;

	if (!vu_frontend_notifiers(fe))
		fail("--kill-helper: no doorbell page mapped");
	if (kill(helper, SIGKILL) < 0)
		fail("cannot kill the helper (pid %d): %s", (int)helper, strerror(errno));
	/* the vhost-user connection closing is what QEMU acts on */
	while (n > 0) {
		r = poll(&p, 1, CLOSE_WAIT_S * 1000);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			fail("the vhost-user connection is still open %d s after the helper was killed",
			     CLOSE_WAIT_S);
		n = read(fe->sock, buf, sizeof(buf));
	}
	for (unsigned i = 0; i < AFTER_KILL; i++)
		tx_post(tx, mem, bufs, n_tx + i);
	__atomic_store_n(&tx->avail->idx, tx->avail_idx, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	/* on the page whatever the used flags say: a kick the function
	 * would take if it still ran */
	if (vu_frontend_kick(fe, tx->index, tx->kickfd) != 1)
		fail("the kick after the helper died did not go to the doorbell page");
	usleep(AFTER_KILL_WAIT_MS * 1000);
	used_after = __atomic_load_n(&tx->used->idx, __ATOMIC_ACQUIRE);
	if (used_after != used_before)
		fail("after the helper was killed and its connection closed, the function still used "
		     "%u of the %u TX entries posted and kicked through the doorbell page (used idx "
		     "%u -> %u)", (unsigned)(uint16_t)(used_after - used_before), AFTER_KILL,
		     used_before, used_after);
	fact("helper killed, its connection closed; %u more TX frames kicked through the doorbell "
	     "page: none used within %d ms (used idx stays %u)", AFTER_KILL, AFTER_KILL_WAIT_MS,
	     used_before);
}

/* The output line's facts, "; " between them. */
static char facts[1536];

static void fact(const char *fmt, ...)
{
	size_t n = strlen(facts);
	va_list ap;

	if (n && n + 2 < sizeof(facts)) {
		strcpy(facts + n, "; ");
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(facts + n, sizeof(facts) - n, fmt, ap);
	va_end(ap);
}

static void usage(void)
{
	fputs("usage: kv-irq --socket PATH --helper-log FILE [--frames N --feed CMD --bdf DDDD:BB:DD.F]\n"
	      "              [--tx N] [--host-notifier map|offer] [--exec CMD] [--kill-helper PID]\n",
	      stderr);
	exit(2);
}

enum hn_want { HN_NONE, HN_MAP, HN_OFFER };

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "helper-log", required_argument, NULL, 'l' },
		{ "feed", required_argument, NULL, 'f' },
		{ "bdf", required_argument, NULL, 'b' },
		{ "frames", required_argument, NULL, 'n' },
		{ "tx", required_argument, NULL, 't' },
		{ "host-notifier", required_argument, NULL, 'H' },
		{ "exec", required_argument, NULL, 'x' },
		{ "kill-helper", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *log = NULL, *feed = NULL, *bdf = NULL, *exec_cmd = NULL;
	unsigned frames = 300, n_tx = 0, got = 0, calls = 0;
	pid_t kill_pid = 0;
	enum hn_want hn = HN_NONE;
	struct vu_guest_mem mem;
	struct vu_frontend fe;
	struct virtq_drv rx, tx;
	struct cerr ce = { 0 };
	unsigned long long irqs = 0;
	uint64_t bufs, tx_bufs, next_seq = 0, protocol;
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
		case 't': n_tx = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'x': exec_cmd = optarg; break;
		case 'k': kill_pid = (pid_t)strtol(optarg, NULL, 10); break;
		case 'H':
			if (strcmp(optarg, "map") == 0)
				hn = HN_MAP;
			else if (strcmp(optarg, "offer") == 0)
				hn = HN_OFFER;
			else
				usage();
			break;
		default: usage();
		}
	}
	if (!sock || !log || optind != argc || (frames && (!feed || !bdf)) || (!frames && !n_tx) ||
	    (kill_pid && (hn != HN_MAP || !n_tx || kill_pid < 2)))
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	log_from = log_size(log);

	check(vu_guest_mem_init(&mem, MEM_SIZE, &ce), &ce, "guest memory");
	bufs = vu_guest_mem_alloc(&mem, (uint64_t)QSIZE * BUF, 4096);
	tx_bufs = vu_guest_mem_alloc(&mem, (uint64_t)QSIZE * BUF, 4096);
	if (!bufs || !tx_bufs)
		fail("guest memory: no room for %u buffers per vring", QSIZE);
	check(virtq_drv_init(&rx, &mem, 0, QSIZE, false, &ce), &ce, "RX ring");
	check(virtq_drv_init(&tx, &mem, 1, QSIZE, false, &ce), &ce, "TX ring");

	check(vu_frontend_connect(&fe, sock, 10000, &ce), &ce, "connect");
	protocol = 1ull << VU_PROTOCOL_F_REPLY_ACK;
	if (hn != HN_NONE)
		protocol |= 1ull << VU_PROTOCOL_F_BACKEND_REQ | 1ull << VU_PROTOCOL_F_BACKEND_SEND_FD |
			    1ull << VU_PROTOCOL_F_HOST_NOTIFIER;
	check(vu_frontend_handshake(&fe, protocol, &ce), &ce, "handshake");
	if ((fe.protocol_features & protocol) != protocol)
		fail("the port does not offer the protocol features asked for (offered 0x%llx, asked 0x%llx)",
		     (unsigned long long)fe.protocol_features, (unsigned long long)protocol);
	if (hn != HN_NONE) {
		check(vu_frontend_set_backend_req(&fe, 0, &ce), &ce, "SET_BACKEND_REQ_FD");
		check(vu_frontend_serve_backend(&fe, VU_NOTIFIER_ACCEPT, &ce), &ce,
		      "serve the backend channel");
		vu_frontend_kick_through(&fe, &rx);
		vu_frontend_kick_through(&fe, &tx);
	}
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
	/* no kick before the pages are there: it would take the kickfd */
	if (hn == HN_MAP)
		wait_notifiers(&fe);

	/* interrupts on (avail flags 0, no EVENT_IDX): one per used batch */
	virtq_drv_enable_interrupts(&rx);
	for (unsigned i = 0; i < POSTED; i++)
		post(&rx, &mem, bufs);
	(void)virtq_drv_kick(&rx);

	if (n_tx) {
		tx_send(&tx, &mem, tx_bufs, n_tx);
		fact("%u frames sent on TX and completed by the function", n_tx);
	}

	if (frames) {
		snprintf(cmd, sizeof(cmd), "%s %u %u %u", feed, frames, STREAM, FRAME);
		st = system(cmd);
		if (st != 0)
			fail("'%s' failed (status 0x%x)", cmd, st);
	}

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
	if (frames) {
		irqs = msix_interrupts(bdf);
		if (irqs == 0)
			fail("%u frames came with %u callfd signals, but /proc/interrupts shows no vfio-msix interrupt for %s",
			     got, calls, bdf);
		fact("%u frames whole and in order, woken %u times by the RX callfd; "
		     "%llu vfio-msix interrupts on %s", got, calls, irqs, bdf);
	}

	if (hn != HN_NONE) {
		uint64_t kicks = rx.kicks + tx.kicks, mapped = vu_frontend_notifiers(&fe);

		pthread_mutex_lock(&fe.hn_lock);
		if (hn == HN_MAP) {
			/* every kick a store into a page, on both vrings: QEMU's
			 * virtio-net wants RX kicks until it has seen buffers
			 * (used flags 0 in a fresh ring), so the first RX post
			 * is always kicked */
			if (mapped != 0x3 || !rx.kicks || !tx.kicks || fe.hn_doorbells != kicks)
				fail("host notifiers: pages mapped 0x%llx; kicks RX %llu TX %llu, of them %llu on a doorbell page",
				     (unsigned long long)mapped, (unsigned long long)rx.kicks,
				     (unsigned long long)tx.kicks, (unsigned long long)fe.hn_doorbells);
			if (strcmp(fe.hn_fd_kind[0], "anon_inode:[vfio-device]") ||
			    strcmp(fe.hn_fd_kind[1], "anon_inode:[vfio-device]"))
				fail("host notifiers: the pages came from '%s' and '%s', not a vfio device fd",
				     fe.hn_fd_kind[0], fe.hn_fd_kind[1]);
			fact("doorbell pages of vrings 0 and 1 mapped from the helper's %s at 0x%llx and 0x%llx; "
			     "all %llu kicks (RX %llu, TX %llu) stored there, none on a kickfd",
			     fe.hn_fd_kind[0], (unsigned long long)fe.hn_offset[0],
			     (unsigned long long)fe.hn_offset[1], (unsigned long long)kicks,
			     (unsigned long long)rx.kicks, (unsigned long long)tx.kicks);
		} else {
			/* no page: the kicks went to the kickfd, the relay's */
			if (mapped || fe.hn_installs || fe.hn_doorbells || !kicks)
				fail("host notifiers: pages mapped 0x%llx (%u installed), %llu of %llu kicks on a page; expected none",
				     (unsigned long long)mapped, fe.hn_installs,
				     (unsigned long long)fe.hn_doorbells, (unsigned long long)kicks);
			fact("no doorbell page handed over; all %llu kicks (RX %llu, TX %llu) on the kickfds",
			     (unsigned long long)kicks, (unsigned long long)rx.kicks,
			     (unsigned long long)tx.kicks);
		}
		pthread_mutex_unlock(&fe.hn_lock);
	}
	if (exec_cmd) {
		st = system(exec_cmd);
		if (st != 0)
			fail("'%s' failed (status 0x%x)", exec_cmd, st);
	}
	if (kill_pid)
		kill_helper(&fe, &tx, &mem, tx_bufs, n_tx, kill_pid);
	printf("kv-irq: %s\n", facts);
	vu_frontend_close(&fe);
	virtq_drv_fini(&rx);
	virtq_drv_fini(&tx);
	vu_guest_mem_fini(&mem);
	return 0;
}

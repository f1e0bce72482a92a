/* bench/restart-roles: kill -9 to traffic, for each vhost-user role (issue 18).
 *
 *   restart-roles EMU HELPER [KILLS]    (default 10 kills per role)
 *
 * One port: ifcvf-emu (net, one queue pair, loop wire), `ifcvf-helper run
 * --bus none`, and the test frontend of tests/lib as the guest. Each round
 * the helper is killed with SIGKILL while the port runs; this program then
 * does what a supervisor does (reap, wait RestartSec=100ms as the hook's
 * unit and supervisor do for a first failure, start it again) and what
 * QEMU 7.2 does as frontend for each role:
 *
 *   server  the helper listens, the frontend connects with QEMU's
 *           `reconnect=1`: a first attempt 1 s after the hang-up, then one
 *           every second until one succeeds (chardev socket reconnect timer)
 *   client  the frontend listens the whole time (QEMU `server=on`), the
 *           helper connects (`client` port key) as soon as it starts
 *
 * then sets the port up again from the guest's truth (SET_VRING_BASE = the
 * used index in guest memory, as QEMU does after a broken connection) and
 * sends one frame. The figure per round is the time from the SIGKILL to
 * that frame back on RX through the loop. Prints each round and, per role,
 * the median and the maximum. Not a test: nothing passes or fails on the
 * figures; a round that gets no traffic within 20 s ends the run. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-proc.h"
#include "virtq-drv.h"
#include "vu-frontend.h"

#define MEM_SIZE (4u << 20)
#define QSIZE 64u
#define BUF 2048u
#define HDR 12u
#define FRAME 64u
#define RESTART_SEC_NS 100000000LL     /* the unit's RestartSec=100ms */
#define RECONNECT_NS 1000000000LL      /* QEMU reconnect=1 */
#define ROUND_LIMIT_NS 20000000000LL
#define MAX_KILLS 100

#define F_PROTOCOL 30
#define F_VERSION_1 32

typedef struct {
	const char *emu_path, *helper_path;
	char dir[64];
	char vf[96], sock[96], log[96];
	pid_t emu, helper;
	bool client;              /* the helper's role: client of a listening frontend */
	int lsock;                /* the frontend's listening socket (client role) */
	struct vu_guest_mem mem;
	struct vu_frontend fe;
	struct virtq_drv q[2];    /* RX 0, TX 1 */
	uint64_t bufs;
	uint8_t tag;
} Bench;

static void die(const char *what, const struct cerr *ce)
{
	fprintf(stderr, "restart-roles: %s: %s\n", what, ce ? ce->msg : strerror(errno));
	exit(1);
}

static void start_helper(Bench *b)
{
	char spec[256];
	char *argv[] = { (char *)b->helper_path, "run", "--bus", "none", "--port", spec, NULL };

	snprintf(spec, sizeof(spec), "device=vfio-user:%s,socket=%s%s", b->vf, b->sock,
		 b->client ? ",client" : "");
	b->helper = bench_spawn(argv, b->log);
}

/* the frontend's end, as QEMU's chardev gets it for the role */
static void frontend_connect(Bench *b, long long hangup_ns)
{
	struct cerr ce = { 0 };

	memset(&b->fe, 0, sizeof(b->fe));
	b->fe.sock = b->fe.log_fd = b->fe.backend_fd = b->fe.backend_peer = -1;
	b->fe.timeout_ms = 10000;
	if (b->client) {
		struct pollfd p = { .fd = b->lsock, .events = POLLIN };

		if (poll(&p, 1, (int)(ROUND_LIMIT_NS / 1000000)) != 1)
			die("no helper connected within 20 s", NULL);
		if ((b->fe.sock = accept4(b->lsock, NULL, NULL, SOCK_CLOEXEC)) < 0)
			die("accept", NULL);
		return;
	}
	/* QEMU's reconnect timer: every RECONNECT_NS after the hang-up */
	for (long long at = hangup_ns + RECONNECT_NS;; at += RECONNECT_NS) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		long long now = bench_now_ns();

		if (at - hangup_ns > ROUND_LIMIT_NS)
			die("the helper did not listen again within 20 s", NULL);
		if (at > now)
			usleep((useconds_t)((at - now) / 1000));
		strcpy(sa.sun_path, b->sock);
		b->fe.sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(b->fe.sock, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return;
		close(b->fe.sock);
		b->fe.sock = -1;
	}
	(void)ce;
}

/* the port set up from the guest's truth, every vring enabled, DRIVER_OK */
static void frontend_setup(Bench *b)
{
	uint64_t want = 1ull << F_VERSION_1 | 1ull << F_PROTOCOL;
	struct cerr ce = { 0 };

	if (vu_frontend_handshake(&b->fe, 1ull << VU_PROTOCOL_F_REPLY_ACK |
						  1ull << VU_PROTOCOL_F_STATUS, &ce) < 0 ||
	    vu_frontend_set_features(&b->fe, want, &ce) < 0 ||
	    vu_frontend_set_mem_table(&b->fe, &b->mem, &ce) < 0)
		die("handshake", &ce);
	for (unsigned i = 0; i < 2; i++)
		if (vu_frontend_setup_vring(&b->fe, &b->q[i], &ce) < 0)
			die("vring", &ce);
	for (unsigned i = 0; i < 2; i++)
		if (vu_frontend_set_vring_enable(&b->fe, i, true, &ce) < 0)
			die("enable", &ce);
	if (vu_frontend_set_status(&b->fe, 0x0f, &ce) < 0)
		die("SET_STATUS", &ce);
}

/* one frame out on TX and back on RX through the loop wire */
static void one_frame(Bench *b, long long t0)
{
	struct virtq_drv *rx = &b->q[0], *tx = &b->q[1];
	struct virtq_buf rb = { b->bufs + (uint64_t)rx->free_head * BUF, BUF, true };
	uint64_t tgpa = b->bufs + (uint64_t)(QSIZE + tx->free_head) * BUF;
	struct virtq_buf tb = { tgpa, HDR + FRAME, false };
	uint8_t *f = vu_gpa(&b->mem, tgpa);
	uint32_t id, len;
	bool got_rx = false, got_tx = false;

	memset(f, 0, HDR + FRAME);
	memset(f + HDR, 0xff, 6);
	f[HDR + 6] = 0x02;
	f[HDR + 12] = 0x88;
	f[HDR + 13] = 0xb5;
	f[HDR + 14] = ++b->tag;
	if (virtq_drv_add(rx, &b->mem, &rb, 1, false) < 0 || virtq_drv_add(tx, &b->mem, &tb, 1, false) < 0)
		die("no free descriptor", NULL);
	(void)virtq_drv_kick(rx);
	(void)virtq_drv_kick(tx);
	while (!got_rx || !got_tx) {
		if (!got_tx && virtq_drv_get_used(tx, &id, &len) == 1)
			got_tx = true;
		if (!got_rx && virtq_drv_get_used(rx, &id, &len) == 1) {
			const uint8_t *back = vu_gpa(&b->mem, b->bufs + (uint64_t)id * BUF);

			if (back[HDR + 14] != b->tag)
				die("a frame came back that was not the one sent", NULL);
			got_rx = true;
		}
		if (bench_now_ns() - t0 > ROUND_LIMIT_NS)
			die("no frame back within 20 s", NULL);
		usleep(50);
	}
}

static void run_role(Bench *b, bool client, unsigned kills)
{
	long long ms[MAX_KILLS];
	struct cerr ce = { 0 };
	const char *role = client ? "client (QEMU server=on)" : "server (QEMU reconnect=1)";

	b->client = client;
	if (client) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		strcpy(sa.sun_path, b->sock);
		(void)unlink(b->sock);
		b->lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (b->lsock < 0 || bind(b->lsock, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    listen(b->lsock, 1) < 0)
			die("listen", NULL);
	}
	start_helper(b);
	if (!client)
		bench_wait_socket(b->sock, b->helper);
	frontend_connect(b, bench_now_ns() - RECONNECT_NS);
	frontend_setup(b);
	one_frame(b, bench_now_ns());
	for (unsigned k = 0; k < kills; k++) {
		long long t0, hangup;
		char c;

		/* a running port for a while, as a VM's would be */
		usleep(300 * 1000);
		t0 = bench_now_ns();
		kill(b->helper, SIGKILL);
		/* QEMU sees the hang-up on its socket at once */
		(void)read(b->fe.sock, &c, 1);
		hangup = bench_now_ns();
		vu_frontend_close(&b->fe);
		/* the supervisor: reaped, RestartSec, started again */
		waitpid(b->helper, NULL, 0);
		usleep((useconds_t)(RESTART_SEC_NS / 1000));
		start_helper(b);
		frontend_connect(b, hangup);
		frontend_setup(b);
		one_frame(b, t0);
		ms[k] = (bench_now_ns() - t0) / 1000000;
		printf("helper as %s: kill %u: traffic back after %lld ms\n", role, k + 1, ms[k]);
		fflush(stdout);
	}
	qsort(ms, kills, sizeof(ms[0]), bench_cmp_ll);
	printf("helper as %-26s kill -9 to traffic over %u kills: median %lld ms, max %lld ms\n",
	       role, kills, kills % 2 ? ms[kills / 2] : (ms[kills / 2 - 1] + ms[kills / 2]) / 2,
	       ms[kills - 1]);
	fflush(stdout);
	vu_frontend_close(&b->fe);
	bench_stop(b->helper);
	if (client) {
		close(b->lsock);
		(void)unlink(b->sock);
	}
	(void)ce;
}

int main(int argc, char **argv)
{
	Bench b = { 0 };
	struct cerr ce = { 0 };
	unsigned kills = argc > 3 ? (unsigned)atoi(argv[3]) : 10;

	if (argc < 3 || kills < 1 || kills > MAX_KILLS) {
		fprintf(stderr, "usage: restart-roles EMU HELPER [KILLS (1..%d)]\n", MAX_KILLS);
		return 2;
	}
	b.emu_path = argv[1];
	b.helper_path = argv[2];
	strcpy(b.dir, "/tmp/ifcvf-roles-XXXXXX");
	if (!mkdtemp(b.dir))
		die("mkdtemp", NULL);
	snprintf(b.vf, sizeof(b.vf), "%s/vf.sock", b.dir);
	snprintf(b.sock, sizeof(b.sock), "%s/vhost.sock", b.dir);
	snprintf(b.log, sizeof(b.log), "%s/helper.log", b.dir);
	{
		char *eargv[] = { (char *)b.emu_path, "--socket", b.vf, "--type", "net",
				  "--wire", "loop", NULL };
		char elog[128];

		snprintf(elog, sizeof(elog), "%s/emu.log", b.dir);
		b.emu = bench_spawn(eargv, elog);
		bench_wait_socket(b.vf, b.emu);
	}
	if (vu_guest_mem_init(&b.mem, MEM_SIZE, &ce) < 0)
		die("guest memory", &ce);
	b.bufs = vu_guest_mem_alloc(&b.mem, 2ull * QSIZE * BUF, 4096);
	for (unsigned i = 0; i < 2; i++)
		if (virtq_drv_init(&b.q[i], &b.mem, i, QSIZE, false, &ce) < 0)
			die("vring", &ce);
	run_role(&b, true, kills);
	run_role(&b, false, kills);
	for (unsigned i = 0; i < 2; i++)
		virtq_drv_fini(&b.q[i]);
	vu_guest_mem_fini(&b.mem);
	bench_stop(b.emu);
	printf("logs in %s\n", b.dir);
	return 0;
}

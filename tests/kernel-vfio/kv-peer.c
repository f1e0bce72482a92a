/* kv-peer: the host end of the kernel-vfio guest's wire and its control line.
 *
 * The guest's QEMU puts the VF's frames on a UDP socket on host loopback
 * (-netdev socket,udp=...); this program owns the other end. It counts what
 * the VF sends (testpmd's txonly frames are IPv4/UDP) and sends frames to
 * the VF when the guest asks for them: plain frames for testpmd's rxonly, or
 * ifcvf-emu's numbered generator frames (gen-frame.h) for the live-migration
 * test, which checks their sequence.
 *
 * A frame the VF has no buffer for waits in QEMU's socket: QEMU stops reading
 * it until the guest posts buffers, so the only place a frame can be lost is
 * that socket's receive buffer. The peer therefore sends only while the
 * socket's queue (rx_queue in /proc/net/udp) is below a quarter of its size,
 * however slowly the guest takes them, and reports the socket's drop counter.
 *
 * The control line is the guest's second serial port (a QEMU chardev that
 * connects to --ctl). One command per line, one reply per line:
 *   hello                    -> hello
 *   tx-reset                 -> ok            (restart the transmit count)
 *   tx-count                 -> tx-count N    (IPv4/UDP frames from the VF)
 *   gen-watch STREAM         -> ok            (count the VF's generator frames
 *                                              of STREAM from sequence 0 on)
 *   gen-count                -> gen-count N bad B  (N whole and in order;
 *                                              B corrupt, lost or repeated)
 *   send plain N SIZE        -> ok            (N frames of SIZE bytes)
 *   send gen N STREAM SIZE   -> ok            (sequence numbers 0..N-1)
 *   pending                  -> pending N drops D
 *   flush                    -> flushed N     (forget N frames not sent yet)
 *   device_del ID            -> ok            (QMP device_del of QEMU's device ID,
 *                                              through --qmp-tool on --qmp; the
 *                                              guest then sees the removal)
 * The peer ends when QEMU closes the control line, or after --timeout. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gen-frame.h"

#define MAX_FRAME 1514u
#define BATCH 16u                 /* frames sent per look at the queue */
#define POLL_MS 5                 /* how often a blocked sender looks again */

static const uint8_t vf_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

struct peer {
	int udp;
	int listen_fd;
	int ctl;
	uint16_t peer_port;
	uint16_t qemu_port;
	struct sockaddr_in qemu;
	char line[256];
	size_t line_len;
	/* what the guest asked for and has not been sent yet */
	bool gen;
	uint32_t stream;
	uint64_t next_seq;
	uint64_t to_send;
	unsigned size;
	/* counters */
	uint64_t tx_frames;        /* since tx-reset */
	uint64_t tx_total;
	uint64_t other_frames;
	/* generator frames the VF sends (gen-watch): of one stream */
	bool watching;
	uint32_t watch_stream;
	uint64_t watch_next;       /* the next sequence number expected */
	uint64_t watch_bad;
	uint64_t sent_plain;
	uint64_t sent_gen;
	unsigned long qemu_drops;  /* last seen on QEMU's socket */
	unsigned long rcvbuf;
};

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("kv-peer: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int udp_bound(uint16_t port, uint16_t *ret_port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		die("cannot bind a UDP socket on 127.0.0.1: %s", strerror(errno));
	*ret_port = ntohs(a.sin_port);
	return fd;
}

/* rx_queue (bytes) and drops of the UDP socket bound to 127.0.0.1:@port;
 * false when there is none (QEMU not up yet, or gone). */
static bool qemu_socket_queue(uint16_t port, unsigned long *ret_queue, unsigned long *ret_drops)
{
	FILE *f = fopen("/proc/net/udp", "re");
	char buf[512];
	bool found = false;

	if (!f)
		die("cannot read /proc/net/udp: %s", strerror(errno));
	while (fgets(buf, sizeof(buf), f)) {
		unsigned addr, lport, tx, rx;
		unsigned long drops;
		char rest[400];

		/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref ptr drops */
		if (sscanf(buf, " %*u: %8X:%4X %*8X:%*4X %*2X %8X:%8X %399[^\n]", &addr, &lport,
			   &tx, &rx, rest) != 5)
			continue;
		if (lport != port || addr != 0x0100007fu)
			continue;
		{
			const char *last = strrchr(rest, ' ');

			drops = strtoul(last ? last + 1 : rest, NULL, 10);
		}
		*ret_queue = rx;
		*ret_drops = drops;
		found = true;
		break;
	}
	fclose(f);
	return found;
}

static void reply(struct peer *p, const char *fmt, ...)
{
	char out[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, sizeof(out) - 1, fmt, ap);
	va_end(ap);
	out[n++] = '\n';
	if (write(p->ctl, out, (size_t)n) != n)
		die("cannot answer on the control line: %s", strerror(errno));
}

static const char *qmp_tool, *qmp_socket;

/* QMP device_del of @id: qmp-tool SOCKET device_del {"id": ID}; 0 when it
 * succeeded (the tool's own socket time-out bounds the wait) */
static int device_del(const char *id)
{
	char args[160];
	pid_t pid;
	int st;

	if (!qmp_tool || !qmp_socket)
		return -1;
	snprintf(args, sizeof(args), "{\"id\": \"%s\"}", id);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execl(qmp_tool, qmp_tool, qmp_socket, "device_del", args, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void command(struct peer *p, char *cmd)
{
	char id[64];
	unsigned long long n = 0;
	unsigned stream = 0, size = 0;
	unsigned long queue = 0, drops = 0;

	if (strcmp(cmd, "hello") == 0) {
		reply(p, "hello");
	} else if (strcmp(cmd, "tx-reset") == 0) {
		p->tx_frames = 0;
		reply(p, "ok");
	} else if (strcmp(cmd, "tx-count") == 0) {
		reply(p, "tx-count %llu", (unsigned long long)p->tx_frames);
	} else if (sscanf(cmd, "gen-watch %u", &stream) == 1) {
		p->watching = true;
		p->watch_stream = stream;
		p->watch_next = 0;
		p->watch_bad = 0;
		reply(p, "ok");
	} else if (strcmp(cmd, "gen-count") == 0) {
		reply(p, "gen-count %llu bad %llu", (unsigned long long)p->watch_next,
		      (unsigned long long)p->watch_bad);
	} else if (sscanf(cmd, "send plain %llu %u", &n, &size) == 2 ||
		   sscanf(cmd, "send gen %llu %u %u", &n, &stream, &size) == 3) {
		if (p->to_send)
			return reply(p, "error %llu frames are still to be sent",
				     (unsigned long long)p->to_send);
		if (size < GEN_FRAME_HDR_LEN || size > MAX_FRAME)
			return reply(p, "error frame size %u is not %u..%u", size, GEN_FRAME_HDR_LEN,
				     MAX_FRAME);
		p->gen = strncmp(cmd, "send gen", 8) == 0;
		p->stream = stream;
		p->next_seq = 0;
		p->to_send = n;
		p->size = size;
		reply(p, "ok");
	} else if (sscanf(cmd, "device_del %63[A-Za-z0-9_-]", id) == 1) {
		if (device_del(id) < 0)
			return reply(p, "error device_del %s failed (--qmp-tool/--qmp given?)", id);
		reply(p, "ok");
	} else if (strcmp(cmd, "flush") == 0) {
		reply(p, "flushed %llu", (unsigned long long)p->to_send);
		p->to_send = 0;
	} else if (strcmp(cmd, "pending") == 0) {
		if (qemu_socket_queue(p->qemu_port, &queue, &drops))
			p->qemu_drops = drops;
		reply(p, "pending %llu drops %lu", (unsigned long long)p->to_send, p->qemu_drops);
	} else {
		reply(p, "error unknown command '%.64s'", cmd);
	}
}

static bool read_ctl(struct peer *p)
{
	char buf[256];
	ssize_t n = read(p->ctl, buf, sizeof(buf));

	if (n == 0)
		return false;
	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	for (ssize_t i = 0; i < n; i++) {
		char c = buf[i];

		if (c == '\r')
			continue;
		if (c != '\n') {
			if (p->line_len < sizeof(p->line) - 1)
				p->line[p->line_len++] = c;
			continue;
		}
		p->line[p->line_len] = '\0';
		p->line_len = 0;
		if (p->line[0])
			command(p, p->line);
	}
	return true;
}

static void read_udp(struct peer *p)
{
	uint8_t buf[2048];
	ssize_t n;

	while ((n = recv(p->udp, buf, sizeof(buf), MSG_DONTWAIT)) >= 0) {
		uint32_t stream = 0;
		uint64_t seq = 0;
		enum gen_frame_kind k;

		if (n >= 14 && buf[12] == 0x08 && buf[13] == 0x00) {
			p->tx_frames++;
			p->tx_total++;
			continue;
		}
		p->other_frames++;
		k = gen_frame_parse(buf, (size_t)n, &stream, &seq);
		if (!p->watching || k == GEN_FRAME_FOREIGN || stream != p->watch_stream)
			continue;
		if (k == GEN_FRAME_OK && seq == p->watch_next)
			p->watch_next++;
		else
			p->watch_bad++;
	}
}

static void build(struct peer *p, uint8_t *buf)
{
	if (p->gen) {
		gen_frame_build(buf, p->size, vf_mac, p->stream, p->next_seq);
		return;
	}
	memset(buf, 0, p->size);
	memcpy(buf, vf_mac, 6);
	memcpy(buf + 6, (const uint8_t[]){ 0x02, 0, 0, 0, 0, 1 }, 6);
	buf[12] = 0x88;   /* IEEE local experimental 2: 0x88b6 */
	buf[13] = 0xb6;
	gen_put_be(buf + 14, p->next_seq, 8);
}

/* Send while QEMU's socket has room; returns true when blocked on it. */
static bool send_some(struct peer *p)
{
	unsigned long queue, drops;
	uint8_t buf[MAX_FRAME];

	if (!p->to_send)
		return false;
	if (!qemu_socket_queue(p->qemu_port, &queue, &drops))
		return true;
	p->qemu_drops = drops;
	if (queue >= p->rcvbuf / 4)
		return true;
	for (unsigned i = 0; i < BATCH && p->to_send; i++) {
		build(p, buf);
		if (sendto(p->udp, buf, p->size, 0, (struct sockaddr *)&p->qemu, sizeof(p->qemu)) !=
		    (ssize_t)p->size)
			die("cannot send to 127.0.0.1:%u: %s", p->qemu_port, strerror(errno));
		p->next_seq++;
		p->to_send--;
		if (p->gen)
			p->sent_gen++;
		else
			p->sent_plain++;
	}
	return p->to_send > 0;
}

static unsigned long read_rcvbuf(void)
{
	FILE *f = fopen("/proc/sys/net/core/rmem_default", "re");
	unsigned long v = 0;

	if (!f || fscanf(f, "%lu", &v) != 1 || v < 65536)
		die("cannot read net.core.rmem_default (the size of QEMU's socket buffer)");
	fclose(f);
	return v;
}

static void usage(void)
{
	fputs("usage: kv-peer --ctl SOCKET --ports FILE --report FILE [--timeout S]\n"
	      "               [--qmp-tool QMP.PY --qmp SOCKET]\n", stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ctl", required_argument, NULL, 'c' },
		{ "ports", required_argument, NULL, 'p' },
		{ "report", required_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' },
		{ "qmp-tool", required_argument, NULL, 'q' },
		{ "qmp", required_argument, NULL, 'Q' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ctl_path = NULL, *ports_path = NULL, *report_path = NULL;
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct peer p = { .ctl = -1 };
	long long deadline;
	unsigned long queue = 0, drops = 0;
	int timeout_s = 600, c, tmp;
	FILE *f;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': ctl_path = optarg; break;
		case 'p': ports_path = optarg; break;
		case 'r': report_path = optarg; break;
		case 't': timeout_s = atoi(optarg); break;
		case 'q': qmp_tool = optarg; break;
		case 'Q': qmp_socket = optarg; break;
		default: usage();
		}
	}
	if (!ctl_path || !ports_path || !report_path || timeout_s <= 0 || optind != argc)
		usage();
	if (strlen(ctl_path) >= sizeof(un.sun_path))
		die("control socket path %s is too long", ctl_path);
	signal(SIGPIPE, SIG_IGN);
	p.rcvbuf = read_rcvbuf();

	p.udp = udp_bound(0, &p.peer_port);
	/* the VF's frames must not be lost here either (root may exceed rmem_max) */
	{
		int big = 8 << 20;

		if (setsockopt(p.udp, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0)
			(void)setsockopt(p.udp, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	}
	/* a free port for QEMU's end: taken and given back at once */
	tmp = udp_bound(0, &p.qemu_port);
	close(tmp);
	p.qemu = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(p.qemu_port),
				       .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	memcpy(un.sun_path, ctl_path, strlen(ctl_path) + 1);
	p.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (p.listen_fd < 0 || bind(p.listen_fd, (struct sockaddr *)&un, sizeof(un)) < 0 ||
	    listen(p.listen_fd, 1) < 0)
		die("cannot listen on %s: %s", ctl_path, strerror(errno));
	f = fopen(ports_path, "we");
	if (!f || fprintf(f, "%u %u\n", p.peer_port, p.qemu_port) < 0 || fclose(f) != 0)
		die("cannot write %s", ports_path);

	deadline = now_ms() + (long long)timeout_s * 1000;
	for (;;) {
		struct pollfd fds[2] = {
			{ .fd = p.udp, .events = POLLIN },
			{ .fd = p.ctl >= 0 ? p.ctl : p.listen_fd, .events = POLLIN },
		};
		bool blocked = send_some(&p);
		long long left = deadline - now_ms();

		if (left <= 0) {
			fprintf(stderr, "kv-peer: still running after %d s, giving up\n", timeout_s);
			break;
		}
		if (poll(fds, 2, blocked ? POLL_MS : (int)(left < 1000 ? left : 1000)) < 0 &&
		    errno != EINTR)
			die("poll: %s", strerror(errno));
		if (fds[0].revents & POLLIN)
			read_udp(&p);
		if (qemu_socket_queue(p.qemu_port, &queue, &drops))
			p.qemu_drops = drops;
		if (!(fds[1].revents & (POLLIN | POLLHUP)))
			continue;
		if (p.ctl < 0) {
			p.ctl = accept4(p.listen_fd, NULL, NULL, SOCK_CLOEXEC);
			if (p.ctl < 0)
				die("accept on %s: %s", ctl_path, strerror(errno));
		} else if (!read_ctl(&p)) {
			break;   /* QEMU is gone */
		}
	}
	read_udp(&p);
	if (qemu_socket_queue(p.qemu_port, &queue, &drops))
		p.qemu_drops = drops;
	f = fopen(report_path, "we");
	if (!f)
		die("cannot write %s", report_path);
	fprintf(f, "tx_frames %llu\nother_frames %llu\nsent_plain %llu\nsent_gen %llu\n"
		   "unsent %llu\nqemu_socket_drops %lu\n",
		(unsigned long long)p.tx_total, (unsigned long long)p.other_frames,
		(unsigned long long)p.sent_plain, (unsigned long long)p.sent_gen,
		(unsigned long long)p.to_send, p.qemu_drops);
	fclose(f);
	unlink(ctl_path);
	return 0;
}

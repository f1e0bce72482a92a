/* l2-switch: a small learning Ethernet switch for the migration tests, the
 * "network" the emulated VFs are cabled to. Each port is an AF_UNIX
 * SOCK_SEQPACKET socket (one frame per message) that an `ifcvf-emu --wire
 * pair:PATH` connects to. It learns source MACs, forwards known unicast to
 * the port it was last seen on and floods the rest. Like a real network it
 * follows a VM that moves: once the guest announces itself from the new
 * VF (gratuitous ARP / IPv6 NA / any frame), traffic goes there.
 *
 * A built-in generator sends ifcvf-emu gen-frame.h frames to one MAC (the
 * guest's), one sequence across the whole run, only while that MAC is
 * known. SIGUSR2 sends an end-of-test frame (stream 0xffffffff) that tells
 * the guest's checker to finish. SIGUSR1 and exit write --stats-file: per
 * port frames, announcements seen from the guest's MAC, and the generator
 * frames sent to each port as sequence ranges (so a test can tell which
 * missing frames went to a VF that was stopped).
 *
 * usage: l2-switch --port NAME=PATH [--port ...] [--gen MAC,pps=N,size=N]
 *                  [--stats-file PATH]
 * Plain C; one thread, epoll. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "gen-frame.h"

#define MAX_PORTS 4
#define MAX_MACS 64
#define MAX_RANGES 256
#define END_STREAM 0xffffffffu

struct range {
	uint64_t first, last;
};

struct port {
	char name[32];
	char path[108];
	int listen_fd;
	int peer_fd;
	uint64_t frames_in, frames_out, dropped;
	uint64_t announces;          /* GARP / NA / RARP from the guest's MAC */
	struct range gen[MAX_RANGES];
	unsigned n_gen;
};

static struct port ports[MAX_PORTS];
static unsigned n_ports;
static struct {
	uint8_t mac[6];
	int port;
} table[MAX_MACS];
static unsigned n_table;

static struct {
	bool on;
	uint8_t dst[6];
	uint64_t pps;
	size_t size;
	uint64_t seq;
	uint64_t held;               /* ticks with no known destination */
	uint64_t unsent;             /* frames a port socket refused */
	struct range unsent_ranges[MAX_RANGES];
	unsigned n_unsent;
	struct timespec t0;
	bool ended;
} gen;

static const char *stats_path;

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

static int lookup(const uint8_t mac[6])
{
	for (unsigned i = 0; i < n_table; i++)
		if (!memcmp(table[i].mac, mac, 6))
			return table[i].port;
	return -1;
}

static void learn(const uint8_t mac[6], int port)
{
	if (mac[0] & 1)
		return;
	for (unsigned i = 0; i < n_table; i++)
		if (!memcmp(table[i].mac, mac, 6)) {
			table[i].port = port;
			return;
		}
	if (n_table < MAX_MACS) {
		memcpy(table[n_table].mac, mac, 6);
		table[n_table++].port = port;
	}
}

/* gratuitous ARP, RARP or an IPv6 neighbour advertisement */
static bool is_announce(const uint8_t *f, size_t len)
{
	uint16_t type = (uint16_t)(f[12] << 8 | f[13]);

	if (type == 0x8035)
		return true;
	if (type == 0x0806 && len >= 42)
		return !memcmp(f + 28, f + 38, 4);   /* sender IP == target IP */
	if (type == 0x86dd && len >= 55)
		return f[20] == 58 && f[54] == 136;  /* ICMPv6 neighbour advert */
	return false;
}

static void note_gen(struct port *p, uint64_t seq)
{
	if (p->n_gen && p->gen[p->n_gen - 1].last + 1 == seq) {
		p->gen[p->n_gen - 1].last = seq;
		return;
	}
	if (p->n_gen < MAX_RANGES) {
		p->gen[p->n_gen].first = p->gen[p->n_gen].last = seq;
		p->n_gen++;
	}
}

static bool send_to(struct port *p, const uint8_t *f, size_t len)
{
	if (p->peer_fd < 0 || send(p->peer_fd, f, len, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)len) {
		p->dropped++;
		return false;
	}
	p->frames_out++;
	return true;
}

static void forward(int from, const uint8_t *f, size_t len)
{
	int to = lookup(f);

	if (to >= 0 && to != from) {
		send_to(&ports[to], f, len);
		return;
	}
	if (to == from)
		return;
	for (unsigned i = 0; i < n_ports; i++)
		if ((int)i != from)
			send_to(&ports[i], f, len);
}

static void write_stats(void)
{
	char tmp[512];
	FILE *out;

	if (!stats_path)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", stats_path);
	out = fopen(tmp, "w");
	if (!out)
		return;
	fprintf(out, "{\"gen\":{\"sent\":%llu,\"held_ticks\":%llu,\"unsent\":%llu,\"unsent_ranges\":[",
		(unsigned long long)gen.seq, (unsigned long long)gen.held,
		(unsigned long long)gen.unsent);
	for (unsigned r = 0; r < gen.n_unsent; r++)
		fprintf(out, "%s[%llu,%llu]", r ? "," : "", (unsigned long long)gen.unsent_ranges[r].first,
			(unsigned long long)gen.unsent_ranges[r].last);
	fprintf(out, "]},\"ports\":{");
	for (unsigned i = 0; i < n_ports; i++) {
		struct port *p = &ports[i];

		fprintf(out, "%s\"%s\":{\"frames_in\":%llu,\"frames_out\":%llu,\"dropped\":%llu,"
			"\"announces\":%llu,\"connected\":%s,\"gen\":[", i ? "," : "", p->name,
			(unsigned long long)p->frames_in, (unsigned long long)p->frames_out,
			(unsigned long long)p->dropped, (unsigned long long)p->announces,
			p->peer_fd >= 0 ? "true" : "false");
		for (unsigned r = 0; r < p->n_gen; r++)
			fprintf(out, "%s[%llu,%llu]", r ? "," : "", (unsigned long long)p->gen[r].first,
				(unsigned long long)p->gen[r].last);
		fprintf(out, "]}");
	}
	fprintf(out, "}}\n");
	fclose(out);
	rename(tmp, stats_path);
}

static void gen_tick(void)
{
	static uint8_t frame[65536];
	struct timespec now;
	uint64_t due, ns;
	int to;

	if (!gen.on || gen.ended)
		return;
	to = lookup(gen.dst);
	if (to < 0) {
		/* nobody to send to yet: the sequence waits, so no gap is made */
		gen.held++;
		clock_gettime(CLOCK_MONOTONIC, &gen.t0);
		gen.t0.tv_sec -= (time_t)(gen.seq / gen.pps);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	ns = (uint64_t)(now.tv_sec - gen.t0.tv_sec) * 1000000000ull + (uint64_t)now.tv_nsec -
	     (uint64_t)gen.t0.tv_nsec;
	due = (uint64_t)((unsigned __int128)ns * gen.pps / 1000000000ull);
	while (gen.seq < due) {
		gen_frame_build(frame, gen.size, gen.dst, 0, gen.seq);
		if (!send_to(&ports[to], frame, gen.size)) {
			gen.unsent++;
			if (gen.n_unsent && gen.unsent_ranges[gen.n_unsent - 1].last + 1 == gen.seq)
				gen.unsent_ranges[gen.n_unsent - 1].last = gen.seq;
			else if (gen.n_unsent < MAX_RANGES)
				gen.unsent_ranges[gen.n_unsent++] = (struct range){ gen.seq, gen.seq };
		}
		note_gen(&ports[to], gen.seq);
		gen.seq++;
	}
}

static void gen_end(void)
{
	uint8_t frame[GEN_FRAME_HDR_LEN + 16];
	int to = lookup(gen.dst);

	gen.ended = true;
	gen_frame_build(frame, sizeof(frame), gen.dst, END_STREAM, 0);
	/* several copies: the checker needs just one */
	for (int i = 0; i < 5 && to >= 0; i++)
		send_to(&ports[to], frame, sizeof(frame));
}

static int listen_on(struct port *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p->path);
	unlink(p->path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void usage(void)
{
	fprintf(stderr, "usage: l2-switch --port NAME=PATH [--port ...] [--gen MAC,pps=N,size=N] "
			"[--stats-file PATH]\n");
	exit(2);
}

static void parse_gen(const char *arg)
{
	char *copy = strdup(arg), *save = NULL, *tok;

	gen.on = true;
	gen.pps = 1000;
	gen.size = 256;
	tok = strtok_r(copy, ",", &save);
	if (!tok || parse_mac(tok, gen.dst) < 0)
		usage();
	while ((tok = strtok_r(NULL, ",", &save))) {
		if (!strncmp(tok, "pps=", 4))
			gen.pps = strtoull(tok + 4, NULL, 0);
		else if (!strncmp(tok, "size=", 5))
			gen.size = strtoull(tok + 5, NULL, 0);
		else
			usage();
	}
	if (gen.pps == 0 || gen.pps > 1000000 || gen.size < GEN_FRAME_HDR_LEN || gen.size > 9000)
		usage();
	free(copy);
}

int main(int argc, char **argv)
{
	struct epoll_event ev, events[16];
	struct itimerspec its = { { 0, 1000000 }, { 0, 1000000 } };
	int ep, sfd, tfd;
	sigset_t mask;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			char *eq = strchr(argv[++i], '=');
			struct port *p = &ports[n_ports];

			if (!eq || n_ports == MAX_PORTS || (size_t)(eq - argv[i]) >= sizeof(p->name))
				usage();
			memcpy(p->name, argv[i], (size_t)(eq - argv[i]));
			snprintf(p->path, sizeof(p->path), "%s", eq + 1);
			p->peer_fd = -1;
			n_ports++;
		} else if (!strcmp(argv[i], "--gen") && i + 1 < argc) {
			parse_gen(argv[++i]);
		} else if (!strcmp(argv[i], "--stats-file") && i + 1 < argc) {
			stats_path = argv[++i];
		} else {
			usage();
		}
	}
	if (!n_ports)
		usage();

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || tfd < 0 || ep < 0) {
		perror("l2-switch");
		return 1;
	}
	ev.events = EPOLLIN;
	ev.data.u32 = 1000;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	ev.data.u32 = 1001;
	epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
	for (unsigned i = 0; i < n_ports; i++) {
		ports[i].listen_fd = listen_on(&ports[i]);
		if (ports[i].listen_fd < 0) {
			fprintf(stderr, "l2-switch: cannot listen on %s: %s\n", ports[i].path, strerror(errno));
			return 1;
		}
		ev.data.u32 = 100 + i;
		epoll_ctl(ep, EPOLL_CTL_ADD, ports[i].listen_fd, &ev);
	}
	clock_gettime(CLOCK_MONOTONIC, &gen.t0);
	if (gen.on)
		timerfd_settime(tfd, 0, &its, NULL);
	fprintf(stderr, "l2-switch: %u ports ready\n", n_ports);

	for (;;) {
		int n = epoll_wait(ep, events, 16, -1);

		for (int k = 0; k < n; k++) {
			uint32_t id = events[k].data.u32;

			if (id == 1000) {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGUSR1) {
					write_stats();
				} else if (si.ssi_signo == SIGUSR2) {
					gen_end();
					write_stats();
				} else {
					write_stats();
					for (unsigned i = 0; i < n_ports; i++)
						unlink(ports[i].path);
					return 0;
				}
			} else if (id == 1001) {
				uint64_t ticks;

				if (read(tfd, &ticks, sizeof(ticks)) == sizeof(ticks))
					gen_tick();
			} else if (id >= 200) {
				struct port *p = &ports[id - 200];
				uint8_t f[65536];

				for (;;) {
					ssize_t len = recv(p->peer_fd, f, sizeof(f), MSG_DONTWAIT);

					if (len == 0 || (len < 0 && errno != EAGAIN && errno != EINTR)) {
						epoll_ctl(ep, EPOLL_CTL_DEL, p->peer_fd, NULL);
						close(p->peer_fd);
						p->peer_fd = -1;
						break;
					}
					if (len < 0)
						break;
					if (len < 14)
						continue;
					p->frames_in++;
					if (gen.on && !memcmp(f + 6, gen.dst, 6) && is_announce(f, (size_t)len))
						p->announces++;
					learn(f + 6, (int)(p - ports));
					forward((int)(p - ports), f, (size_t)len);
				}
			} else {
				struct port *p = &ports[id - 100];
				int fd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

				if (fd < 0)
					continue;
				if (p->peer_fd >= 0) {
					epoll_ctl(ep, EPOLL_CTL_DEL, p->peer_fd, NULL);
					close(p->peer_fd);
				}
				p->peer_fd = fd;
				ev.data.u32 = 200 + (uint32_t)(p - ports);
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			}
		}
	}
}

/* ifcvf-emu: an emulated IFCVF VF served over vfio-user.
 *
 * This file: options, signals, the listening socket, the event loop and the
 * counters. One client is served at a time; others wait in the listen
 * backlog. Everything runs on one thread (emu-stall.h's watchdog only
 * signals it, and emu-doorbell.h's poller only reads the mapped doorbells
 * and wakes it through an eventfd): signals arrive through a signalfd, the wire's fds and timers
 * sit in the same epoll set, and the datapath runs one bounded burst per
 * busy queue between two rounds of events (without sleeping while a queue
 * has work), so a register read waits at most one round of bursts.
 * Nothing waits on the client without a bound: replies are sent without
 * blocking and given up after a timeout or on SIGTERM (vfu-server.c),
 * eventfds are non-blocking (emu-irq.c) and a write the client still makes
 * block is interrupted (emu-stall.h), and guest memory the client takes
 * away drops the client instead of killing us (emu-dma-guard.h). */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cerr.h"
#include "emu-device.h"
#include "emu-dma-guard.h"
#include "emu-stall.h"
#include "emu-options.h"
#include "emu-loop.h"
#include "emu-wire.h"
#include "vfio-user-wire.h"
#include "vfu-server.h"

#define MAX_EVENTS 32

struct emu_server {
	const struct emu_config *cfg;
	struct emu_device dev;
	struct vfu_server_stats stats;
	struct vfu_conn conn;
	bool connected;
	bool hung_up;              /* the client's socket hung up: datapath stopped */
	bool quit;
	int listen_fd;
	int signal_fd;
	struct emu_loop loop;
	struct emu_watch listen_watch, client_watch, signal_watch, doorbell_watch;
	struct emu_wire *wire;
	uint64_t stats_seq;        /* --stats-file generation */
};

static int tmp_path(const char *path, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s.tmp", path);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Refuse to take over a socket another process still accepts on. */
static int check_not_in_use(const struct sockaddr_un *addr, struct cerr *e)
{
	struct stat st;
	int fd, r;

	if (stat(addr->sun_path, &st) < 0 || !S_ISSOCK(st.st_mode))
		return 0;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cerr_set(e, errno, "socket: %s", strerror(errno));
	r = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
	close(fd);
	if (r == 0)
		return cerr_set(e, EADDRINUSE, "another process is listening on %s",
				addr->sun_path);
	return 0;
}

/* The socket's directory and the missing ones above it, mode 0755 (as
 * `mkdir -p`): the emulator stands in for a device node that just exists. */
static int make_parent_dirs(const char *path, struct cerr *e)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1;; p++) {
		bool last = *p == '\0';

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return cerr_set(e, errno, "cannot listen on %s: cannot create directory "
					"%s: %s", path, dir, strerror(errno));
		if (last)
			return 0;
		*p = '/';
	}
}

/* Bind PATH.tmp, listen, then rename it to PATH: whoever sees PATH can
 * connect to it. Errors name PATH (the .tmp name is ours, not the user's). */
static int listen_on(const char *path, int *ret_fd, struct cerr *e)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX }, tmp = { .sun_family = AF_UNIX };
	int fd, r;

	if (tmp_path(path, tmp.sun_path, sizeof(tmp.sun_path)) < 0)
		return cerr_set(e, ENAMETOOLONG, "--socket: '%s' is too long for a UNIX socket "
				"(at most %zu bytes)", path, sizeof(addr.sun_path) - 5);
	memcpy(addr.sun_path, path, strlen(path) + 1);
	r = make_parent_dirs(path, e);
	if (r < 0)
		return r;
	r = check_not_in_use(&addr, e);
	if (r < 0)
		return r;
	if (unlink(tmp.sun_path) < 0 && errno != ENOENT)
		return cerr_set(e, errno, "cannot listen on %s: cannot remove %s: %s", path,
				tmp.sun_path, strerror(errno));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cerr_set(e, errno, "socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&tmp, sizeof(tmp)) < 0) {
		r = cerr_set(e, errno, "cannot listen on %s: %s", path, strerror(errno));
		goto fail;
	}
	if (listen(fd, 16) < 0) {
		r = cerr_set(e, errno, "cannot listen on %s: %s", path, strerror(errno));
		unlink(tmp.sun_path);
		goto fail;
	}
	if (rename(tmp.sun_path, path) < 0) {
		r = cerr_set(e, errno, "cannot listen on %s: cannot rename %s into place: %s",
			     path, tmp.sun_path, strerror(errno));
		unlink(tmp.sun_path);
		goto fail;
	}
	*ret_fd = fd;
	return 0;
fail:
	close(fd);
	return r;
}

static void listen_ready(void *opaque, uint32_t events);
static void client_ready(void *opaque, uint32_t events);
static void check_client_faults(struct emu_server *s);
static bool stop_requested(void *opaque);

static void print_counters(const struct emu_server *s)
{
	fprintf(stderr,
		"ifcvf-emu: clients %" PRIu64 " (%s), messages %" PRIu64 ", errors %" PRIu64
		", dropped %" PRIu64 "\n",
		s->stats.clients, s->connected ? "one connected" : "none connected",
		s->stats.messages, s->stats.errors, s->stats.dropped);
	fputs("ifcvf-emu: requests:", stderr);
	for (unsigned i = 0; i <= VFU_CMD_MAX; i++)
		if (s->stats.per_command[i])
			fprintf(stderr, " %s %" PRIu64, vfu_command_name(i), s->stats.per_command[i]);
	fputs("\n", stderr);
	emu_device_print_stats(&s->dev, stderr);
}

/* The client's socket hung up: its process may have been killed, and its
 * frontend (QEMU) then takes the rings over from the used index in guest
 * memory and completes the entries beyond it itself, so the driver reuses
 * their buffers. The datapath stops before anything else is done for the
 * client, a doorbell it left pending included: a round run for that
 * doorbell would send chains already completed and write used entries
 * behind the frontend's back (duplicate frames, issue 18). A real VF
 * stops the same way: the last close of its device fd resets it. */
static void client_hung_up(struct emu_server *s)
{
	if (!s->connected || s->hung_up)
		return;
	s->hung_up = true;
	emu_device_client_hung_up(&s->dev);
	if (s->cfg->verbose)
		fprintf(stderr, "ifcvf-emu: the client hung up: datapath stopped\n");
}

static bool is_hang_up(uint32_t events)
{
	return events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR);
}

/* Before a datapath round for a doorbell: has the client hung up since
 * the epoll round that brought us here? */
static bool check_hang_up(struct emu_server *s)
{
	struct pollfd p = { .fd = s->conn.fd, .events = POLLRDHUP };

	if (s->connected && !s->hung_up && poll(&p, 1, 0) == 1 &&
	    (p.revents & (POLLHUP | POLLRDHUP | POLLERR)))
		client_hung_up(s);
	return s->hung_up;
}

static void drop_client(struct emu_server *s, const struct cerr *why)
{
	if (why && (s->cfg->verbose || why->code != ECONNRESET))
		fprintf(stderr, "ifcvf-emu: dropping the client: %s\n", why->msg);
	/* a client that hung up between two checks: no used entry goes out
	 * while the connection closes (emu_device_client_gone() publishes
	 * what a live client's queues completed) */
	if (why && why->code == ECONNRESET)
		client_hung_up(s);
	emu_loop_del(&s->loop, &s->client_watch);
	vfu_conn_close(&s->conn);
	s->connected = false;
	s->hung_up = false;
	/* let the next client in from the backlog */
	if (emu_loop_add(&s->loop, &s->listen_watch, s->listen_fd, EPOLLIN, listen_ready, s) < 0)
		fprintf(stderr, "ifcvf-emu: cannot watch the listening socket again\n");
}

static void accept_client(struct emu_server *s)
{
	struct cerr e = { 0 };
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			fprintf(stderr, "ifcvf-emu: accept: %s\n", strerror(errno));
		return;
	}
	if (vfu_conn_open(&s->conn, fd, &s->dev, &s->stats, s->cfg->verbose, &e) < 0) {
		fprintf(stderr, "ifcvf-emu: %s\n", e.msg);
		return;
	}
	vfu_conn_watch_stop(&s->conn, s->signal_fd, stop_requested, s);
	/* EPOLLRDHUP: the hang-up is seen in the epoll round it happens in,
	 * not only when a read finds the end of the stream */
	if (emu_loop_add(&s->loop, &s->client_watch, fd, EPOLLIN | EPOLLRDHUP, client_ready,
			 s) < 0) {
		fprintf(stderr, "ifcvf-emu: cannot watch the client socket\n");
		vfu_conn_close(&s->conn);
		return;
	}
	s->connected = true;
	s->hung_up = false;
	emu_loop_del(&s->loop, &s->listen_watch);
	if (s->cfg->verbose)
		fprintf(stderr, "ifcvf-emu: client connected\n");
}

/* Write the counters as one JSON object to --stats-file, atomically. */
static void write_stats_file(struct emu_server *s)
{
	const char *path = s->cfg->stats_file;
	char tmp[4096];
	FILE *f;

	if (!path)
		return;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return;
	f = fopen(tmp, "we");
	if (!f) {
		fprintf(stderr, "ifcvf-emu: cannot write %s: %s\n", tmp, strerror(errno));
		return;
	}
	fprintf(f,
		"{\"seq\":%" PRIu64 ",\"pid\":%ld,\"server\":{\"clients\":%" PRIu64
		",\"connected\":%s,\"messages\":%" PRIu64 ",\"errors\":%" PRIu64
		",\"dropped\":%" PRIu64 "},",
		++s->stats_seq, (long)getpid(), s->stats.clients, s->connected ? "true" : "false",
		s->stats.messages, s->stats.errors, s->stats.dropped);
	emu_device_json(&s->dev, f);
	fputs("}\n", f);
	if (fclose(f) != 0 || rename(tmp, path) < 0) {
		fprintf(stderr, "ifcvf-emu: cannot write %s: %s\n", path, strerror(errno));
		unlink(tmp);
	}
}

static void signal_ready(void *opaque, uint32_t events)
{
	struct emu_server *s = opaque;
	struct signalfd_siginfo si;

	(void)events;
	if (read(s->signal_fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGUSR1) {
		print_counters(s);
		write_stats_file(s);
		return;
	}
	if (si.ssi_signo == SIGUSR2) {
		emu_device_config_changed(&s->dev);
		return;
	}
	s->quit = true;
}

/* A signal came while a reply waits for a client that does not read:
 * handle it there; give the reply up only to stop. */
static bool stop_requested(void *opaque)
{
	struct emu_server *s = opaque;

	signal_ready(s, 0);
	return s->quit;
}

static void listen_ready(void *opaque, uint32_t events)
{
	struct emu_server *s = opaque;

	(void)events;
	if (!s->connected)
		accept_client(s);
}

/* Takes the doorbells stored into the mapped notify area and gives a net
 * device the datapath round they ask for at once. At once, and from the
 * poller's wake-up too: when the poller's eventfd and a request are ready in
 * the same epoll round, the eventfd's handler drains the doorbell first, and
 * a round left for the loop's end would come after the request (a TX kick
 * then queue_enable=0 would suspend the queue with the chain not fetched). */
static void take_doorbells(struct emu_server *s)
{
	/* a client gone since the epoll round: its queues stop first, and the
	 * doorbells are only taken off the page */
	check_hang_up(s);
	if (emu_device_doorbells(&s->dev) && s->dev.virtio.net && !s->hung_up) {
		(void)emu_net_run(&s->dev.net);
		check_client_faults(s);
	}
}

static void client_ready(void *opaque, uint32_t events)
{
	struct emu_server *s = opaque;
	struct cerr e = { 0 };

	/* a client that hung up gets no datapath round, not even for a
	 * doorbell it rang before; what it still sent is served (the queues
	 * stay stopped) until the read finds the end of the stream */
	if (is_hang_up(events))
		client_hung_up(s);
	/* doorbells the client stored before sending this request come first,
	 * with the datapath round a doorbell message would have had before
	 * the next request (a kick then a reset sends the frame first) */
	take_doorbells(s);
	if (s->connected && vfu_conn_serve(&s->conn, &e) < 0)
		drop_client(s, &e);
	/* the request may have enabled or disabled a queue: arm the poller */
	emu_device_doorbells(&s->dev);
}

/* The doorbell poller saw a store into the mapped notify area. */
static void doorbell_ready(void *opaque, uint32_t events)
{
	struct emu_server *s = opaque;

	(void)events;
	emu_doorbell_ack(&s->dev.doorbell);
	take_doorbells(s);
}

/* Outside a request (the datapath, a wire event), guest memory vanished
 * under the device or an interrupt's eventfd blocked: the client that did
 * it goes. */
static void check_client_faults(struct emu_server *s)
{
	struct cerr why = { 0 };
	uint64_t iova;

	if (emu_dma_guard_take(&iova))
		cerr_set(&why, EFAULT, "the client's memory at IOVA 0x%" PRIx64 " is gone (its "
			 "file shrank after DMA_MAP)", iova);
	else if (emu_stall_take())
		cerr_set(&why, EIO, "an interrupt's eventfd was made blocking by the client and "
			 "left full");
	else
		return;
	if (!s->connected)
		return;
	s->stats.dropped++;
	drop_client(s, &why);
}

static int run(struct emu_server *s)
{
	bool busy = false;

	while (!s->quit) {
		struct epoll_event ev[MAX_EVENTS];
		int n = epoll_wait(s->loop.epoll_fd, ev, MAX_EVENTS, busy ? 0 : -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "ifcvf-emu: epoll_wait: %s\n", strerror(errno));
			return 1;
		}
		/* a hang-up stops the datapath before any handler of this
		 * round runs one (the doorbell poller's eventfd or the wire may
		 * come first in the list) */
		for (int i = 0; i < n; i++)
			if (ev[i].data.ptr == &s->client_watch && is_hang_up(ev[i].events))
				client_hung_up(s);
		for (int i = 0; i < n && !s->quit; i++) {
			struct emu_watch *w = ev[i].data.ptr;

			/* an earlier handler of this round may have dropped it */
			if (w->fd >= 0)
				w->fn(w->opaque, ev[i].events);
			check_client_faults(s);
		}
		busy = s->dev.virtio.net ? emu_net_run(&s->dev.net) :
		       s->dev.virtio.blk ? emu_blk_run(&s->dev.blk) : false;
		check_client_faults(s);
	}
	return 0;
}

static int setup(struct emu_server *s, struct cerr *e)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return cerr_set(e, errno, "sigprocmask: %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	if (emu_dma_guard_install(&s->dev.dma, e) < 0 || emu_stall_start(e) < 0)
		return -e->code;
	s->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->signal_fd < 0)
		return cerr_set(e, errno, "signalfd: %s", strerror(errno));
	s->loop.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (s->loop.epoll_fd < 0)
		return cerr_set(e, errno, "epoll_create1: %s", strerror(errno));
	if (emu_loop_add(&s->loop, &s->signal_watch, s->signal_fd, EPOLLIN, signal_ready, s) < 0)
		return cerr_set(e, errno, "cannot watch the signalfd");
	if (s->dev.doorbell.enabled &&
	    emu_loop_add(&s->loop, &s->doorbell_watch, s->dev.doorbell.efd, EPOLLIN,
			 doorbell_ready, s) < 0)
		return cerr_set(e, errno, "cannot watch the doorbell poller's eventfd");
	/* the wire is up before the socket appears: a client finds it cabled */
	if (s->dev.virtio.net) {
		if (emu_wire_open(s->cfg, &s->dev.net, &s->loop, &s->wire, e) < 0)
			return -e->code;
		s->dev.net.wire = s->wire;
	}
	if (listen_on(s->cfg->socket_path, &s->listen_fd, e) < 0)
		return -e->code;
	if (emu_loop_add(&s->loop, &s->listen_watch, s->listen_fd, EPOLLIN, listen_ready, s) < 0)
		return cerr_set(e, errno, "cannot watch the listening socket");
	return 0;
}

static void teardown(struct emu_server *s)
{
	if (s->connected)
		vfu_conn_close(&s->conn);
	s->connected = false;
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		unlink(s->cfg->socket_path);
	}
	s->dev.net.wire = NULL;
	emu_wire_close(s->wire);
	s->wire = NULL;
	if (s->loop.epoll_fd >= 0)
		close(s->loop.epoll_fd);
	if (s->signal_fd >= 0)
		close(s->signal_fd);
	emu_device_fini(&s->dev);
	emu_stall_stop();
}

int main(int argc, char **argv)
{
	static struct emu_server s;   /* large: the whole register file */
	struct emu_config cfg;
	struct cerr e = { 0 };
	int status;

	switch (emu_options_parse(argc, argv, &cfg, stdout, &e)) {
	case EMU_OPTIONS_HELP:
		return 0;
	case EMU_OPTIONS_BAD:
		fprintf(stderr, "ifcvf-emu: %s\n", e.msg);
		return 2;
	default:
		break;
	}
	s.cfg = &cfg;
	s.listen_fd = s.signal_fd = s.loop.epoll_fd = -1;
	s.listen_watch.fd = s.client_watch.fd = s.signal_watch.fd = s.doorbell_watch.fd = -1;
	s.conn.fd = -1;
	if (emu_device_init(&s.dev, &cfg, &e) < 0) {
		fprintf(stderr, "ifcvf-emu: %s\n", e.msg);
		return 2;
	}
	if (setup(&s, &e) < 0) {
		fprintf(stderr, "ifcvf-emu: %s\n", e.msg);
		teardown(&s);
		return e.code == ENAMETOOLONG ? 2 : 1;
	}
	if (cfg.verbose)
		fprintf(stderr, "ifcvf-emu: listening on %s\n", cfg.socket_path);
	status = run(&s);
	if (cfg.type == EMU_TYPE_NET)
		emu_net_drop_held(&s.dev.net);
	print_counters(&s);
	write_stats_file(&s);
	teardown(&s);
	return status;
}

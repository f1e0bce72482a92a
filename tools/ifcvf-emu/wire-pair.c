/* --wire pair:PATH: two emulated VFs cabled together over an AF_UNIX
 * SOCK_SEQPACKET socket at PATH, one Ethernet frame per message (so a test
 * can stand in for either end with a plain socket).
 *
 * Who listens: under an flock of PATH.lock, an emulator first tries to
 * connect to PATH; if nobody accepts there it removes whatever is at PATH
 * and listens on it. So the first to start listens and the second connects,
 * whatever the timing. A listener serves one peer at a time and waits for
 * the next when it goes; a connector whose peer goes away tries again every
 * PAIR_RETRY_MS (and so becomes the listener if the other side is gone).
 * The listener removes PATH when it exits; PATH.lock stays.
 *
 * Frames the VF sends while no peer is connected, or that the socket does
 * not take at once, are dropped and counted. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "emu-net.h"
#include "emu-wire.h"

#define PAIR_RX_BURST 64u
#define PAIR_RETRY_MS 100

struct pair_wire {
	struct emu_wire base;
	struct sockaddr_un addr;
	char lock_path[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
	int listen_fd;
	ino_t listen_ino;            /* PATH's inode while we listen on it */
	int peer_fd;
	int timer_fd;
	struct emu_watch listen_watch, peer_watch, timer_watch;
	uint8_t *buf;
	uint64_t connects;           /* peers connected (either role) */
	bool verbose;
};

static void peer_readable(void *opaque, uint32_t events);
static void listen_readable(void *opaque, uint32_t events);

static void arm_retry(struct pair_wire *p)
{
	struct itimerspec its = { .it_value = { 0, PAIR_RETRY_MS * 1000000L } };

	(void)timerfd_settime(p->timer_fd, 0, &its, NULL);
}

static void set_peer(struct pair_wire *p, int fd)
{
	p->peer_fd = fd;
	p->connects++;
	if (emu_loop_add(p->base.loop, &p->peer_watch, fd, EPOLLIN, peer_readable, p) < 0) {
		close(fd);
		p->peer_fd = -1;
		return;
	}
	if (p->verbose)
		fprintf(stderr, "ifcvf-emu: pair %s: peer connected\n", p->addr.sun_path);
}

static void drop_peer(struct pair_wire *p)
{
	emu_loop_del(p->base.loop, &p->peer_watch);
	close(p->peer_fd);
	p->peer_fd = -1;
	if (p->verbose)
		fprintf(stderr, "ifcvf-emu: pair %s: peer gone\n", p->addr.sun_path);
	if (p->listen_fd >= 0)
		(void)emu_loop_add(p->base.loop, &p->listen_watch, p->listen_fd, EPOLLIN,
				   listen_readable, p);
	else
		arm_retry(p);
}

/* Connect to PATH or, when nobody is there, listen on it. 0, or -errno
 * when neither worked (retried later). */
static int pair_attach(struct pair_wire *p)
{
	int lock_fd, fd, r = 0;
	struct stat st;

	lock_fd = open(p->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock_fd < 0)
		return -errno;
	if (flock(lock_fd, LOCK_EX) < 0) {
		r = -errno;
		goto out;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (connect(fd, (struct sockaddr *)&p->addr, sizeof(p->addr)) == 0) {
		(void)fcntl(fd, F_SETFL, O_NONBLOCK);
		set_peer(p, fd);
		goto out;
	}
	if (errno != ENOENT && errno != ECONNREFUSED) {
		r = -errno;
		close(fd);
		goto out;
	}
	/* nobody accepts at PATH: whatever is there is stale */
	(void)unlink(p->addr.sun_path);
	if (bind(fd, (struct sockaddr *)&p->addr, sizeof(p->addr)) < 0 || listen(fd, 4) < 0 ||
	    stat(p->addr.sun_path, &st) < 0) {
		r = -errno;
		close(fd);
		goto out;
	}
	(void)fcntl(fd, F_SETFL, O_NONBLOCK);
	p->listen_fd = fd;
	p->listen_ino = st.st_ino;
	r = emu_loop_add(p->base.loop, &p->listen_watch, fd, EPOLLIN, listen_readable, p);
out:
	close(lock_fd);
	return r;
}

static void listen_readable(void *opaque, uint32_t events)
{
	struct pair_wire *p = opaque;
	int fd;

	(void)events;
	fd = accept4(p->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	/* one peer at a time; the next waits in the backlog */
	emu_loop_del(p->base.loop, &p->listen_watch);
	set_peer(p, fd);
}

static void peer_readable(void *opaque, uint32_t events)
{
	struct pair_wire *p = opaque;

	for (unsigned i = 0; i < PAIR_RX_BURST; i++) {
		ssize_t n = recv(p->peer_fd, p->buf, EMU_MAX_FRAME, MSG_DONTWAIT | MSG_TRUNC);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			drop_peer(p);
			return;
		}
		if (n < 0)
			break;
		if ((size_t)n > EMU_MAX_FRAME) {
			p->base.st.rx_errors++;
			continue;
		}
		p->base.st.rx_frames++;
		p->base.st.rx_bytes += (uint64_t)n;
		emu_net_rx_flow(p->base.net, p->buf, (size_t)n);
	}
	/* a peer that hung up reads 0 once its frames are read */
	(void)events;
}

static void retry_tick(void *opaque, uint32_t events)
{
	struct pair_wire *p = opaque;
	uint64_t ticks;

	(void)events;
	if (read(p->timer_fd, &ticks, sizeof(ticks)) != sizeof(ticks))
		return;
	if (p->peer_fd >= 0 || p->listen_fd >= 0)
		return;
	if (pair_attach(p) < 0)
		arm_retry(p);
}

static void pair_tx(struct emu_wire *w, unsigned pair, const uint8_t *frame, size_t len)
{
	struct pair_wire *p = (struct pair_wire *)w;

	(void)pair;
	if (p->peer_fd < 0 ||
	    send(p->peer_fd, frame, len, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)len) {
		w->st.tx_dropped++;
		return;
	}
	w->st.tx_frames++;
	w->st.tx_bytes += len;
}

static void pair_json(const struct emu_wire *w, FILE *out)
{
	const struct pair_wire *p = (const struct pair_wire *)w;

	fprintf(out, ",\"pair\":{\"role\":\"%s\",\"connected\":%s,\"connects\":%llu}",
		p->listen_fd >= 0 ? "listener" : "connector", p->peer_fd >= 0 ? "true" : "false",
		(unsigned long long)p->connects);
}

static void pair_print(const struct emu_wire *w, FILE *out)
{
	const struct pair_wire *p = (const struct pair_wire *)w;

	fprintf(out, "ifcvf-emu: pair %s: %s, %s, %llu connections\n", p->addr.sun_path,
		p->listen_fd >= 0 ? "listening" : "connecting",
		p->peer_fd >= 0 ? "peer connected" : "no peer", (unsigned long long)p->connects);
}

static void pair_close(struct emu_wire *w)
{
	struct pair_wire *p = (struct pair_wire *)w;
	struct stat st;

	emu_loop_del(w->loop, &p->peer_watch);
	emu_loop_del(w->loop, &p->listen_watch);
	emu_loop_del(w->loop, &p->timer_watch);
	if (p->peer_fd >= 0)
		close(p->peer_fd);
	if (p->listen_fd >= 0) {
		/* remove PATH only if it still is our socket */
		if (stat(p->addr.sun_path, &st) == 0 && st.st_ino == p->listen_ino)
			(void)unlink(p->addr.sun_path);
		close(p->listen_fd);
	}
	if (p->timer_fd >= 0)
		close(p->timer_fd);
	free(p->buf);
	free(p);
}

static const struct emu_wire_ops pair_ops = {
	.tx = pair_tx,
	.print = pair_print,
	.json = pair_json,
	.close = pair_close,
};

int emu_wire_pair_open(const struct emu_config *cfg, struct emu_loop *loop, struct emu_wire **ret,
		       struct cerr *e)
{
	struct pair_wire *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return cerr_set(e, ENOMEM, "out of memory for the wire");
	p->base.ops = &pair_ops;
	p->base.kind = "pair";
	p->base.loop = loop;
	p->verbose = cfg->verbose;
	p->listen_fd = p->peer_fd = -1;
	p->listen_watch.fd = p->peer_watch.fd = p->timer_watch.fd = -1;
	p->addr.sun_family = AF_UNIX;
	/* lengths were checked with the options */
	snprintf(p->addr.sun_path, sizeof(p->addr.sun_path), "%s", cfg->wire.path);
	snprintf(p->lock_path, sizeof(p->lock_path), "%s.lock", cfg->wire.path);
	p->buf = malloc(EMU_MAX_FRAME + 1);
	p->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (!p->buf || p->timer_fd < 0) {
		r = cerr_set(e, ENOMEM, "--wire pair: cannot set up: %s",
			     p->buf ? strerror(errno) : "out of memory");
		goto fail;
	}
	r = emu_loop_add(loop, &p->timer_watch, p->timer_fd, EPOLLIN, retry_tick, p);
	if (r < 0) {
		r = cerr_set(e, -r, "--wire pair: cannot watch the retry timer");
		goto fail;
	}
	r = pair_attach(p);
	if (r < 0) {
		r = cerr_set(e, -r, "--wire pair:%s: cannot connect or listen: %s", cfg->wire.path,
			     strerror(-r));
		goto fail;
	}
	*ret = &p->base;
	return 0;
fail:
	pair_close(&p->base);
	return r;
}

/* ifcvf-emu: an emulated IFCVF VF served over vfio-user.
 *
 * This file: options, signals, the listening socket and the accept/serve
 * loop. One client is served at a time; others wait in the listen backlog.
 * Signals arrive through a signalfd so that everything runs on one thread
 * and no handler touches shared state. */
#include <errno.h>
#include <inttypes.h>
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
#include "emu-options.h"
#include "vfio-user-wire.h"
#include "vfu-server.h"

enum { WATCH_LISTEN = 1, WATCH_CLIENT, WATCH_SIGNAL };

struct emu_server {
	const struct emu_config *cfg;
	struct emu_device dev;
	struct vfu_server_stats stats;
	struct vfu_conn conn;
	bool connected;
	int listen_fd;
	int signal_fd;
	int epoll_fd;
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

/* Bind PATH.tmp, listen, then rename it to PATH: whoever sees PATH can
 * connect to it. */
static int listen_on(const char *path, int *ret_fd, struct cerr *e)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX }, tmp = { .sun_family = AF_UNIX };
	int fd, r;

	if (tmp_path(path, tmp.sun_path, sizeof(tmp.sun_path)) < 0)
		return cerr_set(e, ENAMETOOLONG, "--socket: '%s' is too long for a UNIX socket "
				"(at most %zu bytes)", path, sizeof(addr.sun_path) - 5);
	memcpy(addr.sun_path, path, strlen(path) + 1);
	r = check_not_in_use(&addr, e);
	if (r < 0)
		return r;
	if (unlink(tmp.sun_path) < 0 && errno != ENOENT)
		return cerr_set(e, errno, "cannot remove %s: %s", tmp.sun_path, strerror(errno));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cerr_set(e, errno, "socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&tmp, sizeof(tmp)) < 0) {
		r = cerr_set(e, errno, "cannot bind %s: %s", tmp.sun_path, strerror(errno));
		goto fail;
	}
	if (listen(fd, 16) < 0) {
		r = cerr_set(e, errno, "cannot listen on %s: %s", tmp.sun_path, strerror(errno));
		unlink(tmp.sun_path);
		goto fail;
	}
	if (rename(tmp.sun_path, path) < 0) {
		r = cerr_set(e, errno, "cannot rename %s to %s: %s", tmp.sun_path, path,
			     strerror(errno));
		unlink(tmp.sun_path);
		goto fail;
	}
	*ret_fd = fd;
	return 0;
fail:
	close(fd);
	return r;
}

static int watch(struct emu_server *s, int op, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };

	return epoll_ctl(s->epoll_fd, op, fd, &ev) < 0 ? -errno : 0;
}

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

static void drop_client(struct emu_server *s, const struct cerr *why)
{
	if (why && (s->cfg->verbose || why->code != ECONNRESET))
		fprintf(stderr, "ifcvf-emu: dropping the client: %s\n", why->msg);
	(void)epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, s->conn.fd, NULL);
	vfu_conn_close(&s->conn);
	s->connected = false;
	/* let the next client in from the backlog */
	if (watch(s, EPOLL_CTL_ADD, s->listen_fd, WATCH_LISTEN) < 0)
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
	if (watch(s, EPOLL_CTL_ADD, fd, WATCH_CLIENT) < 0) {
		fprintf(stderr, "ifcvf-emu: cannot watch the client socket\n");
		vfu_conn_close(&s->conn);
		return;
	}
	s->connected = true;
	(void)epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, s->listen_fd, NULL);
	if (s->cfg->verbose)
		fprintf(stderr, "ifcvf-emu: client connected\n");
}

/* Returns true when the loop should end. */
static bool handle_signal(struct emu_server *s)
{
	struct signalfd_siginfo si;

	if (read(s->signal_fd, &si, sizeof(si)) != sizeof(si))
		return false;
	if (si.ssi_signo == SIGUSR1) {
		print_counters(s);
		return false;
	}
	return true;
}

static int run(struct emu_server *s)
{
	for (;;) {
		struct epoll_event ev[4];
		int n = epoll_wait(s->epoll_fd, ev, 4, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "ifcvf-emu: epoll_wait: %s\n", strerror(errno));
			return 1;
		}
		for (int i = 0; i < n; i++) {
			struct cerr e = { 0 };

			switch (ev[i].data.u32) {
			case WATCH_SIGNAL:
				if (handle_signal(s))
					return 0;
				break;
			case WATCH_LISTEN:
				if (!s->connected)
					accept_client(s);
				break;
			case WATCH_CLIENT:
				if (s->connected && vfu_conn_serve(&s->conn, &e) < 0)
					drop_client(s, &e);
				break;
			default:
				break;
			}
		}
	}
}

static int setup(struct emu_server *s, struct cerr *e)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return cerr_set(e, errno, "sigprocmask: %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	s->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->signal_fd < 0)
		return cerr_set(e, errno, "signalfd: %s", strerror(errno));
	s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epoll_fd < 0)
		return cerr_set(e, errno, "epoll_create1: %s", strerror(errno));
	if (watch(s, EPOLL_CTL_ADD, s->signal_fd, WATCH_SIGNAL) < 0)
		return cerr_set(e, errno, "cannot watch the signalfd");
	if (listen_on(s->cfg->socket_path, &s->listen_fd, e) < 0)
		return -e->code;
	if (watch(s, EPOLL_CTL_ADD, s->listen_fd, WATCH_LISTEN) < 0)
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
	if (s->epoll_fd >= 0)
		close(s->epoll_fd);
	if (s->signal_fd >= 0)
		close(s->signal_fd);
	emu_device_fini(&s->dev);
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
	s.listen_fd = s.signal_fd = s.epoll_fd = -1;
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
	teardown(&s);
	return status;
}

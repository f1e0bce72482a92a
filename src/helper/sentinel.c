#include "sentinel.h"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SENTINEL_MAGIC 0x53454e54u   /* "SENT" */
#define SENTINEL_MAX_HELD 64u         /* VFs and connections together */
#define SENTINEL_NAME_MAX 96u
#define STATUS_WAIT_MS 200            /* a VF's reset to read back 0 */
#define EXIT_WAIT_MS 1000             /* the dead helper's last fds to close */
#define REAP_WAIT_MS 2000             /* a quitting sentinel to exit */

/* PCI command register bit (PCI Local Bus 3.0 §6.2.2) */
#define PCI_COMMAND_BUS_MASTER 0x4u

enum sentinel_kind {
	SENTINEL_HOLD_VF = 1,    /* one fd: a kernel VFIO device */
	SENTINEL_HOLD_CONN = 2,  /* one fd: a vhost-user connection */
	SENTINEL_DROP = 3,       /* no fd: the helper closed @id itself */
	SENTINEL_QUIT = 4,       /* no fd: clean stop, close all, reset nothing */
};

/* One message per packet; the fd, if any, as SCM_RIGHTS. */
struct sentinel_msg {
	uint32_t magic;
	uint32_t kind;
	uint32_t id;
	uint32_t reserved;
	uint64_t status_off;    /* HOLD_VF: fd offset of device_status */
	uint64_t command_off;   /* HOLD_VF: fd offset of the PCI command register */
	char name[SENTINEL_NAME_MAX];
};

/* ==== the helper's side ==== */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int sock = -1;            /* our end of the pair; -1: no sentinel */
static pid_t child;              /* its pid until reaped, or 0 */
static uint32_t next_id = 1;
/* connections handed over: the caller's names for the drops, and the
 * socket's identity to skip it in the next /proc/self/fd scan */
static struct {
	uint32_t id;
	int key;
	const void *group;
	dev_t dev;
	ino_t ino;
} conns[SENTINEL_MAX_HELD];
static unsigned n_conns;

static void child_main(int fd, pid_t parent) __attribute__((noreturn));

int sentinel_start(void)
{
	pid_t parent = getpid();
	int sv[2];
	pid_t pid;

	if (child)
		return -EALREADY;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	/* what stdio holds would be written twice */
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		int r = -errno;

		close(sv[0]);
		close(sv[1]);
		return r;
	}
	if (pid == 0) {
		close(sv[0]);
		child_main(sv[1], parent);
	}
	close(sv[1]);
	sock = sv[0];
	child = pid;
	return 0;
}

pid_t sentinel_pid(void)
{
	pid_t pid;

	pthread_mutex_lock(&lock);
	pid = child;
	pthread_mutex_unlock(&lock);
	return pid;
}

/* Under lock. @fd < 0: none goes along. */
static int send_locked(uint32_t kind, uint32_t id, const char *name, int fd, uint64_t status_off,
		       uint64_t command_off)
{
	struct sentinel_msg m = { .magic = SENTINEL_MAGIC, .kind = kind, .id = id,
				  .status_off = status_off, .command_off = command_off };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} c;
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (name)
		snprintf(m.name, sizeof(m.name), "%s", name);
	if (fd >= 0) {
		memset(&c, 0, sizeof(c));
		mh.msg_control = c.buf;
		mh.msg_controllen = sizeof(c.buf);
		c.h.cmsg_level = SOL_SOCKET;
		c.h.cmsg_type = SCM_RIGHTS;
		c.h.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&c.h), &fd, sizeof(int));
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(m) ? 0 : -EIO;
}

int sentinel_hold_vf(const char *name, int fd, uint64_t status_off, uint64_t command_off,
		     uint32_t *ret_id)
{
	int r = 0;

	*ret_id = 0;
	pthread_mutex_lock(&lock);
	if (sock >= 0) {
		uint32_t id = next_id++;

		/* SCM_RIGHTS passes a new reference: ours stays the device's */
		r = send_locked(SENTINEL_HOLD_VF, id, name, fd, status_off, command_off);
		if (r == 0)
			*ret_id = id;
	}
	pthread_mutex_unlock(&lock);
	return r;
}

static bool conn_held(const struct stat *st)
{
	for (unsigned i = 0; i < n_conns; i++)
		if (conns[i].dev == st->st_dev && conns[i].ino == st->st_ino)
			return true;
	return false;
}

/* Is @fd a connected UNIX socket whose own name (@client: peer name) is
 * @path? */
static bool conn_matches(int fd, const char *path, int client)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	int listening = 0;
	socklen_t ol = sizeof(listening);
	size_t plen = strlen(path);

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ol) < 0 || listening)
		return false;
	memset(&sa, 0, sizeof(sa));
	if ((client ? getpeername(fd, (struct sockaddr *)&sa, &len)
		    : getsockname(fd, (struct sockaddr *)&sa, &len)) < 0)
		return false;
	if (sa.sun_family != AF_UNIX || len <= offsetof(struct sockaddr_un, sun_path))
		return false;
	len -= (socklen_t)offsetof(struct sockaddr_un, sun_path);
	/* the kernel may or may not count the name's NUL */
	if (len > 0 && sa.sun_path[len - 1] == '\0')
		len--;
	return len == plen && memcmp(sa.sun_path, path, plen) == 0;
}

/* Under lock: the one fd that is the new connection, or -ENOENT/-EEXIST. */
static int find_conn_locked(const char *path, int client, struct stat *ret_st)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int found = -ENOENT;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);
		struct stat st;

		if (*end || end == de->d_name || fd == dirfd(d) || fd > INT32_MAX)
			continue;
		if (fstat((int)fd, &st) < 0 || !S_ISSOCK(st.st_mode) || conn_held(&st))
			continue;
		if (!conn_matches((int)fd, path, client))
			continue;
		if (found >= 0) {
			found = -EEXIST;
			break;
		}
		found = (int)fd;
		*ret_st = st;
	}
	closedir(d);
	return found;
}

int sentinel_hold_conn(const char *name, const char *path, int client, int key,
		       const void *group)
{
	struct stat st = { 0 }, st2;
	int fd, dup_fd, r;
	uint32_t id;

	pthread_mutex_lock(&lock);
	if (sock < 0) {
		r = 0;
		goto out;
	}
	if (n_conns == SENTINEL_MAX_HELD) {
		r = -ENOSPC;
		goto out;
	}
	fd = find_conn_locked(path, client, &st);
	if (fd < 0) {
		r = fd;
		goto out;
	}
	/* the number could have been closed and reused since the scan */
	dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup_fd < 0) {
		r = -errno;
		goto out;
	}
	if (fstat(dup_fd, &st2) < 0 || st2.st_ino != st.st_ino || st2.st_dev != st.st_dev) {
		close(dup_fd);
		r = -ENOENT;
		goto out;
	}
	id = next_id++;
	r = send_locked(SENTINEL_HOLD_CONN, id, name, dup_fd, 0, 0);
	close(dup_fd);
	if (r == 0) {
		conns[n_conns].id = id;
		conns[n_conns].key = key;
		conns[n_conns].group = group;
		conns[n_conns].dev = st.st_dev;
		conns[n_conns].ino = st.st_ino;
		n_conns++;
		r = 1;
	}
out:
	pthread_mutex_unlock(&lock);
	return r;
}

void sentinel_drop(uint32_t id)
{
	if (!id)
		return;
	pthread_mutex_lock(&lock);
	if (sock >= 0)
		(void)send_locked(SENTINEL_DROP, id, NULL, -1, 0, 0);
	pthread_mutex_unlock(&lock);
}

/* Under lock: drop the held connections @match accepts. */
static void drop_conns_locked(bool (*match)(unsigned i, const void *what), const void *what)
{
	for (unsigned i = 0; i < n_conns;) {
		if (!match(i, what)) {
			i++;
			continue;
		}
		if (sock >= 0)
			(void)send_locked(SENTINEL_DROP, conns[i].id, NULL, -1, 0, 0);
		conns[i] = conns[--n_conns];
	}
}

static bool key_is(unsigned i, const void *what)
{
	return conns[i].key == *(const int *)what;
}

static bool group_is(unsigned i, const void *what)
{
	return conns[i].group == what;
}

void sentinel_drop_conn(int key)
{
	pthread_mutex_lock(&lock);
	drop_conns_locked(key_is, &key);
	pthread_mutex_unlock(&lock);
}

void sentinel_drop_group(const void *group)
{
	pthread_mutex_lock(&lock);
	drop_conns_locked(group_is, group);
	pthread_mutex_unlock(&lock);
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	(void)nanosleep(&ts, NULL);
}

void sentinel_stop(void)
{
	long long end;
	pid_t pid;

	pthread_mutex_lock(&lock);
	if (sock >= 0) {
		(void)send_locked(SENTINEL_QUIT, 0, NULL, -1, 0, 0);
		close(sock);
		sock = -1;
	}
	n_conns = 0;
	pid = child;
	pthread_mutex_unlock(&lock);
	if (!pid)
		return;
	/* it only closes fds: a few ms; killed when it does not */
	end = mono_ms() + REAP_WAIT_MS;
	for (;;) {
		pid_t r = waitpid(pid, NULL, WNOHANG);

		if (r == pid || (r < 0 && errno != EINTR))
			break;
		if (mono_ms() > end) {
			fprintf(stderr, "ifcvf-helper: the sentinel (pid %d) did not exit within "
				"%d ms of quit; killing it\n", (int)pid, REAP_WAIT_MS);
			(void)kill(pid, SIGKILL);
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
			break;
		}
		nap_ms(1);
	}
	pthread_mutex_lock(&lock);
	child = 0;
	pthread_mutex_unlock(&lock);
}

/* ==== the sentinel's side (a process of one thread) ==== */

struct held {
	uint32_t id;
	enum sentinel_kind kind;
	int fd;
	uint64_t status_off, command_off;
	char name[SENTINEL_NAME_MAX];
};

static struct held held[SENTINEL_MAX_HELD];
static unsigned n_held;
static pid_t helper_pid;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* one write: the line is not torn by the helper's own output */
	dprintf(STDERR_FILENO, "ifcvf-helper sentinel (for pid %d): %s\n", (int)helper_pid, line);
}

static void close_fds(const int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
}

static void handle(const struct sentinel_msg *m, ssize_t len, int msg_flags, const int *fds,
		   unsigned nfds)
{
	unsigned want = m->kind == SENTINEL_HOLD_VF || m->kind == SENTINEL_HOLD_CONN ? 1 : 0;

	if (len != (ssize_t)sizeof(*m) || m->magic != SENTINEL_MAGIC ||
	    (msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		say("ignoring a malformed message from the helper (%zd bytes, flags 0x%x)", len,
		    (unsigned)msg_flags);
		close_fds(fds, nfds);
		return;
	}
	if (m->kind < SENTINEL_HOLD_VF || m->kind > SENTINEL_QUIT || nfds != want) {
		say("ignoring message kind %u with %u fd(s) from the helper", m->kind, nfds);
		close_fds(fds, nfds);
		return;
	}
	if (m->kind == SENTINEL_DROP) {
		for (unsigned i = 0; i < n_held; i++)
			if (held[i].id == m->id) {
				close(held[i].fd);
				held[i] = held[--n_held];
				return;
			}
		/* a VF whose hand-over failed, or a connection never held */
		return;
	}
	if (n_held == SENTINEL_MAX_HELD) {
		say("already holds %u fds; %.*s is not held", SENTINEL_MAX_HELD,
		    (int)sizeof(m->name), m->name);
		close_fds(fds, nfds);
		return;
	}
	held[n_held] = (struct held){ .id = m->id, .kind = (enum sentinel_kind)m->kind,
				      .fd = fds[0], .status_off = m->status_off,
				      .command_off = m->command_off };
	memcpy(held[n_held].name, m->name, sizeof(m->name));
	held[n_held].name[sizeof(m->name) - 1] = '\0';
	n_held++;
}

/* virtio reset, Bus Master off, function reset: what the VF did, appended
 * to @out */
static void stop_vf(const struct held *h, char *out, size_t outlen)
{
	uint8_t zero = 0, status = 0xff;
	uint16_t cmd;
	const char *status_said = "read back 0", *master = "off";
	char reset[64] = "done";
	long long end = mono_ms() + STATUS_WAIT_MS;
	size_t used = strlen(out);

	if (pwrite(h->fd, &zero, 1, (off_t)h->status_off) != 1) {
		status_said = "write failed";
	} else {
		while (pread(h->fd, &status, 1, (off_t)h->status_off) == 1 && status != 0 &&
		       mono_ms() < end)
			nap_ms(1);
		if (status != 0)
			status_said = "did not read back 0";
	}
	/* no DMA whatever the device made of the reset */
	if (pread(h->fd, &cmd, 2, (off_t)h->command_off) != 2) {
		master = "unchanged (config read failed)";
	} else {
		cmd = htole16((uint16_t)(le16toh(cmd) & ~PCI_COMMAND_BUS_MASTER));
		if (pwrite(h->fd, &cmd, 2, (off_t)h->command_off) != 2)
			master = "unchanged (config write failed)";
	}
	/* not every function has a reset method (one on a root bus may not) */
	if (ioctl(h->fd, VFIO_DEVICE_RESET) < 0)
		snprintf(reset, sizeof(reset), "%s",
			 errno == ENOTTY || errno == EINVAL ? "not available" : strerror(errno));
	if (used < outlen)
		snprintf(out + used, outlen - used, "%sVF %s stopped (device_status 0 %s, "
			 "bus master %s, function reset %s)", used ? ", " : "", h->name, status_said,
			 master, reset);
}

/* The helper died: stop the VFs, then let the frontends see the close. */
static void helper_died(int pidfd) __attribute__((noreturn));
static void helper_died(int pidfd)
{
	char vfs[768] = "";
	unsigned closed = 0;

	for (unsigned i = 0; i < n_held; i++)
		if (held[i].kind == SENTINEL_HOLD_VF)
			stop_vf(&held[i], vfs, sizeof(vfs));
	/* every other fd of the helper closed first (a vfio-user socket hangs
	 * up): the process is gone once its pidfd reads */
	if (pidfd >= 0) {
		struct pollfd p = { .fd = pidfd, .events = POLLIN };
		long long end = mono_ms() + EXIT_WAIT_MS;
		long long left;

		while ((left = end - mono_ms()) > 0 && poll(&p, 1, (int)left) < 0 && errno == EINTR)
			;
	}
	for (unsigned i = 0; i < n_held; i++)
		if (held[i].kind == SENTINEL_HOLD_CONN) {
			close(held[i].fd);
			closed++;
		}
	say("the helper died: %s%s%u vhost-user connection%s closed after that", vfs,
	    vfs[0] ? "; " : "no kernel VFIO device held; ", closed, closed == 1 ? "" : "s");
	for (unsigned i = 0; i < n_held; i++)
		if (held[i].kind == SENTINEL_HOLD_VF)
			close(held[i].fd);
	_exit(0);
}

/* Keep only @keep and stderr; stdin and stdout on /dev/null. */
static int keep_only(int keep)
{
	int null;

	if (keep < 3) {
		int moved = fcntl(keep, F_DUPFD_CLOEXEC, 3);

		if (moved < 0)
			return -1;
		keep = moved;
	}
	if (keep > 3 && syscall(SYS_close_range, 3u, (unsigned)keep - 1, 0u) < 0)
		for (int fd = 3; fd < keep; fd++)
			close(fd);
	if (syscall(SYS_close_range, (unsigned)keep + 1, ~0u, 0u) < 0)
		for (int fd = keep + 1; fd < 65536; fd++)
			close(fd);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		(void)dup2(null, STDIN_FILENO);
		(void)dup2(null, STDOUT_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	return keep;
}

/* A forked copy has the helper's command line: anyone who looks for the
 * helper by it (ps, a script, a test counting a VM's processes) would find
 * two. The arguments live in this process's own memory, a copy since the
 * fork: overwrite them with the sentinel's name. */
static void set_title(void)
{
	char stat[1024], *p;
	unsigned long long start = 0, end = 0;
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, stat, sizeof(stat) - 1) : -1;
	static const char title[] = "ifcvf-sentinel";

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return;
	stat[n] = '\0';
	/* after "pid (comm)" comes field 3; arg_start and arg_end are 48, 49 */
	p = strrchr(stat, ')');
	for (int field = 2; p && field < 48; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p, " %llu %llu", &start, &end) != 2 || !start || end <= start)
		return;
	memset((void *)(uintptr_t)start, 0, (size_t)(end - start));
	memcpy((void *)(uintptr_t)start, title,
	       end - start > sizeof(title) ? sizeof(title) : (size_t)(end - start - 1));
}

static void child_main(int fd, pid_t parent)
{
	static const int ignored[] = { SIGTERM, SIGINT, SIGHUP, SIGPIPE };
	sigset_t none;
	int pidfd;

	helper_pid = parent;
	(void)prctl(PR_SET_NAME, "ifcvf-sentinel", 0, 0, 0);
	set_title();
	/* systemd sends SIGTERM to what is left of the unit once the helper
	 * died: the job of a few ms must still be done */
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		signal(ignored[i], SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	fd = keep_only(fd);
	if (fd < 0)
		_exit(1);
	pidfd = (int)syscall(SYS_pidfd_open, parent, 0);
	/* the helper may have died already and its pid been reused */
	if (pidfd >= 0 && getppid() != parent) {
		close(pidfd);
		pidfd = -1;
	}
	for (;;) {
		struct sentinel_msg m;
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(4 * sizeof(int))];
		} c;
		struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf,
				     .msg_controllen = sizeof(c.buf) };
		int fds[4];
		unsigned nfds = 0;
		ssize_t n;

		memset(&m, 0, sizeof(m));
		/* no timeout: waiting for the helper's end is the whole job */
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			helper_died(pidfd);
		for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h)) {
			size_t k;

			if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
				continue;
			k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t j = 0; j < k && nfds < 4; j++)
				memcpy(&fds[nfds++], CMSG_DATA(h) + j * sizeof(int), sizeof(int));
		}
		if (n == (ssize_t)sizeof(m) && m.magic == SENTINEL_MAGIC && m.kind == SENTINEL_QUIT &&
		    nfds == 0) {
			for (unsigned i = 0; i < n_held; i++)
				close(held[i].fd);
			_exit(0);
		}
		handle(&m, n, mh.msg_flags, fds, nfds);
	}
}

#include "sd-notify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "helper-error.h"

/* what one datagram carries at most (systemd takes up to 768 per message,
 * SCM_MAX_FD is 253) */
#define SD_NOTIFY_MAX_FDS 16

int ifcvf_sd_notify(const char *state, const int *fds, guint n_fds, GError **error)
{
	const char *path = g_getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * SD_NOTIFY_MAX_FDS)];
	} ctl;
	struct iovec iov = { .iov_base = (void *)state, .iov_len = strlen(state) };
	struct msghdr msg = { .msg_name = &sa, .msg_iov = &iov, .msg_iovlen = 1 };
	size_t len;
	int fd, r;

	if (!path || !*path)
		return 0;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path)) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
			    "NOTIFY_SOCKET '%s' is neither an absolute path nor an abstract name "
			    "that fits a socket address", path);
		return -EINVAL;
	}
	if (n_fds > SD_NOTIFY_MAX_FDS) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
			    "%u fds in one notification, at most %d", n_fds, SD_NOTIFY_MAX_FDS);
		return -E2BIG;
	}
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	msg.msg_namelen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	if (n_fds) {
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
		ctl.h.cmsg_level = SOL_SOCKET;
		ctl.h.cmsg_type = SCM_RIGHTS;
		ctl.h.cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
		memcpy(CMSG_DATA(&ctl.h), fds, sizeof(int) * n_fds);
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_FAILED,
			    "NOTIFY_SOCKET %s: socket: %s", path, g_strerror(-r));
		return r;
	}
	/* a datagram socket never blocks long: systemd's queue is deep, and
	 * a full one fails at once with MSG_DONTWAIT */
	if (sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		r = -errno;
		close(fd);
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_FAILED,
			    "NOTIFY_SOCKET %s: %s", path, g_strerror(-r));
		return r;
	}
	close(fd);
	return 1;
}

static void unset_listen_env(void)
{
	g_unsetenv("LISTEN_PID");
	g_unsetenv("LISTEN_FDS");
	g_unsetenv("LISTEN_FDNAMES");
}

static gboolean parse_uint(const char *s, guint64 max, guint64 *ret)
{
	return s && g_ascii_string_to_unsigned(s, 10, 0, max, ret, NULL);
}

GHashTable *ifcvf_sd_listen_fds_take(GError **error)
{
	g_autoptr(GHashTable) fds = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	const char *pid_s = g_getenv("LISTEN_PID"), *n_s = g_getenv("LISTEN_FDS");
	const char *names_s = g_getenv("LISTEN_FDNAMES");
	g_auto(GStrv) names = NULL;
	guint64 pid = 0, n = 0;

	if (!pid_s && !n_s) {
		unset_listen_env();
		return g_steal_pointer(&fds);
	}
	if (!parse_uint(pid_s, G_MAXINT, &pid) || !parse_uint(n_s, 1024, &n)) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
			    "LISTEN_PID '%s' / LISTEN_FDS '%s' are not numbers",
			    pid_s ? pid_s : "", n_s ? n_s : "");
		unset_listen_env();
		return NULL;
	}
	if ((pid_t)pid != getpid()) {
		/* meant for another process (a parent that did not unset them) */
		unset_listen_env();
		return g_steal_pointer(&fds);
	}
	names = names_s ? g_strsplit(names_s, ":", -1) : NULL;
	for (guint64 i = 0; i < n; i++) {
		int fd = IFCVF_SD_LISTEN_FDS_START + (int)i;
		int flags = fcntl(fd, F_GETFD);
		const char *name = names && i < g_strv_length(names) && *names[i] ? names[i]
										   : "unknown";

		if (flags < 0) {
			g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
				    "LISTEN_FDS says %" G_GUINT64_FORMAT " fds, but fd %d is not open",
				    n, fd);
			unset_listen_env();
			return NULL;
		}
		(void)fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
		g_hash_table_replace(fds, g_strdup(name), GINT_TO_POINTER(fd));
	}
	unset_listen_env();
	return g_steal_pointer(&fds);
}

/* sd-notify.c against a fake systemd: a datagram socket the test binds as
 * $NOTIFY_SOCKET (a path and an abstract name), and $LISTEN_* with fds the
 * test puts at 3 and up, in a child process (fd 3 is not the test's to
 * take in its own process). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper-error.h"
#include "sd-notify.h"

/* bind a datagram socket at @name (a path, or "@x" for abstract) */
static int fake_systemd(const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpuint(len, <, sizeof(sa.sun_path));
	memcpy(sa.sun_path, name, len);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	g_assert_cmpint(bind(fd, (struct sockaddr *)&sa,
			     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)), ==, 0);
	return fd;
}

/* receive one notification: its text, and its one fd (or -1) */
static char *receive(int sock, int *ret_fd)
{
	char buf[256] = { 0 };
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * 4)];
	} ctl;
	struct iovec iov = { buf, sizeof(buf) - 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			      .msg_controllen = sizeof(ctl.b) };
	ssize_t n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	g_assert_cmpint(n, >, 0);
	*ret_fd = -1;
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
		g_assert_cmpuint(c->cmsg_len, ==, CMSG_LEN(sizeof(int)));
		memcpy(ret_fd, CMSG_DATA(c), sizeof(int));
	}
	return g_strndup(buf, (gsize)n);
}

static void same_file(int a, int b)
{
	struct stat sa, sb;

	g_assert_cmpint(fstat(a, &sa), ==, 0);
	g_assert_cmpint(fstat(b, &sb), ==, 0);
	g_assert_cmpuint(sa.st_dev, ==, sb.st_dev);
	g_assert_cmpuint(sa.st_ino, ==, sb.st_ino);
}

static void notify_at(const char *name)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *text = NULL;
	g_autofree char *text2 = NULL;
	int sock = fake_systemd(name), efd = eventfd(0, EFD_CLOEXEC), got = -1;
	uint64_t v = 7;

	g_assert_true(g_setenv("NOTIFY_SOCKET", name, TRUE));
	g_assert_cmpint(ifcvf_sd_notify("FDSTORE=1\nFDNAME=vf0-vfio-user", &efd, 1, &error), ==, 1);
	g_assert_no_error(error);
	text = receive(sock, &got);
	g_assert_cmpstr(text, ==, "FDSTORE=1\nFDNAME=vf0-vfio-user");
	/* the very object, not a copy: what is written on one is read on the other */
	g_assert_cmpint(got, >=, 0);
	same_file(got, efd);
	g_assert_cmpint(write(efd, &v, sizeof(v)), ==, sizeof(v));
	v = 0;
	g_assert_cmpint(read(got, &v, sizeof(v)), ==, sizeof(v));
	g_assert_cmpuint(v, ==, 7);
	/* without fds: the text alone */
	g_assert_cmpint(ifcvf_sd_notify("READY=1", NULL, 0, &error), ==, 1);
	text2 = receive(sock, &got);
	g_assert_cmpstr(text2, ==, "READY=1");
	g_assert_cmpint(got, ==, -1);
	close(efd);
	close(sock);
	g_unsetenv("NOTIFY_SOCKET");
}

static void test_notify_path(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp("sd-notify-XXXXXX", &error);
	g_autofree char *path = g_build_filename(dir, "notify", NULL);

	g_assert_no_error(error);
	notify_at(path);
	g_assert_cmpint(unlink(path), ==, 0);
	g_assert_cmpint(rmdir(dir), ==, 0);
}

static void test_notify_abstract(void)
{
	g_autofree char *name = g_strdup_printf("@ifcvf-sd-notify-test-%d", (int)getpid());

	notify_at(name);
}

static void test_notify_none_or_bad(void)
{
	g_autoptr(GError) error = NULL;
	int fd = 0;

	g_unsetenv("NOTIFY_SOCKET");
	g_assert_cmpint(ifcvf_sd_notify("READY=1", NULL, 0, &error), ==, 0);
	g_assert_no_error(error);
	g_assert_true(g_setenv("NOTIFY_SOCKET", "relative/path", TRUE));
	g_assert_cmpint(ifcvf_sd_notify("READY=1", &fd, 1, &error), ==, -EINVAL);
	g_assert_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS);
	g_assert_nonnull(strstr(error->message, "relative/path"));
	g_clear_error(&error);
	/* nobody listens there: the failure names the socket */
	g_assert_true(g_setenv("NOTIFY_SOCKET", "/nonexistent/ifcvf-notify", TRUE));
	g_assert_cmpint(ifcvf_sd_notify("READY=1", NULL, 0, &error), ==, -ENOENT);
	g_assert_nonnull(strstr(error->message, "/nonexistent/ifcvf-notify"));
	g_unsetenv("NOTIFY_SOCKET");
}

/* In a child: two fds at 3 and 4 as systemd passes them, the variables
 * for this pid; they come back by name, close-on-exec, the variables
 * gone. Exit status 0 when all held. */
static int child_listen(const char *names, gboolean own_pid)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GHashTable) fds = NULL;
	g_autofree char *pid = g_strdup_printf("%d", (int)(own_pid ? getpid() : getpid() + 1));
	int a = eventfd(0, 0), b = eventfd(0, 0);

	if (a < 0 || b < 0 || dup2(a, 3) != 3 || dup2(b, 4) != 4)
		return 10;
	g_setenv("LISTEN_PID", pid, TRUE);
	g_setenv("LISTEN_FDS", "2", TRUE);
	if (names)
		g_setenv("LISTEN_FDNAMES", names, TRUE);
	fds = ifcvf_sd_listen_fds_take(&error);
	if (!fds)
		return 11;
	if (g_getenv("LISTEN_PID") || g_getenv("LISTEN_FDS") || g_getenv("LISTEN_FDNAMES"))
		return 12;
	if (!own_pid)
		return g_hash_table_size(fds) == 0 && !(fcntl(3, F_GETFD) & FD_CLOEXEC) ? 0 : 13;
	if (names) {
		if (g_hash_table_size(fds) != 2 ||
		    GPOINTER_TO_INT(g_hash_table_lookup(fds, "vf0-vfio-user")) != 3 ||
		    GPOINTER_TO_INT(g_hash_table_lookup(fds, "vf0-vfio-device")) != 4)
			return 14;
	} else if (GPOINTER_TO_INT(g_hash_table_lookup(fds, "unknown")) != 4) {
		return 15;
	}
	if (!(fcntl(3, F_GETFD) & FD_CLOEXEC) || !(fcntl(4, F_GETFD) & FD_CLOEXEC))
		return 16;
	return 0;
}

static void run_child(const char *names, gboolean own_pid)
{
	int st;
	pid_t pid = fork();

	g_assert_cmpint(pid, >=, 0);
	if (pid == 0)
		_exit(child_listen(names, own_pid));
	g_assert_cmpint(waitpid(pid, &st, 0), ==, pid);
	g_assert_true(WIFEXITED(st));
	g_assert_cmpint(WEXITSTATUS(st), ==, 0);
}

static void test_listen_named(void)
{
	run_child("vf0-vfio-user:vf0-vfio-device", TRUE);
}

static void test_listen_unnamed(void)
{
	run_child(NULL, TRUE);
}

static void test_listen_other_pid(void)
{
	run_child("a:b", FALSE);
}

static void test_listen_none_or_bad(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GHashTable) none = NULL;

	g_unsetenv("LISTEN_PID");
	g_unsetenv("LISTEN_FDS");
	none = ifcvf_sd_listen_fds_take(&error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_hash_table_size(none), ==, 0);
	g_setenv("LISTEN_PID", "x", TRUE);
	g_setenv("LISTEN_FDS", "1", TRUE);
	g_assert_null(ifcvf_sd_listen_fds_take(&error));
	g_assert_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS);
	g_assert_null(g_getenv("LISTEN_PID"));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/sd-notify/notify/path", test_notify_path);
	g_test_add_func("/sd-notify/notify/abstract", test_notify_abstract);
	g_test_add_func("/sd-notify/notify/none-or-bad", test_notify_none_or_bad);
	g_test_add_func("/sd-notify/listen/named", test_listen_named);
	g_test_add_func("/sd-notify/listen/unnamed", test_listen_unnamed);
	g_test_add_func("/sd-notify/listen/other-pid", test_listen_other_pid);
	g_test_add_func("/sd-notify/listen/none-or-bad", test_listen_none_or_bad);
	return g_test_run();
}

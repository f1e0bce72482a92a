/* The helper's sentinel (src/helper/sentinel.h, issue 18) with real
 * processes: ifcvf-emu, `ifcvf-helper run` with one port, and the test
 * frontend of tests/lib.
 *
 * - the helper has exactly one sentinel child while it runs;
 * - a connection the helper drops itself (a message too large) closes for
 *   the frontend at once: the sentinel's copy does not keep it open;
 * - SIGKILL: the frontend sees the close, the sentinel says what it did
 *   and exits (checked by pid);
 * - SIGTERM: exit status 0 and no sentinel left;
 * - the sentinel alone (sentinel.c linked in, a forked "helper" that dies
 *   holding a memfd as its device): device_status is 0 and Bus Master off
 *   in that memfd by the time the connection it held reads EOF.
 * Every wait is bounded and only guards against a hang. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "datapath-util.h"
#include "sentinel.h"
#include "vu-frontend.h"

#define WAIT_S 10   /* hang guard */

typedef struct {
	char *dir;
	char *socket;
	TestEmu *emu;
	DpProc *helper;
	pid_t sentinel;
	struct vu_frontend fe;
	gboolean fe_open;
} Rig;

/* The processes whose parent is @parent. */
static GArray *children_of(pid_t parent)
{
	GArray *kids = g_array_new(FALSE, FALSE, sizeof(pid_t));
	g_autoptr(GDir) d = g_dir_open("/proc", 0, NULL);
	const char *name;

	g_assert_nonnull(d);
	while ((name = g_dir_read_name(d))) {
		g_autofree char *path = NULL;
		g_autofree char *stat = NULL;
		const char *close_paren;
		char state;
		int ppid;

		if (!g_ascii_isdigit(name[0]))
			continue;
		path = g_strdup_printf("/proc/%s/stat", name);
		if (!g_file_get_contents(path, &stat, NULL, NULL))
			continue;
		/* "pid (comm) state ppid ...": comm may hold anything */
		close_paren = strrchr(stat, ')');
		if (!close_paren || sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2)
			continue;
		if (ppid == parent) {
			pid_t pid = (pid_t)atoi(name);

			g_array_append_val(kids, pid);
		}
	}
	return kids;
}

/* Running (not gone, not a zombie). */
static gboolean process_alive(pid_t pid)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
	g_autofree char *stat = NULL;
	const char *close_paren;

	if (!g_file_get_contents(path, &stat, NULL, NULL))
		return FALSE;
	close_paren = strrchr(stat, ')');
	return close_paren && close_paren[1] == ' ' && close_paren[2] != 'Z' &&
	       close_paren[2] != 'X';
}

static Rig *rig_new(const char *prefix)
{
	g_autofree char *tmpl = g_strdup_printf("%s-XXXXXX", prefix);
	g_autofree char *spec = NULL;
	g_autofree char *comm_path = NULL;
	g_autofree char *comm = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GArray) kids = NULL;
	struct cerr e = { 0 };
	Rig *r = g_new0(Rig, 1);

	r->dir = g_dir_make_tmp(tmpl, &error);
	g_assert_no_error(error);
	r->socket = g_build_filename(r->dir, "vhost.sock", NULL);
	r->emu = test_emu_start((const char *const[]){ "--type", "net", "--queue-pairs", "1",
						       NULL });
	spec = g_strdup_printf("device=%s,socket=%s", r->emu->address, r->socket);
	r->helper = dp_helper_start(r->dir, (const char *const[]){ spec, NULL });

	kids = children_of(r->helper->pid);
	if (kids->len != 1)
		g_error("the helper (pid %d) has %u children, expected its one sentinel",
			(int)r->helper->pid, kids->len);
	r->sentinel = g_array_index(kids, pid_t, 0);
	comm_path = g_strdup_printf("/proc/%d/comm", (int)r->sentinel);
	g_assert_true(g_file_get_contents(comm_path, &comm, NULL, NULL));
	g_assert_cmpstr(g_strstrip(comm), ==, "ifcvf-sentinel");
	g_assert_true(process_alive(r->sentinel));
	/* not a second copy of the helper's command line (ps, scripts) */
	g_free(comm_path);
	g_free(comm);
	comm_path = g_strdup_printf("/proc/%d/cmdline", (int)r->sentinel);
	g_assert_true(g_file_get_contents(comm_path, &comm, NULL, NULL));
	g_assert_cmpstr(comm, ==, "ifcvf-sentinel");

	if (vu_frontend_connect(&r->fe, r->socket, WAIT_S * 1000, &e) < 0 ||
	    vu_frontend_handshake(&r->fe, 0, &e) < 0)
		g_error("frontend: %s", e.msg);
	r->fe_open = TRUE;
	return r;
}

static void rig_free(Rig *r)
{
	if (r->fe_open)
		vu_frontend_close(&r->fe);
	if (r->helper) {
		if (dp_proc_alive(r->helper))
			(void)dp_proc_stop(r->helper, WAIT_S);
		dp_proc_free(r->helper);
	}
	test_emu_stop(r->emu);
	test_rm_flat_dir(r->dir);
	g_free(r->dir);
	g_free(r->socket);
	g_free(r);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Rig, rig_free)

/* The frontend's connection reads EOF (the backend closed it). */
static void expect_closed(Rig *r, const char *when)
{
	struct pollfd p = { .fd = r->fe.sock, .events = POLLIN };
	char buf[256];
	ssize_t n;

	for (;;) {
		int k = poll(&p, 1, WAIT_S * 1000);

		if (k < 0 && errno == EINTR)
			continue;
		if (k == 0) {
			g_autofree char *log = dp_proc_log(r->helper);

			g_error("%s: the frontend's connection is still open after %d s "
				"(helper log: %s)", when, WAIT_S, log);
		}
		n = read(r->fe.sock, buf, sizeof(buf));
		if (n <= 0)
			break;
	}
	/* a peer that dies with our bytes unread resets the connection */
	if (n < 0)
		g_assert_cmpint(errno, ==, ECONNRESET);
}

static void expect_gone(pid_t pid, const char *what)
{
	gint64 end = g_get_monotonic_time() + WAIT_S * G_TIME_SPAN_SECOND;

	while (process_alive(pid)) {
		if (g_get_monotonic_time() > end)
			g_error("%s (pid %d) still runs after %d s", what, (int)pid, WAIT_S);
		g_usleep(2000);
	}
}

/* A message the helper drops the connection for (DPDK refuses a size over
 * its payload): the frontend sees the close while the helper runs on. */
static void test_helper_drops(void)
{
	g_autoptr(Rig) r = rig_new("sentinel-drop");
	const uint32_t hdr[3] = { VU_GET_FEATURES, 1, 0x100000 };

	g_assert_cmpint(write(r->fe.sock, hdr, sizeof(hdr)), ==, (ssize_t)sizeof(hdr));
	expect_closed(r, "a connection the helper dropped");
	g_assert_true(process_alive(r->helper->pid));
	g_assert_true(process_alive(r->sentinel));
	/* a second frontend on the same port is held and let go the same way */
	vu_frontend_close(&r->fe);
	r->fe_open = FALSE;
	{
		struct cerr e = { 0 };

		if (vu_frontend_connect(&r->fe, r->socket, WAIT_S * 1000, &e) < 0 ||
		    vu_frontend_handshake(&r->fe, 0, &e) < 0)
			g_error("frontend again: %s", e.msg);
		r->fe_open = TRUE;
	}
	g_assert_cmpint(write(r->fe.sock, hdr, sizeof(hdr)), ==, (ssize_t)sizeof(hdr));
	expect_closed(r, "the second connection the helper dropped");
}

static void test_sigkill(void)
{
	g_autoptr(Rig) r = rig_new("sentinel-kill");
	g_autofree char *log = NULL;
	g_autofree char *line = NULL;
	int status;

	g_assert_cmpint(kill(r->helper->pid, SIGKILL), ==, 0);
	expect_closed(r, "after SIGKILL");
	expect_gone(r->sentinel, "the sentinel");
	status = dp_proc_wait_exit(r->helper, WAIT_S);
	g_assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	log = dp_proc_log(r->helper);
	line = g_strdup_printf("ifcvf-helper sentinel (for pid %d): the helper died: no kernel "
			       "VFIO device held; 1 vhost-user connection closed after that",
			       (int)r->helper->pid);
	if (!strstr(log, line))
		g_error("the helper's log lacks \"%s\": %s", line, log);
}

static void test_sigterm(void)
{
	g_autoptr(Rig) r = rig_new("sentinel-term");
	g_autofree char *log = NULL;
	g_autofree char *proc = g_strdup_printf("/proc/%d", (int)r->sentinel);
	int status;

	status = dp_proc_stop(r->helper, WAIT_S);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	expect_closed(r, "after SIGTERM");
	/* reaped by the helper: no process, not even a zombie */
	g_assert_false(g_file_test(proc, G_FILE_TEST_EXISTS));
	log = dp_proc_log(r->helper);
	g_assert_null(strstr(log, "ifcvf-helper sentinel ("));
}

/* where the fake device keeps its registers */
#define FAKE_STATUS 0x114u
#define FAKE_COMMAND 0x4u

static void fake_helper(int memfd, const char *path, const char *log) __attribute__((noreturn));
static void fake_helper(int memfd, const char *path, const char *log)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lfd, cfd, afd, logfd;
	uint32_t vf = 0;

	logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (logfd < 0 || dup2(logfd, STDERR_FILENO) < 0 || sentinel_start() < 0)
		_exit(10);
	g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0)
		_exit(11);
	/* the "frontend" end goes to the test through the socket's path */
	cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cfd < 0 || connect(cfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		_exit(12);
	afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (afd < 0)
		_exit(13);
	if (sentinel_hold_vf("fake:vf", memfd, FAKE_STATUS, FAKE_COMMAND, &vf) < 0 || !vf ||
	    sentinel_hold_conn("fake port", path, 0, 1, NULL) != 1)
		_exit(14);
	/* hand the frontend end over: fd 3 of a pipe-less world, by path */
	{
		char byte = 'k';
		struct msghdr mh = { 0 };
		struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(int))];
		} c;
		int out = 4;

		memset(&c, 0, sizeof(c));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = c.buf;
		mh.msg_controllen = sizeof(c.buf);
		c.h.cmsg_level = SOL_SOCKET;
		c.h.cmsg_type = SCM_RIGHTS;
		c.h.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&c.h), &cfd, sizeof(int));
		if (sendmsg(out, &mh, 0) != 1)
			_exit(15);
	}
	/* dies as a killed helper does: no quit */
	_exit(0);
}

static void test_stop_order(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp("sentinel-unit-XXXXXX", &error);
	g_autofree char *path = g_build_filename(dir, "conn.sock", NULL);
	g_autofree char *log_path = g_build_filename(dir, "helper.log", NULL);
	g_autofree char *log = NULL;
	uint8_t *regs;
	int memfd, sv[2], conn = -1, status;
	char byte, buf[16];
	ssize_t n;
	pid_t pid;

	g_assert_no_error(error);
	memfd = memfd_create("fake-vf", MFD_CLOEXEC);
	g_assert_cmpint(memfd, >=, 0);
	g_assert_cmpint(ftruncate(memfd, 4096), ==, 0);
	regs = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	g_assert_true(regs != MAP_FAILED);
	regs[FAKE_STATUS] = 0x0f;          /* DRIVER_OK and the rest */
	regs[FAKE_COMMAND] = 0x07;         /* I/O, memory, Bus Master */
	g_assert_cmpint(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), ==, 0);
	pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		if (dup2(sv[1], 4) < 0)
			_exit(9);
		fake_helper(memfd, path, log_path);
	}
	close(sv[1]);
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	{
		struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int))];
		} c;
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.b,
				     .msg_controllen = sizeof(c.b) };

		g_assert_cmpint(recvmsg(sv[0], &mh, MSG_CMSG_CLOEXEC), ==, 1);
		g_assert_nonnull(CMSG_FIRSTHDR(&mh));
		memcpy(&conn, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(int));
	}
	close(sv[0]);
	/* the connection closes once the sentinel let go... */
	{
		struct pollfd p = { .fd = conn, .events = POLLIN };

		g_assert_cmpint(poll(&p, 1, WAIT_S * 1000), ==, 1);
		n = read(conn, buf, sizeof(buf));
		g_assert_cmpint(n, ==, 0);
	}
	/* ...and by then the device was stopped */
	g_assert_cmpuint(regs[FAKE_STATUS], ==, 0);
	g_assert_cmpuint(regs[FAKE_COMMAND], ==, 0x03);
	close(conn);
	/* the line is written before the device fd goes: wait for the file */
	for (int i = 0; i < WAIT_S * 100; i++) {
		g_clear_pointer(&log, g_free);
		g_assert_true(g_file_get_contents(log_path, &log, NULL, NULL));
		if (strstr(log, "\n"))
			break;
		g_usleep(10000);
	}
	if (!strstr(log, "the helper died: VF fake:vf stopped (device_status 0 read back 0, bus "
		    "master off, function reset not available); 1 vhost-user connection closed after "
		    "that"))
		g_error("the sentinel's line: %s", log);
	munmap(regs, 4096);
	close(memfd);
	test_rm_flat_dir(dir);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	signal(SIGPIPE, SIG_IGN);
	g_test_add_func("/helper/sentinel/helper-drops-connection", test_helper_drops);
	g_test_add_func("/helper/sentinel/sigkill", test_sigkill);
	g_test_add_func("/helper/sentinel/sigterm", test_sigterm);
	g_test_add_func("/helper/sentinel/stop-order", test_stop_order);
	return g_test_run();
}

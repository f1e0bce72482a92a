/* The helper's sentinel (src/helper/sentinel.h, issue 18) with real
 * processes: ifcvf-emu, `ifcvf-helper run` with one port, and the test
 * frontend of tests/lib.
 *
 * - the helper has exactly one sentinel child while it runs;
 * - a connection the helper drops itself (a message too large) closes for
 *   the frontend at once: the sentinel's copy does not keep it open;
 * - SIGKILL: the frontend sees the close, the sentinel says what it did
 *   and exits (checked by pid);
 * - SIGTERM: exit status 0 and no sentinel left.
 * Every wait is bounded and only guards against a hang. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "datapath-util.h"
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

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	signal(SIGPIPE, SIG_IGN);
	g_test_add_func("/helper/sentinel/helper-drops-connection", test_helper_drops);
	g_test_add_func("/helper/sentinel/sigkill", test_sigkill);
	g_test_add_func("/helper/sentinel/sigterm", test_sigterm);
	return g_test_run();
}

#include "datapath-util.h"

#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
	const char *log_path;
} ChildSetup;

static void child_setup(gpointer user_data)
{
	ChildSetup *cs = user_data;
	int fd = open(cs->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	/* a test that fails must not leave a helper or testpmd behind */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
}

DpProc *dp_proc_spawn(const char *dir, const char *name, const char *const *argv,
		      gboolean pipe_stdin)
{
	g_autoptr(GError) error = NULL;
	DpProc *p = g_new0(DpProc, 1);
	ChildSetup cs;
	g_autofree char *cmd = g_strjoinv(" ", (char **)argv);

	p->name = g_strdup(name);
	p->stdin_fd = -1;
	p->log_path = g_strdup_printf("%s/%s.log", dir, name);
	p->log_start = dp_proc_log_size(p);
	cs.log_path = p->log_path;
	g_test_message("spawn %s: %s", name, cmd);
	g_spawn_async_with_pipes(NULL, (char **)argv, NULL,
				 G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH,
				 child_setup, &cs, &p->pid, pipe_stdin ? &p->stdin_fd : NULL,
				 NULL, NULL, &error);
	g_assert_no_error(error);
	return p;
}

char *dp_proc_log(DpProc *p)
{
	char *text = NULL;

	if (!g_file_get_contents(p->log_path, &text, NULL, NULL))
		return g_strdup("");
	return text;
}

gsize dp_proc_log_size(DpProc *p)
{
	g_autofree char *text = dp_proc_log(p);

	return strlen(text);
}

gboolean dp_proc_alive(DpProc *p)
{
	if (p->reaped)
		return FALSE;
	if (waitpid(p->pid, &p->status, WNOHANG) == p->pid) {
		p->reaped = TRUE;
		g_spawn_close_pid(p->pid);
		return FALSE;
	}
	return TRUE;
}

gsize dp_proc_wait_log(DpProc *p, const char *needle, gsize from, guint timeout_s)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;

	for (;;) {
		g_autofree char *text = dp_proc_log(p);
		const char *hit = strlen(text) > from ? strstr(text + from, needle) : NULL;
		gboolean alive;

		if (hit)
			return (gsize)(hit - text) + strlen(needle);
		alive = dp_proc_alive(p);
		if (!alive || g_get_monotonic_time() > deadline) {
			g_test_message("%s log:\n%s", p->name, text);
			g_error("%s: '%s' did not appear (%s)", p->name, needle,
				alive ? "timed out" : "the process exited");
		}
		g_usleep(20 * 1000);
	}
}

void dp_proc_send(DpProc *p, const char *line)
{
	gsize len = strlen(line);

	g_assert_cmpint(p->stdin_fd, >=, 0);
	g_assert_cmpint(write(p->stdin_fd, line, len), ==, (gssize)len);
	g_assert_cmpint(write(p->stdin_fd, "\n", 1), ==, 1);
}

int dp_proc_wait_exit(DpProc *p, guint timeout_s)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;

	while (dp_proc_alive(p)) {
		if (g_get_monotonic_time() > deadline) {
			g_autofree char *text = dp_proc_log(p);

			kill(p->pid, SIGKILL);
			g_test_message("%s log:\n%s", p->name, text);
			g_error("%s did not exit within %u s", p->name, timeout_s);
		}
		g_usleep(20 * 1000);
	}
	return p->status;
}

int dp_proc_stop(DpProc *p, guint timeout_s)
{
	if (dp_proc_alive(p))
		kill(p->pid, SIGTERM);
	return dp_proc_wait_exit(p, timeout_s);
}

void dp_proc_free(DpProc *p)
{
	if (!p)
		return;
	if (!p->reaped) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, &p->status, 0);
		g_spawn_close_pid(p->pid);
	}
	if (p->stdin_fd >= 0)
		close(p->stdin_fd);
	g_free(p->name);
	g_free(p->log_path);
	g_free(p);
}

DpProc *dp_helper_start(const char *dir, const char *const *port_specs)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	DpProc *p;
	gsize off = 0;

	g_ptr_array_add(argv, (gpointer)test_program("IFCVF_HELPER"));
	g_ptr_array_add(argv, (gpointer) "run");
	/* no bus in these tests (the D-Bus suite runs the helper on one) */
	g_ptr_array_add(argv, (gpointer) "--bus");
	g_ptr_array_add(argv, (gpointer) "none");
	for (guint i = 0; port_specs[i]; i++) {
		g_ptr_array_add(argv, (gpointer) "--port");
		g_ptr_array_add(argv, (gpointer)port_specs[i]);
	}
	g_ptr_array_add(argv, NULL);
	p = dp_proc_spawn(dir, "helper", (const char *const *)argv->pdata, FALSE);
	/* a restarted helper's lines, not its predecessor's */
	off = p->log_start;
	for (guint i = 0; port_specs[i]; i++)
		off = dp_proc_wait_log(p, "): waiting: ", off, 30);
	return p;
}

static const char *testpmd_path(void)
{
	const char *p = g_getenv("DPDK_TESTPMD");

	return p && *p ? p : "dpdk-testpmd";
}

DpProc *dp_testpmd_start(const char *dir, const char *prefix, const char *vdev_args, guint nq,
			 gboolean wait_prompt)
{
	g_autofree char *vdev = g_strdup_printf("net_virtio_user0,%s", vdev_args);
	g_autofree char *q = g_strdup_printf("--rxq=%u", nq);
	g_autofree char *t = g_strdup_printf("--txq=%u", nq);
	g_autofree char *name = g_strdup_printf("testpmd-%s", prefix);
	/* two lcores on CPU 0 (testpmd needs a forwarding lcore); no
	 * hugepages, so no --in-memory, and files of its own */
	/* stdbuf: testpmd prints with stdio, block-buffered into a file */
	const char *argv[] = {
		"stdbuf", "-oL", testpmd_path(), "--no-huge", "-m", "512", "--no-shconf", "--file-prefix", prefix,
		"--lcores", "0@0,1@0", "--no-pci", "--log-level", "*:warning", "--vdev", vdev,
		"--", "-i", "--total-num-mbufs=16384", "--nb-cores=1", q, t,
		"--forward-mode=io", NULL,
	};
	DpProc *p = dp_proc_spawn(dir, name, argv, TRUE);

	if (wait_prompt)
		dp_proc_wait_log(p, "testpmd> ", 0, 60);
	return p;
}

static guint64 field_after(const char *text, const char *key)
{
	const char *hit = g_strrstr(text, key);

	g_assert_nonnull(hit);
	return g_ascii_strtoull(hit + strlen(key), NULL, 10);
}

void dp_testpmd_port_stats(DpProc *tp, guint64 *rx, guint64 *tx)
{
	gsize from = dp_proc_log_size(tp);
	g_autofree char *text = NULL;
	gsize end;

	dp_proc_send(tp, "show port stats all");
	end = dp_proc_wait_log(tp, "Tx-pps:", from, 30);
	text = dp_proc_log(tp);
	text[end] = '\0';
	*rx = field_after(text + from, "RX-packets:");
	*tx = field_after(text + from, "TX-packets:");
}

guint64 dp_testpmd_stop_fwd(DpProc *tp)
{
	gsize from = dp_proc_log_size(tp);
	g_autofree char *text = NULL;
	gsize end;

	dp_proc_send(tp, "stop");
	end = dp_proc_wait_log(tp, "Accumulated forward statistics", from, 30);
	end = dp_proc_wait_log(tp, "TX-dropped:", end, 30);
	end = dp_proc_wait_log(tp, "\n", end, 30);
	text = dp_proc_log(tp);
	text[end] = '\0';
	return field_after(text + from, "TX-dropped:");
}

void dp_testpmd_quit(DpProc *tp)
{
	int status;

	dp_proc_send(tp, "quit");
	status = dp_proc_wait_exit(tp, 60);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		g_autofree char *text = dp_proc_log(tp);

		g_test_message("%s log:\n%s", tp->name, text);
		g_error("%s ended with status 0x%x", tp->name, status);
	}
}

static guint64 member(JsonObject *o, const char *name)
{
	return json_object_has_member(o, name) ? (guint64)json_object_get_int_member(o, name) : 0;
}

void dp_emu_stats(TestEmu *emu, const char *stats_file, DpEmuStats *ret)
{
	gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	JsonObject *root, *dp;
	JsonArray *queues;

	(void)unlink(stats_file);
	g_assert_cmpint(kill(emu->pid, SIGUSR1), ==, 0);
	while (!g_file_test(stats_file, G_FILE_TEST_EXISTS)) {
		if (g_get_monotonic_time() > deadline)
			g_error("ifcvf-emu wrote no %s within 10 s of SIGUSR1", stats_file);
		g_usleep(10 * 1000);
	}
	json_parser_load_from_file(parser, stats_file, &error);
	g_assert_no_error(error);
	root = json_node_get_object(json_parser_get_root(parser));
	memset(ret, 0, sizeof(*ret));
	ret->dma_maps = member(json_object_get_object_member(root, "device"), "dma_maps");
	dp = json_object_get_object_member(root, "datapath");
	g_assert_nonnull(dp);
	ret->errors = member(dp, "device_errors");
	queues = json_object_get_array_member(dp, "queues");
	for (guint i = 0; i < json_array_get_length(queues); i++) {
		JsonObject *q = json_array_get_object_element(queues, i);
		gboolean rx = g_str_equal(json_object_get_string_member(q, "role"), "rx");

		if (rx) {
			ret->rx_frames += member(q, "frames");
			ret->rx_dropped += member(q, "rx_dropped");
			ret->rx_fifo += member(q, "rx_fifo_depth");
		} else {
			ret->tx_frames += member(q, "frames");
		}
		ret->errors += member(q, "errors") + member(q, "dma_errors");
		ret->kicks += member(q, "kicks");
		ret->enabled += json_object_get_boolean_member(q, "enabled") ? 1 : 0;
	}
}

static void die_with_parent(gpointer unused)
{
	(void)unused;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

void dp_emu_kill(TestEmu *emu)
{
	int status;

	g_assert_cmpint(kill(emu->pid, SIGKILL), ==, 0);
	g_assert_cmpint(waitpid(emu->pid, &status, 0), ==, emu->pid);
	g_spawn_close_pid(emu->pid);
	emu->pid = 0;
}

void dp_emu_restart(TestEmu *emu, const char *const *argv)
{
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	g_autoptr(GError) error = NULL;

	g_assert_cmpint(emu->pid, ==, 0);
	g_ptr_array_add(args, (gpointer)test_program("IFCVF_EMU"));
	g_ptr_array_add(args, (gpointer) "--socket");
	g_ptr_array_add(args, emu->socket);
	for (guint i = 0; argv && argv[i]; i++)
		g_ptr_array_add(args, (gpointer)argv[i]);
	g_ptr_array_add(args, NULL);
	g_spawn_async(NULL, (char **)args->pdata, NULL, G_SPAWN_DO_NOT_REAP_CHILD, die_with_parent,
		      NULL, &emu->pid, &error);
	g_assert_no_error(error);
}

guint dp_count_fds(GPid pid)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/fd", (int)pid);
	g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
	guint n = 0;

	g_assert_nonnull(d);
	while (g_dir_read_name(d))
		n++;
	return n;
}

/* Detached start, liveness and bounded stop of processes (see hook-spawn.h). */
#include "hook-spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>

#include "helper-error.h"

#define STOP_TERM_MS 10000
#define STOP_KILL_MS 5000
#define POLL_MS 20

static guint count_threads(pid_t pid)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/task", (int)pid);
	g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
	guint n = 0;

	while (d && g_dir_read_name(d))
		n++;
	return n;
}

gboolean hook_pid_alive(pid_t pid)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
	g_autofree char *stat = NULL;
	const char *p;

	if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH))
		return FALSE;
	if (!g_file_get_contents(path, &stat, NULL, NULL))
		return FALSE;
	p = strrchr(stat, ')');
	if (!p || p[1] != ' ')
		return FALSE;
	if (p[2] != 'Z' && p[2] != 'X')
		return TRUE;
	return count_threads(pid) > 1;
}

gboolean hook_pid_is_helper(pid_t pid, const char *uuid)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", (int)pid);
	g_autofree char *args_name = g_strdup_printf("/%s.args", uuid);
	g_autofree char *cmd = NULL;
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	gsize len = 0;
	gboolean ret = FALSE;

	if (pid <= 0 || !g_file_get_contents(path, &cmd, &len, NULL))
		return FALSE;
	for (gsize off = 0; off < len; off += strlen(cmd + off) + 1)
		g_ptr_array_add(argv, cmd + off);
	if (argv->len >= 2 && g_str_equal(g_ptr_array_index(argv, 1), "run")) {
		for (guint i = 2; i < argv->len && !ret; i++)
			ret = g_str_equal(g_ptr_array_index(argv, i), uuid);
	} else if (argv->len == 4 && g_str_equal(g_ptr_array_index(argv, 1), "hook") &&
		   (g_str_equal(g_ptr_array_index(argv, 2), "exec") ||
		    g_str_equal(g_ptr_array_index(argv, 2), "supervise"))) {
		ret = g_str_has_suffix(g_ptr_array_index(argv, 3), args_name);
	}
	return ret;
}

static gboolean wait_gone(pid_t pid, guint ms)
{
	gint64 end = g_get_monotonic_time() + ms * G_TIME_SPAN_MILLISECOND;

	while (hook_pid_alive(pid)) {
		if (g_get_monotonic_time() > end)
			return FALSE;
		g_usleep(POLL_MS * 1000);
	}
	return TRUE;
}

gboolean hook_pid_stop(pid_t pid, GError **error)
{
	if (kill(pid, SIGTERM) == 0 && wait_gone(pid, STOP_TERM_MS))
		return TRUE;
	if (!hook_pid_alive(pid))
		return TRUE;
	g_warning("helper pid %d ignored SIGTERM for %u ms, killing it", (int)pid, STOP_TERM_MS);
	if (kill(pid, SIGKILL) == 0 && wait_gone(pid, STOP_KILL_MS))
		return TRUE;
	return ifcvf_helper_fail(error, "helper pid %d does not die", (int)pid);
}

gboolean hook_spawn_detached(char **argv, int log_fd, pid_t *ret_pid, GError **error)
{
	static const char exec_failed[] = "ifcvf-helper hook: cannot execute the helper\n";
	int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int pipefd[2];
	pid_t child, grandchild = -1;
	int status;
	ssize_t n;

	if (null_fd < 0)
		return ifcvf_helper_fail(error, "/dev/null: %s", g_strerror(errno));
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		close(null_fd);
		return ifcvf_helper_fail(error, "pipe: %s", g_strerror(errno));
	}
	child = fork();
	if (child < 0) {
		close(null_fd);
		close(pipefd[0]);
		close(pipefd[1]);
		return ifcvf_helper_fail(error, "fork: %s", g_strerror(errno));
	}
	if (child == 0) {
		sigset_t all;

		/* async-signal-safe calls only from here on */
		close(pipefd[0]);
		if (setsid() < 0)
			_exit(1);
		grandchild = fork();
		if (grandchild != 0) {
			(void)!write(pipefd[1], &grandchild, sizeof(grandchild));
			_exit(0);
		}
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
			_exit(127);
		close_range(3, ~0U, 0);
		if (chdir("/") < 0)
			_exit(127);
		execv(argv[0], argv);
		(void)!write(2, exec_failed, sizeof(exec_failed) - 1);
		_exit(127);
	}
	close(null_fd);
	close(pipefd[1]);
	do
		n = read(pipefd[0], &grandchild, sizeof(grandchild));
	while (n < 0 && errno == EINTR);
	close(pipefd[0]);
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	if (n != sizeof(grandchild) || grandchild < 0)
		return ifcvf_helper_fail(error, "cannot start the helper (fork failed)");
	*ret_pid = grandchild;
	return TRUE;
}

/* ---- bounded commands ------------------------------------------------- */

typedef struct {
	gboolean done;
	gboolean timed_out;
	GSubprocess *proc;
	char *out;
	char *err;
	GError *error;
} Bounded;

static void on_communicated(GObject *src, GAsyncResult *res, gpointer user_data)
{
	Bounded *b = user_data;

	g_subprocess_communicate_utf8_finish(G_SUBPROCESS(src), res, &b->out, &b->err, &b->error);
	b->done = TRUE;
}

static gboolean on_time_limit(gpointer user_data)
{
	Bounded *b = user_data;

	b->timed_out = TRUE;
	g_subprocess_force_exit(b->proc);
	return G_SOURCE_REMOVE;
}

/* The last non-empty line of @text, or "no output". */
static char *last_line(const char *text)
{
	g_auto(GStrv) lines = g_strsplit(text ? text : "", "\n", -1);

	for (guint i = g_strv_length(lines); i > 0; i--) {
		g_strstrip(lines[i - 1]);
		if (*lines[i - 1])
			return g_strdup(lines[i - 1]);
	}
	return g_strdup("no output");
}

gboolean hook_run_bounded(const char *const *argv, guint timeout_ms, char **ret_stdout,
			  GError **error)
{
	g_autoptr(GMainContext) ctx = g_main_context_new();
	g_autoptr(GSource) timer = g_timeout_source_new(timeout_ms);
	g_autoptr(GSubprocess) proc = NULL;
	Bounded b = { 0 };
	gboolean ok = FALSE;

	g_main_context_push_thread_default(ctx);
	proc = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE |
				 G_SUBPROCESS_FLAGS_STDERR_PIPE, error);
	if (!proc) {
		g_prefix_error(error, "%s: ", argv[0]);
		goto out;
	}
	b.proc = proc;
	g_subprocess_communicate_utf8_async(proc, NULL, NULL, on_communicated, &b);
	g_source_set_callback(timer, on_time_limit, &b, NULL);
	g_source_attach(timer, ctx);
	while (!b.done)
		g_main_context_iteration(ctx, TRUE);
	g_source_destroy(timer);
	/* the child has closed its pipes; reap it (killed at the limit) */
	if (!g_subprocess_wait(proc, NULL, error))
		goto out;
	if (b.timed_out) {
		ifcvf_helper_fail(error, "%s did not finish within %u ms", argv[0], timeout_ms);
	} else if (b.error) {
		g_propagate_prefixed_error(error, g_steal_pointer(&b.error), "%s: ", argv[0]);
	} else if (!g_subprocess_get_successful(proc)) {
		g_autofree char *why = last_line(b.err);

		ifcvf_helper_fail(error, "%s failed: %s", argv[0], why);
	} else {
		ok = TRUE;
		if (ret_stdout)
			*ret_stdout = g_steal_pointer(&b.out);
	}
out:
	g_clear_error(&b.error);
	g_free(b.out);
	g_free(b.err);
	g_main_context_pop_thread_default(ctx);
	return ok;
}

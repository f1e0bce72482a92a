/* The argument file and `hook exec` (see hook-exec.h). */
#include "hook-exec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper-error.h"
#include "hook-files.h"
#include "hook-safe-dir.h"
#include "hook-socket.h"

#define GROUP "Helper"
/* how long a restarted helper may take to listen (the hook's default wait) */
#define OWNER_WAIT_MS 20000
#define OWNER_POLL_MS 20

char *hook_exec_args_format(const HookExecArgs *args, gsize *ret_len)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();

	g_key_file_set_string(kf, GROUP, "VM", args->vm);
	g_key_file_set_string(kf, GROUP, "Log", args->log);
	g_key_file_set_string_list(kf, GROUP, "Devices", args->devices,
				   g_strv_length((char **)args->devices));
	g_key_file_set_string_list(kf, GROUP, "Argv", args->argv,
				   g_strv_length((char **)args->argv));
	if (args->sockets && args->sockets[0])
		g_key_file_set_string_list(kf, GROUP, "Sockets", args->sockets,
					   g_strv_length((char **)args->sockets));
	if (args->socket_user)
		g_key_file_set_string(kf, GROUP, "SocketUser", args->socket_user);
	return g_key_file_to_data(kf, ret_len, NULL);
}

gboolean hook_exec_args_write(const char *path, const HookExecArgs *args, GError **error)
{
	gsize len = 0;
	g_autofree char *text = hook_exec_args_format(args, &len);

	if (!g_file_set_contents_full(path, text, (gssize)len, G_FILE_SET_CONTENTS_CONSISTENT,
				      0600, error)) {
		g_prefix_error(error, "argument file: ");
		return FALSE;
	}
	return TRUE;
}

char *hook_exec_args_find_uuid(const char *run_dir, const char *vm)
{
	g_autoptr(GDir) d = g_dir_open(run_dir, 0, NULL);
	const char *name;

	while (d && (name = g_dir_read_name(d))) {
		g_autofree char *uuid = NULL;
		g_autofree char *path = NULL;
		g_autofree char *holder = NULL;
		g_autoptr(GKeyFile) kf = NULL;

		if (!g_str_has_suffix(name, ".args"))
			continue;
		uuid = g_strndup(name, strlen(name) - strlen(".args"));
		if (!g_uuid_string_is_valid(uuid))
			continue;
		path = g_build_filename(run_dir, name, NULL);
		kf = g_key_file_new();
		if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, NULL))
			continue;
		holder = g_key_file_get_string(kf, GROUP, "VM", NULL);
		if (holder && g_str_equal(holder, vm))
			return g_steal_pointer(&uuid);
	}
	return NULL;
}

static int failed(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static int failed(const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_strdelimit(msg, "\r\n", ' ');
	fprintf(stderr, "ifcvf-helper hook exec: %s\n", msg);
	return 1;
}

/* stdout and stderr to the end of @log */
static gboolean redirect_output(const char *log, GError **error)
{
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);

	if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_FAILED, "log file %s: %s",
			    log, g_strerror(errno));
		if (fd >= 0)
			close(fd);
		return FALSE;
	}
	close(fd);
	return TRUE;
}

/* This start's number past the first in @counter (<uuid>.restarts, which
 * the hook removes before a start and on release): missing means the first
 * start (0), else one more than the file says. Written before the exec so
 * that a helper dying at once still counts. */
static gboolean count_start(const char *counter, guint *ret_restarts, GError **error)
{
	g_autofree char *text = NULL;
	g_autofree char *line = NULL;
	guint64 n = 0;

	if (g_file_get_contents(counter, &text, NULL, NULL)) {
		g_strstrip(text);
		if (!g_ascii_string_to_unsigned(text, 10, 0, G_MAXUINT - 1, &n, NULL))
			n = 0;
		n++;
	}
	line = g_strdup_printf("%" G_GUINT64_FORMAT "\n", n);
	if (!g_file_set_contents_full(counter, line, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
				      error)) {
		g_prefix_error(error, "restart counter: ");
		return FALSE;
	}
	*ret_restarts = (guint)n;
	return TRUE;
}

char *hook_exec_counter_path(const char *args_path)
{
	g_autofree char *stem = g_str_has_suffix(args_path, ".args") ?
		g_strndup(args_path, strlen(args_path) - strlen(".args")) : g_strdup(args_path);

	return g_strconcat(stem, ".restarts", NULL);
}

/* A restarted helper's new sockets are root's: the hook handed the first
 * ones to QEMU's user, so a process of ours does it again once they listen.
 * A grandchild, reparented at once: `run` never sees it as its child. */
static void own_sockets_later(char **sockets, const char *user)
{
	pid_t helper = getpid();
	pid_t child;

	if (!sockets || !sockets[0])
		return;
	child = fork();
	if (child < 0) {
		fprintf(stderr, "ifcvf-helper hook exec: sockets stay root's: fork: %s\n",
			g_strerror(errno));
		return;
	}
	if (child > 0) {
		while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
			;
		return;
	}
	if (fork() != 0)
		_exit(0);
	/* not the VF locks: they are the helper's alone */
	close_range(3, ~0U, 0);
	for (guint i = 0; sockets[i]; i++) {
		gint64 end = g_get_monotonic_time() + OWNER_WAIT_MS * G_TIME_SPAN_MILLISECOND;
		g_autoptr(GError) error = NULL;

		while (!hook_socket_listening(sockets[i]) && g_get_monotonic_time() < end &&
		       kill(helper, 0) == 0)
			g_usleep(OWNER_POLL_MS * 1000);
		if (kill(helper, 0) < 0)
			break;
		if (!hook_socket_listening(sockets[i]))
			fprintf(stderr, "ifcvf-helper hook exec: socket %s: nobody listens after %d ms; "
				"left as it is\n", sockets[i], OWNER_WAIT_MS);
		else if (!hook_socket_set_owner(sockets[i], user, &error))
			fprintf(stderr, "ifcvf-helper hook exec: %s\n", error->message);
	}
	_exit(0);
}

void hook_exec_file_free(HookExecFile *f)
{
	if (!f)
		return;
	g_free(f->vm);
	g_free(f->log);
	g_strfreev(f->devices);
	g_strfreev(f->argv);
	g_strfreev(f->sockets);
	g_free(f->socket_user);
	g_free(f);
}

HookExecFile *hook_exec_args_parse(const char *text, gsize len, GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(HookExecFile) f = g_new0(HookExecFile, 1);

	if (!g_key_file_load_from_data(kf, text, len, G_KEY_FILE_NONE, error) ||
	    !(f->vm = g_key_file_get_string(kf, GROUP, "VM", error)) ||
	    !(f->log = g_key_file_get_string(kf, GROUP, "Log", error)) ||
	    !(f->devices = g_key_file_get_string_list(kf, GROUP, "Devices", NULL, error)) ||
	    !(f->argv = g_key_file_get_string_list(kf, GROUP, "Argv", NULL, error)))
		return NULL;
	f->sockets = g_key_file_get_string_list(kf, GROUP, "Sockets", NULL, NULL);
	f->socket_user = g_key_file_get_string(kf, GROUP, "SocketUser", NULL);
	if (!f->argv[0] || !g_path_is_absolute(f->argv[0])) {
		g_set_error_literal(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
				    "Argv does not start with an absolute path");
		return NULL;
	}
	return g_steal_pointer(&f);
}

int hook_exec_main(const char *path)
{
	g_autofree char *counter = hook_exec_counter_path(path);
	g_autofree char *restarts_env = NULL;
	guint restarts = 0;
	g_autoptr(GError) error = NULL;
	g_autofree char *run_dir = g_path_get_dirname(path);
	g_autofree char *text = NULL;
	g_autoptr(HookExecFile) f = NULL;
	gsize len = 0;
	int dir_fd;

	if (!g_file_get_contents(path, &text, &len, &error) ||
	    !(f = hook_exec_args_parse(text, len, &error)))
		return failed("%s: %s", path, error->message);
	/* the locks are taken there by path: root's alone (hook-safe-dir.h) */
	dir_fd = hook_safe_dir_open(run_dir, &error);
	if (dir_fd < 0)
		return failed("run directory %s: %s", run_dir, error->message);
	close(dir_fd);
	if (!redirect_output(f->log, &error))
		return failed("%s", error->message);
	for (guint i = 0; f->devices[i]; i++) {
		g_autofree char *lock = hook_lock_path(run_dir, f->devices[i]);
		int fd = hook_lock_take(lock, f->devices[i], f->vm, &error);

		/* taken locks go with this process: its exit releases them */
		if (fd < 0)
			return failed("%s", error->message);
		/* kept open across exec: the helper holds the VF from now on */
		if (fcntl(fd, F_SETFD, 0) < 0)
			return failed("lock file %s: %s", lock, g_strerror(errno));
	}
	/* the VFs are ours: this start counts */
	if (!count_start(counter, &restarts, &error))
		return failed("%s", error->message);
	if (restarts)
		fprintf(stderr, "ifcvf-helper hook exec: restart %u of the helper for VM %s\n",
			restarts, f->vm);
	if (restarts)
		own_sockets_later(f->sockets, f->socket_user);
	restarts_env = g_strdup_printf("%u", restarts);
	g_setenv(HOOK_EXEC_RESTARTS_ENV, restarts_env, TRUE);
	execv(f->argv[0], f->argv);
	return failed("cannot execute %s: %s", f->argv[0], g_strerror(errno));
}

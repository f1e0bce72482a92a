/* Start, watch and stop the per-VM helper for the hook (see hook-helper.h). */
#include "hook-helper.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "helper-error.h"
#include "ifcvf-bus-names.h"

#define STOP_TERM_MS 10000
#define STOP_KILL_MS 5000
#define POLL_MS 20
#define LOCK_GONE_MS 2000
#define SOCKET_MODE 0660

void hook_env_clear(HookEnv *env)
{
	g_clear_pointer(&env->helper, g_free);
	g_clear_pointer(&env->run_dir, g_free);
	g_clear_pointer(&env->log_dir, g_free);
	g_clear_pointer(&env->bus, g_free);
	g_clear_pointer(&env->socket_user, g_free);
}

static gboolean fail(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static gboolean fail(GError **error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_propagate_error(error, g_error_new_valist(IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_FAILED,
						    fmt, ap));
	va_end(ap);
	return FALSE;
}

static char *pidfile_path(const HookEnv *env, const char *uuid)
{
	g_autofree char *base = g_strdup_printf("%s.pid", uuid);

	return g_build_filename(env->run_dir, base, NULL);
}

/* vf-<device, URI-escaped>.lock; a hash when that would be too long */
static char *lock_path(const HookEnv *env, const char *device)
{
	g_autofree char *esc = g_uri_escape_string(device, ":", FALSE);
	g_autofree char *base = NULL;

	if (strlen(esc) > 200) {
		g_autofree char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, device, -1);

		base = g_strdup_printf("vf-%s.lock", sum);
	} else {
		base = g_strdup_printf("vf-%s.lock", esc);
	}
	return g_build_filename(env->run_dir, base, NULL);
}

/* ---- processes ------------------------------------------------------- */

static guint count_threads(pid_t pid)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/task", (int)pid);
	g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
	guint n = 0;

	while (d && g_dir_read_name(d))
		n++;
	return n;
}

/* Alive, or a zombie leader whose other threads still exit (and still hold
 * its fds, the VF locks among them). A zombie counts as gone: PID 1 may
 * never reap a detached helper. */
static gboolean pid_alive(pid_t pid)
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

/* @pid runs `ifcvf-helper run … --uuid @uuid …` (not a reused pid) */
static gboolean pid_is_helper(pid_t pid, const char *uuid)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", (int)pid);
	g_autofree char *cmd = NULL;
	gsize len = 0;
	gboolean is_run = FALSE, has_uuid = FALSE;
	guint i = 0;

	if (!g_file_get_contents(path, &cmd, &len, NULL))
		return FALSE;
	for (gsize off = 0; off < len; off += strlen(cmd + off) + 1, i++) {
		if (i == 1 && g_str_equal(cmd + off, "run"))
			is_run = TRUE;
		if (g_str_equal(cmd + off, uuid))
			has_uuid = TRUE;
	}
	return is_run && has_uuid;
}

static gboolean wait_gone(pid_t pid, guint ms)
{
	gint64 end = g_get_monotonic_time() + ms * G_TIME_SPAN_MILLISECOND;

	while (pid_alive(pid)) {
		if (g_get_monotonic_time() > end)
			return FALSE;
		g_usleep(POLL_MS * 1000);
	}
	return TRUE;
}

static gboolean kill_and_wait(pid_t pid, GError **error)
{
	if (kill(pid, SIGTERM) == 0 && wait_gone(pid, STOP_TERM_MS))
		return TRUE;
	if (!pid_alive(pid))
		return TRUE;
	g_warning("helper pid %d ignored SIGTERM for %u ms, killing it", (int)pid, STOP_TERM_MS);
	if (kill(pid, SIGKILL) == 0 && wait_gone(pid, STOP_KILL_MS))
		return TRUE;
	return fail(error, "helper pid %d does not die", (int)pid);
}

/* Close every fd from 3 up except @keep (sorted here). Async-signal-safe. */
static void close_other_fds(int *keep, guint n)
{
	unsigned int lo = 3;

	for (guint i = 1; i < n; i++)
		for (guint j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			int t = keep[j];
			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	for (guint i = 0; i < n; i++) {
		if ((unsigned int)keep[i] > lo)
			close_range(lo, (unsigned int)keep[i] - 1, 0);
		if ((unsigned int)keep[i] + 1 > lo)
			lo = (unsigned int)keep[i] + 1;
		(void)fcntl(keep[i], F_SETFD, 0);
	}
	close_range(lo, ~0U, 0);
}

/* Double fork + setsid: the helper is nobody's child here, has no
 * controlling terminal, reads /dev/null and writes @log_fd, and holds no fd
 * of ours but @keep. Returns its pid. */
static gboolean spawn_detached(char **argv, int log_fd, int *keep, guint n_keep,
			       pid_t *ret_pid, GError **error)
{
	static const char exec_failed[] = "ifcvf-helper hook: cannot execute the helper\n";
	int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int pipefd[2];
	pid_t child, grandchild = -1;
	int status;
	ssize_t n;

	if (null_fd < 0)
		return fail(error, "/dev/null: %s", g_strerror(errno));
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		close(null_fd);
		return fail(error, "pipe: %s", g_strerror(errno));
	}
	child = fork();
	if (child < 0) {
		close(null_fd);
		close(pipefd[0]);
		close(pipefd[1]);
		return fail(error, "fork: %s", g_strerror(errno));
	}
	if (child == 0) {
		sigset_t all;

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
		close_other_fds(keep, n_keep);
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
		return fail(error, "cannot start the helper (fork failed)");
	*ret_pid = grandchild;
	return TRUE;
}

/* ---- VF locks -------------------------------------------------------- */

/* Take the VF's lock (non-blocking). With @holder, write it into the file
 * for whoever finds the VF taken. Returns the locked fd, -1 with @error. */
static int lock_take(const char *path, const char *device, const char *holder, GError **error)
{
	for (guint attempt = 0; attempt < 10; attempt++) {
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
		struct stat a, b;

		if (fd < 0) {
			fail(error, "lock file %s: %s", path, g_strerror(errno));
			return -1;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int e = errno;
			char who[64] = "";
			ssize_t n = pread(fd, who, sizeof(who) - 1, 0);

			close(fd);
			if (e == EWOULDBLOCK) {
				who[n > 0 ? n : 0] = '\0';
				g_strstrip(who);
				if (g_str_has_prefix(who, "VM "))
					fail(error, "VF %s is already used by VM '%s'", device,
					     who + 3);
				else
					fail(error, "VF %s is already used by another VM", device);
			} else {
				fail(error, "lock file %s: %s", path, g_strerror(e));
			}
			return -1;
		}
		/* a release may have unlinked it between open and flock */
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
		    a.st_dev == b.st_dev) {
			if (holder) {
				g_autofree char *line = g_strdup_printf("VM %s\n", holder);

				if (ftruncate(fd, 0) < 0 ||
				    pwrite(fd, line, strlen(line), 0) != (ssize_t)strlen(line)) {
					fail(error, "lock file %s: %s", path, g_strerror(errno));
					close(fd);
					return -1;
				}
			}
			return fd;
		}
		close(fd);
	}
	fail(error, "lock file %s keeps being replaced", path);
	return -1;
}

/* Remove a lock file once nobody holds it (a helper that just died may
 * still be closing its fds: wait up to LOCK_GONE_MS). */
static void lock_remove(const char *path)
{
	gint64 end = g_get_monotonic_time() + LOCK_GONE_MS * G_TIME_SPAN_MILLISECOND;
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return;
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK || g_get_monotonic_time() > end) {
			g_debug("lock file %s is still held, leaving it", path);
			close(fd);
			return;
		}
		g_usleep(POLL_MS * 1000);
	}
	(void)unlink(path);
	close(fd);
}

/* ---- sockets --------------------------------------------------------- */

/* Is someone listening on the UNIX socket @path (this netns)? Read from
 * /proc/net/unix so that the helper sees no connection. */
static gboolean socket_listening(const char *path)
{
	g_autofree char *table = NULL;
	g_auto(GStrv) lines = NULL;

	if (!g_file_get_contents("/proc/net/unix", &table, NULL, NULL))
		return FALSE;
	lines = g_strsplit(table, "\n", -1);
	for (guint i = 1; lines[i]; i++) {
		unsigned int flags = 0;
		int off = 0;

		/* Num RefCount Protocol Flags Type St Inode Path */
		if (sscanf(lines[i], "%*s %*x %*x %x %*x %*x %*u %n", &flags, &off) < 1 || !off)
			continue;
		if ((flags & 0x10000) && g_str_equal(lines[i] + off, path))
			return TRUE;
	}
	return FALSE;
}

static void remove_stale_socket(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && !socket_listening(path))
		(void)unlink(path);
}

static gboolean resolve_user(const char *spec, uid_t *uid, gid_t *gid, GError **error)
{
	g_auto(GStrv) parts = g_strsplit(spec, ":", 2);
	struct passwd *pw = getpwnam(parts[0] ? parts[0] : "");

	if (!pw)
		return fail(error, "socket owner '%s': no such user", spec);
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	if (parts[0] && parts[1]) {
		struct group *gr = getgrnam(parts[1]);

		if (!gr)
			return fail(error, "socket owner '%s': no such group", spec);
		*gid = gr->gr_gid;
	}
	return TRUE;
}

/* QEMU's user may connect; others may not. */
static gboolean socket_set_owner(const char *path, const char *user, GError **error)
{
	uid_t uid = 0;
	gid_t gid = 0;

	if (user) {
		if (!resolve_user(user, &uid, &gid, error))
			return FALSE;
		if (chown(path, uid, gid) < 0)
			return fail(error, "socket %s: chown to %s: %s", path, user,
				    g_strerror(errno));
	}
	if (chmod(path, SOCKET_MODE) < 0)
		return fail(error, "socket %s: chmod: %s", path, g_strerror(errno));
	return TRUE;
}

/* ---- checks ------------------------------------------------------------ */

static gboolean port_check(const HookPort *p, GError **error)
{
	struct stat st;

	if (strlen(p->socket) > HOOK_SOCKET_PATH_MAX)
		return fail(error, "socket '%s' is %zu bytes long, more than %d", p->socket,
			    strlen(p->socket), HOOK_SOCKET_PATH_MAX);
	if (strchr(p->socket, ','))
		return fail(error, "socket '%s' contains ','", p->socket);
	if (g_str_has_prefix(p->device, "vfio-user:")) {
		const char *path = p->device + strlen("vfio-user:");

		if (stat(path, &st) < 0)
			return fail(error, "VF %s does not exist: %s", p->device, g_strerror(errno));
		if (!S_ISSOCK(st.st_mode))
			return fail(error, "VF %s does not exist: not a socket", p->device);
	} else {
		g_autofree char *sys = g_build_filename("/sys/bus/pci/devices",
							p->device + strlen("pci:"), NULL);

		if (stat(sys, &st) < 0)
			return fail(error, "VF %s does not exist: %s", p->device, g_strerror(errno));
	}
	return TRUE;
}

static gboolean make_dirs(const HookEnv *env, GError **error)
{
	if (g_mkdir_with_parents(env->run_dir, 0755) < 0 || access(env->run_dir, W_OK) < 0)
		return fail(error, "run directory %s: %s", env->run_dir, g_strerror(errno));
	if (g_mkdir_with_parents(env->log_dir, 0750) < 0 || access(env->log_dir, W_OK) < 0)
		return fail(error, "log directory %s: %s", env->log_dir, g_strerror(errno));
	return TRUE;
}

gboolean hook_vfs_check(const HookEnv *env, const HookVm *vm, GError **error)
{
	if (vm->ports->len && !make_dirs(env, error))
		return FALSE;
	for (guint i = 0; i < vm->ports->len; i++) {
		const HookPort *p = g_ptr_array_index(vm->ports, i);
		g_autofree char *lock = lock_path(env, p->device);
		int fd;

		if (!port_check(p, error))
			return FALSE;
		fd = lock_take(lock, p->device, NULL, error);
		if (fd < 0)
			return FALSE;
		(void)unlink(lock);
		close(fd);
	}
	return TRUE;
}

/* ---- pidfile ----------------------------------------------------------- */

/* pid, then "lock PATH" and "socket PATH" lines */
static gboolean pidfile_read(const HookEnv *env, const char *uuid, pid_t *pid, GStrv *lines)
{
	g_autofree char *path = pidfile_path(env, uuid);
	g_autofree char *text = NULL;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return FALSE;
	*lines = g_strsplit(text, "\n", -1);
	*pid = (pid_t)g_ascii_strtoll((*lines)[0], NULL, 10);
	return TRUE;
}

gboolean hook_helper_running(const HookEnv *env, const char *uuid)
{
	g_auto(GStrv) lines = NULL;
	pid_t pid;

	return pidfile_read(env, uuid, &pid, &lines) && pid_alive(pid) && pid_is_helper(pid, uuid);
}

gboolean hook_helper_stop(const HookEnv *env, const char *uuid, GError **error)
{
	g_autofree char *path = pidfile_path(env, uuid);
	g_auto(GStrv) lines = NULL;
	pid_t pid;

	if (!pidfile_read(env, uuid, &pid, &lines))
		return TRUE;
	if (pid_alive(pid) && pid_is_helper(pid, uuid) && !kill_and_wait(pid, error))
		return FALSE;
	for (guint i = 1; lines[i]; i++) {
		if (g_str_has_prefix(lines[i], "lock "))
			lock_remove(lines[i] + strlen("lock "));
		else if (g_str_has_prefix(lines[i], "socket "))
			remove_stale_socket(lines[i] + strlen("socket "));
	}
	if (g_unlink(path) < 0 && errno != ENOENT)
		return fail(error, "pidfile %s: %s", path, g_strerror(errno));
	return TRUE;
}

/* ---- start --------------------------------------------------------------- */

/* The last line the helper logged after @from, for the one-line reason. */
static char *log_last_line(const char *log, goffset from)
{
	g_autofree char *text = NULL;
	gsize len = 0;
	char *line;

	if (!g_file_get_contents(log, &text, &len, NULL) || (gsize)from >= len)
		return g_strdup("no output");
	g_strchomp(text + from);
	line = strrchr(text + from, '\n');
	line = line ? line + 1 : text + from;
	return g_strdup(*line ? line : "no output");
}

static gboolean bus_name_owned(GDBusConnection **conn, const HookEnv *env, const char *name,
			       GError **error)
{
	g_autoptr(GVariant) reply = NULL;
	gboolean owned = FALSE;

	if (!*conn) {
		if (g_str_equal(env->bus, "system"))
			*conn = g_bus_get_sync(G_BUS_TYPE_SYSTEM, NULL, error);
		else if (g_str_equal(env->bus, "session"))
			*conn = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, error);
		else
			*conn = g_dbus_connection_new_for_address_sync(env->bus,
				G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
				G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL, NULL, error);
		if (!*conn) {
			g_prefix_error(error, "D-Bus %s: ", env->bus);
			return FALSE;
		}
	}
	reply = g_dbus_connection_call_sync(*conn, "org.freedesktop.DBus", "/org/freedesktop/DBus",
					    "org.freedesktop.DBus", "NameHasOwner",
					    g_variant_new("(s)", name), G_VARIANT_TYPE("(b)"),
					    G_DBUS_CALL_FLAGS_NONE, 1000, NULL, error);
	if (!reply) {
		g_prefix_error(error, "D-Bus %s: ", env->bus);
		return FALSE;
	}
	g_variant_get(reply, "(b)", &owned);
	return owned;
}

/* Until every server socket listens and the name is owned, the helper
 * exits, or the time is up. */
static gboolean wait_ready(const HookEnv *env, const HookVm *vm, pid_t pid, const char *log,
			   goffset log_from, GError **error)
{
	g_autoptr(GDBusConnection) conn = NULL;
	g_autofree char *name = NULL;
	gint64 end = g_get_monotonic_time() + env->timeout_ms * G_TIME_SPAN_MILLISECOND;

	if (env->bus) {
		g_autofree char *hex = g_strdup(vm->uuid);

		g_strdelimit(hex, "-", ' ');
		name = g_strconcat(IFCVF_BUS_NAME_PREFIX, hex, NULL);
		/* drop the spaces the dashes became */
		for (char *r = name, *w = name;; r++) {
			if (*r != ' ')
				*w++ = *r;
			if (!*r)
				break;
		}
	}
	for (;;) {
		gboolean ready = TRUE;

		if (!pid_alive(pid)) {
			g_autofree char *why = log_last_line(log, log_from);

			return fail(error, "helper for VM %s exited: %s", vm->name, why);
		}
		for (guint i = 0; ready && i < vm->ports->len; i++) {
			const HookPort *p = g_ptr_array_index(vm->ports, i);

			if (!p->client && !socket_listening(p->socket))
				ready = FALSE;
		}
		if (ready && name) {
			g_autoptr(GError) local = NULL;

			ready = bus_name_owned(&conn, env, name, &local);
			if (local) {
				g_propagate_error(error, g_steal_pointer(&local));
				return FALSE;
			}
		}
		if (ready)
			return TRUE;
		if (g_get_monotonic_time() > end)
			return fail(error, "helper for VM %s is not serving after %u ms (see %s)",
				    vm->name, env->timeout_ms, log);
		g_usleep(POLL_MS * 1000);
	}
}

static char *log_path(const HookEnv *env, const HookVm *vm)
{
	gboolean plain = *vm->name != '\0' && *vm->name != '.';
	g_autofree char *base = NULL;

	for (const char *c = vm->name; *c && plain; c++)
		plain = g_ascii_isalnum(*c) || strchr("._-", *c);
	base = g_strdup_printf("%s.log", plain ? vm->name : vm->uuid);
	return g_build_filename(env->log_dir, base, NULL);
}

static GStrv helper_argv(const HookEnv *env, const HookVm *vm)
{
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();

	g_strv_builder_add_many(b, env->helper, "run", "--bus", env->bus ? env->bus : "none",
				"--uuid", vm->uuid, "--name", vm->name, NULL);
	for (guint i = 0; i < vm->ports->len; i++) {
		g_autofree char *spec = hook_port_to_spec(g_ptr_array_index(vm->ports, i));

		g_strv_builder_add_many(b, "--port", spec, NULL);
	}
	return g_strv_builder_end(b);
}

/* Spawn with the locks; write the pidfile. */
static gboolean spawn_helper(const HookEnv *env, const HookVm *vm, GArray *lock_fds,
			     GPtrArray *lock_paths, const char *log, goffset *log_from,
			     pid_t *pid, GError **error)
{
	g_auto(GStrv) argv = helper_argv(env, vm);
	g_autofree char *pidfile = pidfile_path(env, vm->uuid);
	g_autoptr(GString) record = g_string_new(NULL);
	g_autofree char *argline = g_strjoinv(" ", argv);
	g_autofree char *head = NULL;
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree char *stamp = g_date_time_format_iso8601(now);
	int log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	gboolean ok;

	if (log_fd < 0)
		return fail(error, "log file %s: %s", log, g_strerror(errno));
	head = g_strdup_printf("%s hook: starting %s\n", stamp, argline);
	(void)!write(log_fd, head, strlen(head));
	*log_from = lseek(log_fd, 0, SEEK_END);
	ok = spawn_detached(argv, log_fd, (int *)(void *)lock_fds->data, lock_fds->len, pid, error);
	close(log_fd);
	if (!ok)
		return FALSE;
	g_string_append_printf(record, "%d\n", (int)*pid);
	for (guint i = 0; i < lock_paths->len; i++)
		g_string_append_printf(record, "lock %s\n", (char *)g_ptr_array_index(lock_paths, i));
	for (guint i = 0; i < vm->ports->len; i++) {
		const HookPort *p = g_ptr_array_index(vm->ports, i);

		if (!p->client)
			g_string_append_printf(record, "socket %s\n", p->socket);
	}
	if (!g_file_set_contents(pidfile, record->str, record->len, error)) {
		g_prefix_error(error, "pidfile: ");
		(void)kill_and_wait(*pid, NULL);
		return FALSE;
	}
	return TRUE;
}

gboolean hook_helper_start(const HookEnv *env, const HookVm *vm, GError **error)
{
	g_autoptr(GArray) fds = g_array_new(FALSE, FALSE, sizeof(int));
	g_autoptr(GPtrArray) locks = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *log = NULL;
	goffset log_from = 0;
	pid_t pid = -1;
	gboolean ok = FALSE;

	for (guint i = 0; i < vm->ports->len; i++)
		if (!port_check(g_ptr_array_index(vm->ports, i), error))
			return FALSE;
	if (!make_dirs(env, error) || !hook_helper_stop(env, vm->uuid, error))
		return FALSE;
	log = log_path(env, vm);
	for (guint i = 0; i < vm->ports->len; i++) {
		const HookPort *p = g_ptr_array_index(vm->ports, i);
		char *lock = lock_path(env, p->device);
		int fd = lock_take(lock, p->device, vm->name, error);

		g_ptr_array_add(locks, lock);
		if (fd < 0) {
			g_ptr_array_set_size(locks, locks->len - 1);
			goto out;
		}
		g_array_append_val(fds, fd);
	}
	if (!spawn_helper(env, vm, fds, locks, log, &log_from, &pid, error))
		goto out;
	if (!wait_ready(env, vm, pid, log, log_from, error))
		goto out;
	for (guint i = 0; i < vm->ports->len; i++) {
		const HookPort *p = g_ptr_array_index(vm->ports, i);

		if (!p->client && !socket_set_owner(p->socket, env->socket_user, error))
			goto out;
	}
	ok = TRUE;
out:
	/* the helper holds the locks now; ours go */
	for (guint i = 0; i < fds->len; i++)
		close(g_array_index(fds, int, i));
	if (!ok) {
		if (pid > 0)
			(void)hook_helper_stop(env, vm->uuid, NULL);
		if (pid > 0 && pid_alive(pid))
			(void)kill_and_wait(pid, NULL);
		for (guint i = 0; i < locks->len; i++)
			lock_remove(g_ptr_array_index(locks, i));
	}
	return ok;
}

/* Start, watch and stop the per-VM helper for the hook (see hook-helper.h). */
#include "hook-helper.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "helper-error.h"
#include "hook-exec.h"
#include "hook-files.h"
#include "hook-safe-dir.h"
#include "hook-socket.h"
#include "hook-spawn.h"
#include "hook-systemd.h"
#include "ifcvf-bus-names.h"

#define POLL_MS 20

void hook_env_clear(HookEnv *env)
{
	g_clear_pointer(&env->helper, g_free);
	g_clear_pointer(&env->run_dir, g_free);
	g_clear_pointer(&env->log_dir, g_free);
	g_clear_pointer(&env->bus, g_free);
	g_clear_pointer(&env->socket_user, g_free);
	g_clear_pointer(&env->libvirt_uri, g_free);
	g_clear_pointer(&env->systemd_run, g_free);
	g_clear_pointer(&env->systemctl, g_free);
}

static HookSystemd env_systemd(const HookEnv *env)
{
	return (HookSystemd){ .systemd_run = env->systemd_run, .systemctl = env->systemctl };
}

/* ---- checks ------------------------------------------------------------ */

static gboolean port_check(const HookPort *p, GError **error)
{
	struct stat st;

	if (!g_path_is_absolute(p->socket))
		return ifcvf_helper_fail(error, "socket '%s' is not an absolute path", p->socket);
	if (strlen(p->socket) > HOOK_SOCKET_PATH_MAX)
		return ifcvf_helper_fail(error, "socket '%s' is %zu bytes long, more than %d", p->socket,
			    strlen(p->socket), HOOK_SOCKET_PATH_MAX);
	if (strchr(p->socket, ','))
		return ifcvf_helper_fail(error, "socket '%s' contains ','", p->socket);
	/* the hook hands the helper's socket to QEMU's user: only root may write
	 * where it lies (QEMU's own socket, in client mode, is QEMU's business) */
	if (!p->client && !hook_socket_check_dir(p->socket, error))
		return FALSE;
	if (g_str_has_prefix(p->device, "vfio-user:")) {
		const char *path = p->device + strlen("vfio-user:");

		if (stat(path, &st) < 0)
			return ifcvf_helper_fail(error, "VF %s does not exist: %s", p->device, g_strerror(errno));
		if (!S_ISSOCK(st.st_mode))
			return ifcvf_helper_fail(error, "VF %s does not exist: not a socket", p->device);
	} else {
		g_autofree char *sys = g_build_filename("/sys/bus/pci/devices",
							p->device + strlen("pci:"), NULL);

		if (stat(sys, &st) < 0)
			return ifcvf_helper_fail(error, "VF %s does not exist: %s", p->device, g_strerror(errno));
	}
	return TRUE;
}

/* Created when missing, and root's alone: the hook writes its pidfiles,
 * locks and logs there by path. */
static gboolean make_dir(const char *what, const char *dir, int mode, GError **error)
{
	int fd;

	if (g_mkdir_with_parents(dir, mode) < 0 || access(dir, W_OK) < 0)
		return ifcvf_helper_fail(error, "%s %s: %s", what, dir, g_strerror(errno));
	fd = hook_safe_dir_open(dir, error);
	if (fd < 0) {
		g_prefix_error(error, "%s %s: ", what, dir);
		return FALSE;
	}
	close(fd);
	return TRUE;
}

static gboolean make_dirs(const HookEnv *env, GError **error)
{
	return make_dir("run directory", env->run_dir, 0755, error) &&
	       make_dir("log directory", env->log_dir, 0750, error);
}

/* Every port valid, every VF there and free (its lock taken and let go). */
static gboolean ports_check(const HookEnv *env, const HookVm *vm, gboolean remove_locks,
			    GError **error)
{
	for (guint i = 0; i < vm->ports->len; i++) {
		const HookPort *p = g_ptr_array_index(vm->ports, i);
		g_autofree char *lock = hook_lock_path(env->run_dir, p->device);
		int fd;

		if (!port_check(p, error))
			return FALSE;
		fd = hook_lock_take(lock, p->device, NULL, error);
		if (fd < 0)
			return FALSE;
		if (remove_locks)
			(void)unlink(lock);
		close(fd);
	}
	return TRUE;
}

gboolean hook_vfs_check(const HookEnv *env, const HookVm *vm, GError **error)
{
	if (vm->ports->len && !make_dirs(env, error))
		return FALSE;
	return ports_check(env, vm, TRUE, error);
}

/* ---- stop ---------------------------------------------------------------- */

gboolean hook_helper_running(const HookEnv *env, const char *uuid)
{
	g_autofree char *path = hook_record_path(env->run_dir, uuid);
	g_autoptr(HookRecord) rec = hook_record_read(path);
	pid_t pid;

	if (!rec)
		return FALSE;
	pid = rec->pid;
	/* a unit may have restarted the helper since: ask for its pid now */
	if (rec->unit) {
		HookSystemd sd = env_systemd(env);

		if (!hook_systemd_main_pid(&sd, rec->unit, &pid, NULL))
			return FALSE;
	}
	return hook_pid_alive(pid) && hook_pid_is_helper(pid, uuid);
}

/* the restart count of a start (hook-exec.h): a new start counts from 0 */
static gboolean remove_counter(const char *args, GError **error)
{
	g_autofree char *counter = hook_exec_counter_path(args);

	if (g_unlink(counter) < 0 && errno != ENOENT)
		return ifcvf_helper_fail(error, "restart counter %s: %s", counter,
					 g_strerror(errno));
	return TRUE;
}

gboolean hook_helper_stop(const HookEnv *env, const char *uuid, GError **error)
{
	g_autofree char *path = hook_record_path(env->run_dir, uuid);
	g_autofree char *args = hook_args_path(env->run_dir, uuid);
	g_autoptr(HookRecord) rec = hook_record_read(path);
	int dir_fd;

	if (!rec)
		return TRUE;
	/* the record names pids, locks and sockets to act on as root: only
	 * believe it from a directory nobody else writes */
	dir_fd = hook_safe_dir_open(env->run_dir, error);
	if (dir_fd < 0) {
		g_prefix_error(error, "run directory %s: ", env->run_dir);
		return FALSE;
	}
	close(dir_fd);
	if (rec->unit) {
		g_autoptr(GError) local = NULL;
		HookSystemd sd = env_systemd(env);

		if (!hook_systemd_stop(&sd, rec->unit, &local))
			g_debug("unit %s: %s", rec->unit, local->message);
	}
	/* no unit, or systemd did not stop it */
	if (hook_pid_alive(rec->pid) && hook_pid_is_helper(rec->pid, uuid) &&
	    !hook_pid_stop(rec->pid, error))
		return FALSE;
	for (guint i = 0; i < rec->locks->len; i++)
		hook_lock_remove(g_ptr_array_index(rec->locks, i));
	for (guint i = 0; i < rec->sockets->len; i++)
		hook_socket_remove_stale(g_ptr_array_index(rec->sockets, i));
	if (g_unlink(args) < 0 && errno != ENOENT)
		return ifcvf_helper_fail(error, "argument file %s: %s", args, g_strerror(errno));
	if (!remove_counter(args, error))
		return FALSE;
	if (g_unlink(path) < 0 && errno != ENOENT)
		return ifcvf_helper_fail(error, "pidfile %s: %s", path, g_strerror(errno));
	return TRUE;
}

/* ---- start --------------------------------------------------------------- */

/* Why the helper exited, for the one-line reason: its exit line
 * (IFCVF_HELPER_EXIT_PREFIX, written after any summary) logged after @from,
 * else the last line it logged there. */
static char *log_exit_reason(const char *log, goffset from)
{
	g_autofree char *text = NULL;
	gsize len = 0;
	char *start, *line, *found = NULL;

	if (!g_file_get_contents(log, &text, &len, NULL) || (gsize)from >= len)
		return g_strdup("no output");
	start = text + from;
	g_strchomp(start);
	for (line = start; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (g_str_has_prefix(line, IFCVF_HELPER_EXIT_PREFIX))
			found = line + strlen(IFCVF_HELPER_EXIT_PREFIX);
	if (found) {
		*strchrnul(found, '\n') = '\0';
		return g_strdup(*found ? found : "no output");
	}
	line = strrchr(start, '\n');
	line = line ? line + 1 : start;
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

/* org.ifcvf.Helper1.Vm_<uuid without dashes> */
static char *bus_name(const char *uuid)
{
	GString *s = g_string_new(IFCVF_BUS_NAME_PREFIX);

	for (const char *c = uuid; *c; c++)
		if (*c != '-')
			g_string_append_c(s, *c);
	return g_string_free(s, FALSE);
}

/* Whether the helper logged, after @from, that a client port (QEMU is the
 * vhost-user server) is set up and connecting to @socket: its VF probed,
 * its socket registered. QEMU listens only once it starts, after the
 * hook, so no connection can be waited for. */
static gboolean log_says_connecting(const char *log, goffset from, const char *socket)
{
	g_autofree char *text = NULL;
	g_autofree char *needle = g_strdup_printf("): waiting: connecting to %s\n", socket);
	gsize len = 0;

	return g_file_get_contents(log, &text, &len, NULL) && (gsize)from < len &&
	       strstr(text + from, needle);
}

/* Until every server socket listens, every client port connects, and the
 * name is owned, the helper exits, or the time is up. */
static gboolean wait_ready(const HookEnv *env, const HookVm *vm, pid_t pid, const char *log,
			   goffset log_from, GError **error)
{
	g_autoptr(GDBusConnection) conn = NULL;
	g_autofree char *name = env->bus ? bus_name(vm->uuid) : NULL;
	gint64 end = g_get_monotonic_time() + env->timeout_ms * G_TIME_SPAN_MILLISECOND;

	for (;;) {
		gboolean ready = TRUE;

		if (!hook_pid_alive(pid)) {
			g_autofree char *why = log_exit_reason(log, log_from);

			return ifcvf_helper_fail(error, "helper for VM %s exited: %s", vm->name, why);
		}
		for (guint i = 0; ready && i < vm->ports->len; i++) {
			const HookPort *p = g_ptr_array_index(vm->ports, i);

			if (p->client ? !log_says_connecting(log, log_from, p->socket)
				      : !hook_socket_listening(p->socket))
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
			return ifcvf_helper_fail(error, "helper for VM %s is not serving after %u ms (see %s)",
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

GStrv hook_helper_argv(const HookEnv *env, const HookVm *vm)
{
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();

	g_strv_builder_add_many(b, env->helper, "run", "--bus", env->bus ? env->bus : "none",
				"--uuid", vm->uuid, "--name", vm->name, NULL);
	if (env->libvirt_uri)
		g_strv_builder_add_many(b, "--libvirt-uri", env->libvirt_uri, NULL);
	if (env->libvirt_uri && env->libvirt_at_start)
		g_strv_builder_add_many(b, "--libvirt-connect", "at-start", NULL);
	for (guint i = 0; i < vm->ports->len; i++) {
		g_autofree char *spec = hook_port_to_spec(g_ptr_array_index(vm->ports, i));

		g_strv_builder_add_many(b, "--port", spec, NULL);
	}
	return g_strv_builder_end(b);
}

/* What `release` needs, written before anything starts so that a failed
 * start is cleaned up by the same code. */
static HookRecord *new_record(const HookEnv *env, const HookVm *vm)
{
	HookRecord *rec = hook_record_new();

	if (env->systemd_run)
		rec->unit = hook_systemd_unit_name(vm->uuid);
	for (guint i = 0; i < vm->ports->len; i++) {
		const HookPort *p = g_ptr_array_index(vm->ports, i);

		g_ptr_array_add(rec->locks, hook_lock_path(env->run_dir, p->device));
		if (!p->client)
			g_ptr_array_add(rec->sockets, g_strdup(p->socket));
	}
	return rec;
}

static gboolean write_args(const HookEnv *env, const HookVm *vm, const char *path,
			   const char *log, GError **error)
{
	g_auto(GStrv) argv = hook_helper_argv(env, vm);
	g_autoptr(GPtrArray) devices = g_ptr_array_new();
	g_autoptr(GPtrArray) sockets = g_ptr_array_new();
	HookExecArgs args = { .vm = vm->name, .log = log, .argv = (const char *const *)argv,
			      .socket_user = env->socket_user };

	for (guint i = 0; i < vm->ports->len; i++) {
		const HookPort *p = g_ptr_array_index(vm->ports, i);

		g_ptr_array_add(devices, p->device);
		/* a restarted helper's sockets go to QEMU's user too (hook-exec.h) */
		if (!p->client)
			g_ptr_array_add(sockets, p->socket);
	}
	g_ptr_array_add(devices, NULL);
	g_ptr_array_add(sockets, NULL);
	args.devices = (const char *const *)devices->pdata;
	args.sockets = (const char *const *)sockets->pdata;
	return hook_exec_args_write(path, &args, error);
}

/* `hook exec ARGS` as a unit, or detached under `hook supervise ARGS`,
 * its output to @log from @log_from on. */
static gboolean spawn_exec(const HookEnv *env, const HookVm *vm, const HookRecord *rec,
			   const char *args, const char *log, goffset *log_from, pid_t *pid,
			   GError **error)
{
	/* systemd restarts `hook exec` itself; without it, `hook supervise` does */
	const char *command[] = { env->helper, "hook", rec->unit ? "exec" : "supervise", args, NULL };
	g_auto(GStrv) run_argv = hook_helper_argv(env, vm);
	g_autofree char *argline = g_strjoinv(" ", run_argv);
	g_autofree char *head = NULL;
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree char *stamp = g_date_time_format_iso8601(now);
	int log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
	gboolean ok;

	if (log_fd < 0)
		return ifcvf_helper_fail(error, "log file %s: %s", log, g_strerror(errno));
	head = g_strdup_printf("%s hook: starting %s (%s)\n", stamp, argline,
			       rec->unit ? rec->unit : "detached");
	(void)!write(log_fd, head, strlen(head));
	/* once per VM start, where the operator looks for why kicks cost the
	 * helper CPU */
	for (guint i = 0; i < vm->ports->len; i++) {
		const HookPort *p = g_ptr_array_index(vm->ports, i);
		g_autofree char *warn = NULL;

		if (p->page_per_vq)
			continue;
		warn = g_strdup_printf("%s hook: warning: interface %s has no <driver page_per_vq='on'/>: "
				       "QEMU cannot map the VF's doorbell pages (host notifiers), so "
				       "every guest kick goes through the helper's relay\n",
				       stamp, p->socket);
		(void)!write(log_fd, warn, strlen(warn));
	}
	*log_from = lseek(log_fd, 0, SEEK_END);
	if (rec->unit) {
		HookSystemd sd = env_systemd(env);
		g_autofree char *desc = g_strdup_printf("ifcvf-helper for VM %s", vm->name);

		close(log_fd);
		return hook_systemd_start(&sd, rec->unit, desc, command, pid, error);
	}
	ok = hook_spawn_detached((char **)command, log_fd, pid, error);
	close(log_fd);
	return ok;
}

gboolean hook_helper_start(const HookEnv *env, const HookVm *vm, GError **error)
{
	g_autofree char *record_path = hook_record_path(env->run_dir, vm->uuid);
	g_autofree char *args = hook_args_path(env->run_dir, vm->uuid);
	g_autofree char *log = log_path(env, vm);
	g_autoptr(HookRecord) rec = NULL;
	goffset log_from = 0;

	for (guint i = 0; i < vm->ports->len; i++)
		if (!port_check(g_ptr_array_index(vm->ports, i), error))
			return FALSE;
	if (!make_dirs(env, error) || !hook_helper_stop(env, vm->uuid, error))
		return FALSE;
	/* the VFs free now: the reason comes from here rather than the helper's log
	 * (`hook exec` takes the locks for good, and fails if it loses a race) */
	if (!ports_check(env, vm, FALSE, error) || !remove_counter(args, error))
		return FALSE;
	rec = new_record(env, vm);
	if (!hook_record_write(record_path, rec, error))
		goto fail;
	if (!write_args(env, vm, args, log, error) ||
	    !spawn_exec(env, vm, rec, args, log, &log_from, &rec->pid, error) ||
	    !hook_record_write(record_path, rec, error) ||
	    !wait_ready(env, vm, rec->pid, log, log_from, error))
		goto fail;
	for (guint i = 0; i < vm->ports->len; i++) {
		const HookPort *p = g_ptr_array_index(vm->ports, i);

		if (!p->client && !hook_socket_set_owner(p->socket, env->socket_user, error))
			goto fail;
	}
	return TRUE;
fail:
	/* the record names all there is to undo (pid 0: nothing spawned) */
	(void)hook_record_write(record_path, rec, NULL);
	(void)hook_helper_stop(env, vm->uuid, NULL);
	if (hook_pid_alive(rec->pid))
		(void)hook_pid_stop(rec->pid, NULL);
	for (guint i = 0; i < rec->locks->len; i++)
		hook_lock_remove(g_ptr_array_index(rec->locks, i));
	return FALSE;
}

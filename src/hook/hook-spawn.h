/* Processes for the hook: start the helper fully detached (double fork,
 * setsid, stdin /dev/null, stdout/stderr a log, no other fd of ours), tell
 * a live helper from a reused pid, stop a pid with a bounded wait, and run
 * a short command (systemd-run, systemctl) with a time limit.
 *
 * Threads: main thread only; every wait is bounded. */
#pragma once

#include <sys/types.h>

#include <glib.h>

/* Alive, or a zombie leader whose other threads still run (and still hold
 * its fds, the VF locks among them). A lone zombie counts as gone: PID 1
 * may never reap a detached helper. */
gboolean hook_pid_alive(pid_t pid);

/* @pid is the helper of VM @uuid: `ifcvf-helper run … --uuid @uuid …`,
 * still the `ifcvf-helper hook exec …/@uuid.args` that becomes it, or the
 * `ifcvf-helper hook supervise …/@uuid.args` that restarts it. */
gboolean hook_pid_is_helper(pid_t pid, const char *uuid);

/* SIGTERM, wait up to 10 s, then SIGKILL and wait up to 5 s. */
gboolean hook_pid_stop(pid_t pid, GError **error);

/* Double fork + setsid: run @argv (argv[0] a path) as nobody's child here,
 * with no controlling terminal, stdin /dev/null, stdout and stderr @log_fd,
 * every other fd closed. @ret_pid: the process that runs @argv. */
gboolean hook_spawn_detached(char **argv, int log_fd, pid_t *ret_pid, GError **error);

/* Run @argv (argv[0] found in PATH unless a path) with stdin /dev/null and
 * at most @timeout_ms. FALSE with @error (naming the program and its last
 * line on stderr) when it cannot run, fails or is killed at the limit.
 * @ret_stdout may be NULL. */
gboolean hook_run_bounded(const char *const *argv, guint timeout_ms, char **ret_stdout,
			  GError **error);

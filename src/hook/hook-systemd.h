/* The helper as a transient systemd unit, when systemd is PID 1: the hook
 * starts `ifcvf-helper hook exec ARGS-FILE` with systemd-run as
 * ifcvf-helper-<uuid>.service (Type=exec, KillMode=mixed, a bounded stop,
 * restarted on a crash within a start limit, collected once it ends) and stops it with `systemctl stop`. The settings
 * match data/systemd/ifcvf-helper@.service.in.
 *
 * Threads: main thread only; every command is bounded. */
#pragma once

#include <sys/types.h>

#include <glib.h>

/* What systemd gives the helper to stop before SIGKILL (TimeoutStopSec). */
#define HOOK_SYSTEMD_STOP_SEC 15
/* Restart=on-failure after RestartSec; at most BURST starts within
 * StartLimitIntervalSec, then the unit fails for good (as hook-supervise.h).
 * `systemctl stop` is no failure: release restarts nothing. */
#define HOOK_SYSTEMD_RESTART_MS 100
#define HOOK_SYSTEMD_LIMIT_SEC 30
#define HOOK_SYSTEMD_LIMIT_BURST 5

typedef struct {
	const char *systemd_run;  /* path or name of systemd-run */
	const char *systemctl;    /* path or name of systemctl */
} HookSystemd;

/* /run/systemd/system exists (sd_booted()). */
gboolean hook_systemd_booted(void);

/* "ifcvf-helper-<uuid>.service" */
char *hook_systemd_unit_name(const char *uuid);

/* The systemd-run command line that starts @command as @unit. */
GStrv hook_systemd_run_argv(const HookSystemd *sd, const char *unit, const char *description,
			    const char *const *command);

/* Start @command as @unit and return its main pid: 0 when it has already
 * ended (the unit is gone). */
gboolean hook_systemd_start(const HookSystemd *sd, const char *unit, const char *description,
			    const char *const *command, pid_t *ret_pid, GError **error);

/* The unit's MainPID now (0: none): after a restart, not the pid the
 * hook recorded. */
gboolean hook_systemd_main_pid(const HookSystemd *sd, const char *unit, pid_t *ret_pid,
			       GError **error);

/* `systemctl stop @unit` (waits for the unit to end). Fails also when the
 * unit is not loaded: the caller then checks the helper's pid itself. */
gboolean hook_systemd_stop(const HookSystemd *sd, const char *unit, GError **error);

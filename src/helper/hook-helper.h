/* The per-VM helper as the hook sees it: start `ifcvf-helper run` fully
 * detached (double fork, setsid, stdio to a log file, every other fd closed
 * except the VF locks it inherits), wait until it serves, stop it.
 *
 * Files under HookEnv.run_dir:
 *   <uuid>.pid               pid on line 1, then the lock files and sockets
 *                            the helper owns (what `release` cleans up)
 *   vf-<escaped device>.lock one per VF; flock()ed by the helper for as long
 *                            as it runs, so no VF serves two VMs
 * Log: HookEnv.log_dir/<name>.log (appended).
 *
 * Threads: main thread only; every wait is bounded. */
#pragma once

#include <glib.h>

#include "hook-config.h"

typedef struct {
	char *helper;        /* path of the ifcvf-helper binary */
	char *run_dir;
	char *log_dir;
	char *bus;           /* system, session, a D-Bus address; NULL: none */
	char *socket_user;   /* owner of the sockets (QEMU's user); NULL: leave as is */
	guint timeout_ms;    /* how long `run` may take to serve */
} HookEnv;

void hook_env_clear(HookEnv *env);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(HookEnv, hook_env_clear)

/* Check every VF exists and no other helper holds it. */
gboolean hook_vfs_check(const HookEnv *env, const HookVm *vm, GError **error);

/* Start the VM's helper (stopping a leftover one first) and wait until every
 * socket listens and the bus name is owned. On failure nothing is left
 * running and @error says why. */
gboolean hook_helper_start(const HookEnv *env, const HookVm *vm, GError **error);

/* TRUE when the VM's helper (pidfile) is alive. */
gboolean hook_helper_running(const HookEnv *env, const char *uuid);

/* Stop the VM's helper (SIGTERM, then SIGKILL) and remove its pidfile,
 * locks and stale sockets. No helper is not an error. */
gboolean hook_helper_stop(const HookEnv *env, const char *uuid, GError **error);

/* The per-VM helper as the hook sees it: check its VFs, start
 * `ifcvf-helper run` fully detached (through `hook exec`, which takes the VF
 * locks; as a transient systemd unit when systemd runs, else a double fork),
 * wait until it serves, stop it and clean up after it. The files it keeps
 * under HookEnv.run_dir are described in hook-files.h; the helper's log is
 * HookEnv.log_dir/<name>.log (appended).
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
	char *libvirt_uri;   /* `run --libvirt-uri`; NULL: not passed */
	/* with libvirt_uri: `run --libvirt-connect at-start` (a helper for an
	 * incoming migration, hook-files.h); else at-migration, the default */
	gboolean libvirt_at_start;
	char *systemd_run;   /* systemd-run to start the helper with; NULL: double fork */
	char *systemctl;     /* to stop a unit the record names */
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

/* Stop the VM's helper (its unit, else SIGTERM then SIGKILL) and remove its
 * record, argument file, locks and stale sockets: all of it named by the
 * record prepare wrote, so only the UUID is needed. No helper is not an
 * error; a run directory others can write is (hook-safe-dir.h). */
gboolean hook_helper_stop(const HookEnv *env, const char *uuid, GError **error);

/* The `ifcvf-helper run` command line for @vm. */
GStrv hook_helper_argv(const HookEnv *env, const HookVm *vm);

/* The hook's files under its run directory, for one VM's helper:
 *   <uuid>.pid                the record below
 *   <uuid>.args               what `hook exec` runs (hook-exec.h)
 *   vf-<escaped device>.lock  one per VF; flock()ed by the helper for as
 *                             long as it runs, so no VF serves two VMs; the
 *                             holder writes "VM <name>" into it
 *   <uuid>.incoming           empty: `migrate begin` ran here (the
 *                             destination of a migration); `prepare begin`
 *                             takes it (its mtime says when it was left)
 *
 * The record (<uuid>.pid) is what `release` needs to stop the helper and
 * clean up after it, line by line:
 *   <pid>           0 until the helper has been spawned
 *   unit <name>     the systemd unit that runs it (systemd only)
 *   lock <path>     a VF lock it holds
 *   socket <path>   a socket it listens on
 *
 * Threads: no state. */
#pragma once

#include <sys/types.h>

#include <glib.h>

typedef struct {
	pid_t pid;
	char *unit;          /* NULL: a plain detached process */
	GPtrArray *locks;    /* of char *, paths */
	GPtrArray *sockets;  /* of char *, paths */
} HookRecord;

HookRecord *hook_record_new(void);
void hook_record_free(HookRecord *rec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HookRecord, hook_record_free)

char *hook_record_path(const char *run_dir, const char *uuid);
char *hook_args_path(const char *run_dir, const char *uuid);
/* vf-<device, URI-escaped>.lock; a hash when that would be too long */
char *hook_lock_path(const char *run_dir, const char *device);

/* NULL when there is no record (no error: no helper). */
HookRecord *hook_record_read(const char *path);
gboolean hook_record_write(const char *path, const HookRecord *rec, GError **error);

/* Take the VF's lock without waiting. With @holder, write "VM @holder" into
 * it for whoever finds the VF taken. Returns the locked fd (O_CLOEXEC), or
 * -1 with @error: "VF <device> is already used by VM '<holder>'". */
int hook_lock_take(const char *path, const char *device, const char *holder, GError **error);

/* A marker older than this is not the migration `prepare begin` is for
 * (libvirt runs prepare right after migrate on the destination). */
#define HOOK_INCOMING_MAX_AGE_S 120

/* Leave @uuid's .incoming marker in @run_dir (replacing an old one),
 * created in the directory opened safely (hook-safe-dir.h), never through
 * a symbolic link. */
gboolean hook_incoming_mark(const char *run_dir, const char *uuid, GError **error);
/* Remove @uuid's marker; TRUE when there was one, a regular file left at
 * most HOOK_INCOMING_MAX_AGE_S ago. Nothing there, an unsafe directory or
 * an old marker: FALSE. */
gboolean hook_incoming_take(const char *run_dir, const char *uuid);

/* Remove a lock file once nobody holds it (a helper that just died may
 * still be closing its fds: waits up to 2 s, then leaves it). */
void hook_lock_remove(const char *path);

/* `ifcvf-helper hook exec ARGS-FILE`: what the hook's detached process,
 * its systemd unit or the ifcvf-helper@.service template runs. It appends
 * its stdout/stderr to the VM's log, takes the VF locks (failing with
 * "VF … is already used by VM '…'"), and execs `ifcvf-helper run`, which
 * keeps the locks open for its whole life. The hook writes ARGS-FILE
 * (<run dir>/<uuid>.args, a GKeyFile) on `prepare begin`:
 *
 *   [Helper]
 *   VM=vm1                                    written into the VF locks
 *   Log=/var/log/ifcvf-helper/vm1.log
 *   Devices=vfio-user:/run/emu.sock;          one lock each, in the run dir
 *   Argv=/usr/bin/ifcvf-helper;run;--uuid;…   exec'd as is
 *   Sockets=/run/vhu/net0.sock;               optional: the server sockets and
 *   SocketUser=libvirt-qemu:kvm               whom to give them after a restart
 *
 * The arguments travel in a file, not on systemd-run's command line, so
 * that systemd does not expand '$' or '%' in socket paths or VM names.
 *
 * Threads: main thread. */
#pragma once

#include <glib.h>

typedef struct {
	const char *vm;
	const char *log;
	const char *const *devices;
	const char *const *argv;
	const char *const *sockets;  /* NULL: none */
	const char *socket_user;     /* NULL: leave them root's (mode 0660 still) */
} HookExecArgs;

/* An argument file as read back: every field is checked to be there
 * (Sockets and SocketUser may be missing: NULL), Argv starts with an
 * absolute path. */
typedef struct {
	char *vm;
	char *log;
	GStrv devices;
	GStrv argv;
	GStrv sockets;
	char *socket_user;
} HookExecFile;

/* Parse an argument file's @text (@len bytes). NULL with @error when a
 * field is missing or malformed. */
HookExecFile *hook_exec_args_parse(const char *text, gsize len, GError **error);
void hook_exec_file_free(HookExecFile *f);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HookExecFile, hook_exec_file_free)

/* The argument file's text for @args (@ret_len bytes, NUL-terminated). */
char *hook_exec_args_format(const HookExecArgs *args, gsize *ret_len);

/* Write @args to @path (mode 0600). */
gboolean hook_exec_args_write(const char *path, const HookExecArgs *args, GError **error);

/* The UUID of the VM whose argument file in @run_dir says VM=@vm; NULL
 * when there is none (for `release` when the domain XML cannot be read). */
char *hook_exec_args_find_uuid(const char *run_dir, const char *vm);

/* What `hook exec` tells `run`: how many times this start was restarted
 * (a crash restarted by the supervisor or the systemd unit), counted in
 * the file hook_exec_counter_path(ARGS-FILE). */
#define HOOK_EXEC_RESTARTS_ENV "IFCVF_HELPER_RESTARTS"

/* <run dir>/<uuid>.restarts for <run dir>/<uuid>.args */
char *hook_exec_counter_path(const char *args_path);

/* Load @path, lock, count the start, exec. Returns only on failure: the exit status, after
 * one line on stderr. */
int hook_exec_main(const char *path);

/* Directories the root hook writes in or hands entries of to others (the
 * socket's directory, the run and log directories), opened without
 * following symbolic links and checked so that nobody but root can swap
 * what is in them between two steps of the hook.
 *
 * A directory path is safe when:
 *   - it is absolute, with no "." or ".." component;
 *   - no component is a symbolic link (walked from "/" one component at a
 *     time with O_PATH|O_NOFOLLOW, so a link swapped in meanwhile is seen,
 *     never followed);
 *   - every directory on the way is owned by root and writable by no one
 *     else unless it is sticky (like /tmp: others create entries there
 *     but cannot move root's);
 *   - the directory itself is owned by root and writable by no one else,
 *     sticky or not (whoever can create an entry there can put a link where
 *     the hook expects its own file).
 * Nobody else needs write access to such a directory: QEMU's user needs
 * only search (x) permission on the way to a socket it connects to.
 * "root" is the hook's effective uid (root as libvirt runs it).
 *
 * Threads: no state. */
#pragma once

#include <glib.h>

/* The directory @path as an O_PATH|O_DIRECTORY descriptor (O_CLOEXEC) once
 * it is safe, else -1 with @error: one line naming the directory at fault
 * and the cause, e.g. "directory /srv/vm is writable by group or others
 * (mode 0777)". */
int hook_safe_dir_open(const char *path, GError **error);

/* The vhost-user sockets the helper listens on, as the root hook handles
 * them: the socket's directory checked before the helper starts, the socket
 * handed to QEMU's user once it listens, a stale one removed after it.
 *
 * Nothing here follows a symbolic link: the socket's directory is opened
 * by hook_safe_dir_open (hook-safe-dir.h: owned by root, writable by no one
 * else, no link on the way), and the socket itself is opened as what it is
 * (O_PATH|O_NOFOLLOW) and changed only once that descriptor shows a socket
 * owned by root with a single name (no hard link to another). A link put
 * in the socket's place is refused, never followed: whoever can write there
 * cannot have a root file chowned.
 *
 * Threads: no state. */
#pragma once

#include <glib.h>

/* Is someone listening on the UNIX socket @path (this netns)? */
gboolean hook_socket_listening(const char *path);

/* Before the helper starts: @path is absolute and its directory is safe.
 * @error: "socket PATH: directory DIR is writable by group or others (mode
 * 0777)" and the like. */
gboolean hook_socket_check_dir(const char *path, GError **error);

/* Give the socket at @path to @user ("USER[:GROUP]"; NULL: leave the
 * owner) with mode 0660. Refused when its directory is not safe, or when
 * @path is not a socket owned by root (a link, a file, another's socket, a
 * hard link). */
gboolean hook_socket_set_owner(const char *path, const char *user, GError **error);

/* Remove the socket at @path when nobody listens on it (nothing when its
 * directory is not safe or it is not a socket). */
void hook_socket_remove_stale(const char *path);

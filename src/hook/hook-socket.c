/* The helper's vhost-user sockets for the hook (see hook-socket.h). */
#include "hook-socket.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper-error.h"
#include "hook-safe-dir.h"

#define SOCKET_MODE 0660

/* Read from /proc/net/unix so that the helper sees no connection. */
gboolean hook_socket_listening(const char *path)
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

static gboolean resolve_user(const char *spec, uid_t *uid, gid_t *gid, GError **error)
{
	g_auto(GStrv) parts = g_strsplit(spec, ":", 2);
	struct passwd *pw = getpwnam(parts[0] ? parts[0] : "");

	if (!pw)
		return ifcvf_helper_fail(error, "socket owner '%s': no such user", spec);
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	if (parts[0] && parts[1]) {
		struct group *gr = getgrnam(parts[1]);

		if (!gr)
			return ifcvf_helper_fail(error, "socket owner '%s': no such group", spec);
		*gid = gr->gr_gid;
	}
	return TRUE;
}

/* The socket's directory, safe, and the socket's name in it; -1 with @error. */
static int open_parent(const char *path, char **ret_name, GError **error)
{
	const char *slash = strrchr(path, '/');
	g_autofree char *dir = NULL;
	const char *name;
	int fd;

	if (!g_path_is_absolute(path)) {
		ifcvf_helper_fail(error, "socket '%s' is not an absolute path", path);
		return -1;
	}
	name = slash + 1;
	if (!*name || g_str_equal(name, ".") || g_str_equal(name, "..")) {
		ifcvf_helper_fail(error, "socket '%s' does not name a file", path);
		return -1;
	}
	dir = slash == path ? g_strdup("/") : g_strndup(path, (gsize)(slash - path));
	fd = hook_safe_dir_open(dir, error);
	if (fd < 0) {
		g_prefix_error(error, "socket %s: ", path);
		return -1;
	}
	*ret_name = g_strdup(name);
	return fd;
}

gboolean hook_socket_check_dir(const char *path, GError **error)
{
	g_autofree char *name = NULL;
	int fd = open_parent(path, &name, error);

	if (fd < 0)
		return FALSE;
	close(fd);
	return TRUE;
}

void hook_socket_remove_stale(const char *path)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *name = NULL;
	int dir_fd = open_parent(path, &name, &error);
	struct stat st;

	if (dir_fd < 0) {
		g_debug("not removing %s", error->message);
		return;
	}
	/* the directory is root's alone: nobody swaps the entry meanwhile */
	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode) &&
	    !hook_socket_listening(path))
		(void)unlinkat(dir_fd, name, 0);
	close(dir_fd);
}

static const char *file_kind(mode_t mode)
{
	if (S_ISLNK(mode))
		return "a symbolic link";
	if (S_ISREG(mode))
		return "a regular file";
	if (S_ISDIR(mode))
		return "a directory";
	return "a device, FIFO or other special file";
}

/* Mode and owner of the socket @fd (O_PATH) refers to. fchmod() refuses
 * O_PATH descriptors and fchmodat(AT_SYMLINK_NOFOLLOW) fails (ENOTSUP) on
 * kernels without fchmodat2 (before 6.6); /proc/self/fd/N is no path
 * lookup: it resolves to the very inode @fd holds, checked to be a socket,
 * whatever has been put at its name since (glibc emulates
 * AT_SYMLINK_NOFOLLOW the same way). fchownat(AT_EMPTY_PATH) changes that
 * inode too. Mode first: the socket never belongs to QEMU's user with a
 * wider mode. */
static gboolean change_inode(int fd, const char *path, const char *user, uid_t uid, gid_t gid,
			     GError **error)
{
	g_autofree char *proc = g_strdup_printf("/proc/self/fd/%d", fd);

	if (chmod(proc, SOCKET_MODE) < 0)
		return ifcvf_helper_fail(error, "socket %s: chmod through %s: %s", path, proc,
			    g_strerror(errno));
	if (user && fchownat(fd, "", uid, gid, AT_EMPTY_PATH) < 0)
		return ifcvf_helper_fail(error, "socket %s: chown to %s: %s", path, user,
			    g_strerror(errno));
	return TRUE;
}

/* QEMU's user may connect; others may not. */
gboolean hook_socket_set_owner(const char *path, const char *user, GError **error)
{
	g_autofree char *name = NULL;
	uid_t uid = 0;
	gid_t gid = 0;
	struct stat st;
	gboolean ok = FALSE;
	int dir_fd, fd;

	if (user && !resolve_user(user, &uid, &gid, error))
		return FALSE;
	dir_fd = open_parent(path, &name, error);
	if (dir_fd < 0)
		return FALSE;
	/* the entry as it is now (a link is opened as the link): what is
	 * checked below is what is changed, on this descriptor */
	fd = openat(dir_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	close(dir_fd);
	if (fd < 0)
		return ifcvf_helper_fail(error, "socket %s: %s", path, g_strerror(errno));
	if (fstat(fd, &st) < 0)
		ifcvf_helper_fail(error, "socket %s: %s", path, g_strerror(errno));
	else if (!S_ISSOCK(st.st_mode))
		ifcvf_helper_fail(error, "socket %s is not a socket but %s", path,
				  file_kind(st.st_mode));
	else if (st.st_uid != geteuid())
		ifcvf_helper_fail(error, "socket %s is owned by uid %u, not by the helper's user %u",
				  path, (guint)st.st_uid, (guint)geteuid());
	/* the helper's socket has one name; a second is a hard link to some
	 * other socket of root's */
	else if (st.st_nlink != 1)
		ifcvf_helper_fail(error, "socket %s has %u names (a hard link), not the helper's own",
				  path, (guint)st.st_nlink);
	else
		ok = change_inode(fd, path, user, uid, gid, error);
	close(fd);
	return ok;
}

/* Safe directories for the root hook (see hook-safe-dir.h). */
#include "hook-safe-dir.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper-error.h"

#define WRITABLE_BY_OTHERS (S_IWGRP | S_IWOTH)

static gboolean check_owner(const char *dir, const struct stat *st, GError **error)
{
	uid_t me = geteuid();

	if (st->st_uid == me)
		return TRUE;
	if (me == 0)
		return ifcvf_helper_fail(error, "directory %s is owned by uid %u, not root", dir,
			    (guint)st->st_uid);
	return ifcvf_helper_fail(error, "directory %s is owned by uid %u, not uid %u", dir,
		    (guint)st->st_uid, (guint)me);
}

/* @fd is the directory @dir; @last: the one asked for, not one on the way */
static gboolean check_dir(int fd, const char *dir, gboolean last, GError **error)
{
	struct stat st;
	guint mode;

	if (fstat(fd, &st) < 0)
		return ifcvf_helper_fail(error, "directory %s: %s", dir, g_strerror(errno));
	if (!check_owner(dir, &st, error))
		return FALSE;
	mode = st.st_mode & 07777;
	if (!(mode & WRITABLE_BY_OTHERS))
		return TRUE;
	if (last)
		return ifcvf_helper_fail(error, "directory %s is writable by group or others (mode %04o)",
			    dir, mode);
	if (!(mode & S_ISVTX))
		return ifcvf_helper_fail(error, "directory %s is writable by group or others and not "
			    "sticky (mode %04o)", dir, mode);
	return TRUE;
}

/* The entry @name of @dir_fd, a directory and not a link; -1 with @error. */
static int open_child(int dir_fd, const char *name, const char *path, GError **error)
{
	/* O_PATH|O_NOFOLLOW opens a link itself rather than what it points to */
	int fd = openat(dir_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;

	if (fd < 0) {
		ifcvf_helper_fail(error, "directory %s: %s", path, g_strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		ifcvf_helper_fail(error, "directory %s: %s", path, g_strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		if (S_ISLNK(st.st_mode))
			ifcvf_helper_fail(error, "%s is a symbolic link", path);
		else
			ifcvf_helper_fail(error, "%s is not a directory", path);
		close(fd);
		return -1;
	}
	return fd;
}

int hook_safe_dir_open(const char *path, GError **error)
{
	g_auto(GStrv) parts = NULL;
	g_autoptr(GPtrArray) names = g_ptr_array_new();
	g_autoptr(GString) at = g_string_new("/");
	int fd;

	if (!g_path_is_absolute(path)) {
		ifcvf_helper_fail(error, "'%s' is not an absolute path", path);
		return -1;
	}
	parts = g_strsplit(path, "/", -1);
	for (guint i = 0; parts[i]; i++) {
		if (g_str_equal(parts[i], ".") || g_str_equal(parts[i], "..")) {
			ifcvf_helper_fail(error, "'%s' has a '.' or '..' component", path);
			return -1;
		}
		if (*parts[i])
			g_ptr_array_add(names, parts[i]);
	}
	fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		ifcvf_helper_fail(error, "directory /: %s", g_strerror(errno));
		return -1;
	}
	for (guint i = 0;; i++) {
		int next;

		if (!check_dir(fd, at->str, i == names->len, error))
			break;
		if (i == names->len)
			return fd;
		if (i > 0)
			g_string_append_c(at, '/');
		g_string_append(at, g_ptr_array_index(names, i));
		next = open_child(fd, g_ptr_array_index(names, i), at->str, error);
		if (next < 0)
			break;
		close(fd);
		fd = next;
	}
	close(fd);
	return -1;
}

/* VF locks and the helper's record under the run directory (see hook-files.h). */
#include "hook-files.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper-error.h"
#include "hook-safe-dir.h"

#define POLL_MS 20
#define LOCK_GONE_MS 2000

HookRecord *hook_record_new(void)
{
	HookRecord *rec = g_new0(HookRecord, 1);

	rec->locks = g_ptr_array_new_with_free_func(g_free);
	rec->sockets = g_ptr_array_new_with_free_func(g_free);
	return rec;
}

void hook_record_free(HookRecord *rec)
{
	if (!rec)
		return;
	g_free(rec->unit);
	g_ptr_array_unref(rec->locks);
	g_ptr_array_unref(rec->sockets);
	g_free(rec);
}

static char *run_file(const char *run_dir, const char *uuid, const char *ext)
{
	g_autofree char *base = g_strconcat(uuid, ext, NULL);

	return g_build_filename(run_dir, base, NULL);
}

char *hook_record_path(const char *run_dir, const char *uuid)
{
	return run_file(run_dir, uuid, ".pid");
}

char *hook_args_path(const char *run_dir, const char *uuid)
{
	return run_file(run_dir, uuid, ".args");
}

/* ---- the incoming-migration marker ---- */

static char *incoming_name(const char *uuid)
{
	return g_strconcat(uuid, ".incoming", NULL);
}

gboolean hook_incoming_mark(const char *run_dir, const char *uuid, GError **error)
{
	g_autofree char *name = incoming_name(uuid);
	int dir_fd = hook_safe_dir_open(run_dir, error), fd;

	if (dir_fd < 0) {
		g_prefix_error(error, "run directory %s: ", run_dir);
		return FALSE;
	}
	/* a new file, so its mtime is now; O_EXCL|O_NOFOLLOW: never through
	 * whatever was there */
	if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT) {
		ifcvf_helper_fail(error, "marker %s/%s: %s", run_dir, name, g_strerror(errno));
		close(dir_fd);
		return FALSE;
	}
	fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		ifcvf_helper_fail(error, "marker %s/%s: %s", run_dir, name, g_strerror(errno));
		close(dir_fd);
		return FALSE;
	}
	close(fd);
	close(dir_fd);
	return TRUE;
}

gboolean hook_incoming_take(const char *run_dir, const char *uuid)
{
	g_autofree char *name = incoming_name(uuid);
	int dir_fd = hook_safe_dir_open(run_dir, NULL);
	gint64 age;
	struct stat st;
	gboolean fresh;

	if (dir_fd < 0)
		return FALSE;
	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		close(dir_fd);
		return FALSE;
	}
	age = g_get_real_time() / G_USEC_PER_SEC - (gint64)st.st_mtim.tv_sec;
	/* a second back for the clock's granularity */
	fresh = S_ISREG(st.st_mode) && age >= -1 && age <= HOOK_INCOMING_MAX_AGE_S;
	if (!fresh)
		g_debug("marker %s/%s: ignored (%s)", run_dir, name,
			S_ISREG(st.st_mode) ? "too old" : "not a file");
	(void)unlinkat(dir_fd, name, 0);
	close(dir_fd);
	return fresh;
}

char *hook_lock_path(const char *run_dir, const char *device)
{
	g_autofree char *esc = g_uri_escape_string(device, ":", FALSE);
	g_autofree char *base = NULL;

	if (strlen(esc) > 200) {
		g_autofree char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, device, -1);

		base = g_strdup_printf("vf-%s.lock", sum);
	} else {
		base = g_strdup_printf("vf-%s.lock", esc);
	}
	return g_build_filename(run_dir, base, NULL);
}

HookRecord *hook_record_read(const char *path)
{
	g_autoptr(HookRecord) rec = NULL;
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return NULL;
	rec = hook_record_new();
	lines = g_strsplit(text, "\n", -1);
	rec->pid = (pid_t)g_ascii_strtoll(lines[0], NULL, 10);
	for (guint i = 1; lines[i]; i++) {
		if (g_str_has_prefix(lines[i], "unit ") && !rec->unit)
			rec->unit = g_strdup(lines[i] + strlen("unit "));
		else if (g_str_has_prefix(lines[i], "lock "))
			g_ptr_array_add(rec->locks, g_strdup(lines[i] + strlen("lock ")));
		else if (g_str_has_prefix(lines[i], "socket "))
			g_ptr_array_add(rec->sockets, g_strdup(lines[i] + strlen("socket ")));
	}
	return g_steal_pointer(&rec);
}

gboolean hook_record_write(const char *path, const HookRecord *rec, GError **error)
{
	g_autoptr(GString) s = g_string_new(NULL);

	g_string_append_printf(s, "%d\n", (int)rec->pid);
	if (rec->unit)
		g_string_append_printf(s, "unit %s\n", rec->unit);
	for (guint i = 0; i < rec->locks->len; i++)
		g_string_append_printf(s, "lock %s\n", (char *)g_ptr_array_index(rec->locks, i));
	for (guint i = 0; i < rec->sockets->len; i++)
		g_string_append_printf(s, "socket %s\n", (char *)g_ptr_array_index(rec->sockets, i));
	if (!g_file_set_contents(path, s->str, (gssize)s->len, error)) {
		g_prefix_error(error, "pidfile: ");
		return FALSE;
	}
	return TRUE;
}

static int lock_busy(int fd, const char *device, GError **error)
{
	char who[64] = "";
	ssize_t n = pread(fd, who, sizeof(who) - 1, 0);

	close(fd);
	who[n > 0 ? n : 0] = '\0';
	g_strstrip(who);
	if (g_str_has_prefix(who, "VM "))
		ifcvf_helper_fail(error, "VF %s is already used by VM '%s'", device, who + 3);
	else
		ifcvf_helper_fail(error, "VF %s is already used by another VM", device);
	return -1;
}

int hook_lock_take(const char *path, const char *device, const char *holder, GError **error)
{
	for (guint attempt = 0; attempt < 10; attempt++) {
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
		struct stat a, b;

		if (fd < 0) {
			ifcvf_helper_fail(error, "lock file %s: %s", path, g_strerror(errno));
			return -1;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int e = errno;

			if (e == EWOULDBLOCK)
				return lock_busy(fd, device, error);
			close(fd);
			ifcvf_helper_fail(error, "lock file %s: %s", path, g_strerror(e));
			return -1;
		}
		/* a release may have unlinked it between open and flock */
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
		    a.st_dev == b.st_dev) {
			g_autofree char *line = holder ? g_strdup_printf("VM %s\n", holder) : NULL;

			if (line && (ftruncate(fd, 0) < 0 ||
				     pwrite(fd, line, strlen(line), 0) != (ssize_t)strlen(line))) {
				ifcvf_helper_fail(error, "lock file %s: %s", path, g_strerror(errno));
				close(fd);
				return -1;
			}
			return fd;
		}
		close(fd);
	}
	ifcvf_helper_fail(error, "lock file %s keeps being replaced", path);
	return -1;
}

void hook_lock_remove(const char *path)
{
	gint64 end = g_get_monotonic_time() + LOCK_GONE_MS * G_TIME_SPAN_MILLISECOND;
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return;
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK || g_get_monotonic_time() > end) {
			g_debug("lock file %s is still held, leaving it", path);
			close(fd);
			return;
		}
		g_usleep(POLL_MS * 1000);
	}
	(void)unlink(path);
	close(fd);
}

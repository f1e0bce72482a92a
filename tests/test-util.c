#include "test-util.h"

#include <glib/gstdio.h>

#include <errno.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *test_program(const char *var)
{
	const char *p = g_getenv(var);

	if (!p || !*p)
		g_error("%s is not set: run the tests through meson test", var);
	return p;
}

/* an emulator outlives a failed test otherwise, holding meson's pipes open */
static void die_with_parent(gpointer user_data)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

TestEmu *test_emu_start(const char *const *argv)
{
	g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error = NULL;
	TestEmu *emu = g_new0(TestEmu, 1);
	gint64 deadline;

	emu->dir = g_dir_make_tmp("ifcvf-emu-XXXXXX", &error);
	g_assert_no_error(error);
	emu->socket = g_build_filename(emu->dir, "vf.sock", NULL);
	emu->address = g_strconcat("vfio-user:", emu->socket, NULL);

	g_ptr_array_add(args, g_strdup(test_program("IFCVF_EMU")));
	g_ptr_array_add(args, g_strdup("--socket"));
	g_ptr_array_add(args, g_strdup(emu->socket));
	for (guint i = 0; argv && argv[i]; i++)
		g_ptr_array_add(args, g_strdup(argv[i]));
	g_ptr_array_add(args, NULL);

	g_spawn_async(NULL, (char **)args->pdata, NULL,
		      G_SPAWN_DO_NOT_REAP_CHILD, die_with_parent, NULL, &emu->pid, &error);
	g_assert_no_error(error);

	/* the emulator renames its socket into place once it listens */
	deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	while (!g_file_test(emu->socket, G_FILE_TEST_EXISTS)) {
		int status;

		if (waitpid(emu->pid, &status, WNOHANG) == emu->pid) {
			emu->pid = 0;
			g_error("ifcvf-emu exited before listening (status %d)", status);
		}
		if (g_get_monotonic_time() > deadline)
			g_error("ifcvf-emu did not listen on %s within 10 s", emu->socket);
		g_usleep(10 * 1000);
	}
	return emu;
}

void test_emu_stop(TestEmu *emu)
{
	if (!emu)
		return;
	if (emu->pid > 0) {
		gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
		int status;

		kill(emu->pid, SIGTERM);
		while (waitpid(emu->pid, &status, WNOHANG) == 0) {
			if (g_get_monotonic_time() > deadline) {
				kill(emu->pid, SIGKILL);
				waitpid(emu->pid, &status, 0);
				g_error("ifcvf-emu did not exit within 5 s of SIGTERM");
			}
			g_usleep(10 * 1000);
		}
		g_spawn_close_pid(emu->pid);
		/* a clean exit also means no sanitizer report in the emulator */
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			g_error("ifcvf-emu ended with status 0x%x after SIGTERM", status);
	}
	/* the socket and whatever a test put next to it */
	if (emu->dir)
		test_rm_flat_dir(emu->dir);
	g_free(emu->dir);
	g_free(emu->socket);
	g_free(emu->address);
	g_free(emu);
}

guint test_count_fds(void)
{
	g_autoptr(GDir) dir = g_dir_open("/proc/self/fd", 0, NULL);
	guint n = 0;

	g_assert_nonnull(dir);
	while (g_dir_read_name(dir))
		n++;
	/* the GDir's own fd is counted too; it is the same every call */
	return n;
}

int test_run(const char *const *argv, char **ret_stdout, char **ret_stderr)
{
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	g_autoptr(GError) error = NULL;
	int status = 0;

	/* timeout(1) bounds the wait so a hang fails instead of stalling */
	g_ptr_array_add(args, (gpointer) "timeout");
	g_ptr_array_add(args, (gpointer) "-s");
	g_ptr_array_add(args, (gpointer) "KILL");
	g_ptr_array_add(args, (gpointer) "60");
	for (guint i = 0; argv[i]; i++)
		g_ptr_array_add(args, (gpointer)argv[i]);
	g_ptr_array_add(args, NULL);
	g_spawn_sync(NULL, (char **)args->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
		     ret_stdout, ret_stderr, &status, &error);
	g_assert_no_error(error);
	if (!WIFEXITED(status))
		return -1;
	if (WEXITSTATUS(status) == 124 || WEXITSTATUS(status) == 137)
		return -1;
	return WEXITSTATUS(status);
}

void test_assert_usage_error(const char *const *argv, const char *needle)
{
	g_autofree char *out = NULL, *err = NULL;
	guint lines = 0;

	g_assert_cmpint(test_run(argv, &out, &err), ==, 2);
	for (const char *p = err; *p; p++)
		lines += *p == '\n';
	g_test_message("%s", err);
	g_assert_cmpuint(lines, ==, 1);
	g_assert_nonnull(strstr(err, needle));
}

void test_rm_flat_dir(const char *dir)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *name;

	while (d && (name = g_dir_read_name(d))) {
		g_autofree char *path = g_build_filename(dir, name, NULL);

		(void)g_unlink(path);
	}
	(void)g_rmdir(dir);
}

/* Helpers shared by the GLib test programs: start and stop a real ifcvf-emu
 * on a private socket, count this process's open fds (leak checks), and run
 * a command with a time limit.
 *
 * Threads: test main thread only. */
#pragma once

#include <glib.h>

typedef struct {
	GPid pid;
	char *dir;      /* private temporary directory */
	char *socket;   /* dir/vf.sock */
	char *address;  /* "vfio-user:" + socket */
} TestEmu;

/* Start ifcvf-emu (path from $IFCVF_EMU) with @argv extra arguments (NULL
 * terminated) plus "--socket PATH", and wait up to 10 s until it listens.
 * Fails the test on error. */
TestEmu *test_emu_start(const char *const *argv);

/* SIGTERM, reap (bounded wait; SIGKILL after 5 s), remove the directory
 * and the files in it. */
void test_emu_stop(TestEmu *emu);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(TestEmu, test_emu_stop)

/* Number of entries in /proc/self/fd right now. */
guint test_count_fds(void);

/* Run @argv (argv[0] is a path) with a 60 s limit; returns the exit status
 * (or -1 if it was killed by a signal or timed out) and its output. */
int test_run(const char *const *argv, char **ret_stdout, char **ret_stderr);

/* Run @argv and expect a usage error: exit status 2 and exactly one line on
 * stderr that mentions @needle. */
void test_assert_usage_error(const char *const *argv, const char *needle);

/* Path of a built program from the environment variable @var; fails the
 * test when it is not set. */
const char *test_program(const char *var);

/* Remove @dir and the files directly in it (a test's scratch directory);
 * quietly, what cannot be removed stays. */
void test_rm_flat_dir(const char *dir);

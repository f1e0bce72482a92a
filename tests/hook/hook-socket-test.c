/* The hook's socket ownership step (hook_socket_set_owner, the function
 * `hook prepare begin` calls once the helper listens) against an attacker
 * who swaps, 1000 times, either the socket or its directory for a symbolic
 * link to a root file: the file's owner and mode never change.
 *
 * A full `prepare begin` takes about 0.1 s (a helper is spawned and
 * probes its VF), so 1000 of them would take minutes; hook-test's
 * /hook/socket-symlink-race runs the whole path 50 times. Here each try
 * binds a real socket where the helper would and swaps once: every 4th
 * try before the call (the link is already there: the old chown()/chmod()
 * followed it every time), the others from a spinning thread released just
 * before the call, after a random delay of up to 100 us (a call takes about
 * 50), so that the swap lands before, during or after it as the scheduler
 * has it. What passes or fails does not depend on that timing: the victim
 * must be intact after every try. Needs root (chown). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "hook-socket.h"

#define TRIES 1000
#define MAX_DELAY_US 100
#define OWNER "nobody:nogroup"

typedef struct {
	char *base;       /* 0700, root's */
	char *sock_dir;   /* base/sockets, 0755 */
	char *sock;       /* sock_dir/net0.sock */
	char *victim;     /* base/victim, root's, 0600 */
	char *decoy_dir;  /* base/decoy, holding net0.sock: a hard link to victim */
	char *moved;      /* where the attacker moves sock_dir */
	char *tmp;        /* the link is made here, then renamed over sock */
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *decoy = NULL;

	if (geteuid() != 0)
		return;
	f->base = g_dir_make_tmp("hook-socket-XXXXXX", &error);
	g_assert_no_error(error);
	f->sock_dir = g_build_filename(f->base, "sockets", NULL);
	f->sock = g_build_filename(f->sock_dir, "net0.sock", NULL);
	f->victim = g_build_filename(f->base, "victim", NULL);
	f->decoy_dir = g_build_filename(f->base, "decoy", NULL);
	f->moved = g_build_filename(f->base, "sockets.moved", NULL);
	f->tmp = g_build_filename(f->base, "link.tmp", NULL);
	decoy = g_build_filename(f->decoy_dir, "net0.sock", NULL);
	g_assert_cmpint(g_mkdir(f->sock_dir, 0755), ==, 0);
	g_assert_cmpint(g_mkdir(f->decoy_dir, 0755), ==, 0);
	g_assert_true(g_file_set_contents(f->victim, "root's secret\n", -1, NULL));
	g_assert_cmpint(chmod(f->victim, 0600), ==, 0);
	g_assert_cmpint(link(f->victim, decoy), ==, 0);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
	g_autofree char *decoy = NULL;

	if (!f->base)
		return;
	decoy = g_build_filename(f->decoy_dir, "net0.sock", NULL);
	(void)g_unlink(f->tmp);
	(void)g_unlink(f->sock);
	(void)g_unlink(decoy);
	(void)g_unlink(f->victim);
	(void)g_rmdir(f->decoy_dir);
	(void)g_rmdir(f->sock_dir);
	(void)g_rmdir(f->base);
	g_free(f->base);
	g_free(f->sock_dir);
	g_free(f->sock);
	g_free(f->victim);
	g_free(f->decoy_dir);
	g_free(f->moved);
	g_free(f->tmp);
}

static gboolean need_root(void)
{
	if (geteuid() == 0)
		return TRUE;
	g_test_skip("needs root (chown)");
	return FALSE;
}

/* A listening socket at @path, as the helper makes it. */
static int listen_at(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpuint(strlen(path), <, sizeof(sa.sun_path));
	strcpy(sa.sun_path, path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0)
		g_error("bind %s: %s", path, g_strerror(errno));
	return fd;
}

static void assert_victim_intact(const Fixture *f, guint try)
{
	struct stat st;

	g_assert_cmpint(lstat(f->victim, &st), ==, 0);
	if (st.st_uid != 0 || st.st_gid != 0 || (st.st_mode & 07777) != 0600)
		g_error("try %u: %s became %u:%u mode %04o (was 0:0 0600)", try, f->victim,
			(guint)st.st_uid, (guint)st.st_gid, (guint)(st.st_mode & 07777));
}

typedef void (*SwapFunc)(const Fixture *f);

/* the socket becomes a link to the victim */
static void swap_socket(const Fixture *f)
{
	if (symlink(f->victim, f->tmp) < 0 || rename(f->tmp, f->sock) < 0)
		g_error("swap %s: %s", f->sock, g_strerror(errno));
}

/* the socket's directory becomes a link to one whose net0.sock is the victim */
static void swap_dir(const Fixture *f)
{
	if (rename(f->sock_dir, f->moved) < 0 || symlink(f->decoy_dir, f->sock_dir) < 0)
		g_error("swap %s: %s", f->sock_dir, g_strerror(errno));
}

/* back to a real directory without a socket */
static void restore(const Fixture *f)
{
	struct stat st;

	if (lstat(f->sock_dir, &st) == 0 && S_ISLNK(st.st_mode)) {
		g_assert_cmpint(g_unlink(f->sock_dir), ==, 0);
		g_assert_cmpint(g_rename(f->moved, f->sock_dir), ==, 0);
	}
	g_assert_cmpint(g_unlink(f->sock), ==, 0);
}

typedef struct {
	const Fixture *f;
	SwapFunc swap;
	gint64 delay_us;
	gint ready;
	gint go;
} Attack;

/* Spin (a sleep would wake up long after the call): ready, wait for go,
 * wait the delay, swap. */
static gpointer attack_run(gpointer data)
{
	Attack *a = data;
	gint64 at;

	g_atomic_int_set(&a->ready, 1);
	while (!g_atomic_int_get(&a->go))
		g_thread_yield();
	at = g_get_monotonic_time() + a->delay_us;
	while (g_get_monotonic_time() < at)
		g_thread_yield();
	a->swap(a->f);
	return NULL;
}

static void race(Fixture *f, SwapFunc swap)
{
	guint given = 0, refused = 0, raced = 0;
	gint64 call_us = 0, start;

	for (guint i = 0; i < TRIES; i++) {
		Attack a = { .f = f, .swap = swap,
			     .delay_us = g_test_rand_int_range(0, MAX_DELAY_US + 1) };
		g_autoptr(GError) error = NULL;
		GThread *t = NULL;
		int fd = listen_at(f->sock);

		if (i % 4 == 0) {
			swap(f);
		} else {
			t = g_thread_new("attacker", attack_run, &a);
			while (!g_atomic_int_get(&a.ready))
				;
			g_atomic_int_set(&a.go, 1);
		}
		start = g_get_monotonic_time();
		if (hook_socket_set_owner(f->sock, OWNER, &error))
			given++;
		else if (t)
			raced++;
		else
			refused++;
		call_us += g_get_monotonic_time() - start;
		if (t)
			g_thread_join(t);
		assert_victim_intact(f, i);
		if (i == 0)
			g_test_message("refused: %s", error ? error->message : "(not refused)");
		close(fd);
		restore(f);
	}
	g_test_message("%u tries: the socket given %u times, refused %u times with the link "
		       "already there and %u times as the thread swapped; a call takes %.1f us on "
		       "average", TRIES, given, refused, raced, (double)call_us / TRIES);
}

static void test_socket_link(Fixture *f, gconstpointer data)
{
	if (need_root())
		race(f, swap_socket);
}

static void test_dir_link(Fixture *f, gconstpointer data)
{
	if (need_root())
		race(f, swap_dir);
}

/* A hard link to another socket of root's where the helper's socket was:
 * refused, the other socket untouched. */
static void test_hard_link(Fixture *f, gconstpointer data)
{
	g_autofree char *other = NULL;
	g_autoptr(GError) error = NULL;
	struct stat st;
	int fd;

	if (!need_root())
		return;
	other = g_build_filename(f->base, "other.sock", NULL);
	fd = listen_at(other);
	g_assert_cmpint(chmod(other, 0600), ==, 0);
	g_assert_cmpint(link(other, f->sock), ==, 0);
	g_assert_false(hook_socket_set_owner(f->sock, OWNER, &error));
	g_assert_nonnull(error);
	g_test_message("%s", error->message);
	g_assert_nonnull(strstr(error->message, "has 2 names (a hard link)"));
	g_assert_cmpint(lstat(other, &st), ==, 0);
	g_assert_cmpuint(st.st_uid, ==, 0);
	g_assert_cmpuint(st.st_mode & 07777, ==, 0600);
	close(fd);
	g_assert_cmpint(g_unlink(f->sock), ==, 0);
	g_assert_cmpint(g_unlink(other), ==, 0);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add("/hook-socket/race-socket-link", Fixture, NULL, fixture_setup, test_socket_link,
		   fixture_teardown);
	g_test_add("/hook-socket/race-dir-link", Fixture, NULL, fixture_setup, test_dir_link,
		   fixture_teardown);
	g_test_add("/hook-socket/hard-link", Fixture, NULL, fixture_setup, test_hard_link,
		   fixture_teardown);
	return g_test_run();
}

/* The libvirt watch against libvirt's in-process test driver
 * (test:///default, shared by every connection of this process): events of
 * its domain reach the main loop as signals, other domains' do not; a
 * libvirtd that is not there costs nothing and leaves nothing; the
 * thread stops at free. And `ifcvf-helper run` refuses a bad
 * --libvirt-uri. One test runs a private libvirtd (no drivers but the
 * built-in test driver, its own socket) and restarts it: after each
 * reconnect the watch reads the domain again. The real helper on the
 * emulator maps libvirt.so.0 only with --libvirt-uri, and then only once a
 * frontend (tests/lib) turns dirty logging on, unless told to connect at
 * start; it does not start with a libvirt.so.0 it cannot use at start
 * (tests/helper/fake-libvirt), and keeps serving with one it finds
 * unusable when a migration begins. The events
 * of the real migration are in tests/libvirt/libvirt-migrate-test.sh. */
#include <gio/gio.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "libvirt-watch.h"
#include "test-guest.h"
#include "test-util.h"
#include "virtq-drv.h"
#include "vu-frontend.h"

#define OURS "7a3c3d6e-2f57-4a38-9e3e-0d8c1b1f0a11"
#define OTHER "8b4d4e7f-3068-4b49-8f4f-1e9d2c2f1b22"

typedef struct {
	GPtrArray *seen;     /* "signal-name what" */
} Seen;

static void on_signal(enum migration_signal signal, const char *what, gpointer user_data)
{
	Seen *s = user_data;

	g_ptr_array_add(s->seen, g_strdup_printf("%s %s", migration_signal_to_string(signal), what));
}

static gboolean wake_cb(gpointer data)
{
	return G_SOURCE_CONTINUE;
}

/* iterate the main loop until @n signals came (30 s at most) */
static void wait_signals(Seen *s, guint n)
{
	gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
	guint tick = g_timeout_add(50, wake_cb, NULL);

	while (s->seen->len < n && g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, TRUE);
	g_source_remove(tick);
	if (s->seen->len < n)
		g_error("waited 30 s for %u libvirt signals, got %u", n, s->seen->len);
}

/* iterate for @ms: nothing more may come */
static void settle(guint ms)
{
	gint64 end = g_get_monotonic_time() + ms * 1000;
	guint tick = g_timeout_add(20, wake_cb, NULL);

	while (g_get_monotonic_time() < end)
		g_main_context_iteration(NULL, TRUE);
	g_source_remove(tick);
}

static virDomainPtr create(virConnectPtr conn, const char *name, const char *uuid)
{
	g_autofree char *xml = g_strdup_printf(
		"<domain type='test'><name>%s</name><uuid>%s</uuid>"
		"<memory>65536</memory><os><type>hvm</type></os></domain>", name, uuid);
	virDomainPtr dom = virDomainCreateXML(conn, xml, 0);

	g_assert_nonnull(dom);
	return dom;
}

static void test_events(void)
{
	g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);
	Seen s = { seen };
	g_autoptr(GError) error = NULL;
	IfcvfLibvirtWatch *w;
	virConnectPtr conn;
	virDomainPtr ours, other;

	w = ifcvf_libvirt_watch_new("test:///default", OURS, on_signal, &s, &error);
	g_assert_no_error(error);
	g_assert_nonnull(w);
	conn = virConnectOpen("test:///default");
	g_assert_nonnull(conn);
	ours = create(conn, "ours", OURS);
	/* the watch connects on its own thread: pause and resume until it
	 * hears it */
	for (guint i = 0; i < 300 && seen->len == 0; i++) {
		g_assert_cmpint(virDomainSuspend(ours), ==, 0);
		g_assert_cmpint(virDomainResume(ours), ==, 0);
		settle(100);
	}
	g_assert_cmpuint(seen->len, >, 0);
	settle(300);
	g_ptr_array_set_size(seen, 0);

	other = create(conn, "other", OTHER);
	g_assert_cmpint(virDomainSuspend(other), ==, 0);
	g_assert_cmpint(virDomainResume(other), ==, 0);
	g_assert_cmpint(virDomainDestroy(other), ==, 0);
	/* started/booted and suspended/paused say nothing of a migration */
	g_assert_cmpint(virDomainSuspend(ours), ==, 0);
	g_assert_cmpint(virDomainResume(ours), ==, 0);
	g_assert_cmpint(virDomainDestroy(ours), ==, 0);
	wait_signals(&s, 2);
	settle(300);
	g_assert_cmpuint(seen->len, ==, 2);
	g_assert_cmpstr(g_ptr_array_index(seen, 0), ==,
			"libvirt-resumed lifecycle resumed/unpaused");
	g_assert_cmpstr(g_ptr_array_index(seen, 1), ==,
			"libvirt-stopped lifecycle stopped/destroyed");

	/* nothing after free */
	ifcvf_libvirt_watch_free(w);
	virDomainFree(ours);
	ours = create(conn, "ours", OURS);
	g_assert_cmpint(virDomainSuspend(ours), ==, 0);
	g_assert_cmpint(virDomainResume(ours), ==, 0);
	g_assert_cmpint(virDomainDestroy(ours), ==, 0);
	settle(300);
	g_assert_cmpuint(seen->len, ==, 2);
	virDomainFree(ours);
	virDomainFree(other);
	virConnectClose(conn);
}

/* no libvirtd at that socket: the watch runs, retries, and stops at once */
static void test_unreachable(void)
{
	g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *dir = g_dir_make_tmp("ifcvf-lvw-XXXXXX", NULL);
	g_autofree char *uri = g_strdup_printf("qemu+unix:///system?socket=%s/libvirt-sock-ro", dir);
	Seen s = { seen };
	guint fds = 0;

	for (guint i = 0; i < 5; i++) {
		g_autoptr(GError) error = NULL;
		IfcvfLibvirtWatch *w = ifcvf_libvirt_watch_new(uri, OURS, on_signal, &s, &error);
		gint64 t0;

		g_assert_no_error(error);
		settle(i == 0 ? IFCVF_LIBVIRT_RETRY_MS + 500 : 100);
		t0 = g_get_monotonic_time();
		ifcvf_libvirt_watch_free(w);
		/* a wakeup, not the 2 s retry timer */
		g_assert_cmpint(g_get_monotonic_time() - t0, <, IFCVF_LIBVIRT_RETRY_MS * 1000 / 2);
		if (i == 0)
			fds = test_count_fds();
	}
	g_assert_cmpuint(test_count_fds(), ==, fds);
	g_assert_cmpuint(seen->len, ==, 0);
	g_rmdir(dir);
}

static void test_usage(void)
{
	const char *helper = test_program("IFCVF_HELPER");
	const char *port = "device=vfio-user:/nonexistent.sock,socket=/tmp/x.sock";

	test_assert_usage_error((const char *const[]){ helper, "run", "--bus", "none",
		"--libvirt-uri", "qemu:///system", "--port", port, NULL }, "--libvirt-uri needs --uuid");
	test_assert_usage_error((const char *const[]){ helper, "run", "--uuid", OURS,
		"--libvirt-uri", "not a uri", "--port", port, NULL }, "--libvirt-uri 'not a uri' is not a URI");
	test_assert_usage_error((const char *const[]){ helper, "run", "--uuid", OURS,
		"--libvirt-uri", "", "--port", port, NULL }, "--libvirt-uri is empty");
}

/* ---- libvirtd down and back ---- */

/* the domain the test driver defines at every start */
#define TEST_DOMAIN_UUID "6695eb01-f6a4-8304-79aa-97f2502e193f"

static const char libvirtd_conf_fmt[] =
	"unix_sock_dir = \"%s\"\n"
	"unix_sock_ro_perms = \"0777\"\n"
	"auth_unix_ro = \"none\"\n"
	"auth_unix_rw = \"none\"\n"
	"listen_tls = 0\n"
	"listen_tcp = 0\n"
	"log_outputs = \"3:file:%s/libvirtd.log\"\n";

static void ignore_error(void *data, virErrorPtr err)
{
}

/* a failed test leaves no libvirtd behind */
static void die_with_parent(gpointer user_data)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM);
}

/* a libvirtd of the test's own, answering on @dir/libvirt-sock-ro */
static GSubprocess *libvirtd_start(const char *dir)
{
	g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
	g_autofree char *conf = g_build_filename(dir, "libvirtd.conf", NULL);
	g_autofree char *pid = g_build_filename(dir, "libvirtd.pid", NULL);
	g_autofree char *empty = g_build_filename(dir, "no-drivers", NULL);
	g_autofree char *uri = g_strdup_printf("test+unix:///default?socket=%s/libvirt-sock-ro", dir);
	g_autofree char *out = g_build_filename(dir, "libvirtd.out", NULL);
	g_autoptr(GError) error = NULL;
	GSubprocess *p;

	(void)g_mkdir(empty, 0700);
	g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
	/* not the test's stdout: the TAP reader waits for it to close */
	g_subprocess_launcher_set_stdout_file_path(launcher, out);
	g_subprocess_launcher_set_flags(launcher, G_SUBPROCESS_FLAGS_STDERR_MERGE);
	/* no QEMU driver to probe: the test driver is built in */
	g_subprocess_launcher_setenv(launcher, "LIBVIRT_DRIVER_DIR", empty, TRUE);
	p = g_subprocess_launcher_spawn(launcher, &error, "libvirtd", "--config", conf,
					"--pid-file", pid, NULL);
	g_assert_no_error(error);
	virSetErrorFunc(NULL, ignore_error);
	for (guint i = 0; i < 300; i++) {
		virConnectPtr c = virConnectOpenReadOnly(uri);

		if (c) {
			virConnectClose(c);
			return p;
		}
		settle(100);
	}
	g_error("libvirtd did not answer on %s within 30 s", uri);
}

static void libvirtd_stop(GSubprocess *p)
{
	g_autoptr(GError) error = NULL;

	g_subprocess_send_signal(p, SIGTERM);
	g_assert_true(g_subprocess_wait(p, NULL, &error));
	g_assert_no_error(error);
	g_object_unref(p);
}

static void rm_dir(const char *dir)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *n;

	while (d && (n = g_dir_read_name(d))) {
		g_autofree char *path = g_build_filename(dir, n, NULL);

		if (g_remove(path) < 0)
			rm_dir(path);
	}
	(void)g_rmdir(dir);
}

/* Two watches on a private libvirtd: one follows the test driver's running
 * domain, one a domain that does not exist. libvirtd is stopped and started
 * twice; the events of those moments are lost, and after each reconnect
 * each watch reports what the domain is now: running (no migration job),
 * gone. */
static void test_libvirtd_restart(void)
{
	g_autoptr(GPtrArray) seen_running = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) seen_gone = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *dir = NULL;
	g_autofree char *conf = NULL;
	g_autofree char *conf_path = NULL;
	g_autofree char *uri = NULL;
	g_autoptr(GError) error = NULL;
	Seen running = { seen_running }, gone = { seen_gone };
	IfcvfLibvirtWatch *w_running, *w_gone;
	g_autofree char *libvirtd = g_find_program_in_path("libvirtd");
	GSubprocess *daemon;

	if (getuid() != 0 || !libvirtd) {
		g_test_skip("needs root and libvirtd");
		return;
	}
	dir = g_dir_make_tmp("ifcvf-lvd-XXXXXX", &error);
	g_assert_no_error(error);
	conf = g_strdup_printf(libvirtd_conf_fmt, dir, dir);
	conf_path = g_build_filename(dir, "libvirtd.conf", NULL);
	g_assert_true(g_file_set_contents(conf_path, conf, -1, NULL));
	uri = g_strdup_printf("test+unix:///default?socket=%s/libvirt-sock-ro", dir);

	daemon = libvirtd_start(dir);
	w_running = ifcvf_libvirt_watch_new(uri, TEST_DOMAIN_UUID, on_signal, &running, &error);
	g_assert_no_error(error);
	w_gone = ifcvf_libvirt_watch_new(uri, OURS, on_signal, &gone, &error);
	g_assert_no_error(error);
	/* the first connect reads nothing (a hook may hold the domain then) */
	settle(500);
	g_assert_cmpuint(seen_running->len, ==, 0);
	g_assert_cmpuint(seen_gone->len, ==, 0);

	for (guint round = 1; round <= 2; round++) {
		g_test_message("round %u: libvirtd stops and starts again", round);
		libvirtd_stop(daemon);
		daemon = libvirtd_start(dir);
		/* the watches retry every IFCVF_LIBVIRT_RETRY_MS */
		wait_signals(&running, round);
		wait_signals(&gone, round);
		g_assert_cmpstr(g_ptr_array_index(seen_running, round - 1), ==,
				"libvirt-now-running domain running after the reconnect");
		g_assert_cmpstr(g_ptr_array_index(seen_gone, round - 1), ==,
				"libvirt-now-gone domain gone after the reconnect");
	}

	ifcvf_libvirt_watch_free(w_running);
	ifcvf_libvirt_watch_free(w_gone);
	libvirtd_stop(daemon);
	settle(300);
	g_assert_cmpuint(seen_running->len, ==, 2);
	g_assert_cmpuint(seen_gone->len, ==, 2);
	rm_dir(dir);
}

/* ---- libvirt.so.0 in the helper: mapped with --libvirt-uri only ---- */

static void wait_done(GObject *p, GAsyncResult *res, gpointer data)
{
	(void)g_subprocess_wait_finish(G_SUBPROCESS(p), res, NULL);
	*(gboolean *)data = TRUE;
}

/* SIGTERM and reap, 30 s at most; the helper exits 0 */
static void helper_stop(GSubprocess *p)
{
	gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
	guint tick = g_timeout_add(50, wake_cb, NULL);
	gboolean done = FALSE;

	g_subprocess_send_signal(p, SIGTERM);
	g_subprocess_wait_async(p, NULL, wait_done, &done);
	while (!done && g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, TRUE);
	g_source_remove(tick);
	if (!done) {
		g_subprocess_force_exit(p);
		g_error("the helper did not stop within 30 s of SIGTERM");
	}
	g_assert_true(g_subprocess_get_if_exited(p));
	g_assert_cmpint(g_subprocess_get_exit_status(p), ==, 0);
}

/* `ifcvf-helper run` with one port on @emu and @extra arguments, its
 * output in @log; returns once its port waits for a frontend (30 s at
 * most) */
static GSubprocess *helper_start(TestEmu *emu, const char *dir, const char *log,
				 const char *const *extra)
{
	g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error = NULL;
	gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
	GSubprocess *p;

	g_ptr_array_add(argv, g_strdup(test_program("IFCVF_HELPER")));
	g_ptr_array_add(argv, g_strdup("run"));
	g_ptr_array_add(argv, g_strdup("--bus"));
	g_ptr_array_add(argv, g_strdup("none"));
	g_ptr_array_add(argv, g_strdup("--port"));
	g_ptr_array_add(argv, g_strdup_printf("device=%s,socket=%s/vhost.sock", emu->address, dir));
	for (guint i = 0; extra[i]; i++)
		g_ptr_array_add(argv, g_strdup(extra[i]));
	g_ptr_array_add(argv, NULL);
	g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
	g_subprocess_launcher_set_stdout_file_path(launcher, log);
	g_subprocess_launcher_set_flags(launcher, G_SUBPROCESS_FLAGS_STDERR_MERGE);
	p = g_subprocess_launcher_spawnv(launcher, (const char *const *)argv->pdata, &error);
	g_assert_no_error(error);
	for (;;) {
		g_autofree char *text = NULL;

		if (g_file_get_contents(log, &text, NULL, NULL) && strstr(text, "): waiting: "))
			return p;
		if (g_subprocess_get_identifier(p) == NULL || g_get_monotonic_time() > deadline)
			g_error("the helper's port is not waiting: %s", text ? text : "(no log)");
		settle(50);
	}
}

/* whether process @p maps libvirt.so.0 (the worktree's own path may say
 * "libvirt": the library's file name is looked for) */
static gboolean maps_libvirt(GSubprocess *p)
{
	g_autofree char *path = g_strdup_printf("/proc/%s/maps", g_subprocess_get_identifier(p));
	g_autofree char *maps = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_true(g_file_get_contents(path, &maps, NULL, &error));
	g_assert_no_error(error);
	return strstr(maps, "/libvirt.so.") != NULL;
}

/* wait until @log holds @needle (30 s at most) */
static void wait_log(GSubprocess *p, const char *log, const char *needle)
{
	gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

	for (;;) {
		g_autofree char *text = NULL;

		if (g_file_get_contents(log, &text, NULL, NULL) && strstr(text, needle))
			return;
		if (g_subprocess_get_identifier(p) == NULL || g_get_monotonic_time() > deadline)
			g_error("the helper did not log '%s': %s", needle, text ? text : "(no log)");
		settle(50);
	}
}

/* ---- a frontend that migrates out: QEMU's vhost-user steps, no guest ---- */

#define F_LOG_ALL 26
#define F_PROTOCOL 30
#define F_VERSION_1 32

/* connect, negotiate, map memory, set up and enable both vrings */
static TestGuest *guest_start(const char *socket)
{
	return test_guest_start(socket, 1ull << F_VERSION_1 | 1ull << F_PROTOCOL);
}

/* what QEMU does when a migration begins: the log, then VHOST_F_LOG_ALL */
static void guest_log_all(TestGuest *g)
{
	struct cerr ce = { 0 };

	test_guest_check(vu_frontend_set_log_base(&g->fe, &ce), &ce, "SET_LOG_BASE");
	test_guest_check(vu_frontend_set_features(&g->fe, g->features | 1ull << F_LOG_ALL, &ce), &ce,
		 "SET_FEATURES (LOG_ALL)");
}

/* A helper without --libvirt-uri (plain QEMU) does not map libvirt and
 * what it pulls in (~7 MB); with it, libvirt is loaded and the watch
 * follows the domain at start only with --libvirt-connect at-start (what
 * the hook asks for on the destination of a migration). */
static void test_helper_maps(void)
{
	g_autoptr(TestEmu) emu = test_emu_start((const char *const[]){ NULL });
	g_autofree char *dir = g_dir_make_tmp("ifcvf-lvm-XXXXXX", NULL);
	g_autofree char *log = g_build_filename(dir, "helper.log", NULL);
	g_autofree char *log_lv = g_build_filename(dir, "helper-libvirt.log", NULL);
	g_autofree char *text = NULL;
	GSubprocess *p;

	p = helper_start(emu, dir, log, (const char *const[]){ NULL });
	if (maps_libvirt(p))
		g_error("a helper without --libvirt-uri maps libvirt.so.0");
	helper_stop(p);
	g_object_unref(p);

	p = helper_start(emu, dir, log_lv, (const char *const[]){ "--uuid", OURS,
		"--libvirt-uri", "test:///default", "--libvirt-connect", "at-start", NULL });
	g_assert_true(maps_libvirt(p));
	g_assert_true(g_file_get_contents(log_lv, &text, NULL, NULL));
	g_assert_nonnull(strstr(text, "libvirt test:///default: connected, following domain " OURS));
	helper_stop(p);
	g_object_unref(p);
	test_rm_flat_dir(dir);
}

/* The helper as the hook starts it on a source (--libvirt-uri, connect at
 * migration, the default): idle, with no frontend or with one running, it
 * maps no libvirt; once the frontend turns dirty logging on (a migration
 * begins), libvirt is loaded and the watch follows the domain. */
static void test_helper_lazy(void)
{
	g_autoptr(TestEmu) emu = test_emu_start((const char *const[]){ "--type", "net", NULL });
	g_autofree char *dir = g_dir_make_tmp("ifcvf-lvl-XXXXXX", NULL);
	g_autofree char *log = g_build_filename(dir, "helper.log", NULL);
	g_autofree char *socket = g_build_filename(dir, "vhost.sock", NULL);
	g_autoptr(TestGuest) g = NULL;
	GSubprocess *p;

	p = helper_start(emu, dir, log, (const char *const[]){ "--uuid", OURS,
		"--libvirt-uri", "test:///default", NULL });
	if (maps_libvirt(p))
		g_error("an idle helper with --libvirt-uri maps libvirt.so.0");
	wait_log(p, log, "libvirt test:///default: connecting once a migration begins here");
	g = guest_start(socket);
	wait_log(p, log, "): running");
	if (maps_libvirt(p))
		g_error("a helper with --libvirt-uri and a running frontend maps libvirt.so.0 "
			"before any migration");
	guest_log_all(g);
	wait_log(p, log, "port 0 logs (a migration begins): connecting to libvirt test:///default");
	wait_log(p, log, "libvirt test:///default: connected, following domain " OURS);
	g_assert_true(maps_libvirt(p));
	g_clear_pointer(&g, test_guest_free);
	helper_stop(p);
	g_object_unref(p);
	test_rm_flat_dir(dir);
}

/* The same library found wanting when a migration begins (at-migration):
 * the helper says which library and why, and keeps serving; the phase
 * comes from vhost-user alone. */
static void test_bad_library_lazy(void)
{
	g_autoptr(TestEmu) emu = test_emu_start((const char *const[]){ "--type", "net", NULL });
	g_autofree char *dir = g_dir_make_tmp("ifcvf-lvz-XXXXXX", NULL);
	g_autofree char *log = g_build_filename(dir, "helper.log", NULL);
	g_autofree char *socket = g_build_filename(dir, "vhost.sock", NULL);
	g_autofree char *was = g_strdup(g_getenv("LD_LIBRARY_PATH"));
	g_autofree char *path = g_strconcat(test_program("FAKE_LIBVIRT_DIR"), was ? ":" : "", was,
					    NULL);
	g_autoptr(TestGuest) g = NULL;
	GSubprocess *p;

	/* the helper's environment only: this process has libvirt loaded */
	g_setenv("LD_LIBRARY_PATH", path, TRUE);
	p = helper_start(emu, dir, log, (const char *const[]){ "--uuid", OURS,
		"--libvirt-uri", "test:///default", NULL });
	if (was)
		g_setenv("LD_LIBRARY_PATH", was, TRUE);
	else
		g_unsetenv("LD_LIBRARY_PATH");
	g = guest_start(socket);
	wait_log(p, log, "): running");
	guest_log_all(g);
	wait_log(p, log, "libvirt test:///default: cannot use libvirt.so.0: it has no "
		 "virEventRunDefaultImpl (");
	wait_log(p, log, "; migration phases from vhost-user alone");
	g_assert_nonnull(g_subprocess_get_identifier(p));
	g_clear_pointer(&g, test_guest_free);
	helper_stop(p);
	g_object_unref(p);
	test_rm_flat_dir(dir);
}

/* A libvirt.so.0 that cannot be loaded, or lacks a function the watch
 * calls: a helper told to connect at start does not start, and says which
 * library and why. */
static void test_bad_library(void)
{
	g_autoptr(TestEmu) emu = test_emu_start((const char *const[]){ NULL });
	g_autofree char *dir = g_dir_make_tmp("ifcvf-lvb-XXXXXX", NULL);
	g_autofree char *not_elf = g_build_filename(dir, "libvirt.so.0", NULL);
	g_autofree char *port = g_strdup_printf("device=%s,socket=%s/vhost.sock", emu->address, dir);
	g_autofree char *not_elf_cause = g_strdup_printf(
		"ifcvf-helper run: exiting: --libvirt-uri test:///default: cannot load "
		"libvirt.so.0: %s: ", not_elf);
	const char *fake_dir = test_program("FAKE_LIBVIRT_DIR");
	const struct {
		const char *dir;
		const char *cause;
	} cases[] = {
		{ fake_dir, "ifcvf-helper run: exiting: --libvirt-uri test:///default: cannot use "
			    "libvirt.so.0: it has no virEventRunDefaultImpl (" },
		{ dir, not_elf_cause },
	};

	g_assert_true(g_file_set_contents(not_elf, "not a library\n", -1, NULL));
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *out = NULL, *err = NULL;
		const char *was = g_getenv("LD_LIBRARY_PATH");
		g_autofree char *path = g_strconcat("LD_LIBRARY_PATH=", cases[i].dir,
						    was ? ":" : "", was, NULL);
		int status;

		/* the helper's environment only */
		status = test_run((const char *const[]){ "env", path,
			test_program("IFCVF_HELPER"), "run", "--bus", "none", "--uuid", OURS,
			"--libvirt-uri", "test:///default", "--libvirt-connect", "at-start",
			"--port", port, NULL }, &out, &err);
		g_test_message("status %d, stderr: %s", status, err);
		g_assert_cmpint(status, ==, 1);
		if (!strstr(err, cases[i].cause))
			g_error("stderr does not say '%s': %s", cases[i].cause, err);
	}
	test_rm_flat_dir(dir);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ifcvf-helper/libvirt-watch/events", test_events);
	g_test_add_func("/ifcvf-helper/libvirt-watch/unreachable", test_unreachable);
	g_test_add_func("/ifcvf-helper/libvirt-watch/usage", test_usage);
	g_test_add_func("/ifcvf-helper/libvirt-watch/libvirtd-restart", test_libvirtd_restart);
	g_test_add_func("/ifcvf-helper/libvirt-watch/helper-maps", test_helper_maps);
	g_test_add_func("/ifcvf-helper/libvirt-watch/helper-lazy", test_helper_lazy);
	g_test_add_func("/ifcvf-helper/libvirt-watch/bad-library", test_bad_library);
	g_test_add_func("/ifcvf-helper/libvirt-watch/bad-library-lazy", test_bad_library_lazy);
	return g_test_run();
}

/* The libvirt watch against libvirt's in-process test driver
 * (test:///default, shared by every connection of this process): events of
 * its domain reach the main loop as signals, other domains' do not; a
 * libvirtd that is not there costs nothing and leaves nothing; the
 * thread stops at free. And `ifcvf-helper run` refuses a bad
 * --libvirt-uri. No daemon: the events of the real migration are in
 * tests/libvirt/libvirt-migrate-test.sh. */
#include <glib.h>
#include <glib/gstdio.h>
#include <libvirt/libvirt.h>

#include "libvirt-watch.h"
#include "test-util.h"

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

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ifcvf-helper/libvirt-watch/events", test_events);
	g_test_add_func("/ifcvf-helper/libvirt-watch/unreachable", test_unreachable);
	g_test_add_func("/ifcvf-helper/libvirt-watch/usage", test_usage);
	return g_test_run();
}

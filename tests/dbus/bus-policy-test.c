/* The project's system bus policy (data/org.ifcvf.Helper1.conf) in a real
 * dbus-daemon set up like Debian's system bus: anyone may read a helper's
 * state, only root may change it or own a helper's name. Needs root (to
 * run callers as nobody); skipped otherwise. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbus-test-util.h"

#define PORT0 "/org/ifcvf/Helper1/port/0"

/* Debian's system.conf defaults (default deny for method calls and names),
 * then the project's file, as /usr/share/dbus-1/system.d would include it */
static const char config_fmt[] =
	"<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN\"\n"
	" \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
	"<busconfig>\n"
	"  <type>system</type>\n"
	"  <listen>unix:path=%s/system_bus_socket</listen>\n"
	"  <auth>EXTERNAL</auth>\n"
	"  <policy context=\"default\">\n"
	"    <allow user=\"*\"/>\n"
	"    <deny own=\"*\"/>\n"
	"    <deny send_type=\"method_call\"/>\n"
	"    <allow send_type=\"signal\"/>\n"
	"    <allow send_requested_reply=\"true\" send_type=\"method_return\"/>\n"
	"    <allow send_requested_reply=\"true\" send_type=\"error\"/>\n"
	"    <allow receive_type=\"method_call\"/>\n"
	"    <allow receive_type=\"method_return\"/>\n"
	"    <allow receive_type=\"error\"/>\n"
	"    <allow receive_type=\"signal\"/>\n"
	"    <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus\"/>\n"
	"    <allow send_destination=\"org.freedesktop.DBus\"\n"
	"           send_interface=\"org.freedesktop.DBus.Introspectable\"/>\n"
	"  </policy>\n"
	"  <include>%s</include>\n"
	"</busconfig>\n";

typedef struct {
	char *dir;
	TestDaemon *daemon;
	TestHost *host;
} Fixture;

static gboolean can_drop_privileges(void)
{
	g_autofree char *setpriv = g_find_program_in_path("setpriv");

	return geteuid() == 0 && setpriv && getpwnam("nobody");
}

static void setup(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *policy = NULL;
	g_autofree char *config = NULL;
	g_autofree char *config_path = NULL;

	if (!can_drop_privileges())
		return;
	policy = g_test_build_filename(G_TEST_DIST, "..", "data", "org.ifcvf.Helper1.conf", NULL);
	g_assert_true(g_file_test(policy, G_FILE_TEST_EXISTS));
	fx->dir = g_dir_make_tmp("ifcvf-policy-XXXXXX", &error);
	g_assert_no_error(error);
	/* nobody must reach the socket inside */
	g_assert_cmpint(g_chmod(fx->dir, 0755), ==, 0);
	config = g_strdup_printf(config_fmt, fx->dir, policy);
	config_path = g_build_filename(fx->dir, "system.conf", NULL);
	g_file_set_contents(config_path, config, -1, &error);
	g_assert_no_error(error);
	fx->daemon = test_daemon_start(config_path);
	fx->host = test_host_start(fx->daemon->address, NULL);
}

static void teardown(Fixture *fx, gconstpointer data)
{
	g_autofree char *config_path = NULL;

	if (!fx->dir)
		return;
	if (fx->host) {
		g_assert_cmpint(test_host_finish(fx->host), ==, 0);
		test_host_free(fx->host);
	}
	test_daemon_stop(fx->daemon);
	config_path = g_build_filename(fx->dir, "system.conf", NULL);
	g_unlink(config_path);
	g_rmdir(fx->dir);
	g_free(fx->dir);
}

static gboolean skip_unless_root(void)
{
	if (can_drop_privileges())
		return FALSE;
	/* a policy test that did not run must not pass */
	g_test_fail_printf("needs root, setpriv and a 'nobody' user to run callers unprivileged");
	return TRUE;
}

/* Run argv (NULL-terminated after @first) as nobody when @as_nobody; returns
 * the status, stdout+stderr in @ret_out. */
static int run_as(gboolean as_nobody, char **ret_out, const char *first, ...)
	G_GNUC_NULL_TERMINATED;
static int run_as(gboolean as_nobody, char **ret_out, const char *first, ...)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autofree char *out = NULL;
	g_autofree char *err = NULL;
	va_list ap;
	int status;

	if (as_nobody) {
		g_ptr_array_add(argv, (gpointer) "setpriv");
		g_ptr_array_add(argv, (gpointer) "--reuid=nobody");
		g_ptr_array_add(argv, (gpointer) "--regid=nogroup");
		g_ptr_array_add(argv, (gpointer) "--clear-groups");
	}
	va_start(ap, first);
	for (const char *a = first; a; a = va_arg(ap, const char *))
		g_ptr_array_add(argv, (gpointer)a);
	va_end(ap);
	g_ptr_array_add(argv, NULL);
	status = test_run((const char *const *)argv->pdata, &out, &err);
	g_test_message("%s%s ...: status %d\n%s%s", as_nobody ? "(nobody) " : "", first, status,
		       out, err);
	*ret_out = g_strconcat(out, err, NULL);
	return status;
}

/* gdbus call ... as nobody or root; returns status */
static int gdbus_call(Fixture *fx, gboolean as_nobody, char **ret_out, const char *path,
		      const char *method, const char *arg)
{
	return run_as(as_nobody, ret_out, "gdbus", "call", "--address", fx->daemon->address,
		      "--dest", TEST_BUS_NAME, "--object-path", path, "--method", method, arg,
		      NULL);
}

static void test_nobody_reads(Fixture *fx, gconstpointer data)
{
	static const struct {
		const char *path, *method, *arg;
	} reads[] = {
		{ "/org/ifcvf/Helper1", "org.freedesktop.DBus.Properties.Get",
		  "org.ifcvf.Helper1.Domain" },
		{ PORT0, "org.freedesktop.DBus.Properties.GetAll", "org.ifcvf.Helper1.Port" },
		{ "/org/ifcvf/Helper1", "org.freedesktop.DBus.ObjectManager.GetManagedObjects", NULL },
		{ "/org/ifcvf/Helper1", "org.freedesktop.DBus.Introspectable.Introspect", NULL },
		{ PORT0, "org.freedesktop.DBus.Peer.Ping", NULL },
		{ PORT0, "org.ifcvf.Helper1.Port.GetStats", NULL },
	};

	if (skip_unless_root())
		return;
	for (guint i = 0; i < G_N_ELEMENTS(reads); i++) {
		g_autofree char *out = NULL;
		int status;

		/* Get takes a second argument */
		if (i == 0)
			status = run_as(TRUE, &out, "gdbus", "call", "--address", fx->daemon->address,
					"--dest", TEST_BUS_NAME, "--object-path", reads[i].path,
					"--method", reads[i].method, reads[i].arg, "Name", NULL);
		else
			status = gdbus_call(fx, TRUE, &out, reads[i].path, reads[i].method,
					    reads[i].arg);
		if (status != 0)
			g_error("nobody could not call %s: %s", reads[i].method, out);
		if (i == 0)
			g_assert_cmpstr(out, ==, "(<'test-vm'>,)\n");
	}
}

static void test_nobody_cannot_change(Fixture *fx, gconstpointer data)
{
	g_autofree char *out = NULL;

	if (skip_unless_root())
		return;
	g_assert_cmpint(gdbus_call(fx, TRUE, &out, PORT0,
				   "org.ifcvf.Helper1.Port.SetLiveMigrationMode", "sw"), !=, 0);
	g_assert_nonnull(strstr(out, "org.freedesktop.DBus.Error.AccessDenied"));
	g_clear_pointer(&out, g_free);
	g_assert_cmpint(gdbus_call(fx, TRUE, &out, "/org/ifcvf/Helper1",
				   "org.ifcvf.Helper1.Domain.Shutdown", NULL), !=, 0);
	g_assert_nonnull(strstr(out, "org.freedesktop.DBus.Error.AccessDenied"));
	g_clear_pointer(&out, g_free);
	g_assert_cmpint(run_as(TRUE, &out, "gdbus", "call", "--address", fx->daemon->address,
			       "--dest", TEST_BUS_NAME, "--object-path", PORT0, "--method",
			       "org.freedesktop.DBus.Properties.Set", "org.ifcvf.Helper1.Port",
			       "State", "<'running'>", NULL), !=, 0);
	g_assert_nonnull(strstr(out, "org.freedesktop.DBus.Error.AccessDenied"));
	g_clear_pointer(&out, g_free);

	/* none of it reached the helper */
	g_assert_cmpint(gdbus_call(fx, TRUE, &out, PORT0, "org.freedesktop.DBus.Properties.Get",
				   "org.ifcvf.Helper1.Port"), !=, 0);
	g_clear_pointer(&out, g_free);
	g_assert_cmpint(run_as(TRUE, &out, "gdbus", "call", "--address", fx->daemon->address,
			       "--dest", TEST_BUS_NAME, "--object-path", PORT0, "--method",
			       "org.freedesktop.DBus.Properties.Get", "org.ifcvf.Helper1.Port",
			       "LiveMigrationMode", NULL), ==, 0);
	g_assert_cmpstr(out, ==, "(<'hw'>,)\n");
	test_host_command(fx->host, "update 0");
}

static void test_root_may_change(Fixture *fx, gconstpointer data)
{
	g_autofree char *out = NULL;
	g_autofree char *line = NULL;

	if (skip_unless_root())
		return;
	g_assert_cmpint(gdbus_call(fx, FALSE, &out, PORT0,
				   "org.ifcvf.Helper1.Port.SetLiveMigrationMode", "sw"), ==, 0);
	line = test_host_expect(fx->host, "set-lm-mode");
	g_assert_cmpstr(line, ==, "set-lm-mode 0 sw");
	g_clear_pointer(&out, g_free);
	g_assert_cmpint(gdbus_call(fx, FALSE, &out, "/org/ifcvf/Helper1",
				   "org.ifcvf.Helper1.Domain.Shutdown", NULL), ==, 0);
	g_free(test_host_expect(fx->host, "shutdown"));
}

static void test_nobody_cannot_own(Fixture *fx, gconstpointer data)
{
	g_autofree char *out = NULL;

	if (skip_unless_root())
		return;
	/* another VM's name, so only the policy can refuse it */
	g_assert_cmpint(run_as(TRUE, &out, test_bus_host_path(), "--bus", fx->daemon->address,
			       "--uuid", "11111111-2222-3333-4444-555555555555", NULL), ==, 3);
	g_assert_nonnull(strstr(out, "lost: could not own org.ifcvf.Helper1.Vm_1111"));
}

static void test_ifcvfctl_as_nobody(Fixture *fx, gconstpointer data)
{
	g_autofree char *bus_arg = NULL;
	g_autofree char *out = NULL;

	if (skip_unless_root())
		return;
	bus_arg = g_strconcat("--bus=", fx->daemon->address, NULL);
	g_assert_cmpint(run_as(TRUE, &out, test_ifcvfctl_path(), bus_arg, "list", NULL), ==, 0);
	g_assert_nonnull(strstr(out, "test-vm"));
	g_clear_pointer(&out, g_free);
	g_assert_cmpint(run_as(TRUE, &out, test_ifcvfctl_path(), bus_arg, "stats", "test-vm", NULL),
			==, 0);
	g_assert_nonnull(strstr(out, "kicks-relayed"));
	g_clear_pointer(&out, g_free);
	g_assert_cmpint(run_as(TRUE, &out, test_ifcvfctl_path(), bus_arg, "set-lm-mode", "test-vm",
			       "0", "sw", NULL), ==, 1);
	g_assert_nonnull(strstr(out, "org.freedesktop.DBus.Error.AccessDenied"));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) \
	g_test_add("/ifcvf-helper/dbus-policy/" name, Fixture, NULL, setup, fn, teardown)
	ADD("nobody-reads", test_nobody_reads);
	ADD("nobody-cannot-change", test_nobody_cannot_change);
	ADD("root-may-change", test_root_may_change);
	ADD("nobody-cannot-own", test_nobody_cannot_own);
	ADD("ifcvfctl-as-nobody", test_ifcvfctl_as_nobody);
#undef ADD
	return g_test_run();
}

/* Who may do what to a helper over D-Bus, under dbus-daemon and under
 * dbus-broker, each set up like Debian's system bus (default deny) with the
 * project's policy (data/org.ifcvf.Helper1.conf), and once more with a bus
 * that lets everything through, where only the helper's own check stands:
 * anyone may read a helper's state; only root, or a caller polkit allows
 * org.ifcvf.helper1.manage, may change it; only root owns a helper's name.
 * The helper runs as on a host (--bus system, the test's bus being the
 * system bus through DBUS_SYSTEM_BUS_ADDRESS), and tests/dbus/fake-polkit
 * stands in for polkitd where a test needs one. Needs root (to run callers
 * as nobody, and dbus-broker in a mount namespace); fails otherwise. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbus-test-util.h"

#define ROOT  "/org/ifcvf/Helper1"
#define PORT0 "/org/ifcvf/Helper1/port/0"
#define HELPER_DENIED "org.ifcvf.Helper1.Error.AccessDenied"
#define BUS_DENIED    "org.freedesktop.DBus.Error.AccessDenied"

typedef enum { DAEMON, BROKER } BusKind;

typedef struct {
	BusKind kind;
	gboolean open;         /* a bus that allows everything, no project policy */
	gboolean stale;        /* the system policy without the project's file (not
				* installed, or the bus not reloaded); root may
				* still own a helper's name */
} BusSetup;

/* what the bus includes instead of the project's file when stale */
static const char stale_include[] =
	"<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN\"\n"
	" \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
	"<busconfig>\n"
	"  <policy user=\"root\"><allow own_prefix=\"org.ifcvf.Helper1\"/></policy>\n"
	"</busconfig>\n";

/* Debian's system.conf defaults (default deny for method calls and names),
 * polkit's own rules (polkitd owns its name, anyone may ask it), then the
 * project's file, as /usr/share/dbus-1/system.d would include it */
static const char policy_config_fmt[] =
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
	"  <policy user=\"root\">\n"
	"    <allow own=\"org.freedesktop.PolicyKit1\"/>\n"
	"  </policy>\n"
	"  <policy context=\"default\">\n"
	"    <allow send_destination=\"org.freedesktop.PolicyKit1\"\n"
	"           send_interface=\"org.freedesktop.PolicyKit1.Authority\"/>\n"
	"  </policy>\n"
	"  <include>%s</include>\n"
	"</busconfig>\n";

/* everything allowed to everyone, like a session bus */
static const char open_config_fmt[] =
	"<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN\"\n"
	" \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
	"<busconfig>\n"
	"  <type>system</type>\n"
	"  <listen>unix:path=%s/system_bus_socket</listen>\n"
	"  <auth>EXTERNAL</auth>\n"
	"  <policy context=\"default\">\n"
	"    <allow user=\"*\"/>\n"
	"    <allow own=\"*\"/>\n"
	"    <allow send_destination=\"*\"/>\n"
	"    <allow receive_sender=\"*\"/>\n"
	"  </policy>\n"
	"</busconfig>\n";

typedef struct {
	const BusSetup *setup;
	char *dir;
	char *config_path;
	char *stale_path;      /* stale_include, when the setup is stale */
	TestDaemon *daemon;
	TestHost *host;
} Fixture;

static gboolean can_drop_privileges(void)
{
	g_autofree char *setpriv = g_find_program_in_path("setpriv");

	return geteuid() == 0 && setpriv && getpwnam("nobody");
}

static gboolean can_run(const BusSetup *bs)
{
	g_autofree char *broker = g_find_program_in_path("dbus-broker-launch");

	return can_drop_privileges() && (bs->kind == DAEMON || broker);
}

static void setup(Fixture *fx, gconstpointer data)
{
	const BusSetup *bs = data;
	static const char *const as_on_a_host[] = { "--bus", "system", NULL };
	g_autoptr(GError) error = NULL;
	g_autofree char *policy = NULL;
	g_autofree char *config = NULL;
	g_autofree char *socket_path = NULL;

	fx->setup = bs;
	if (!can_run(bs))
		return;
	policy = g_test_build_filename(G_TEST_DIST, "..", "data", "org.ifcvf.Helper1.conf", NULL);
	g_assert_true(g_file_test(policy, G_FILE_TEST_EXISTS));
	fx->dir = g_dir_make_tmp("ifcvf-policy-XXXXXX", &error);
	g_assert_no_error(error);
	/* nobody must reach the socket inside */
	g_assert_cmpint(g_chmod(fx->dir, 0755), ==, 0);
	if (bs->stale) {
		fx->stale_path = g_build_filename(fx->dir, "stale.conf", NULL);
		g_file_set_contents(fx->stale_path, stale_include, -1, &error);
		g_assert_no_error(error);
	}
	config = bs->open ? g_strdup_printf(open_config_fmt, fx->dir)
			  : g_strdup_printf(policy_config_fmt, fx->dir,
					    bs->stale ? fx->stale_path : policy);
	fx->config_path = g_build_filename(fx->dir, "system.conf", NULL);
	g_file_set_contents(fx->config_path, config, -1, &error);
	g_assert_no_error(error);
	socket_path = g_build_filename(fx->dir, "system_bus_socket", NULL);
	fx->daemon = bs->kind == DAEMON ? test_daemon_start(fx->config_path)
					: test_broker_start(fx->config_path, socket_path, NULL);
	/* the helper's "system bus", where it also finds polkit */
	g_setenv("DBUS_SYSTEM_BUS_ADDRESS", fx->daemon->address, TRUE);
	fx->host = test_host_start(fx->daemon->address, as_on_a_host);
}

static void teardown(Fixture *fx, gconstpointer data)
{
	g_autofree char *socket_path = NULL;

	if (!fx->dir)
		return;
	if (fx->host) {
		g_assert_cmpint(test_host_finish(fx->host), ==, 0);
		test_host_free(fx->host);
	}
	test_daemon_stop(fx->daemon);
	g_unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
	socket_path = g_build_filename(fx->dir, "system_bus_socket", NULL);
	g_unlink(socket_path);
	g_unlink(fx->config_path);
	if (fx->stale_path)
		g_unlink(fx->stale_path);
	g_free(fx->stale_path);
	g_rmdir(fx->dir);
	g_free(fx->config_path);
	g_free(fx->dir);
}

static gboolean skip_unless_root(Fixture *fx)
{
	if (can_run(fx->setup))
		return FALSE;
	/* a policy test that did not run must not pass */
	g_test_fail_printf("needs root, setpriv, a 'nobody' user%s",
			   fx->setup->kind == BROKER ? " and dbus-broker-launch (scripts/deps.sh)"
						     : "");
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

/* gdbus call of @method (with one argument or none) to the helper */
static int gdbus_call(Fixture *fx, gboolean as_nobody, char **ret_out, const char *path,
		      const char *method, const char *arg)
{
	return run_as(as_nobody, ret_out, "gdbus", "call", "--address", fx->daemon->address,
		      "--dest", TEST_BUS_NAME, "--object-path", path, "--method", method, arg,
		      NULL);
}

static int get_property(Fixture *fx, gboolean as_nobody, char **ret_out, const char *path,
			const char *iface, const char *prop)
{
	return run_as(as_nobody, ret_out, "gdbus", "call", "--address", fx->daemon->address,
		      "--dest", TEST_BUS_NAME, "--object-path", path, "--method",
		      "org.freedesktop.DBus.Properties.Get", iface, prop, NULL);
}

/* the call failed with the D-Bus error @name */
static void assert_refused(int status, const char *out, const char *name)
{
	if (status == 0 || !strstr(out, name))
		g_error("wanted %s, got status %d: %s", name, status, out);
}

static void test_nobody_reads(Fixture *fx, gconstpointer data)
{
	static const struct {
		const char *path, *method, *arg;
	} reads[] = {
		{ PORT0, "org.freedesktop.DBus.Properties.GetAll", "org.ifcvf.Helper1.Port" },
		{ ROOT, "org.freedesktop.DBus.Properties.GetAll", "org.ifcvf.Helper1.Domain" },
		{ ROOT, "org.freedesktop.DBus.Introspectable.Introspect", NULL },
		{ PORT0, "org.freedesktop.DBus.Introspectable.Introspect", NULL },
		{ PORT0, "org.freedesktop.DBus.Peer.Ping", NULL },
		{ PORT0, "org.ifcvf.Helper1.Port.GetStats", NULL },
		{ ROOT, "org.freedesktop.DBus.ObjectManager.GetManagedObjects", NULL },
	};
	g_autofree char *out = NULL;

	if (skip_unless_root(fx))
		return;
	g_assert_cmpint(get_property(fx, TRUE, &out, ROOT, "org.ifcvf.Helper1.Domain", "Name"), ==,
			0);
	g_assert_cmpstr(out, ==, "(<'test-vm'>,)\n");
	for (guint i = 0; i < G_N_ELEMENTS(reads); i++) {
		g_clear_pointer(&out, g_free);
		if (gdbus_call(fx, TRUE, &out, reads[i].path, reads[i].method, reads[i].arg) != 0)
			g_error("nobody could not call %s on %s: %s", reads[i].method, reads[i].path,
				out);
	}
	/* every port's properties come with the object manager, whatever the
	 * port's number (the policy names only the first ports' paths) */
	g_assert_nonnull(strstr(out, "'/org/ifcvf/Helper1/port/1'"));
	g_assert_nonnull(strstr(out, "'LiveMigrationMode'"));
}

static void assert_lm_mode(Fixture *fx, const char *want)
{
	g_autofree char *out = NULL;
	g_autofree char *line = g_strdup_printf("(<'%s'>,)\n", want);

	g_assert_cmpint(get_property(fx, TRUE, &out, PORT0, "org.ifcvf.Helper1.Port",
				     "LiveMigrationMode"), ==, 0);
	g_assert_cmpstr(out, ==, line);
}

/* nobody's changes are refused by the helper, whatever the bus allows */
static void test_nobody_cannot_change(Fixture *fx, gconstpointer data)
{
	g_autofree char *out = NULL;
	int status;

	if (skip_unless_root(fx))
		return;
	status = gdbus_call(fx, TRUE, &out, PORT0, "org.ifcvf.Helper1.Port.SetLiveMigrationMode",
			    "sw");
	assert_refused(status, out, HELPER_DENIED);
	g_assert_nonnull(strstr(out, "changing a port needs root or the polkit action "
				     "org.ifcvf.helper1.manage"));
	g_clear_pointer(&out, g_free);
	status = gdbus_call(fx, TRUE, &out, ROOT, "org.ifcvf.Helper1.Domain.Shutdown", NULL);
	assert_refused(status, out, HELPER_DENIED);
	g_clear_pointer(&out, g_free);
	/* no property is writable (see no-writable-property): refused by the
	 * policy, or by GDBus on an open bus */
	g_assert_cmpint(run_as(TRUE, &out, "gdbus", "call", "--address", fx->daemon->address,
			       "--dest", TEST_BUS_NAME, "--object-path", PORT0, "--method",
			       "org.freedesktop.DBus.Properties.Set", "org.ifcvf.Helper1.Port",
			       "LiveMigrationMode", "<'sw'>", NULL), !=, 0);
	g_clear_pointer(&out, g_free);

	/* none of it reached the helper: the mode is unchanged, and it is not
	 * shutting down (root's change still works) */
	assert_lm_mode(fx, "hw");
	g_assert_cmpint(gdbus_call(fx, FALSE, &out, PORT0,
				   "org.ifcvf.Helper1.Port.SetLiveMigrationMode", "sw"), ==, 0);
	g_free(test_host_expect(fx->host, "set-lm-mode 0 sw"));
	assert_lm_mode(fx, "sw");
}

static void test_root_may_change(Fixture *fx, gconstpointer data)
{
	g_autofree char *out = NULL;
	g_autofree char *line = NULL;

	if (skip_unless_root(fx))
		return;
	g_assert_cmpint(gdbus_call(fx, FALSE, &out, PORT0,
				   "org.ifcvf.Helper1.Port.SetLiveMigrationMode", "sw"), ==, 0);
	line = test_host_expect(fx->host, "set-lm-mode");
	g_assert_cmpstr(line, ==, "set-lm-mode 0 sw");
	g_clear_pointer(&out, g_free);
	g_assert_cmpint(gdbus_call(fx, FALSE, &out, ROOT, "org.ifcvf.Helper1.Domain.Shutdown",
				   NULL), ==, 0);
	g_free(test_host_expect(fx->host, "shutdown"));
}

static TestHost *start_polkit(Fixture *fx, const char *answer)
{
	const char *argv[] = { test_fake_polkit_path(), "--bus", fx->daemon->address, "--answer",
			       answer, NULL };
	TestHost *polkit = test_proc_spawn(argv);

	g_free(test_host_expect(polkit, "owned"));
	return polkit;
}

/* the helper asked about its action, by the caller's bus name, without
 * interaction (flags 0) */
static void expect_polkit_question(TestHost *polkit)
{
	g_autofree char *line = test_host_expect(polkit, "check ");
	g_auto(GStrv) w = g_strsplit(line, " ", -1);

	g_assert_cmpuint(g_strv_length(w), ==, 5);
	g_assert_cmpstr(w[1], ==, "org.ifcvf.helper1.manage");
	g_assert_cmpstr(w[2], ==, "system-bus-name");
	g_assert_true(g_str_has_prefix(w[3], ":"));
	g_assert_cmpstr(w[4], ==, "0");
}

static void test_polkit_allows(Fixture *fx, gconstpointer data)
{
	g_autoptr(TestHost) polkit = NULL;
	g_autofree char *out = NULL;

	if (skip_unless_root(fx))
		return;
	polkit = start_polkit(fx, "yes");
	g_assert_cmpint(gdbus_call(fx, TRUE, &out, PORT0,
				   "org.ifcvf.Helper1.Port.SetLiveMigrationMode", "sw"), ==, 0);
	expect_polkit_question(polkit);
	g_free(test_host_expect(fx->host, "set-lm-mode 0 sw"));
	assert_lm_mode(fx, "sw");
	g_clear_pointer(&out, g_free);
	g_assert_cmpint(gdbus_call(fx, TRUE, &out, ROOT, "org.ifcvf.Helper1.Domain.Shutdown",
				   NULL), ==, 0);
	expect_polkit_question(polkit);
	g_free(test_host_expect(fx->host, "shutdown"));
	g_assert_cmpint(test_host_finish(polkit), ==, 0);
}

/* a polkit that does not answer: refused once the helper stops waiting */
static void test_polkit_never_answers(Fixture *fx, gconstpointer data)
{
	g_autoptr(TestHost) polkit = NULL;
	g_autofree char *out = NULL;
	int status;

	if (skip_unless_root(fx))
		return;
	polkit = start_polkit(fx, "never");
	status = gdbus_call(fx, TRUE, &out, PORT0, "org.ifcvf.Helper1.Port.SetLiveMigrationMode",
			    "sw");
	assert_refused(status, out, HELPER_DENIED);
	expect_polkit_question(polkit);
	assert_lm_mode(fx, "hw");
	g_assert_cmpint(test_host_finish(polkit), ==, 0);
}

/* a helper on a bus other than the system bus names the caller's process
 * to polkit (pid, start time, uid): a bus name means nothing on another bus.
 * Here the "system bus" is the same bus under another address. */
static void test_polkit_by_process(Fixture *fx, gconstpointer data)
{
	static const char other_name[] = "org.ifcvf.Helper1.Vm_22222222333344445555666666666666";
	g_autofree char *alias = NULL;
	g_autoptr(TestHost) host = NULL;
	g_autoptr(TestHost) polkit = NULL;
	g_autofree char *out = NULL;
	g_autofree char *line = NULL;
	g_auto(GStrv) w = NULL;
	g_auto(GStrv) who = NULL;
	const char *const extra[] = { "--uuid", "22222222-3333-4444-5555-666666666666", NULL };

	if (skip_unless_root(fx))
		return;
	alias = g_strdup_printf("unix:path=%s/./system_bus_socket", fx->dir);
	g_setenv("DBUS_SYSTEM_BUS_ADDRESS", alias, TRUE);
	host = test_host_start(fx->daemon->address, extra);
	g_setenv("DBUS_SYSTEM_BUS_ADDRESS", fx->daemon->address, TRUE);
	polkit = start_polkit(fx, "yes");
	g_assert_cmpint(run_as(TRUE, &out, "gdbus", "call", "--address", fx->daemon->address,
			       "--dest", other_name, "--object-path", PORT0, "--method",
			       "org.ifcvf.Helper1.Port.SetLiveMigrationMode", "sw", NULL), ==, 0);
	line = test_host_expect(polkit, "check ");
	w = g_strsplit(line, " ", -1);
	g_assert_cmpuint(g_strv_length(w), ==, 5);
	g_assert_cmpstr(w[1], ==, "org.ifcvf.helper1.manage");
	g_assert_cmpstr(w[2], ==, "unix-process");
	who = g_strsplit(w[3], ":", 2);
	g_assert_cmpuint(g_ascii_strtoull(who[0], NULL, 10), >, 0);
	g_assert_cmpint(atoi(who[1]), ==, (int)getpwnam("nobody")->pw_uid);
	g_free(test_host_expect(host, "set-lm-mode 0 sw"));
	g_assert_cmpint(test_host_finish(host), ==, 0);
	g_assert_cmpint(test_host_finish(polkit), ==, 0);
}

static void test_polkit_refuses(Fixture *fx, gconstpointer data)
{
	g_autoptr(TestHost) polkit = NULL;
	g_autofree char *out = NULL;
	int status;

	if (skip_unless_root(fx))
		return;
	polkit = start_polkit(fx, "no");
	status = gdbus_call(fx, TRUE, &out, PORT0, "org.ifcvf.Helper1.Port.SetLiveMigrationMode",
			    "sw");
	assert_refused(status, out, HELPER_DENIED);
	g_assert_nonnull(strstr(out, "polkit does not allow it"));
	expect_polkit_question(polkit);
	assert_lm_mode(fx, "hw");
	g_assert_cmpint(test_host_finish(polkit), ==, 0);
}

static void test_nobody_cannot_own(Fixture *fx, gconstpointer data)
{
	g_autofree char *out = NULL;

	if (skip_unless_root(fx))
		return;
	/* another VM's name, so only the policy can refuse it */
	g_assert_cmpint(run_as(TRUE, &out, test_bus_host_path(), "--bus", fx->daemon->address,
			       "--uuid", "11111111-2222-3333-4444-555555555555", NULL), ==, 3);
	g_assert_nonnull(strstr(out, "lost: could not own org.ifcvf.Helper1.Vm_1111"));
}

/* the policy opens the helpers' paths and interfaces, nothing of another
 * service's: here polkitd's stand-in, which only offers its Authority */
static void test_other_services_closed(Fixture *fx, gconstpointer data)
{
	g_autoptr(TestHost) polkit = NULL;
	g_autofree char *out = NULL;
	int status;

	if (skip_unless_root(fx))
		return;
	polkit = start_polkit(fx, "no");
	status = run_as(TRUE, &out, "gdbus", "call", "--address", fx->daemon->address, "--dest",
			"org.freedesktop.PolicyKit1", "--object-path",
			"/org/freedesktop/PolicyKit1/Authority", "--method",
			"org.freedesktop.DBus.Properties.GetAll",
			"org.freedesktop.PolicyKit1.Authority", NULL);
	assert_refused(status, out, BUS_DENIED);
	g_clear_pointer(&out, g_free);
	status = run_as(TRUE, &out, "gdbus", "call", "--address", fx->daemon->address, "--dest",
			"org.freedesktop.PolicyKit1", "--object-path",
			"/org/freedesktop/PolicyKit1/Authority", "--method",
			"org.freedesktop.DBus.Introspectable.Introspect", NULL);
	assert_refused(status, out, BUS_DENIED);
	g_assert_cmpint(test_host_finish(polkit), ==, 0);
}

static void test_ifcvfctl_as_nobody(Fixture *fx, gconstpointer data)
{
	g_autofree char *bus_arg = NULL;
	g_autofree char *out = NULL;

	if (skip_unless_root(fx))
		return;
	bus_arg = g_strconcat("--bus=", fx->daemon->address, NULL);
	g_assert_cmpint(run_as(TRUE, &out, test_ifcvfctl_path(), bus_arg, "list", NULL), ==, 0);
	g_assert_nonnull(strstr(out, "test-vm"));
	g_clear_pointer(&out, g_free);
	g_assert_cmpint(run_as(TRUE, &out, test_ifcvfctl_path(), bus_arg, "status", "test-vm",
			       NULL), ==, 0);
	g_assert_nonnull(strstr(out, "waiting"));
	g_clear_pointer(&out, g_free);
	g_assert_cmpint(run_as(TRUE, &out, test_ifcvfctl_path(), bus_arg, "stats", "test-vm", NULL),
			==, 0);
	g_assert_nonnull(strstr(out, "kicks-relayed"));
	g_clear_pointer(&out, g_free);
	/* the helper refuses: one line saying what is needed, exit status 5 */
	g_assert_cmpint(run_as(TRUE, &out, test_ifcvfctl_path(), bus_arg, "set-lm-mode", "test-vm",
			       "0", "sw", NULL), ==, 5);
	g_assert_cmpstr(out, ==, "ifcvfctl: set-lm-mode: permission denied: changing a port needs "
				 "root or the polkit action org.ifcvf.helper1.manage (port 0 of VM "
				 "'test-vm')\n");
	assert_lm_mode(fx, "hw");
}

/* The bus daemon refuses (its policy, here without the project's file):
 * not its rule text but one line, for nobody what a change needs, for root
 * that the policy is missing; exit status 5. */
static void test_ifcvfctl_bus_denies(Fixture *fx, gconstpointer data)
{
	g_autofree char *bus_arg = NULL;
	g_autofree char *out = NULL;
	int status;

	if (skip_unless_root(fx))
		return;
	bus_arg = g_strconcat("--bus=", fx->daemon->address, NULL);
	/* the bus's own refusal, as gdbus shows it */
	status = gdbus_call(fx, TRUE, &out, PORT0, "org.ifcvf.Helper1.Port.SetLiveMigrationMode",
			    "sw");
	assert_refused(status, out, BUS_DENIED);
	g_clear_pointer(&out, g_free);

	g_assert_cmpint(run_as(TRUE, &out, test_ifcvfctl_path(), bus_arg, "set-lm-mode", TEST_UUID,
			       "0", "sw", NULL), ==, 5);
	g_assert_cmpstr(out, ==, "ifcvfctl: set-lm-mode: permission denied: changing a port needs "
				 "root or the polkit action org.ifcvf.helper1.manage (port 0 of VM "
				 "'" TEST_UUID "')\n");
	g_clear_pointer(&out, g_free);
	g_assert_cmpint(run_as(FALSE, &out, test_ifcvfctl_path(), bus_arg, "set-lm-mode", TEST_UUID,
			       "0", "sw", NULL), ==, 5);
	g_assert_nonnull(strstr(out, "permission denied by the D-Bus policy (port 0 of VM '"
				     TEST_UUID "'): is org.ifcvf.Helper1.conf installed"));
	g_assert_null(strstr(out, BUS_DENIED));
	/* one line */
	g_assert_true(g_str_has_suffix(out, "\n"));
	g_assert_true(strchr(out, '\n') == out + strlen(out) - 1);
}

/* Properties.Set is not checked by the helper (GDBus answers it without the
 * method dispatch the check hooks into); that is safe only while nothing is
 * writable. A writable property must come with a check of its own. */
static void test_no_writable_property(void)
{
	static const char *const files[] = { "org.ifcvf.Helper1.Domain.xml",
					     "org.ifcvf.Helper1.Port.xml" };

	for (guint f = 0; f < G_N_ELEMENTS(files); f++) {
		g_autoptr(GDBusNodeInfo) node = test_interface_xml(files[f]);

		for (guint i = 0; node->interfaces[i]; i++)
			for (guint p = 0; node->interfaces[i]->properties &&
					  node->interfaces[i]->properties[p]; p++) {
				GDBusPropertyInfo *prop = node->interfaces[i]->properties[p];

				if (prop->flags & G_DBUS_PROPERTY_INFO_FLAGS_WRITABLE)
					g_error("%s.%s is writable: the helper does not check Set",
						node->interfaces[i]->name, prop->name);
			}
	}
}

int main(int argc, char **argv)
{
	static const BusSetup daemon_policy = { DAEMON, FALSE }, daemon_open = { DAEMON, TRUE };
	static const BusSetup broker_policy = { BROKER, FALSE }, broker_open = { BROKER, TRUE };
	static const BusSetup daemon_stale = { DAEMON, FALSE, TRUE };
	static const BusSetup broker_stale = { BROKER, FALSE, TRUE };
	static const struct {
		const char *name;
		const BusSetup *setup;
	} buses[] = {
		{ "dbus-daemon", &daemon_policy },
		{ "dbus-broker", &broker_policy },
	};
	static const struct {
		const char *name;
		const BusSetup *setup;
	} open_buses[] = {
		{ "dbus-daemon", &daemon_open },
		{ "dbus-broker", &broker_open },
	}, stale_buses[] = {
		{ "dbus-daemon", &daemon_stale },
		{ "dbus-broker", &broker_stale },
	};

	g_test_init(&argc, &argv, NULL);
#define ADD(bus, test, fn)                                                                   \
	do {                                                                                 \
		g_autofree char *path = g_strdup_printf("/ifcvf-helper/dbus-policy/%s/%s",    \
							bus.name, test);                     \
		g_test_add(path, Fixture, bus.setup, setup, fn, teardown);                   \
	} while (0)
	for (guint i = 0; i < G_N_ELEMENTS(buses); i++) {
		ADD(buses[i], "nobody-reads", test_nobody_reads);
		ADD(buses[i], "nobody-cannot-change", test_nobody_cannot_change);
		ADD(buses[i], "root-may-change", test_root_may_change);
		ADD(buses[i], "polkit-allows", test_polkit_allows);
		ADD(buses[i], "polkit-refuses", test_polkit_refuses);
		ADD(buses[i], "polkit-never-answers", test_polkit_never_answers);
		ADD(buses[i], "polkit-by-process", test_polkit_by_process);
		ADD(buses[i], "nobody-cannot-own", test_nobody_cannot_own);
		ADD(buses[i], "other-services-closed", test_other_services_closed);
		ADD(buses[i], "ifcvfctl-as-nobody", test_ifcvfctl_as_nobody);
		/* only the helper's check stands between nobody and a change */
		ADD(open_buses[i], "open-bus/nobody-cannot-change", test_nobody_cannot_change);
		ADD(open_buses[i], "open-bus/root-may-change", test_root_may_change);
		ADD(stale_buses[i], "no-project-policy/ifcvfctl-bus-denies",
		    test_ifcvfctl_bus_denies);
	}
#undef ADD
	g_test_add_func("/ifcvf-helper/dbus-policy/no-writable-property",
			test_no_writable_property);
	return g_test_run();
}

/* The private dbus-broker of the policy test (tests/dbus/broker-launch, through
 * test_broker_start()): a client connects as soon as test_broker_start()
 * returns, however slowly the machine starts the broker, and what the broker
 * logs as it stops (its last words go to the journal socket broker-launch
 * reads) reaches the test's log. Needs root and dbus-broker-launch; skipped
 * otherwise (bus-policy fails then). */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "dbus-test-util.h"

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
	char *dir;
	char *config_path;
	char *socket_path;
	char *log_path;
} Fixture;

static gboolean can_run(void)
{
	g_autofree char *broker = g_find_program_in_path("dbus-broker-launch");

	return geteuid() == 0 && broker;
}

static void setup(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *config = NULL;

	if (!can_run())
		return;
	fx->dir = g_dir_make_tmp("ifcvf-broker-XXXXXX", &error);
	g_assert_no_error(error);
	config = g_strdup_printf(open_config_fmt, fx->dir);
	fx->config_path = g_build_filename(fx->dir, "system.conf", NULL);
	g_file_set_contents(fx->config_path, config, -1, &error);
	g_assert_no_error(error);
	fx->socket_path = g_build_filename(fx->dir, "system_bus_socket", NULL);
	fx->log_path = g_build_filename(fx->dir, "broker.log", NULL);
}

static void teardown(Fixture *fx, gconstpointer data)
{
	if (!fx->dir)
		return;
	g_unlink(fx->socket_path);
	g_unlink(fx->config_path);
	g_unlink(fx->log_path);
	g_rmdir(fx->dir);
	g_free(fx->socket_path);
	g_free(fx->config_path);
	g_free(fx->log_path);
	g_free(fx->dir);
}

static gboolean skip_unless_root(void)
{
	if (can_run())
		return FALSE;
	g_test_skip("needs root and dbus-broker-launch (scripts/deps.sh)");
	return TRUE;
}

/* the bus's own id: the bus serves this client */
static void assert_bus_answers(GDBusConnection *c)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
		c, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
		"GetId", NULL, G_VARIANT_TYPE("(s)"), G_DBUS_CALL_FLAGS_NONE, 10000, NULL,
		&error);

	g_assert_no_error(error);
}

/* broker-launch held back before it sets up the bus, as on a loaded
 * machine: the first client (bus-host in the policy test) still connects */
static void test_answers_once_started(Fixture *fx, gconstpointer data)
{
	g_autoptr(TestDaemon) d = NULL;
	g_autoptr(GDBusConnection) c = NULL;

	if (skip_unless_root())
		return;
	g_setenv("BROKER_LAUNCH_DELAY_MS", "500", TRUE);
	d = test_broker_start(fx->config_path, fx->socket_path, NULL);
	g_unsetenv("BROKER_LAUNCH_DELAY_MS");
	c = test_bus_connect(d->address);
	assert_bus_answers(c);
}

/* the broker logs its message count as it exits, after the launcher got
 * SIGTERM: every stop, that line is in the log and nothing was refused */
static void test_last_words_logged(Fixture *fx, gconstpointer data)
{
	if (skip_unless_root())
		return;
	for (guint i = 0; i < 5; i++) {
		g_autoptr(TestDaemon) d = NULL;
		g_autoptr(GDBusConnection) c = NULL;
		g_autoptr(GError) error = NULL;
		g_autofree char *log = NULL;

		/* this stop's log only */
		g_unlink(fx->log_path);
		d = test_broker_start(fx->config_path, fx->socket_path, fx->log_path);
		c = test_bus_connect(d->address);
		assert_bus_answers(c);
		g_dbus_connection_close_sync(c, NULL, &error);
		g_assert_no_error(error);
		g_clear_pointer(&d, test_daemon_stop);
		g_file_get_contents(fx->log_path, &log, NULL, &error);
		g_assert_no_error(error);
		g_test_message("stop %u, the broker's log:\n%s", i, log);
		if (!strstr(log, "dbus-broker: Dispatched") || strstr(log, "log_journal_send"))
			g_error("stop %u: the broker's last log message was lost:\n%s", i, log);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add("/ifcvf-helper/dbus-broker/answers-once-started", Fixture, NULL, setup,
		   test_answers_once_started, teardown);
	g_test_add("/ifcvf-helper/dbus-broker/last-words-logged", Fixture, NULL, setup,
		   test_last_words_logged, teardown);
	return g_test_run();
}

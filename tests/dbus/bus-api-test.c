/* The bus objects as a client sees them, against a real bus-host process on
 * a private bus: properties and PropertiesChanged follow the host's updates,
 * GetStats, the ObjectManager, SetLiveMigrationMode and Shutdown, and every
 * kind of bad call answered with a specific error and no harm done. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>

#include "dbus-test-util.h"

#define ROOT    "/org/ifcvf/Helper1"
#define PORT0   "/org/ifcvf/Helper1/port/0"
#define PORT1   "/org/ifcvf/Helper1/port/1"
#define DOMAIN_IFACE "org.ifcvf.Helper1.Domain"
#define PORT_IFACE   "org.ifcvf.Helper1.Port"

typedef struct {
	GTestDBus *dbus;
	const char *address;
	TestHost *host;
	GDBusConnection *c;
	GQueue signals;      /* Signal *, in arrival order */
	guint sub;
} Fixture;

typedef struct {
	char *path;
	char *member;
	GVariant *params;
} Signal;

static void signal_free(Signal *s)
{
	g_free(s->path);
	g_free(s->member);
	g_variant_unref(s->params);
	g_free(s);
}

static void signal_cb(GDBusConnection *c, const char *sender, const char *path,
		      const char *iface, const char *member, GVariant *params, gpointer user_data)
{
	Fixture *fx = user_data;
	Signal *s = g_new0(Signal, 1);

	s->path = g_strdup(path);
	s->member = g_strdup(member);
	s->params = g_variant_ref(params);
	g_queue_push_tail(&fx->signals, s);
}

static void fixture_up(Fixture *fx, const char *const *extra)
{
	fx->dbus = g_test_dbus_new(G_TEST_DBUS_NONE);
	g_test_dbus_up(fx->dbus);
	fx->address = g_test_dbus_get_bus_address(fx->dbus);
	fx->c = test_bus_connect(fx->address);
	/* every signal the helper sends: PropertiesChanged, InterfacesAdded */
	fx->sub = g_dbus_connection_signal_subscribe(fx->c, TEST_BUS_NAME, NULL, NULL, NULL, NULL,
						     G_DBUS_SIGNAL_FLAGS_NONE, signal_cb, fx, NULL);
	fx->host = test_host_start(fx->address, extra);
}

static void setup(Fixture *fx, gconstpointer data)
{
	fixture_up(fx, NULL);
}

static void teardown(Fixture *fx, gconstpointer data)
{
	if (fx->host) {
		g_assert_cmpint(test_host_finish(fx->host), ==, 0);
		test_host_free(fx->host);
	}
	g_dbus_connection_signal_unsubscribe(fx->c, fx->sub);
	g_queue_clear_full(&fx->signals, (GDestroyNotify)signal_free);
	(void)g_dbus_connection_close_sync(fx->c, NULL, NULL);
	g_object_unref(fx->c);
	g_test_dbus_down(fx->dbus);
	g_object_unref(fx->dbus);
}

static gboolean queue_nonempty(gconstpointer q)
{
	return !g_queue_is_empty((GQueue *)q);
}

/* The next signal from the helper; fails after 10 s. */
static Signal *next_signal(Fixture *fx)
{
	test_wait_until(queue_nonempty, &fx->signals);
	return g_queue_pop_head(&fx->signals);
}

/* The next signal must be PropertiesChanged on @path for @iface with exactly
 * the properties in @want (a{sv} text), and no invalidated ones. */
static void expect_changed(Fixture *fx, const char *path, const char *iface, const char *want)
{
	Signal *s = next_signal(fx);
	g_autoptr(GVariant) want_v = g_variant_parse(G_VARIANT_TYPE("a{sv}"), want, NULL, NULL,
						     NULL);
	g_autoptr(GVariant) changed = NULL;
	g_autofree const char **invalidated = NULL;
	const char *got_iface;

	g_assert_nonnull(want_v);
	g_assert_cmpstr(s->member, ==, "PropertiesChanged");
	g_assert_cmpstr(s->path, ==, path);
	g_variant_get(s->params, "(&s@a{sv}^a&s)", &got_iface, &changed, &invalidated);
	g_assert_cmpstr(got_iface, ==, iface);
	g_assert_cmpuint(g_strv_length((char **)invalidated), ==, 0);
	/* same set of properties and values, in any order */
	g_assert_cmpuint(g_variant_n_children(changed), ==, g_variant_n_children(want_v));
	for (gsize i = 0; i < g_variant_n_children(want_v); i++) {
		g_autoptr(GVariant) value = NULL;
		g_autoptr(GVariant) got = NULL;
		const char *name;

		g_variant_get_child(want_v, i, "{&sv}", &name, &value);
		got = g_variant_lookup_value(changed, name, NULL);
		if (!got || !g_variant_equal(got, value))
			g_error("%s: %s changed to %s, want %s", path, name,
				got ? g_variant_print(got, TRUE) : "(absent)",
				g_variant_print(value, TRUE));
	}
	signal_free(s);
}

static void assert_prop(Fixture *fx, const char *path, const char *iface, const char *prop,
			const char *want)
{
	g_autoptr(GVariant) v = test_get_property(fx->c, path, iface, prop);
	g_autofree char *text = g_variant_print(v, TRUE);

	g_assert_cmpstr(text, ==, want);
}

/* Call and expect the D-Bus error @name. */
static void expect_error(Fixture *fx, const char *path, const char *iface, const char *method,
			 GVariant *args, const char *name)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = test_call(fx->c, path, iface, method, args, &error);
	g_autofree char *got = test_error_name(error);

	g_assert_null(reply);
	g_test_message("%s.%s on %s: %s", iface, method, path, error->message);
	g_assert_cmpstr(got, ==, name);
}

static void call_ok(Fixture *fx, const char *path, const char *iface, const char *method,
		    GVariant *args)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = test_call(fx->c, path, iface, method, args, &error);

	g_assert_no_error(error);
}

static void test_objects(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GVariant) objects = NULL;
	g_autoptr(GVariant) port0 = NULL;
	g_autoptr(GVariant) props = NULL;
	g_autofree char *pid = g_strdup_printf("uint32 %s",
					       g_subprocess_get_identifier(fx->host->proc));

	reply = test_call(fx->c, ROOT, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
			  NULL, &error);
	g_assert_no_error(error);
	objects = g_variant_get_child_value(reply, 0);
	g_assert_cmpuint(g_variant_n_children(objects), ==, 2);
	port0 = g_variant_lookup_value(objects, PORT0, NULL);
	g_assert_nonnull(port0);
	g_assert_true(g_variant_lookup_value(objects, PORT1, NULL) != NULL);
	props = g_variant_lookup_value(port0, PORT_IFACE, G_VARIANT_TYPE("a{sv}"));
	g_assert_nonnull(props);
	/* every property of the interface is there */
	g_assert_cmpuint(g_variant_n_children(props), ==, 14);

	assert_prop(fx, ROOT, DOMAIN_IFACE, "Name", "'test-vm'");
	assert_prop(fx, ROOT, DOMAIN_IFACE, "Uuid", "'" TEST_UUID "'");
	assert_prop(fx, ROOT, DOMAIN_IFACE, "MigrationPhase", "'none'");
	assert_prop(fx, ROOT, DOMAIN_IFACE, "Restarts", "uint32 0");
	assert_prop(fx, ROOT, DOMAIN_IFACE, "Ports",
		    "[objectpath '/org/ifcvf/Helper1/port/0', '/org/ifcvf/Helper1/port/1']");
	assert_prop(fx, ROOT, DOMAIN_IFACE, "Pid", pid);
	assert_prop(fx, PORT0, PORT_IFACE, "Device", "'vfio-user:/run/test/vf0.sock'");
	assert_prop(fx, PORT0, PORT_IFACE, "SocketPath", "'/run/test/vhost0.sock'");
	assert_prop(fx, PORT0, PORT_IFACE, "DeviceType", "'net'");
	assert_prop(fx, PORT0, PORT_IFACE, "Capacity", "uint64 0");
	assert_prop(fx, PORT0, PORT_IFACE, "State", "'waiting'");
	assert_prop(fx, PORT0, PORT_IFACE, "Mac", "'52:54:00:12:34:00'");
	assert_prop(fx, PORT1, PORT_IFACE, "Mac", "'52:54:00:12:34:01'");
	assert_prop(fx, PORT0, PORT_IFACE, "LiveMigrationMode", "'hw'");
	assert_prop(fx, PORT0, PORT_IFACE, "DeviceFeatures", "uint64 5100273696");
	/* no datapath yet: no vring, no kick path */
	assert_prop(fx, PORT0, PORT_IFACE, "KickPaths", "@as []");
	/* the ObjectManager sits on the Domain's object; nothing at the root */
	expect_error(fx, "/", DOMAIN_IFACE, "Shutdown", NULL,
		     "org.freedesktop.DBus.Error.UnknownMethod");
}

static void test_properties_changed(Fixture *fx, gconstpointer data)
{
	test_host_command(fx->host, "state 0 running");
	expect_changed(fx, PORT0, PORT_IFACE, "{'State': <'running'>}");
	assert_prop(fx, PORT0, PORT_IFACE, "State", "'running'");

	/* several properties in one update: one signal carrying them all */
	test_host_command(fx->host, "features 0 0x130000020 0x100000020");
	expect_changed(fx, PORT0, PORT_IFACE, "{'NegotiatedFeatures': <uint64 4294967328>}");
	test_host_command(fx->host, "state 0 failed the VF stopped answering");
	expect_changed(fx, PORT0, PORT_IFACE,
		       "{'State': <'failed'>, 'StateReason': <'the VF stopped answering'>}");

	/* an unchanged snapshot sends nothing: the next signal is port 1's */
	test_host_command(fx->host, "update 0");
	test_host_command(fx->host, "queues 1 4 8");
	expect_changed(fx, PORT1, PORT_IFACE,
		       "{'QueuePairs': <uint32 4>, 'EnabledQueues': <uint32 8>}");
	test_host_command(fx->host, "announce 1 1");
	expect_changed(fx, PORT1, PORT_IFACE, "{'GuestAnnounce': <true>}");
	test_host_command(fx->host, "mac 1 02:00:00:00:00:01");
	expect_changed(fx, PORT1, PORT_IFACE, "{'Mac': <'02:00:00:00:00:01'>}");
	test_host_command(fx->host, "mode 1 sw");
	expect_changed(fx, PORT1, PORT_IFACE, "{'LiveMigrationMode': <'sw'>}");
	test_host_command(fx->host, "kicks 1 host-notifier relay");
	expect_changed(fx, PORT1, PORT_IFACE, "{'KickPaths': <['host-notifier', 'relay']>}");

	/* every state a port can be in */
	for (guint i = 0; i < 8; i++) {
		static const char *const states[] = { "probed", "waiting", "connected", "running",
						      "logging-hw", "relaying-sw", "stopped",
						      "running" };
		g_autofree char *want = g_strdup_printf("{'State': <'%s'>}", states[i]);

		test_host_command(fx->host, "state 1 %s", states[i]);
		expect_changed(fx, PORT1, PORT_IFACE, want);
	}

	/* the migration phases, each change once */
	test_host_command(fx->host, "phase setup");
	expect_changed(fx, ROOT, DOMAIN_IFACE, "{'MigrationPhase': <'setup'>}");
	test_host_command(fx->host, "phase setup");
	test_host_command(fx->host, "phase iterating");
	expect_changed(fx, ROOT, DOMAIN_IFACE, "{'MigrationPhase': <'iterating'>}");
	test_host_command(fx->host, "phase stop-and-copy");
	expect_changed(fx, ROOT, DOMAIN_IFACE, "{'MigrationPhase': <'stop-and-copy'>}");
	assert_prop(fx, ROOT, DOMAIN_IFACE, "MigrationPhase", "'stop-and-copy'");
	g_assert_true(g_queue_is_empty(&fx->signals));
}

static void test_get_stats(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = NULL;
	g_autofree char *refresh = NULL;
	guint64 v = 0;

	test_host_command(fx->host, "counter 0 kicks-relayed 42");
	test_host_command(fx->host, "counter 0 pages-logged 18446744073709551615");
	test_host_command(fx->host, "counter 0 rollbacks 2");
	reply = test_call(fx->c, PORT0, PORT_IFACE, "GetStats", NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(g_variant_get_type_string(reply), ==, "(a{st})");
	g_autoptr(GVariant) stats = g_variant_get_child_value(reply, 0);
	g_assert_cmpuint(g_variant_n_children(stats), ==, 4);
	g_assert_true(g_variant_lookup(stats, "kicks-relayed", "t", &v));
	g_assert_cmpuint(v, ==, 42);
	g_assert_true(g_variant_lookup(stats, "pages-logged", "t", &v));
	g_assert_cmpuint(v, ==, G_MAXUINT64);
	g_assert_true(g_variant_lookup(stats, "rollbacks", "t", &v));
	g_assert_cmpuint(v, ==, 2);
	/* the helper was asked to refresh before the answer */
	refresh = test_host_expect(fx->host, "refresh");
	g_assert_cmpstr(refresh, ==, "refresh 0");

	/* counters change no property: no signal */
	g_assert_true(g_queue_is_empty(&fx->signals));
	g_clear_pointer(&reply, g_variant_unref);
	reply = test_call(fx->c, PORT1, PORT_IFACE, "GetStats", NULL, &error);
	g_assert_no_error(error);
	g_assert_true(g_queue_is_empty(&fx->signals));
}

static void test_add_port(Fixture *fx, gconstpointer data)
{
	g_autoptr(GVariant) ifaces = NULL;
	g_autoptr(GVariant) props = NULL;
	const char *path;
	Signal *s;

	test_host_command(fx->host, "add 7 blk");
	s = next_signal(fx);
	g_assert_cmpstr(s->member, ==, "InterfacesAdded");
	g_assert_cmpstr(s->path, ==, ROOT);
	g_variant_get(s->params, "(&o@a{sa{sv}})", &path, &ifaces);
	g_assert_cmpstr(path, ==, "/org/ifcvf/Helper1/port/7");
	props = g_variant_lookup_value(ifaces, PORT_IFACE, NULL);
	g_assert_nonnull(props);
	g_assert_cmpstr(g_variant_get_string(g_variant_lookup_value(props, "DeviceType", NULL),
					     NULL), ==, "blk");
	signal_free(s);
	expect_changed(fx, ROOT, DOMAIN_IFACE,
		       "{'Ports': <[objectpath '/org/ifcvf/Helper1/port/0', "
		       "'/org/ifcvf/Helper1/port/1', '/org/ifcvf/Helper1/port/7']>}");
	/* the host then publishes its first snapshot of the port */
	expect_changed(fx, "/org/ifcvf/Helper1/port/7", PORT_IFACE,
		       "{'State': <'waiting'>, 'DeviceFeatures': <uint64 5100273696>, "
		       "'QueuePairs': <uint32 1>}");
	assert_prop(fx, "/org/ifcvf/Helper1/port/7", PORT_IFACE, "Mac", "''");
}

static void test_set_lm_mode(Fixture *fx, gconstpointer data)
{
	g_autofree char *line = NULL;

	call_ok(fx, PORT0, PORT_IFACE, "SetLiveMigrationMode", g_variant_new("(s)", "sw"));
	line = test_host_expect(fx->host, "set-lm-mode");
	g_assert_cmpstr(line, ==, "set-lm-mode 0 sw");
	/* in force when the call returned, and announced */
	assert_prop(fx, PORT0, PORT_IFACE, "LiveMigrationMode", "'sw'");
	expect_changed(fx, PORT0, PORT_IFACE, "{'LiveMigrationMode': <'sw'>}");
	/* the helper's next snapshot agrees: nothing more is sent */
	test_host_command(fx->host, "update 0");
	call_ok(fx, PORT0, PORT_IFACE, "SetLiveMigrationMode", g_variant_new("(s)", "hw"));
	expect_changed(fx, PORT0, PORT_IFACE, "{'LiveMigrationMode': <'hw'>}");

	/* the helper's refusals keep their meaning on the bus */
	test_host_command(fx->host, "refuse 1 busy");
	expect_error(fx, PORT1, PORT_IFACE, "SetLiveMigrationMode", g_variant_new("(s)", "sw"),
		     "org.ifcvf.Helper1.Error.Busy");
	test_host_command(fx->host, "refuse 1 not-supported");
	expect_error(fx, PORT1, PORT_IFACE, "SetLiveMigrationMode", g_variant_new("(s)", "hw"),
		     "org.ifcvf.Helper1.Error.NotSupported");
	test_host_command(fx->host, "refuse 1 failed");
	expect_error(fx, PORT1, PORT_IFACE, "SetLiveMigrationMode", g_variant_new("(s)", "sw"),
		     "org.ifcvf.Helper1.Error.Failed");
	assert_prop(fx, PORT1, PORT_IFACE, "LiveMigrationMode", "'hw'");
	g_assert_true(g_queue_is_empty(&fx->signals));
}

static void test_bad_input(Fixture *fx, gconstpointer data)
{
	g_autofree char *huge = g_strnfill(100000, 'h');
	static const char *const not_modes[] = { "", "HW", "hw ", "software", "h\u00e9" };

	/* wrong argument types: GDBus itself refuses, the helper never sees them */
	expect_error(fx, PORT0, PORT_IFACE, "SetLiveMigrationMode", g_variant_new("(i)", 1),
		     "org.freedesktop.DBus.Error.InvalidArgs");
	expect_error(fx, PORT0, PORT_IFACE, "SetLiveMigrationMode", NULL,
		     "org.freedesktop.DBus.Error.InvalidArgs");
	expect_error(fx, PORT0, PORT_IFACE, "SetLiveMigrationMode",
		     g_variant_new("(ss)", "hw", "sw"), "org.freedesktop.DBus.Error.InvalidArgs");
	expect_error(fx, PORT0, PORT_IFACE, "GetStats", g_variant_new("(s)", "x"),
		     "org.freedesktop.DBus.Error.InvalidArgs");
	expect_error(fx, ROOT, DOMAIN_IFACE, "Shutdown", g_variant_new("(u)", 1),
		     "org.freedesktop.DBus.Error.InvalidArgs");

	/* unknown mode strings */
	for (guint i = 0; i < G_N_ELEMENTS(not_modes); i++)
		expect_error(fx, PORT0, PORT_IFACE, "SetLiveMigrationMode",
			     g_variant_new("(s)", not_modes[i]), "org.ifcvf.Helper1.Error.UnknownMode");
	expect_error(fx, PORT0, PORT_IFACE, "SetLiveMigrationMode", g_variant_new("(s)", huge),
		     "org.ifcvf.Helper1.Error.UnknownMode");

	/* ports nobody serves */
	expect_error(fx, "/org/ifcvf/Helper1/port/2", PORT_IFACE, "SetLiveMigrationMode",
		     g_variant_new("(s)", "sw"), "org.ifcvf.Helper1.Error.UnknownPort");
	expect_error(fx, "/org/ifcvf/Helper1/port/4294967295", PORT_IFACE, "GetStats", NULL,
		     "org.ifcvf.Helper1.Error.UnknownPort");
	expect_error(fx, "/org/ifcvf/Helper1/port/x", PORT_IFACE, "GetStats", NULL,
		     "org.ifcvf.Helper1.Error.UnknownPort");
	expect_error(fx, "/org/ifcvf/Helper1/port/2", "org.freedesktop.DBus.Properties", "Get",
		     g_variant_new("(ss)", PORT_IFACE, "State"), "org.ifcvf.Helper1.Error.UnknownPort");
	expect_error(fx, "/org/ifcvf/Helper1/port/2", "org.freedesktop.DBus.Properties", "GetAll",
		     g_variant_new("(s)", PORT_IFACE), "org.ifcvf.Helper1.Error.UnknownPort");
	/* deeper paths are no port at all */
	expect_error(fx, "/org/ifcvf/Helper1/port/0/1", PORT_IFACE, "GetStats", NULL,
		     "org.freedesktop.DBus.Error.UnknownMethod");

	/* unknown members and read-only properties */
	expect_error(fx, PORT0, PORT_IFACE, "Reset", NULL, "org.freedesktop.DBus.Error.UnknownMethod");
	expect_error(fx, PORT0, "org.freedesktop.DBus.Properties", "Set",
		     g_variant_new("(ssv)", PORT_IFACE, "State", g_variant_new_string("running")),
		     "org.freedesktop.DBus.Error.InvalidArgs");
	expect_error(fx, PORT0, "org.freedesktop.DBus.Properties", "Get",
		     g_variant_new("(ss)", PORT_IFACE, "Nope"),
		     "org.freedesktop.DBus.Error.InvalidArgs");

	/* none of it changed anything or reached the helper */
	assert_prop(fx, PORT0, PORT_IFACE, "State", "'waiting'");
	assert_prop(fx, PORT0, PORT_IFACE, "LiveMigrationMode", "'hw'");
	g_assert_true(g_queue_is_empty(&fx->signals));
	test_host_command(fx->host, "update 0");
}

static void test_teardown_refuses(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = NULL;

	test_host_command(fx->host, "teardown");
	expect_error(fx, PORT0, PORT_IFACE, "SetLiveMigrationMode", g_variant_new("(s)", "sw"),
		     "org.ifcvf.Helper1.Error.ShuttingDown");
	expect_error(fx, ROOT, DOMAIN_IFACE, "Shutdown", NULL, "org.ifcvf.Helper1.Error.ShuttingDown");
	/* reading keeps working until the objects go */
	reply = test_call(fx->c, PORT0, PORT_IFACE, "GetStats", NULL, &error);
	g_assert_no_error(error);
	assert_prop(fx, PORT0, PORT_IFACE, "LiveMigrationMode", "'hw'");
}

static void test_shutdown(Fixture *fx, gconstpointer data)
{
	g_autofree char *line = NULL;

	call_ok(fx, ROOT, DOMAIN_IFACE, "Shutdown", NULL);
	line = test_host_expect(fx->host, "shutdown");
	/* once only; and state changes are refused from then on */
	expect_error(fx, ROOT, DOMAIN_IFACE, "Shutdown", NULL, "org.ifcvf.Helper1.Error.ShuttingDown");
	expect_error(fx, PORT1, PORT_IFACE, "SetLiveMigrationMode", g_variant_new("(s)", "sw"),
		     "org.ifcvf.Helper1.Error.ShuttingDown");
}

static void name_vanished_cb(GDBusConnection *c, const char *name, gpointer user_data)
{
	*(gboolean *)user_data = TRUE;
}

static void test_shutdown_exits(Fixture *fx, gconstpointer data)
{
	static const char *const extra[] = { "--exit-on-shutdown", NULL };
	gboolean vanished = FALSE;
	guint watch;

	/* replace the default host by one that exits on Shutdown() */
	g_assert_cmpint(test_host_finish(fx->host), ==, 0);
	g_clear_pointer(&fx->host, test_host_free);
	fx->host = test_host_start(fx->address, extra);

	watch = g_bus_watch_name_on_connection(fx->c, TEST_BUS_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
					       NULL, name_vanished_cb, &vanished, NULL);
	call_ok(fx, ROOT, DOMAIN_IFACE, "Shutdown", NULL);
	test_wait_for(&vanished);
	g_bus_unwatch_name(watch);
	g_assert_cmpint(test_host_finish(fx->host), ==, 0);
	g_clear_pointer(&fx->host, test_host_free);
}

static void fire_and_forget(const char *address, const char *path, const char *iface,
			    const char *method, GVariant *args)
{
	g_autoptr(GDBusConnection) c = test_bus_connect(address);
	g_autoptr(GDBusMessage) msg = g_dbus_message_new_method_call(TEST_BUS_NAME, path, iface,
								     method);

	g_dbus_message_set_body(msg, args);
	g_dbus_connection_send_message(c, msg, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL, NULL);
	/* the call reaches the bus; the caller is gone before any answer */
	(void)g_dbus_connection_flush_sync(c, NULL, NULL);
	(void)g_dbus_connection_close_sync(c, NULL, NULL);
}

static void test_client_vanishes(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = NULL;

	for (guint i = 0; i < 20; i++) {
		fire_and_forget(fx->address, PORT0, PORT_IFACE, "GetStats", NULL);
		fire_and_forget(fx->address, PORT1, PORT_IFACE, "SetLiveMigrationMode",
				g_variant_new("(s)", "bogus"));
		fire_and_forget(fx->address, "/org/ifcvf/Helper1/port/9", PORT_IFACE, "GetStats",
				NULL);
		fire_and_forget(fx->address, ROOT, "org.freedesktop.DBus.Introspectable",
				"Introspect", NULL);
	}
	/* the helper still answers, and nothing changed: the bogus modes were
	 * refused (or, for a caller gone before the helper could learn its
	 * uid, refused as not authorised) */
	reply = test_call(fx->c, ROOT, "org.freedesktop.DBus.Peer", "Ping", NULL, &error);
	g_assert_no_error(error);
	assert_prop(fx, PORT1, PORT_IFACE, "LiveMigrationMode", "'hw'");
	assert_prop(fx, PORT0, PORT_IFACE, "LiveMigrationMode", "'hw'");
	assert_prop(fx, PORT0, PORT_IFACE, "State", "'waiting'");
	test_host_command(fx->host, "update 0");
}

static void test_name_taken(Fixture *fx, gconstpointer data)
{
	g_autoptr(TestHost) second = test_host_spawn(fx->address, NULL);
	g_autofree char *line = test_host_expect(second, "lost");

	g_assert_nonnull(strstr(line, "another helper serves this VM"));
	g_assert_cmpint(test_host_finish(second), ==, 3);
	/* the first one is untouched */
	assert_prop(fx, ROOT, DOMAIN_IFACE, "Name", "'test-vm'");
}

static const char restart_bus_config_fmt[] =
	"<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN\"\n"
	" \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
	"<busconfig>\n"
	"  <type>session</type>\n"
	"  <listen>unix:path=%s/bus</listen>\n"
	"  <auth>EXTERNAL</auth>\n"
	"  <policy context=\"default\">\n"
	"    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
	"    <allow eavesdrop=\"true\"/>\n"
	"    <allow own=\"*\"/>\n"
	"  </policy>\n"
	"</busconfig>\n";

/* The bus daemon goes away and a new one listens on the same socket: the
 * module does not report a loss, owns the name again on the new bus (its
 * address has another guid) and serves the objects there. */
static void test_bus_comes_back(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp("ifcvf-bus-back-XXXXXX", &error);
	g_autofree char *config_path = g_build_filename(dir, "bus.conf", NULL);
	g_autofree char *config = g_strdup_printf(restart_bus_config_fmt, dir);
	g_autofree char *socket = g_build_filename(dir, "bus", NULL);
	g_autoptr(TestHost) host = NULL;
	TestDaemon *daemon;

	g_assert_no_error(error);
	g_assert_true(g_file_set_contents(config_path, config, -1, NULL));
	daemon = test_daemon_start(config_path);
	host = test_host_start(daemon->address, NULL);
	for (guint round = 1; round <= 2; round++) {
		g_autoptr(GDBusConnection) c = NULL;
		g_autoptr(GVariant) name = NULL;
		g_autofree char *line = NULL;

		g_autoptr(GVariant) phase = NULL;
		const char *want = round == 1 ? "iterating" : "completed";

		test_daemon_stop(daemon);
		/* a change while no bus is there is published on the next one */
		test_host_command(host, "phase %s", want);
		daemon = test_daemon_start(config_path);
		/* the next thing the host reports ("lost: ..." before the fix) */
		line = test_host_expect(host, "");
		g_assert_cmpstr(line, ==, "owned");
		c = test_bus_connect(daemon->address);
		name = test_get_property(c, ROOT, DOMAIN_IFACE, "Name");
		g_assert_cmpstr(g_variant_get_string(name, NULL), ==, "test-vm");
		phase = test_get_property(c, ROOT, DOMAIN_IFACE, "MigrationPhase");
		g_assert_cmpstr(g_variant_get_string(phase, NULL), ==, want);
		(void)g_dbus_connection_close_sync(c, NULL, NULL);
	}
	g_assert_cmpint(test_host_finish(host), ==, 0);
	test_daemon_stop(daemon);
	(void)g_unlink(config_path);
	(void)g_unlink(socket);
	(void)g_rmdir(dir);
}

static void test_bad_uuid(void)
{
	const char *argv[] = { test_bus_host_path(), "--bus", "unix:path=/nonexistent",
			       "--uuid", "0a1b2c3d-4e5f-4061-8293", NULL };
	g_autofree char *out = NULL;
	g_autofree char *err = NULL;

	g_assert_cmpint(test_run(argv, &out, &err), ==, 2);
	g_assert_nonnull(strstr(err, "is not a VM UUID"));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) g_test_add("/ifcvf-helper/dbus-api/" name, Fixture, NULL, setup, fn, teardown)
	ADD("objects", test_objects);
	ADD("properties-changed", test_properties_changed);
	ADD("get-stats", test_get_stats);
	ADD("add-port", test_add_port);
	ADD("set-lm-mode", test_set_lm_mode);
	ADD("bad-input", test_bad_input);
	ADD("teardown-refuses", test_teardown_refuses);
	ADD("shutdown", test_shutdown);
	ADD("shutdown-exits", test_shutdown_exits);
	ADD("client-vanishes", test_client_vanishes);
	ADD("name-taken", test_name_taken);
#undef ADD
	g_test_add_func("/ifcvf-helper/dbus-api/bus-comes-back", test_bus_comes_back);
	g_test_add_func("/ifcvf-helper/dbus-api/bad-uuid", test_bad_uuid);
	return g_test_run();
}

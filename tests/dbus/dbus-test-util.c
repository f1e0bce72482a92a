#include "dbus-test-util.h"

#include <signal.h>
#include <sys/prctl.h>
#include <string.h>

#define WAIT_SECONDS 10

const char *test_bus_host_path(void)
{
	return BUS_HOST_PATH;
}

const char *test_ifcvfctl_path(void)
{
	return IFCVFCTL_PATH;
}

const char *test_broker_launch_path(void)
{
	return BROKER_LAUNCH_PATH;
}

const char *test_fake_polkit_path(void)
{
	return FAKE_POLKIT_PATH;
}

static gboolean deadline_cb(gpointer user_data)
{
	*(gboolean *)user_data = TRUE;
	return G_SOURCE_REMOVE;
}

void test_wait_until(gboolean (*cond)(gconstpointer data), gconstpointer data)
{
	gboolean expired = FALSE;
	guint id = g_timeout_add_seconds(WAIT_SECONDS, deadline_cb, &expired);

	while (!cond(data) && !expired)
		g_main_context_iteration(NULL, TRUE);
	if (!cond(data))
		g_error("nothing happened within %d s", WAIT_SECONDS);
	g_source_remove(id);
}

static gboolean flag_set(gconstpointer data)
{
	return *(const gboolean *)data;
}

void test_wait_for(const gboolean *flag)
{
	test_wait_until(flag_set, flag);
}

void test_spin(guint ms)
{
	gboolean done = FALSE;

	g_timeout_add(ms, deadline_cb, &done);
	while (!done)
		g_main_context_iteration(NULL, TRUE);
}

/* a daemon outlives a test that aborts otherwise */
static void die_with_parent(gpointer user_data)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM);
}

typedef struct {
	char *line;
	gboolean done;
} LineRead;

static void line_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	LineRead *r = user_data;

	r->line = g_data_input_stream_read_line_finish_utf8(G_DATA_INPUT_STREAM(source), res,
							    NULL, NULL);
	r->done = TRUE;
}

/* the next line of @in, NULL at its end; fails the test after WAIT_SECONDS */
static char *read_line(GDataInputStream *in)
{
	LineRead r = { 0 };

	g_data_input_stream_read_line_async(in, G_PRIORITY_DEFAULT, NULL, line_cb, &r);
	test_wait_for(&r.done);
	return r.line;
}

typedef struct {
	GDBusConnection *c;
	GError *error;
	gboolean done;
} Connecting;

static void connected_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	Connecting *r = user_data;

	r->c = g_dbus_connection_new_for_address_finish(res, &r->error);
	r->done = TRUE;
}

/* Fail the test unless the bus at @address takes a client (Hello) and
 * answers it (GetId), each within WAIT_SECONDS. */
static void assert_bus_answers(const char *address)
{
	Connecting r = { 0 };
	g_autoptr(GDBusConnection) c = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = NULL;

	g_dbus_connection_new_for_address(address,
					  G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
					  G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
					  NULL, NULL, connected_cb, &r);
	test_wait_for(&r.done);
	c = r.c;
	error = r.error;
	if (!c)
		g_error("the bus at %s takes no client: %s", address, error->message);
	reply = g_dbus_connection_call_sync(c, "org.freedesktop.DBus", "/org/freedesktop/DBus",
					    "org.freedesktop.DBus", "GetId", NULL,
					    G_VARIANT_TYPE("(s)"), G_DBUS_CALL_FLAGS_NONE,
					    WAIT_SECONDS * 1000, NULL, &error);
	if (!reply)
		g_error("the bus at %s does not answer GetId: %s", address, error->message);
	g_dbus_connection_close_sync(c, NULL, NULL);
}

TestDaemon *test_daemon_start(const char *config)
{
	g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
		G_SUBPROCESS_FLAGS_STDOUT_PIPE);
	g_autoptr(GError) error = NULL;
	g_autoptr(GDataInputStream) out = NULL;
	g_autofree char *config_arg = g_strconcat("--config-file=", config, NULL);
	TestDaemon *d = g_new0(TestDaemon, 1);

	/* stderr stays with the test: dbus-daemon's own complaints show up in
	 * the test log */
	g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
	d->proc = g_subprocess_launcher_spawn(launcher, &error, "dbus-daemon", config_arg,
					      "--nofork", "--print-address=1", NULL);
	g_assert_no_error(error);
	out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(d->proc));
	/* the address line comes once the daemon listens */
	d->address = read_line(out);
	if (!d->address)
		g_error("dbus-daemon --config-file=%s ended before it listened", config);
	g_strstrip(d->address);
	assert_bus_answers(d->address);
	return d;
}

TestDaemon *test_broker_start(const char *config, const char *socket_path, const char *log_path)
{
	g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
		G_SUBPROCESS_FLAGS_STDOUT_PIPE);
	g_autoptr(GError) error = NULL;
	g_autoptr(GDataInputStream) out = NULL;
	TestDaemon *d = g_new0(TestDaemon, 1);

	g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
	if (log_path)
		g_subprocess_launcher_set_stderr_file_path(launcher, log_path);
	d->proc = g_subprocess_launcher_spawn(launcher, &error, test_broker_launch_path(), config,
					      socket_path, NULL);
	g_assert_no_error(error);
	/* broker-launch prints the address once the socket listens: before
	 * that, a client finds no socket, or one that refuses it */
	out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(d->proc));
	d->address = read_line(out);
	if (!d->address)
		g_error("broker-launch %s %s ended before its bus listened", config, socket_path);
	/* and the broker behind it serves (it could still fail to start) */
	assert_bus_answers(d->address);
	return d;
}

static void wait_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	(void)g_subprocess_wait_finish(G_SUBPROCESS(source), res, NULL);
	*(gboolean *)user_data = TRUE;
}

void test_daemon_stop(TestDaemon *d)
{
	gboolean done = FALSE;

	if (!d)
		return;
	g_subprocess_send_signal(d->proc, SIGTERM);
	/* broker-launch returns once the broker is gone too */
	g_subprocess_wait_async(d->proc, NULL, wait_cb, &done);
	test_wait_for(&done);
	g_object_unref(d->proc);
	g_free(d->address);
	g_free(d);
}

TestHost *test_host_spawn(const char *address, const char *const *extra)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();

	g_ptr_array_add(argv, (gpointer)test_bus_host_path());
	g_ptr_array_add(argv, (gpointer) "--bus");
	g_ptr_array_add(argv, (gpointer)address);
	g_ptr_array_add(argv, (gpointer) "--name");
	g_ptr_array_add(argv, (gpointer) "test-vm");
	g_ptr_array_add(argv, (gpointer) "--uuid");
	g_ptr_array_add(argv, (gpointer)TEST_UUID);
	for (guint i = 0; extra && extra[i]; i++)
		g_ptr_array_add(argv, (gpointer)extra[i]);
	g_ptr_array_add(argv, NULL);

	return test_proc_spawn((const char *const *)argv->pdata);
}

TestHost *test_proc_spawn(const char *const *argv)
{
	g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(
		G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE);
	g_autoptr(GError) error = NULL;
	TestHost *host = g_new0(TestHost, 1);

	/* a critical in the bus module or ifcvfctl fails the test, not a log line */
	g_subprocess_launcher_setenv(launcher, "G_DEBUG", "fatal-criticals", TRUE);
	host->proc = g_subprocess_launcher_spawnv(launcher, argv, &error);
	g_assert_no_error(error);
	host->in = g_object_ref(g_subprocess_get_stdin_pipe(host->proc));
	host->out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(host->proc));
	return host;
}

TestHost *test_host_start(const char *address, const char *const *extra)
{
	TestHost *host = test_host_spawn(address, extra);
	g_autofree char *line = test_host_expect(host, "owned");

	return host;
}

char *test_host_expect(TestHost *host, const char *prefix)
{
	for (;;) {
		char *line = read_line(host->out);

		if (!line)
			g_error("the process ended while the test waited for '%s'", prefix);
		g_test_message("> %s", line);
		if (g_str_has_prefix(line, prefix))
			return line;
		g_free(line);
	}
}

void test_host_command(TestHost *host, const char *fmt, ...)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *cmd = NULL;
	g_autofree char *line = NULL;
	g_autofree char *reply = NULL;
	va_list ap;

	va_start(ap, fmt);
	cmd = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	line = g_strconcat(cmd, "\n", NULL);
	g_output_stream_write_all(host->in, line, strlen(line), NULL, NULL, &error);
	g_assert_no_error(error);
	/* "ok" or "error: ..." answer each command, in order */
	reply = test_host_expect(host, "");
	while (strcmp(reply, "ok") != 0 && !g_str_has_prefix(reply, "error")) {
		g_free(reply);
		reply = test_host_expect(host, "");
	}
	if (strcmp(reply, "ok") != 0)
		g_error("bus-host refused '%s': %s", cmd, reply);
}

int test_host_finish(TestHost *host)
{
	(void)g_output_stream_close(host->in, NULL, NULL);
	return test_proc_wait(host);
}

int test_proc_wait(TestHost *host)
{
	gboolean done = FALSE;

	g_subprocess_wait_async(host->proc, NULL, wait_cb, &done);
	test_wait_for(&done);
	return g_subprocess_get_if_exited(host->proc) ? g_subprocess_get_exit_status(host->proc)
						      : -1;
}

void test_host_free(TestHost *host)
{
	if (!host)
		return;
	/* no identifier once it was reaped */
	if (g_subprocess_get_identifier(host->proc)) {
		g_subprocess_force_exit(host->proc);
		(void)g_subprocess_wait(host->proc, NULL, NULL);
	}
	g_object_unref(host->in);
	g_object_unref(host->out);
	g_object_unref(host->proc);
	g_free(host);
}

GDBusConnection *test_bus_connect(const char *address)
{
	g_autoptr(GError) error = NULL;
	GDBusConnection *c = g_dbus_connection_new_for_address_sync(
		address,
		G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
		G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
		NULL, NULL, &error);

	g_assert_no_error(error);
	return c;
}

GVariant *test_call(GDBusConnection *c, const char *path, const char *iface,
		    const char *method, GVariant *args, GError **error)
{
	return g_dbus_connection_call_sync(c, TEST_BUS_NAME, path, iface, method, args, NULL,
					   G_DBUS_CALL_FLAGS_NONE, WAIT_SECONDS * 1000, NULL, error);
}

GVariant *test_get_property(GDBusConnection *c, const char *path, const char *iface,
			    const char *prop)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = test_call(c, path, "org.freedesktop.DBus.Properties", "Get",
					      g_variant_new("(ss)", iface, prop), &error);
	GVariant *value;

	g_assert_no_error(error);
	g_variant_get(reply, "(v)", &value);
	return value;
}

char *test_error_name(const GError *error)
{
	char *name = error ? g_dbus_error_get_remote_error(error) : NULL;

	return name ? name : g_strdup("");
}

GDBusNodeInfo *test_interface_xml(const char *name)
{
	g_autofree char *path = g_test_build_filename(G_TEST_DIST, "..", "data", "dbus-interfaces",
						      name, NULL);
	g_autofree char *text = NULL;
	g_autoptr(GError) error = NULL;
	GDBusNodeInfo *info;

	g_file_get_contents(path, &text, NULL, &error);
	g_assert_no_error(error);
	info = g_dbus_node_info_new_for_xml(text, &error);
	g_assert_no_error(error);
	return info;
}

static char *args_text(GDBusArgInfo **args)
{
	GString *s = g_string_new(NULL);

	for (guint i = 0; args && args[i]; i++)
		g_string_append_printf(s, "%s:%s ", args[i]->name, args[i]->signature);
	return g_string_free(s, FALSE);
}

static char *annotations_text(GDBusAnnotationInfo **a)
{
	GString *s = g_string_new(NULL);

	for (guint i = 0; a && a[i]; i++)
		g_string_append_printf(s, "%s=%s ", a[i]->key, a[i]->value);
	return g_string_free(s, FALSE);
}

/* Same methods (names, arguments), properties (type, access, annotations)
 * and signals, in any order. */
void test_assert_same_interface(GDBusInterfaceInfo *want, GDBusInterfaceInfo *got)
{
	guint n = 0;

	g_assert_nonnull(got);
	for (guint i = 0; want->methods && want->methods[i]; i++, n++) {
		GDBusMethodInfo *m = want->methods[i];
		GDBusMethodInfo *g = g_dbus_interface_info_lookup_method(got, m->name);
		g_autofree char *want_in = args_text(m->in_args);
		g_autofree char *want_out = args_text(m->out_args);
		g_autofree char *got_in = NULL;
		g_autofree char *got_out = NULL;

		g_assert_nonnull(g);
		got_in = args_text(g->in_args);
		got_out = args_text(g->out_args);
		g_assert_cmpstr(got_in, ==, want_in);
		g_assert_cmpstr(got_out, ==, want_out);
	}
	for (guint i = 0; got->methods && got->methods[i]; i++)
		n--;
	g_assert_cmpuint(n, ==, 0);

	for (guint i = 0; want->properties && want->properties[i]; i++, n++) {
		GDBusPropertyInfo *p = want->properties[i];
		GDBusPropertyInfo *g = g_dbus_interface_info_lookup_property(got, p->name);
		g_autofree char *want_a = annotations_text(p->annotations);
		g_autofree char *got_a = NULL;

		if (!g)
			g_error("property %s.%s is not on the live object", want->name, p->name);
		got_a = annotations_text(g->annotations);
		g_assert_cmpstr(g->signature, ==, p->signature);
		g_assert_cmpint(g->flags, ==, p->flags);
		g_assert_cmpstr(got_a, ==, want_a);
	}
	for (guint i = 0; got->properties && got->properties[i]; i++)
		n--;
	g_assert_cmpuint(n, ==, 0);

	for (guint i = 0; want->signals && want->signals[i]; i++, n++)
		g_assert_nonnull(g_dbus_interface_info_lookup_signal(got, want->signals[i]->name));
	for (guint i = 0; got->signals && got->signals[i]; i++)
		n--;
	g_assert_cmpuint(n, ==, 0);
}

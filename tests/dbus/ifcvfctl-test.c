/* ifcvfctl against bus-host processes on a private bus: list, status,
 * stats, watch and set-lm-mode, as tables and as JSON, and the exit codes
 * scripts rely on (0 ok, 1 refused, 2 usage, 3 no such VM, 4 no bus). */
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "dbus-test-util.h"

typedef struct {
	GTestDBus *dbus;
	char *bus_arg;       /* --bus=ADDRESS */
	const char *address;
	TestHost *host;
} Fixture;

static void setup(Fixture *fx, gconstpointer data)
{
	fx->dbus = g_test_dbus_new(G_TEST_DBUS_NONE);
	g_test_dbus_up(fx->dbus);
	fx->address = g_test_dbus_get_bus_address(fx->dbus);
	fx->bus_arg = g_strconcat("--bus=", fx->address, NULL);
	/* data == NULL: a bus with no helper */
	if (data)
		fx->host = test_host_start(fx->address, NULL);
}

static void teardown(Fixture *fx, gconstpointer data)
{
	if (fx->host) {
		g_assert_cmpint(test_host_finish(fx->host), ==, 0);
		test_host_free(fx->host);
	}
	g_free(fx->bus_arg);
	g_test_dbus_down(fx->dbus);
	g_object_unref(fx->dbus);
}

/* ifcvfctl --bus=... ARGS...; status, stdout and stderr */
static int ctl(Fixture *fx, char **ret_out, char **ret_err, const char *first, ...)
	G_GNUC_NULL_TERMINATED;
static int ctl(Fixture *fx, char **ret_out, char **ret_err, const char *first, ...)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	char *out = NULL, *err = NULL;
	va_list ap;
	int status;

	g_ptr_array_add(argv, (gpointer)test_ifcvfctl_path());
	if (fx)
		g_ptr_array_add(argv, fx->bus_arg);
	va_start(ap, first);
	for (const char *a = first; a; a = va_arg(ap, const char *))
		g_ptr_array_add(argv, (gpointer)a);
	va_end(ap);
	g_ptr_array_add(argv, NULL);
	status = test_run((const char *const *)argv->pdata, &out, &err);
	g_test_message("ifcvfctl %s ...: status %d\nstdout:\n%s\nstderr:\n%s", first, status, out,
		       err);
	if (ret_out)
		*ret_out = out;
	else
		g_free(out);
	if (ret_err)
		*ret_err = err;
	else
		g_free(err);
	return status;
}

static JsonNode *parse_json(const char *text)
{
	g_autoptr(GError) error = NULL;
	JsonNode *node = json_from_string(text, &error);

	g_assert_no_error(error);
	g_assert_nonnull(node);
	return node;
}

static void assert_has(const char *text, const char *want)
{
	if (!strstr(text, want))
		g_error("'%s' not found in:\n%s", want, text);
}

static void test_list(Fixture *fx, gconstpointer data)
{
	static const char *const other[] = { "--name", "other-vm", "--uuid",
					     "ffffffff-0000-4000-8000-000000000001", "--ports", "1",
					     NULL };
	g_autoptr(TestHost) second = test_host_start(fx->address, other);
	g_autofree char *out = NULL;
	g_autofree char *json = NULL;
	g_autoptr(JsonNode) root = NULL;
	JsonArray *array;
	JsonObject *vm, *port;

	test_host_command(fx->host, "state 0 running");
	g_assert_cmpint(ctl(fx, &out, NULL, "list", NULL), ==, 0);
	assert_has(out, "VM");
	assert_has(out, "MIGRATION");
	assert_has(out, "test-vm");
	assert_has(out, TEST_UUID);
	assert_has(out, "0:running 1:waiting");
	assert_has(out, "other-vm");
	/* sorted by bus name: 0a1b... before ffff... */
	g_assert_true(strstr(out, "test-vm") < strstr(out, "other-vm"));

	g_assert_cmpint(ctl(fx, &json, NULL, "list", "--json", NULL), ==, 0);
	root = parse_json(json);
	array = json_node_get_array(root);
	g_assert_cmpuint(json_array_get_length(array), ==, 2);
	vm = json_array_get_object_element(array, 0);
	g_assert_cmpstr(json_object_get_string_member(vm, "name"), ==, "test-vm");
	g_assert_cmpstr(json_object_get_string_member(vm, "uuid"), ==, TEST_UUID);
	g_assert_cmpstr(json_object_get_string_member(vm, "bus_name"), ==, TEST_BUS_NAME);
	g_assert_cmpstr(json_object_get_string_member(vm, "migration_phase"), ==, "none");
	g_assert_cmpint(json_object_get_int_member(vm, "pid"), ==,
			atoi(g_subprocess_get_identifier(fx->host->proc)));
	port = json_array_get_object_element(json_object_get_array_member(vm, "ports"), 0);
	g_assert_cmpint(json_object_get_int_member(port, "index"), ==, 0);
	g_assert_cmpstr(json_object_get_string_member(port, "state"), ==, "running");
	g_assert_cmpstr(json_object_get_string_member(port, "device"), ==,
			"vfio-user:/run/test/vf0.sock");
	g_assert_cmpint(test_host_finish(second), ==, 0);
}

static void test_list_empty(Fixture *fx, gconstpointer data)
{
	g_autofree char *out = NULL;
	g_autofree char *json = NULL;

	g_assert_cmpint(ctl(fx, &out, NULL, "list", NULL), ==, 0);
	g_assert_cmpstr(out, ==, "no VM is served on this bus\n");
	g_assert_cmpint(ctl(fx, &json, NULL, "--json", "list", NULL), ==, 0);
	g_assert_cmpstr(g_strstrip(json), ==, "[]");
}

static void test_status(Fixture *fx, gconstpointer data)
{
	/* by name, by UUID with dashes (any case), by the 32 digits */
	static const char *const vms[] = { "test-vm", "0A1B2C3D-4E5F-4061-8293-A4B5C6D7E8F9",
					   "0a1b2c3d4e5f40618293a4b5c6d7e8f9" };
	g_autofree char *json = NULL;
	g_autoptr(JsonNode) root = NULL;
	JsonObject *vm, *port;

	test_host_command(fx->host, "state 1 failed the VF was reset");
	test_host_command(fx->host, "features 1 0x130000020 0x100000020");
	test_host_command(fx->host, "announce 1 1");
	test_host_command(fx->host, "kicks 1 host-notifier relay off host-notifier");
	for (guint i = 0; i < G_N_ELEMENTS(vms); i++) {
		g_autofree char *out = NULL;

		g_assert_cmpint(ctl(fx, &out, NULL, "status", vms[i], NULL), ==, 0);
		assert_has(out, "VM:                    test-vm\n");
		assert_has(out, "UUID:                  " TEST_UUID "\n");
		assert_has(out, "Migration phase:       none\n");
		assert_has(out, "Restarts:              0\n");
		assert_has(out, "Port 1 (/org/ifcvf/Helper1/port/1)\n");
		assert_has(out, "State:               failed (the VF was reset)\n");
		/* labelled as the VF's, not taken for the guest's */
		assert_has(out, "VF MAC:              52:54:00:12:34:01 (the VF's; the guest may use "
				"another, the domain's <mac>)\n");
		assert_has(out, "Negotiated features: 0x0000000100000020\n");
		assert_has(out, "Guest announce:      yes\n");
		/* which path each running vring's kicks take */
		assert_has(out, "Kicks:               vring 0 host-notifier, vring 1 relay, "
				"vring 3 host-notifier\n");
		assert_has(out, "Socket:              /run/test/vhost0.sock\n");
	}

	g_assert_cmpint(ctl(fx, &json, NULL, "status", "--json", "test-vm", NULL), ==, 0);
	root = parse_json(json);
	vm = json_node_get_object(root);
	g_assert_cmpstr(json_object_get_string_member(vm, "version"), !=, "");
	port = json_array_get_object_element(json_object_get_array_member(vm, "ports"), 1);
	g_assert_cmpint(json_object_get_int_member(port, "index"), ==, 1);
	g_assert_cmpstr(json_object_get_string_member(port, "state"), ==, "failed");
	g_assert_cmpstr(json_object_get_string_member(port, "state_reason"), ==, "the VF was reset");
	g_assert_cmpint(json_object_get_int_member(port, "device_features"), ==, 0x130000020);
	g_assert_cmpint(json_object_get_int_member(port, "negotiated_features"), ==, 0x100000020);
	g_assert_cmpstr(json_object_get_string_member(port, "live_migration_mode"), ==, "hw");
	g_assert_true(json_object_get_boolean_member(port, "guest_announce"));
	g_assert_cmpstr(json_object_get_string_member(port, "device_type"), ==, "net");
	g_assert_cmpstr(json_object_get_string_member(port, "socket_path"), ==,
			"/run/test/vhost1.sock");
}

static void test_stats(Fixture *fx, gconstpointer data)
{
	g_autofree char *out = NULL;
	g_autofree char *one = NULL;
	g_autofree char *json = NULL;
	g_autofree char *err = NULL;
	g_autoptr(JsonNode) root = NULL;
	JsonObject *port, *stats;

	test_host_command(fx->host, "counter 1 kicks-relayed 123456789");
	test_host_command(fx->host, "counter 1 switchovers 3");
	g_assert_cmpint(ctl(fx, &out, NULL, "stats", "test-vm", NULL), ==, 0);
	assert_has(out, "PORT");
	assert_has(out, "COUNTER");
	g_assert_true(g_regex_match_simple("^1 +kicks-relayed +123456789$", out,
					      G_REGEX_MULTILINE, 0));
	g_assert_true(g_regex_match_simple("^0 +kicks-relayed +0$", out, G_REGEX_MULTILINE, 0));

	g_assert_cmpint(ctl(fx, &one, NULL, "stats", "test-vm", "1", NULL), ==, 0);
	g_assert_null(strstr(one, "\n0 "));
	g_assert_true(g_regex_match_simple("^1 +switchovers +3$", one, G_REGEX_MULTILINE, 0));

	g_assert_cmpint(ctl(fx, &json, NULL, "--json", "stats", TEST_UUID, "1", NULL), ==, 0);
	root = parse_json(json);
	g_assert_cmpstr(json_object_get_string_member(json_node_get_object(root), "name"), ==,
			"test-vm");
	port = json_array_get_object_element(
		json_object_get_array_member(json_node_get_object(root), "ports"), 0);
	g_assert_cmpint(json_object_get_int_member(port, "index"), ==, 1);
	stats = json_object_get_object_member(port, "stats");
	g_assert_cmpint(json_object_get_int_member(stats, "kicks-relayed"), ==, 123456789);
	g_assert_cmpint(json_object_get_int_member(stats, "switchovers"), ==, 3);

	g_assert_cmpint(ctl(fx, NULL, &err, "stats", "test-vm", "9", NULL), ==, 1);
	g_assert_cmpstr(err, ==, "ifcvfctl: stats: VM 'test-vm' has no port 9\n");
}

static TestHost *spawn_watch(Fixture *fx, gboolean json)
{
	const char *argv[] = { test_ifcvfctl_path(), fx->bus_arg, "watch", "test-vm",
			       json ? "--json" : NULL, NULL };

	return test_proc_spawn(argv);
}

static void test_watch(Fixture *fx, gconstpointer data)
{
	g_autoptr(TestHost) w = spawn_watch(fx, FALSE);
	g_autofree char *first = test_host_expect(w, "watching");
	g_autofree char *l1 = NULL, *l2 = NULL, *l3 = NULL, *l4 = NULL, *l5 = NULL, *l6 = NULL;

	g_assert_cmpstr(first, ==, "watching VM 'test-vm' (" TEST_UUID "), migration phase none, "
				   "2 port(s); interrupt to stop");
	test_host_command(fx->host, "state 0 running");
	test_host_command(fx->host, "phase setup");
	test_host_command(fx->host, "mode 1 sw");
	test_host_command(fx->host, "add 4 blk");
	l1 = test_host_expect(w, "");
	g_assert_true(g_str_has_suffix(l1, " port 0 State: waiting -> running"));
	l2 = test_host_expect(w, "");
	g_assert_true(g_str_has_suffix(l2, " vm MigrationPhase: none -> setup"));
	l3 = test_host_expect(w, "");
	g_assert_true(g_str_has_suffix(l3, " port 1 LiveMigrationMode: hw -> sw"));
	l4 = test_host_expect(w, "");
	g_assert_true(g_str_has_suffix(l4, " port 4 added: blk vfio-user:/run/test/vf4.sock, "
					   "state probed"));
	l5 = test_host_expect(w, "");
	g_assert_nonnull(strstr(l5, " vm Ports: "));
	/* the helper leaves: watch ends by itself, successfully */
	g_assert_cmpint(test_host_finish(fx->host), ==, 0);
	g_clear_pointer(&fx->host, test_host_free);
	l6 = test_host_expect(w, "");
	while (!g_str_has_suffix(l6, "the helper left the bus")) {
		g_free(l6);
		l6 = test_host_expect(w, "");
	}
	g_assert_cmpint(test_proc_wait(w), ==, 0);
}

static JsonObject *next_json(TestHost *w, JsonNode **ret_node)
{
	g_autofree char *line = test_host_expect(w, "{");

	*ret_node = parse_json(line);
	return json_node_get_object(*ret_node);
}

static void test_watch_json(Fixture *fx, gconstpointer data)
{
	g_autoptr(TestHost) w = spawn_watch(fx, TRUE);
	g_autoptr(JsonNode) n1 = NULL, n2 = NULL, n3 = NULL, n4 = NULL;
	JsonObject *o;

	o = next_json(w, &n1);
	g_assert_cmpstr(json_object_get_string_member(o, "event"), ==, "watching");
	g_assert_cmpstr(json_object_get_string_member(o, "uuid"), ==, TEST_UUID);
	g_assert_cmpuint(json_array_get_length(json_object_get_array_member(o, "ports")), ==, 2);

	test_host_command(fx->host, "state 1 failed no vhost-user frontend");
	o = next_json(w, &n2);
	g_assert_cmpstr(json_object_get_string_member(o, "event"), ==, "changed");
	g_assert_cmpstr(json_object_get_string_member(o, "object"), ==, "port");
	g_assert_cmpint(json_object_get_int_member(o, "port"), ==, 1);
	g_assert_cmpstr(json_object_get_string_member(json_object_get_object_member(o, "changed"),
						      "state"), ==, "failed");
	g_assert_cmpstr(json_object_get_string_member(json_object_get_object_member(o, "changed"),
						      "state_reason"), ==, "no vhost-user frontend");
	g_assert_cmpstr(json_object_get_string_member(json_object_get_object_member(o, "previous"),
						      "state"), ==, "waiting");
	g_assert_true(json_object_has_member(o, "time"));

	test_host_command(fx->host, "phase incoming");
	o = next_json(w, &n3);
	g_assert_cmpstr(json_object_get_string_member(o, "object"), ==, "vm");
	g_assert_cmpstr(json_object_get_string_member(json_object_get_object_member(o, "changed"),
						      "migration_phase"), ==, "incoming");

	g_assert_cmpint(test_host_finish(fx->host), ==, 0);
	g_clear_pointer(&fx->host, test_host_free);
	o = next_json(w, &n4);
	g_assert_cmpstr(json_object_get_string_member(o, "event"), ==, "gone");
	g_assert_cmpint(test_proc_wait(w), ==, 0);
}

static void test_watch_interrupted(Fixture *fx, gconstpointer data)
{
	g_autoptr(TestHost) w = spawn_watch(fx, FALSE);
	g_autofree char *first = test_host_expect(w, "watching");

	g_subprocess_send_signal(w->proc, SIGINT);
	g_assert_cmpint(test_proc_wait(w), ==, 0);
}

static void test_set_lm_mode(Fixture *fx, gconstpointer data)
{
	g_autofree char *out = NULL;
	g_autofree char *json = NULL;
	g_autofree char *err = NULL;
	g_autofree char *err2 = NULL;
	g_autofree char *status = NULL;
	g_autofree char *line = NULL;
	g_autoptr(JsonNode) root = NULL;

	g_assert_cmpint(ctl(fx, &out, NULL, "set-lm-mode", "test-vm", "1", "sw", NULL), ==, 0);
	g_assert_cmpstr(out, ==, "port 1 of VM 'test-vm': live-migration mode sw\n");
	line = test_host_expect(fx->host, "set-lm-mode");
	g_assert_cmpstr(line, ==, "set-lm-mode 1 sw");
	g_assert_cmpint(ctl(fx, &status, NULL, "status", "test-vm", NULL), ==, 0);
	g_assert_true(g_regex_match_simple("Port 1 .*\n(.*\n)*  Migration mode: +sw\n", status,
					      0, 0));

	g_assert_cmpint(ctl(fx, &json, NULL, "--json", "set-lm-mode", TEST_UUID, "0", "sw", NULL),
			==, 0);
	root = parse_json(json);
	g_assert_cmpstr(json_object_get_string_member(json_node_get_object(root),
						      "live_migration_mode"), ==, "sw");

	/* refused by the helper: status 1, the reason and the error name */
	test_host_command(fx->host, "refuse 0 busy");
	g_assert_cmpint(ctl(fx, NULL, &err, "set-lm-mode", "test-vm", "0", "hw", NULL), ==, 1);
	g_assert_cmpstr(err, ==, "ifcvfctl: set-lm-mode: port 0 of VM 'test-vm': a live migration "
				 "is under way (org.ifcvf.Helper1.Error.Busy)\n");
	g_assert_cmpint(ctl(fx, NULL, &err2, "set-lm-mode", "test-vm", "5", "hw", NULL), ==, 1);
	assert_has(err2, "(org.ifcvf.Helper1.Error.UnknownPort)");
}

static void test_no_such_vm(Fixture *fx, gconstpointer data)
{
	static const char *const cmds[][4] = {
		{ "status", "nope", NULL },
		{ "stats", "nope", "0", NULL },
		{ "watch", "nope", NULL },
		{ "set-lm-mode", "nope", "0", "hw" },
		{ "status", "12345678-1234-1234-1234-123456789abc", NULL },
	};

	for (guint i = 0; i < G_N_ELEMENTS(cmds); i++) {
		g_autofree char *err = NULL;

		g_assert_cmpint(ctl(fx, NULL, &err, cmds[i][0], cmds[i][1], cmds[i][2], cmds[i][3],
				    NULL), ==, 3);
		assert_has(err, "no helper serves VM '");
	}
}

static void test_no_bus(void)
{
	g_autofree char *err = NULL;
	g_autofree char *err2 = NULL;

	g_assert_cmpint(ctl(NULL, NULL, &err, "--bus", "unix:path=/nonexistent/bus", "list", NULL),
			==, 4);
	g_assert_cmpstr(err, ==, "ifcvfctl: list: cannot reach unix:path=/nonexistent/bus: Could "
				 "not connect: No such file or directory\n");
	g_assert_cmpint(ctl(NULL, NULL, &err2, "--bus", "unix:path=/nonexistent/bus", "status",
			    "vm", NULL), ==, 4);
}

static void test_usage(Fixture *fx, gconstpointer data)
{
	static const char *const cmds[][5] = {
		{ NULL },
		{ "frobnicate", NULL },
		{ "list", "extra", NULL },
		{ "status", NULL },
		{ "status", "a", "b", NULL },
		{ "stats", "test-vm", "0", "1", NULL },
		{ "stats", "test-vm", "zero", NULL },
		{ "watch", NULL },
		{ "set-lm-mode", "test-vm", "0", NULL },
		{ "set-lm-mode", "test-vm", "0", "fast", NULL },
		{ "set-lm-mode", "test-vm", "-1", "hw", NULL },
		{ "--no-such-option", "list", NULL },
	};
	g_autofree char *help = NULL;
	g_autofree char *err = NULL;

	for (guint i = 0; i < G_N_ELEMENTS(cmds); i++) {
		g_autofree char *e = NULL;

		g_assert_cmpint(ctl(fx, NULL, &e, cmds[i][0], cmds[i][1], cmds[i][2], cmds[i][3],
				    cmds[i][4], NULL), ==, 2);
		/* one line, named after the program */
		g_assert_true(g_str_has_prefix(e, "ifcvfctl: "));
		g_assert_cmpuint(strchr(e, '\n') - e + 1, ==, strlen(e));
	}
	g_assert_cmpint(ctl(NULL, NULL, &err, "--bus", "nonsense", "list", NULL), ==, 2);
	g_assert_cmpint(ctl(NULL, &help, NULL, "--help", NULL), ==, 0);
	assert_has(help, "Exit status:");
	assert_has(help, "3  no helper serves that VM");
	assert_has(help, "4  the bus cannot be reached");
	assert_has(help, "set-lm-mode VM PORT hw|sw");
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(name, with_host, fn) \
	g_test_add("/ifcvf-helper/ifcvfctl/" name, Fixture, (with_host) ? "host" : NULL, setup, \
		   fn, teardown)
	ADD("list", TRUE, test_list);
	ADD("list-empty", FALSE, test_list_empty);
	ADD("status", TRUE, test_status);
	ADD("stats", TRUE, test_stats);
	ADD("watch", TRUE, test_watch);
	ADD("watch-json", TRUE, test_watch_json);
	ADD("watch-interrupted", TRUE, test_watch_interrupted);
	ADD("set-lm-mode", TRUE, test_set_lm_mode);
	ADD("no-such-vm", TRUE, test_no_such_vm);
	ADD("usage", TRUE, test_usage);
#undef ADD
	g_test_add_func("/ifcvf-helper/ifcvfctl/no-bus", test_no_bus);
	return g_test_run();
}

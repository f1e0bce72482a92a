/* The real helper on a private bus: a dbus-daemon of the test's own, the
 * real `ifcvf-helper run --bus ADDRESS`, the real ifcvf-emu (--wire loop)
 * and dpdk-testpmd's virtio-user as the frontend. What clients see follows
 * what the datapath does: Port.State goes waiting -> connected -> running ->
 * (stopped ->) waiting as testpmd comes and goes (PropertiesChanged, in
 * order), GetStats counters grow with traffic, ifcvfctl and busctl show the
 * helper as the XML says, SetLiveMigrationMode refuses "hw" on a VF without
 * the BAR4 block, Shutdown() stops the helper like SIGTERM, and a second
 * helper for the same VM does not start. A vhost-user frontend of the test's own
 * (tests/lib) turns dirty logging on and off: State shows logging-hw and
 * relaying-sw, SetLiveMigrationMode answers Busy meanwhile. Without
 * --libvirt-uri the helper does not map libvirt.so.0.
 *
 * Every wait is for an event (a signal, a log line, an exit) and bounded
 * only to turn a hang into a failure; no assertion depends on a time. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "datapath-util.h"
#include "dbus-test-util.h"
#include "test-guest.h"
#include "virtq-drv.h"
#include "vu-frontend.h"

#define VM_NAME     "bus-vm"
#define ROOT_PATH   "/org/ifcvf/Helper1"
#define PORT_PATH   "/org/ifcvf/Helper1/port/"
#define PORT_IFACE  "org.ifcvf.Helper1.Port"
#define DOMAIN_IFACE "org.ifcvf.Helper1.Domain"
#define WAIT_S      60   /* a hang, not a slow machine */

static const char bus_config_fmt[] =
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

/* A private bus and what the test has seen on it. */
typedef struct {
	char *dir;
	TestDaemon *daemon;
	GDBusConnection *c;
	guint props_sub;
	guint name_watch;
	gboolean owned;            /* TEST_BUS_NAME has an owner */
	GHashTable *states;        /* port path -> GPtrArray of State values, in order */
	GPtrArray *procs;          /* DpProc *, stopped at the end */
} Rig;

static void props_changed_cb(GDBusConnection *c, const char *sender, const char *path,
			     const char *iface, const char *signal, GVariant *params,
			     gpointer user_data)
{
	Rig *r = user_data;
	const char *changed_iface, *state;
	g_autoptr(GVariant) changed = NULL;

	g_variant_get(params, "(&s@a{sv}@as)", &changed_iface, &changed, NULL);
	if (strcmp(changed_iface, PORT_IFACE) != 0 ||
	    !g_variant_lookup(changed, "State", "&s", &state))
		return;
	g_test_message("%s: State %s", path, state);
	if (!g_hash_table_contains(r->states, path))
		g_hash_table_insert(r->states, g_strdup(path), g_ptr_array_new_with_free_func(g_free));
	g_ptr_array_add(g_hash_table_lookup(r->states, path), g_strdup(state));
}

static void name_appeared_cb(GDBusConnection *c, const char *name, const char *owner,
			     gpointer user_data)
{
	((Rig *)user_data)->owned = TRUE;
}

static void name_vanished_cb(GDBusConnection *c, const char *name, gpointer user_data)
{
	((Rig *)user_data)->owned = FALSE;
}

static void rig_connect(Rig *r);

static Rig *rig_new(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *config = NULL;
	g_autofree char *config_path = NULL;
	Rig *r = g_new0(Rig, 1);

	r->dir = g_dir_make_tmp("ifcvf-hb-XXXXXX", &error);
	g_assert_no_error(error);
	config = g_strdup_printf(bus_config_fmt, r->dir);
	config_path = g_build_filename(r->dir, "bus.conf", NULL);
	g_file_set_contents(config_path, config, -1, &error);
	g_assert_no_error(error);
	r->daemon = test_daemon_start(config_path);
	r->states = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					  (GDestroyNotify)g_ptr_array_unref);
	r->procs = g_ptr_array_new();
	rig_connect(r);
	return r;
}

/* the test's own connection to the rig's bus */
static void rig_connect(Rig *r)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) id = NULL;

	r->c = test_bus_connect(r->daemon->address);
	r->owned = FALSE;
	/* any sender: only the helper serves ports on this bus */
	r->props_sub = g_dbus_connection_signal_subscribe(
		r->c, NULL, "org.freedesktop.DBus.Properties", "PropertiesChanged", NULL, NULL,
		G_DBUS_SIGNAL_FLAGS_NONE, props_changed_cb, r, NULL);
	r->name_watch = g_bus_watch_name_on_connection(r->c, TEST_BUS_NAME,
						       G_BUS_NAME_WATCHER_FLAGS_NONE,
						       name_appeared_cb, name_vanished_cb, r, NULL);
	/* a round trip: the bus has the match rules before any helper runs */
	id = g_dbus_connection_call_sync(r->c, "org.freedesktop.DBus", "/org/freedesktop/DBus",
					 "org.freedesktop.DBus", "GetId", NULL, NULL,
					 G_DBUS_CALL_FLAGS_NONE, 10000, NULL, &error);
	g_assert_no_error(error);
}

static void rig_disconnect(Rig *r)
{
	g_bus_unwatch_name(r->name_watch);
	g_dbus_connection_signal_unsubscribe(r->c, r->props_sub);
	(void)g_dbus_connection_close_sync(r->c, NULL, NULL);
	g_clear_object(&r->c);
}

static void rm_tree(const char *path)
{
	g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
	const char *name;

	while (d && (name = g_dir_read_name(d))) {
		g_autofree char *child = g_build_filename(path, name, NULL);

		if (g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
			rm_tree(child);
		else
			(void)g_unlink(child);
	}
	(void)g_rmdir(path);
}

static void rig_free(Rig *r)
{
	for (guint i = r->procs->len; i > 0; i--) {
		DpProc *p = g_ptr_array_index(r->procs, i - 1);

		if (dp_proc_alive(p))
			(void)dp_proc_stop(p, 30);
		dp_proc_free(p);
	}
	g_ptr_array_unref(r->procs);
	rig_disconnect(r);
	test_daemon_stop(r->daemon);
	g_hash_table_unref(r->states);
	rm_tree(r->dir);
	g_free(r->dir);
	g_free(r);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Rig, rig_free)

/* ---- waiting for events ---- */

static gboolean expired_cb(gpointer user_data)
{
	*(gboolean *)user_data = TRUE;
	return G_SOURCE_REMOVE;
}

/* Iterate the main context until @cond holds; fail after @seconds. */
static void wait_until_s(gboolean (*cond)(Rig *r, gconstpointer data), Rig *r,
			 gconstpointer data, const char *what, guint seconds)
{
	gboolean expired = FALSE;
	guint id = g_timeout_add_seconds(seconds, expired_cb, &expired);

	while (!cond(r, data) && !expired)
		g_main_context_iteration(NULL, TRUE);
	if (!cond(r, data))
		g_error("%s did not happen within %u s", what, seconds);
	g_source_remove(id);
}

/* the same, failing after WAIT_S */
static void wait_until(gboolean (*cond)(Rig *r, gconstpointer data), Rig *r, gconstpointer data,
		       const char *what)
{
	wait_until_s(cond, r, data, what, WAIT_S);
}

static GPtrArray *states_of(Rig *r, guint port)
{
	g_autofree char *path = g_strdup_printf(PORT_PATH "%u", port);

	return g_hash_table_lookup(r->states, path);
}

static const char *last_state(Rig *r, guint port)
{
	GPtrArray *s = states_of(r, port);

	return s && s->len ? g_ptr_array_index(s, s->len - 1) : "";
}

typedef struct {
	guint port;
	const char *state;
	guint after;   /* only changes past this many count */
} StateWait;

static gboolean state_seen(Rig *r, gconstpointer data)
{
	const StateWait *w = data;
	GPtrArray *s = states_of(r, w->port);

	for (guint i = w->after; s && i < s->len; i++)
		if (g_str_equal(g_ptr_array_index(s, i), w->state))
			return TRUE;
	return FALSE;
}

static gboolean last_state_is(Rig *r, gconstpointer data)
{
	const StateWait *w = data;
	GPtrArray *s = states_of(r, w->port);

	return s && s->len > w->after && g_str_equal(last_state(r, w->port), w->state);
}

static guint n_states(Rig *r, guint port)
{
	GPtrArray *s = states_of(r, port);

	return s ? s->len : 0;
}

static gboolean is_owned(Rig *r, gconstpointer data)
{
	return r->owned == GPOINTER_TO_INT(data);
}

/* ---- the helper ---- */

static DpProc *helper_spawn(Rig *r, const char *log_name, const char *name,
			    const char *const *port_specs)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	DpProc *p;

	g_ptr_array_add(argv, (gpointer)test_program("IFCVF_HELPER"));
	g_ptr_array_add(argv, (gpointer) "run");
	g_ptr_array_add(argv, (gpointer) "--bus");
	g_ptr_array_add(argv, r->daemon->address);
	g_ptr_array_add(argv, (gpointer) "--uuid");
	g_ptr_array_add(argv, (gpointer)TEST_UUID);
	g_ptr_array_add(argv, (gpointer) "--name");
	g_ptr_array_add(argv, (gpointer)name);
	for (guint i = 0; port_specs[i]; i++) {
		g_ptr_array_add(argv, (gpointer) "--port");
		g_ptr_array_add(argv, (gpointer)port_specs[i]);
	}
	g_ptr_array_add(argv, NULL);
	p = dp_proc_spawn(r->dir, log_name, (const char *const *)argv->pdata, FALSE);
	g_ptr_array_add(r->procs, p);
	return p;
}

/* Spawn the helper and wait until it owns the name and every port waits
 * for its frontend. */
static DpProc *helper_start(Rig *r, const char *name, const char *const *port_specs)
{
	DpProc *p = helper_spawn(r, "helper", name, port_specs);

	wait_until(is_owned, r, GINT_TO_POINTER(TRUE), "the helper owning its name");
	for (guint i = 0; port_specs[i]; i++) {
		StateWait w = { i, "waiting", 0 };

		wait_until(state_seen, r, &w, "a port going to waiting");
	}
	return p;
}


/* A helper without --libvirt-uri (as here: plain QEMU) must not map
 * libvirt.so.0 and the ~35 libraries it pulls in (issue 16). The file name
 * is looked for: the worktree's path may say "libvirt". */
static void assert_no_libvirt(DpProc *helper)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/maps", (int)helper->pid);
	g_autofree char *maps = NULL;

	g_assert_true(g_file_get_contents(path, &maps, NULL, NULL));
	if (strstr(maps, "/libvirt.so."))
		g_error("the helper maps libvirt.so.0 without --libvirt-uri");
}

/* ---- D-Bus reads ---- */

static char *port_path(guint port)
{
	return g_strdup_printf(PORT_PATH "%u", port);
}

static char *get_string(Rig *r, guint port, const char *prop)
{
	g_autofree char *path = port_path(port);
	g_autoptr(GVariant) v = test_get_property(r->c, path, PORT_IFACE, prop);

	return g_variant_dup_string(v, NULL);
}

static guint64 get_uint(Rig *r, guint port, const char *prop)
{
	g_autofree char *path = port_path(port);
	g_autoptr(GVariant) v = test_get_property(r->c, path, PORT_IFACE, prop);

	return g_variant_is_of_type(v, G_VARIANT_TYPE_UINT32) ? g_variant_get_uint32(v)
							       : g_variant_get_uint64(v);
}

typedef struct {
	guint64 kicks, dma_maps, starts, stops, errors, config_irqs;
} Stats;

static void get_stats(Rig *r, guint port, Stats *ret)
{
	g_autofree char *path = port_path(port);
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = test_call(r->c, path, PORT_IFACE, "GetStats", NULL, &error);
	g_autoptr(GVariant) dict = NULL;

	g_assert_no_error(error);
	dict = g_variant_get_child_value(reply, 0);
	memset(ret, 0, sizeof(*ret));
	g_assert_true(g_variant_lookup(dict, "kicks-relayed", "t", &ret->kicks));
	g_assert_true(g_variant_lookup(dict, "dma-maps", "t", &ret->dma_maps));
	g_assert_true(g_variant_lookup(dict, "starts", "t", &ret->starts));
	g_assert_true(g_variant_lookup(dict, "stops", "t", &ret->stops));
	g_assert_true(g_variant_lookup(dict, "errors", "t", &ret->errors));
	g_assert_true(g_variant_lookup(dict, "config-interrupts", "t", &ret->config_irqs));
	/* the live-migration counters are there too */
	for (const char *const *k = (const char *const[]){ "relayed-used-entries", "pages-logged",
							    "switchovers", "rollbacks", NULL };
	     *k; k++)
		g_assert_true(g_variant_lookup(dict, *k, "t", NULL));
	g_test_message("port %u: kicks %" G_GUINT64_FORMAT " dma-maps %" G_GUINT64_FORMAT
		       " starts %" G_GUINT64_FORMAT " stops %" G_GUINT64_FORMAT " errors %"
		       G_GUINT64_FORMAT, port, ret->kicks, ret->dma_maps, ret->starts, ret->stops,
		       ret->errors);
}

/* Run a program (argv[0] from PATH or a full path); its exit status,
 * stdout+stderr in @ret_out. */
static int run_tool(char **ret_out, const char *const *argv)
{
	g_autofree char *out = NULL;
	g_autofree char *err = NULL;
	g_autofree char *cmd = g_strjoinv(" ", (char **)argv);
	int status = test_run(argv, &out, &err);

	g_test_message("$ %s\nstatus %d\nstdout:\n%s\nstderr:\n%s", cmd, status, out, err);
	*ret_out = g_strconcat(out, err, NULL);
	return status;
}

static int ifcvfctl(Rig *r, char **ret_out, const char *const *args)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();

	g_ptr_array_add(argv, (gpointer)test_ifcvfctl_path());
	g_ptr_array_add(argv, (gpointer) "--bus");
	g_ptr_array_add(argv, r->daemon->address);
	for (guint i = 0; args[i]; i++)
		g_ptr_array_add(argv, (gpointer)args[i]);
	g_ptr_array_add(argv, NULL);
	return run_tool(ret_out, (const char *const *)argv->pdata);
}

/* columns padded with spaces squeezed to one */
static char *squeeze(const char *text)
{
	g_autoptr(GRegex) re = g_regex_new(" +", 0, 0, NULL);

	return g_regex_replace_literal(re, text, -1, 0, " ", 0, NULL);
}

static void assert_has(const char *text, const char *want)
{
	if (!strstr(text, want))
		g_error("'%s' not found in:\n%s", want, text);
}

/* ---- tests ---- */

/* busctl's view of the live port and domain is the interface XML */
static void check_introspection(Rig *r)
{
	g_autofree char *busctl = g_find_program_in_path("busctl");
	g_autofree char *address_arg = g_strconcat("--address=", r->daemon->address, NULL);
	static const struct {
		const char *path, *iface, *file;
	} objs[] = {
		{ ROOT_PATH, DOMAIN_IFACE, "org.ifcvf.Helper1.Domain.xml" },
		{ PORT_PATH "0", PORT_IFACE, "org.ifcvf.Helper1.Port.xml" },
	};

	if (!busctl) {
		g_test_message("busctl is not installed (Debian package systemd): introspection "
			       "left to bus-tools");
		return;
	}
	for (guint i = 0; i < G_N_ELEMENTS(objs); i++) {
		const char *argv[] = { "busctl", address_arg, "introspect", "--xml-interface",
				       TEST_BUS_NAME, objs[i].path, NULL };
		g_autofree char *out = NULL;
		g_autoptr(GError) error = NULL;
		g_autoptr(GDBusNodeInfo) want = test_interface_xml(objs[i].file);
		g_autoptr(GDBusNodeInfo) got = NULL;

		g_assert_cmpint(run_tool(&out, argv), ==, 0);
		got = g_dbus_node_info_new_for_xml(out, &error);
		g_assert_no_error(error);
		test_assert_same_interface(want->interfaces[0],
					   g_dbus_node_info_lookup_interface(got, objs[i].iface));
	}
	/* and the values busctl prints are the real port's */
	{
		const char *argv[] = { "busctl", address_arg, "introspect", TEST_BUS_NAME,
				       PORT_PATH "0", PORT_IFACE, NULL };
		g_autofree char *out = NULL;
		g_autofree char *flat = NULL;

		g_assert_cmpint(run_tool(&out, argv), ==, 0);
		flat = squeeze(out);
		assert_has(flat, ".DeviceType property s \"net\" const");
		assert_has(flat, ".State property s \"waiting\" emits-change");
		assert_has(flat, ".QueuePairs property u 2 emits-change");
	}
}

/* Two testpmd sessions one after the other: State follows each, the
 * counters grow with each, the tools show it; then Shutdown(). */
static void test_lifecycle(void)
{
	g_autoptr(Rig) r = rig_new();
	g_autofree char *emu_stats = g_build_filename(r->dir, "emu-stats.json", NULL);
	g_autoptr(TestEmu) emu = test_emu_start((const char *const[]){
		"--type", "net", "--queue-pairs", "2", "--wire", "loop", "--stats-file", emu_stats,
		NULL });
	g_autofree char *socket = g_build_filename(r->dir, "vhost.sock", NULL);
	g_autofree char *spec = g_strdup_printf("device=%s,socket=%s", emu->address, socket);
	g_autofree char *vdev = g_strdup_printf("path=%s,queues=2", socket);
	g_autofree char *mac = NULL;
	g_autofree char *device = NULL;
	Stats before, after = { 0 };
	DpProc *helper;
	int status;

	helper = helper_start(r, VM_NAME, (const char *const[]){ spec, NULL });
	assert_no_libvirt(helper);
	device = get_string(r, 0, "Device");
	g_assert_cmpstr(device, ==, emu->address);
	mac = get_string(r, 0, "Mac");
	g_assert_cmpuint(strlen(mac), ==, 17);
	g_assert_cmpuint(get_uint(r, 0, "QueuePairs"), ==, 2);
	g_assert_cmpuint(get_uint(r, 0, "DeviceFeatures"), !=, 0);
	g_assert_cmpuint(get_uint(r, 0, "EnabledQueues"), ==, 0);
	{
		g_autofree char *mode = get_string(r, 0, "LiveMigrationMode");

		g_assert_cmpstr(mode, ==, "hw");
	}
	get_stats(r, 0, &before);
	g_assert_cmpuint(before.starts, ==, 0);
	g_assert_cmpuint(before.dma_maps, ==, 0);
	check_introspection(r);
	{
		g_autofree char *out = NULL;
		g_autofree char *flat = NULL;

		g_assert_cmpint(ifcvfctl(r, &out, (const char *const[]){ "list", NULL }), ==, 0);
		flat = squeeze(out);
		assert_has(flat, VM_NAME " " TEST_UUID " ");
		assert_has(flat, " none 0:waiting\n");
	}

	for (guint session = 0; session < 2; session++) {
		g_autofree char *prefix = g_strdup_printf("hb%u", session);
		guint from = n_states(r, 0);
		StateWait running = { 0, "running", from };
		g_autoptr(DpProc) tp = NULL;
		GPtrArray *seen;
		guint64 rx0, rx, tx;

		tp = dp_testpmd_start(r->dir, prefix, vdev, 2, TRUE);
		wait_until(state_seen, r, &running, "State running");
		dp_testpmd_port_stats(tp, &rx0, &tx);
		dp_proc_send(tp, "start tx_first");
		/* until frames went round the loop wire */
		for (gint64 deadline = g_get_monotonic_time() + WAIT_S * G_USEC_PER_SEC;;) {
			dp_testpmd_port_stats(tp, &rx, &tx);
			if (rx - rx0 >= 2000)
				break;
			if (g_get_monotonic_time() > deadline)
				g_error("testpmd received %" G_GUINT64_FORMAT " frames in %d s",
					rx - rx0, WAIT_S);
			g_usleep(100 * 1000);
		}
		get_stats(r, 0, &after);
		g_assert_cmpuint(after.starts, ==, before.starts + 1);
		g_assert_cmpuint(after.kicks, >, before.kicks);
		g_assert_cmpuint(after.dma_maps, >, before.dma_maps);
		g_assert_cmpuint(after.errors, ==, 0);
		g_assert_cmpuint(get_uint(r, 0, "EnabledQueues"), ==, 4);
		g_assert_cmpuint(get_uint(r, 0, "NegotiatedFeatures"), !=, 0);

		if (session == 0) {
			g_autofree char *out = NULL;
			g_autofree char *flat = NULL;

			g_assert_cmpint(ifcvfctl(r, &out, (const char *const[]){ "list", NULL }), ==, 0);
			flat = squeeze(out);
			assert_has(flat, VM_NAME " " TEST_UUID " ");
			assert_has(flat, " 0:running\n");
			g_clear_pointer(&out, g_free);
			g_clear_pointer(&flat, g_free);
			g_assert_cmpint(ifcvfctl(r, &out, (const char *const[]){ "status", VM_NAME,
										  NULL }), ==, 0);
			flat = squeeze(out);
			assert_has(flat, "VM: " VM_NAME "\n");
			assert_has(flat, "Device: ");
			assert_has(flat, emu->address);
			assert_has(flat, "State: running (");
			assert_has(flat, "Queue pairs: 2 (4 queues enabled)\n");
			g_clear_pointer(&out, g_free);
			g_clear_pointer(&flat, g_free);
			g_assert_cmpint(ifcvfctl(r, &out, (const char *const[]){ "--json", "stats",
										  TEST_UUID, "0", NULL }), ==, 0);
			{
				g_autoptr(JsonParser) parser = json_parser_new();
				g_autoptr(GError) error = NULL;
				JsonObject *root, *port, *counters;

				json_parser_load_from_data(parser, out, -1, &error);
				g_assert_no_error(error);
				root = json_node_get_object(json_parser_get_root(parser));
				g_assert_cmpstr(json_object_get_string_member(root, "name"), ==, VM_NAME);
				port = json_array_get_object_element(
					json_object_get_array_member(root, "ports"), 0);
				counters = json_object_get_object_member(port, "stats");
				/* counters only grow: at least what GetStats said a moment ago */
				g_assert_cmpint(json_object_get_int_member(counters, "kicks-relayed"), >=,
						(gint64)after.kicks);
				g_assert_cmpint(json_object_get_int_member(counters, "dma-maps"), >=,
						(gint64)after.dma_maps);
				g_assert_cmpint(json_object_get_int_member(counters, "starts"), ==, 1);
			}
		}

		(void)dp_testpmd_stop_fwd(tp);
		dp_testpmd_quit(tp);
		{
			StateWait waiting = { 0, "waiting", running.after };

			wait_until(last_state_is, r, &waiting, "State waiting after testpmd quit");
		}
		/* exactly: connected (testpmd setting the device up), running,
		 * then stopped (device stopped) and/or waiting (frontend gone);
		 * nothing failed */
		seen = states_of(r, 0);
		{
			g_autoptr(GString) all = g_string_new(NULL);
			guint i = from;

			for (guint j = from; j < seen->len; j++)
				g_string_append_printf(all, " %s", (char *)g_ptr_array_index(seen, j));
			g_test_message("session %u: States%s", session, all->str);
			if (i >= seen->len || !g_str_equal(g_ptr_array_index(seen, i), "connected"))
				g_error("session %u: not connected first:%s", session, all->str);
			while (i < seen->len && g_str_equal(g_ptr_array_index(seen, i), "connected"))
				i++;
			if (i >= seen->len || !g_str_equal(g_ptr_array_index(seen, i), "running"))
				g_error("session %u: not running after connected:%s", session, all->str);
			for (i++; i < seen->len; i++) {
				const char *s = g_ptr_array_index(seen, i);

				if (!g_str_equal(s, "stopped") && !g_str_equal(s, "waiting"))
					g_error("State went %s after running:%s", s, all->str);
			}
		}
		before = after;
		get_stats(r, 0, &after);
		g_assert_cmpuint(after.stops, ==, session + 1);
		g_assert_cmpuint(after.kicks, >=, before.kicks);
		before = after;
	}
	g_assert_cmpuint(get_uint(r, 0, "EnabledQueues"), ==, 0);

	/* Shutdown(): the same stop as SIGTERM; the name goes after the socket */
	{
		g_autoptr(GError) error = NULL;
		g_autoptr(GVariant) reply = test_call(r->c, ROOT_PATH, DOMAIN_IFACE, "Shutdown", NULL,
						      &error);
		DpEmuStats e;

		g_assert_no_error(error);
		status = dp_proc_wait_exit(helper, 30);
		g_assert_true(WIFEXITED(status));
		g_assert_cmpint(WEXITSTATUS(status), ==, 0);
		wait_until(is_owned, r, GINT_TO_POINTER(FALSE), "the name going away");
		g_assert_false(g_file_test(socket, G_FILE_TEST_EXISTS));
		dp_proc_wait_log(helper, "Shutdown() called over D-Bus, shutting down", 0, 1);
		dp_proc_wait_log(helper, ": stopped\n", 0, 1);
		/* and let the VF go */
		dp_emu_stats(emu, emu_stats, &e);
		g_assert_cmpuint(e.dma_maps, ==, 0);
		g_assert_cmpuint(e.enabled, ==, 0);
	}
}

/* SetLiveMigrationMode on a VF without the BAR4 block (run with
 * sw-live-migration=1) and on one with it, over D-Bus and ifcvfctl. */
static void test_lm_mode(void)
{
	g_autoptr(Rig) r = rig_new();
	g_autoptr(TestEmu) nolm = test_emu_start((const char *const[]){ "--type", "net", "--no-lm",
									NULL });
	g_autoptr(TestEmu) lm = test_emu_start((const char *const[]){ "--type", "net", NULL });
	g_autofree char *spec0 = g_strdup_printf("device=%s,socket=%s/v0.sock,sw-live-migration=1",
						 nolm->address, r->dir);
	g_autofree char *spec1 = g_strdup_printf("device=%s,socket=%s/v1.sock", lm->address, r->dir);
	g_autofree char *path0 = port_path(0);
	g_autofree char *path1 = port_path(1);
	DpProc *helper;
	int status;

	helper = helper_start(r, VM_NAME, (const char *const[]){ spec0, spec1, NULL });
	{
		g_autofree char *m0 = get_string(r, 0, "LiveMigrationMode");
		g_autofree char *m1 = get_string(r, 1, "LiveMigrationMode");

		g_assert_cmpstr(m0, ==, "sw");
		g_assert_cmpstr(m1, ==, "hw");
	}
	/* hw without BAR4: NotSupported, and the mode stays */
	{
		g_autoptr(GError) error = NULL;
		g_autoptr(GVariant) reply = test_call(r->c, path0, PORT_IFACE, "SetLiveMigrationMode",
						      g_variant_new("(s)", "hw"), &error);
		g_autofree char *name = test_error_name(error);
		g_autofree char *mode = get_string(r, 0, "LiveMigrationMode");

		g_assert_null(reply);
		g_assert_cmpstr(name, ==, "org.ifcvf.Helper1.Error.NotSupported");
		assert_has(error->message, "BAR4");
		g_assert_cmpstr(mode, ==, "sw");
	}
	/* sw on a VF without BAR4 is what it does already: fine */
	{
		g_autoptr(GError) error = NULL;
		g_autoptr(GVariant) reply = test_call(r->c, path0, PORT_IFACE, "SetLiveMigrationMode",
						      g_variant_new("(s)", "sw"), &error);

		g_assert_no_error(error);
	}
	/* a VF with BAR4 takes either */
	for (const char *const *m = (const char *const[]){ "sw", "hw", "sw", NULL }; *m; m++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GVariant) reply = test_call(r->c, path1, PORT_IFACE, "SetLiveMigrationMode",
						      g_variant_new("(s)", *m), &error);
		g_autofree char *mode = NULL;

		g_assert_no_error(error);
		mode = get_string(r, 1, "LiveMigrationMode");
		g_assert_cmpstr(mode, ==, *m);
	}
	/* and through ifcvfctl */
	{
		g_autofree char *out = NULL;

		g_assert_cmpint(ifcvfctl(r, &out, (const char *const[]){ "set-lm-mode", VM_NAME, "0",
									  "hw", NULL }), ==, 1);
		assert_has(out, "BAR4");
		g_clear_pointer(&out, g_free);
		g_assert_cmpint(ifcvfctl(r, &out, (const char *const[]){ "set-lm-mode", VM_NAME, "1",
									  "hw", NULL }), ==, 0);
	}
	{
		g_autofree char *m1 = get_string(r, 1, "LiveMigrationMode");

		g_assert_cmpstr(m1, ==, "hw");
	}
	/* the helper logged each decision */
	dp_proc_wait_log(helper, "port 0: live-migration mode hw refused over D-Bus", 0, 1);
	dp_proc_wait_log(helper, "port 1: live-migration mode set to hw over D-Bus", 0, 1);

	status = dp_proc_stop(helper, 30);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	wait_until(is_owned, r, GINT_TO_POINTER(FALSE), "the name going away");
}

/* exit status @status and exactly one line on stderr containing @cause */
static void assert_refused(int got, const char *err, int status, const char *cause)
{
	g_assert_cmpint(got, ==, status);
	if (!strstr(err, cause))
		g_error("stderr does not say '%s': %s", cause, err);
	g_assert_nonnull(strchr(err, '\n'));
	g_assert_cmpstr(strchr(err, '\n') + 1, ==, "");
}

static int run_helper_sync(const char *const *args, char **ret_err)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autofree char *out = NULL;
	g_autofree char *cmd = NULL;
	int status;

	g_ptr_array_add(argv, (gpointer)test_program("IFCVF_HELPER"));
	g_ptr_array_add(argv, (gpointer) "run");
	for (guint i = 0; args[i]; i++)
		g_ptr_array_add(argv, (gpointer)args[i]);
	g_ptr_array_add(argv, NULL);
	cmd = g_strjoinv(" ", (char **)argv->pdata);
	status = test_run((const char *const *)argv->pdata, &out, ret_err);
	g_test_message("$ %s\nstatus %d\nstdout: %s\nstderr: %s", cmd, status, out, *ret_err);
	return status;
}

/* A second helper for a VM that has one stops before it touches its VF,
 * saying why; the first keeps its name. So do a bus nobody listens on, and
 * a bus without a UUID. */
static void test_second_helper(void)
{
	g_autoptr(Rig) r = rig_new();
	g_autoptr(TestEmu) emu_a = test_emu_start((const char *const[]){ "--type", "net", NULL });
	g_autoptr(TestEmu) emu_b = test_emu_start((const char *const[]){ "--type", "net", NULL });
	g_autofree char *spec_a = g_strdup_printf("device=%s,socket=%s/a.sock", emu_a->address,
						  r->dir);
	g_autofree char *sock_b = g_strdup_printf("%s/b.sock", r->dir);
	g_autofree char *spec_b = g_strdup_printf("device=%s,socket=%s", emu_b->address, sock_b);
	g_autofree char *nobus = g_strdup_printf("unix:path=%s/nobody", r->dir);
	DpProc *helper;
	int status;

	helper = helper_start(r, "vm-a", (const char *const[]){ spec_a, NULL });
	{
		const char *args[] = { "--bus", r->daemon->address, "--uuid", TEST_UUID, "--name",
				       "vm-b", "--port", spec_b, NULL };
		g_autofree char *err = NULL;

		status = run_helper_sync(args, &err);
		assert_refused(status, err, 1, "another helper serves this VM");
		assert_has(err, TEST_BUS_NAME);
	}
	/* the refused helper never got to its socket */
	g_assert_false(g_file_test(sock_b, G_FILE_TEST_EXISTS));
	/* the first one still serves the VM */
	g_assert_true(r->owned);
	{
		g_autoptr(GVariant) v = test_get_property(r->c, ROOT_PATH, DOMAIN_IFACE, "Name");

		g_assert_cmpstr(g_variant_get_string(v, NULL), ==, "vm-a");
	}
	/* no bus there */
	{
		const char *args[] = { "--bus", nobus, "--uuid", TEST_UUID, "--port", spec_b, NULL };
		g_autofree char *err = NULL;

		status = run_helper_sync(args, &err);
		assert_refused(status, err, 1, "cannot connect to");
	}
	/* a bus needs the UUID; a bus must be one */
	{
		const char *args[] = { "--bus", r->daemon->address, "--port", spec_b, NULL };
		g_autofree char *err = NULL;

		status = run_helper_sync(args, &err);
		assert_refused(status, err, 2, "--uuid is required");
	}
	{
		const char *args[] = { "--port", spec_b, NULL };
		g_autofree char *err = NULL;

		status = run_helper_sync(args, &err);
		assert_refused(status, err, 2, "--uuid is required with --bus system");
	}
	{
		const char *args[] = { "--bus", "bogus", "--uuid", TEST_UUID, "--port", spec_b, NULL };
		g_autofree char *err = NULL;

		status = run_helper_sync(args, &err);
		assert_refused(status, err, 2, "'bogus' is not 'system', 'session' or a D-Bus address");
	}
	{
		const char *help[] = { test_program("IFCVF_HELPER"), "run", "--help", NULL };
		g_autofree char *err = NULL;
		g_autofree char *out = NULL;

		g_assert_cmpint(test_run(help, &out, &err), ==, 0);
		assert_has(out, "--bus");
		assert_has(out, "--bus none");
	}
	g_assert_false(g_file_test(sock_b, G_FILE_TEST_EXISTS));

	status = dp_proc_stop(helper, 30);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	wait_until(is_owned, r, GINT_TO_POINTER(FALSE), "the name going away");
}

/* ---- a frontend of the test's own, for dirty logging ---- */

#define F_LOG_ALL 26
#define F_GUEST_ANNOUNCE 21
#define F_PROTOCOL 30
#define F_VERSION_1 32

#define NET_FEATURES (1ull << F_VERSION_1 | 1ull << F_PROTOCOL | 1ull << F_GUEST_ANNOUNCE)

static void guest_log_all(TestGuest *g, gboolean on)
{
	struct cerr ce = { 0 };

	test_guest_check(vu_frontend_set_features(&g->fe, g->features | (on ? 1ull << F_LOG_ALL : 0), &ce),
		 &ce, "SET_FEATURES");
}

static void set_mode_expect(Rig *r, guint port, const char *mode, const char *error_name)
{
	g_autofree char *path = port_path(port);
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = test_call(r->c, path, PORT_IFACE, "SetLiveMigrationMode",
					      g_variant_new("(s)", mode), &error);
	g_autofree char *name = test_error_name(error);

	if (!error_name) {
		g_assert_no_error(error);
		return;
	}
	g_assert_null(reply);
	g_assert_cmpstr(name, ==, error_name);
}

static guint64 get_counter(Rig *r, guint port, const char *counter)
{
	g_autofree char *path = port_path(port);
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = test_call(r->c, path, PORT_IFACE, "GetStats", NULL, &error);
	g_autoptr(GVariant) dict = NULL;
	guint64 v = 0;

	g_assert_no_error(error);
	dict = g_variant_get_child_value(reply, 0);
	g_assert_true(g_variant_lookup(dict, counter, "t", &v));
	return v;
}

/* The frontend asks for dirty logging in hw mode, cancels, switches the
 * port to sw over D-Bus, asks again, cancels: the states and counters a
 * client sees, and the mode locked while logging. */
static gboolean wake_cb(gpointer data)
{
	return G_SOURCE_CONTINUE;
}

static gboolean phase_is(Rig *r, gconstpointer data)
{
	g_autoptr(GVariant) v = test_get_property(r->c, ROOT_PATH, DOMAIN_IFACE, "MigrationPhase");

	return g_str_equal(g_variant_get_string(v, NULL), data);
}

/* MigrationPhase is a Domain property: poll it, waking the loop now and then */
static void wait_phase(Rig *r, const char *phase)
{
	guint tick = g_timeout_add(50, wake_cb, NULL);
	g_autofree char *what = g_strdup_printf("MigrationPhase %s", phase);

	wait_until(phase_is, r, phase, what);
	g_source_remove(tick);
}

static void test_migration_state(void)
{
	g_autoptr(Rig) r = rig_new();
	g_autoptr(TestEmu) emu = test_emu_start((const char *const[]){ "--type", "net", NULL });
	g_autofree char *socket = g_build_filename(r->dir, "vhost.sock", NULL);
	g_autofree char *spec = g_strdup_printf("device=%s,socket=%s", emu->address, socket);
	g_autoptr(TestGuest) g = NULL;
	struct cerr ce = { 0 };
	DpProc *helper;
	StateWait w = { 0 };
	int status;

	helper = helper_start(r, VM_NAME, (const char *const[]){ spec, NULL });
	g = test_guest_start(socket, NET_FEATURES);
	w = (StateWait){ 0, "running", 0 };
	wait_until(state_seen, r, &w, "State running");
	{
		g_autofree char *path = port_path(0);
		g_autoptr(GVariant) v = test_get_property(r->c, path, PORT_IFACE, "GuestAnnounce");

		g_assert_true(g_variant_get_boolean(v));
	}
	test_guest_check(vu_frontend_set_log_base(&g->fe, &ce), &ce, "SET_LOG_BASE");

	/* hw: the VF logs */
	w = (StateWait){ 0, "logging-hw", n_states(r, 0) };
	guest_log_all(g, TRUE);
	wait_until(state_seen, r, &w, "State logging-hw");
	wait_phase(r, "iterating");
	set_mode_expect(r, 0, "sw", "org.ifcvf.Helper1.Error.Busy");
	set_mode_expect(r, 0, "hw", "org.ifcvf.Helper1.Error.Busy");
	g_assert_cmpuint(get_counter(r, 0, "switchovers"), ==, 1);
	w = (StateWait){ 0, "running", n_states(r, 0) };
	guest_log_all(g, FALSE);
	wait_until(last_state_is, r, &w, "State running after logging");
	wait_phase(r, "cancelled");
	g_assert_cmpuint(get_counter(r, 0, "rollbacks"), ==, 1);

	/* sw, chosen over D-Bus: the helper relays */
	set_mode_expect(r, 0, "sw", NULL);
	w = (StateWait){ 0, "relaying-sw", n_states(r, 0) };
	guest_log_all(g, TRUE);
	wait_until(state_seen, r, &w, "State relaying-sw");
	set_mode_expect(r, 0, "hw", "org.ifcvf.Helper1.Error.Busy");
	{
		g_autofree char *mode = get_string(r, 0, "LiveMigrationMode");

		g_assert_cmpstr(mode, ==, "sw");
	}
	g_assert_cmpuint(get_counter(r, 0, "switchovers"), ==, 2);
	w = (StateWait){ 0, "running", n_states(r, 0) };
	guest_log_all(g, FALSE);
	wait_until(last_state_is, r, &w, "State running after relaying");
	g_assert_cmpuint(get_counter(r, 0, "rollbacks"), ==, 2);
	g_assert_cmpuint(get_counter(r, 0, "errors"), ==, 0);
	set_mode_expect(r, 0, "hw", NULL);

	/* a migration that completes: logging, the VF stopped while logging
	 * (GET_VRING_BASE), then the frontend goes */
	w = (StateWait){ 0, "logging-hw", n_states(r, 0) };
	guest_log_all(g, TRUE);
	wait_until(state_seen, r, &w, "State logging-hw again");
	wait_phase(r, "iterating");
	{
		uint32_t base;

		test_guest_check(vu_frontend_get_vring_base(&g->fe, 0, &base, &ce), &ce, "GET_VRING_BASE");
	}
	wait_phase(r, "stop-and-copy");
	w = (StateWait){ 0, "waiting", n_states(r, 0) };
	g_clear_pointer(&g, test_guest_free);
	wait_until(last_state_is, r, &w, "State waiting after the frontend left");
	wait_phase(r, "completed");

	status = dp_proc_stop(helper, 30);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}

/* ---- a frontend that sends no memory table ---- */

static gboolean reason_has(Rig *r, gconstpointer data)
{
	g_autofree char *reason = get_string(r, 0, "StateReason");

	return strstr(reason, data) != NULL;
}

/* StateReason: poll it, waking the loop now and then */
static void wait_reason(Rig *r, const char *needle)
{
	guint tick = g_timeout_add(50, wake_cb, NULL);
	g_autofree char *what = g_strdup_printf("StateReason with '%s'", needle);

	wait_until(reason_has, r, needle, what);
	g_source_remove(tick);
}

/* QEMU sends no SET_MEM_TABLE when guest memory is not shared (it logs
 * "vhost_set_mem_table failed"): the port shows "connected", not
 * "waiting", and its reason and the log say what to set. */
static void test_no_mem_table(void)
{
	g_autoptr(Rig) r = rig_new();
	g_autoptr(TestEmu) emu = test_emu_start((const char *const[]){ "--type", "net", NULL });
	g_autofree char *socket = g_build_filename(r->dir, "vhost.sock", NULL);
	g_autofree char *spec = g_strdup_printf("device=%s,socket=%s", emu->address, socket);
	g_autofree char *out = NULL;
	struct vu_frontend fe = { .log_fd = -1 };
	struct vu_guest_mem mem = { 0 };
	struct cerr ce = { 0 };
	DpProc *helper;
	StateWait w;
	int status;

	helper = helper_start(r, VM_NAME, (const char *const[]){ spec, NULL });
	w = (StateWait){ 0, "connected", n_states(r, 0) };
	test_guest_check(vu_frontend_connect(&fe, socket, 10000, &ce), &ce, "connect");
	test_guest_check(vu_frontend_handshake(&fe, 1ull << VU_PROTOCOL_F_REPLY_ACK, &ce), &ce,
		 "handshake");
	test_guest_check(vu_frontend_set_features(&fe, 1ull << F_VERSION_1 | 1ull << F_PROTOCOL, &ce), &ce,
		 "SET_FEATURES");
	wait_until(state_seen, r, &w, "State connected");
	wait_reason(r, "the frontend sent no usable memory table: guest memory must be shared");
	{
		g_autofree char *reason = get_string(r, 0, "StateReason");

		g_assert_nonnull(strstr(reason, "<access mode='shared'/>"));
		g_assert_nonnull(strstr(reason, "memfd"));
	}
	g_assert_cmpstr(last_state(r, 0), ==, "connected");
	dp_proc_wait_log(helper, "connected: the frontend sent no usable memory table", 0, WAIT_S);
	g_assert_cmpint(ifcvfctl(r, &out, (const char *const[]){ "status", VM_NAME, NULL }), ==, 0);
	assert_has(out, "State:               connected (the frontend sent no usable memory table");

	/* the table, late: the reason moves on */
	test_guest_check(vu_guest_mem_init(&mem, 2u << 20, &ce), &ce, "guest memory");
	test_guest_check(vu_frontend_set_mem_table(&fe, &mem, &ce), &ce, "SET_MEM_TABLE");
	wait_reason(r, "the frontend sent its memory table");

	w = (StateWait){ 0, "waiting", n_states(r, 0) };
	vu_frontend_close(&fe);
	wait_until(last_state_is, r, &w, "State waiting after the frontend left");
	vu_guest_mem_fini(&mem);
	status = dp_proc_stop(helper, 30);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}

/* ---- a frontend that never reads its backend channel ---- */

#define VU_BACKEND_CONFIG_CHANGE 2

/* a blk frontend on @socket with the backend channel, its send buffer
 * shrunk to the minimum so that a few unread notices fill it */
static TestGuest *blk_guest_start(const char *socket)
{
	TestGuest *g = g_new0(TestGuest, 1);
	struct cerr ce = { 0 };

	g->fe.log_fd = -1;
	/* a blk guest has no second vring: nothing of it to close (fd 0 is
	 * not its own, it may be the next test's bus connection) */
	g->tx.kickfd = g->tx.callfd = -1;
	test_guest_check(vu_guest_mem_init(&g->mem, 8u << 20, &ce), &ce, "guest memory");
	test_guest_check(virtq_drv_init(&g->rx, &g->mem, 0, 256, false, &ce), &ce, "vring 0");
	/* a hang, not a slow machine: answers come in milliseconds */
	test_guest_check(vu_frontend_connect(&g->fe, socket, WAIT_S * 1000, &ce), &ce, "connect");
	g->open = TRUE;
	test_guest_check(vu_frontend_handshake(&g->fe, 1ull << VU_PROTOCOL_F_REPLY_ACK |
					       1ull << VU_PROTOCOL_F_BACKEND_REQ |
					       1ull << VU_PROTOCOL_F_CONFIG, &ce), &ce, "handshake");
	g_assert_true(g->fe.reply_ack);
	g_assert_true(g->fe.protocol_features & (1ull << VU_PROTOCOL_F_BACKEND_REQ));
	g->features = 1ull << F_VERSION_1 | 1ull << F_PROTOCOL;
	test_guest_check(vu_frontend_set_features(&g->fe, g->features, &ce), &ce, "SET_FEATURES");
	test_guest_check(vu_frontend_set_backend_req(&g->fe, 1, &ce), &ce, "SET_BACKEND_REQ_FD");
	test_guest_check(vu_frontend_set_mem_table(&g->fe, &g->mem, &ce), &ce, "SET_MEM_TABLE");
	test_guest_check(vu_frontend_setup_vring(&g->fe, &g->rx, &ce), &ce, "vring 0");
	test_guest_check(vu_frontend_set_vring_enable(&g->fe, 0, true, &ce), &ce, "enable vring 0");
	return g;
}

typedef struct {
	guint port;
	const char *counter;
	guint64 value;
} CounterWait;

static gboolean counter_reached(Rig *r, gconstpointer data)
{
	const CounterWait *w = data;

	return get_counter(r, w->port, w->counter) >= w->value;
}

static void wait_counter(Rig *r, guint port, const char *counter, guint64 value)
{
	CounterWait w = { port, counter, value };
	guint tick = g_timeout_add(20, wake_cb, NULL);
	g_autofree char *what = g_strdup_printf("port %u: %s reaching %" G_GUINT64_FORMAT, port,
						counter, value);

	wait_until(counter_reached, r, &w, what);
	g_source_remove(tick);
}

/* The VF of a blk port changes its configuration over and over; the
 * frontend negotiated the backend channel but never reads it, until the
 * channel's buffer is full and the helper takes one more interrupt. The
 * helper must still answer that frontend's GET_VRING_BASE, serve a second
 * port's frontend, and stop on SIGTERM. */
static void test_backend_channel_full(void)
{
	g_autoptr(Rig) r = rig_new();
	g_autoptr(TestEmu) blk = test_emu_start((const char *const[]){ "--type", "blk", NULL });
	g_autoptr(TestEmu) net = test_emu_start((const char *const[]){ "--type", "net", NULL });
	g_autofree char *sock0 = g_build_filename(r->dir, "blk.sock", NULL);
	g_autofree char *sock1 = g_build_filename(r->dir, "net.sock", NULL);
	g_autofree char *spec0 = g_strdup_printf("device=%s,socket=%s", blk->address, sock0);
	g_autofree char *spec1 = g_strdup_printf("device=%s,socket=%s", net->address, sock1);
	g_autoptr(TestGuest) g = NULL;
	g_autoptr(TestGuest) g2 = NULL;
	struct cerr ce = { 0 };
	StateWait w;
	DpProc *helper;
	guint64 irqs = 0;
	unsigned queued = 0;
	uint32_t request, base;
	gboolean full = FALSE;
	int status;

	helper = helper_start(r, VM_NAME, (const char *const[]){ spec0, spec1, NULL });
	g = blk_guest_start(sock0);
	w = (StateWait){ 0, "running", 0 };
	wait_until(state_seen, r, &w, "State running");

	/* a configuration change reaches the frontend as a backend message */
	g_assert_cmpint(kill(blk->pid, SIGUSR2), ==, 0);
	wait_counter(r, 0, "config-interrupts", ++irqs);
	test_guest_check(vu_frontend_backend_read(&g->fe, &request, &ce), &ce, "backend channel");
	g_assert_cmpuint(request, ==, VU_BACKEND_CONFIG_CHANGE);

	/* now nobody reads: one interrupt at a time, until the channel is full */
	while (!full) {
		bool b;

		g_assert_cmpint(kill(blk->pid, SIGUSR2), ==, 0);
		wait_counter(r, 0, "config-interrupts", ++irqs);
		test_guest_check(vu_frontend_backend_queued(&g->fe, &queued, &b, &ce), &ce, "backend channel");
		full = b;
		if (irqs > 10000)
			g_error("the backend channel is not full after %" G_GUINT64_FORMAT
				" notices (%u bytes queued)", irqs, queued);
	}
	g_test_message("backend channel full after %" G_GUINT64_FORMAT " notices, %u bytes", irqs,
		       queued);
	/* one more, with no room for it */
	g_assert_cmpint(kill(blk->pid, SIGUSR2), ==, 0);
	wait_counter(r, 0, "config-interrupts", ++irqs);

	/* the frontend stops the device: answered */
	w = (StateWait){ 0, "stopped", n_states(r, 0) };
	test_guest_check(vu_frontend_get_vring_base(&g->fe, 0, &base, &ce), &ce, "GET_VRING_BASE");
	wait_until(state_seen, r, &w, "State stopped");
	/* another port's frontend is served */
	g2 = test_guest_start(sock1, NET_FEATURES);
	w = (StateWait){ 1, "running", 0 };
	wait_until(state_seen, r, &w, "port 1 running");
	/* what was lost is said */
	dp_proc_wait_log(helper, "port 0: config-change notice dropped", 0, WAIT_S);
	g_assert_cmpuint(get_counter(r, 0, "errors"), ==, 0);

	status = dp_proc_stop(helper, WAIT_S);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}

typedef struct {
	guint port;
	guint64 capacity;
} CapacityWait;

static gboolean capacity_is(Rig *r, gconstpointer data)
{
	const CapacityWait *w = data;

	return get_uint(r, w->port, "Capacity") == w->capacity;
}

/* A blk port shows its type, queues and capacity on the bus and in
 * ifcvfctl status; the VF resized at run time (SIGUSR2: the memory disk
 * doubles, config interrupt) shows its new capacity there at once, while
 * the frontend keeps running. */
static void test_blk_capacity(void)
{
	g_autoptr(Rig) r = rig_new();
	g_autoptr(TestEmu) blk = test_emu_start((const char *const[]){ "--type", "blk", "--queues",
									"2", "--capacity", "2048",
									NULL });
	g_autofree char *sock = g_build_filename(r->dir, "blk.sock", NULL);
	g_autofree char *spec = g_strdup_printf("device=%s,socket=%s", blk->address, sock);
	g_autofree char *type = NULL;
	g_autofree char *out = NULL;
	g_autofree char *sq = NULL;
	g_autofree char *state = NULL;
	g_autoptr(TestGuest) g = NULL;
	struct cerr ce = { 0 };
	CapacityWait cw = { 0, 4096 };
	uint32_t request;
	StateWait w;
	DpProc *helper;
	int status;

	helper = helper_start(r, VM_NAME, (const char *const[]){ spec, NULL });
	type = get_string(r, 0, "DeviceType");
	g_assert_cmpstr(type, ==, "blk");
	g_assert_cmpuint(get_uint(r, 0, "Capacity"), ==, 2048);
	g_assert_cmpuint(get_uint(r, 0, "QueuePairs"), ==, 2);

	g = blk_guest_start(sock);
	w = (StateWait){ 0, "running", 0 };
	wait_until(state_seen, r, &w, "State running");
	g_assert_cmpuint(get_uint(r, 0, "EnabledQueues"), ==, 1);

	/* the resize: the frontend hears of it, the bus shows the new size */
	g_assert_cmpint(kill(blk->pid, SIGUSR2), ==, 0);
	test_guest_check(vu_frontend_backend_read(&g->fe, &request, &ce), &ce, "backend channel");
	g_assert_cmpuint(request, ==, VU_BACKEND_CONFIG_CHANGE);
	{
		guint tick = g_timeout_add(20, wake_cb, NULL);

		wait_until(capacity_is, r, &cw, "Capacity 4096 after the resize");
		g_source_remove(tick);
	}
	state = get_string(r, 0, "State");
	g_assert_cmpstr(state, ==, "running");

	g_assert_cmpint(ifcvfctl(r, &out, (const char *const[]){ "status", VM_NAME, NULL }), ==, 0);
	sq = squeeze(out);
	assert_has(sq, "Type: blk");
	assert_has(sq, "Queues: 2 (1 enabled)");
	assert_has(sq, "Capacity: 4096 sectors (2097152 bytes)");
	g_assert_null(strstr(sq, "Queue pairs:"));
	dp_proc_wait_log(helper, "capacity now 4096 sectors", 0, WAIT_S);

	status = dp_proc_stop(helper, WAIT_S);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}

/* ---- a blk VF stopped with requests in flight ---- */

#define BLK_REQS 32

/* @n one-sector reads (sector i) on vring 0, published and kicked; their
 * heads in @heads, status bytes preset to 0xff (not written yet) */
static void blk_submit(TestGuest *g, unsigned n, int *heads, uint64_t *status_gpa)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t hdr = vu_guest_mem_alloc(&g->mem, 16, 16);
		uint64_t data = vu_guest_mem_alloc(&g->mem, 512, 512);
		uint64_t st = vu_guest_mem_alloc(&g->mem, 1, 1);
		uint8_t *h = vu_gpa(&g->mem, hdr);
		struct virtq_buf bufs[3] = { { hdr, 16, false }, { data, 512, true }, { st, 1, true } };
		uint64_t sector = i;

		memset(h, 0, 16);              /* type 0: IN */
		memcpy(h + 8, &sector, 8);
		*(uint8_t *)vu_gpa(&g->mem, st) = 0xff;
		heads[i] = virtq_drv_add(&g->rx, &g->mem, bufs, 3, false);
		g_assert_cmpint(heads[i], >=, 0);
		status_gpa[heads[i]] = st;
	}
	virtq_drv_kick(&g->rx);
}

/* Reap what the VF completed: each id one of @heads, never twice, its
 * status byte written (OK). Returns how many. */
static unsigned blk_reap(TestGuest *g, const int *heads, unsigned n, const uint64_t *status_gpa,
			 gboolean *seen)
{
	unsigned count = 0;
	uint32_t id, len;

	while (virtq_drv_get_used(&g->rx, &id, &len) == 1) {
		gboolean ours = FALSE;

		for (unsigned i = 0; i < n; i++)
			ours |= heads[i] == (int)id;
		if (!ours)
			g_error("used entry with id %u, which is no request's head", id);
		if (seen[id])
			g_error("request with head %u completed twice", id);
		seen[id] = TRUE;
		g_assert_cmpuint(*(uint8_t *)vu_gpa(&g->mem, status_gpa[id]), ==, 0);
		count++;
	}
	return count;
}

/* the most requests queue 0 of @emu held in flight at once */
static guint64 emu_requests_taken(TestEmu *emu, const char *stats_file)
{
	gint64 deadline = g_get_monotonic_time() + WAIT_S * G_USEC_PER_SEC;
	g_autofree char *text = NULL;
	const char *at;

	(void)unlink(stats_file);
	g_assert_cmpint(kill(emu->pid, SIGUSR1), ==, 0);
	while (!g_file_get_contents(stats_file, &text, NULL, NULL)) {
		if (g_get_monotonic_time() > deadline)
			g_error("ifcvf-emu wrote no %s after SIGUSR1", stats_file);
		g_usleep(10 * 1000);
	}
	/* "requests" counts completions; in flight is what was taken */
	at = strstr(text, "\"max_inflight\":");
	g_assert_nonnull(at);
	return g_ascii_strtoull(at + strlen("\"max_inflight\":"), NULL, 10);
}

/* Requests complete out of order (--complete-order random); the frontend
 * stops the vring (GET_VRING_BASE) while some are in flight: the index
 * handed back is the used index the VF published (nothing half done), and
 * every request shows completed exactly once, with its status. */
static void test_blk_stop_drains(void)
{
	g_autoptr(Rig) r = rig_new();
	g_autoptr(TestEmu) blk = test_emu_start((const char *const[]){ "--type", "blk",
									"--complete-order",
									"random", NULL });
	g_autofree char *sock = g_build_filename(r->dir, "blk.sock", NULL);
	g_autofree char *spec = g_strdup_printf("device=%s,socket=%s", blk->address, sock);
	g_autoptr(TestGuest) g = NULL;
	struct cerr ce = { 0 };
	int heads[BLK_REQS];
	uint64_t status_gpa[256] = { 0 };
	gboolean seen[256] = { 0 };
	uint32_t base;
	uint16_t used_idx;
	StateWait w;
	DpProc *helper;
	int status;

	helper = helper_start(r, VM_NAME, (const char *const[]){ spec, NULL });
	g = blk_guest_start(sock);
	w = (StateWait){ 0, "running", 0 };
	wait_until(state_seen, r, &w, "State running");

	blk_submit(g, BLK_REQS, heads, status_gpa);
	/* the first completion: the VF took the burst, part of it is in flight */
	while (__atomic_load_n(&g->rx.used->idx, __ATOMIC_ACQUIRE) == 0)
		g_assert_cmpint(virtq_drv_wait_call(&g->rx, WAIT_S * 1000), ==, 1);
	w = (StateWait){ 0, "stopped", n_states(r, 0) };
	test_guest_check(vu_frontend_get_vring_base(&g->fe, 0, &base, &ce), &ce, "GET_VRING_BASE");
	used_idx = __atomic_load_n(&g->rx.used->idx, __ATOMIC_ACQUIRE);
	g_test_message("GET_VRING_BASE %u, used index %u", base, used_idx);
	g_assert_cmpuint(base, ==, used_idx);
	g_assert_cmpuint(base, ==, BLK_REQS);
	g_assert_cmpuint(blk_reap(g, heads, BLK_REQS, status_gpa, seen), ==, BLK_REQS);
	wait_until(state_seen, r, &w, "State stopped");
	g_assert_cmpuint(get_counter(r, 0, "errors"), ==, 0);

	status = dp_proc_stop(helper, WAIT_S);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}

/* A blk VF that stops with requests it never completes (--fault
 * blk-no-drain): the helper waits its bound, then the port fails saying
 * why, and GET_VRING_BASE hands back the used index in guest memory, not the
 * VF's last_avail: the requests are offered again, none is lost, and none
 * completes later behind the frontend's back (the VF was reset). */
static void test_blk_no_drain(void)
{
	g_autoptr(Rig) r = rig_new();
	g_autofree char *stats = g_build_filename(r->dir, "emu-stats.json", NULL);
	g_autoptr(TestEmu) blk = test_emu_start((const char *const[]){ "--type", "blk", "--fault",
									"blk-no-drain",
									"--stats-file", stats,
									NULL });
	g_autofree char *sock = g_build_filename(r->dir, "blk.sock", NULL);
	g_autofree char *spec = g_strdup_printf("device=%s,socket=%s", blk->address, sock);
	g_autoptr(TestGuest) g = NULL;
	struct cerr ce = { 0 };
	int heads[8];
	uint64_t status_gpa[256] = { 0 };
	gboolean seen[256] = { 0 };
	uint32_t base;
	StateWait w;
	DpProc *helper;
	int status;

	helper = helper_start(r, VM_NAME, (const char *const[]){ spec, NULL });
	g = blk_guest_start(sock);
	w = (StateWait){ 0, "running", 0 };
	wait_until(state_seen, r, &w, "State running");

	blk_submit(g, 8, heads, status_gpa);
	while (emu_requests_taken(blk, stats) < 8)
		g_usleep(10 * 1000);
	w = (StateWait){ 0, "failed", n_states(r, 0) };
	test_guest_check(vu_frontend_get_vring_base(&g->fe, 0, &base, &ce), &ce, "GET_VRING_BASE");
	g_test_message("GET_VRING_BASE %u", base);
	/* the 8 requests were never completed: resuming past them loses them */
	g_assert_cmpuint(base, ==, 0);
	g_assert_cmpuint(__atomic_load_n(&g->rx.used->idx, __ATOMIC_ACQUIRE), ==, 0);
	g_assert_cmpuint(blk_reap(g, heads, 8, status_gpa, seen), ==, 0);
	wait_until(state_seen, r, &w, "State failed");
	wait_reason(r, "8 request(s) the VF fetched were not completed within");

	status = dp_proc_stop(helper, WAIT_S);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}

/* The frontend goes away with requests in flight (QEMU's vhost-user-blk
 * side restarting: no GET_VRING_BASE) and comes back on the same guest
 * memory, resuming from its own avail index as QEMU does: every request is
 * completed exactly once, across both connections, none is lost. */
static void test_blk_reconnect(void)
{
	g_autoptr(Rig) r = rig_new();
	g_autoptr(TestEmu) blk = test_emu_start((const char *const[]){ "--type", "blk",
									"--complete-order",
									"random", NULL });
	g_autofree char *sock = g_build_filename(r->dir, "blk.sock", NULL);
	g_autofree char *spec = g_strdup_printf("device=%s,socket=%s", blk->address, sock);
	g_autoptr(TestGuest) g = NULL;
	struct cerr ce = { 0 };
	int heads[BLK_REQS + 8];
	uint64_t status_gpa[256] = { 0 };
	gboolean seen[256] = { 0 };
	unsigned first, total;
	StateWait w;
	DpProc *helper;
	int status;

	helper = helper_start(r, VM_NAME, (const char *const[]){ spec, NULL });
	g = blk_guest_start(sock);
	w = (StateWait){ 0, "running", 0 };
	wait_until(state_seen, r, &w, "State running");

	blk_submit(g, BLK_REQS, heads, status_gpa);
	while (__atomic_load_n(&g->rx.used->idx, __ATOMIC_ACQUIRE) == 0)
		g_assert_cmpint(virtq_drv_wait_call(&g->rx, WAIT_S * 1000), ==, 1);
	/* gone without a word, requests in flight */
	w = (StateWait){ 0, "waiting", n_states(r, 0) };
	vu_frontend_close(&g->fe);
	g->open = FALSE;
	wait_until(state_seen, r, &w, "State waiting after the frontend left");
	first = blk_reap(g, heads, BLK_REQS, status_gpa, seen);
	g_test_message("%u of %u completed before the frontend came back", first, BLK_REQS);

	/* back, on the same memory and rings */
	w = (StateWait){ 0, "running", n_states(r, 0) };
	g->fe.log_fd = -1;
	test_guest_check(vu_frontend_connect(&g->fe, sock, WAIT_S * 1000, &ce), &ce, "reconnect");
	g->open = TRUE;
	test_guest_check(vu_frontend_handshake(&g->fe, 1ull << VU_PROTOCOL_F_REPLY_ACK |
					       1ull << VU_PROTOCOL_F_BACKEND_REQ |
					       1ull << VU_PROTOCOL_F_CONFIG, &ce), &ce, "handshake");
	test_guest_check(vu_frontend_set_features(&g->fe, g->features, &ce), &ce, "SET_FEATURES");
	test_guest_check(vu_frontend_set_mem_table(&g->fe, &g->mem, &ce), &ce, "SET_MEM_TABLE");
	test_guest_check(vu_frontend_setup_vring(&g->fe, &g->rx, &ce), &ce, "vring 0");
	test_guest_check(vu_frontend_set_vring_enable(&g->fe, 0, true, &ce), &ce, "enable vring 0");
	wait_until(state_seen, r, &w, "State running again");

	blk_submit(g, 8, heads + BLK_REQS, status_gpa);
	total = first;
	while (total < BLK_REQS + 8) {
		unsigned n = blk_reap(g, heads, BLK_REQS + 8, status_gpa, seen);

		total += n;
		if (n == 0 && virtq_drv_wait_call(&g->rx, WAIT_S * 1000) != 1)
			g_error("%u of %u requests completed; the rest never", total, BLK_REQS + 8);
	}
	g_assert_cmpuint(total, ==, BLK_REQS + 8);
	g_assert_cmpuint(__atomic_load_n(&g->rx.used->idx, __ATOMIC_ACQUIRE), ==, BLK_REQS + 8);
	g_assert_cmpuint(get_counter(r, 0, "errors"), ==, 0);

	status = dp_proc_stop(helper, WAIT_S);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}

/* ---- SetLiveMigrationMode while the port is busy ---- */

typedef struct {
	gboolean done;
	GVariant *reply;
	GError *error;
} AsyncCall;

static void async_call_clear(AsyncCall *a)
{
	g_clear_pointer(&a->reply, g_variant_unref);
	g_clear_error(&a->error);
	a->done = FALSE;
}

static void async_call_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	AsyncCall *a = user_data;

	a->reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &a->error);
	a->done = TRUE;
}

static gboolean async_call_done(Rig *r, gconstpointer data)
{
	return ((const AsyncCall *)data)->done;
}

static void call_async(Rig *r, guint port, const char *iface, const char *method,
		       GVariant *params, AsyncCall *a)
{
	g_autofree char *path = port_path(port);

	g_dbus_connection_call(r->c, TEST_BUS_NAME, path, iface, method, params, NULL,
			       G_DBUS_CALL_FLAGS_NONE, WAIT_S * 1000, NULL, async_call_cb, a);
}

/* ifcvf-emu with --fault slow-dma-map=@ms, its stderr in DIR/emu.log */
static DpProc *slow_emu_start(Rig *r, const char *socket, guint ms)
{
	g_autofree char *fault = g_strdup_printf("slow-dma-map=%u", ms);
	const char *argv[] = { test_program("IFCVF_EMU"), "--socket", socket, "--type", "net",
			       "--fault", fault, NULL };
	DpProc *p = dp_proc_spawn(r->dir, "emu", argv, FALSE);
	gint64 deadline = g_get_monotonic_time() + WAIT_S * G_USEC_PER_SEC;

	g_ptr_array_add(r->procs, p);
	/* the emulator renames its socket into place once it listens */
	while (!g_file_test(socket, G_FILE_TEST_EXISTS)) {
		if (!dp_proc_alive(p) || g_get_monotonic_time() > deadline)
			g_error("ifcvf-emu did not listen on %s", socket);
		g_usleep(10 * 1000);
	}
	return p;
}

#define SLOW_MAP_MS 4000   /* below the helper's vfio-user timeout (5 s) */

/* The VF takes seconds to map guest memory, so a bring-up holds the port's
 * lock that long. A SetLiveMigrationMode meanwhile waits for the port, but
 * the helper answers a property read before it; and a SIGTERM while one
 * waits is taken at once. */
static void test_lm_mode_during_bring_up(void)
{
	g_autoptr(Rig) r = rig_new();
	g_autofree char *emu_sock = g_build_filename(r->dir, "emu.sock", NULL);
	g_autofree char *socket = g_build_filename(r->dir, "vhost.sock", NULL);
	g_autofree char *spec = NULL;
	g_autoptr(TestGuest) g = NULL;
	AsyncCall set = { 0 }, get = { 0 };
	DpProc *emu, *helper;
	StateWait w;
	gsize seen;
	int status;

	emu = slow_emu_start(r, emu_sock, SLOW_MAP_MS);
	spec = g_strdup_printf("device=vfio-user:%s,socket=%s", emu_sock, socket);
	helper = helper_start(r, VM_NAME, (const char *const[]){ spec, NULL });

	/* no REPLY_ACK: the enables return before the bring-up they start ends */
	g = test_guest_setup(socket, 1ull << VU_PROTOCOL_F_LOG_SHMFD, NET_FEATURES);
	g_assert_false(g->fe.reply_ack);
	test_guest_enable(g);
	seen = dp_proc_wait_log(emu, "slow-dma-map: answering DMA_MAP", 0, WAIT_S);
	/* the helper maps guest memory in the bring-up, with the port locked */
	call_async(r, 0, PORT_IFACE, "SetLiveMigrationMode", g_variant_new("(s)", "sw"), &set);
	call_async(r, 0, "org.freedesktop.DBus.Properties", "GetAll",
		   g_variant_new("(s)", PORT_IFACE), &get);
	wait_until(async_call_done, r, &get, "GetAll answered");
	g_assert_no_error(get.error);
	if (set.done)
		g_error("SetLiveMigrationMode was answered before GetAll, sent after it: the "
			"main loop waited for the port's bring-up");
	wait_until(async_call_done, r, &set, "SetLiveMigrationMode answered");
	g_assert_no_error(set.error);
	{
		g_autofree char *mode = get_string(r, 0, "LiveMigrationMode");

		g_assert_cmpstr(mode, ==, "sw");
	}
	w = (StateWait){ 0, "running", 0 };
	wait_until(state_seen, r, &w, "State running");
	dp_proc_wait_log(helper, "port 0: live-migration mode set to sw over D-Bus", 0, WAIT_S);

	/* again, and SIGTERM while the call waits for the port */
	async_call_clear(&set);
	async_call_clear(&get);
	w = (StateWait){ 0, "waiting", n_states(r, 0) };
	g_clear_pointer(&g, test_guest_free);
	wait_until(state_seen, r, &w, "State waiting after the frontend left");
	/* this bring-up's map, not a later line of the first one */
	seen = dp_proc_log_size(emu);
	g = test_guest_setup(socket, 1ull << VU_PROTOCOL_F_LOG_SHMFD, NET_FEATURES);
	test_guest_enable(g);
	dp_proc_wait_log(emu, "slow-dma-map: answering DMA_MAP", seen, WAIT_S);
	call_async(r, 0, PORT_IFACE, "SetLiveMigrationMode", g_variant_new("(s)", "hw"), &set);
	/* answered after the set reached the helper: the set waits there */
	call_async(r, 0, "org.freedesktop.DBus.Properties", "GetAll",
		   g_variant_new("(s)", PORT_IFACE), &get);
	wait_until(async_call_done, r, &get, "GetAll answered");
	g_assert_no_error(get.error);
	g_assert_false(set.done);
	g_assert_cmpint(kill(helper->pid, SIGTERM), ==, 0);
	status = dp_proc_wait_exit(helper, WAIT_S);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	/* the call was answered before the helper left the bus: done, or refused
	 * as ShuttingDown when SIGTERM came while the helper still checked the
	 * caller (the access check hops through the main loop, see
	 * ifcvf-bus-auth.h); never dropped */
	wait_until(async_call_done, r, &set, "SetLiveMigrationMode answered at shutdown");
	/* When the reply came says nothing of when the helper sent it: a reply
	 * sent just after SIGTERM may overtake any round trip of ours. The
	 * order is the helper's own: ShuttingDown is only sent once SIGTERM is
	 * taken, and a mode set is logged when it is answered, on the main
	 * thread that logs the signal too. A main loop that waited for the
	 * bring-up would answer first and take SIGTERM after. */
	if (set.error) {
		g_autofree char *name = g_dbus_error_get_remote_error(set.error);

		g_assert_cmpstr(name, ==, "org.ifcvf.Helper1.Error.ShuttingDown");
	} else {
		g_autofree char *log = dp_proc_log(helper);
		const char *sig = strstr(log, "signal received (SIGTERM), shutting down");
		const char *set_line = strstr(log, "port 0: live-migration mode set to hw over D-Bus");

		g_assert_nonnull(sig);
		g_assert_nonnull(set_line);
		if (set_line < sig)
			g_error("SetLiveMigrationMode was answered before the helper took SIGTERM: the "
				"main loop waited for the port's bring-up");
	}
	async_call_clear(&set);
	async_call_clear(&get);
}

/* ---- a lost device (issue 18) ---- */

/* The emulator behind a running port is killed: Port.State goes failed with
 * the reason at once; a new emulator on the same socket and the port is
 * running again by itself, the same helper, with no fd more than before. */
static void test_device_lost(void)
{
	g_autoptr(Rig) r = rig_new();
	g_autoptr(TestEmu) emu = test_emu_start((const char *const[]){ "--type", "net", NULL });
	g_autofree char *socket = g_build_filename(r->dir, "vhost.sock", NULL);
	g_autofree char *spec = g_strdup_printf("device=%s,socket=%s", emu->address, socket);
	g_autoptr(TestGuest) g = NULL;
	g_autofree char *reason = NULL;
	DpProc *helper;
	StateWait w;
	guint fds;
	int status;

	helper = helper_start(r, VM_NAME, (const char *const[]){ spec, NULL });
	g = test_guest_start(socket, NET_FEATURES);
	w = (StateWait){ 0, "running", 0 };
	wait_until(state_seen, r, &w, "State running");
	fds = dp_count_fds(helper->pid);

	w = (StateWait){ 0, "failed", n_states(r, 0) };
	dp_emu_kill(emu);
	wait_until(state_seen, r, &w, "State failed after the device was killed");
	wait_reason(r, "device lost: vfio-user socket hung up");
	g_assert_true(dp_proc_alive(helper));

	w = (StateWait){ 0, "running", n_states(r, 0) };
	dp_emu_restart(emu, (const char *const[]){ "--type", "net", NULL });
	wait_until(state_seen, r, &w, "State running again once the device is back");
	reason = get_string(r, 0, "StateReason");
	g_assert_cmpstr(reason, ==, "2 of 2 vrings enabled");
	g_assert_cmpuint(dp_count_fds(helper->pid), ==, fds);

	status = dp_proc_stop(helper, 30);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}

/* ---- the bus daemon restarted ---- */

/* how long a restarted bus may take to see the helper again: the helper
 * retries at most 2 s apart, so this only turns "never" into a failure */
#define BACK_ON_BUS_S 15

/* The dbus-daemon goes away and a new one listens on the same socket, three
 * times: each time the helper (still running, the datapath untouched) owns
 * its name again and shows every object with its current state, and later
 * changes reach the new bus. */
static void test_bus_restart(void)
{
	g_autoptr(Rig) r = rig_new();
	g_autoptr(TestEmu) emu = test_emu_start((const char *const[]){ "--type", "net", NULL });
	g_autofree char *socket = g_build_filename(r->dir, "vhost.sock", NULL);
	g_autofree char *spec = g_strdup_printf("device=%s,socket=%s", emu->address, socket);
	g_autofree char *config_path = g_build_filename(r->dir, "bus.conf", NULL);
	g_autofree char *path0 = port_path(0);
	g_autoptr(TestGuest) g = NULL;
	DpProc *helper;
	StateWait w = { 0 };
	gsize log_at = 0;
	int status;

	helper = helper_start(r, VM_NAME, (const char *const[]){ spec, NULL });
	g = test_guest_start(socket, NET_FEATURES);
	w = (StateWait){ 0, "running", 0 };
	wait_until(state_seen, r, &w, "State running");

	for (guint round = 1; round <= 3; round++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GVariant) all = NULL;
		g_autoptr(GVariant) objects = NULL;
		g_autoptr(GVariant) props = NULL;
		g_autoptr(GVariant) domain_name = NULL;
		g_autofree char *out = NULL;
		const char *state, *device;

		g_test_message("round %u: the bus daemon restarts on the same socket", round);
		rig_disconnect(r);
		test_daemon_stop(r->daemon);
		r->daemon = test_daemon_start(config_path);
		rig_connect(r);
		/* the helper says once that it lost the bus, and keeps running */
		log_at = dp_proc_wait_log(helper, "was closed", log_at, WAIT_S);
		wait_until_s(is_owned, r, GINT_TO_POINTER(TRUE), "the helper owning its name on the "
			     "restarted bus", BACK_ON_BUS_S);
		g_assert_true(dp_proc_alive(helper));

		/* every object, with the state it has now */
		all = test_call(r->c, path0, "org.freedesktop.DBus.Properties", "GetAll",
				g_variant_new("(s)", PORT_IFACE), &error);
		g_assert_no_error(error);
		g_variant_get(all, "(@a{sv})", &props);
		g_assert_true(g_variant_lookup(props, "State", "&s", &state));
		g_assert_cmpstr(state, ==, "running");
		g_assert_true(g_variant_lookup(props, "Device", "&s", &device));
		g_assert_cmpstr(device, ==, emu->address);
		objects = test_call(r->c, ROOT_PATH, "org.freedesktop.DBus.ObjectManager",
				    "GetManagedObjects", NULL, &error);
		g_assert_no_error(error);
		{
			g_autoptr(GVariant) dict = g_variant_get_child_value(objects, 0);
			g_autoptr(GVariant) ifaces = g_variant_lookup_value(
				dict, path0, G_VARIANT_TYPE("a{sa{sv}}"));

			g_assert_nonnull(ifaces);
		}
		domain_name = test_get_property(r->c, ROOT_PATH, DOMAIN_IFACE, "Name");
		g_assert_cmpstr(g_variant_get_string(domain_name, NULL), ==, VM_NAME);
		/* what an operator runs */
		g_assert_cmpint(ifcvfctl(r, &out, (const char *const[]){ "list", NULL }), ==, 0);
		assert_has(out, VM_NAME);
	}

	/* a change after the restarts reaches the new bus */
	w = (StateWait){ 0, "waiting", n_states(r, 0) };
	g_clear_pointer(&g, test_guest_free);
	wait_until(state_seen, r, &w, "State waiting on the restarted bus");

	status = dp_proc_stop(helper, 30);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}

int main(int argc, char **argv)
{
	/* a critical in the helper or ifcvfctl fails the test, not a log line */
	g_setenv("G_DEBUG", "fatal-criticals", TRUE);
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ifcvf-helper/helper-bus/lifecycle", test_lifecycle);
	g_test_add_func("/ifcvf-helper/helper-bus/lm-mode", test_lm_mode);
	g_test_add_func("/ifcvf-helper/helper-bus/migration-state", test_migration_state);
	g_test_add_func("/ifcvf-helper/helper-bus/second-helper", test_second_helper);
	g_test_add_func("/ifcvf-helper/helper-bus/no-mem-table", test_no_mem_table);
	g_test_add_func("/ifcvf-helper/helper-bus/device-lost", test_device_lost);
	g_test_add_func("/ifcvf-helper/helper-bus/backend-channel-full", test_backend_channel_full);
	g_test_add_func("/ifcvf-helper/helper-bus/blk-capacity", test_blk_capacity);
	g_test_add_func("/ifcvf-helper/helper-bus/blk-stop-drains", test_blk_stop_drains);
	g_test_add_func("/ifcvf-helper/helper-bus/blk-no-drain", test_blk_no_drain);
	g_test_add_func("/ifcvf-helper/helper-bus/blk-reconnect", test_blk_reconnect);
	g_test_add_func("/ifcvf-helper/helper-bus/lm-mode-during-bring-up",
			test_lm_mode_during_bring_up);
	g_test_add_func("/ifcvf-helper/helper-bus/bus-restart", test_bus_restart);
	return g_test_run();
}

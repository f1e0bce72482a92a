/* `ifcvf-helper probe` against real ifcvf-emu processes: the facts it prints
 * for net and blk VFs, the live-migration mode rules, and a clear refusal for
 * every kind of broken device or bad argument. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "test-util.h"

typedef struct {
	int status;
	char *out;
	char *err;
	JsonNode *json;
} Probe;

static void probe_free(Probe *p)
{
	g_free(p->out);
	g_free(p->err);
	if (p->json)
		json_node_unref(p->json);
	g_free(p);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Probe, probe_free)

/* Run `ifcvf-helper probe ADDRESS EXTRA...`; parse stdout when it succeeded. */
static Probe *run_probe(const char *address, const char *const *extra)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	Probe *p = g_new0(Probe, 1);

	g_ptr_array_add(argv, (gpointer)test_program("IFCVF_HELPER"));
	g_ptr_array_add(argv, (gpointer) "probe");
	g_ptr_array_add(argv, (gpointer)address);
	for (guint i = 0; extra && extra[i]; i++)
		g_ptr_array_add(argv, (gpointer)extra[i]);
	g_ptr_array_add(argv, NULL);
	p->status = test_run((const char *const *)argv->pdata, &p->out, &p->err);
	g_test_message("probe %s: status %d\nstdout: %s\nstderr: %s", address, p->status,
		       p->out, p->err);
	if (p->status == 0) {
		g_autoptr(GError) error = NULL;

		p->json = json_from_string(p->out, &error);
		g_assert_no_error(error);
	}
	return p;
}

static JsonObject *obj(Probe *p)
{
	g_assert_nonnull(p->json);
	return json_node_get_object(p->json);
}

static const char *path_str(Probe *p, const char *a, const char *b)
{
	JsonObject *o = obj(p);

	if (b)
		o = json_object_get_object_member(o, a);
	return json_object_get_string_member(o, b ? b : a);
}

static gint64 path_int(Probe *p, const char *a, const char *b)
{
	JsonObject *o = obj(p);

	if (b)
		o = json_object_get_object_member(o, a);
	return json_object_get_int_member(o, b ? b : a);
}

static gboolean has_feature(Probe *p, const char *name)
{
	JsonArray *names = json_object_get_array_member(
		json_object_get_object_member(obj(p), "features"), "names");

	for (guint i = 0; i < json_array_get_length(names); i++)
		if (g_strcmp0(json_array_get_string_element(names, i), name) == 0)
			return TRUE;
	return FALSE;
}

static void assert_refused(Probe *p, const char *address, const char *cause)
{
	g_assert_cmpint(p->status, ==, 1);
	g_assert_cmpstr(p->out, ==, "");
	if (!strstr(p->err, address))
		g_error("stderr does not name the device %s: %s", address, p->err);
	if (!strstr(p->err, cause))
		g_error("stderr does not give the cause '%s': %s", cause, p->err);
	/* exactly one line, for libvirt and scripts */
	g_assert_nonnull(strchr(p->err, '\n'));
	g_assert_cmpstr(strchr(p->err, '\n') + 1, ==, "");
}

static void check_cap(Probe *p, const char *name)
{
	JsonObject *caps = json_object_get_object_member(obj(p), "capabilities");
	JsonObject *c = json_object_get_object_member(caps, name);

	g_assert_nonnull(c);
	g_assert_true(json_object_has_member(c, "bar"));
	g_assert_true(json_object_has_member(c, "offset"));
	g_assert_true(json_object_has_member(c, "length"));
	g_assert_cmpstr(json_object_get_string_member(c, "length"), !=, "0x0");
}

static void test_net(void)
{
	const char *args[] = { "--type", "net", "--queue-pairs", "4", "--mac", "52:54:00:12:34:56", NULL };
	g_autoptr(TestEmu) emu = test_emu_start(args);
	g_autoptr(Probe) p = run_probe(emu->address, NULL);
	JsonObject *lm;

	g_assert_cmpint(p->status, ==, 0);
	g_assert_cmpstr(path_str(p, "device", NULL), ==, emu->address);
	g_assert_cmpstr(path_str(p, "type", NULL), ==, "net");
	g_assert_cmpstr(path_str(p, "ids", "vendor"), ==, "0x1af4");
	g_assert_cmpstr(path_str(p, "ids", "device"), ==, "0x1041");
	g_assert_cmpstr(path_str(p, "ids", "subsystem_vendor"), ==, "0x8086");
	g_assert_cmpstr(path_str(p, "ids", "subsystem_device"), ==, "0x001a");
	g_assert_cmpint(path_int(p, "num_queues", NULL), ==, 9);
	g_assert_cmpint(path_int(p, "queue_pairs", NULL), ==, 4);
	g_assert_cmpint(path_int(p, "max_vrings", NULL), ==, 8);
	g_assert_cmpint(path_int(p, "msix_vectors", NULL), >=, 9);
	g_assert_cmpint(path_int(p, "notify_off_multiplier", NULL), >, 0);
	g_assert_cmpstr(path_str(p, "mac", NULL), ==, "52:54:00:12:34:56");
	check_cap(p, "common");
	check_cap(p, "notify");
	check_cap(p, "isr");
	check_cap(p, "device");
	g_assert_true(has_feature(p, "VERSION_1"));
	g_assert_true(has_feature(p, "NET_MAC"));
	g_assert_true(has_feature(p, "NET_MQ"));
	g_assert_true(g_str_has_prefix(path_str(p, "features", "hex"), "0x"));
	lm = json_object_get_object_member(obj(p), "live_migration");
	g_assert_true(json_object_get_boolean_member(lm, "lm_block"));
	g_assert_cmpstr(json_object_get_string_member(lm, "mode"), ==, "hw");

	/* the emulator serves the next client after the probe let go */
	{
		g_autoptr(Probe) again = run_probe(emu->address, NULL);

		g_assert_cmpint(again->status, ==, 0);
	}
}

static void test_blk(void)
{
	const char *args[] = { "--type", "blk", "--queues", "2", "--capacity", "4096", NULL };
	g_autoptr(TestEmu) emu = test_emu_start(args);
	g_autoptr(Probe) p = run_probe(emu->address, NULL);
	JsonObject *blk;

	g_assert_cmpint(p->status, ==, 0);
	g_assert_cmpstr(path_str(p, "type", NULL), ==, "blk");
	g_assert_cmpstr(path_str(p, "ids", "device"), ==, "0x1042");
	g_assert_cmpstr(path_str(p, "ids", "subsystem_device"), ==, "0x0002");
	g_assert_cmpint(path_int(p, "queues", NULL), ==, 2);
	g_assert_false(json_object_has_member(obj(p), "mac"));
	blk = json_object_get_object_member(obj(p), "blk");
	g_assert_nonnull(blk);
	g_assert_cmpint(json_object_get_int_member(blk, "capacity_sectors"), ==, 4096);
	g_assert_cmpint(json_object_get_int_member(blk, "capacity_bytes"), ==, 4096 * 512);
	g_assert_cmpint(json_object_get_int_member(blk, "blk_size"), ==, 512);
	g_assert_nonnull(json_object_get_object_member(blk, "geometry"));
	g_assert_true(has_feature(p, "BLK_BLK_SIZE"));
}

static void test_no_lm(void)
{
	const char *args[] = { "--type", "net", "--no-lm", NULL };
	const char *sw[] = { "--sw-live-migration", NULL };
	const char *sw_devargs[] = { "--devargs", "sw-live-migration=1", NULL };
	const char *hw_devargs[] = { "--devargs", "sw-live-migration=0", NULL };
	g_autoptr(TestEmu) emu = test_emu_start(args);
	g_autoptr(Probe) refused = run_probe(emu->address, NULL);
	g_autoptr(Probe) refused2 = run_probe(emu->address, hw_devargs);
	g_autoptr(Probe) ok = run_probe(emu->address, sw);
	g_autoptr(Probe) ok2 = run_probe(emu->address, sw_devargs);
	JsonObject *lm;

	assert_refused(refused, emu->address,
		       "does not support HW assist live migration, please enable sw-live-migration");
	g_assert_nonnull(strstr(refused->err, "no BAR4"));
	assert_refused(refused2, emu->address, "please enable sw-live-migration");

	g_assert_cmpint(ok->status, ==, 0);
	lm = json_object_get_object_member(obj(ok), "live_migration");
	g_assert_false(json_object_get_boolean_member(lm, "lm_block"));
	g_assert_cmpstr(json_object_get_string_member(lm, "mode"), ==, "sw");
	g_assert_cmpint(ok2->status, ==, 0);
}

/* virtio capabilities in BAR4 (as QEMU's virtio-net-pci has them) must not
 * be taken for the live-migration block */
static void test_bar4_claimed(void)
{
	const char *args[] = { "--type", "net", "--fault", "cap-bar=4", NULL };
	const char *sw[] = { "--sw-live-migration", NULL };
	g_autoptr(TestEmu) emu = test_emu_start(args);
	g_autoptr(Probe) refused = run_probe(emu->address, NULL);
	g_autoptr(Probe) ok = run_probe(emu->address, sw);

	assert_refused(refused, emu->address, "BAR4 holds virtio capabilities");
	g_assert_cmpint(ok->status, ==, 0);
	g_assert_false(json_object_get_boolean_member(
		json_object_get_object_member(obj(ok), "live_migration"), "lm_block"));
	g_assert_cmpint(json_object_get_int_member(
		json_object_get_object_member(json_object_get_object_member(obj(ok), "capabilities"),
					      "common"), "bar"), ==, 4);
}

typedef struct {
	const char *fault;
	const char *cause;
} FaultCase;

static const FaultCase fault_cases[] = {
	{ "cap-outside-bar", "points outside BAR" },
	{ "cap-loop", "capability list loops" },
	{ "missing-cap=common", "no common configuration capability" },
	{ "missing-cap=notify", "no notify capability" },
	{ "missing-cap=isr", "no ISR capability" },
	{ "missing-cap=device", "no device configuration capability" },
	{ "wrong-vendor", "is not virtio" },
	{ "wrong-device", "not an IFCVF VF" },
	{ "wrong-subsystem", "not an IFCVF VF" },
	{ "num-queues=8", "num_queues 8 is even" },
	{ "num-queues=0", "num_queues is 0" },
	{ "num-queues=1", "leaves no queue pair" },
};

static void test_fault(gconstpointer data)
{
	const FaultCase *c = data;
	const char *args[] = { "--type", "net", "--fault", c->fault, NULL };
	g_autoptr(TestEmu) emu = test_emu_start(args);
	g_autoptr(Probe) p = run_probe(emu->address, NULL);

	assert_refused(p, emu->address, c->cause);
}

static void test_bad_address(void)
{
	static const struct {
		const char *address;
		const char *cause;
	} cases[] = {
		{ "pci:0000:zz:00.0", "pci:0000:zz:00.0" },
		{ "pci:0000:00:00", "pci:0000:00:00" },
		{ "usb:1-2", "usb:1-2" },
		{ "vfio-user:", "vfio-user:" },
		{ "0000:06:00.3", "0000:06:00.3" },
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(Probe) p = run_probe(cases[i].address, NULL);

		g_assert_cmpint(p->status, !=, 0);
		g_assert_cmpstr(p->out, ==, "");
		g_assert_nonnull(strstr(p->err, cases[i].cause));
	}
}

static void test_missing_socket(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp("ifcvf-probe-XXXXXX", &error);
	g_autofree char *address = g_strconcat("vfio-user:", dir, "/absent.sock", NULL);
	g_autoptr(Probe) p = NULL;

	g_assert_no_error(error);
	p = run_probe(address, NULL);
	assert_refused(p, address, "No such file or directory");
	g_rmdir(dir);
}

static void test_bad_usage(void)
{
	const char *bad_devargs[] = { "--devargs", "sw-live-migration=yes", NULL };
	const char *unknown_key[] = { "--devargs", "vdpa=1", NULL };
	const char *bad_option[] = { "--frobnicate", NULL };
	g_autoptr(Probe) p1 = run_probe("vfio-user:/nonexistent", bad_devargs);
	g_autoptr(Probe) p2 = run_probe("vfio-user:/nonexistent", unknown_key);
	g_autoptr(Probe) p3 = run_probe("vfio-user:/nonexistent", bad_option);

	g_assert_cmpint(p1->status, ==, 2);
	g_assert_nonnull(strstr(p1->err, "sw-live-migration"));
	g_assert_cmpint(p2->status, ==, 2);
	g_assert_nonnull(strstr(p2->err, "unknown option 'vdpa'"));
	g_assert_cmpint(p3->status, ==, 2);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ifcvf-helper/probe/net", test_net);
	g_test_add_func("/ifcvf-helper/probe/blk", test_blk);
	g_test_add_func("/ifcvf-helper/probe/no-lm", test_no_lm);
	g_test_add_func("/ifcvf-helper/probe/bar4-claimed", test_bar4_claimed);
	for (guint i = 0; i < G_N_ELEMENTS(fault_cases); i++) {
		g_autofree char *path = g_strdup_printf("/ifcvf-helper/probe/fault/%s", fault_cases[i].fault);

		g_test_add_data_func(path, &fault_cases[i], test_fault);
	}
	g_test_add_func("/ifcvf-helper/probe/bad-address", test_bad_address);
	g_test_add_func("/ifcvf-helper/probe/missing-socket", test_missing_socket);
	g_test_add_func("/ifcvf-helper/probe/bad-usage", test_bad_usage);
	return g_test_run();
}

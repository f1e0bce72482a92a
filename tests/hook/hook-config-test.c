/* Unit tests of the hook's domain XML and port map reading (hook-config.h)
 * on the files in tests/libvirt/data, and of the command lines and files it
 * makes from them: `run`'s argv, systemd-run's argv (and that the shipped
 * template unit has the same settings), the pidfile record. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "helper-error.h"
#include "hook-config.h"
#include "hook-files.h"
#include "hook-helper.h"
#include "hook-systemd.h"

static HookVm *parse_file(const char *name, gboolean with_map, GError **error)
{
	g_autofree char *path = g_test_build_filename(G_TEST_DIST, "libvirt", "data", name, NULL);
	g_autofree char *map_path = g_test_build_filename(G_TEST_DIST, "libvirt", "data", "ports.conf", NULL);
	g_autoptr(GKeyFile) map = NULL;
	g_autofree char *xml = NULL;
	gsize len = 0;

	g_assert_true(g_file_get_contents(path, &xml, &len, NULL));
	if (with_map) {
		map = hook_port_map_load(map_path, NULL);
		g_assert_nonnull(map);
	}
	return hook_vm_parse(xml, len, map, error);
}

static const HookPort *port(const HookVm *vm, guint i)
{
	g_assert_cmpuint(i, <, vm->ports->len);
	return g_ptr_array_index(vm->ports, i);
}

static void test_metadata(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HookVm) vm = parse_file("metadata.xml", FALSE, &error);
	g_autofree char *spec0 = NULL;
	g_autofree char *spec1 = NULL;

	g_assert_no_error(error);
	g_assert_cmpstr(vm->name, ==, "vm-meta");
	g_assert_cmpstr(vm->uuid, ==, "11111111-2222-4333-8444-555555555555");
	/* the OVS interface has no VF: skipped */
	g_assert_cmpuint(vm->ports->len, ==, 2);
	g_assert_cmpstr(port(vm, 0)->socket, ==, "/run/vm/net0.sock");
	g_assert_cmpstr(port(vm, 0)->device, ==, "pci:0000:af:00.3");
	g_assert_false(port(vm, 0)->client);
	g_assert_false(port(vm, 0)->sw_lm);
	g_assert_cmpuint(port(vm, 0)->queue_pairs, ==, 2);
	/* <driver page_per_vq='on'/> on the first only */
	g_assert_true(port(vm, 0)->page_per_vq);
	g_assert_false(port(vm, 1)->page_per_vq);
	g_assert_true(port(vm, 1)->client);
	g_assert_true(port(vm, 1)->sw_lm);
	g_assert_cmpuint(port(vm, 1)->queue_pairs, ==, 0);
	spec0 = hook_port_to_spec(port(vm, 0));
	spec1 = hook_port_to_spec(port(vm, 1));
	g_assert_cmpstr(spec0, ==, "device=pci:0000:af:00.3,socket=/run/vm/net0.sock,queue-pairs=2");
	g_assert_cmpstr(spec1, ==, "device=vfio-user:/run/emu/vf1.sock,socket=/run/vm/net1.sock,"
			"client,sw-live-migration=1");
}

/* A <disk type='vhostuser'> (blk) gets its VF like an interface, from the
 * metadata or the map (ports.conf names net1.sock); a file disk is not ours.
 * QEMU always connects to a vhost-user disk: the helper listens. */
static void test_disk(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HookVm) vm = parse_file("disk.xml", TRUE, &error);
	g_autofree char *spec = NULL;

	g_assert_no_error(error);
	g_assert_cmpstr(vm->name, ==, "vm-disk");
	g_assert_cmpuint(vm->ports->len, ==, 2);
	g_assert_cmpstr(port(vm, 0)->socket, ==, "/run/vm/disk0.sock");
	g_assert_cmpstr(port(vm, 0)->device, ==, "vfio-user:/run/emu/blk0.sock");
	g_assert_false(port(vm, 0)->client);
	spec = hook_port_to_spec(port(vm, 0));
	g_assert_cmpstr(spec, ==, "device=vfio-user:/run/emu/blk0.sock,socket=/run/vm/disk0.sock,"
			"queue-pairs=2");
	g_assert_cmpstr(port(vm, 1)->socket, ==, "/run/vm/net1.sock");
}

static void test_port_map(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HookVm) vm = parse_file("portmap.xml", TRUE, &error);

	g_assert_no_error(error);
	g_assert_cmpstr(vm->name, ==, "vm-nova");
	/* vhu5678 is not in the map: not ours */
	g_assert_cmpuint(vm->ports->len, ==, 1);
	g_assert_cmpstr(port(vm, 0)->socket, ==, "/var/run/openvswitch/vhu1234");
	g_assert_cmpstr(port(vm, 0)->device, ==, "vfio-user:/run/emu/vf0.sock");
	g_assert_true(port(vm, 0)->sw_lm);
	g_assert_cmpuint(port(vm, 0)->queue_pairs, ==, 4);
}

static void test_both(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HookVm) vm = parse_file("both.xml", TRUE, &error);

	g_assert_no_error(error);
	g_assert_cmpuint(vm->ports->len, ==, 2);
	/* the map also names net1.sock, the metadata wins */
	g_assert_cmpstr(port(vm, 0)->device, ==, "vfio-user:/run/emu/vf1.sock");
	g_assert_cmpstr(port(vm, 1)->device, ==, "vfio-user:/run/emu/vf0.sock");
}

static void test_neither(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HookVm) vm = parse_file("neither.xml", TRUE, &error);

	g_assert_no_error(error);
	g_assert_cmpstr(vm->uuid, ==, "cccccccc-2222-4333-8444-555555555555");
	g_assert_cmpuint(vm->ports->len, ==, 0);
}

static void expect_error(const char *file, const char *needle)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HookVm) vm = parse_file(file, TRUE, &error);

	g_assert_null(vm);
	g_assert_nonnull(error);
	g_test_message("%s: %s", file, error->message);
	g_assert_nonnull(strstr(error->message, needle));
	g_assert_null(strchr(error->message, '\n'));
}

static void test_malformed(void)
{
	expect_error("malformed.xml", "domain XML: malformed at line");
}

static void test_bad_lm(void)
{
	expect_error("bad-lm.xml", "lm='fast' must be 'hw' or 'sw'");
}

/* what `release end` reads: the UUID, whatever the ports say */
static void test_uuid_only(void)
{
	g_autofree char *path = g_test_build_filename(G_TEST_DIST, "libvirt", "data", "bad-lm.xml",
						      NULL);
	g_autoptr(GError) error = NULL;
	g_autofree char *xml = NULL;
	g_autofree char *uuid = NULL;
	gsize len = 0;

	g_assert_true(g_file_get_contents(path, &xml, &len, NULL));
	uuid = hook_vm_uuid(xml, len, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(uuid, ==, "eeeeeeee-2222-4333-8444-555555555555");
	g_clear_pointer(&uuid, g_free);
	uuid = hook_vm_uuid("<domain><name>x</name><uuid>", 28, &error);
	g_assert_null(uuid);
	g_assert_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS);
	g_assert_nonnull(strstr(error->message, "domain XML: malformed"));
	g_clear_error(&error);
	uuid = hook_vm_uuid("<domain><name>x</name><uuid>nope</uuid></domain>", 48, &error);
	g_assert_null(uuid);
	g_assert_nonnull(strstr(error->message, "<uuid> 'nope' is not a UUID"));
}

static void test_unmatched(void)
{
	expect_error("unmatched.xml", "port '/run/vm/typo.sock' matches no");
}

static void test_not_domain(void)
{
	g_autoptr(GError) error = NULL;
	const char xml[] = "<network><name>x</name></network>";

	g_assert_null(hook_vm_parse(xml, sizeof(xml) - 1, NULL, &error));
	g_assert_nonnull(strstr(error->message, "not <domain>"));
	g_clear_error(&error);
	g_assert_null(hook_vm_parse("", 0, NULL, &error));
	g_assert_nonnull(strstr(error->message, "malformed"));
}

static void test_bad_map(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp("hook-map-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "ports.conf", NULL);
	g_autofree char *missing = g_build_filename(dir, "none.conf", NULL);
	g_autoptr(GKeyFile) empty = hook_port_map_load(missing, &error);

	g_assert_no_error(error);
	g_assert_nonnull(empty);
	g_assert_true(g_file_set_contents(path, "not a key file [\n", -1, NULL));
	g_assert_null(hook_port_map_load(path, &error));
	g_assert_nonnull(strstr(error->message, path));
	g_unlink(path);
	g_rmdir(dir);
}

/* The shipped examples (data/examples) say what they mean. */
static void test_examples(void)
{
	g_autofree char *xml_path = g_test_build_filename(G_TEST_DIST, "..", "data", "examples",
							  "domain-metadata.xml", NULL);
	g_autofree char *map_path = g_test_build_filename(G_TEST_DIST, "..", "data", "examples",
							  "ports.conf", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(GKeyFile) map = hook_port_map_load(map_path, &error);
	g_autoptr(HookVm) vm = NULL;
	g_autofree char *xml = NULL;
	gsize len = 0;

	g_assert_no_error(error);
	g_assert_true(g_key_file_has_group(map, "/var/run/openvswitch/vhu77e0c4d2-1a"));
	g_assert_true(g_file_get_contents(xml_path, &xml, &len, NULL));
	vm = hook_vm_parse(xml, len, map, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(vm->name, ==, "vm1");
	g_assert_cmpuint(vm->ports->len, ==, 1);
	g_assert_cmpstr(port(vm, 0)->device, ==, "pci:0000:af:00.3");
	g_assert_cmpuint(port(vm, 0)->queue_pairs, ==, 2);
	g_assert_false(port(vm, 0)->sw_lm);
	g_assert_false(port(vm, 0)->client);
}

static void test_bad_uuid(void)
{
	g_autoptr(GError) error = NULL;
	const char xml[] = "<domain><name>x</name><uuid>../../etc/passwd</uuid></domain>";

	g_assert_null(hook_vm_parse(xml, sizeof(xml) - 1, NULL, &error));
	g_assert_cmpstr(error->message, ==, "domain XML: <uuid> '../../etc/passwd' is not a UUID");
}

static void assert_strv(char **got, const char *const *want)
{
	g_autofree char *g = g_strjoinv("|", got);
	g_autofree char *w = g_strjoinv("|", (char **)want);

	g_assert_cmpstr(g, ==, w);
}

/* `run` gets the VM, the bus, the libvirt URI when there is one, the ports */
static void test_helper_argv(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HookVm) vm = parse_file("metadata.xml", FALSE, &error);
	HookEnv env = { .helper = (char *)"/usr/bin/ifcvf-helper", .bus = (char *)"system",
			.libvirt_uri = (char *)"qemu:///system" };
	g_auto(GStrv) with_uri = NULL;
	g_auto(GStrv) without = NULL;

	g_assert_no_error(error);
	with_uri = hook_helper_argv(&env, vm);
	assert_strv(with_uri, (const char *const[]){
		"/usr/bin/ifcvf-helper", "run", "--bus", "system",
		"--uuid", "11111111-2222-4333-8444-555555555555", "--name", "vm-meta",
		"--libvirt-uri", "qemu:///system",
		"--port", "device=pci:0000:af:00.3,socket=/run/vm/net0.sock,queue-pairs=2",
		"--port", "device=vfio-user:/run/emu/vf1.sock,socket=/run/vm/net1.sock,client,"
			  "sw-live-migration=1", NULL });
	env.libvirt_uri = NULL;
	env.bus = NULL;
	without = hook_helper_argv(&env, vm);
	assert_strv(without, (const char *const[]){
		"/usr/bin/ifcvf-helper", "run", "--bus", "none",
		"--uuid", "11111111-2222-4333-8444-555555555555", "--name", "vm-meta",
		"--port", "device=pci:0000:af:00.3,socket=/run/vm/net0.sock,queue-pairs=2",
		"--port", "device=vfio-user:/run/emu/vf1.sock,socket=/run/vm/net1.sock,client,"
			  "sw-live-migration=1", NULL });
}

static void test_systemd_run_argv(void)
{
	HookSystemd sd = { .systemd_run = "/usr/bin/systemd-run", .systemctl = "systemctl" };
	g_autofree char *unit = hook_systemd_unit_name("11111111-2222-4333-8444-555555555555");
	const char *const command[] = { "/usr/bin/ifcvf-helper", "hook", "exec",
					"/run/ifcvf-helper/11111111-2222-4333-8444-555555555555.args",
					NULL };
	g_auto(GStrv) argv = hook_systemd_run_argv(&sd, unit, "ifcvf-helper for VM vm $1 %i",
						   command);

	g_assert_cmpstr(unit, ==, "ifcvf-helper-11111111-2222-4333-8444-555555555555.service");
	assert_strv(argv, (const char *const[]){
		"/usr/bin/systemd-run",
		"--unit=ifcvf-helper-11111111-2222-4333-8444-555555555555.service",
		"--description=ifcvf-helper for VM vm $1 %i", "--quiet", "--no-ask-password",
		"--property=Type=exec", "--property=KillMode=mixed",
		"--property=TimeoutStopSec=15", "--property=Restart=on-failure",
		"--property=RestartSec=100ms", "--property=StartLimitIntervalSec=30",
		"--property=StartLimitBurst=5", "--collect", "--",
		"/usr/bin/ifcvf-helper", "hook", "exec",
		"/run/ifcvf-helper/11111111-2222-4333-8444-555555555555.args", NULL });
}

/* data/systemd/ifcvf-helper@.service.in runs what the transient unit runs,
 * with the same settings */
static void test_template_unit(void)
{
	g_autofree char *path = g_test_build_filename(G_TEST_DIST, "..", "data", "systemd",
						      "ifcvf-helper@.service.in", NULL);
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) error = NULL;
	HookSystemd sd = { .systemd_run = "systemd-run" };
	const char *const command[] = { "X", NULL };
	g_auto(GStrv) argv = hook_systemd_run_argv(&sd, "u", "d", command);
	g_autofree char *exec = NULL;

	g_assert_true(g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &error));
	g_assert_no_error(error);
	for (guint i = 0; argv[i]; i++) {
		g_auto(GStrv) kv = NULL;
		g_autofree char *value = NULL;

		if (!g_str_has_prefix(argv[i], "--property="))
			continue;
		kv = g_strsplit(argv[i] + strlen("--property="), "=", 2);
		/* the start limit is the unit's, not the service's */
		value = g_key_file_get_string(kf, g_str_has_prefix(kv[0], "StartLimit") ? "Unit" :
					      "Service", kv[0], &error);
		g_assert_no_error(error);
		g_assert_cmpstr(value, ==, kv[1]);
	}
	exec = g_key_file_get_string(kf, "Service", "ExecStart", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(exec, ==, "@bindir@/ifcvf-helper hook exec /run/ifcvf-helper/%i.args");
}

static void test_record(void)
{
	g_autofree char *dir = g_dir_make_tmp("hook-rec-XXXXXX", NULL);
	g_autofree char *path = hook_record_path(dir, "11111111-2222-4333-8444-555555555555");
	g_autofree char *lock = hook_lock_path(dir, "vfio-user:/run/a b/vf.sock");
	g_autoptr(HookRecord) rec = hook_record_new();
	g_autoptr(HookRecord) back = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *text = NULL;

	g_assert_nonnull(dir);
	g_assert_true(g_str_has_suffix(lock, "/vf-vfio-user:%2Frun%2Fa%20b%2Fvf.sock.lock"));
	g_assert_null(hook_record_read(path));
	rec->pid = 1234;
	rec->unit = g_strdup("ifcvf-helper-x.service");
	g_ptr_array_add(rec->locks, g_strdup(lock));
	g_ptr_array_add(rec->sockets, g_strdup("/run/vm/net0.sock"));
	g_assert_true(hook_record_write(path, rec, &error));
	g_assert_no_error(error);
	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	g_assert_true(g_str_has_prefix(text, "1234\nunit ifcvf-helper-x.service\nlock "));
	back = hook_record_read(path);
	g_assert_nonnull(back);
	g_assert_cmpint(back->pid, ==, 1234);
	g_assert_cmpstr(back->unit, ==, "ifcvf-helper-x.service");
	g_assert_cmpuint(back->locks->len, ==, 1);
	g_assert_cmpstr(g_ptr_array_index(back->locks, 0), ==, lock);
	g_assert_cmpuint(back->sockets->len, ==, 1);
	g_assert_cmpstr(g_ptr_array_index(back->sockets, 0), ==, "/run/vm/net0.sock");
	g_unlink(path);
	g_rmdir(dir);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/hook-config/metadata", test_metadata);
	g_test_add_func("/hook-config/port-map", test_port_map);
	g_test_add_func("/hook-config/disk", test_disk);
	g_test_add_func("/hook-config/both", test_both);
	g_test_add_func("/hook-config/neither", test_neither);
	g_test_add_func("/hook-config/malformed", test_malformed);
	g_test_add_func("/hook-config/bad-lm", test_bad_lm);
	g_test_add_func("/hook-config/uuid-only", test_uuid_only);
	g_test_add_func("/hook-config/unmatched", test_unmatched);
	g_test_add_func("/hook-config/not-domain", test_not_domain);
	g_test_add_func("/hook-config/bad-map", test_bad_map);
	g_test_add_func("/hook-config/examples", test_examples);
	g_test_add_func("/hook-config/bad-uuid", test_bad_uuid);
	g_test_add_func("/hook-config/helper-argv", test_helper_argv);
	g_test_add_func("/hook-config/systemd-run-argv", test_systemd_run_argv);
	g_test_add_func("/hook-config/template-unit", test_template_unit);
	g_test_add_func("/hook-config/record", test_record);
	return g_test_run();
}

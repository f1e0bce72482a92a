/* `ifcvf-helper run` on the command line: bad --port values are refused
 * with a line naming the key, a VF that cannot be used stops the start with
 * one line naming the port, and --help tells the keys. No frontend here. */
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <string.h>

#include "datapath-util.h"

typedef struct {
	int status;
	char *out;
	char *err;
} Result;

static void result_free(Result *r)
{
	g_free(r->out);
	g_free(r->err);
	g_free(r);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Result, result_free)

static Result *run(const char *const *args)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	Result *r = g_new0(Result, 1);

	g_ptr_array_add(argv, (gpointer)test_program("IFCVF_HELPER"));
	g_ptr_array_add(argv, (gpointer) "run");
	/* without a bus: a VF's failure is the one line on stderr */
	g_ptr_array_add(argv, (gpointer) "--bus");
	g_ptr_array_add(argv, (gpointer) "none");
	for (guint i = 0; args[i]; i++)
		g_ptr_array_add(argv, (gpointer)args[i]);
	g_ptr_array_add(argv, NULL);
	r->status = test_run((const char *const *)argv->pdata, &r->out, &r->err);
	g_test_message("status %d\nstdout: %s\nstderr: %s", r->status, r->out, r->err);
	return r;
}

/* exit status @status and exactly one line on stderr containing @cause */
static void assert_refused(Result *r, int status, const char *cause)
{
	g_assert_cmpint(r->status, ==, status);
	if (!strstr(r->err, cause))
		g_error("stderr does not say '%s': %s", cause, r->err);
	g_assert_nonnull(strchr(r->err, '\n'));
	g_assert_cmpstr(strchr(r->err, '\n') + 1, ==, "");
}

typedef struct {
	const char *port;
	const char *cause;
} BadPort;

static const BadPort bad_ports[] = {
	{ "socket=/tmp/x.sock", "device= is missing" },
	{ "device=vfio-user:/tmp/x", "socket= is missing" },
	{ "device=vfio-user:/tmp/x,socket=/tmp/s,colour=blue", "unknown key 'colour'" },
	{ "device=vfio-user:/tmp/x,socket=/tmp/s,queue-pairs=0", "queue-pairs='0' is not a number" },
	{ "device=vfio-user:/tmp/x,socket=/tmp/s,queue-pairs=lots", "queue-pairs='lots'" },
	{ "device=vfio-user:/tmp/x,socket=/tmp/s,sw-live-migration=2", "sw-live-migration='2' must be 0 or 1" },
	{ "device=vfio-user:/tmp/x,socket=/tmp/s,client=yes", "client='yes' must be 0 or 1" },
	{ "device=vfio-user:/tmp/x,socket=/tmp/s,socket=/tmp/t", "socket is given twice" },
	{ "device=/dev/vfio/12,socket=/tmp/s", "device='/dev/vfio/12' is neither" },
	{ "device,socket=/tmp/s", "device needs a value" },
};

static void test_bad_port(gconstpointer data)
{
	const BadPort *b = data;
	const char *args[] = { "--port", b->port, NULL };
	g_autoptr(Result) r = run(args);

	assert_refused(r, 2, b->cause);
	g_assert_nonnull(strstr(r->err, b->port));
}

static void test_usage(void)
{
	const char *none[] = { NULL };
	const char *help[] = { "--help", NULL };
	const char *dup[] = { "--port", "device=vfio-user:/a,socket=/tmp/s",
			      "--port", "device=vfio-user:/b,socket=/tmp/s", NULL };
	const char *uuid[] = { "--uuid", "not-a-uuid", "--port", "device=vfio-user:/a,socket=/s", NULL };
	g_autoptr(Result) r1 = run(none);
	g_autoptr(Result) r2 = run(help);
	g_autoptr(Result) r3 = run(dup);
	g_autoptr(Result) r4 = run(uuid);

	assert_refused(r1, 2, "no --port given");
	g_assert_cmpint(r2->status, ==, 0);
	for (const char *const *k = (const char *const[]){ "device=", "socket=", "client",
							    "sw-live-migration=", "queue-pairs=", NULL };
	     *k; k++)
		g_assert_nonnull(strstr(r2->out, *k));
	assert_refused(r3, 2, "ports 0 and 1 use the same socket");
	assert_refused(r4, 2, "--uuid 'not-a-uuid' is not a UUID");
}

/* a port whose VF cannot be used stops the start, naming the port */
static void test_unusable_vf(void)
{
	const char *emu_args[] = { "--type", "net", "--queue-pairs", "2", NULL };
	const char *nolm_args[] = { "--type", "net", "--no-lm", NULL };
	g_autoptr(TestEmu) emu = test_emu_start(emu_args);
	g_autoptr(TestEmu) nolm = test_emu_start(nolm_args);
	g_autofree char *sock = g_build_filename(emu->dir, "vh.sock", NULL);
	g_autofree char *good = g_strdup_printf("device=%s,socket=%s", emu->address, sock);
	g_autofree char *too_many = g_strdup_printf("device=%s,socket=%s,queue-pairs=3", emu->address,
						    sock);
	g_autofree char *missing = g_strdup_printf("device=vfio-user:%s/none.sock,socket=%s/b.sock",
						   emu->dir, emu->dir);
	g_autofree char *no_lm = g_strdup_printf("device=%s,socket=%s/c.sock", nolm->address,
						 emu->dir);
	const char *a1[] = { "--port", too_many, NULL };
	const char *a2[] = { "--port", good, "--port", missing, NULL };
	const char *a3[] = { "--port", no_lm, NULL };
	g_autoptr(Result) r1 = run(a1);
	g_autoptr(Result) r2 = run(a2);
	g_autoptr(Result) r3 = run(a3);

	assert_refused(r1, 1, "port 0 (");
	g_assert_nonnull(strstr(r1->err, "queue-pairs=3 is more than the VF has (2 queue pairs)"));
	/* named once: the port, then the device (the transport's own prefix) */
	assert_refused(r2, 1, "port 1");
	g_assert_nonnull(strstr(r2->err, "none.sock"));
	g_assert_nonnull(strstr(r2->err, "port 1: vfio-user:"));
	g_assert_null(strstr(strstr(r2->err, "vfio-user:") + 1, "vfio-user:"));
	assert_refused(r3, 1, "please enable sw-live-migration");
	/* nothing was left listening */
	g_assert_false(g_file_test(sock, G_FILE_TEST_EXISTS));
}

/* What stands at a server socket's path and is not the helper's stays
 * there: a file that is not a socket, and the live socket of another
 * process. The start is refused with a line saying which (DPDK's
 * unregister after a failed listen unlinks the path whatever it is). */
static void test_socket_path_taken(void)
{
	const char *emu_args[] = { "--type", "net", NULL };
	g_autoptr(TestEmu) emu = test_emu_start(emu_args);
	g_autofree char *file = g_build_filename(emu->dir, "file.sock", NULL);
	g_autofree char *live = g_build_filename(emu->dir, "live.sock", NULL);
	g_autofree char *p1 = g_strdup_printf("device=%s,socket=%s", emu->address, file);
	g_autofree char *p2 = g_strdup_printf("device=%s,socket=%s", emu->address, live);
	const char *a1[] = { "--port", p1, NULL };
	const char *a2[] = { "--port", p2, NULL };
	g_autofree char *content = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocket) listener = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
						   G_SOCKET_PROTOCOL_DEFAULT, &error);
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(live);
	struct stat st;

	g_assert_no_error(error);
	g_assert_true(g_file_set_contents(file, "precious\n", -1, NULL));
	g_assert_true(g_socket_bind(listener, addr, FALSE, &error));
	g_assert_no_error(error);
	g_assert_true(g_socket_listen(listener, &error));
	{
		g_autoptr(Result) r1 = run(a1);
		g_autoptr(Result) r2 = run(a2);

		g_assert_cmpint(r1->status, ==, 1);
		g_assert_nonnull(strstr(r1->err, "a file that is not a socket is in its place"));
		g_assert_cmpint(r2->status, ==, 1);
		g_assert_nonnull(strstr(r2->err, "another process listens on it"));
	}
	g_assert_true(g_file_get_contents(file, &content, NULL, NULL));
	g_assert_cmpstr(content, ==, "precious\n");
	g_assert_cmpint(lstat(live, &st), ==, 0);
	g_assert_true(S_ISSOCK(st.st_mode));
	/* and the test leaves nothing in /tmp */
	{
		g_autofree char *dir = g_strdup(emu->dir);

		test_emu_stop(g_steal_pointer(&emu));
		g_assert_false(g_file_test(dir, G_FILE_TEST_EXISTS));
	}
}

/* A running helper maps only the DPDK it uses: no driver from DPDK's plugin
 * directory (a shared EAL dlopen()s every one of them, ~220 objects and
 * ~17 MB of RSS per helper, one helper per VM) and no DPDK shared object
 * at all (the helper links the libraries it needs statically). */
static void test_no_dpdk_drivers(void)
{
	const char *emu_args[] = { "--type", "net", NULL };
	g_autoptr(TestEmu) emu = test_emu_start(emu_args);
	g_autofree char *spec = g_strdup_printf("device=%s,socket=%s/vh.sock", emu->address,
						emu->dir);
	const char *specs[] = { spec, NULL };
	g_autoptr(DpProc) helper = dp_helper_start(emu->dir, specs);
	g_autofree char *maps_path = g_strdup_printf("/proc/%d/maps", (int)helper->pid);
	g_autofree char *maps = NULL;
	g_auto(GStrv) lines = NULL;
	guint dpdk_objects = 0;

	g_assert_true(g_file_get_contents(maps_path, &maps, NULL, NULL));
	lines = g_strsplit(maps, "\n", -1);
	for (guint i = 0; lines[i]; i++)
		if (strstr(lines[i], "/librte_") || strstr(lines[i], "/pmds-")) {
			if (dpdk_objects++ < 5)
				g_test_message("mapped: %s", lines[i]);
		}
	g_assert_cmpuint(dpdk_objects, ==, 0);
	g_assert_cmpint(dp_proc_stop(helper, 30), ==, 0);
	(void)unlink(helper->log_path);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	for (guint i = 0; i < G_N_ELEMENTS(bad_ports); i++) {
		g_autofree char *path = g_strdup_printf("/datapath/run/bad-port/%u", i);

		g_test_add_data_func(path, &bad_ports[i], test_bad_port);
	}
	g_test_add_func("/datapath/run/usage", test_usage);
	g_test_add_func("/datapath/run/unusable-vf", test_unusable_vf);
	g_test_add_func("/datapath/run/no-dpdk-drivers", test_no_dpdk_drivers);
	g_test_add_func("/datapath/run/socket-path-taken", test_socket_path_taken);
	return g_test_run();
}

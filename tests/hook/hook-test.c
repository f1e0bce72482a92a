/* Process tests of `ifcvf-helper hook` (the libvirt qemu hook) against a
 * real ifcvf-emu: the helper starts detached (the hook returns and its
 * stdout/stderr reach EOF while the helper keeps running), its socket
 * listens, `release end` stops it and leaves nothing behind; every bad input
 * fails with one line and leaves nothing running; 20 cycles leak nothing.
 *
 * This process is a child subreaper so that the detached helpers become
 * its children and can be reaped (PID 1 of a container may never do it). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>

#include "test-util.h"

#define UUID1 "0a1b2c3d-4e5f-4061-8293-a4b5c6d7e801"
#define UUID2 "0a1b2c3d-4e5f-4061-8293-a4b5c6d7e802"
#define BUS_NAME1 "org.ifcvf.Helper1.Vm_0a1b2c3d4e5f40618293a4b5c6d7e801"
#define XMLNS "http://ifcvf-helper.org/xmlns/1"

typedef struct {
	TestEmu *emu;
	char *dir;       /* sockets, run and log dirs, port map */
	char *run_dir;
	char *log_dir;
	char *map;
	char *bus;       /* IFCVF_HELPER_BUS */
	char *systemd_run;  /* IFCVF_HELPER_SYSTEMD_RUN ("": double fork) */
	char *systemctl;    /* IFCVF_HELPER_SYSTEMCTL */
	char *libvirt_uri;  /* IFCVF_HELPER_LIBVIRT_URI ("": none) */
	char *socket_user;  /* IFCVF_HELPER_SOCKET_USER */
} Ctx;

/* Helpers seen in pidfiles: our children once detached (subreaper). Only
 * these are reaped here; the hook processes are GSubprocess's. */
static GHashTable *helper_pids;

static void ctx_setup(Ctx *c, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	c->emu = test_emu_start((const char *const[]){ "--type", "net", "--wire", "loop", NULL });
	c->dir = g_dir_make_tmp("hook-XXXXXX", &error);
	g_assert_no_error(error);
	c->run_dir = g_build_filename(c->dir, "run", NULL);
	c->log_dir = g_build_filename(c->dir, "log", NULL);
	c->map = g_build_filename(c->dir, "ports.conf", NULL);
	c->bus = g_strdup("none");
	c->systemd_run = g_strdup("");
	c->systemctl = g_strdup("systemctl");
	c->libvirt_uri = g_strdup("");
	c->socket_user = g_strdup("root:root");
}

static void rm_rf(const char *path)
{
	g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
	const char *n;

	while (d && (n = g_dir_read_name(d))) {
		g_autofree char *p = g_build_filename(path, n, NULL);

		if (g_file_test(p, G_FILE_TEST_IS_DIR) && !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
			rm_rf(p);
		else
			g_unlink(p);
	}
	g_rmdir(path);
}

static void ctx_teardown(Ctx *c, gconstpointer data)
{
	test_emu_stop(c->emu);
	rm_rf(c->dir);
	g_free(c->dir);
	g_free(c->run_dir);
	g_free(c->log_dir);
	g_free(c->map);
	g_free(c->bus);
	g_free(c->systemd_run);
	g_free(c->systemctl);
	g_free(c->libvirt_uri);
	g_free(c->socket_user);
}

static char *sock_path(Ctx *c, const char *name)
{
	return g_build_filename(c->dir, name, NULL);
}

/* A domain with one vhostuser interface on @socket; with @device, the
 * metadata gives it that VF. */
static char *domain_xml_mode(const char *name, const char *uuid, const char *socket,
			     const char *device, const char *mode);

static char *domain_xml(const char *name, const char *uuid, const char *socket,
			const char *device)
{
	return domain_xml_mode(name, uuid, socket, device, "client");
}

/* The same with QEMU's role on the socket: <source mode=@mode> (what Nova
 * writes from the port's vhostuser_mode) */
static char *domain_xml_mode(const char *name, const char *uuid, const char *socket,
			     const char *device, const char *mode)
{
	g_autofree char *md = device
		? g_strdup_printf("  <metadata>\n    <ifcvf:ports xmlns:ifcvf='" XMLNS "'>\n"
				  "      <ifcvf:port socket='%s' device='%s' lm='sw'/>\n"
				  "    </ifcvf:ports>\n  </metadata>\n", socket, device)
		: g_strdup("");

	return g_strdup_printf("<domain type='qemu'>\n  <name>%s</name>\n  <uuid>%s</uuid>\n%s"
			       "  <devices>\n    <interface type='vhostuser'>\n"
			       "      <source type='unix' path='%s' mode='%s'/>\n"
			       "      <model type='virtio'/>\n    </interface>\n  </devices>\n"
			       "</domain>\n", name, uuid, md, socket, mode);
}

typedef struct {
	gboolean done;
	char *out;
	char *err;
	GError *error;
} Comm;

static void on_comm(GObject *src, GAsyncResult *res, gpointer user_data)
{
	Comm *cm = user_data;

	g_subprocess_communicate_utf8_finish(G_SUBPROCESS(src), res, &cm->out, &cm->err,
					     &cm->error);
	cm->done = TRUE;
}

/* Run `ifcvf-helper hook vm OP SUB -` with @xml on stdin, reading its
 * stdout and stderr to EOF: a helper that kept them open would hang here
 * (fails after 60 s). Returns the exit status. */
static int run_hook_args(Ctx *c, const char *const *args, const char *xml, char **ret_err)
{
	g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(
		G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
		G_SUBPROCESS_FLAGS_STDERR_PIPE);
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autoptr(GSubprocess) p = NULL;
	g_autoptr(GError) error = NULL;
	gint64 end = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
	g_autofree char *joined = NULL;
	Comm cm = { 0 };
	int status;

	g_subprocess_launcher_setenv(l, "IFCVF_HELPER_RUN_DIR", c->run_dir, TRUE);
	g_subprocess_launcher_setenv(l, "IFCVF_HELPER_LOG_DIR", c->log_dir, TRUE);
	g_subprocess_launcher_setenv(l, "IFCVF_HELPER_PORTS_CONF", c->map, TRUE);
	g_subprocess_launcher_setenv(l, "IFCVF_HELPER_BUS", c->bus, TRUE);
	g_subprocess_launcher_setenv(l, "IFCVF_HELPER_SOCKET_USER", c->socket_user, TRUE);
	/* a double fork unless a test fakes systemd-run; no libvirtd unless a
	 * test names one */
	g_subprocess_launcher_setenv(l, "IFCVF_HELPER_SYSTEMD_RUN", c->systemd_run, TRUE);
	g_subprocess_launcher_setenv(l, "IFCVF_HELPER_SYSTEMCTL", c->systemctl, TRUE);
	g_subprocess_launcher_setenv(l, "IFCVF_HELPER_LIBVIRT_URI", c->libvirt_uri, TRUE);
	g_ptr_array_add(argv, (gpointer)test_program("IFCVF_HELPER"));
	g_ptr_array_add(argv, (gpointer) "hook");
	for (guint i = 0; args[i]; i++)
		g_ptr_array_add(argv, (gpointer)args[i]);
	g_ptr_array_add(argv, NULL);
	p = g_subprocess_launcher_spawnv(l, (const char *const *)argv->pdata, &error);
	g_assert_no_error(error);
	g_subprocess_communicate_utf8_async(p, xml, NULL, on_comm, &cm);
	while (!cm.done) {
		g_main_context_iteration(NULL, FALSE);
		if (g_get_monotonic_time() > end) {
			g_subprocess_force_exit(p);
			g_error("hook: stdout/stderr not closed after 60 s");
		}
		g_usleep(1000);
	}
	g_assert_no_error(cm.error);
	g_subprocess_wait(p, NULL, NULL);
	status = g_subprocess_get_if_exited(p) ? g_subprocess_get_exit_status(p) : -1;
	joined = g_strjoinv(" ", (char **)args);
	g_test_message("hook %s -> %d; stderr: %s", joined, status, cm.err);
	/* the hook prints nothing (migrate: XML unchanged) */
	g_assert_cmpstr(cm.out, ==, "");
	if (ret_err)
		*ret_err = g_steal_pointer(&cm.err);
	g_free(cm.out);
	g_free(cm.err);
	return status;
}

static int run_hook(Ctx *c, const char *op, const char *sub, const char *xml, char **ret_err)
{
	return run_hook_args(c, (const char *const[]){ "vm", op, sub, "-", NULL }, xml, ret_err);
}

static pid_t helper_pid(Ctx *c, const char *uuid)
{
	g_autofree char *base = g_strdup_printf("%s.pid", uuid);
	g_autofree char *path = g_build_filename(c->run_dir, base, NULL);
	g_autofree char *text = NULL;

	pid_t pid;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return 0;
	pid = (pid_t)g_ascii_strtoll(text, NULL, 10);
	if (pid > 0)
		g_hash_table_add(helper_pids, GINT_TO_POINTER(pid));
	return pid;
}

/* Reap the detached helpers that ended. */
static void reap(void)
{
	GHashTableIter it;
	gpointer key;

	g_hash_table_iter_init(&it, helper_pids);
	while (g_hash_table_iter_next(&it, &key, NULL)) {
		pid_t r = waitpid((pid_t)GPOINTER_TO_INT(key), NULL, WNOHANG);

		if (r != 0)
			g_hash_table_iter_remove(&it);
	}
}

/* Running processes (not zombies) whose command line names @uuid and this
 * test's directory (other checkouts may run this test at the same time). */
static guint count_helpers(Ctx *c, const char *uuid)
{
	g_autoptr(GDir) d = g_dir_open("/proc", 0, NULL);
	const char *n;
	guint count = 0;

	reap();
	while ((n = g_dir_read_name(d))) {
		g_autofree char *path = g_strdup_printf("/proc/%s/cmdline", n);
		g_autofree char *cmd = NULL;
		gboolean names_uuid = FALSE, names_dir = FALSE;
		gsize len = 0;

		if (!g_ascii_isdigit(*n) || (guint)atoi(n) == (guint)getpid() ||
		    !g_file_get_contents(path, &cmd, &len, NULL))
			continue;
		for (gsize off = 0; off < len; off += strlen(cmd + off) + 1) {
			names_uuid = names_uuid || g_str_equal(cmd + off, uuid);
			names_dir = names_dir || strstr(cmd + off, c->dir);
		}
		if (names_uuid && names_dir)
			count++;
	}
	return count;
}

static guint count_files(const char *dir)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	guint n = 0;

	while (d && g_dir_read_name(d))
		n++;
	return n;
}

static void assert_one_line(const char *err, const char *needle)
{
	g_assert_nonnull(err);
	g_assert_true(g_str_has_prefix(err, "ifcvf-helper hook: "));
	g_assert_true(g_str_has_suffix(err, "\n"));
	g_assert_null(strchr(err, '\n') == err + strlen(err) - 1 ? NULL : "two lines");
	if (!strstr(err, needle))
		g_error("expected '%s' in: %s", needle, err);
}

/* Nothing of VM @uuid is left: process, pidfile, locks, socket. */
static void assert_clean(Ctx *c, const char *uuid, const char *socket)
{
	g_assert_cmpuint(count_helpers(c, uuid), ==, 0);
	g_assert_cmpint(helper_pid(c, uuid), ==, 0);
	g_assert_cmpuint(count_files(c->run_dir), ==, 0);
	if (socket)
		g_assert_false(g_file_test(socket, G_FILE_TEST_EXISTS));
}

static void assert_serving(Ctx *c, const char *uuid, const char *socket)
{
	pid_t pid = helper_pid(c, uuid);
	g_autofree char *fd0 = NULL;
	g_autofree char *fd1 = NULL;
	g_autofree char *p0 = g_strdup_printf("/proc/%d/fd/0", (int)pid);
	g_autofree char *p1 = g_strdup_printf("/proc/%d/fd/1", (int)pid);
	struct stat st;

	g_assert_cmpint(pid, >, 0);
	g_assert_cmpint(kill(pid, 0), ==, 0);
	g_assert_cmpuint(count_helpers(c, uuid), ==, 1);
	/* detached: its own session, stdin /dev/null, stdout the log */
	g_assert_cmpint(getsid(pid), !=, getsid(0));
	fd0 = g_file_read_link(p0, NULL);
	fd1 = g_file_read_link(p1, NULL);
	g_assert_cmpstr(fd0, ==, "/dev/null");
	g_assert_true(g_str_has_prefix(fd1, c->log_dir));
	/* the socket listens, for QEMU's user only */
	g_assert_cmpint(stat(socket, &st), ==, 0);
	g_assert_true(S_ISSOCK(st.st_mode));
	g_assert_cmpint(st.st_mode & 0777, ==, 0660);
}

static void test_prepare_release(Ctx *c, gconstpointer data)
{
	g_autofree char *sock = sock_path(c, "net0.sock");
	g_autofree char *xml = domain_xml("vm1", UUID1, sock, c->emu->address);
	g_autofree char *err = NULL;
	g_autofree char *log = g_build_filename(c->log_dir, "vm1.log", NULL);
	g_autofree char *text = NULL;

	g_assert_cmpint(run_hook(c, "prepare", "begin", xml, &err), ==, 0);
	g_assert_cmpstr(err, ==, "");
	assert_serving(c, UUID1, sock);
	/* other operations leave it alone */
	g_assert_cmpint(run_hook(c, "start", "begin", xml, NULL), ==, 0);
	g_assert_cmpint(run_hook(c, "started", "begin", xml, NULL), ==, 0);
	g_assert_cmpint(run_hook(c, "stopped", "end", xml, NULL), ==, 0);
	assert_serving(c, UUID1, sock);
	g_assert_cmpint(run_hook(c, "release", "end", xml, NULL), ==, 0);
	assert_clean(c, UUID1, sock);
	g_assert_true(g_file_get_contents(log, &text, NULL, NULL));
	g_assert_nonnull(strstr(text, "listening on"));
	g_assert_nonnull(strstr(text, "stopped"));
	/* no <driver page_per_vq='on'/>: said once, naming the interface */
	{
		g_autofree char *warn = g_strdup_printf("hook: warning: interface %s has no <driver "
							"page_per_vq='on'/>", sock);
		const char *at = strstr(text, warn);

		g_assert_nonnull(at);
		g_assert_null(strstr(at + 1, warn));
	}
	/* release again: nothing to do */
	g_assert_cmpint(run_hook(c, "release", "end", xml, NULL), ==, 0);
}

static void test_port_map(Ctx *c, gconstpointer data)
{
	g_autofree char *sock = sock_path(c, "vhu1234");
	g_autofree char *plain = domain_xml("vm-nova", UUID1, sock, NULL);
	g_auto(GStrv) parts = g_strsplit(plain, "<model type='virtio'/>", 2);
	/* with <driver page_per_vq='on'/>: no warning */
	g_autofree char *xml = g_strjoinv("<model type='virtio'/><driver page_per_vq='on'/>", parts);
	g_autofree char *map = g_strdup_printf("[%s]\ndevice=%s\nlm=sw\n", sock, c->emu->address);
	g_autofree char *log = g_build_filename(c->log_dir, "vm-nova.log", NULL);
	g_autofree char *text = NULL;

	g_assert_true(g_file_set_contents(c->map, map, -1, NULL));
	g_assert_cmpint(run_hook(c, "prepare", "begin", xml, NULL), ==, 0);
	assert_serving(c, UUID1, sock);
	g_assert_true(g_file_get_contents(log, &text, NULL, NULL));
	g_assert_null(strstr(text, "page_per_vq"));
	g_assert_cmpint(run_hook(c, "release", "end", xml, NULL), ==, 0);
	assert_clean(c, UUID1, sock);
}

static void test_no_vf(Ctx *c, gconstpointer data)
{
	g_autofree char *sock = sock_path(c, "ovs.sock");
	g_autofree char *xml = domain_xml("vm-ovs", UUID1, sock, NULL);

	/* not ours: nothing started, nothing created */
	g_assert_cmpint(run_hook(c, "prepare", "begin", xml, NULL), ==, 0);
	g_assert_cmpuint(count_helpers(c, UUID1), ==, 0);
	g_assert_false(g_file_test(c->run_dir, G_FILE_TEST_EXISTS));
	g_assert_cmpint(run_hook(c, "release", "end", xml, NULL), ==, 0);
}

static gboolean name_has_owner(GDBusConnection *conn, const char *name)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) r = g_dbus_connection_call_sync(conn, "org.freedesktop.DBus",
		"/org/freedesktop/DBus", "org.freedesktop.DBus", "NameHasOwner",
		g_variant_new("(s)", name), G_VARIANT_TYPE("(b)"), G_DBUS_CALL_FLAGS_NONE, 5000,
		NULL, &error);
	gboolean owned = FALSE;

	g_assert_no_error(error);
	g_variant_get(r, "(b)", &owned);
	return owned;
}

static void test_bus(Ctx *c, gconstpointer data)
{
	g_autoptr(GTestDBus) tbus = g_test_dbus_new(G_TEST_DBUS_NONE);
	g_autofree char *sock = sock_path(c, "net0.sock");
	g_autofree char *xml = domain_xml("vm1", UUID1, sock, c->emu->address);
	g_autoptr(GDBusConnection) conn = NULL;
	g_autoptr(GError) error = NULL;

	g_test_dbus_up(tbus);
	g_free(c->bus);
	c->bus = g_strdup(g_test_dbus_get_bus_address(tbus));
	conn = g_dbus_connection_new_for_address_sync(c->bus,
		G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
		G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpint(run_hook(c, "prepare", "begin", xml, NULL), ==, 0);
	assert_serving(c, UUID1, sock);
	g_assert_true(name_has_owner(conn, BUS_NAME1));
	g_assert_cmpint(run_hook(c, "release", "end", xml, NULL), ==, 0);
	assert_clean(c, UUID1, sock);
	g_assert_false(name_has_owner(conn, BUS_NAME1));
	g_clear_object(&conn);
	g_test_dbus_down(tbus);
}

/* One bad input: exit 1, one line naming @needle, nothing left. */
static void expect_fail(Ctx *c, const char *xml, const char *needle)
{
	g_autofree char *err = NULL;

	g_assert_cmpint(run_hook(c, "prepare", "begin", xml, &err), ==, 1);
	assert_one_line(err, needle);
	g_assert_cmpuint(count_helpers(c, UUID2), ==, 0);
	g_assert_cmpint(helper_pid(c, UUID2), ==, 0);
}

static void test_bad_input(Ctx *c, gconstpointer data)
{
	g_autofree char *sock = sock_path(c, "net0.sock");
	g_autofree char *sock2 = sock_path(c, "net1.sock");
	g_autofree char *missing = g_strconcat("vfio-user:", c->dir, "/nope.sock", NULL);
	g_autofree char *stale = sock_path(c, "stale.sock");
	g_autofree char *stale_dev = g_strconcat("vfio-user:", stale, NULL);
	g_autofree char *longname = g_strnfill(120, 'a');
	g_autofree char *longsock = g_build_filename(c->dir, longname, NULL);
	g_autofree char *xml1 = domain_xml("vm1", UUID1, sock, c->emu->address);
	g_autofree char *xml = NULL;
	g_autofree char *saved = NULL;
	GSocketAddress *addr;
	GSocket *s;

	expect_fail(c, "<domain><name>x</name><uuid>" UUID2 "</uuid>", "malformed");
	g_assert_false(g_file_test(c->run_dir, G_FILE_TEST_EXISTS));

	xml = domain_xml("vm2", UUID2, sock2, missing);
	expect_fail(c, xml, "does not exist");
	g_clear_pointer(&xml, g_free);

	xml = domain_xml("vm2", UUID2, longsock, c->emu->address);
	expect_fail(c, xml, "more than 107");
	g_clear_pointer(&xml, g_free);

	/* a socket file nobody serves: the helper itself fails to probe */
	s = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, 0, NULL);
	addr = g_unix_socket_address_new(stale);
	g_assert_true(g_socket_bind(s, addr, FALSE, NULL));
	g_object_unref(addr);
	g_object_unref(s);
	xml = domain_xml("vm2", UUID2, sock2, stale_dev);
	expect_fail(c, xml, "helper for VM vm2 exited");
	g_assert_false(g_file_test(sock2, G_FILE_TEST_EXISTS));
	g_assert_cmpuint(count_files(c->run_dir), ==, 0);
	g_clear_pointer(&xml, g_free);

	/* an unwritable run directory */
	saved = c->run_dir;
	c->run_dir = g_strdup("/dev/null/run");
	xml = domain_xml("vm2", UUID2, sock2, c->emu->address);
	expect_fail(c, xml, "run directory /dev/null/run");
	g_free(c->run_dir);
	c->run_dir = g_steal_pointer(&saved);

	/* one VF, two VMs */
	g_assert_cmpint(run_hook(c, "prepare", "begin", xml1, NULL), ==, 0);
	expect_fail(c, xml, "is already used by VM 'vm1'");
	assert_serving(c, UUID1, sock);
	g_assert_false(g_file_test(sock2, G_FILE_TEST_EXISTS));
	g_assert_cmpint(run_hook(c, "release", "end", xml1, NULL), ==, 0);
	assert_clean(c, UUID1, sock);
	/* and once it is free, the second VM gets it */
	g_assert_cmpint(run_hook(c, "prepare", "begin", xml, NULL), ==, 0);
	assert_serving(c, UUID2, sock2);
	g_assert_cmpint(run_hook(c, "release", "end", xml, NULL), ==, 0);
	assert_clean(c, UUID2, sock2);
}

/* A helper that exits at start for a cause: the hook's one line is that
 * cause, not the counter summary the helper logs on its way out. A file in
 * the socket's place passes the hook's own checks and reaches the helper,
 * which fails to listen after DPDK is up (so its summary is logged). */
static void test_exit_reason(Ctx *c, gconstpointer data)
{
	g_autofree char *sock = sock_path(c, "net0.sock");
	g_autofree char *xml = domain_xml("vm2", UUID2, sock, c->emu->address);
	g_autofree char *nodir = g_build_filename(c->dir, "no-such-dir", "net0.sock", NULL);
	g_autofree char *log = NULL;
	g_autofree char *text = NULL;
	g_autofree char *want = NULL;
	const char *exit_line;

	/* a directory: the failed helper's DPDK unregister unlinks a regular
	 * file there, and the supervisor's restart would then serve */
	g_assert_cmpint(g_mkdir(sock, 0700), ==, 0);
	want = g_strdup_printf("helper for VM vm2 exited: port 0 (%s): vhost-user socket %s: "
			       "cannot listen: a file that is not a socket is in its place\n",
			       c->emu->address, sock);
	expect_fail(c, xml, want);
	g_assert_cmpuint(count_files(c->run_dir), ==, 0);
	/* the summary is in the log, before the exit line */
	log = g_build_filename(c->log_dir, "vm2.log", NULL);
	g_assert_true(g_file_get_contents(log, &text, NULL, NULL));
	g_strchomp(text);
	/* (the supervisor's start-limit line follows the last start's exit) */
	exit_line = g_strrstr(text, "\nifcvf-helper run: exiting: ");
	g_assert_nonnull(exit_line);
	g_assert_true(g_str_has_prefix(exit_line + 1, "ifcvf-helper run: exiting: port 0 ("));
	g_assert_nonnull(strstr(text, "kicks relayed"));
	g_assert_true(strstr(text, "kicks relayed") < exit_line);
	g_clear_pointer(&xml, g_free);

	/* a socket directory that does not exist: the hook says so itself */
	xml = domain_xml("vm2", UUID2, nodir, c->emu->address);
	g_free(want);
	want = g_strdup_printf("prepare begin: socket %s: directory %s/no-such-dir: No such file "
			       "or directory\n", nodir, c->dir);
	expect_fail(c, xml, want);
}

/* ---- supervision: a crashed helper is restarted --------------------------- */

/* The pid of VM @uuid's `ifcvf-helper run` (not a supervisor's or a
 * unit's), 0 when there is none. */
static pid_t run_pid(Ctx *c, const char *uuid)
{
	g_autoptr(GDir) d = g_dir_open("/proc", 0, NULL);
	const char *n;

	reap();
	while ((n = g_dir_read_name(d))) {
		g_autofree char *path = g_strdup_printf("/proc/%s/cmdline", n);
		g_autofree char *cmd = NULL;
		gboolean names_uuid = FALSE, names_dir = FALSE;
		gsize len = 0;

		if (!g_ascii_isdigit(*n) || !g_file_get_contents(path, &cmd, &len, NULL) ||
		    len < strlen(cmd) + 5 || !g_str_equal(cmd + strlen(cmd) + 1, "run"))
			continue;
		for (gsize off = 0; off < len; off += strlen(cmd + off) + 1) {
			names_uuid = names_uuid || g_str_equal(cmd + off, uuid);
			names_dir = names_dir || strstr(cmd + off, c->dir);
		}
		if (names_uuid && names_dir)
			return (pid_t)atoi(n);
	}
	return 0;
}

/* Running processes whose command line names @uuid's argument file: a
 * supervisor, a `hook exec` (the helper is counted by count_helpers). */
static guint count_supervisors(Ctx *c, const char *uuid)
{
	g_autoptr(GDir) d = g_dir_open("/proc", 0, NULL);
	g_autofree char *args = g_strdup_printf("%s/%s.args", c->run_dir, uuid);
	const char *n;
	guint count = 0;

	reap();
	while ((n = g_dir_read_name(d))) {
		g_autofree char *path = g_strdup_printf("/proc/%s/cmdline", n);
		g_autofree char *cmd = NULL;
		gsize len = 0;

		if (!g_ascii_isdigit(*n) || !g_file_get_contents(path, &cmd, &len, NULL))
			continue;
		for (gsize off = 0; off < len; off += strlen(cmd + off) + 1)
			if (g_str_equal(cmd + off, args)) {
				count++;
				break;
			}
	}
	return count;
}

static gboolean socket_listens(const char *path)
{
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
	g_autoptr(GSocket) s = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
					    G_SOCKET_PROTOCOL_DEFAULT, NULL);

	return s && g_socket_connect(s, addr, NULL, NULL);
}

/* Domain.Restarts of VM 1, or -1 when nobody answers (the name is not owned) */
static gint64 get_restarts(GDBusConnection *conn)
{
	g_autoptr(GVariant) r = g_dbus_connection_call_sync(conn, BUS_NAME1, "/org/ifcvf/Helper1",
		"org.freedesktop.DBus.Properties", "Get",
		g_variant_new("(ss)", "org.ifcvf.Helper1.Domain", "Restarts"),
		G_VARIANT_TYPE("(v)"), G_DBUS_CALL_FLAGS_NONE, 5000, NULL, NULL);
	g_autoptr(GVariant) v = NULL;

	if (!r)
		return -1;
	g_variant_get(r, "(v)", &v);
	g_assert_true(g_variant_is_of_type(v, G_VARIANT_TYPE_UINT32));
	return g_variant_get_uint32(v);
}

static guint count_in(const char *text, const char *needle)
{
	guint n = 0;

	for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* SIGKILL the helper: its supervisor starts it again (a new `run` that
 * listens and owns its name, Restarts 1, the log says why); `release end`
 * stops the supervisor and the helper for good. */
static void test_restart(Ctx *c, gconstpointer data)
{
	g_autoptr(GTestDBus) tbus = g_test_dbus_new(G_TEST_DBUS_NONE);
	g_autofree char *sock = sock_path(c, "net0.sock");
	g_autofree char *xml = domain_xml("vm1", UUID1, sock, c->emu->address);
	g_autofree char *log = g_build_filename(c->log_dir, "vm1.log", NULL);
	g_autoptr(GDBusConnection) conn = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *text = NULL;
	gint64 end;
	pid_t sup, pid, pid2 = 0;

	g_test_dbus_up(tbus);
	g_free(c->bus);
	c->bus = g_strdup(g_test_dbus_get_bus_address(tbus));
	conn = g_dbus_connection_new_for_address_sync(c->bus,
		G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
		G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpint(run_hook(c, "prepare", "begin", xml, NULL), ==, 0);
	assert_serving(c, UUID1, sock);
	sup = helper_pid(c, UUID1);
	pid = run_pid(c, UUID1);
	g_assert_cmpint(pid, >, 0);
	g_assert_cmpint(get_restarts(conn), ==, 0);
	g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
	/* bounded: a helper nobody restarts fails here */
	end = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
	for (;;) {
		pid2 = run_pid(c, UUID1);
		struct stat st;

		/* serving again, its new socket QEMU's user's again */
		if (pid2 > 0 && pid2 != pid && socket_listens(sock) && get_restarts(conn) == 1 &&
		    stat(sock, &st) == 0 && (st.st_mode & 0777) == 0660)
			break;
		if (g_get_monotonic_time() > end) {
			g_assert_true(g_file_get_contents(log, &text, NULL, NULL));
			g_error("the helper (pid %d) killed with SIGKILL was not restarted within 30 s "
				"(run pid now %d); log:\n%s", (int)pid, (int)pid2, text);
		}
		g_usleep(20000);
	}
	g_assert_true(name_has_owner(conn, BUS_NAME1));
	/* the same supervisor, one helper, the VF lock retaken by the new one */
	g_assert_cmpint(helper_pid(c, UUID1), ==, sup);
	assert_serving(c, UUID1, sock);
	g_assert_true(g_file_get_contents(log, &text, NULL, NULL));
	if (!strstr(text, "restart 1 after signal 9 (Killed)"))
		g_error("no 'restart 1 after signal 9 (Killed)' in the log:\n%s", text);
	g_assert_cmpint(run_hook(c, "release", "end", xml, NULL), ==, 0);
	assert_clean(c, UUID1, sock);
	g_assert_cmpuint(count_supervisors(c, UUID1), ==, 0);
	g_assert_cmpint(kill(sup, 0), <, 0);
	g_assert_false(name_has_owner(conn, BUS_NAME1));
	g_clear_object(&conn);
	g_test_dbus_down(tbus);
}

/* Accept one connection on @lsock within 30 s (a hang guard): the
 * helper's, as QEMU listening on the socket gets it. */
static GSocket *accept_helper(GSocket *lsock)
{
	g_autoptr(GError) error = NULL;
	GSocket *s;

	g_assert_true(g_socket_condition_timed_wait(lsock, G_IO_IN, 30 * G_USEC_PER_SEC, NULL,
						    &error));
	s = g_socket_accept(lsock, NULL, &error);
	g_assert_no_error(error);
	return s;
}

/* QEMU as vhost-user server (Nova's vhostuser_mode 'server', the domain's
 * <source mode='server'>), the VF from ports.conf: the hook starts the
 * helper as client of QEMU's socket without waiting for it (QEMU starts
 * after prepare), the helper connects once QEMU listens, and a helper
 * killed with SIGKILL is restarted by its supervisor and connects again
 * to the same listening socket; release end leaves nothing, QEMU's socket
 * alone. */
static void test_qemu_server_role(Ctx *c, gconstpointer data)
{
	g_autofree char *sock = sock_path(c, "vhu-qemu");
	g_autofree char *xml = domain_xml_mode("vm-nova", UUID1, sock, NULL, "server");
	g_autofree char *map = g_strdup_printf("[%s]\ndevice=%s\nlm=sw\n", sock, c->emu->address);
	g_autofree char *cmdline_path = NULL;
	g_autofree char *cmdline = NULL;
	g_autofree char *log = g_build_filename(c->log_dir, "vm-nova.log", NULL);
	g_autofree char *text = NULL;
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(sock);
	g_autoptr(GSocket) lsock = NULL;
	g_autoptr(GSocket) conn = NULL;
	g_autoptr(GError) error = NULL;
	gsize len = 0;
	gint64 end;
	pid_t pid, pid2 = 0;

	g_assert_true(g_file_set_contents(c->map, map, -1, NULL));
	/* nobody listens yet: prepare does not wait for QEMU's socket */
	g_assert_cmpint(run_hook(c, "prepare", "begin", xml, NULL), ==, 0);
	pid = run_pid(c, UUID1);
	g_assert_cmpint(pid, >, 0);
	cmdline_path = g_strdup_printf("/proc/%d/cmdline", (int)pid);
	g_assert_true(g_file_get_contents(cmdline_path, &cmdline, &len, NULL));
	for (gsize i = 0; i + 1 < len; i++)
		if (!cmdline[i])
			cmdline[i] = ' ';
	g_test_message("helper: %s", cmdline);
	g_assert_nonnull(strstr(cmdline, ",socket="));
	g_assert_nonnull(strstr(cmdline, "vhu-qemu,client"));
	g_assert_false(g_file_test(sock, G_FILE_TEST_EXISTS));
	/* but it returns once the helper is set up: VF probed, port connecting */
	g_assert_true(g_file_get_contents(log, &text, NULL, NULL));
	g_assert_nonnull(strstr(text, "): waiting: connecting to "));

	/* QEMU starts and listens: the helper connects (DPDK retries every s) */
	lsock = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
			     &error);
	g_assert_no_error(error);
	g_assert_true(g_socket_bind(lsock, addr, FALSE, &error));
	g_assert_true(g_socket_listen(lsock, &error));
	conn = accept_helper(lsock);

	/* a crash: the supervisor starts a new helper, which connects again */
	g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
	end = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
	while ((pid2 = run_pid(c, UUID1)) <= 0 || pid2 == pid) {
		if (g_get_monotonic_time() > end)
			g_error("the helper (pid %d) killed with SIGKILL was not restarted within 30 s",
				(int)pid);
		g_usleep(20000);
	}
	g_clear_object(&conn);
	conn = accept_helper(lsock);
	g_assert_cmpint(run_pid(c, UUID1), ==, pid2);

	g_assert_cmpint(run_hook(c, "release", "end", xml, NULL), ==, 0);
	g_clear_object(&conn);
	assert_clean(c, UUID1, NULL);
	/* QEMU's socket is QEMU's: the helper left it in place */
	g_assert_true(g_file_test(sock, G_FILE_TEST_EXISTS));
	g_socket_close(lsock, NULL);
	(void)unlink(sock);
}

/* A helper that fails at every start: restarted until the start limit (5
 * starts), then the supervisor gives up, says so, and nothing is left. */
static void test_start_limit(Ctx *c, gconstpointer data)
{
	g_autofree char *sock = sock_path(c, "net0.sock");
	g_autofree char *xml = domain_xml("vm2", UUID2, sock, c->emu->address);
	g_autofree char *log = g_build_filename(c->log_dir, "vm2.log", NULL);
	g_autofree char *text = NULL;

	/* a directory where the helper listens: every start fails */
	g_assert_cmpint(g_mkdir(sock, 0700), ==, 0);
	expect_fail(c, xml, "helper for VM vm2 exited: port 0 (");
	g_assert_true(g_file_get_contents(log, &text, NULL, NULL));
	g_test_message("log:\n%s", text);
	g_assert_cmpuint(count_in(text, "ifcvf-helper run: exiting: port 0 ("), ==, 5);
	g_assert_nonnull(strstr(text, "restart 4 after exit status 1\n"));
	g_assert_null(strstr(text, "restart 5 "));
	g_assert_nonnull(strstr(text, "ifcvf-helper hook supervise: the helper failed (exit status 1) "
				      "after 5 starts within 30 s: start limit hit, not restarting it\n"));
	g_assert_cmpuint(count_files(c->run_dir), ==, 0);
	/* the supervisor exits right after its last line, which the hook may
	 * have passed on first: wait for it, bounded (a hang guard) */
	for (guint i = 0; count_supervisors(c, UUID2) > 0; i++) {
		if (i == 500)
			g_error("the supervisor of VM vm2 still runs 10 s after it gave up");
		g_usleep(20000);
	}
}

static void test_usage(Ctx *c, gconstpointer data)
{
	g_autofree char *err = NULL;

	g_assert_cmpint(run_hook_args(c, (const char *const[]){ "prepare", NULL }, "", &err), ==, 2);
	g_clear_pointer(&err, g_free);
	/* the short form without the domain name works too */
	g_assert_cmpint(run_hook_args(c, (const char *const[]){ "started", "begin", "-", NULL }, "",
				      &err), ==, 0);
}

static void test_migrate(Ctx *c, gconstpointer data)
{
	g_autofree char *sock = sock_path(c, "net0.sock");
	g_autofree char *sock2 = sock_path(c, "net1.sock");
	g_autofree char *xml1 = domain_xml("vm1", UUID1, sock, c->emu->address);
	g_autofree char *xml2 = domain_xml("vm2", UUID2, sock2, c->emu->address);
	g_autofree char *err = NULL;

	/* free: fine, prints nothing, starts nothing, leaves no lock */
	g_assert_cmpint(run_hook(c, "migrate", "begin", xml2, NULL), ==, 0);
	g_assert_cmpuint(count_helpers(c, UUID2), ==, 0);
	g_assert_cmpuint(count_files(c->run_dir), ==, 0);
	/* held by another VM */
	g_assert_cmpint(run_hook(c, "prepare", "begin", xml1, NULL), ==, 0);
	g_assert_cmpint(run_hook(c, "migrate", "begin", xml2, &err), ==, 1);
	assert_one_line(err, "already used by VM 'vm1'");
	g_assert_cmpint(run_hook(c, "release", "end", xml1, NULL), ==, 0);
	assert_clean(c, UUID1, sock);
}

static void test_reconnect(Ctx *c, gconstpointer data)
{
	g_autofree char *sock = sock_path(c, "net0.sock");
	g_autofree char *xml = domain_xml("vm1", UUID1, sock, c->emu->address);
	pid_t pid, pid2;

	g_assert_cmpint(run_hook(c, "prepare", "begin", xml, NULL), ==, 0);
	pid = helper_pid(c, UUID1);
	g_assert_cmpint(run_hook(c, "reconnect", "begin", xml, NULL), ==, 0);
	g_assert_cmpint(helper_pid(c, UUID1), ==, pid);
	/* the helper died meanwhile: reconnect starts a new one */
	g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
	g_assert_cmpint(waitpid(pid, NULL, 0), ==, pid);
	g_hash_table_remove(helper_pids, GINT_TO_POINTER(pid));
	g_assert_cmpint(run_hook(c, "reconnect", "begin", xml, NULL), ==, 0);
	pid2 = helper_pid(c, UUID1);
	g_assert_cmpint(pid2, !=, pid);
	assert_serving(c, UUID1, sock);
	g_assert_cmpint(run_hook(c, "release", "end", xml, NULL), ==, 0);
	assert_clean(c, UUID1, sock);
}

static void test_cycles(Ctx *c, gconstpointer data)
{
	g_autofree char *sock = sock_path(c, "net0.sock");
	g_autofree char *xml = domain_xml("vm1", UUID1, sock, c->emu->address);
	guint fds = test_count_fds();

	for (guint i = 0; i < 20; i++) {
		g_assert_cmpint(run_hook(c, "prepare", "begin", xml, NULL), ==, 0);
		assert_serving(c, UUID1, sock);
		g_assert_cmpint(run_hook(c, "release", "end", xml, NULL), ==, 0);
		assert_clean(c, UUID1, sock);
	}
	g_assert_cmpuint(test_count_fds(), ==, fds);
	/* the log is all that stays */
	g_assert_cmpuint(count_files(c->log_dir), ==, 1);
}

/* The hook hands `run` the libvirt URI it is given; a libvirtd that is not
 * there does not keep the helper from serving. */
static void test_libvirt_uri(Ctx *c, gconstpointer data)
{
	g_autofree char *sock = sock_path(c, "net0.sock");
	g_autofree char *xml = domain_xml("vm1", UUID1, sock, c->emu->address);
	g_autofree char *uri = g_strdup_printf("qemu+unix:///system?socket=%s/no-libvirtd.sock",
					       c->dir);
	g_autofree char *want = g_strdup_printf(" --libvirt-uri %s ", uri);
	g_autofree char *path = NULL;
	g_autofree char *cmd = NULL;
	gsize len = 0;

	g_free(c->libvirt_uri);
	c->libvirt_uri = g_strdup(uri);
	g_assert_cmpint(run_hook(c, "prepare", "begin", xml, NULL), ==, 0);
	assert_serving(c, UUID1, sock);
	/* the helper, not its supervisor */
	path = g_strdup_printf("/proc/%d/cmdline", (int)run_pid(c, UUID1));
	g_assert_true(g_file_get_contents(path, &cmd, &len, NULL));
	for (gsize i = 0; i < len; i++)
		if (cmd[i] == '\0')
			cmd[i] = ' ';
	if (!strstr(cmd, want))
		g_error("expected '%s' in the helper's command line: %s", want, cmd);
	g_assert_cmpint(run_hook(c, "release", "end", xml, NULL), ==, 0);
	assert_clean(c, UUID1, sock);
}

static char *read_dir_file(Ctx *c, const char *dir, const char *name);

/* VM @uuid's helper command line, arguments joined by spaces */
static char *helper_cmdline(Ctx *c, const char *uuid)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", (int)run_pid(c, uuid));
	char *cmd = NULL;
	gsize len = 0;

	g_assert_true(g_file_get_contents(path, &cmd, &len, NULL));
	for (gsize i = 0; i < len; i++)
		if (cmd[i] == '\0')
			cmd[i] = ' ';
	return cmd;
}

/* prepare begin with the helper running: whether it was started to connect
 * to libvirt at start, in its command line and in the argument file that a
 * restart runs again */
static gboolean started_at_start(Ctx *c, const char *uuid)
{
	g_autofree char *cmd = helper_cmdline(c, uuid);
	g_autofree char *name = g_strconcat(uuid, ".args", NULL);
	g_autofree char *args = read_dir_file(c, c->run_dir, name);
	gboolean in_cmd = strstr(cmd, " --libvirt-connect at-start ") != NULL;
	gboolean in_args = strstr(args, ";--libvirt-connect;at-start;") != NULL;

	g_test_message("helper: %s", cmd);
	g_assert_cmpint(in_cmd, ==, in_args);
	/* the default is not spelled out */
	g_assert_null(strstr(cmd, "at-migration"));
	return in_cmd;
}

/* The destination of a migration: `migrate begin` leaves a marker that the
 * next `prepare begin` takes, starting the helper connected to libvirt at
 * start (only libvirt tells it that the guest is coming); prepare alone
 * (a plain start, or a source) does not; `release end` removes a marker
 * left behind; one too old is not for this prepare. */
static void test_incoming(Ctx *c, gconstpointer data)
{
	g_autofree char *sock = sock_path(c, "net0.sock");
	g_autofree char *xml = domain_xml("vm1", UUID1, sock, c->emu->address);
	g_autofree char *marker = g_strconcat(c->run_dir, "/" UUID1 ".incoming", NULL);
	struct timespec old[2];

	g_free(c->libvirt_uri);
	c->libvirt_uri = g_strdup_printf("qemu+unix:///system?socket=%s/no-libvirtd.sock", c->dir);

	/* migrate, then prepare */
	g_assert_cmpint(run_hook(c, "migrate", "begin", xml, NULL), ==, 0);
	g_assert_cmpint(run_hook(c, "prepare", "begin", xml, NULL), ==, 0);
	assert_serving(c, UUID1, sock);
	if (!started_at_start(c, UUID1))
		g_error("prepare after migrate did not start the helper with --libvirt-connect "
			"at-start");
	g_assert_false(g_file_test(marker, G_FILE_TEST_EXISTS));
	g_assert_cmpint(run_hook(c, "release", "end", xml, NULL), ==, 0);
	assert_clean(c, UUID1, sock);

	/* prepare alone */
	g_assert_cmpint(run_hook(c, "prepare", "begin", xml, NULL), ==, 0);
	g_assert_false(started_at_start(c, UUID1));
	g_assert_cmpint(run_hook(c, "release", "end", xml, NULL), ==, 0);
	assert_clean(c, UUID1, sock);

	/* a migration in that never got to prepare */
	g_assert_cmpint(run_hook(c, "migrate", "begin", xml, NULL), ==, 0);
	g_assert_true(g_file_test(marker, G_FILE_TEST_IS_REGULAR));
	g_assert_cmpint(run_hook(c, "release", "end", xml, NULL), ==, 0);
	assert_clean(c, UUID1, sock);

	/* a symbolic link where the marker goes is replaced, never followed,
	 * and one found by prepare is not a marker */
	{
		g_autofree char *victim = g_build_filename(c->dir, "victim", NULL);
		g_autofree char *text = NULL;

		g_assert_true(g_file_set_contents(victim, "intact", -1, NULL));
		g_assert_cmpint(symlink(victim, marker), ==, 0);
		g_assert_cmpint(run_hook(c, "migrate", "begin", xml, NULL), ==, 0);
		g_assert_true(g_file_test(marker, G_FILE_TEST_IS_REGULAR) &&
			      !g_file_test(marker, G_FILE_TEST_IS_SYMLINK));
		g_assert_cmpint(g_unlink(marker), ==, 0);
		g_assert_cmpint(symlink(victim, marker), ==, 0);
		g_assert_cmpint(run_hook(c, "prepare", "begin", xml, NULL), ==, 0);
		g_assert_false(started_at_start(c, UUID1));
		g_assert_false(g_file_test(marker, G_FILE_TEST_EXISTS | G_FILE_TEST_IS_SYMLINK));
		g_assert_true(g_file_get_contents(victim, &text, NULL, NULL));
		g_assert_cmpstr(text, ==, "intact");
		g_assert_cmpint(g_unlink(victim), ==, 0);
		g_assert_cmpint(run_hook(c, "release", "end", xml, NULL), ==, 0);
		assert_clean(c, UUID1, sock);
	}

	/* a marker an hour old */
	g_assert_cmpint(run_hook(c, "migrate", "begin", xml, NULL), ==, 0);
	old[0] = old[1] = (struct timespec){ .tv_sec = time(NULL) - 3600 };
	g_assert_cmpint(utimensat(AT_FDCWD, marker, old, 0), ==, 0);
	g_assert_cmpint(run_hook(c, "prepare", "begin", xml, NULL), ==, 0);
	if (started_at_start(c, UUID1))
		g_error("a marker an hour old made prepare start the helper with "
			"--libvirt-connect at-start");
	g_assert_false(g_file_test(marker, G_FILE_TEST_EXISTS));
	g_assert_cmpint(run_hook(c, "release", "end", xml, NULL), ==, 0);
	assert_clean(c, UUID1, sock);
}

/* ---- the systemd path, with a fake systemd-run and systemctl ------------
 * systemd is not PID 1 here, so the transient unit cannot be started for
 * real. The fakes record their arguments and do what the hook relies on:
 * systemd-run starts the command after "--" in its own session (as
 * Type=exec, returning once it runs), `systemctl show -p MainPID --value`
 * prints its pid (0 for an unknown unit), `systemctl stop` SIGTERMs it and
 * waits until it is gone. */

static const char fake_systemd_run[] =
	"#!/bin/bash\n"
	"dir='@DIR@'\n"
	"printf '%s\\n' \"$@\" > \"$dir/systemd-run.argv\"\n"
	"[ -n \"${FAIL:-}\" ] && { echo 'Failed to start transient service unit: Unit x already exists.' >&2; exit 1; }\n"
	"unit=\n"
	"for a; do case $a in --unit=*) unit=${a#--unit=};; esac; done\n"
	"while [ $# -gt 0 ] && [ \"$1\" != -- ]; do shift; done\n"
	"shift\n"
	"setsid \"$@\" </dev/null >/dev/null 2>&1 &\n"
	"echo $! > \"$dir/$unit.mainpid\"\n";

static const char fake_systemctl[] =
	"#!/bin/bash\n"
	"dir='@DIR@'\n"
	"echo \"$*\" >> \"$dir/systemctl.calls\"\n"
	"unit=${!#}\n"
	"pidfile=$dir/$unit.mainpid\n"
	"alive() { [ -d /proc/$1 ] && ! grep -q '^State:.*Z' /proc/$1/status 2>/dev/null; }\n"
	"case $1 in\n"
	"show) cat \"$pidfile\" 2>/dev/null || echo 0 ;;\n"
	"stop) pid=$(cat \"$pidfile\" 2>/dev/null) || { echo \"Unit $unit not loaded.\" >&2; exit 5; }\n"
	"      kill -TERM $pid\n"
	"      for i in $(seq 300); do alive $pid || break; sleep 0.05; done\n"
	"      rm -f \"$pidfile\" ;;\n"
	"*) exit 1 ;;\n"
	"esac\n";

/* @text with @DIR@ replaced by the test's directory, as an executable */
static char *write_script(Ctx *c, const char *name, const char *text)
{
	g_auto(GStrv) parts = g_strsplit(text, "@DIR@", -1);
	g_autofree char *script = g_strjoinv(c->dir, parts);
	char *path = g_build_filename(c->dir, name, NULL);

	g_assert_true(g_file_set_contents(path, script, -1, NULL));
	g_assert_cmpint(g_chmod(path, 0755), ==, 0);
	return path;
}

static void use_fake_systemd(Ctx *c)
{
	g_free(c->systemd_run);
	g_free(c->systemctl);
	c->systemd_run = write_script(c, "systemd-run", fake_systemd_run);
	c->systemctl = write_script(c, "systemctl", fake_systemctl);
}

static char *read_dir_file(Ctx *c, const char *dir, const char *name)
{
	g_autofree char *path = g_build_filename(dir ? dir : c->dir, name, NULL);
	char *text = NULL;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return g_strdup("");
	return text;
}

static void test_systemd_run(Ctx *c, gconstpointer data)
{
	g_autofree char *sock = sock_path(c, "net0.sock");
	g_autofree char *xml = domain_xml("vm1", UUID1, sock, c->emu->address);
	g_autofree char *args = g_strconcat(c->run_dir, "/" UUID1 ".args", NULL);
	g_autofree char *want = g_strdup_printf(
		"--unit=ifcvf-helper-" UUID1 ".service\n--description=ifcvf-helper for VM vm1\n"
		"--quiet\n--no-ask-password\n--property=Type=exec\n--property=KillMode=mixed\n"
		"--property=TimeoutStopSec=15\n--property=Restart=on-failure\n"
		"--property=RestartSec=100ms\n--property=StartLimitIntervalSec=30\n"
		"--property=StartLimitBurst=5\n--collect\n--\n%s\nhook\nexec\n%s\n",
		test_program("IFCVF_HELPER"), args);
	g_autofree char *argv = NULL;
	g_autofree char *record = NULL;
	g_autofree char *calls = NULL;
	g_autofree char *log = NULL;

	use_fake_systemd(c);
	g_assert_cmpint(run_hook(c, "prepare", "begin", xml, NULL), ==, 0);
	argv = read_dir_file(c, NULL, "systemd-run.argv");
	g_assert_cmpstr(argv, ==, want);
	/* the pid systemd reports is the helper, which serves and logs */
	assert_serving(c, UUID1, sock);
	record = read_dir_file(c, c->run_dir, UUID1 ".pid");
	g_assert_nonnull(strstr(record, "\nunit ifcvf-helper-" UUID1 ".service\n"));
	g_assert_true(g_file_test(args, G_FILE_TEST_IS_REGULAR));
	calls = read_dir_file(c, NULL, "systemctl.calls");
	g_assert_cmpstr(calls, ==, "show --property=MainPID --value ifcvf-helper-" UUID1 ".service\n");
	g_clear_pointer(&calls, g_free);
	/* release stops the unit through systemctl */
	g_assert_cmpint(run_hook(c, "release", "end", xml, NULL), ==, 0);
	calls = read_dir_file(c, NULL, "systemctl.calls");
	g_assert_true(g_str_has_suffix(calls, "\nstop --no-ask-password ifcvf-helper-" UUID1
					      ".service\n"));
	assert_clean(c, UUID1, sock);
	log = read_dir_file(c, c->log_dir, "vm1.log");
	g_assert_nonnull(strstr(log, "(ifcvf-helper-" UUID1 ".service)"));
	g_assert_nonnull(strstr(log, "listening on"));
}

/* systemd-run fails: its reason in one line, nothing left */
static void test_systemd_run_fails(Ctx *c, gconstpointer data)
{
	g_autofree char *sock = sock_path(c, "net0.sock");
	g_autofree char *xml = domain_xml("vm2", UUID2, sock, c->emu->address);
	g_autofree char *fake = NULL;

	use_fake_systemd(c);
	fake = c->systemd_run;
	c->systemd_run = write_script(c, "systemd-run-failing",
				      "#!/bin/sh\nFAIL=1 exec '@DIR@/systemd-run' \"$@\"\n");
	expect_fail(c, xml, "failed: Failed to start transient service unit: Unit x already exists.");
	assert_clean(c, UUID2, sock);
}

/* `hook exec` loses the race for a VF to a running helper: it says so in
 * the log and exits 1 without starting `run` */
static void test_exec_lock(Ctx *c, gconstpointer data)
{
	g_autofree char *sock = sock_path(c, "net0.sock");
	g_autofree char *xml = domain_xml("vm1", UUID1, sock, c->emu->address);
	g_autofree char *args = g_build_filename(c->run_dir, UUID2 ".args", NULL);
	g_autofree char *log = g_build_filename(c->dir, "exec.log", NULL);
	g_autoptr(GKeyFile) kf = g_key_file_new();
	const char *devices[] = { c->emu->address, NULL };
	const char *argv[] = { "/bin/sleep", "600", NULL };
	g_autofree char *out = NULL;
	g_autofree char *err = NULL;
	g_autofree char *text = NULL;
	g_autofree char *want = NULL;

	g_assert_cmpint(run_hook(c, "prepare", "begin", xml, NULL), ==, 0);
	g_key_file_set_string(kf, "Helper", "VM", "vm2");
	g_key_file_set_string(kf, "Helper", "Log", log);
	g_key_file_set_string_list(kf, "Helper", "Devices", devices, 1);
	g_key_file_set_string_list(kf, "Helper", "Argv", argv, 2);
	g_assert_true(g_key_file_save_to_file(kf, args, NULL));
	g_assert_cmpint(test_run((const char *const[]){ test_program("IFCVF_HELPER"), "hook", "exec",
							args, NULL }, &out, &err), ==, 1);
	g_assert_cmpstr(out, ==, "");
	g_assert_cmpstr(err, ==, "");
	g_assert_true(g_file_get_contents(log, &text, NULL, NULL));
	want = g_strdup_printf("ifcvf-helper hook exec: VF %s is already used by VM 'vm1'\n",
			       c->emu->address);
	g_assert_cmpstr(text, ==, want);
	g_unlink(args);
	assert_serving(c, UUID1, sock);
	g_assert_cmpint(run_hook(c, "release", "end", xml, NULL), ==, 0);
	assert_clean(c, UUID1, sock);
}

/* ---- socket ownership (the hook is root) --------------------------------
 * An attacker who can write the socket's directory swaps the helper's
 * socket for a symbolic link to a root file between bind and the hook's
 * chown/chmod. The directory here is root's (the attacker is this test's
 * thread, as root): the hook must not follow the link even then. */

#define RACE_STARTS 50

typedef struct {
	const char *sock;
	const char *target;  /* what the link points to */
	char *tmp;           /* the link is made here, then renamed over sock */
	gint stop;
	guint swaps;
} Attacker;

/* Replace the socket with a link whenever a socket is there. */
static gpointer attacker_run(gpointer data)
{
	Attacker *a = data;

	while (!g_atomic_int_get(&a->stop)) {
		struct stat st;

		if (lstat(a->sock, &st) == 0 && S_ISSOCK(st.st_mode)) {
			(void)unlink(a->tmp);
			if (symlink(a->target, a->tmp) == 0 && rename(a->tmp, a->sock) == 0)
				a->swaps++;
		} else {
			g_usleep(50);
		}
	}
	return NULL;
}

static void assert_victim_intact(const char *victim)
{
	struct stat st;

	g_assert_cmpint(lstat(victim, &st), ==, 0);
	if (st.st_uid != 0 || st.st_gid != 0 || (st.st_mode & 07777) != 0600)
		g_error("the hook changed %s: owner %u:%u mode %04o (was 0:0 0600)", victim,
			(guint)st.st_uid, (guint)st.st_gid, (guint)(st.st_mode & 07777));
}

static void test_socket_symlink_race(Ctx *c, gconstpointer data)
{
	g_autofree char *sock = sock_path(c, "net0.sock");
	g_autofree char *victim = sock_path(c, "victim");
	g_autofree char *xml = domain_xml("vm1", UUID1, sock, c->emu->address);
	Attacker a = { .sock = sock, .target = victim, .tmp = sock_path(c, "net0.sock.tmp") };
	guint refused = 0, swapped = 0;

	g_assert_true(g_file_set_contents(victim, "root's secret\n", -1, NULL));
	g_assert_cmpint(chmod(victim, 0600), ==, 0);
	/* an owner other than root, so that a chown through the link shows */
	g_free(c->socket_user);
	c->socket_user = g_strdup("nobody:nogroup");
	for (guint i = 0; i < RACE_STARTS; i++) {
		g_autofree char *err = NULL;
		GThread *t;
		int status;

		a.swaps = 0;
		g_atomic_int_set(&a.stop, 0);
		t = g_thread_new("attacker", attacker_run, &a);
		status = run_hook(c, "prepare", "begin", xml, &err);
		g_atomic_int_set(&a.stop, 1);
		g_thread_join(t);
		assert_victim_intact(victim);
		if (a.swaps)
			swapped++;
		if (status != 0) {
			/* the link was there when the hook looked: refused */
			assert_one_line(err, "is not a socket");
			refused++;
		}
		g_assert_cmpint(run_hook(c, "release", "end", xml, NULL), ==, 0);
		(void)g_unlink(sock);
		assert_clean(c, UUID1, sock);
	}
	g_test_message("%u starts: the attacker swapped the socket in %u, the hook refused %u",
		       RACE_STARTS, swapped, refused);
	g_assert_cmpuint(swapped, >, 0);
	g_free(a.tmp);
}

/* Socket paths and directories the hook refuses before it starts anything:
 * only root may write where the socket lies (sticky or not: whoever can
 * create an entry there can put a link in the socket's place), and on the
 * way only sticky directories may be writable by others. */
static void test_unsafe_dirs(Ctx *c, gconstpointer data)
{
	static const struct {
		const char *dir;
		mode_t mode;
		uid_t uid;
		const char *why;
	} bad[] = {
		{ "others", 0777, 0, "is writable by group or others (mode 0777)" },
		{ "group", 0770, 0, "is writable by group or others (mode 0770)" },
		{ "sticky", 01777, 0, "is writable by group or others (mode 1777)" },
		{ "nobody", 0755, 65534, "is owned by uid 65534, not root" },
	};
	g_autofree char *xml = domain_xml("vm2", UUID2, "net0.sock", c->emu->address);
	g_autofree char *real = sock_path(c, "real");
	g_autofree char *link = sock_path(c, "link");
	g_autofree char *via_link = g_build_filename(link, "net0.sock", NULL);
	g_autofree char *open_dir = sock_path(c, "open");
	g_autofree char *inner = g_build_filename(open_dir, "inner", NULL);
	g_autofree char *inner_sock = g_build_filename(inner, "net0.sock", NULL);
	g_autofree char *sock = sock_path(c, "net0.sock");
	g_autofree char *want = NULL;

	expect_fail(c, xml, "socket 'net0.sock' is not an absolute path");
	g_clear_pointer(&xml, g_free);
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree char *dir = sock_path(c, bad[i].dir);
		g_autofree char *in_dir = g_build_filename(dir, "net0.sock", NULL);

		g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
		g_assert_cmpint(chown(dir, bad[i].uid, 0), ==, 0);
		g_assert_cmpint(chmod(dir, bad[i].mode), ==, 0);
		xml = domain_xml("vm2", UUID2, in_dir, c->emu->address);
		want = g_strdup_printf("socket %s: directory %s %s", in_dir, dir, bad[i].why);
		expect_fail(c, xml, want);
		g_assert_false(g_file_test(in_dir, G_FILE_TEST_EXISTS));
		g_clear_pointer(&xml, g_free);
		g_clear_pointer(&want, g_free);
	}
	/* a link on the way: the directory could be anything */
	g_assert_cmpint(g_mkdir(real, 0755), ==, 0);
	g_assert_cmpint(symlink(real, link), ==, 0);
	xml = domain_xml("vm2", UUID2, via_link, c->emu->address);
	want = g_strdup_printf("socket %s: %s is a symbolic link", via_link, link);
	expect_fail(c, xml, want);
	g_assert_cmpuint(count_files(real), ==, 0);
	g_clear_pointer(&xml, g_free);
	g_clear_pointer(&want, g_free);
	/* on the way, writable by others and not sticky (unlike /tmp) */
	g_assert_cmpint(g_mkdir(open_dir, 0700), ==, 0);
	g_assert_cmpint(chmod(open_dir, 0777), ==, 0);
	g_assert_cmpint(g_mkdir(inner, 0755), ==, 0);
	xml = domain_xml("vm2", UUID2, inner_sock, c->emu->address);
	want = g_strdup_printf("socket %s: directory %s is writable by group or others and not "
			       "sticky (mode 0777)", inner_sock, open_dir);
	expect_fail(c, xml, want);
	g_clear_pointer(&want, g_free);
	/* the run directory is held to the same rule */
	g_assert_cmpint(g_mkdir(c->run_dir, 0700), ==, 0);
	g_assert_cmpint(chmod(c->run_dir, 0777), ==, 0);
	g_clear_pointer(&xml, g_free);
	xml = domain_xml("vm2", UUID2, sock, c->emu->address);
	want = g_strdup_printf("run directory %s: directory %s is writable by group or others "
			       "(mode 0777)", c->run_dir, c->run_dir);
	expect_fail(c, xml, want);
	g_assert_cmpuint(count_files(c->run_dir), ==, 0);
}

/* ---- release needs only the UUID ------------------------------------------ */

/* The port map became invalid while the VM ran: release still stops the
 * helper and frees its VF. */
static void test_release_bad_map(Ctx *c, gconstpointer data)
{
	g_autofree char *sock = sock_path(c, "vhu1234");
	g_autofree char *xml = domain_xml("vm-nova", UUID1, sock, NULL);
	g_autofree char *map = g_strdup_printf("[%s]\ndevice=%s\nlm=sw\n", sock, c->emu->address);
	g_autofree char *err = NULL;

	g_assert_true(g_file_set_contents(c->map, map, -1, NULL));
	g_assert_cmpint(run_hook(c, "prepare", "begin", xml, NULL), ==, 0);
	assert_serving(c, UUID1, sock);
	g_assert_true(g_file_set_contents(c->map, "[broken\nlm=nothing\n", -1, NULL));
	g_assert_cmpint(run_hook(c, "release", "end", xml, &err), ==, 0);
	g_assert_cmpstr(err, ==, "");
	assert_clean(c, UUID1, sock);
	/* and the VF is free for the next start */
	g_assert_true(g_file_set_contents(c->map, map, -1, NULL));
	g_assert_cmpint(run_hook(c, "prepare", "begin", xml, NULL), ==, 0);
	g_assert_cmpint(run_hook(c, "release", "end", xml, NULL), ==, 0);
	assert_clean(c, UUID1, sock);
}

/* Domain XML release cannot read: the helper is found by the domain name
 * libvirt passes, in what prepare wrote. */
static void test_release_bad_xml(Ctx *c, gconstpointer data)
{
	g_autofree char *sock = sock_path(c, "net0.sock");
	g_autofree char *xml = domain_xml("vm1", UUID1, sock, c->emu->address);
	g_autofree char *err = NULL;

	g_assert_cmpint(run_hook_args(c, (const char *const[]){ "vm1", "prepare", "begin", "-", NULL },
				      xml, NULL), ==, 0);
	assert_serving(c, UUID1, sock);
	/* another VM's release with broken XML leaves it alone */
	g_assert_cmpint(run_hook_args(c, (const char *const[]){ "vm9", "release", "end", "-", NULL },
				      "<domain><name>vm9", &err), ==, 1);
	assert_one_line(err, "malformed");
	assert_serving(c, UUID1, sock);
	g_clear_pointer(&err, g_free);
	g_assert_cmpint(run_hook_args(c, (const char *const[]){ "vm1", "release", "end", "-", NULL },
				      "<domain><name>vm1</name><uuid>", &err), ==, 0);
	g_assert_cmpstr(err, ==, "");
	assert_clean(c, UUID1, sock);
}

int main(int argc, char **argv)
{
	int status;

	g_test_init(&argc, &argv, NULL);
	helper_pids = g_hash_table_new(NULL, NULL);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		g_error("PR_SET_CHILD_SUBREAPER: %s", g_strerror(errno));
#define ADD(path, fn) g_test_add(path, Ctx, NULL, ctx_setup, fn, ctx_teardown)
	ADD("/hook/prepare-release", test_prepare_release);
	ADD("/hook/port-map", test_port_map);
	ADD("/hook/qemu-server-role", test_qemu_server_role);
	ADD("/hook/no-vf", test_no_vf);
	ADD("/hook/bus", test_bus);
	ADD("/hook/bad-input", test_bad_input);
	ADD("/hook/exit-reason", test_exit_reason);
	ADD("/hook/usage", test_usage);
	ADD("/hook/restart", test_restart);
	ADD("/hook/start-limit", test_start_limit);
	ADD("/hook/migrate", test_migrate);
	ADD("/hook/reconnect", test_reconnect);
	ADD("/hook/cycles", test_cycles);
	ADD("/hook/libvirt-uri", test_libvirt_uri);
	ADD("/hook/incoming", test_incoming);
	ADD("/hook/systemd-run", test_systemd_run);
	ADD("/hook/systemd-run-fails", test_systemd_run_fails);
	ADD("/hook/exec-lock", test_exec_lock);
	ADD("/hook/socket-symlink-race", test_socket_symlink_race);
	ADD("/hook/unsafe-dirs", test_unsafe_dirs);
	ADD("/hook/release-bad-map", test_release_bad_map);
	ADD("/hook/release-bad-xml", test_release_bad_xml);
	status = g_test_run();
	g_hash_table_unref(helper_pids);
	return status;
}

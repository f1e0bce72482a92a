/* `ifcvf-helper hook`: the libvirt qemu hook (data/libvirt-hooks/qemu.d/
 * execs it with libvirt's arguments, the domain XML on stdin). See
 * hook_usage below for the operations and the environment.
 *
 * Threads: main thread. */
#include "hook.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "helper-error.h"
#include "hook-config.h"
#include "hook-exec.h"
#include "hook-files.h"
#include "hook-supervise.h"
#include "hook-helper.h"
#include "hook-systemd.h"

#define DEFAULT_RUN_DIR    "/run/ifcvf-helper"
#define DEFAULT_LOG_DIR    "/var/log/ifcvf-helper"
#define DEFAULT_PORTS_CONF "/etc/ifcvf-helper/ports.conf"
#define DEFAULT_TIMEOUT_MS 20000
#define DEFAULT_LIBVIRT_URI "qemu:///system"
#define QEMU_CONF          "/etc/libvirt/qemu.conf"
#define QEMU_DEFAULT_USER  "libvirt-qemu"
#define MAX_XML            (16 * 1024 * 1024)

static const char hook_usage[] =
	"Usage: ifcvf-helper hook [DOMAIN] OPERATION SUB-OPERATION EXTRA < domain.xml\n"
	"       ifcvf-helper hook exec ARGS-FILE\n"
	"       ifcvf-helper hook supervise ARGS-FILE\n"
	"\n"
	"The libvirt qemu hook. Operations:\n"
	"  prepare begin    start `ifcvf-helper run` for the VM, detached, and wait until\n"
	"                   every vhost-user socket it serves listens, every port on a\n"
	"                   socket QEMU serves (<source mode='server'>) is connecting,\n"
	"                   and its D-Bus name is owned\n"
	"  release end      stop the VM's helper and remove its pidfile, argument file,\n"
	"                   VF locks and sockets; needs only the UUID (from the XML, else\n"
	"                   the helper started under DOMAIN): ports are not read again\n"
	"  migrate begin    (destination) check the VFs exist and are free; XML unchanged;\n"
	"                   with a libvirt URI, leave RUN-DIR/UUID.incoming: the next\n"
	"                   prepare begin takes it and starts the helper with\n"
	"                   --libvirt-connect at-start (it hears its domain start);\n"
	"                   a marker older than 2 minutes is ignored, release end\n"
	"                   removes one left behind\n"
	"  reconnect begin  (libvirtd restarted) start the helper unless it runs\n"
	"  anything else    nothing\n"
	"\n"
	"The helper runs as `ifcvf-helper hook exec RUN-DIR/UUID.args`: as the transient\n"
	"unit ifcvf-helper-UUID.service (systemd-run) when systemd is PID 1, else detached\n"
	"by a double fork under `ifcvf-helper hook supervise RUN-DIR/UUID.args`.\n"
	"A helper that crashes (a signal, a non-zero exit) is started again: by the unit\n"
	"(Restart=on-failure, RestartSec=100ms) or by the supervisor (after 100 ms,\n"
	"doubling to 5 s, back to 100 ms after 30 s of running); both give up after 5\n"
	"starts within 30 s (the start limit). The log says `restart N after CAUSE`,\n"
	"Domain.Restarts on D-Bus says N (counted in RUN-DIR/UUID.restarts). `release end`\n"
	"stops the unit or the supervisor with its helper for good.\n"
	"ARGS-FILE is a key file the hook writes:\n"
	"  [Helper]\n"
	"  VM=NAME               written into the VF locks\n"
	"  Log=PATH              stdout and stderr are appended there (LOG-DIR/NAME.log)\n"
	"  Devices=ADDR;...      one lock each, vf-ADDR.lock in the file's directory\n"
	"  Argv=PATH;run;...     exec'd once every lock is taken; it keeps them\n"
	"\n"
	"VFs come from the domain's <metadata><ifcvf:ports xmlns:ifcvf=\"http://ifcvf-helper.org/xmlns/1\">\n"
	"<ifcvf:port socket=PATH device=ADDR lm=hw|sw queue-pairs=N/> matched to the\n"
	"<interface type='vhostuser'> or <disk type='vhostuser'> with that <source path>,\n"
	"or from the port map\n"
	"(a group per socket path with device=, lm=, queue-pairs=).\n"
	"\n"
	"A socket the helper listens on must have an absolute path without symbolic\n"
	"links, in a directory owned by root and writable by nobody else, below\n"
	"directories owned by root and not writable by others unless sticky (/tmp);\n"
	"the run and log directories likewise.\n"
	"\n"
	"Environment (for tests; libvirt passes none of it):\n"
	"  IFCVF_HELPER_RUN_DIR      pidfiles and VF locks (" DEFAULT_RUN_DIR ")\n"
	"  IFCVF_HELPER_LOG_DIR      the helpers' logs (" DEFAULT_LOG_DIR ")\n"
	"  IFCVF_HELPER_PORTS_CONF   the port map (" DEFAULT_PORTS_CONF ")\n"
	"  IFCVF_HELPER_BUS          system (default), session, an address, or none\n"
	"  IFCVF_HELPER_SOCKET_USER  USER[:GROUP] owning the sockets (mode 0660); default the\n"
	"                            user/group of " QEMU_CONF ", else " QEMU_DEFAULT_USER "\n"
	"                            when it exists; empty: leave them to root\n"
	"  IFCVF_HELPER_TIMEOUT_MS   how long the helper may take to serve (20000)\n"
	"  IFCVF_HELPER_LIBVIRT_URI  passed to `run --libvirt-uri` (" DEFAULT_LIBVIRT_URI ");\n"
	"                            empty: not passed. The helper connects once a\n"
	"                            migration out begins, or at start after migrate begin\n"
	"  IFCVF_HELPER_SYSTEMD_RUN  systemd-run to start the helper with (default: systemd-run\n"
	"                            when /run/systemd/system exists); empty: double fork\n"
	"  IFCVF_HELPER_SYSTEMCTL    systemctl to stop the unit with (systemctl)\n"
	"\n"
	"Exit status 0 on success; 1 with one line on stderr otherwise (libvirt shows\n"
	"it and aborts the start); 2 on bad usage.\n";

static char *env_or(const char *var, const char *def)
{
	const char *v = g_getenv(var);

	return g_strdup(v && *v ? v : def);
}

/* `user = "x"` / `group = "y"` from qemu.conf */
static char *qemu_conf_value(const char *text, const char *key)
{
	g_autofree char *pattern = g_strdup_printf("^\\s*%s\\s*=\\s*\"([^\"]*)\"", key);
	g_autoptr(GRegex) re = g_regex_new(pattern, G_REGEX_MULTILINE, 0, NULL);
	g_autoptr(GMatchInfo) m = NULL;

	if (!re || !g_regex_match(re, text, 0, &m))
		return NULL;
	return g_match_info_fetch(m, 1);
}

static char *socket_user(void)
{
	const char *v = g_getenv("IFCVF_HELPER_SOCKET_USER");
	g_autofree char *conf = NULL;
	g_autofree char *user = NULL;
	g_autofree char *group = NULL;

	if (v)
		return *v ? g_strdup(v) : NULL;
	if (g_file_get_contents(QEMU_CONF, &conf, NULL, NULL)) {
		user = qemu_conf_value(conf, "user");
		group = qemu_conf_value(conf, "group");
	}
	if (!user && getpwnam(QEMU_DEFAULT_USER))
		user = g_strdup(QEMU_DEFAULT_USER);
	if (!user)
		return NULL;
	return group ? g_strdup_printf("%s:%s", user, group) : g_steal_pointer(&user);
}

/* Its path in PATH; the bare name when it is not there (running it then
 * fails with a message that names it). */
static char *program(const char *name)
{
	char *path = g_find_program_in_path(name);

	return path ? path : g_strdup(name);
}

static gboolean env_init(HookEnv *env, GError **error)
{
	g_autofree char *timeout = env_or("IFCVF_HELPER_TIMEOUT_MS", NULL);
	g_autofree char *bus = env_or("IFCVF_HELPER_BUS", "system");
	/* unset: the default; set but empty: none */
	const char *uri = g_getenv("IFCVF_HELPER_LIBVIRT_URI");
	const char *systemd_run = g_getenv("IFCVF_HELPER_SYSTEMD_RUN");
	guint64 ms = DEFAULT_TIMEOUT_MS;

	env->helper = g_file_read_link("/proc/self/exe", error);
	if (!env->helper)
		return FALSE;
	if (timeout && (!g_ascii_string_to_unsigned(timeout, 10, 1, 600000, &ms, NULL))) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
			    "IFCVF_HELPER_TIMEOUT_MS='%s' is not a number of milliseconds", timeout);
		return FALSE;
	}
	env->timeout_ms = (guint)ms;
	env->run_dir = env_or("IFCVF_HELPER_RUN_DIR", DEFAULT_RUN_DIR);
	env->log_dir = env_or("IFCVF_HELPER_LOG_DIR", DEFAULT_LOG_DIR);
	env->bus = g_str_equal(bus, "none") ? NULL : g_steal_pointer(&bus);
	env->socket_user = socket_user();
	if (!uri)
		uri = DEFAULT_LIBVIRT_URI;
	env->libvirt_uri = *uri ? g_strdup(uri) : NULL;
	if (systemd_run)
		env->systemd_run = *systemd_run ? g_strdup(systemd_run) : NULL;
	else if (hook_systemd_booted())
		env->systemd_run = program("systemd-run");
	env->systemctl = env_or("IFCVF_HELPER_SYSTEMCTL", NULL);
	if (!env->systemctl)
		env->systemctl = program("systemctl");
	return TRUE;
}

static char *read_stdin(gsize *len, GError **error)
{
	g_autoptr(GByteArray) buf = g_byte_array_new();
	guint8 chunk[65536];

	for (;;) {
		ssize_t n = read(STDIN_FILENO, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_FAILED,
				    "reading the domain XML from stdin: %s", g_strerror(errno));
			return NULL;
		}
		if (n == 0)
			break;
		if (buf->len + (gsize)n > MAX_XML) {
			g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
				    "domain XML on stdin is larger than %d bytes", MAX_XML);
			return NULL;
		}
		g_byte_array_append(buf, chunk, (guint)n);
	}
	*len = buf->len;
	g_byte_array_append(buf, (const guint8 *)"", 1);
	return (char *)g_byte_array_free(g_steal_pointer(&buf), FALSE);
}

static HookVm *load_vm(const char *xml, gsize len, GError **error)
{
	g_autofree char *map_path = env_or("IFCVF_HELPER_PORTS_CONF", DEFAULT_PORTS_CONF);
	g_autoptr(GKeyFile) map = hook_port_map_load(map_path, error);

	if (!map)
		return NULL;
	return hook_vm_parse(xml, len, map, error);
}

/* The UUID of the VM to release: from the XML when it has one, else from
 * the argument file prepare wrote under the domain name libvirt passes.
 * Neither the port map nor the ports in the XML are read: whatever became
 * of them since the start, what is to stop is in the run directory. */
static char *release_uuid(const HookEnv *env, const char *domain, const char *xml, gsize len,
			  GError **error)
{
	g_autoptr(GError) local = NULL;
	char *uuid = hook_vm_uuid(xml, len, &local);

	if (!uuid && domain)
		uuid = hook_exec_args_find_uuid(env->run_dir, domain);
	if (!uuid)
		g_propagate_error(error, g_steal_pointer(&local));
	return uuid;
}

static gboolean release(const char *domain, const char *xml, gsize len, GError **error)
{
	g_auto(HookEnv) env = { 0 };
	g_autofree char *uuid = NULL;

	if (!env_init(&env, error) || !(uuid = release_uuid(&env, domain, xml, len, error)))
		return FALSE;
	/* a migration in that never got to prepare, or failed there */
	(void)hook_incoming_take(env.run_dir, uuid);
	return hook_helper_stop(&env, uuid, error);
}

/* @domain: the domain name libvirt passes; NULL in the short form */
static gboolean run_op(const char *domain, const char *op, const char *sub, const char *xml,
		       gsize len, GError **error)
{
	g_auto(HookEnv) env = { 0 };
	g_autoptr(HookVm) vm = NULL;
	gboolean prepare = g_str_equal(op, "prepare") && g_str_equal(sub, "begin");
	gboolean release_end = g_str_equal(op, "release") && g_str_equal(sub, "end");
	gboolean migrate = g_str_equal(op, "migrate") && g_str_equal(sub, "begin");
	gboolean reconnect = g_str_equal(op, "reconnect") && g_str_equal(sub, "begin");

	if (release_end)
		return release(domain, xml, len, error);
	if (!prepare && !migrate && !reconnect)
		return TRUE;
	if (!env_init(&env, error) || !(vm = load_vm(xml, len, error)))
		return FALSE;
	if (!vm->ports->len)
		return TRUE;
	/* the destination: only libvirt tells its helper that the guest is
	 * coming, so prepare starts it connected (hook-files.h) */
	if (migrate)
		return hook_vfs_check(&env, vm, error) &&
		       (!env.libvirt_uri || hook_incoming_mark(env.run_dir, vm->uuid, error));
	if (reconnect && hook_helper_running(&env, vm->uuid))
		return TRUE;
	if (prepare)
		env.libvirt_at_start = hook_incoming_take(env.run_dir, vm->uuid);
	return hook_helper_start(&env, vm, error);
}

int ifcvf_cmd_hook(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *xml = NULL;
	const char *op, *sub;
	gsize len = 0;

	if (argc == 2 && (g_str_equal(argv[1], "--help") || g_str_equal(argv[1], "-h"))) {
		fputs(hook_usage, stdout);
		return 0;
	}
	/* what the detached process or the systemd unit runs */
	if (argc == 3 && g_str_equal(argv[1], "exec"))
		return hook_exec_main(argv[2]);
	/* the detached process without systemd: restarts `hook exec` */
	if (argc == 3 && g_str_equal(argv[1], "supervise")) {
		g_autofree char *self = g_file_read_link("/proc/self/exe", &error);

		if (!self) {
			fprintf(stderr, "ifcvf-helper hook supervise: %s\n", error->message);
			return 1;
		}
		return hook_supervise_main(self, argv[2]);
	}
	/* libvirt: DOMAIN OP SUB EXTRA; by hand: OP SUB EXTRA */
	if (argc != 4 && argc != 5) {
		fputs("ifcvf-helper hook: expected [DOMAIN] OPERATION SUB-OPERATION EXTRA "
		      "(see --help)\n", stderr);
		return 2;
	}
	op = argv[argc - 3];
	sub = argv[argc - 2];
	/* libvirt writes the XML for every operation: always take it */
	if (!(xml = read_stdin(&len, &error)) ||
	    !run_op(argc == 5 ? argv[1] : NULL, op, sub, xml, len, &error)) {
		g_strdelimit(error->message, "\r\n", ' ');
		fprintf(stderr, "ifcvf-helper hook: %s %s: %s\n", op, sub, error->message);
		return 1;
	}
	return 0;
}

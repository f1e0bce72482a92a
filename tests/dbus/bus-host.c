/* bus-host: a stand-in for `ifcvf-helper run` in the D-Bus tests. It owns a
 * VM's bus name through IfcvfBus with a few ports and changes their state
 * when told to on stdin, one command a line:
 *
 *   state N STATE [REASON...]   features N DEVICE NEGOTIATED
 *   queues N PAIRS ENABLED      mac N MAC        announce N 0|1
 *   mode N hw|sw                counter N NAME VALUE
 *   update N                    (publish the snapshot unchanged)
 *   phase PHASE                 refuse N none|busy|not-supported|failed
 *   add N TYPE                  teardown (begin shutting down)
 *   quit
 *
 * Commands are read once the name is owned. Each is answered "ok" or
 * "error: ...". Events are printed as they
 * happen: "owned", "lost: MESSAGE", "set-lm-mode N MODE", "shutdown",
 * "refresh N". Exits 0 after quit (or Shutdown() with --exit-on-shutdown),
 * 3 when the name is lost, 2 for bad arguments. */
#define G_LOG_DOMAIN "BusHost"

#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ifcvf-bus.h"

#define MAX_COUNTERS 16

typedef struct {
	IfcvfBusPort *port;
	IfcvfBusPortSnapshot snap;
	char *reason;
	char *mac;
	char **kick_paths;
	char *refuse;                  /* how the next SetLiveMigrationMode fails */
	IfcvfBusCounter counters[MAX_COUNTERS];
	char *counter_names[MAX_COUNTERS];
} HostPort;

typedef struct {
	IfcvfBus *bus;
	GHashTable *ports;             /* index → HostPort */
	GMainLoop *loop;
	GDataInputStream *in;
	gboolean exit_on_shutdown;
	gboolean reading;
	int status;
} Host;

static void emit(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void emit(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void host_port_free(HostPort *hp)
{
	g_free(hp->reason);
	g_free(hp->mac);
	g_strfreev(hp->kick_paths);
	g_free(hp->refuse);
	for (guint i = 0; i < MAX_COUNTERS; i++)
		g_free(hp->counter_names[i]);
	g_free(hp);
}

static void set_counter(HostPort *hp, const char *name, guint64 value)
{
	gsize i;

	for (i = 0; i < hp->snap.n_counters; i++)
		if (strcmp(hp->counter_names[i], name) == 0)
			break;
	if (i == hp->snap.n_counters) {
		g_assert(i < MAX_COUNTERS);
		hp->counter_names[i] = g_strdup(name);
		hp->counters[i].name = hp->counter_names[i];
		hp->snap.n_counters++;
	}
	hp->counters[i].value = value;
}

static HostPort *add_port(Host *host, guint index, IfcvfBusDeviceType type, GError **error)
{
	g_autofree char *device = g_strdup_printf("vfio-user:/run/test/vf%u.sock", index);
	g_autofree char *socket = g_strdup_printf("/run/test/vhost%u.sock", index);
	HostPort *hp;
	IfcvfBusPort *port;

	port = ifcvf_bus_add_port(host->bus, index, device, socket, type, error);
	if (!port)
		return NULL;
	hp = g_new0(HostPort, 1);
	hp->port = port;
	hp->snap.state = IFCVF_BUS_PORT_STATE_WAITING;
	hp->snap.device_features = 0x130000020ull;
	hp->snap.queue_pairs = 1;
	hp->snap.counters = hp->counters;
	hp->mac = type == IFCVF_BUS_DEVICE_NET ? g_strdup_printf("52:54:00:12:34:%02x", index & 0xff)
					       : g_strdup("");
	hp->snap.mac = hp->mac;
	set_counter(hp, "kicks-relayed", 0);
	set_counter(hp, "config-interrupts", 0);
	set_counter(hp, "pages-logged", 0);
	g_hash_table_insert(host->ports, GUINT_TO_POINTER(index), hp);
	ifcvf_bus_port_update(port, &hp->snap);
	return hp;
}

static gboolean set_lm_mode_cb(IfcvfBusPort *port, IfcvfBusLmMode mode, gpointer user_data,
			       GError **error)
{
	Host *host = user_data;
	guint index = ifcvf_bus_port_get_index(port);
	HostPort *hp = g_hash_table_lookup(host->ports, GUINT_TO_POINTER(index));

	emit("set-lm-mode %u %s", index, ifcvf_bus_lm_mode_to_string(mode));
	if (g_strcmp0(hp->refuse, "busy") == 0) {
		g_set_error_literal(error, IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_BUSY,
				    "a live migration is under way");
		return FALSE;
	}
	if (g_strcmp0(hp->refuse, "not-supported") == 0) {
		g_set_error_literal(error, IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_NOT_SUPPORTED,
				    "the VF has no live-migration block (BAR4)");
		return FALSE;
	}
	if (g_strcmp0(hp->refuse, "failed") == 0) {
		/* a foreign domain: the bus must map it to Failed */
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
				    "the device said no");
		return FALSE;
	}
	hp->snap.lm_mode = mode;
	return TRUE;
}

static void shutdown_cb(IfcvfBus *bus, gpointer user_data)
{
	Host *host = user_data;

	emit("shutdown");
	if (host->exit_on_shutdown)
		g_main_loop_quit(host->loop);
}

static void refresh_cb(IfcvfBusPort *port, gpointer user_data)
{
	Host *host = user_data;
	guint index = ifcvf_bus_port_get_index(port);
	HostPort *hp = g_hash_table_lookup(host->ports, GUINT_TO_POINTER(index));

	emit("refresh %u", index);
	ifcvf_bus_port_update(port, &hp->snap);
}

static void read_line_cb(GObject *source, GAsyncResult *res, gpointer user_data);

static void name_cb(IfcvfBus *bus, gboolean owned, const GError *error, gpointer user_data)
{
	Host *host = user_data;

	if (owned) {
		emit("owned");
		/* commands are read once the name is ours, so a host with no
		 * stdin still reports whether it could own the name */
		if (!host->reading) {
			host->reading = TRUE;
			g_data_input_stream_read_line_async(host->in, G_PRIORITY_DEFAULT, NULL,
							    read_line_cb, host);
		}
		return;
	}
	emit("lost: %s", error->message);
	host->status = 3;
	g_main_loop_quit(host->loop);
}

/* decimal, or hex with 0x */
static gboolean parse_uint(const char *s, guint64 max, guint64 *ret)
{
	char *end = NULL;
	guint64 v;

	if (!s || !g_ascii_isdigit(*s))
		return FALSE;
	errno = 0;
	v = g_ascii_strtoull(s, &end, 0);
	if (errno || *end || v > max)
		return FALSE;
	*ret = v;
	return TRUE;
}

/* Run one command line; FALSE with @error for a bad one. */
static gboolean run_command(Host *host, char **w, GError **error)
{
	guint n = g_strv_length(w);
	HostPort *hp = NULL;
	guint64 a = 0, b = 0;

	if (n == 0)
		return TRUE;
	if (strcmp(w[0], "quit") == 0) {
		g_main_loop_quit(host->loop);
		return TRUE;
	}
	if (strcmp(w[0], "teardown") == 0) {
		ifcvf_bus_begin_shutdown(host->bus);
		return TRUE;
	}
	if (strcmp(w[0], "phase") == 0) {
		IfcvfBusMigrationPhase phase;

		if (n != 2 || !ifcvf_bus_migration_phase_from_string(w[1], &phase))
			goto bad;
		ifcvf_bus_set_migration_phase(host->bus, phase);
		return TRUE;
	}
	if (n < 2 || !parse_uint(w[1], G_MAXUINT, &a))
		goto bad;
	if (strcmp(w[0], "add") == 0) {
		IfcvfBusDeviceType type = g_strcmp0(w[2], "blk") == 0 ? IFCVF_BUS_DEVICE_BLK
								       : IFCVF_BUS_DEVICE_NET;

		return add_port(host, (guint)a, type, error) != NULL;
	}
	hp = g_hash_table_lookup(host->ports, GUINT_TO_POINTER((guint)a));
	if (!hp)
		goto bad;

	if (strcmp(w[0], "state") == 0 && n >= 3) {
		if (!ifcvf_bus_port_state_from_string(w[2], &hp->snap.state))
			goto bad;
		g_free(hp->reason);
		hp->reason = n > 3 ? g_strjoinv(" ", w + 3) : NULL;
		hp->snap.state_reason = hp->reason;
	} else if (strcmp(w[0], "features") == 0 && n == 4) {
		if (!parse_uint(w[2], G_MAXUINT64, &hp->snap.device_features) ||
		    !parse_uint(w[3], G_MAXUINT64, &hp->snap.negotiated_features))
			goto bad;
	} else if (strcmp(w[0], "queues") == 0 && n == 4) {
		if (!parse_uint(w[2], G_MAXUINT, &a) || !parse_uint(w[3], G_MAXUINT, &b))
			goto bad;
		hp->snap.queue_pairs = (guint)a;
		hp->snap.enabled_queues = (guint)b;
	} else if (strcmp(w[0], "mac") == 0 && n == 3) {
		g_free(hp->mac);
		hp->snap.mac = hp->mac = g_strdup(w[2]);
	} else if (strcmp(w[0], "kicks") == 0 && n >= 2) {
		/* kicks PORT [PATH...]: KickPaths, one per vring */
		g_strfreev(hp->kick_paths);
		hp->kick_paths = g_strdupv(w + 2);
		hp->snap.kick_paths = (const char *const *)hp->kick_paths;
	} else if (strcmp(w[0], "announce") == 0 && n == 3) {
		hp->snap.guest_announce = strcmp(w[2], "1") == 0;
	} else if (strcmp(w[0], "mode") == 0 && n == 3) {
		if (!ifcvf_bus_lm_mode_from_string(w[2], &hp->snap.lm_mode))
			goto bad;
	} else if (strcmp(w[0], "counter") == 0 && n == 4) {
		if (!parse_uint(w[3], G_MAXUINT64, &b))
			goto bad;
		set_counter(hp, w[2], b);
	} else if (strcmp(w[0], "refuse") == 0 && n == 3) {
		g_free(hp->refuse);
		hp->refuse = g_strdup(w[2]);
		return TRUE;
	} else if (strcmp(w[0], "update") != 0) {
		goto bad;
	}
	ifcvf_bus_port_update(hp->port, &hp->snap);
	return TRUE;
bad:
	g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "bad command");
	return FALSE;
}

static void read_line_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	Host *host = user_data;
	g_autoptr(GError) error = NULL;
	g_autofree char *line = g_data_input_stream_read_line_finish_utf8(host->in, res, NULL,
									  &error);
	g_auto(GStrv) words = NULL;

	if (!line) {
		/* stdin closed: the test went away */
		g_main_loop_quit(host->loop);
		return;
	}
	words = g_strsplit_set(g_strstrip(line), " \t", -1);
	if (run_command(host, words, &error))
		emit("ok");
	else
		emit("error: %s", error->message);
	g_data_input_stream_read_line_async(host->in, G_PRIORITY_DEFAULT, NULL, read_line_cb,
					    host);
}

int main(int argc, char **argv)
{
	g_autofree char *bus = NULL;
	g_autofree char *name = NULL;
	g_autofree char *uuid = NULL;
	int n_ports = 2;
	gboolean exit_on_shutdown = FALSE;
	const GOptionEntry entries[] = {
		{ "bus", 0, 0, G_OPTION_ARG_STRING, &bus, "system, session or an address", "BUS" },
		{ "name", 0, 0, G_OPTION_ARG_STRING, &name, "VM name", "NAME" },
		{ "uuid", 0, 0, G_OPTION_ARG_STRING, &uuid, "VM UUID", "UUID" },
		{ "ports", 0, 0, G_OPTION_ARG_INT, &n_ports, "ports to add before start", "N" },
		{ "exit-on-shutdown", 0, 0, G_OPTION_ARG_NONE, &exit_on_shutdown,
		  "exit once Shutdown() was called", NULL },
		{ NULL }
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("- host IfcvfBus objects for tests");
	g_autoptr(GInputStream) stdin_stream = NULL;
	g_autoptr(GError) error = NULL;
	IfcvfBusHandlers handlers = {
		.set_lm_mode = set_lm_mode_cb,
		.shutdown = shutdown_cb,
		.refresh_port = refresh_cb,
	};
	Host host = { 0 };

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
		fprintf(stderr, "bus-host: %s\n", error->message);
		return 2;
	}
	host.bus = ifcvf_bus_new(bus ? bus : "session", name ? name : "test-vm",
				 uuid ? uuid : "", &error);
	if (!host.bus) {
		fprintf(stderr, "bus-host: %s\n", error->message);
		return 2;
	}
	host.exit_on_shutdown = exit_on_shutdown;
	host.loop = g_main_loop_new(NULL, FALSE);
	host.ports = g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)host_port_free);
	for (int i = 0; i < n_ports; i++)
		if (!add_port(&host, (guint)i, IFCVF_BUS_DEVICE_NET, &error))
			g_error("%s", error->message);
	ifcvf_bus_set_handlers(host.bus, &handlers, &host);
	stdin_stream = g_unix_input_stream_new(0, FALSE);
	host.in = g_data_input_stream_new(stdin_stream);
	ifcvf_bus_start(host.bus, name_cb, &host);
	g_main_loop_run(host.loop);

	ifcvf_bus_free(host.bus);
	g_hash_table_unref(host.ports);
	g_object_unref(host.in);
	g_main_loop_unref(host.loop);
	return host.status;
}

/* Fuzz target 7: the helper's arguments. The first input byte picks:
 *   even: `run --port` specs (up to four, NUL-separated), `--devargs` and
 *         `--libvirt-uri`, through ifcvf_port_config_parse(),
 *         ifcvf_port_configs_check(), vfio_address_parse(),
 *         ifcvf_devargs_parse() and ifcvf_libvirt_uri_check();
 *   odd:  D-Bus method calls with arguments of any type, through the real
 *         bus module (ifcvf-bus.h: its objects, the caller check and the
 *         handlers) on a private dbus-daemon this process starts once.
 * A call is: which (object, interface, method), a GVariant type string
 * (NUL-terminated; not a tuple: wrapped in one), a length byte and that
 * many bytes of serialised data (GVariant's own untrusted-data reader
 * makes the value).
 *
 * Oracles: no crash, leak or sanitizer report; a spec accepted reads back
 * the same from the spec made of it; devargs accepted read back the same;
 * every D-Bus call gets an answer within 5 s (a call the module dropped
 * would leave the caller waiting). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <signal.h>
#include <unistd.h>

#include <gio/gio.h>

#include "ifcvf-bus.h"
#include "ifcvf-devargs.h"
#include "run-options.h"
#include "vfio-dev-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define UUID "0a1b2c3d-4e5f-4061-8293-a4b5c6d7e801"
#define PORT0 IFCVF_BUS_PORTS_PATH "/0"
#define CALL_TIMEOUT_MS 5000

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "specs-args fuzz: %s: %s\n", what, detail);
	abort();
}

/* ---- specs, devargs, URI ---- */

static char *spec_of(const struct port_config *c)
{
	return g_strdup_printf("device=%s,socket=%s,client=%d,sw-live-migration=%d,"
			       "generic-virtio=%d%s%.0u", c->device, c->socket, c->client,
			       c->sw_live_migration, c->generic_virtio,
			       c->queue_pairs ? ",queue-pairs=" : "", c->queue_pairs);
}

static void specs(const uint8_t *data, size_t size)
{
	struct port_config cfgs[4] = { 0 };
	guint n = 0;
	/* the pieces, NUL-separated: up to 4 specs, then devargs, then a URI */
	const char *pieces[6] = { 0 };
	g_autofree char *raw = g_malloc(size + 1);
	size_t k = 0, start = 0;

	memcpy(raw, data, size);
	raw[size] = '\0';
	for (size_t i = 0; i <= size && k < 6; i++)
		if (i == size || raw[i] == '\0') {
			pieces[k++] = raw + start;
			start = i + 1;
		}
	for (guint i = 0; i < 4 && pieces[i]; i++) {
		g_autoptr(GError) error = NULL;
		struct port_config again = { 0 };
		g_autofree char *spec = NULL;
		struct vfio_address addr;
		struct cerr e;

		if (!ifcvf_port_config_parse(pieces[i], &cfgs[n], &error)) {
			if (!error)
				fail("--port refused without an error", pieces[i]);
			continue;
		}
		if (!cfgs[n].device || !*cfgs[n].device || !cfgs[n].socket || !*cfgs[n].socket ||
		    cfgs[n].queue_pairs > 32)
			fail("--port accepted without a device, a socket or sane queue pairs",
			     pieces[i]);
		(void)vfio_address_parse(cfgs[n].device, &addr, &e);
		/* a spec made of what was read, if it holds no ',', reads the same */
		spec = spec_of(&cfgs[n]);
		if (!strchr(cfgs[n].device, ',') && !strchr(cfgs[n].socket, ',')) {
			if (!ifcvf_port_config_parse(spec, &again, &error))
				fail("--port refuses a spec made of an accepted one", spec);
			if (strcmp(again.device, cfgs[n].device) || strcmp(again.socket, cfgs[n].socket) ||
			    again.client != cfgs[n].client ||
			    again.sw_live_migration != cfgs[n].sw_live_migration ||
			    again.generic_virtio != cfgs[n].generic_virtio ||
			    again.queue_pairs != cfgs[n].queue_pairs)
				fail("--port reads another port back", spec);
			ifcvf_port_config_clear(&again);
		}
		n++;
	}
	(void)ifcvf_port_configs_check(cfgs, n, NULL);
	for (guint i = 0; i < n; i++)
		ifcvf_port_config_clear(&cfgs[i]);
	if (pieces[4]) {
		struct ifcvf_devargs a, b;
		struct cerr e;

		if (ifcvf_devargs_parse(pieces[4], &a, &e) == 0) {
			g_autofree char *again = g_strdup_printf("sw-live-migration=%d,generic-virtio=%d",
								 a.sw_live_migration, a.generic_virtio);

			if (ifcvf_devargs_parse(again, &b, &e) < 0 ||
			    b.sw_live_migration != a.sw_live_migration ||
			    b.generic_virtio != a.generic_virtio)
				fail("--devargs reads back otherwise", again);
		}
	}
	if (pieces[5])
		(void)ifcvf_libvirt_uri_check(pieces[5], NULL);
}

/* ---- D-Bus ---- */

static struct {
	GSubprocess *daemon;
	char *address;
	IfcvfBus *bus;
	GDBusConnection *client;
	gboolean owned;
	gboolean shut_down;
} bx;

static void die_with_parent(gpointer user_data)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static gboolean set_lm_mode(IfcvfBusPort *port, IfcvfBusLmMode mode, gpointer user_data,
			    GError **error)
{
	if (mode == IFCVF_BUS_LM_MODE_SW)
		return TRUE;
	g_set_error_literal(error, IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_BUSY, "busy");
	return FALSE;
}

static void on_shutdown(IfcvfBus *bus, gpointer user_data)
{
	bx.shut_down = TRUE;
}

static void name_cb(IfcvfBus *bus, gboolean owned, const GError *error, gpointer user_data)
{
	bx.owned = owned;
	if (!owned)
		fail("the bus name", error ? error->message : "lost");
}

static void iterate_until(const gboolean *flag, const char *what)
{
	gint64 end = g_get_monotonic_time() + CALL_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;

	while (!*flag) {
		if (g_get_monotonic_time() > end)
			fail("no answer within 5 s", what);
		g_main_context_iteration(NULL, FALSE);
		if (!*flag)
			g_usleep(50);
	}
}

static void bus_up(void)
{
	static const IfcvfBusHandlers handlers = { .set_lm_mode = set_lm_mode,
						   .shutdown = on_shutdown };
	g_autoptr(GError) error = NULL;
	IfcvfBusCounter counters[] = { { "rx_packets", 1 }, { "tx_packets", 2 } };
	IfcvfBusPortSnapshot snap = { .state = IFCVF_BUS_PORT_STATE_RUNNING,
				      .counters = counters, .n_counters = 2 };
	IfcvfBusPort *port;

	bx.owned = FALSE;
	bx.shut_down = FALSE;
	bx.bus = ifcvf_bus_new(bx.address, "fuzz-vm", UUID, &error);
	if (!bx.bus)
		fail("ifcvf_bus_new", error->message);
	ifcvf_bus_set_handlers(bx.bus, &handlers, NULL);
	port = ifcvf_bus_add_port(bx.bus, 0, "vfio-user:/run/vf.sock", "/run/net0.sock",
				  IFCVF_BUS_DEVICE_NET, &error);
	if (!port)
		fail("ifcvf_bus_add_port", error->message);
	ifcvf_bus_port_update(port, &snap);
	ifcvf_bus_start(bx.bus, name_cb, NULL);
	iterate_until(&bx.owned, "owning the name");
}

/* the daemon listens on an abstract socket, so a crash leaves no file */
static void bus_init(void)
{
	g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE);
	g_autoptr(GError) error = NULL;
	g_autofree char *conf = NULL, *conf_path = NULL, *conf_arg = NULL;
	g_autoptr(GDataInputStream) out = NULL;
	int fd;

	conf = g_strdup_printf(
		"<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN\"\n"
		" \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
		"<busconfig><type>session</type><listen>unix:abstract=ifcvf-fuzz-%d-%u</listen>"
		"<auth>EXTERNAL</auth><policy context=\"default\">"
		"<allow send_destination=\"*\" eavesdrop=\"true\"/><allow eavesdrop=\"true\"/>"
		"<allow own=\"*\"/></policy></busconfig>\n", (int)getpid(), g_random_int());
	fd = g_file_open_tmp("fuzz-bus-XXXXXX.conf", &conf_path, &error);
	if (fd < 0)
		fail("the bus config", error->message);
	close(fd);
	if (!g_file_set_contents(conf_path, conf, -1, &error))
		fail("the bus config", error->message);
	conf_arg = g_strconcat("--config-file=", conf_path, NULL);
	g_subprocess_launcher_set_child_setup(l, die_with_parent, NULL, NULL);
	bx.daemon = g_subprocess_launcher_spawn(l, &error, "dbus-daemon", conf_arg, "--nofork",
						"--print-address=1", NULL);
	if (!bx.daemon)
		fail("dbus-daemon", error->message);
	out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(bx.daemon));
	bx.address = g_data_input_stream_read_line_utf8(out, NULL, NULL, &error);
	unlink(conf_path);
	if (!bx.address)
		fail("dbus-daemon's address", error ? error->message : "none");
	g_strstrip(bx.address);
	bx.client = g_dbus_connection_new_for_address_sync(bx.address,
		G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
		G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL, NULL, &error);
	if (!bx.client)
		fail("a client connection", error->message);
	bus_up();
}

static void bus_cleanup(void)
{
	if (!bx.daemon)
		return;
	ifcvf_bus_free(bx.bus);
	g_dbus_connection_close_sync(bx.client, NULL, NULL);
	g_object_unref(bx.client);
	while (g_main_context_iteration(NULL, FALSE))
		;
	g_subprocess_force_exit(bx.daemon);
	(void)g_subprocess_wait(bx.daemon, NULL, NULL);
	g_clear_object(&bx.daemon);
	g_free(bx.address);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	atexit(bus_cleanup);
	return 0;
}

static const struct {
	const char *path, *iface, *method;
} calls[] = {
	{ PORT0, IFCVF_BUS_PORT_INTERFACE, "GetStats" },
	{ PORT0, IFCVF_BUS_PORT_INTERFACE, "SetLiveMigrationMode" },
	{ IFCVF_BUS_ROOT_PATH, IFCVF_BUS_DOMAIN_INTERFACE, "Shutdown" },
	{ PORT0, "org.freedesktop.DBus.Properties", "Get" },
	{ PORT0, "org.freedesktop.DBus.Properties", "Set" },
	{ IFCVF_BUS_ROOT_PATH, "org.freedesktop.DBus.Properties", "GetAll" },
	{ IFCVF_BUS_ROOT_PATH, "org.freedesktop.DBus.Properties", "Set" },
	{ PORT0, "org.freedesktop.DBus.Introspectable", "Introspect" },
	{ IFCVF_BUS_ROOT_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects" },
	{ IFCVF_BUS_PORTS_PATH "/7", IFCVF_BUS_PORT_INTERFACE, "SetLiveMigrationMode" },
	{ IFCVF_BUS_PORTS_PATH "/x", "org.freedesktop.DBus.Properties", "GetAll" },
	{ PORT0, IFCVF_BUS_PORT_INTERFACE, "NoSuchMethod" },
	{ IFCVF_BUS_ROOT_PATH, IFCVF_BUS_PORT_INTERFACE, "GetStats" },
};

typedef struct {
	gboolean done;
	gboolean ok;
} Reply;

static void reply_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	Reply *r = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) v = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res,
							       &error);

	if (!v && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
		fail("a call got no answer", error->message);
	r->ok = v != NULL;
	r->done = TRUE;
}

static void dbus_calls(const uint8_t *data, size_t size)
{
	unsigned ncalls = 0;

	if (!bx.daemon)
		bus_init();
	while (size >= 2 && ncalls++ < 4) {
		unsigned which = data[0] % G_N_ELEMENTS(calls);
		const uint8_t *nul = memchr(data + 1, 0, size - 1);
		g_autofree char *type = NULL;
		g_autoptr(GVariant) value = NULL;
		g_autoptr(GBytes) bytes = NULL;
		GVariant *body;
		size_t len;
		Reply r = { FALSE, FALSE };

		if (!nul)
			break;
		type = g_strndup((const char *)data + 1, (size_t)(nul - data - 1));
		size -= (size_t)(nul - data) + 1;
		data = nul + 1;
		len = size ? data[0] : 0;
		if (size) {
			data++;
			size--;
		}
		if (len > size)
			len = size;
		/* a value needs a definite type (no '*', '?', 'r'), and a D-Bus
		 * message one D-Bus has (no maybe, no empty struct but "()") */
		if (!*type || strlen(type) > 64 || !g_variant_type_string_is_valid(type) ||
		    !g_variant_type_is_definite(G_VARIANT_TYPE(type)) ||
		    (strcmp(type, "()") && !g_variant_is_signature(type))) {
			data += len;
			size -= len;
			continue;
		}
		bytes = g_bytes_new(data, len);
		value = g_variant_ref_sink(g_variant_new_from_bytes(G_VARIANT_TYPE(type), bytes,
								    FALSE));
		data += len;
		size -= len;
		body = g_variant_is_of_type(value, G_VARIANT_TYPE_TUPLE) ? g_variant_ref(value)
			: g_variant_ref_sink(g_variant_new_tuple(&value, 1));
		g_dbus_connection_call(bx.client, ifcvf_bus_get_name(bx.bus), calls[which].path,
				       calls[which].iface, calls[which].method, body, NULL,
				       G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, NULL,
				       reply_cb, &r);
		g_variant_unref(body);
		iterate_until(&r.done, calls[which].method);
		if (which == 2 && r.ok)   /* the handler runs from an idle after the reply */
			iterate_until(&bx.shut_down, "the shutdown handler");
		if (bx.shut_down) {
			/* a Shutdown went through: the next input gets a fresh bus */
			ifcvf_bus_free(bx.bus);
			bus_up();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1) {
		dbus_calls(data + 1, size - 1);
		/* what the calls left to the main context (GDBus frees a call's
		 * message and task from there) */
		while (g_main_context_iteration(NULL, FALSE))
			;
	}
	else
		specs(data + 1, size - 1);
	return 0;
}

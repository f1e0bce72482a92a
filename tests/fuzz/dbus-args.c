/* Fuzz target 7b: D-Bus method calls with arguments of any type, through
 * the real bus module (ifcvf-bus.h: its objects, the caller check and the
 * handlers) on a private dbus-daemon this process starts once. The input is
 * up to four calls, each: which (object, interface, method), a GVariant
 * type string (NUL-terminated; not a tuple: wrapped in one), a length byte
 * and that many bytes of serialised data (GVariant's own reader of
 * untrusted data makes the value).
 *
 * Oracles: no crash, leak or sanitizer report; every call gets an answer
 * within 5 s (a call the module dropped would leave the caller waiting). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <signal.h>
#include <stdint.h>
#include <unistd.h>

#include <gio/gio.h>

#include "ifcvf-bus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define UUID "0a1b2c3d-4e5f-4061-8293-a4b5c6d7e801"
#define PORT0 IFCVF_BUS_PORTS_PATH "/0"
#define CALL_TIMEOUT_MS 5000

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "dbus-args fuzz: %s: %s\n", what, detail);
	abort();
}

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

static gboolean timed_out_cb(gpointer user_data)
{
	*(gboolean *)user_data = TRUE;
	return G_SOURCE_REMOVE;
}

/* the main loop until *@flag, blocking (the bus daemon needs the CPU) */
static void iterate_until(const gboolean *flag, const char *what)
{
	gboolean timed_out = FALSE;
	GSource *timeout = g_timeout_source_new(CALL_TIMEOUT_MS);

	g_source_set_callback(timeout, timed_out_cb, &timed_out, NULL);
	g_source_attach(timeout, NULL);
	while (!*flag && !timed_out)
		g_main_context_iteration(NULL, TRUE);
	g_source_destroy(timeout);
	g_source_unref(timeout);
	if (!*flag)
		fail("no answer within 5 s", what);
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
	dbus_calls(data, size);
	/* what the calls left to the main context (GDBus frees a call's
	 * message and task from there) */
	while (g_main_context_iteration(NULL, FALSE))
		;
	return 0;
}

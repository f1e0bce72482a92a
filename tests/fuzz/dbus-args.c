/* Fuzz target 7b: D-Bus method calls with arguments of any type, through
 * the real bus module (ifcvf-bus.h: its objects and handlers). The input is
 * up to four calls, each: which (object, interface, method), a GVariant
 * type string (NUL-terminated; not a tuple: wrapped in one), a length byte
 * and that many bytes of serialised data (GVariant's own reader of
 * untrusted data makes the value).
 *
 * No bus, no socket, no thread: the calls are dispatched in this thread the
 * way GDBus dispatches a message it read (gdbusconnection.c: the object or
 * subtree at the path, the Properties calls, the method's introspection and
 * its argument signature), to the vtables GDBus would use: the skeletons'
 * own (their generated argument unpacking and property getters, then the
 * module's handlers) and the unknown-port subtree's. The method calls get a
 * GDBusMethodInvocation made here (GLib has no public constructor: its
 * fields are filled by their layout, checked against GLib's getters at
 * start) on a closed connection, where GDBus drops the reply after
 * checking its type against the method's out-args. The caller is taken as
 * root: the access check (ifcvf-bus-auth.c) asks the bus daemon, and the
 * dbus suite tests it over a real bus. Earlier, a dbus-daemon and a GDBus
 * round trip per call made about 900 calls a second and a bus per Shutdown.
 *
 * Oracles: no crash, leak, sanitizer report, GLib warning or critical (a
 * reply of the wrong type is one); every method call is answered before
 * the input ends (its invocation is gone). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/socket.h>

#include <gio/gio.h>

#include "ifcvf-bus-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define UUID "0a1b2c3d-4e5f-4061-8293-a4b5c6d7e801"
#define PORT0 IFCVF_BUS_PORTS_PATH "/0"
#define SENDER ":1.42"
#define PROPERTIES "org.freedesktop.DBus.Properties"

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "dbus-args fuzz: %s: %s\n", what, detail);
	abort();
}

static struct {
	IfcvfBus *bus;
	IfcvfBusPort *port;
	GDBusConnection *closed;   /* the invocations' connection */
	gboolean shut_down;
} bx;

/* GLib's GDBusMethodInvocation (gdbusmethodinvocation.c, unchanged since
 * 2.26); bus_init() checks it against the getters */
struct invocation_layout {
	GObject parent_instance;
	char *sender;
	char *object_path;
	char *interface_name;
	char *method_name;
	GDBusMethodInfo *method_info;
	GDBusPropertyInfo *property_info;
	GDBusConnection *connection;
	GDBusMessage *message;
	GVariant *parameters;
	gpointer user_data;
};

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

/* what the helper publishes before any call: every input starts here */
static void port_reset(void)
{
	IfcvfBusCounter counters[] = { { "rx_packets", 1 }, { "tx_packets", 2 } };
	IfcvfBusPortSnapshot snap = { .state = IFCVF_BUS_PORT_STATE_RUNNING,
				      .lm_mode = IFCVF_BUS_LM_MODE_HW,
				      .counters = counters, .n_counters = 2 };

	ifcvf_bus_port_update(bx.port, &snap);
}

/* a connection that is closed at once: GDBus drops what is sent on it */
static GDBusConnection *closed_connection(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocket) s0 = NULL, s1 = NULL;
	g_autoptr(GSocketConnection) stream = NULL;
	GDBusConnection *c;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		fail("socketpair", g_strerror(errno));
	s0 = g_socket_new_from_fd(sv[0], &error);
	s1 = s0 ? g_socket_new_from_fd(sv[1], &error) : NULL;
	if (!s1)
		fail("a socket", error->message);
	stream = g_socket_connection_factory_create_connection(s0);
	c = g_dbus_connection_new_sync(G_IO_STREAM(stream), NULL,
				       G_DBUS_CONNECTION_FLAGS_DELAY_MESSAGE_PROCESSING, NULL,
				       NULL, &error);
	if (!c || !g_dbus_connection_close_sync(c, NULL, &error))
		fail("a closed connection", error->message);
	return c;
}

static GDBusMethodInvocation *new_invocation(const char *path, const char *iface,
					     const char *method, GVariant *params,
					     GDBusMethodInfo *mi, gpointer user_data)
{
	GDBusMethodInvocation *inv = g_object_new(G_TYPE_DBUS_METHOD_INVOCATION, NULL);
	struct invocation_layout *l = (struct invocation_layout *)inv;
	GDBusMessage *msg = g_dbus_message_new_method_call(ifcvf_bus_get_name(bx.bus), path,
							   iface, method);

	g_dbus_message_set_body(msg, params);
	g_dbus_message_set_sender(msg, SENDER);
	g_dbus_message_set_serial(msg, 1);
	l->sender = g_strdup(SENDER);
	l->object_path = g_strdup(path);
	l->interface_name = g_strdup(iface);
	l->method_name = g_strdup(method);
	l->method_info = mi ? g_dbus_method_info_ref(mi) : NULL;
	l->connection = g_object_ref(bx.closed);
	l->message = msg;
	l->parameters = g_variant_ref(params);
	l->user_data = user_data;
	return inv;
}

/* the layout above is GLib's: each getter reads what was filled in */
static void check_layout(void)
{
	g_autoptr(GVariant) params = g_variant_ref_sink(g_variant_new("()"));
	GDBusMethodInfo *mi = g_dbus_interface_info_lookup_method(ifcvf_dbus_port_interface_info(),
								  "GetStats");
	GDBusMethodInvocation *inv = new_invocation(PORT0, IFCVF_BUS_PORT_INTERFACE, "GetStats",
						    params, mi, &bx);

	if (g_strcmp0(g_dbus_method_invocation_get_sender(inv), SENDER) ||
	    g_strcmp0(g_dbus_method_invocation_get_object_path(inv), PORT0) ||
	    g_strcmp0(g_dbus_method_invocation_get_method_name(inv), "GetStats") ||
	    g_dbus_method_invocation_get_method_info(inv) != mi ||
	    g_dbus_method_invocation_get_property_info(inv) != NULL ||
	    g_dbus_method_invocation_get_connection(inv) != bx.closed ||
	    g_dbus_method_invocation_get_parameters(inv) != params ||
	    g_dbus_method_invocation_get_user_data(inv) != &bx ||
	    !G_IS_DBUS_MESSAGE(g_dbus_method_invocation_get_message(inv)))
		fail("GLib's GDBusMethodInvocation", "its layout changed: update invocation_layout");
	g_object_unref(inv);
}

static void bus_init(void)
{
	static const IfcvfBusHandlers handlers = { .set_lm_mode = set_lm_mode,
						   .shutdown = on_shutdown };
	g_autoptr(GError) error = NULL;

	/* never connected: the address is only checked */
	bx.bus = ifcvf_bus_new("unix:abstract=ifcvf-fuzz-unused", "fuzz-vm", UUID, &error);
	if (!bx.bus)
		fail("ifcvf_bus_new", error->message);
	ifcvf_bus_set_handlers(bx.bus, &handlers, NULL);
	bx.port = ifcvf_bus_add_port(bx.bus, 0, "vfio-user:/run/vf.sock", "/run/net0.sock",
				     IFCVF_BUS_DEVICE_NET, &error);
	if (!bx.port)
		fail("ifcvf_bus_add_port", error->message);
	bx.closed = closed_connection();
	check_layout();
	port_reset();
}

static void bus_cleanup(void)
{
	ifcvf_bus_free(bx.bus);
	g_clear_object(&bx.closed);
	while (g_main_context_iteration(NULL, FALSE))
		;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* a reply of the wrong type is only a warning in GDBus */
	g_log_set_always_fatal(G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL);
	bus_init();
	atexit(bus_cleanup);
	return 0;
}

static const struct {
	const char *path, *iface, *method;
} calls[] = {
	{ PORT0, IFCVF_BUS_PORT_INTERFACE, "GetStats" },
	{ PORT0, IFCVF_BUS_PORT_INTERFACE, "SetLiveMigrationMode" },
	{ IFCVF_BUS_ROOT_PATH, IFCVF_BUS_DOMAIN_INTERFACE, "Shutdown" },
	{ PORT0, PROPERTIES, "Get" },
	{ PORT0, PROPERTIES, "Set" },
	{ IFCVF_BUS_ROOT_PATH, PROPERTIES, "GetAll" },
	{ IFCVF_BUS_ROOT_PATH, PROPERTIES, "Set" },
	{ PORT0, "org.freedesktop.DBus.Introspectable", "Introspect" },
	{ IFCVF_BUS_ROOT_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects" },
	{ IFCVF_BUS_PORTS_PATH "/7", IFCVF_BUS_PORT_INTERFACE, "SetLiveMigrationMode" },
	{ IFCVF_BUS_PORTS_PATH "/x", PROPERTIES, "GetAll" },
	{ PORT0, IFCVF_BUS_PORT_INTERFACE, "NoSuchMethod" },
	{ IFCVF_BUS_ROOT_PATH, IFCVF_BUS_PORT_INTERFACE, "GetStats" },
};

/* An interface at a path, as GDBus finds it: the vtable it calls and its
 * user data. For skeletons GDBus's own intercept (g-authorize-method, the
 * access check) comes first; the call goes on to the same vtable. */
typedef struct {
	GDBusInterfaceInfo *info;
	const GDBusInterfaceVTable *vtable;
	gpointer user_data;
	gboolean from_subtree;     /* no property callbacks: Properties go to method_call */
} Target;

static gboolean skeleton_target(GDBusInterfaceSkeleton *s, Target *t)
{
	t->info = g_dbus_interface_skeleton_get_info(s);
	t->vtable = g_dbus_interface_skeleton_get_vtable(s);
	t->user_data = s;
	t->from_subtree = FALSE;
	return TRUE;
}

/* the registered interface @iface at @path; FALSE: none there */
static gboolean find_target(const char *path, const char *iface, Target *t)
{
	if (strcmp(path, PORT0) == 0)
		return strcmp(iface, IFCVF_BUS_PORT_INTERFACE) == 0 &&
		       skeleton_target(G_DBUS_INTERFACE_SKELETON(bx.port->iface), t);
	if (strcmp(path, IFCVF_BUS_ROOT_PATH) == 0)
		return strcmp(iface, IFCVF_BUS_DOMAIN_INTERFACE) == 0 &&
		       skeleton_target(G_DBUS_INTERFACE_SKELETON(bx.bus->domain), t);
	/* the subtree's nodes claim what its introspect says */
	if (g_str_has_prefix(path, IFCVF_BUS_PORTS_PATH "/")) {
		const GDBusSubtreeVTable *st = ifcvf_bus_unknown_port_vtable();
		const char *node = path + strlen(IFCVF_BUS_PORTS_PATH "/");
		GDBusInterfaceInfo **infos = st->introspect(NULL, SENDER, IFCVF_BUS_PORTS_PATH,
							    node, bx.bus);
		gboolean found = FALSE;
		gpointer user_data = NULL;

		/* the infos are the generated code's, static: they outlive the refs */
		for (guint i = 0; infos && infos[i]; i++) {
			if (!found && strcmp(infos[i]->name, iface) == 0) {
				t->info = infos[i];
				found = TRUE;
			}
			g_dbus_interface_info_unref(infos[i]);
		}
		g_free(infos);
		if (!found)
			return FALSE;
		t->vtable = st->dispatch(NULL, SENDER, IFCVF_BUS_PORTS_PATH, iface, node,
					 &user_data, bx.bus);
		t->user_data = user_data;
		t->from_subtree = TRUE;
		return t->vtable != NULL;
	}
	return FALSE;
}

typedef struct {
	gboolean gone;
} Watch;

static void invocation_gone(gpointer data, GObject *where_the_object_was)
{
	((Watch *)data)->gone = TRUE;
}

/* the method call as GDBus schedules it, answered by the time it returns
 * (and the idles it queued ran) */
static void call_method(const Target *t, const char *path, const char *iface,
			const char *method, GVariant *params, GDBusMethodInfo *mi)
{
	GDBusMethodInvocation *inv = new_invocation(path, iface, method, params, mi,
						    t->user_data);
	Watch w = { FALSE };

	g_object_weak_ref(G_OBJECT(inv), invocation_gone, &w);
	t->vtable->method_call(bx.closed, SENDER, path, iface, method, params, inv,
			       t->user_data);
	while (g_main_context_iteration(NULL, FALSE))
		;
	if (!w.gone)
		fail("a call got no answer", method);
}

/* complete signature of @args, as a tuple type */
static gboolean args_match(GDBusArgInfo **args, GVariant *params)
{
	g_autoptr(GString) sig = g_string_new("(");
	gboolean ok;

	for (guint i = 0; args && args[i]; i++)
		g_string_append(sig, args[i]->signature);
	g_string_append_c(sig, ')');
	ok = g_variant_is_of_type(params, G_VARIANT_TYPE(sig->str));
	return ok;
}

/* Properties.Get/Set/GetAll on @path, as GDBus answers them */
static void call_properties(const char *path, const char *method, GVariant *params)
{
	const char *iface = NULL, *prop = NULL;
	g_autoptr(GVariant) value = NULL;
	g_autoptr(GError) error = NULL;
	GDBusPropertyInfo *pi;
	Target t;

	if (strcmp(method, "Get") == 0 && g_variant_is_of_type(params, G_VARIANT_TYPE("(ss)")))
		g_variant_get(params, "(&s&s)", &iface, &prop);
	else if (strcmp(method, "Set") == 0 &&
		 g_variant_is_of_type(params, G_VARIANT_TYPE("(ssv)")))
		g_variant_get(params, "(&s&sv)", &iface, &prop, &value);
	else if (strcmp(method, "GetAll") == 0 &&
		 g_variant_is_of_type(params, G_VARIANT_TYPE("(s)")))
		g_variant_get(params, "(&s)", &iface);
	else
		return;   /* UnknownMethod from GDBus */
	if (!find_target(path, iface, &t))
		return;   /* InvalidArgs: no such interface */
	if (!prop) {
		/* GetAll: each readable property, or the subtree's method_call */
		if (t.from_subtree) {
			call_method(&t, path, PROPERTIES, method, params, NULL);
			return;
		}
		for (guint i = 0; t.info->properties && t.info->properties[i]; i++) {
			GDBusPropertyInfo *p = t.info->properties[i];
			g_autoptr(GVariant) v = NULL;
			g_autoptr(GError) e = NULL;

			if (!(p->flags & G_DBUS_PROPERTY_INFO_FLAGS_READABLE))
				continue;
			v = t.vtable->get_property(bx.closed, SENDER, path, iface, p->name, &e,
						   t.user_data);
			if (v)   /* as GDBus: a floating one is consumed */
				g_variant_take_ref(v);
		}
		return;
	}
	pi = g_dbus_interface_info_lookup_property(t.info, prop);
	if (!pi)
		return;   /* InvalidArgs: no such property */
	if (value) {
		if (!(pi->flags & G_DBUS_PROPERTY_INFO_FLAGS_WRITABLE) ||
		    !g_variant_is_of_type(value, G_VARIANT_TYPE(pi->signature)))
			return;   /* InvalidArgs */
		if (t.from_subtree || !t.vtable->set_property)
			call_method(&t, path, PROPERTIES, method, params, NULL);
		else
			(void)t.vtable->set_property(bx.closed, SENDER, path, iface, prop, value,
						     &error, t.user_data);
		return;
	}
	if (!(pi->flags & G_DBUS_PROPERTY_INFO_FLAGS_READABLE))
		return;
	if (t.from_subtree || !t.vtable->get_property) {
		call_method(&t, path, PROPERTIES, method, params, NULL);
		return;
	}
	value = t.vtable->get_property(bx.closed, SENDER, path, iface, prop, &error,
				       t.user_data);
	if (value)
		g_variant_take_ref(value);
}

/* ObjectManager.GetManagedObjects: what GDBus's manager reads of ours, the
 * skeletons' properties */
static void call_managed_objects(GVariant *params)
{
	GList *objects;

	if (!g_variant_is_of_type(params, G_VARIANT_TYPE_UNIT))
		return;   /* InvalidArgs */
	objects = g_dbus_object_manager_get_objects(G_DBUS_OBJECT_MANAGER(bx.bus->manager));
	for (GList *o = objects; o; o = o->next) {
		GList *ifaces = g_dbus_object_get_interfaces(o->data);

		for (GList *i = ifaces; i; i = i->next)
			g_variant_unref(g_dbus_interface_skeleton_get_properties(
				G_DBUS_INTERFACE_SKELETON(i->data)));
		g_list_free_full(ifaces, g_object_unref);
	}
	g_list_free_full(objects, g_object_unref);
}

/* one call, routed as GDBus routes a method call message */
static void dispatch(const char *path, const char *iface, const char *method, GVariant *params)
{
	GDBusMethodInfo *mi;
	Target t;

	if (strcmp(iface, PROPERTIES) == 0) {
		call_properties(path, method, params);
		return;
	}
	if (strcmp(iface, "org.freedesktop.DBus.ObjectManager") == 0) {
		if (strcmp(path, IFCVF_BUS_ROOT_PATH) == 0 &&
		    strcmp(method, "GetManagedObjects") == 0)
			call_managed_objects(params);
		return;
	}
	if (strcmp(iface, "org.freedesktop.DBus.Introspectable") == 0)
		return;   /* GDBus's own, from the introspection data */
	if (!find_target(path, iface, &t))
		return;   /* UnknownMethod: no such interface */
	mi = g_dbus_interface_info_lookup_method(t.info, method);
	if (!mi || !args_match(mi->in_args, params))
		return;   /* UnknownMethod, InvalidArgs */
	call_method(&t, path, iface, method, params, mi);
}

/* the nesting in the complete type at *@p, which it passes */
static void type_depth(const char **p, int arrays, int structs, int *max_a, int *max_s)
{
	char c = *(*p)++;

	*max_a = MAX(*max_a, arrays);
	*max_s = MAX(*max_s, structs);
	if (c == 'a') {
		type_depth(p, arrays + 1, structs, max_a, max_s);
	} else if (c == '(' || c == '{') {
		while (**p != ')' && **p != '}')
			type_depth(p, arrays, structs + 1, max_a, max_s);
		(*p)++;
	}
}

/* D-Bus carries at most 32 nested arrays and 32 nested structs: a bus
 * drops a client that sends more (GVariant allows it) */
static gboolean dbus_nesting_ok(const char *sig)
{
	int max_a = 0, max_s = 0;

	while (*sig)
		type_depth(&sig, 0, 0, &max_a, &max_s);
	return max_a <= 32 && max_s <= 32;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned ncalls = 0;

	/* every input meets the bus as it was made: a Shutdown leaves the
	 * shutting-down state (ifcvf-bus-domain.c), a mode change the mode */
	bx.shut_down = FALSE;
	bx.bus->shutting_down = FALSE;
	port_reset();
	while (size >= 2 && ncalls++ < 4) {
		unsigned which = data[0] % G_N_ELEMENTS(calls);
		const uint8_t *nul = memchr(data + 1, 0, size - 1);
		g_autofree char *type = NULL;
		g_autoptr(GVariant) value = NULL;
		g_autoptr(GVariant) body = NULL;
		g_autoptr(GBytes) bytes = NULL;
		size_t len;

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
		    (strcmp(type, "()") && !g_variant_is_signature(type)) ||
		    !dbus_nesting_ok(type)) {
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
		dispatch(calls[which].path, calls[which].iface, calls[which].method, body);
	}
	return 0;
}

/* The bus connection and the name: connect, export the objects, own
 * org.ifcvf.Helper1.Vm_<uuid>, tear it all down again. */
#define G_LOG_DOMAIN "IfcvfBus"

#include "ifcvf-bus-private.h"

#include <string.h>

/* libvirt allows long names; a bound keeps clients' tables sane */
#define VM_NAME_MAX 1024

/* after a lost connection: the first retry, and the bound of the doubling
 * delay (a bus daemon restarted by systemd is back well within it) */
#define RECONNECT_FIRST_MS 200
#define RECONNECT_MAX_MS   2000

static void connect_async(IfcvfBus *self);

/* @address without its guid= keys: a guid names the daemon instance, and a
 * restarted daemon has a new one, so a reconnect must not insist on it */
static char *address_without_guid(const char *address)
{
	g_auto(GStrv) entries = g_strsplit(address, ";", -1);
	g_autoptr(GString) out = g_string_new(NULL);

	for (guint i = 0; entries[i]; i++) {
		const char *colon = strchr(entries[i], ':');
		g_auto(GStrv) keys = NULL;
		gboolean first = TRUE;

		if (i)
			g_string_append_c(out, ';');
		if (!colon) {
			g_string_append(out, entries[i]);
			continue;
		}
		g_string_append_len(out, entries[i], colon + 1 - entries[i]);
		keys = g_strsplit(colon + 1, ",", -1);
		for (guint k = 0; keys[k]; k++) {
			if (g_str_has_prefix(keys[k], "guid="))
				continue;
			if (!first)
				g_string_append_c(out, ',');
			g_string_append(out, keys[k]);
			first = FALSE;
		}
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

IfcvfBus *ifcvf_bus_new(const char *bus, const char *vm_name, const char *vm_uuid,
			GError **error)
{
	g_autofree char *address = NULL;
	g_autofree char *uuid = NULL;
	g_autofree char *bus_name = NULL;
	g_autoptr(GMainContext) context = NULL;
	IfcvfBus *self;

	g_return_val_if_fail(vm_uuid != NULL, NULL);

	if (!vm_name || !*vm_name || strlen(vm_name) > VM_NAME_MAX ||
	    !g_utf8_validate(vm_name, -1, NULL)) {
		g_set_error(error, IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_INVALID_ARGS,
			    "the VM name must be UTF-8 text of 1 to %d bytes", VM_NAME_MAX);
		return NULL;
	}
	if (!ifcvf_bus_uuid_parse(vm_uuid, &uuid, NULL, error))
		return NULL;
	bus_name = ifcvf_bus_name_for_uuid(uuid, error);
	if (!bus_name)
		return NULL;
	address = ifcvf_bus_resolve_address(bus, error);
	if (!address)
		return NULL;

	self = g_new0(IfcvfBus, 1);
	self->reconnect_address = address_without_guid(address);
	self->address = g_steal_pointer(&address);
	self->bus_name = g_steal_pointer(&bus_name);
	self->vm_name = g_strdup(vm_name);
	self->uuid = g_steal_pointer(&uuid);
	self->cancellable = g_cancellable_new();
	self->ports = g_ptr_array_new_with_free_func((GDestroyNotify)ifcvf_bus_port_free);
	self->manager = g_dbus_object_manager_server_new(IFCVF_BUS_ROOT_PATH);
	context = g_main_context_ref_thread_default();
	self->context = g_main_context_ref(context);
	self->auth = ifcvf_bus_auth_new(context, self->address);
	self->domain = ifcvf_bus_domain_new(self);
	g_debug("prepared %s for VM '%s' (%s) on %s", self->bus_name, self->vm_name, self->uuid,
		self->address);
	return self;
}

void ifcvf_bus_set_handlers(IfcvfBus *self, const IfcvfBusHandlers *handlers,
			    gpointer user_data)
{
	g_return_if_fail(self != NULL && handlers != NULL);

	self->handlers = *handlers;
	self->handlers_data = user_data;
}

static void name_acquired_cb(GDBusConnection *connection, const char *name, gpointer user_data)
{
	IfcvfBus *self = user_data;

	if (self->reconnecting)
		g_message("back on the bus as %s; the Domain and every Port republished", name);
	else
		g_debug("owned %s", name);
	self->reconnecting = FALSE;
	self->owned = TRUE;
	self->was_owned = TRUE;
	if (self->name_func)
		self->name_func(self, TRUE, NULL, self->name_data);
}

static void name_lost_cb(GDBusConnection *connection, const char *name, gpointer user_data)
{
	IfcvfBus *self = user_data;
	g_autoptr(GError) error = NULL;

	/* a lost connection is closed_cb()'s: it reconnects and owns the name
	 * again; only a refusal or loss on a live connection is reported */
	if (!connection || connection != self->connection || g_dbus_connection_is_closed(connection))
		return;
	if (self->owned)
		error = g_error_new(IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_FAILED,
				    "lost the bus name %s", name);
	else
		error = g_error_new(IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_FAILED,
				    "could not own %s: another helper serves this VM "
				    "or the bus policy does not allow it", name);
	self->owned = FALSE;
	/* last: the callee may free self */
	if (self->name_func)
		self->name_func(self, FALSE, error, self->name_data);
}

static gboolean export_all(IfcvfBus *self, GError **error)
{
	g_dbus_object_manager_server_set_connection(self->manager, self->connection);
	/* the ObjectManager only exports objects below its path, so the Domain
	 * is exported beside it at the same path */
	if (!g_dbus_interface_skeleton_export(G_DBUS_INTERFACE_SKELETON(self->domain),
					      self->connection, IFCVF_BUS_ROOT_PATH, error))
		return FALSE;
	self->unknown_port_id = ifcvf_bus_unknown_port_register(self, error);
	return self->unknown_port_id != 0;
}

/* Forget the connection that was lost: the name, the exports, the checks of
 * its calls. Calls still on their way are answered on the old connection
 * (GDBus drops a reply to a closed one) and find their objects alive. */
static void drop_connection(IfcvfBus *self)
{
	IfcvfBusAuth *old = g_steal_pointer(&self->auth);

	/* a new checker for the new connection, guarding the same objects */
	self->auth = ifcvf_bus_auth_new(self->context, self->address);
	ifcvf_bus_auth_unguard(old, G_DBUS_INTERFACE_SKELETON(self->domain));
	ifcvf_bus_auth_guard(self->auth, G_DBUS_INTERFACE_SKELETON(self->domain));
	for (guint i = 0; i < self->ports->len; i++) {
		IfcvfBusPort *port = g_ptr_array_index(self->ports, i);

		ifcvf_bus_auth_unguard(old, G_DBUS_INTERFACE_SKELETON(port->iface));
		ifcvf_bus_auth_guard(self->auth, G_DBUS_INTERFACE_SKELETON(port->iface));
	}
	ifcvf_bus_auth_close(old);

	if (self->owner_id)
		g_bus_unown_name(self->owner_id);
	self->owner_id = 0;
	self->owned = FALSE;
	if (self->unknown_port_id)
		g_dbus_connection_unregister_subtree(self->connection, self->unknown_port_id);
	self->unknown_port_id = 0;
	/* not exported when the connection closed before (or while) exporting */
	if (g_dbus_interface_skeleton_has_connection(G_DBUS_INTERFACE_SKELETON(self->domain),
						     self->connection))
		g_dbus_interface_skeleton_unexport(G_DBUS_INTERFACE_SKELETON(self->domain));
	g_dbus_object_manager_server_set_connection(self->manager, NULL);
	g_signal_handlers_disconnect_by_data(self->connection, self);
	g_clear_object(&self->connection);
}

static gboolean reconnect_cb(gpointer user_data)
{
	IfcvfBus *self = user_data;

	g_clear_pointer(&self->reconnect, g_source_unref);
	connect_async(self);
	return G_SOURCE_REMOVE;
}

/* the next try, from the main loop; never blocks it */
static void schedule_reconnect(IfcvfBus *self)
{
	self->reconnect = g_timeout_source_new(self->reconnect_ms);
	g_source_set_callback(self->reconnect, reconnect_cb, self, NULL);
	g_source_attach(self->reconnect, self->context);
	self->reconnect_ms = MIN(self->reconnect_ms * 2, RECONNECT_MAX_MS);
}

/* The bus daemon went away (restarted, most often): keep serving the ports
 * and come back on the same address, as often as it takes. */
static void closed_cb(GDBusConnection *connection, gboolean remote_peer_vanished,
		      GError *error, gpointer user_data)
{
	IfcvfBus *self = user_data;

	if (connection != self->connection)
		return;
	/* before the name was ever owned the start has failed: reported, as a
	 * bus that cannot be reached is, never waited for */
	if (!self->was_owned) {
		g_autoptr(GError) lost = g_error_new(IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_FAILED,
						     "the connection to the bus was closed");

		drop_connection(self);
		/* last: the callee may free self */
		if (self->name_func)
			self->name_func(self, FALSE, lost, self->name_data);
		return;
	}
	g_message("the connection to the bus %s was closed%s%s; the ports keep running; "
		  "connecting again until the bus is back", self->address, error ? ": " : "",
		  error ? error->message : "");
	drop_connection(self);
	self->reconnecting = TRUE;
	self->reconnect_ms = RECONNECT_FIRST_MS;
	schedule_reconnect(self);
}

static void connected_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	GDBusConnection *connection = g_dbus_connection_new_for_address_finish(res, &error);
	IfcvfBus *self;

	/* cancelled only by ifcvf_bus_free(): self is gone */
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	self = user_data;
	if (!connection && self->reconnecting) {
		g_debug("the bus %s is not back yet: %s", self->reconnect_address, error->message);
		schedule_reconnect(self);
		return;
	}
	if (!connection) {
		g_prefix_error(&error, "cannot connect to %s: ", self->address);
		ifcvf_bus_error_convert(&error);
		if (self->name_func)
			self->name_func(self, FALSE, error, self->name_data);
		return;
	}
	self->connection = connection;
	g_signal_connect(connection, "closed", G_CALLBACK(closed_cb), self);
	/* closed before the handler was there: the signal is gone */
	if (g_dbus_connection_is_closed(connection)) {
		closed_cb(connection, TRUE, NULL, self);
		return;
	}
	if (!export_all(self, &error) && self->reconnecting) {
		g_warning("cannot export the objects on %s again: %s; trying again",
			  self->reconnect_address, error->message);
		drop_connection(self);
		schedule_reconnect(self);
		return;
	}
	if (error) {
		g_prefix_error(&error, "cannot export the objects: ");
		ifcvf_bus_error_convert(&error);
		if (self->name_func)
			self->name_func(self, FALSE, error, self->name_data);
		return;
	}
	/* objects first, name last: whoever sees the name finds every object */
	self->owner_id = g_bus_own_name_on_connection(connection, self->bus_name,
						      G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE,
						      name_acquired_cb, name_lost_cb, self, NULL);
}

static void connect_async(IfcvfBus *self)
{
	g_dbus_connection_new_for_address(self->reconnecting ? self->reconnect_address
							     : self->address,
					  G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
					  G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
					  NULL, self->cancellable, connected_cb, self);
}

void ifcvf_bus_start(IfcvfBus *self, IfcvfBusNameFunc func, gpointer user_data)
{
	g_return_if_fail(self != NULL);
	g_return_if_fail(!self->started);

	self->started = TRUE;
	self->name_func = func;
	self->name_data = user_data;
	connect_async(self);
}

static gint port_cmp(gconstpointer a, gconstpointer b)
{
	const IfcvfBusPort *pa = *(IfcvfBusPort *const *)a;
	const IfcvfBusPort *pb = *(IfcvfBusPort *const *)b;

	return pa->index < pb->index ? -1 : pa->index > pb->index;
}

IfcvfBusPort *ifcvf_bus_add_port(IfcvfBus *self, guint index, const char *device,
				 const char *socket_path, IfcvfBusDeviceType device_type,
				 GError **error)
{
	IfcvfBusPort *port;

	g_return_val_if_fail(self != NULL, NULL);

	for (guint i = 0; i < self->ports->len; i++) {
		if (((IfcvfBusPort *)g_ptr_array_index(self->ports, i))->index == index) {
			g_set_error(error, IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_INVALID_ARGS,
				    "port %u exists already", index);
			return NULL;
		}
	}
	if (!device || !socket_path || !g_utf8_validate(device, -1, NULL) ||
	    !g_utf8_validate(socket_path, -1, NULL) ||
	    !ifcvf_bus_device_type_to_string(device_type)) {
		g_set_error(error, IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_INVALID_ARGS,
			    "port %u: device and socket path must be UTF-8 text and the "
			    "type net or blk", index);
		return NULL;
	}
	port = ifcvf_bus_port_new(self, index, device, socket_path, device_type);
	g_ptr_array_add(self->ports, port);
	g_ptr_array_sort(self->ports, port_cmp);
	g_dbus_object_manager_server_export(self->manager, G_DBUS_OBJECT_SKELETON(port->object));
	ifcvf_bus_domain_update_ports(self);
	return port;
}

void ifcvf_bus_begin_shutdown(IfcvfBus *self)
{
	g_return_if_fail(self != NULL);

	if (!self->shutting_down)
		g_debug("shutting down: state-changing calls are refused from now on");
	self->shutting_down = TRUE;
}

gboolean ifcvf_bus_refuse_if_shutting_down(IfcvfBus *self, GDBusMethodInvocation *invocation)
{
	if (!self->shutting_down)
		return FALSE;
	g_dbus_method_invocation_return_error_literal(invocation, IFCVF_BUS_ERROR,
						      IFCVF_BUS_ERROR_SHUTTING_DOWN,
						      "the helper is shutting down");
	return TRUE;
}

const char *ifcvf_bus_get_name(IfcvfBus *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->bus_name;
}

gboolean ifcvf_bus_is_owned(IfcvfBus *self)
{
	g_return_val_if_fail(self != NULL, FALSE);
	return self->owned;
}

void ifcvf_bus_free(IfcvfBus *self)
{
	if (!self)
		return;

	g_cancellable_cancel(self->cancellable);
	if (self->reconnect) {
		g_source_destroy(self->reconnect);
		g_clear_pointer(&self->reconnect, g_source_unref);
	}
	/* first: calls waiting for their check are answered while the
	 * connection is still open */
	g_clear_pointer(&self->auth, ifcvf_bus_auth_close);
	if (self->shutdown_idle) {
		g_source_destroy(self->shutdown_idle);
		g_clear_pointer(&self->shutdown_idle, g_source_unref);
	}
	if (self->owner_id)
		g_bus_unown_name(self->owner_id);
	if (self->connection) {
		/* closing it here is no loss to recover from */
		g_signal_handlers_disconnect_by_data(self->connection, self);
		if (self->unknown_port_id)
			g_dbus_connection_unregister_subtree(self->connection, self->unknown_port_id);
		g_dbus_interface_skeleton_unexport(G_DBUS_INTERFACE_SKELETON(self->domain));
		g_dbus_object_manager_server_set_connection(self->manager, NULL);
		/* the name release and last signals should reach the bus before
		 * the process goes, so clients see the helper leave at once */
		(void)g_dbus_connection_flush_sync(self->connection, NULL, NULL);
		(void)g_dbus_connection_close_sync(self->connection, NULL, NULL);
	}
	g_clear_object(&self->connection);
	g_clear_pointer(&self->ports, g_ptr_array_unref);
	/* a call dispatched late (GDBus hops through a thread) finds no handler */
	g_signal_handlers_disconnect_by_data(self->domain, self);
	g_clear_object(&self->domain);
	g_clear_object(&self->manager);
	g_clear_object(&self->cancellable);
	g_main_context_unref(self->context);
	g_free(self->address);
	g_free(self->reconnect_address);
	g_free(self->bus_name);
	g_free(self->vm_name);
	g_free(self->uuid);
	g_free(self);
}

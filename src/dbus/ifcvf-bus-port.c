/* org.ifcvf.Helper1.Port at /org/ifcvf/Helper1/port/<n>: publishing the
 * helper's snapshots, GetStats and SetLiveMigrationMode. */
#define G_LOG_DOMAIN "IfcvfBus"

#include "ifcvf-bus-private.h"

static gboolean handle_get_stats_cb(IfcvfDbusPort *iface, GDBusMethodInvocation *invocation,
				    gpointer user_data)
{
	IfcvfBusPort *port = user_data;
	IfcvfBus *bus = port->bus;

	g_debug("GetStats() on port %u from %s", port->index,
		g_dbus_method_invocation_get_sender(invocation));
	if (bus->handlers.refresh_port)
		bus->handlers.refresh_port(port, bus->handlers_data);
	ifcvf_dbus_port_complete_get_stats(iface, invocation, port->stats);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

void ifcvf_bus_port_return_lm_mode(IfcvfBusPort *port, GDBusMethodInvocation *invocation,
				   IfcvfBusLmMode mode, const GError *error)
{
	g_return_if_fail(port != NULL && G_IS_DBUS_METHOD_INVOCATION(invocation));

	if (error) {
		g_autoptr(GError) copy = g_error_copy(error);

		ifcvf_bus_error_convert(&copy);
		g_debug("port %u: SetLiveMigrationMode('%s') refused: %s", port->index,
			ifcvf_bus_lm_mode_to_string(mode), copy->message);
		g_dbus_method_invocation_return_gerror(invocation, copy);
		return;
	}
	/* the mode is in force now: a client reading it after the reply sees it */
	ifcvf_dbus_port_set_live_migration_mode(port->iface, ifcvf_bus_lm_mode_to_string(mode));
	g_dbus_interface_skeleton_flush(G_DBUS_INTERFACE_SKELETON(port->iface));
	ifcvf_dbus_port_complete_set_live_migration_mode(port->iface, invocation);
}

static gboolean handle_set_lm_mode_cb(IfcvfDbusPort *iface, GDBusMethodInvocation *invocation,
				      const char *mode_str, gpointer user_data)
{
	IfcvfBusPort *port = user_data;
	IfcvfBus *bus = port->bus;
	g_autoptr(GError) error = NULL;
	IfcvfBusLmMode mode;

	g_debug("SetLiveMigrationMode('%s') on port %u from %s", mode_str, port->index,
		g_dbus_method_invocation_get_sender(invocation));
	if (ifcvf_bus_refuse_if_shutting_down(bus, invocation))
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	if (!ifcvf_bus_lm_mode_from_string(mode_str, &mode)) {
		/* the string came from a client: quote it escaped, not raw */
		g_autofree char *quoted = g_strescape(mode_str, NULL);

		g_dbus_method_invocation_return_error(invocation, IFCVF_BUS_ERROR,
						      IFCVF_BUS_ERROR_UNKNOWN_MODE,
						      "unknown live-migration mode '%s' "
						      "(want hw or sw)", quoted);
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	}
	if (bus->handlers.set_lm_mode_async) {
		/* the reference GDBus handed us goes to the handler */
		bus->handlers.set_lm_mode_async(port, mode, invocation, bus->handlers_data);
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	}
	if (!bus->handlers.set_lm_mode) {
		g_dbus_method_invocation_return_error_literal(invocation, IFCVF_BUS_ERROR,
							      IFCVF_BUS_ERROR_NOT_SUPPORTED,
							      "this helper cannot change the mode");
		return G_DBUS_METHOD_INVOCATION_HANDLED;
	}
	if (!bus->handlers.set_lm_mode(port, mode, bus->handlers_data, &error) && !error)
		error = g_error_new_literal(IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_FAILED,
					    "the helper refused without saying why");
	ifcvf_bus_port_return_lm_mode(port, invocation, mode, error);
	return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static GVariant *counters_to_variant(const IfcvfBusCounter *counters, gsize n)
{
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE("a{st}"));
	for (gsize i = 0; i < n; i++) {
		if (!counters[i].name || !g_utf8_validate(counters[i].name, -1, NULL)) {
			g_warning("counter %" G_GSIZE_FORMAT " has no valid name; left out", i);
			continue;
		}
		g_variant_builder_add(&b, "{st}", counters[i].name, counters[i].value);
	}
	return g_variant_ref_sink(g_variant_builder_end(&b));
}

IfcvfBusPort *ifcvf_bus_port_new(IfcvfBus *bus, guint index, const char *device,
				 const char *socket_path, IfcvfBusDeviceType device_type)
{
	IfcvfBusPort *port = g_new0(IfcvfBusPort, 1);

	port->bus = bus;
	port->index = index;
	port->path = ifcvf_bus_port_path(index);
	port->object = ifcvf_dbus_object_skeleton_new(port->path);
	port->iface = ifcvf_dbus_port_skeleton_new();
	port->stats = counters_to_variant(NULL, 0);

	ifcvf_dbus_port_set_device(port->iface, device);
	ifcvf_dbus_port_set_socket_path(port->iface, socket_path);
	ifcvf_dbus_port_set_device_type(port->iface, ifcvf_bus_device_type_to_string(device_type));
	ifcvf_dbus_port_set_state(port->iface,
				  ifcvf_bus_port_state_to_string(IFCVF_BUS_PORT_STATE_PROBED));
	ifcvf_dbus_port_set_state_reason(port->iface, "");
	ifcvf_dbus_port_set_mac(port->iface, "");
	ifcvf_dbus_port_set_live_migration_mode(port->iface,
						ifcvf_bus_lm_mode_to_string(IFCVF_BUS_LM_MODE_HW));
	g_signal_connect(port->iface, "handle-get-stats", G_CALLBACK(handle_get_stats_cb), port);
	g_signal_connect(port->iface, "handle-set-live-migration-mode",
			 G_CALLBACK(handle_set_lm_mode_cb), port);
	ifcvf_bus_auth_guard(bus->auth, G_DBUS_INTERFACE_SKELETON(port->iface));
	ifcvf_dbus_object_skeleton_set_port(port->object, port->iface);
	return port;
}

void ifcvf_bus_port_free(IfcvfBusPort *port)
{
	if (!port)
		return;
	(void)g_dbus_object_manager_server_unexport(port->bus->manager, port->path);
	g_signal_handlers_disconnect_by_data(port->iface, port);
	g_clear_object(&port->iface);
	g_clear_object(&port->object);
	g_clear_pointer(&port->stats, g_variant_unref);
	g_free(port->path);
	g_free(port);
}

guint ifcvf_bus_port_get_index(IfcvfBusPort *port)
{
	g_return_val_if_fail(port != NULL, 0);
	return port->index;
}

IfcvfBus *ifcvf_bus_port_get_bus(IfcvfBusPort *port)
{
	g_return_val_if_fail(port != NULL, NULL);
	return port->bus;
}

/* Each setter below runs only for a real change, so the skeleton queues
 * exactly the properties that changed; the flush sends them as one signal. */
static void update_string(IfcvfBusPort *port, const char *prop, const char *now,
			  const char *value)
{
	if (g_strcmp0(now, value) != 0)
		g_object_set(port->iface, prop, value, NULL);
}

void ifcvf_bus_port_update(IfcvfBusPort *port, const IfcvfBusPortSnapshot *snap)
{
	IfcvfDbusPort *p;
	const char *state;
	const char *mode;

	g_return_if_fail(port != NULL && snap != NULL);
	state = ifcvf_bus_port_state_to_string(snap->state);
	mode = ifcvf_bus_lm_mode_to_string(snap->lm_mode);
	g_return_if_fail(state != NULL && mode != NULL);
	g_return_if_fail(!snap->state_reason || g_utf8_validate(snap->state_reason, -1, NULL));
	g_return_if_fail(!snap->mac || g_utf8_validate(snap->mac, -1, NULL));

	p = port->iface;
	update_string(port, "state", ifcvf_dbus_port_get_state(p), state);
	update_string(port, "state-reason", ifcvf_dbus_port_get_state_reason(p),
		      snap->state_reason ? snap->state_reason : "");
	update_string(port, "mac", ifcvf_dbus_port_get_mac(p), snap->mac ? snap->mac : "");
	update_string(port, "live-migration-mode", ifcvf_dbus_port_get_live_migration_mode(p),
		      mode);
	if (ifcvf_dbus_port_get_device_features(p) != snap->device_features)
		ifcvf_dbus_port_set_device_features(p, snap->device_features);
	if (ifcvf_dbus_port_get_negotiated_features(p) != snap->negotiated_features)
		ifcvf_dbus_port_set_negotiated_features(p, snap->negotiated_features);
	if (ifcvf_dbus_port_get_queue_pairs(p) != snap->queue_pairs)
		ifcvf_dbus_port_set_queue_pairs(p, snap->queue_pairs);
	if (ifcvf_dbus_port_get_enabled_queues(p) != snap->enabled_queues)
		ifcvf_dbus_port_set_enabled_queues(p, snap->enabled_queues);
	{
		static const char *const none[] = { NULL };
		const char *const *want = snap->kick_paths ? snap->kick_paths : none;
		const char *const *have = ifcvf_dbus_port_get_kick_paths(p);

		/* unset reads as empty: no signal for the first empty list */
		if (!g_strv_equal(have ? have : none, want))
			ifcvf_dbus_port_set_kick_paths(p, want);
	}
	if (ifcvf_dbus_port_get_capacity(p) != snap->capacity)
		ifcvf_dbus_port_set_capacity(p, snap->capacity);
	if (!ifcvf_dbus_port_get_guest_announce(p) != !snap->guest_announce)
		ifcvf_dbus_port_set_guest_announce(p, !!snap->guest_announce);
	g_dbus_interface_skeleton_flush(G_DBUS_INTERFACE_SKELETON(p));

	g_clear_pointer(&port->stats, g_variant_unref);
	port->stats = counters_to_variant(snap->counters, snap->n_counters);
}

/* The port model published through src/dbus. See bus-glue.h; main thread
 * only, but for the SetLiveMigrationMode workers (LmModeCall). */
#include "bus-glue.h"

#include <errno.h>

#include "helper-error.h"
#include "ifcvf-bus.h"
#include "ifcvf-regs.h"

typedef struct {
	struct port *port;           /* borrowed */
	IfcvfBusPort *bus_port;      /* owned by the bus */
	enum port_state state;       /* of the last event published */
	IfcvfBusPortState bus_state; /* as published */
	char *reason;                /* of the last event that was not a warning */
} GluePort;

/* One SetLiveMigrationMode under way: a worker waits for the port (a
 * bring-up holds its lock for as long as the VF takes), then the main loop
 * answers. */
typedef struct {
	IfcvfBusGlue *glue;
	GluePort *gp;
	GDBusMethodInvocation *invocation;
	IfcvfBusLmMode mode;
	GThread *thread;
	GSource *done;               /* attached by the worker when it is done */
	int r;                       /* of port_set_lm_mode() */
	struct cerr ce;
} LmModeCall;

struct _IfcvfBusGlue {
	IfcvfBus *bus;
	GMainContext *context;       /* the main loop's, where calls are answered */
	GPtrArray *lm_calls;         /* LmModeCall *, under way */
	GPtrArray *ports;            /* GluePort *, index = port index, may hold NULL */
	IfcvfBusGlueStopFunc stop;
	gpointer stop_data;
	IfcvfBusMigrationPhase phase;

	/* ifcvf_bus_glue_own_name() */
	gboolean name_done;
	gboolean owned;
	GError *name_error;
};

static void glue_port_free(GluePort *gp)
{
	g_free(gp->reason);
	g_free(gp);
}

static GluePort *glue_port(IfcvfBusGlue *glue, guint index)
{
	return index < glue->ports->len ? g_ptr_array_index(glue->ports, index) : NULL;
}

/* ---- snapshots ---- */

static IfcvfBusPortState bus_state(enum port_state state, const struct port_info *info)
{
	switch (state) {
	case PORT_STATE_PROBED:
		return IFCVF_BUS_PORT_STATE_PROBED;
	case PORT_STATE_WAITING:
		return IFCVF_BUS_PORT_STATE_WAITING;
	case PORT_STATE_CONNECTED:
		return IFCVF_BUS_PORT_STATE_CONNECTED;
	case PORT_STATE_RUNNING:
		/* what live migration has in force, unless this is an older
		 * event than the state the port is in now */
		if (info->state == PORT_STATE_RUNNING && info->lm_state == PORT_LM_LOGGING_HW)
			return IFCVF_BUS_PORT_STATE_LOGGING_HW;
		if (info->state == PORT_STATE_RUNNING && info->lm_state == PORT_LM_RELAYING_SW)
			return IFCVF_BUS_PORT_STATE_RELAYING_SW;
		return IFCVF_BUS_PORT_STATE_RUNNING;
	case PORT_STATE_STOPPED:
		return IFCVF_BUS_PORT_STATE_STOPPED;
	case PORT_STATE_FAILED:
	case PORT_STATE_LAST:
		break;
	}
	return IFCVF_BUS_PORT_STATE_FAILED;
}

/* GetStats: counters only grow while the helper runs (the durations of the
 * last switch and stop are in the log, not here) */
enum {
	C_KICKS, C_CONFIG_IRQS, C_DMA_MAPS, C_STARTS, C_STOPS, C_ERRORS,
	C_RELAYED, C_PAGES_LOGGED, C_SWITCHOVERS, C_ROLLBACKS, C_LAST
};

static void fill_counters(const struct port_info *info, IfcvfBusCounter *c)
{
	c[C_KICKS] = (IfcvfBusCounter){ "kicks-relayed", info->kicks };
	c[C_CONFIG_IRQS] = (IfcvfBusCounter){ "config-interrupts", info->config_irqs };
	c[C_DMA_MAPS] = (IfcvfBusCounter){ "dma-maps", info->dma_maps };
	c[C_STARTS] = (IfcvfBusCounter){ "starts", info->starts };
	c[C_STOPS] = (IfcvfBusCounter){ "stops", info->stops };
	c[C_ERRORS] = (IfcvfBusCounter){ "errors", info->errors };
	c[C_RELAYED] = (IfcvfBusCounter){ "relayed-used-entries", info->relayed_entries };
	c[C_PAGES_LOGGED] = (IfcvfBusCounter){ "pages-logged", info->pages_logged };
	c[C_SWITCHOVERS] = (IfcvfBusCounter){ "switchovers", info->switchovers };
	c[C_ROLLBACKS] = (IfcvfBusCounter){ "rollbacks", info->rollbacks };
}

/* KickPaths: per vring up to the highest one running */
static void fill_kick_paths(const struct port_info *info, const char **paths)
{
	uint64_t running = info->enabled_vrings | info->relayed_vrings;
	unsigned n = running ? 64u - (unsigned)__builtin_clzll(running) : 0;

	if (n > IFCVF_MAX_VRINGS)
		n = IFCVF_MAX_VRINGS;
	for (unsigned q = 0; q < n; q++) {
		uint64_t bit = 1ull << q;

		if (!(running & bit))
			paths[q] = "off";
		else if ((info->notifier_vrings & bit) && !(info->relayed_vrings & bit))
			paths[q] = "host-notifier";
		else
			paths[q] = "relay";
	}
	paths[n] = NULL;
}

/* Publish @gp as it stands: state and reason of the last event, the rest
 * read now. Returns the state published. */
static IfcvfBusPortState publish(GluePort *gp)
{
	const struct ifcvf_hw *hw = port_hw(gp->port);
	IfcvfBusCounter counters[C_LAST];
	const char *kick_paths[IFCVF_MAX_VRINGS + 1];
	IfcvfBusPortSnapshot snap = { 0 };
	struct port_info info;
	char mac[18] = "";

	port_get_info(gp->port, &info);
	if (hw->type == IFCVF_DEV_NET && (hw->features & (1ull << VIRTIO_NET_F_MAC)))
		g_snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", hw->mac[0], hw->mac[1],
			   hw->mac[2], hw->mac[3], hw->mac[4], hw->mac[5]);
	fill_counters(&info, counters);
	fill_kick_paths(&info, kick_paths);

	snap.state = bus_state(gp->state, &info);
	snap.state_reason = gp->reason;
	snap.device_features = hw->features;
	snap.negotiated_features = info.negotiated;
	snap.queue_pairs = port_queue_num(gp->port);
	snap.enabled_queues = (guint)__builtin_popcountll(info.enabled_vrings);
	snap.kick_paths = kick_paths;
	snap.mac = mac;
	snap.lm_mode = info.lm_mode == PORT_LM_MODE_SW ? IFCVF_BUS_LM_MODE_SW : IFCVF_BUS_LM_MODE_HW;
	snap.guest_announce = info.guest_announce;
	snap.capacity = info.capacity;
	snap.counters = counters;
	snap.n_counters = C_LAST;
	ifcvf_bus_port_update(gp->bus_port, &snap);
	return snap.state;
}

static gboolean is_logging(IfcvfBusPortState state)
{
	return state == IFCVF_BUS_PORT_STATE_LOGGING_HW || state == IFCVF_BUS_PORT_STATE_RELAYING_SW;
}

/* The port went from @prev to @now: what that tells of a migration
 * (migration-phase.h), or FALSE when nothing. */
static gboolean port_signal(IfcvfBusPortState prev, IfcvfBusPortState now,
			    enum migration_signal *ret)
{
	if (!is_logging(prev) && is_logging(now))
		*ret = MIGRATION_SIGNAL_LOG_STARTED;
	else if (is_logging(prev) && now == IFCVF_BUS_PORT_STATE_STOPPED)
		*ret = MIGRATION_SIGNAL_VF_STOPPED_LOGGING;
	else if (is_logging(prev) && now == IFCVF_BUS_PORT_STATE_RUNNING)
		*ret = MIGRATION_SIGNAL_LOG_CANCELLED;
	else if (prev != IFCVF_BUS_PORT_STATE_RUNNING && now == IFCVF_BUS_PORT_STATE_RUNNING)
		*ret = MIGRATION_SIGNAL_VF_RUNNING;
	/* a frontend that never ran going away tells nothing of a migration */
	else if (prev != IFCVF_BUS_PORT_STATE_WAITING && prev != IFCVF_BUS_PORT_STATE_PROBED &&
		 prev != IFCVF_BUS_PORT_STATE_CONNECTED && now == IFCVF_BUS_PORT_STATE_WAITING)
		*ret = MIGRATION_SIGNAL_FRONTEND_GONE;
	else
		return FALSE;
	return TRUE;
}

/* ---- handlers (main loop) ---- */

static enum port_lm_mode port_mode(IfcvfBusLmMode mode)
{
	return mode == IFCVF_BUS_LM_MODE_SW ? PORT_LM_MODE_SW : PORT_LM_MODE_HW;
}

/* Answer @call (main loop, its worker joined) and free it. */
static void lm_call_finish(LmModeCall *call)
{
	GluePort *gp = call->gp;
	enum port_lm_mode want = port_mode(call->mode);
	g_autoptr(GError) error = NULL;

	g_thread_join(call->thread);
	if (call->done) {
		g_source_destroy(call->done);
		g_source_unref(call->done);
	}
	if (call->r < 0) {
		error = g_error_new(IFCVF_BUS_ERROR,
				    call->r == -EBUSY     ? IFCVF_BUS_ERROR_BUSY
				    : call->r == -ENOTSUP ? IFCVF_BUS_ERROR_NOT_SUPPORTED
							  : IFCVF_BUS_ERROR_FAILED,
				    "%s", call->ce.msg);
		g_message("port %u: live-migration mode %s refused over D-Bus: %s",
			  port_index(gp->port), port_lm_mode_to_string(want), call->ce.msg);
	} else {
		g_message("port %u: live-migration mode set to %s over D-Bus",
			  port_index(gp->port), port_lm_mode_to_string(want));
		publish(gp);
	}
	ifcvf_bus_port_return_lm_mode(gp->bus_port, call->invocation, call->mode, error);
	g_ptr_array_remove_fast(call->glue->lm_calls, call);
	g_free(call);
}

static gboolean lm_call_done_cb(gpointer user_data)
{
	lm_call_finish(user_data);
	return G_SOURCE_REMOVE;
}

/* worker: the port's lock may be held by a long bring-up; the wait is
 * bounded in port_set_lm_mode() */
static gpointer lm_call_thread(gpointer user_data)
{
	LmModeCall *call = user_data;
	GSource *done = g_idle_source_new();

	call->r = port_set_lm_mode(call->gp->port, port_mode(call->mode), &call->ce);
	g_source_set_callback(done, lm_call_done_cb, call, NULL);
	call->done = done;
	g_source_attach(done, call->glue->context);
	return NULL;
}

static void set_lm_mode_cb(IfcvfBusPort *bus_port, IfcvfBusLmMode mode,
			   GDBusMethodInvocation *invocation, gpointer user_data)
{
	IfcvfBusGlue *glue = user_data;
	GluePort *gp = glue_port(glue, ifcvf_bus_port_get_index(bus_port));
	g_autoptr(GError) error = NULL;
	g_autofree char *name = NULL;
	LmModeCall *call;

	if (!gp) {
		error = g_error_new(IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_FAILED, "no such port");
		ifcvf_bus_port_return_lm_mode(bus_port, invocation, mode, error);
		return;
	}
	for (guint i = 0; i < glue->lm_calls->len; i++) {
		if (((LmModeCall *)g_ptr_array_index(glue->lm_calls, i))->gp == gp) {
			error = g_error_new(IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_BUSY,
					    "port %u: another SetLiveMigrationMode is under way",
					    port_index(gp->port));
			ifcvf_bus_port_return_lm_mode(bus_port, invocation, mode, error);
			return;
		}
	}
	/* never wait for the port here: its lock may be held by a bring-up,
	 * and the main loop serves D-Bus and signals */
	call = g_new0(LmModeCall, 1);
	call->glue = glue;
	call->gp = gp;
	call->invocation = invocation;
	call->mode = mode;
	name = g_strdup_printf("ifcvf-lm-%u", port_index(gp->port));
	call->thread = g_thread_try_new(name, lm_call_thread, call, &error);
	if (!call->thread) {
		g_free(call);
		g_prefix_error(&error, "port %u: ", port_index(gp->port));
		ifcvf_bus_port_return_lm_mode(bus_port, invocation, mode, error);
		return;
	}
	g_ptr_array_add(glue->lm_calls, call);
}

static void shutdown_cb(IfcvfBus *bus, gpointer user_data)
{
	IfcvfBusGlue *glue = user_data;

	if (glue->stop)
		glue->stop(glue->stop_data);
}

static void refresh_port_cb(IfcvfBusPort *bus_port, gpointer user_data)
{
	IfcvfBusGlue *glue = user_data;
	GluePort *gp = glue_port(glue, ifcvf_bus_port_get_index(bus_port));

	if (gp)
		publish(gp);
}

static void name_cb(IfcvfBus *bus, gboolean owned, const GError *error, gpointer user_data)
{
	IfcvfBusGlue *glue = user_data;

	if (!glue->name_done) {
		glue->name_done = TRUE;
		glue->owned = owned;
		if (!owned)
			glue->name_error = g_error_copy(error);
		return;
	}
	if (!owned) {
		glue->owned = FALSE;
		g_warning("D-Bus: %s; the ports keep running, but their state is no longer "
			  "published", error ? error->message : "the name was lost");
	}
}

/* ---- API ---- */

/* IFCVF_HELPER_RESTARTS, set by `hook exec` (src/hook/hook-exec.h): 0
 * when unset or not a number */
static guint restarts_from_env(void)
{
	const char *s = g_getenv("IFCVF_HELPER_RESTARTS");
	guint64 n = 0;

	if (s && !g_ascii_string_to_unsigned(s, 10, 0, G_MAXUINT, &n, NULL)) {
		g_warning("IFCVF_HELPER_RESTARTS='%s' is not a count; Restarts shows 0", s);
		n = 0;
	}
	return (guint)n;
}

IfcvfBusGlue *ifcvf_bus_glue_new(const char *bus, const char *vm_name, const char *vm_uuid,
				 IfcvfBusGlueStopFunc stop, gpointer user_data, GError **error)
{
	static const IfcvfBusHandlers handlers = {
		.set_lm_mode_async = set_lm_mode_cb,
		.shutdown = shutdown_cb,
		.refresh_port = refresh_port_cb,
	};
	g_autoptr(GError) local = NULL;
	g_autoptr(IfcvfBus) b = NULL;
	IfcvfBusGlue *glue;

	g_return_val_if_fail(bus != NULL && vm_uuid != NULL, NULL);
	b = ifcvf_bus_new(bus, vm_name ? vm_name : vm_uuid, vm_uuid, &local);
	if (!b) {
		g_set_error_literal(error, IFCVF_HELPER_ERROR,
				    g_error_matches(local, IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_INVALID_ARGS)
					    ? IFCVF_HELPER_ERROR_INVALID_ARGS
					    : IFCVF_HELPER_ERROR_FAILED,
				    local->message);
		return NULL;
	}
	ifcvf_bus_set_restarts(b, restarts_from_env());
	glue = g_new0(IfcvfBusGlue, 1);
	glue->bus = g_steal_pointer(&b);
	glue->context = g_main_context_ref_thread_default();
	glue->lm_calls = g_ptr_array_new();
	glue->ports = g_ptr_array_new_with_free_func((GDestroyNotify)glue_port_free);
	glue->stop = stop;
	glue->stop_data = user_data;
	ifcvf_bus_set_handlers(glue->bus, &handlers, glue);
	return glue;
}

gboolean ifcvf_bus_glue_own_name(IfcvfBusGlue *glue, const gboolean *cancelled, GError **error)
{
	g_return_val_if_fail(glue != NULL, FALSE);

	ifcvf_bus_start(glue->bus, name_cb, glue);
	while (!glue->name_done && !(cancelled && *cancelled))
		g_main_context_iteration(NULL, TRUE);
	if (glue->owned)
		return TRUE;
	if (glue->name_error) {
		g_set_error_literal(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_FAILED,
				    glue->name_error->message);
		g_clear_error(&glue->name_error);
	}
	return FALSE;
}

gboolean ifcvf_bus_glue_add_port(IfcvfBusGlue *glue, struct port *p, GError **error)
{
	const struct port_config *cfg = port_config(p);
	guint index = port_index(p);
	g_autoptr(GError) local = NULL;
	IfcvfBusPort *bus_port;
	GluePort *gp;

	if (!glue)
		return TRUE;
	bus_port = ifcvf_bus_add_port(glue->bus, index, cfg->device, cfg->socket,
				      port_hw(p)->type == IFCVF_DEV_BLK ? IFCVF_BUS_DEVICE_BLK
									: IFCVF_BUS_DEVICE_NET,
				      &local);
	if (!bus_port) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
			    "port %u (%s): cannot publish it on D-Bus: %s", index, cfg->device,
			    local->message);
		return FALSE;
	}
	gp = g_new0(GluePort, 1);
	gp->port = p;
	gp->bus_port = bus_port;
	gp->state = PORT_STATE_PROBED;
	if (glue->ports->len <= index)
		g_ptr_array_set_size(glue->ports, index + 1);
	g_ptr_array_index(glue->ports, index) = gp;
	gp->bus_state = publish(gp);
	return TRUE;
}

void ifcvf_bus_glue_port_event(IfcvfBusGlue *glue, const struct port_event *ev)
{
	enum migration_signal signal;
	IfcvfBusPortState prev;
	GluePort *gp;

	if (!glue || !(gp = glue_port(glue, ev->port)))
		return;
	if (ev->refresh) {
		publish(gp);
		return;
	}

	if (ev->info) {
		/* the state is as it was: publish the facts read now */
		gp->bus_state = publish(gp);
		return;
	}
	gp->state = ev->state;
	if (!ev->warning && !ev->detail) {
		g_free(gp->reason);
		gp->reason = g_utf8_make_valid(ev->reason, -1);
	}
	prev = gp->bus_state;
	gp->bus_state = publish(gp);
	if (port_signal(prev, gp->bus_state, &signal))
		ifcvf_bus_glue_migration_signal(glue, signal, NULL);
}

void ifcvf_bus_glue_migration_signal(IfcvfBusGlue *glue, enum migration_signal signal,
				     const char *what)
{
	IfcvfBusMigrationPhase phase;

	if (!glue)
		return;
	phase = migration_phase_next(glue->phase, signal);
	if (phase == glue->phase)
		return;
	g_message("migration phase: %s -> %s (%s%s%s)",
		  ifcvf_bus_migration_phase_to_string(glue->phase),
		  ifcvf_bus_migration_phase_to_string(phase), migration_signal_to_string(signal),
		  what ? ": " : "", what ? what : "");
	glue->phase = phase;
	ifcvf_bus_set_migration_phase(glue->bus, phase);
}

void ifcvf_bus_glue_begin_shutdown(IfcvfBusGlue *glue)
{
	if (glue)
		ifcvf_bus_begin_shutdown(glue->bus);
}

void ifcvf_bus_glue_free(IfcvfBusGlue *glue)
{
	if (!glue)
		return;
	/* calls under way are answered while the bus is still there; their
	 * workers end within port_set_lm_mode()'s bound */
	while (glue->lm_calls->len)
		lm_call_finish(g_ptr_array_index(glue->lm_calls, 0));
	/* the bus first: no handler may see a port after this */
	ifcvf_bus_free(glue->bus);
	g_ptr_array_unref(glue->lm_calls);
	g_main_context_unref(glue->context);
	g_ptr_array_unref(glue->ports);
	g_clear_error(&glue->name_error);
	g_free(glue);
}

const char *ifcvf_bus_glue_get_name(IfcvfBusGlue *glue)
{
	return glue ? ifcvf_bus_get_name(glue->bus) : NULL;
}

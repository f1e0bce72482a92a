/* libvirt events for the migration phase. See libvirt-watch.h for the
 * threads: "loop thread" functions run on the libvirt event-loop thread
 * only, "main" ones on the helper's main loop. */
#include "libvirt-watch.h"

#include <errno.h>
#include <glib-unix.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "helper-error.h"
#include "libvirt-dl.h"

/* libvirt's functions, set once by event_loop_ready() (a GOnce): by
 * _new() before the watch's thread starts, or by that thread itself
 * (_start()); read by others only once a timer exists */
static const IfcvfLibvirtDl *lv;

enum { CB_LIFECYCLE, CB_ITERATION, CB_JOB_COMPLETED, CB_LAST };

typedef struct {
	enum migration_signal signal;
	char what[96];
} Item;

struct _IfcvfLibvirtWatch {
	gint refs;                 /* atomic: free() and each re-read under way */
	char *uri;
	char uuid[VIR_UUID_STRING_BUFLEN];
	IfcvfLibvirtWatchFunc func;
	gpointer user_data;

	GThread *thread;
	int timer;                 /* libvirt timeout: connect, retry, stop;
				    * set by the loop thread under lock */
	gint stop;                 /* atomic, set under lock: free() asked the
				    * thread to end */

	/* the first attempt to connect is over (under lock) */
	GCond first_cond;
	gboolean first_done;

	/* loop thread only */
	virConnectPtr conn;
	int cb_ids[CB_LAST];
	gint lost;                 /* atomic: the close callback fired */
	gboolean quiet;            /* this outage is logged already */
	gboolean was_connected;    /* a connection before this one: events were missed */

	/* hand-over to the main loop */
	GMutex lock;
	GQueue items;              /* Item * */
	int efd;
	GSource *source;
};

/* ---- hand-over (loop thread → main) ---- */

static void push(IfcvfLibvirtWatch *w, enum migration_signal signal, const char *fmt, ...)
	G_GNUC_PRINTF(3, 4);

static void push(IfcvfLibvirtWatch *w, enum migration_signal signal, const char *fmt, ...)
{
	Item *it = g_new0(Item, 1);
	uint64_t one = 1;
	va_list ap;

	it->signal = signal;
	va_start(ap, fmt);
	g_vsnprintf(it->what, sizeof(it->what), fmt, ap);
	va_end(ap);
	g_mutex_lock(&w->lock);
	g_queue_push_tail(&w->items, it);
	g_mutex_unlock(&w->lock);
	/* a full counter still leaves the fd readable */
	(void)!write(w->efd, &one, sizeof(one));
}

/* main */
static gboolean drain_cb(gint fd, GIOCondition cond, gpointer user_data)
{
	IfcvfLibvirtWatch *w = user_data;
	uint64_t n;

	(void)!read(fd, &n, sizeof(n));
	for (;;) {
		g_autofree Item *it = NULL;

		g_mutex_lock(&w->lock);
		it = g_queue_pop_head(&w->items);
		g_mutex_unlock(&w->lock);
		if (!it)
			break;
		w->func(it->signal, it->what, w->user_data);
	}
	return G_SOURCE_CONTINUE;
}

/* ---- events (loop thread) ---- */

static gboolean is_ours(IfcvfLibvirtWatch *w, virDomainPtr dom)
{
	char uuid[VIR_UUID_STRING_BUFLEN];

	return lv->virDomainGetUUIDString(dom, uuid) == 0 && g_ascii_strcasecmp(uuid, w->uuid) == 0;
}

/* libvirt's detail numbers, for logs */
static const char *stopped_detail(int detail)
{
	static const char *const names[] = {
		[VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN] = "shutdown",
		[VIR_DOMAIN_EVENT_STOPPED_DESTROYED] = "destroyed",
		[VIR_DOMAIN_EVENT_STOPPED_CRASHED] = "crashed",
		[VIR_DOMAIN_EVENT_STOPPED_MIGRATED] = "migrated",
		[VIR_DOMAIN_EVENT_STOPPED_SAVED] = "saved",
		[VIR_DOMAIN_EVENT_STOPPED_FAILED] = "failed",
		[VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT] = "from-snapshot",
	};

	return detail >= 0 && (gsize)detail < G_N_ELEMENTS(names) && names[detail] ? names[detail]
										 : "other";
}

static const char *resumed_detail(int detail)
{
	static const char *const names[] = {
		[VIR_DOMAIN_EVENT_RESUMED_UNPAUSED] = "unpaused",
		[VIR_DOMAIN_EVENT_RESUMED_MIGRATED] = "migrated",
		[VIR_DOMAIN_EVENT_RESUMED_FROM_SNAPSHOT] = "from-snapshot",
		[VIR_DOMAIN_EVENT_RESUMED_POSTCOPY] = "postcopy",
	};

	return detail >= 0 && (gsize)detail < G_N_ELEMENTS(names) && names[detail] ? names[detail]
										 : "other";
}

static int lifecycle_cb(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	IfcvfLibvirtWatch *w = opaque;

	if (!is_ours(w, dom))
		return 0;
	switch (event) {
	case VIR_DOMAIN_EVENT_STARTED:
		if (detail == VIR_DOMAIN_EVENT_STARTED_MIGRATED)
			push(w, MIGRATION_SIGNAL_LV_STARTED_MIGRATED, "lifecycle started/migrated");
		break;
	case VIR_DOMAIN_EVENT_SUSPENDED:
		if (detail == VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED)
			push(w, MIGRATION_SIGNAL_LV_SUSPENDED_MIGRATED, "lifecycle suspended/migrated");
		break;
	case VIR_DOMAIN_EVENT_RESUMED:
		if (detail == VIR_DOMAIN_EVENT_RESUMED_MIGRATED)
			push(w, MIGRATION_SIGNAL_LV_RESUMED_MIGRATED, "lifecycle resumed/migrated");
		else
			push(w, MIGRATION_SIGNAL_LV_RESUMED, "lifecycle resumed/%s",
			     resumed_detail(detail));
		break;
	case VIR_DOMAIN_EVENT_STOPPED:
		if (detail == VIR_DOMAIN_EVENT_STOPPED_MIGRATED)
			push(w, MIGRATION_SIGNAL_LV_STOPPED_MIGRATED, "lifecycle stopped/migrated");
		else
			push(w, MIGRATION_SIGNAL_LV_STOPPED, "lifecycle stopped/%s",
			     stopped_detail(detail));
		break;
	default:
		break;
	}
	return 0;
}

static void iteration_cb(virConnectPtr conn, virDomainPtr dom, int iteration, void *opaque)
{
	IfcvfLibvirtWatch *w = opaque;

	if (is_ours(w, dom))
		push(w, MIGRATION_SIGNAL_LV_ITERATION, "migration iteration %d", iteration);
}

static void job_completed_cb(virConnectPtr conn, virDomainPtr dom, virTypedParameterPtr params,
			     int nparams, void *opaque)
{
	IfcvfLibvirtWatch *w = opaque;
	int op = -1;

	if (!is_ours(w, dom) ||
	    lv->virTypedParamsGetInt(params, nparams, VIR_DOMAIN_JOB_OPERATION, &op) != 1)
		return;
	/* other jobs (save, dump...) say nothing of a migration */
	if (op == VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT)
		push(w, MIGRATION_SIGNAL_LV_JOB_OUT_COMPLETED, "job completed (migration out)");
	else if (op == VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN)
		push(w, MIGRATION_SIGNAL_LV_JOB_IN_COMPLETED, "job completed (migration in)");
}

static void close_cb(virConnectPtr conn, int reason, void *opaque)
{
	IfcvfLibvirtWatch *w = opaque;

	/* the connection is dropped on the next tick, not inside libvirt's
	 * own close path */
	g_atomic_int_set(&w->lost, reason + 1);
	lv->virEventUpdateTimeout(w->timer, 0);
}

/* ---- connection (loop thread) ---- */

static const char *last_error(void)
{
	const char *msg = lv->virGetLastErrorMessage();

	return msg && *msg ? msg : "unknown error";
}

static void drop_connection(IfcvfLibvirtWatch *w)
{
	if (!w->conn)
		return;
	for (guint i = 0; i < CB_LAST; i++) {
		if (w->cb_ids[i] >= 0)
			(void)lv->virConnectDomainEventDeregisterAny(w->conn, w->cb_ids[i]);
		w->cb_ids[i] = -1;
	}
	(void)lv->virConnectUnregisterCloseCallback(w->conn, close_cb);
	(void)lv->virConnectClose(w->conn);
	w->conn = NULL;
}

/* ---- reading the domain again after a reconnect (its own thread) ---- */

static IfcvfLibvirtWatch *watch_ref(IfcvfLibvirtWatch *w)
{
	g_atomic_int_inc(&w->refs);
	return w;
}

static void watch_unref(IfcvfLibvirtWatch *w);

typedef struct {
	IfcvfLibvirtWatch *w;      /* a reference */
	virConnectPtr conn;        /* a reference */
} Reread;

/* What libvirt says of domain @uuid now; FALSE with @ret_error when it
 * could not say. */
static gboolean read_view(virConnectPtr conn, const char *uuid,
			  enum migration_domain_view *ret, char **ret_error)
{
	virDomainPtr dom = lv->virDomainLookupByUUIDString(conn, uuid);
	virTypedParameterPtr params = NULL;
	int state, reason, type = VIR_DOMAIN_JOB_NONE, n = 0, op = -1;

	if (!dom && lv->virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) {
		*ret = MIGRATION_VIEW_GONE;
		return TRUE;
	}
	if (!dom || lv->virDomainGetState(dom, &state, &reason, 0) < 0) {
		*ret_error = g_strdup(last_error());
		if (dom)
			lv->virDomainFree(dom);
		return FALSE;
	}
	/* a driver without job statistics has no migration job to show */
	if (lv->virDomainGetJobStats(dom, &type, &params, &n, 0) == 0 && type != VIR_DOMAIN_JOB_NONE)
		(void)lv->virTypedParamsGetInt(params, n, VIR_DOMAIN_JOB_OPERATION, &op);
	lv->virTypedParamsFree(params, n);
	lv->virDomainFree(dom);

	if (state == VIR_DOMAIN_SHUTOFF || state == VIR_DOMAIN_CRASHED)
		*ret = MIGRATION_VIEW_GONE;
	else if (op == VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT)
		*ret = state == VIR_DOMAIN_PAUSED ? MIGRATION_VIEW_OUT_PAUSED
						  : MIGRATION_VIEW_OUT_RUNNING;
	else if (op == VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN)
		*ret = MIGRATION_VIEW_IN;
	else if (state == VIR_DOMAIN_RUNNING)
		*ret = MIGRATION_VIEW_RUNNING;
	else
		*ret = MIGRATION_VIEW_OTHER;
	return TRUE;
}

/* These calls take the domain's lock in libvirtd, which it holds while a
 * hook runs (one that stops this helper, say): so not on the loop thread,
 * which free() joins, but on a thread of their own that free() does not
 * wait for; it holds a reference to the watch and pushes nothing once the
 * watch is stopping. */
static gpointer reread_thread(gpointer data)
{
	Reread *rr = data;
	IfcvfLibvirtWatch *w = rr->w;
	enum migration_domain_view view;
	enum migration_signal signal;
	g_autofree char *error = NULL;

	if (!read_view(rr->conn, w->uuid, &view, &error)) {
		g_message("libvirt %s: cannot read domain %s again after the reconnect (%s); "
			  "its migration phase follows the next events", w->uri, w->uuid, error);
	} else if (g_atomic_int_get(&w->stop)) {
		/* free() was called: nobody to tell */
	} else if (migration_view_signal(view, &signal)) {
		push(w, signal, "domain %s after the reconnect", migration_view_to_string(view));
	} else {
		g_message("libvirt %s: domain %s is %s after the reconnect; nothing to say of a "
			  "migration", w->uri, w->uuid, migration_view_to_string(view));
	}
	(void)lv->virConnectClose(rr->conn);
	watch_unref(w);
	g_free(rr);
	return NULL;
}

/* loop thread: the events of the outage are lost; read the state instead */
static void start_reread(IfcvfLibvirtWatch *w)
{
	Reread *rr = g_new0(Reread, 1);
	g_autoptr(GError) error = NULL;
	GThread *t;

	rr->w = watch_ref(w);
	rr->conn = w->conn;
	(void)lv->virConnectRef(rr->conn);
	t = g_thread_try_new("libvirt-reread", reread_thread, rr, &error);
	if (!t) {
		g_warning("libvirt %s: cannot read domain %s again after the reconnect: %s",
			  w->uri, w->uuid, error->message);
		(void)lv->virConnectClose(rr->conn);
		watch_unref(w);
		g_free(rr);
		return;
	}
	g_thread_unref(t);
}

static gboolean register_callbacks(IfcvfLibvirtWatch *w)
{
	static const struct {
		int id;
		virConnectDomainEventGenericCallback cb;
	} events[CB_LAST] = {
		[CB_LIFECYCLE] = { VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(lifecycle_cb) },
		[CB_ITERATION] = { VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION,
				   VIR_DOMAIN_EVENT_CALLBACK(iteration_cb) },
		[CB_JOB_COMPLETED] = { VIR_DOMAIN_EVENT_ID_JOB_COMPLETED,
				       VIR_DOMAIN_EVENT_CALLBACK(job_completed_cb) },
	};

	for (guint i = 0; i < CB_LAST; i++) {
		/* every domain: ours may not exist on this host yet */
		w->cb_ids[i] = lv->virConnectDomainEventRegisterAny(w->conn, NULL, events[i].id,
								events[i].cb, w, NULL);
		if (w->cb_ids[i] < 0)
			return FALSE;
	}
	/* drivers that never close the connection may not take one */
	(void)lv->virConnectRegisterCloseCallback(w->conn, close_cb, w, NULL);
	return TRUE;
}

static void first_attempt_done(IfcvfLibvirtWatch *w)
{
	g_mutex_lock(&w->lock);
	w->first_done = TRUE;
	g_cond_signal(&w->first_cond);
	g_mutex_unlock(&w->lock);
}

static void try_connect(IfcvfLibvirtWatch *w)
{
	gboolean registered;

	w->conn = lv->virConnectOpenReadOnly(w->uri);
	registered = w->conn && register_callbacks(w);
	first_attempt_done(w);
	if (w->conn && !registered) {
		g_autofree char *msg = g_strdup(last_error());

		drop_connection(w);
		if (!w->quiet)
			g_warning("libvirt %s: cannot follow domain events: %s; retrying every %u s",
				  w->uri, msg, IFCVF_LIBVIRT_RETRY_MS / 1000);
		w->quiet = TRUE;
		return;
	}
	if (!w->conn) {
		if (!w->quiet)
			g_message("libvirt %s: not reachable (%s); migration phases from vhost-user "
				  "alone, retrying every %u s", w->uri, last_error(),
				  IFCVF_LIBVIRT_RETRY_MS / 1000);
		w->quiet = TRUE;
		return;
	}
	/* a libvirtd that hangs is dropped rather than waited for */
	(void)lv->virConnectSetKeepAlive(w->conn, 5, 3);
	g_message("libvirt %s: connected, following domain %s", w->uri, w->uuid);
	w->quiet = FALSE;
	/* callbacks first, then the read: a change in between is seen twice
	 * at worst, and the phase rules never go backwards */
	if (w->was_connected)
		start_reread(w);
	w->was_connected = TRUE;
}

static void tick_cb(int timer, void *opaque)
{
	IfcvfLibvirtWatch *w = opaque;
	int lost;

	if (g_atomic_int_get(&w->stop))
		return;
	lost = g_atomic_int_exchange(&w->lost, 0);
	if (lost && w->conn) {
		drop_connection(w);
		g_message("libvirt %s: connection lost (%s); retrying every %u s", w->uri,
			  lost - 1 == VIR_CONNECT_CLOSE_REASON_EOF ? "libvirtd went away"
			  : lost - 1 == VIR_CONNECT_CLOSE_REASON_KEEPALIVE ? "keepalive timed out"
									 : "closed",
			  IFCVF_LIBVIRT_RETRY_MS / 1000);
		w->quiet = TRUE;
	}
	if (!w->conn)
		try_connect(w);
	lv->virEventUpdateTimeout(w->timer, IFCVF_LIBVIRT_RETRY_MS);
}

static gboolean event_loop_ready(GError **error);

/* The library and libvirt's event loop (once per process), then the timer
 * whose first tick connects. Under lock against free(): a timer added
 * after free() looked would never be woken. FALSE when the thread is to
 * end now. */
static gboolean loop_start(IfcvfLibvirtWatch *w)
{
	g_autoptr(GError) error = NULL;
	gboolean ok;

	/* at-migration: dlopen() and libvirt's setup happen here, not on the
	 * main loop (at-start: done by _new() already, the call returns) */
	if (!event_loop_ready(&error)) {
		g_warning("libvirt %s: %s; migration phases from vhost-user alone", w->uri,
			  error->message);
		first_attempt_done(w);
		return FALSE;
	}
	g_mutex_lock(&w->lock);
	ok = !g_atomic_int_get(&w->stop);
	if (ok)
		w->timer = lv->virEventAddTimeout(0, tick_cb, w, NULL);
	g_mutex_unlock(&w->lock);
	if (ok && w->timer < 0) {
		g_warning("libvirt %s: cannot add a timer: %s; migration phases from vhost-user "
			  "alone", w->uri, last_error());
		ok = FALSE;
	}
	if (!ok)
		first_attempt_done(w);
	return ok;
}

static gpointer loop_thread(gpointer data)
{
	IfcvfLibvirtWatch *w = data;

	if (!loop_start(w))
		return NULL;
	while (!g_atomic_int_get(&w->stop)) {
		if (lv->virEventRunDefaultImpl() < 0) {
			g_warning("libvirt %s: event loop failed: %s; no more libvirt events", w->uri,
				  last_error());
			break;
		}
	}
	drop_connection(w);
	/* one more turn lets libvirt free what the close left for its loop */
	lv->virEventUpdateTimeout(w->timer, 0);
	(void)lv->virEventRunDefaultImpl();
	return NULL;
}

/* ---- API (main) ---- */

static void ignore_error(void *data, virErrorPtr err)
{
	/* libvirt would print every error on stderr; the watch logs its own */
}

static gboolean event_loop_ready(GError **error)
{
	static gsize done;
	static gboolean ok;

	if (g_once_init_enter(&done)) {
		/* libvirt is mapped from here on, not before (libvirt-dl.h) */
		lv = ifcvf_libvirt_dl(NULL);
		ok = lv && lv->virInitialize() == 0 && lv->virEventRegisterDefaultImpl() == 0;
		if (ok)
			lv->virSetErrorFunc(NULL, ignore_error);
		g_once_init_leave(&done, 1);
	}
	/* the library's own failure, remembered */
	if (!lv)
		return ifcvf_libvirt_dl(error) != NULL;
	if (!ok)
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_FAILED,
			    "cannot set up libvirt's event loop: %s", last_error());
	return ok;
}

/* bounded: a libvirtd that hangs must not hold up the ports */
static void wait_first_attempt(IfcvfLibvirtWatch *w)
{
	gint64 deadline = g_get_monotonic_time() + IFCVF_LIBVIRT_FIRST_WAIT_MS * 1000;

	g_mutex_lock(&w->lock);
	while (!w->first_done)
		if (!g_cond_wait_until(&w->first_cond, &w->lock, deadline))
			break;
	if (!w->first_done)
		g_message("libvirt %s: no answer within %u ms; the ports start without waiting",
			  w->uri, IFCVF_LIBVIRT_FIRST_WAIT_MS);
	g_mutex_unlock(&w->lock);
}

static IfcvfLibvirtWatch *watch_start(const char *uri, const char *uuid, gboolean wait,
				      IfcvfLibvirtWatchFunc func, gpointer user_data,
				      GError **error)
{
	IfcvfLibvirtWatch *w;
	GError *local = NULL;

	g_return_val_if_fail(uri != NULL && uuid != NULL && func != NULL, NULL);
	/* at start, a library that cannot be used stops the helper, naming it */
	if (wait && !event_loop_ready(error))
		return NULL;

	w = g_new0(IfcvfLibvirtWatch, 1);
	w->refs = 1;
	w->uri = g_strdup(uri);
	g_strlcpy(w->uuid, uuid, sizeof(w->uuid));
	w->func = func;
	w->user_data = user_data;
	w->timer = -1;
	w->efd = -1;
	for (guint i = 0; i < CB_LAST; i++)
		w->cb_ids[i] = -1;
	g_mutex_init(&w->lock);
	g_cond_init(&w->first_cond);
	g_queue_init(&w->items);
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->efd < 0) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_FAILED,
			    "libvirt watch: eventfd: %s", g_strerror(errno));
		ifcvf_libvirt_watch_free(w);
		return NULL;
	}
	w->source = g_unix_fd_source_new(w->efd, G_IO_IN);
	g_source_set_callback(w->source, G_SOURCE_FUNC(drain_cb), w, NULL);
	g_source_attach(w->source, g_main_context_get_thread_default());

	/* the thread adds the timer whose first tick connects */
	w->thread = g_thread_try_new("libvirt-watch", loop_thread, w, &local);
	if (!w->thread) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_FAILED,
			    "libvirt watch: cannot start its thread: %s", local->message);
		g_error_free(local);
		ifcvf_libvirt_watch_free(w);
		return NULL;
	}
	if (wait)
		wait_first_attempt(w);
	return w;
}

IfcvfLibvirtWatch *ifcvf_libvirt_watch_new(const char *uri, const char *uuid,
					   IfcvfLibvirtWatchFunc func, gpointer user_data,
					   GError **error)
{
	return watch_start(uri, uuid, TRUE, func, user_data, error);
}

IfcvfLibvirtWatch *ifcvf_libvirt_watch_start(const char *uri, const char *uuid,
					     IfcvfLibvirtWatchFunc func, gpointer user_data,
					     GError **error)
{
	return watch_start(uri, uuid, FALSE, func, user_data, error);
}

void ifcvf_libvirt_watch_free(IfcvfLibvirtWatch *w)
{
	if (!w)
		return;
	if (w->thread) {
		g_mutex_lock(&w->lock);
		g_atomic_int_set(&w->stop, 1);
		/* wakes the loop thread's poll; a thread still loading the
		 * library adds no timer now, and ends */
		if (w->timer >= 0)
			lv->virEventUpdateTimeout(w->timer, 0);
		g_mutex_unlock(&w->lock);
		g_thread_join(w->thread);
	}
	if (w->timer >= 0)
		lv->virEventRemoveTimeout(w->timer);
	/* no @func call after this; a re-read under way ends on its own */
	if (w->source) {
		g_source_destroy(w->source);
		g_source_unref(w->source);
	}
	watch_unref(w);
}

static void watch_unref(IfcvfLibvirtWatch *w)
{
	if (!g_atomic_int_dec_and_test(&w->refs))
		return;
	if (w->efd >= 0)
		close(w->efd);
	g_queue_clear_full(&w->items, g_free);
	g_cond_clear(&w->first_cond);
	g_mutex_clear(&w->lock);
	g_free(w->uri);
	g_free(w);
}

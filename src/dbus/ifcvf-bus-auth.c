/* Authorising the calls that change a helper's state: the caller's uid from
 * the bus daemon, then polkit. See ifcvf-bus-auth.h. */
#define G_LOG_DOMAIN "IfcvfBus"

#include "ifcvf-bus-auth.h"

#include <string.h>

#include "ifcvf-bus-error.h"
#include "ifcvf-bus-names.h"

/* each question (to the bus daemon, to polkit), and a check as a whole */
#define CALL_TIMEOUT_MS 5000
#define CHECK_TIMEOUT_S 12

#define POLKIT_NAME  "org.freedesktop.PolicyKit1"
#define POLKIT_PATH  "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_IFACE "org.freedesktop.PolicyKit1.Authority"

#define DENIED "changing a port needs root or the polkit action " IFCVF_BUS_AUTH_ACTION

/* Methods of our interfaces that only read; every other method of them is
 * checked, so a method added later is closed until it is listed here. */
static const struct {
	const char *iface;
	const char *method;
} reads[] = {
	{ IFCVF_BUS_PORT_INTERFACE, "GetStats" },
};

struct _IfcvfBusAuth {
	gint ref_count;          /* atomic: GDBus worker threads take references */
	GMainContext *context;   /* where checks run; fixed */
	gboolean system_bus;     /* the helper's bus is the system bus; fixed */
	/* GDBus worker threads add checks, the main context runs and ends them */
	GMutex lock;
	gboolean closed;         /* under lock */
	GList *pending;          /* AuthCheck *, from g-authorize-method on; under lock */
};

typedef struct {
	IfcvfBusAuth *auth;
	GDBusMethodInvocation *invocation; /* NULL once answered */
	GDBusInterfaceSkeleton *iface;
	GSource *start;          /* check_start_cb(), until it runs; main context */
	GCancellable *cancellable;
	GSource *timeout;
	gboolean timed_out;
	guint32 uid;
	guint32 pid;             /* 0: the bus did not say */
} AuthCheck;

static IfcvfBusAuth *auth_ref(IfcvfBusAuth *auth)
{
	g_atomic_int_inc(&auth->ref_count);
	return auth;
}

static void auth_unref(IfcvfBusAuth *auth)
{
	if (!g_atomic_int_dec_and_test(&auth->ref_count))
		return;
	g_assert(auth->pending == NULL);
	g_mutex_clear(&auth->lock);
	g_main_context_unref(auth->context);
	g_free(auth);
}

static void auth_unref_closure(gpointer data, GClosure *closure)
{
	auth_unref(data);
}

IfcvfBusAuth *ifcvf_bus_auth_new(GMainContext *context, const char *address)
{
	IfcvfBusAuth *auth = g_new0(IfcvfBusAuth, 1);
	g_autofree char *system_address = g_dbus_address_get_for_bus_sync(G_BUS_TYPE_SYSTEM,
									  NULL, NULL);

	auth->ref_count = 1;
	g_mutex_init(&auth->lock);
	auth->context = g_main_context_ref(context);
	auth->system_bus = g_strcmp0(address, system_address) == 0;
	return auth;
}

/* the end of a check, answered or not */
static void check_done(AuthCheck *check)
{
	IfcvfBusAuth *auth = check->auth;

	g_mutex_lock(&auth->lock);
	auth->pending = g_list_remove(auth->pending, check);
	g_mutex_unlock(&auth->lock);
	if (check->start) {
		g_source_destroy(check->start);
		g_source_unref(check->start);
	}
	if (check->timeout) {
		g_source_destroy(check->timeout);
		g_source_unref(check->timeout);
	}
	g_clear_object(&check->cancellable);
	/* not answered: only when the check never started */
	if (check->invocation)
		g_dbus_method_invocation_return_error_literal(check->invocation, IFCVF_BUS_ERROR,
							      IFCVF_BUS_ERROR_SHUTTING_DOWN,
							      "the helper is shutting down");
	g_object_unref(check->iface);
	auth_unref(auth);
	g_free(check);
}

static void refuse(AuthCheck *check, const char *why)
{
	GDBusMethodInvocation *inv = g_steal_pointer(&check->invocation);
	const char *method = g_dbus_method_invocation_get_method_name(inv);

	g_message("refused %s() on %s from %s (uid %d): %s", method,
		  g_dbus_method_invocation_get_object_path(inv),
		  g_dbus_method_invocation_get_sender(inv),
		  check->uid == G_MAXUINT32 ? -1 : (int)check->uid, why);
	g_dbus_method_invocation_return_error(inv, IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_ACCESS_DENIED,
					      "%s(): " DENIED " (%s)", method, why);
	check_done(check);
}

/* allowed: hand the call to the skeleton's own dispatch, which emits the
 * handle-* signal as GDBus would have */
static void dispatch(AuthCheck *check)
{
	GDBusMethodInvocation *inv = g_steal_pointer(&check->invocation);
	const GDBusInterfaceVTable *vtable = g_dbus_interface_skeleton_get_vtable(check->iface);

	/* method_call takes over the invocation */
	vtable->method_call(g_dbus_method_invocation_get_connection(inv),
			    g_dbus_method_invocation_get_sender(inv),
			    g_dbus_method_invocation_get_object_path(inv),
			    g_dbus_method_invocation_get_interface_name(inv),
			    g_dbus_method_invocation_get_method_name(inv),
			    g_dbus_method_invocation_get_parameters(inv), inv,
			    g_dbus_method_invocation_get_user_data(inv));
	check_done(check);
}

/* a question failed: say why in the refusal */
static void refuse_for_error(AuthCheck *check, const char *what, GError *error)
{
	g_autofree char *why = NULL;

	if (check->timed_out)
		why = g_strdup_printf("%s: no answer within %d s", what, CHECK_TIMEOUT_S);
	else {
		g_dbus_error_strip_remote_error(error);
		why = g_strdup_printf("%s: %s", what, error->message);
	}
	refuse(check, why);
}

/* /proc/PID/stat field 22, which polkit needs with a pid so that a pid
 * reused by another process does not count */
static gboolean process_start_time(guint32 pid, guint64 *ret)
{
	g_autofree char *path = g_strdup_printf("/proc/%u/stat", pid);
	g_autofree char *text = NULL;
	g_auto(GStrv) fields = NULL;
	const char *end;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return FALSE;
	/* the command name may hold spaces and parentheses */
	end = strrchr(text, ')');
	if (!end || end[1] != ' ')
		return FALSE;
	fields = g_strsplit(end + 2, " ", 21);
	/* fields[0] is field 3 (state), so field 22 is fields[19] */
	if (g_strv_length(fields) < 20)
		return FALSE;
	return g_ascii_string_to_unsigned(fields[19], 10, 0, G_MAXUINT64, ret, NULL);
}

static void polkit_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	AuthCheck *check = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res,
								  &error);
	gboolean authorized = FALSE;
	gboolean challenge = FALSE;

	if (!check->invocation) {
		check_done(check);
		return;
	}
	if (!reply) {
		refuse_for_error(check, "polkit", error);
		return;
	}
	g_variant_get(reply, "((bb@a{ss}))", &authorized, &challenge, NULL);
	if (!authorized) {
		refuse(check, "polkit does not allow it");
		return;
	}
	g_debug("%s() from %s: allowed by polkit",
		g_dbus_method_invocation_get_method_name(check->invocation),
		g_dbus_method_invocation_get_sender(check->invocation));
	dispatch(check);
}

static void ask_polkit(AuthCheck *check, GDBusConnection *system_bus)
{
	const char *sender = g_dbus_method_invocation_get_sender(check->invocation);
	GVariantBuilder subject;
	GVariantBuilder details;
	const char *kind;

	g_variant_builder_init(&subject, G_VARIANT_TYPE("a{sv}"));
	if (check->auth->system_bus) {
		/* polkit resolves the name itself: no pid race */
		kind = "system-bus-name";
		g_variant_builder_add(&subject, "{sv}", "name", g_variant_new_string(sender));
	} else {
		guint64 start_time;

		/* a name on another bus means nothing to polkit: name the process */
		if (!check->pid || !process_start_time(check->pid, &start_time)) {
			g_variant_builder_clear(&subject);
			refuse(check, "the caller's process is unknown, so polkit cannot be asked");
			return;
		}
		kind = "unix-process";
		g_variant_builder_add(&subject, "{sv}", "pid", g_variant_new_uint32(check->pid));
		g_variant_builder_add(&subject, "{sv}", "start-time",
				      g_variant_new_uint64(start_time));
		g_variant_builder_add(&subject, "{sv}", "uid",
				      g_variant_new_int32((gint32)check->uid));
	}
	g_variant_builder_init(&details, G_VARIANT_TYPE("a{ss}"));
	/* flags 0: no interaction, a helper has no one to ask */
	g_dbus_connection_call(system_bus, POLKIT_NAME, POLKIT_PATH, POLKIT_IFACE,
			       "CheckAuthorization",
			       g_variant_new("((sa{sv})sa{ss}us)", kind, &subject,
					     IFCVF_BUS_AUTH_ACTION, &details, 0u, ""),
			       G_VARIANT_TYPE("((bba{ss}))"), G_DBUS_CALL_FLAGS_NONE,
			       CALL_TIMEOUT_MS, check->cancellable, polkit_cb, check);
}

static void system_bus_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	AuthCheck *check = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GDBusConnection) system_bus = g_bus_get_finish(res, &error);

	if (!check->invocation) {
		check_done(check);
		return;
	}
	if (!system_bus) {
		refuse_for_error(check, "polkit (system bus)", error);
		return;
	}
	ask_polkit(check, system_bus);
}

static void credentials_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	AuthCheck *check = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res,
								  &error);
	g_autoptr(GVariant) creds = NULL;

	if (!check->invocation) {
		check_done(check);
		return;
	}
	if (!reply) {
		refuse_for_error(check, "cannot learn the caller's uid from the bus", error);
		return;
	}
	creds = g_variant_get_child_value(reply, 0);
	if (!g_variant_lookup(creds, "UnixUserID", "u", &check->uid)) {
		check->uid = G_MAXUINT32;
		refuse(check, "the bus does not know the caller's uid");
		return;
	}
	(void)g_variant_lookup(creds, "ProcessID", "u", &check->pid);
	if (check->uid == 0) {
		dispatch(check);
		return;
	}
	if (check->auth->system_bus)
		ask_polkit(check, g_dbus_method_invocation_get_connection(check->invocation));
	else
		g_bus_get(G_BUS_TYPE_SYSTEM, check->cancellable, system_bus_cb, check);
}

static gboolean check_timeout_cb(gpointer user_data)
{
	AuthCheck *check = user_data;

	/* the question in flight fails with CANCELLED and refuses the call */
	check->timed_out = TRUE;
	g_cancellable_cancel(check->cancellable);
	return G_SOURCE_REMOVE;
}

/* main context: ask the bus daemon who the caller is */
static gboolean check_start_cb(gpointer user_data)
{
	AuthCheck *check = user_data;
	IfcvfBusAuth *auth = check->auth;
	GDBusMethodInvocation *inv = check->invocation;
	const char *sender = g_dbus_method_invocation_get_sender(inv);

	/* ifcvf_bus_auth_close() ends a check that has not started, in this
	 * thread, so it has not come */
	g_clear_pointer(&check->start, g_source_unref);
	check->uid = G_MAXUINT32;
	if (!sender) {
		refuse(check, "the call has no sender");
		return G_SOURCE_REMOVE;
	}
	check->cancellable = g_cancellable_new();
	check->timeout = g_timeout_source_new_seconds(CHECK_TIMEOUT_S);
	g_source_set_callback(check->timeout, check_timeout_cb, check, NULL);
	g_source_attach(check->timeout, auth->context);
	g_dbus_connection_call(g_dbus_method_invocation_get_connection(inv), "org.freedesktop.DBus",
			       "/org/freedesktop/DBus", "org.freedesktop.DBus",
			       "GetConnectionCredentials", g_variant_new("(s)", sender),
			       G_VARIANT_TYPE("(a{sv})"), G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS,
			       check->cancellable, credentials_cb, check);
	return G_SOURCE_REMOVE;
}

static gboolean is_read(GDBusMethodInvocation *inv)
{
	const char *iface = g_dbus_method_invocation_get_interface_name(inv);
	const char *method = g_dbus_method_invocation_get_method_name(inv);

	for (gsize i = 0; i < G_N_ELEMENTS(reads); i++)
		if (g_strcmp0(iface, reads[i].iface) == 0 && g_strcmp0(method, reads[i].method) == 0)
			return TRUE;
	return FALSE;
}

/* GDBus worker thread: touches only the invocation and fixed fields */
static gboolean authorize_method_cb(GDBusInterfaceSkeleton *iface,
				    GDBusMethodInvocation *invocation, gpointer user_data)
{
	IfcvfBusAuth *auth = user_data;
	AuthCheck *check;

	if (is_read(invocation))
		return TRUE;
	/* returning FALSE leaves GDBus's reference with us: we answer */
	g_mutex_lock(&auth->lock);
	if (auth->closed) {
		g_mutex_unlock(&auth->lock);
		g_dbus_method_invocation_return_error_literal(invocation, IFCVF_BUS_ERROR,
							      IFCVF_BUS_ERROR_SHUTTING_DOWN,
							      "the helper is shutting down");
		return FALSE;
	}
	check = g_new0(AuthCheck, 1);
	check->auth = auth_ref(auth);
	check->invocation = invocation;
	check->iface = g_object_ref(iface);
	/* an idle source, not g_main_context_invoke(), which would run the
	 * check right here if no thread iterated the context. Pending from
	 * now on: a main loop that stops before the idle runs (SIGTERM) must
	 * not leave the call unanswered, ifcvf_bus_auth_close() answers it */
	check->start = g_idle_source_new();
	g_source_set_callback(check->start, check_start_cb, check, NULL);
	g_source_attach(check->start, auth->context);
	auth->pending = g_list_prepend(auth->pending, check);
	g_mutex_unlock(&auth->lock);
	return FALSE;
}

void ifcvf_bus_auth_guard(IfcvfBusAuth *auth, GDBusInterfaceSkeleton *iface)
{
	g_return_if_fail(auth != NULL && iface != NULL);

	g_signal_connect_data(iface, "g-authorize-method", G_CALLBACK(authorize_method_cb),
			      auth_ref(auth), auth_unref_closure, 0);
}

void ifcvf_bus_auth_unguard(IfcvfBusAuth *auth, GDBusInterfaceSkeleton *iface)
{
	g_return_if_fail(auth != NULL && iface != NULL);

	/* drops the reference ifcvf_bus_auth_guard() gave the handler; a call
	 * being checked keeps its own */
	g_signal_handlers_disconnect_matched(iface, G_SIGNAL_MATCH_FUNC | G_SIGNAL_MATCH_DATA, 0, 0,
					     NULL, G_CALLBACK(authorize_method_cb), auth);
}

void ifcvf_bus_auth_close(IfcvfBusAuth *auth)
{
	g_autoptr(GList) pending = NULL;

	if (!auth)
		return;
	g_mutex_lock(&auth->lock);
	auth->closed = TRUE;
	pending = g_list_copy(auth->pending);
	g_mutex_unlock(&auth->lock);
	/* answer now, while the connection is still open; the questions in
	 * flight end with CANCELLED and only free their checks; a check that
	 * has not started (its main loop stopped first) ends here */
	for (GList *l = pending; l; l = l->next) {
		AuthCheck *check = l->data;
		GDBusMethodInvocation *inv = g_steal_pointer(&check->invocation);

		if (inv)
			g_dbus_method_invocation_return_error_literal(inv, IFCVF_BUS_ERROR,
								      IFCVF_BUS_ERROR_SHUTTING_DOWN,
								      "the helper is shutting down");
		if (check->start)
			check_done(check);
		else
			g_cancellable_cancel(check->cancellable);
	}
	auth_unref(auth);
}

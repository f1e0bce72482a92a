/* Who may change a helper's state over D-Bus. The bus policy cannot say it
 * alone (it differs between dbus-daemon and dbus-broker, and a helper may run
 * on a bus with no policy at all), so the helper checks every call that is
 * not a plain read: the caller's uid, as the bus daemon reports it, must be
 * 0, or polkit must allow the caller the action org.ifcvf.helper1.manage
 * (no interaction; polkit missing or failing means no). A refused call gets
 * org.ifcvf.Helper1.Error.AccessDenied. Reads (GetStats, and the standard
 * Properties, Introspectable, Peer and ObjectManager calls, which GDBus
 * answers without the skeleton's method dispatch) are never checked.
 *
 * Threads: GDBus emits g-authorize-method in a worker thread of its own; the
 * handler there only looks at the invocation and hands changing calls to the
 * main context given to ifcvf_bus_auth_new(), where the checks run
 * asynchronously (each bounded by a timeout) and the call is dispatched or
 * refused. A check is known to ifcvf_bus_auth_close() from the handler on
 * (the list of checks is under a lock), so a call whose check had not yet
 * started when the main loop stopped is answered too. ifcvf_bus_auth_close()
 * belongs to that main context's thread.
 * Because of that hop, GDBus may dispatch two calls a client sent without
 * waiting for the first reply in either order; a client that needs an
 * order waits for each reply (ifcvfctl does). */
#pragma once

#include <gio/gio.h>

#define IFCVF_BUS_AUTH_ACTION "org.ifcvf.helper1.manage"

typedef struct _IfcvfBusAuth IfcvfBusAuth;

/* Checks for a helper whose connection is to @address; calls are
 * dispatched in @context. When @address is the system bus, polkit is asked
 * about the caller's bus name; otherwise about its process, over a
 * connection of its own to the system bus. */
IfcvfBusAuth *ifcvf_bus_auth_new(GMainContext *context, const char *address);

/* Check every changing call to @iface before its handler runs. Call before
 * the skeleton is exported. */
void ifcvf_bus_auth_guard(IfcvfBusAuth *auth, GDBusInterfaceSkeleton *iface);

/* Stop checking @iface with @auth (the connection it served is gone; a new
 * auth guards it next). Main context only. */
void ifcvf_bus_auth_unguard(IfcvfBusAuth *auth, GDBusInterfaceSkeleton *iface);

/* The bus is going away: checks under way are answered with
 * org.ifcvf.Helper1.Error.ShuttingDown at once (those whose check has not
 * started included), later ones too (from GDBus's thread), and nothing is
 * dispatched any more. Drops the caller's reference. */
void ifcvf_bus_auth_close(IfcvfBusAuth *auth);

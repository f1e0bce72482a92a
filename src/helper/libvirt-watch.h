/* The helper's own read-only libvirt connection (`run --libvirt-uri`):
 * follows one domain, by UUID, through the events that tell where a live
 * migration is (lifecycle, MIGRATION_ITERATION, JOB_COMPLETED) and hands
 * each one, as an enum migration_signal (migration-phase.h), to the main
 * loop. Never opened from a hook: `ifcvf-helper run` opens it once running.
 *
 * The callbacks are registered for every domain of the connection and
 * filtered by UUID (virDomainGetUUIDString, no call to libvirtd), so a
 * destination helper started before its domain exists there
 * (migrate/prepare hooks) hears STARTED_MIGRATED too. The watch makes no
 * call that takes a domain's lock in libvirtd (no lookup, no state query):
 * libvirtd holds that lock while it runs the hooks that start and stop
 * this helper, and a helper waiting on it could not stop.
 *
 * libvirt is optional to the datapath: a libvirtd that cannot be reached
 * at start, or that goes away (its close callback, or keepalive), is
 * logged once; the watch retries every IFCVF_LIBVIRT_RETRY_MS and
 * registers its callbacks again on each new connection. Events missed
 * while disconnected are lost, so after each reconnect the domain is read
 * again (virDomainGetState, its job statistics) and what that shows goes
 * to @func as one signal (migration_view_signal()): gone, running with no
 * job, a migration job under way. These reads take the domain's lock in
 * libvirtd (see above), so they run on a short-lived thread of their own,
 * after the connection was lost once, never at the first connect (made
 * while a hook may run); meanwhile vhost-user signals keep the phase going.
 *
 * libvirt.so.0 is loaded by the first watch (libvirt-dl.h): a helper
 * without --libvirt-uri never maps it, and one with it (the hook's) maps it
 * only once a migration begins here (`run --libvirt-connect`, run-cmd.c),
 * unless it was started for an incoming one. Once loaded it stays.
 *
 * Threads: ifcvf_libvirt_watch_new() loads the library and registers
 * libvirt's default event loop (once per process) on the calling thread
 * and starts one thread that runs it; ifcvf_libvirt_watch_start() leaves
 * the loading and the registering to that thread too. That thread
 * owns the virConnect, the callbacks and every libvirt call after start;
 * it touches no GLib object of the main loop: it pushes signals onto a
 * mutex-protected queue and writes an eventfd, which a GSource on the
 * GMainContext that was thread-default at _new() drains, calling @func
 * there. new(), start() and free() belong to that main loop's thread; free() stops
 * the loop thread with a zero-delay libvirt timeout (which wakes its poll)
 * and joins it, bounded by libvirt's own call timeouts (keepalive). A
 * re-read thread is not joined: it holds references to the watch and the
 * connection, pushes nothing once free() was called, and drops them when
 * libvirtd answers (or with the process). */
#pragma once

#include <glib.h>

#include "migration-phase.h"

#define IFCVF_LIBVIRT_RETRY_MS 2000
#define IFCVF_LIBVIRT_FIRST_WAIT_MS 5000

typedef struct _IfcvfLibvirtWatch IfcvfLibvirtWatch;

/* On the main loop: @signal for the domain; @what says what libvirt sent
 * ("lifecycle suspended/migrated", "migration iteration 2"...), for logs. */
typedef void (*IfcvfLibvirtWatchFunc)(enum migration_signal signal, const char *what,
				      gpointer user_data);

/* Start following domain @uuid over @uri. Waits for the first attempt to
 * connect and register the callbacks (made on the loop thread), at most
 * IFCVF_LIBVIRT_FIRST_WAIT_MS: started before the vhost-user sockets
 * listen, a destination helper hears STARTED_MIGRATED of the QEMU that
 * libvirt starts once the hook sees them listening. Fails only when
 * libvirt.so.0 cannot be loaded (or lacks a function), or the event loop
 * or the thread cannot be set up. */
IfcvfLibvirtWatch *ifcvf_libvirt_watch_new(const char *uri, const char *uuid,
					   IfcvfLibvirtWatchFunc func, gpointer user_data,
					   GError **error);

/* The same without waiting for anything, for the main loop once it runs
 * (a migration begins): the library is loaded, and the connection made,
 * on the watch's thread. A library that cannot be used is logged there
 * (a warning naming it and why), and the watch then stays idle; fails
 * only when the thread or its eventfd cannot be set up. */
IfcvfLibvirtWatch *ifcvf_libvirt_watch_start(const char *uri, const char *uuid,
					     IfcvfLibvirtWatchFunc func, gpointer user_data,
					     GError **error);

/* Stop the thread, close the connection; no @func call after this. */
void ifcvf_libvirt_watch_free(IfcvfLibvirtWatch *w);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(IfcvfLibvirtWatch, ifcvf_libvirt_watch_free)

/* event-relay: one thread that waits on a set of eventfds and calls a
 * function for each event it takes off them. The kick relay and the
 * config-interrupt relay are built on it.
 *
 * Each watched fd has a small integer key (a vring index, say). The relay
 * keeps its own dup of every fd, so the caller may close its copy at any
 * time (DPDK closes a kickfd right after announcing that the vring stopped).
 *
 * Errors: 0 or -errno, with a cause in the struct cerr. No GLib.
 *
 * Threads: event_relay_add(), event_relay_remove() and event_relay_free()
 * are called by the owner (one thread at a time); the callback runs on the
 * relay thread, never concurrently with itself, and never after
 * event_relay_remove() of its key has returned. Stopping uses an eventfd in
 * the epoll set and a join, never pthread_cancel. */
#pragma once

#include <stdint.h>

#include "cerr.h"

/* two keys per vring (the ring relay watches an interrupt and a kick) */
#define EVENT_RELAY_MAX_KEYS 136u

struct event_relay;

/* Called once per read of a watched fd (one or more events collapsed). */
typedef void (*event_relay_fn)(void *opaque, unsigned key);

/* Start the thread, named @name (at most 15 characters are kept). */
int event_relay_new(const char *name, event_relay_fn fn, void *opaque,
		    struct event_relay **ret, struct cerr *e);

/* Watch @fd under @key (replacing what @key watched before). */
int event_relay_add(struct event_relay *r, unsigned key, int fd, struct cerr *e);

/* Stop watching @key; no callback for it runs once this returns. */
void event_relay_remove(struct event_relay *r, unsigned key);

/* Stop and join the thread, close every fd it holds. Accepts NULL. */
void event_relay_free(struct event_relay *r);

/* Kick relay: turns the frontend's kicks (a vring's kickfd becoming readable)
 * into doorbell writes, through a callback that knows the device. Used while
 * the frontend cannot write the VF's doorbell itself (no host notifier).
 *
 * Errors: 0 or -errno with a cause. No GLib.
 *
 * Threads: the owner (the port's control path) adds and removes vrings; the
 * doorbell callback runs on the relay thread, and no longer for a vring once
 * kick_relay_remove() of it has returned. */
#pragma once

#include "cerr.h"

struct kick_relay;

/* ring the doorbell of vring @qid */
typedef void (*kick_relay_notify_fn)(void *opaque, unsigned qid);

int kick_relay_new(const char *name, kick_relay_notify_fn notify, void *opaque,
		   struct kick_relay **ret, struct cerr *e);
/* relay kicks of vring @qid from @kickfd (the relay keeps its own dup) */
int kick_relay_add(struct kick_relay *k, unsigned qid, int kickfd, struct cerr *e);
void kick_relay_remove(struct kick_relay *k, unsigned qid);
/* stop and join; accepts NULL */
void kick_relay_free(struct kick_relay *k);

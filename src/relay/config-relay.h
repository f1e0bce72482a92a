/* Config-interrupt relay: owns the eventfd that MSI-X vector 0 (the VF's
 * configuration-change interrupt) is bound to, and calls a function for each
 * interrupt: for blk the port forwards it to the frontend as a vhost-user
 * config-change message, for net it only counts it.
 *
 * Errors: 0 or -errno with a cause. No GLib.
 *
 * Threads: created and freed by the port's control path; the callback runs
 * on the relay thread. The owner frees (joins) the relay while holding its
 * port's lock, so the callback must return within a bound of its own: it
 * may never wait for a peer, such as a frontend reading a message. */
#pragma once

#include "cerr.h"

struct config_relay;

typedef void (*config_relay_fn)(void *opaque);

int config_relay_new(const char *name, config_relay_fn fn, void *opaque,
		     struct config_relay **ret, struct cerr *e);
/* the eventfd to bind to the config vector; owned by the relay */
int config_relay_fd(const struct config_relay *c);
/* stop, join, close the eventfd; accepts NULL */
void config_relay_free(struct config_relay *c);

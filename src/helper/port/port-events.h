/* The hand-off of port state changes from the threads that make them (DPDK's
 * vhost threads, through the port state machine) to the GLib main loop,
 * which logs them and, later, publishes them on D-Bus. A mutex-protected
 * queue plus an eventfd that the main loop watches; plain C, no GLib.
 *
 * Threads: port_events_push() from any thread; port_events_pop() from the
 * main loop only. */
#pragma once

#include <stdbool.h>

#include "cerr.h"
#include "port-state.h"

#define PORT_REASON_MAX 1024u   /* a stop's timing breakdown fits (port-phases.h) */

struct port_event {
	unsigned port;
	enum port_state state;
	char reason[PORT_REASON_MAX];   /* "" when there is none */
	bool warning;                   /* something the operator should act on */
	bool refresh;                   /* no state, no reason: only what is read
					 * live changed (a vring's kick path);
					 * publish again, log nothing */
	bool log_only;                  /* a line for the log (reason); the state
					 * and what D-Bus shows stay as they are */
	bool detail;                    /* a timing breakdown: logged, never
					 * the port's reason */
	/* a fact the port publishes changed (a blk capacity), not its state:
	 * @reason says what, the state's own reason stays */
	bool info;
};

struct port_events;

int port_events_new(struct port_events **ret, struct cerr *e);
/* readable while events are queued */
int port_events_fd(const struct port_events *q);
/* never blocks on the consumer; drops the oldest event beyond a bound */
void port_events_push(struct port_events *q, const struct port_event *ev);
bool port_events_pop(struct port_events *q, struct port_event *ret);
void port_events_free(struct port_events *q);

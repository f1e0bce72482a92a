/* The avail side of the software live-migration relay: while the VF reads a
 * mediated avail ring, copy the buffers the guest makes available into it,
 * keep the guest kicking for every new buffer (the guest's used->flags and
 * avail_event are the relay's while it runs), decide whether the VF wants a
 * doorbell (honouring its NO_NOTIFY / avail_event in the mediated used
 * ring), and ask the VF for an interrupt at its next used entry (the
 * mediated avail's used_event / flags), so the relay learns of every used
 * entry whatever the guest's own interrupt suppression says.
 *
 * Why both rings are mediated: the VF decides when to interrupt from the
 * avail ring it reads. Were that the guest's, a guest that suppresses
 * interrupts while it polls (NAPI, EVENT_IDX) would also stop the relay, and
 * entries the VF published meanwhile would never reach it.
 *
 * Indices differ by a fixed @shift (guest index - VF index): 0 for a VF told
 * where to resume (ring-state words), the guest's index for a plain virtio
 * function, which restarts every ring at 0 after a reset. Guest entry i is
 * mediated entry i - shift, in slot (i - shift) mod size.
 *
 * A pure function over ring memory, like used-relay.h, whose callbacks it
 * shares (only the log callback is used: the guest's avail_event and flags
 * are in its used ring).
 *
 * Threads: a queue belongs to the one thread that relays it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "used-relay.h"

struct avail_relay_queue {
	uint16_t size;              /* power of two */
	bool event_idx;             /* VIRTIO_RING_F_EVENT_IDX negotiated */
	/* the guest's rings (helper addresses) and its used ring's GPA */
	struct vring_avail *guest_avail;
	struct vring_used *guest_used;
	uint64_t guest_used_gpa;
	/* the device's side */
	struct vring_avail *dev_avail;
	struct vring_used *dev_used;
	uint16_t next;              /* next guest avail entry to copy */
	uint16_t shift;             /* guest index - VF index */
};

struct avail_relay_result {
	unsigned entries;           /* avail entries copied */
	bool notify;                /* the device wants a doorbell */
};

/* Take over: copy the guest's avail ring and index to the device's, ask the
 * device to interrupt at its next used entry after @dev_used_idx, and ask
 * the guest to kick for every new buffer. The device queue must be stopped
 * (this writes guest fields the device owned). */
void avail_relay_start(struct avail_relay_queue *q, const struct used_relay_ops *ops,
		       uint16_t dev_used_idx);

/* Copy what the guest made available since the last run. Returns 0, or
 * -EINVAL when the guest's avail index is more than a ring ahead (nothing
 * copied then). */
int avail_relay_run(struct avail_relay_queue *q, const struct used_relay_ops *ops,
		    struct avail_relay_result *res, struct cerr *e);

/* Ask the device to interrupt when it publishes used entry @used_idx (the
 * next one after what was relayed; the VF's index). Returns the device's used index read
 * after asking: when it differs from @used_idx the device may already have
 * gone past without interrupting, so relay again. */
uint16_t avail_relay_arm_interrupt(struct avail_relay_queue *q, uint16_t used_idx);

/* Hand the guest's notification fields back before the device reads the
 * guest's rings again: the guest kicks for its next buffer. */
void avail_relay_stop(struct avail_relay_queue *q, const struct used_relay_ops *ops);

/* The software live-migration relay of one port: a thread that, for each
 * relayed vring, waits on the VF's interrupt (the vring's MSI-X vector is
 * bound to an eventfd the relay owns) and on the guest's kickfd.
 *
 *   VF interrupt -> used_relay_run(): used entries to the guest's ring, the
 *                   buffers and the ring logged, the guest called when it
 *                   asked (EVENT_IDX / NO_INTERRUPT); then the VF is asked
 *                   to interrupt at its next entry (avail_relay_arm_interrupt)
 *   guest kick   -> avail_relay_run(): new buffers to the mediated avail
 *                   ring, a doorbell when the VF asked for one
 *
 * Event-driven (epoll over eventfds, no polling), so its CPU use follows
 * the packet rate. Built on event-relay.h.
 *
 * A relayed vring goes through prepare (the VF queue stopped: the relay
 * takes over the guest's notification fields and fills the mediated avail
 * ring; returns the eventfd for the VF's vector) -> start (the VF queue
 * enabled: relaying begins with one pass) -> stop (no relay work for it once
 * this returns; start again resumes it, with new guest eventfds given by
 * set_fds meanwhile) -> finish (the VF queue stopped: a last pass relays what is
 * left, the guest is called if it asked, the guest's notification fields are
 * handed back, the fds closed).
 *
 * Errors: 0 or -errno with a cause. A ring the guest broke stops that
 * vring's relay (ops->error says why, once); the others go on.
 *
 * Threads: the owner (the port's control path, one call at a time) calls
 * everything here; the callbacks in struct ring_relay_ops run on the relay
 * thread, except that ring_relay_finish() logs and translates on the
 * owner's thread. Counters may be read from any thread. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cerr.h"

#define RING_RELAY_MAX_VRINGS 64u

struct ring_relay;

struct ring_relay_ops {
	/* host pointer for guest range [gpa, gpa+len), or NULL */
	void *(*translate)(void *opaque, uint64_t gpa, uint64_t len);
	/* the guest range [gpa, gpa+len) was written */
	void (*log)(void *opaque, uint64_t gpa, uint64_t len);
	/* ring vring @qid's doorbell: an MMIO write that must come after an
	 * I/O write barrier (io-barrier.h; ifcvf_hw_notify_queue() has it), as
	 * the relay orders its ring stores with CPU fences only */
	void (*doorbell)(void *opaque, unsigned qid);
	/* vring @qid's relay stopped: the guest broke its ring */
	void (*error)(void *opaque, unsigned qid, const char *msg);
	void *opaque;
	/* optional: the dirty log a 64-page word at a time, as in
	 * used_relay_ops (once per relay round instead of a log() per run of
	 * pages); NULL: log() only */
	void (*log_word)(void *opaque, uint64_t word, uint64_t bits);
};

struct ring_relay_vring {
	unsigned qid;
	uint16_t size;
	bool event_idx;
	/* the guest's rings in this process, and the used ring's GPA */
	void *desc;
	void *avail;
	void *used;
	uint64_t used_gpa;
	/* the mediated rings (mediated-ring.h) */
	void *dev_avail;
	void *dev_used;
	uint16_t used_idx;   /* the VF's used index (ring state) */
	uint16_t shift;      /* guest index - VF index (avail-relay.h) */
	int callfd;          /* the guest's call eventfd, or -1 (the relay dups it) */
	int kickfd;          /* the guest's kick eventfd, or -1 (the relay dups it) */
};

int ring_relay_new(const char *name, const struct ring_relay_ops *ops,
		   struct ring_relay **ret, struct cerr *e);
/* Stop and join the thread, finish what is left (without a last pass).
 * Accepts NULL. */
void ring_relay_free(struct ring_relay *r);

int ring_relay_prepare(struct ring_relay *r, const struct ring_relay_vring *v, int *ret_irqfd,
		       struct cerr *e);
int ring_relay_start(struct ring_relay *r, unsigned qid, struct cerr *e);
void ring_relay_stop(struct ring_relay *r, unsigned qid);
/* A stopped vring's guest eventfds change (a new callfd or kickfd; -1:
 * none); start it again to go on where it stopped. */
int ring_relay_set_fds(struct ring_relay *r, unsigned qid, int callfd, int kickfd, struct cerr *e);
/* Returns the entries relayed by the last pass, or -errno (the vring is
 * forgotten either way). */
int ring_relay_finish(struct ring_relay *r, unsigned qid, struct cerr *e);

/* vrings prepared and not finished */
unsigned ring_relay_count(const struct ring_relay *r);
/* used entries relayed, kicks relayed, guest calls, errors: all vrings */
uint64_t ring_relay_entries(const struct ring_relay *r);
uint64_t ring_relay_kicks(const struct ring_relay *r);
uint64_t ring_relay_calls(const struct ring_relay *r);
uint64_t ring_relay_errors(const struct ring_relay *r);

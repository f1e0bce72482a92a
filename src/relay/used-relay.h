/* The ring-relay core of software-assisted live migration: copy the used
 * entries the VF wrote into a mediated used ring over to the guest's used
 * ring, log every guest page that changed (the used chains' device-writable
 * buffers, whole: a device may write more than the used length it reports,
 * so the length bounds nothing; used elements, used->idx, flags,
 * avail_event), publish used->idx with release ordering, and say whether
 * the guest wants an interrupt.
 *
 * A pure function over ring memory: guest addresses go through a translate
 * callback, dirty pages through a log callback, so crafted rings can test it
 * and a fuzzer can drive it. Everything the guest controls (descriptor
 * chains, indirect tables, flags, event indices) is checked; a bad ring is a
 * clear error, never a write outside the rings or a loop.
 *
 * Threads: a relay state belongs to the one thread that relays its queue. */
#pragma once

#include <linux/virtio_ring.h>
#include <stdbool.h>
#include <stdint.h>

#include "cerr.h"

struct used_relay_ops {
	/* host pointer for guest range [gpa, gpa+len), or NULL when the range
	 * is not all inside guest memory */
	void *(*translate)(void *opaque, uint64_t gpa, uint64_t len);
	/* the guest range [gpa, gpa+len) was written */
	void (*log)(void *opaque, uint64_t gpa, uint64_t len);
	void *opaque;
	/* Optional: the pages set in @bits of 64-page word @word (page n is
	 * guest bytes [n*4096, n*4096+4096), bit n%64 of word n/64: vhost-user's
	 * log layout read as little-endian 64-bit words) were written. With it
	 * used_relay_run() hands its pages over a word at a time, once per
	 * round; without it, each run of consecutive pages goes to log(). */
	void (*log_word)(void *opaque, uint64_t word, uint64_t bits);
};

struct used_relay_queue {
	uint16_t size;                   /* power of two */
	bool event_idx;                  /* VIRTIO_RING_F_EVENT_IDX negotiated */
	/* the guest's ring, in helper memory, and the used ring's GPA for logging */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint64_t used_gpa;
	/* the device's side */
	struct vring_used *mediated;
	uint16_t last;                   /* next mediated entry to relay (VF index) */
	/* guest index - VF index: mediated entry i is the guest's entry
	 * i + shift (avail-relay.h says when it is not 0) */
	uint16_t shift;
	/* the caller owns the guest's used->flags and avail_event (the device
	 * reads a mediated avail ring, so its kick wishes are not the guest's):
	 * leave them alone instead of copying the device's */
	bool own_notify;
};

struct used_relay_result {
	unsigned entries;        /* used entries relayed */
	uint64_t bytes_logged;   /* device-writable buffer bytes logged (whole descriptors) */
	bool interrupt;          /* the guest asked to be told */
};

/* Relay at most @budget entries. Every page it dirtied (buffers, used
 * elements, flags, avail_event, used->idx) is logged once, after the
 * round's writes and before it returns. Returns 0, or -EINVAL/-EFAULT/-ELOOP with
 * a message naming the entry and the fault; entries before the bad one
 * have been relayed and published. */
int used_relay_run(struct used_relay_queue *q, const struct used_relay_ops *ops,
		   unsigned budget, struct used_relay_result *res, struct cerr *e);

/* Log the whole used ring (size*8 + 6 bytes and avail_event), as at stop. */
void used_relay_log_used_ring(const struct used_relay_queue *q, const struct used_relay_ops *ops);

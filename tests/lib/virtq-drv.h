/* The driver side of one split virtqueue, for tests and benchmarks that act
 * as a guest: lays out desc/avail/used rings in vu_guest_mem, adds chains,
 * kicks (respecting NO_NOTIFY / avail_event) and reaps used entries.
 * Written independently of the emulator's device-side ring code.
 *
 * Plain C. Threads: one thread drives a queue. */
#pragma once

#include <linux/virtio_ring.h>
#include <stdbool.h>
#include <stdint.h>

#include "cerr.h"
#include "vu-frontend.h"

struct virtq_drv {
	unsigned index;
	uint16_t size;
	bool event_idx;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t avail_idx;       /* next avail->idx to publish */
	uint16_t last_used;       /* next used entry to reap */
	uint16_t free_head;
	uint16_t num_free;
	uint16_t *next_free;      /* free list links */
	uint16_t *chain_len;      /* descriptors per head in use */
	int kickfd;
	int callfd;
	uint64_t kicks;
	/* the kick itself: NULL writes kickfd; a frontend with host notifiers
	 * writes the doorbell page (vu_frontend_kick_through()) */
	struct vu_frontend *notify_fe;
};

struct virtq_buf {
	uint64_t gpa;
	uint32_t len;
	bool device_writes;
};

int virtq_drv_init(struct virtq_drv *q, struct vu_guest_mem *mem, unsigned index,
		   uint16_t size, bool event_idx, struct cerr *e);
void virtq_drv_fini(struct virtq_drv *q);

/* Add one chain of @n buffers; returns its head id or -ENOSPC. With
 * @indirect the buffers go into an indirect table allocated in @mem. */
int virtq_drv_add(struct virtq_drv *q, struct vu_guest_mem *mem, const struct virtq_buf *bufs,
		  unsigned n, bool indirect);
/* Publish added chains; kick when the device wants it. Returns 1 if kicked. */
int virtq_drv_kick(struct virtq_drv *q);
/* Reap one used entry: 1 with its id and len, 0 when none. Frees the chain. */
int virtq_drv_get_used(struct virtq_drv *q, uint32_t *id, uint32_t *len);
/* Ask for an interrupt after the next used entry (event_idx) or always. */
void virtq_drv_enable_interrupts(struct virtq_drv *q);
void virtq_drv_disable_interrupts(struct virtq_drv *q);
/* Wait up to @timeout_ms for the call eventfd; 1 fired, 0 timed out. */
int virtq_drv_wait_call(struct virtq_drv *q, int timeout_ms);

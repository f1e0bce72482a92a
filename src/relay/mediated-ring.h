/* The mediated rings of software live migration: the avail and used rings
 * the VF reads and writes instead of the guest's while the helper relays a
 * vring (the descriptor table stays the guest's). Backed by a memfd, so a
 * vfio-user server can map them (its DMA map wants an fd).
 *
 * Layout for a split ring of n entries, page-aligned pieces:
 *   0                     avail ring: flags, idx, ring[n], used_event
 *   MEDIATED_RING_USED    used ring:  flags, idx, ring[n], avail_event
 * with MEDIATED_RING_USED = the avail ring's size rounded up to a page.
 *
 * Errors: 0 or -errno with a cause. No GLib.
 * Threads: created and freed by the port's control path; the rings inside
 * are shared with the VF and the ring relay thread (see ring-relay.h). */
#pragma once

#include <linux/virtio_ring.h>
#include <stdint.h>

#include "cerr.h"

/* the IOVA span one mediated ring may take, whatever its size (32768
 * entries need 0x52000 bytes) */
#define MEDIATED_RING_STRIDE 0x100000ull

struct mediated_ring {
	int fd;                 /* memfd, size @size */
	void *base;             /* mapped here */
	uint64_t size;          /* bytes, a page multiple */
	uint16_t qsize;         /* ring entries */
	uint64_t used_off;      /* offset of the used ring */
	struct vring_avail *avail;
	struct vring_used *used;
};

/* A zeroed mediated ring of @qsize entries (a power of two, at most 32768). */
int mediated_ring_new(uint16_t qsize, struct mediated_ring **ret, struct cerr *e);
/* Unmap, close, free; accepts NULL. */
void mediated_ring_free(struct mediated_ring *m);

/* Bytes of a split used ring of @qsize entries, avail_event included. */
uint64_t mediated_used_ring_len(uint16_t qsize);

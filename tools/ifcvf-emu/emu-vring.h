/* Device side of a split virtqueue (virtio 1.x §2.7, <linux/virtio_ring.h>
 * layout): map the three rings through the DMA table, read avail->idx with
 * acquire ordering, walk descriptor chains (NEXT, INDIRECT tables, no nested
 * tables) into segments of guest memory, write used elements and publish
 * used->idx with release ordering, and the notification handshake both ways
 * (EVENT_IDX, or VRING_USED_F_NO_NOTIFY / VRING_AVAIL_F_NO_INTERRUPT).
 * Packed rings are not implemented (the VF does not offer them).
 *
 * Every guest address is checked against the DMA maps for its full length;
 * a buffer may span adjacent mappings (it becomes several segments), a ring
 * or an indirect table may not. Faults come back as -errno plus a struct
 * emu_fault naming the address; nothing here stops a queue or prints.
 * Every device write into guest memory is logged when @log is not NULL.
 *
 * Threads: the datapath's thread. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <linux/virtio_ring.h>

#include "emu-dirty.h"
#include "emu-dma.h"
#include "emu-virtio.h"

struct emu_seg {
	uint8_t *ptr;
	uint64_t iova;
	uint32_t len;
};

/* Segments of one or more chains, filled by emu_vring_walk(). */
struct emu_walk {
	struct emu_seg *segs;
	unsigned max;
	unsigned n;
	uint64_t bytes;      /* sum of the segments' lengths */
};

struct emu_fault {
	uint64_t iova;
	uint64_t len;
	char what[160];      /* lower-case, names the structure */
};

struct emu_vring {
	struct emu_vq *vq;              /* registers and last_avail/last_used */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t size;
	bool mapped;                    /* pointers valid while dma_gen matches */
	uint64_t dma_gen;
	bool event_idx;
	uint16_t avail_idx;             /* avail->idx as last read */
	bool notify_on;                 /* the driver was asked to kick */
	bool armed;                     /* ... by us, at avail_idx, and no chain was
					 * taken since: asking again changes nothing */
	bool signalled_valid;
	uint16_t signalled_used;        /* used idx at the last interrupt decision */
};

/* Forget everything (queue enabled again, or reset). */
void emu_vring_init(struct emu_vring *r, struct emu_vq *vq, bool event_idx);

/* Map the rings if not mapped for the current DMA table. */
int emu_vring_ready(struct emu_vring *r, struct emu_dma *dma, struct emu_fault *f);

/* Chains ready past last_avail (avail->idx read with acquire); -EINVAL when
 * the index moved by more than the ring size, or went back below what an
 * earlier call read. */
int emu_vring_avail(struct emu_vring *r, struct emu_fault *f);

/* Chains past last_avail as of the last emu_vring_avail() (no access to
 * the ring: the driver never takes a chain back). */
static inline int emu_vring_known(const struct emu_vring *r)
{
	return (uint16_t)(r->avail_idx - r->vq->last_avail);
}

/* Head of the chain @ahead entries past last_avail. */
uint16_t emu_vring_head(const struct emu_vring *r, unsigned ahead);

/* Warm the caches for chains further ahead (up to @known past last_avail,
 * all posted): the descriptor of the one EMU_VRING_AHEAD on, and the first
 * buffer of the one half as far (for the device to write when @writable).
 * Reads the rings only; a chain that looks odd is left alone. */
#define EMU_VRING_AHEAD 8u
void emu_vring_prefetch(struct emu_vring *r, struct emu_dma *dma, unsigned known, bool writable);

/* Append the segments of chain @head that the device may write (@writable)
 * or read to @w. -EFAULT (address outside the maps), -ELOOP (chain longer
 * than the ring, or a loop), -EINVAL (bad index or indirect table), -ENOSPC
 * (@w is full). Descriptors of the other direction are skipped. */
int emu_vring_walk(struct emu_vring *r, struct emu_dma *dma, uint16_t head, bool writable,
		   struct emu_walk *w, struct emu_fault *f);

/* Write used element {head, len} at last_used and advance last_used and
 * last_avail (a net VF consumes chains in order and never holds one). */
void emu_vring_push(struct emu_vring *r, uint16_t head, uint32_t len, struct emu_dirty *log);

/* The same in two steps, for a device that completes out of order (blk):
 * take the chain at last_avail (advance last_avail only), and later write
 * used element {head, len} at last_used (advance last_used only). */
void emu_vring_take(struct emu_vring *r);
void emu_vring_push_used(struct emu_vring *r, uint16_t head, uint32_t len, struct emu_dirty *log);

/* used->idx = last_used with release ordering. */
void emu_vring_publish(struct emu_vring *r, struct emu_dirty *log);

/* After a publish: does the driver want an interrupt for what was added
 * since the last decision? (EVENT_IDX: used_event crossed; otherwise no
 * VRING_AVAIL_F_NO_INTERRUPT.) */
bool emu_vring_need_interrupt(struct emu_vring *r);

/* Ask the driver to kick on new buffers (true) or to stop kicking (false).
 * Asking again re-arms EVENT_IDX at the current avail index. Returns true
 * when, after asking for kicks, buffers turn out to be there already. */
bool emu_vring_set_notify(struct emu_vring *r, bool on, struct emu_dirty *log);

/* IOVA of used->idx etc., for logging by the caller. */
static inline uint64_t emu_vring_used_iova(const struct emu_vring *r)
{
	return r->vq->used;
}

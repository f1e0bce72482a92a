/* Hardware dirty logging of the emulated VF (reference §3.3): while BAR4
 * LOGGING_CTRL has bit 0 set, every byte range the device writes into guest
 * memory sets bit (iova >> 12) of the vhost log bitmap at IOVA [base, end)
 * (page N is bit N % 8 of byte N / 8), with an atomic OR since the frontend
 * reads and clears the bitmap concurrently. Pages past the bitmap are not
 * logged (counted). The bitmap is reached through the DMA maps like any
 * other guest memory: a range that is not mapped is a device error of the
 * queue that wanted to log.
 *
 * Threads: the datapath's thread (the main loop). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "emu-dma.h"
#include "emu-virtio.h"

#define EMU_DIRTY_PAGE_SHIFT 12u

struct emu_dirty {
	bool resolved;             /* bitmap valid for base/end/dma_gen */
	uint64_t base, end;
	uint64_t dma_gen;
	uint8_t *bitmap;
	uint64_t bytes;
	uint64_t pages_marked;     /* bits set (a page written twice counts twice) */
	uint64_t out_of_range;     /* writes to pages the bitmap does not cover */
};

/* Is logging switched on in the BAR4 registers? */
bool emu_dirty_enabled(const struct emu_lm *lm);

/* Resolve the bitmap for the current registers (cached). Returns 0, or
 * -EFAULT with the range that is not mapped in @ret_iova/@ret_len. */
int emu_dirty_prepare(struct emu_dirty *d, const struct emu_lm *lm, struct emu_dma *dma,
		      uint64_t *ret_iova, uint64_t *ret_len);

/* Log a device write of @len bytes at @iova; emu_dirty_prepare() succeeded
 * since the last DMA map change. */
void emu_dirty_mark(struct emu_dirty *d, uint64_t iova, uint64_t len);

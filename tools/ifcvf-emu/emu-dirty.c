/* Dirty page log written by the device (see emu-dirty.h). */
#include "emu-dirty.h"

#include <errno.h>

bool emu_dirty_enabled(const struct emu_lm *lm)
{
	return lm->present && (lm->logging_ctrl & 1u);
}

int emu_dirty_prepare(struct emu_dirty *d, const struct emu_lm *lm, struct emu_dma *dma,
		      uint64_t *ret_iova, uint64_t *ret_len)
{
	uint64_t base = (uint64_t)lm->base_hi << 32 | lm->base_lo;
	uint64_t end = (uint64_t)lm->end_hi << 32 | lm->end_lo;

	if (d->resolved && d->base == base && d->end == end && d->dma_gen == dma->gen)
		return 0;
	d->resolved = false;
	d->base = base;
	d->end = end;
	*ret_iova = base;
	*ret_len = end > base ? end - base : 0;
	if (end <= base)
		return -EFAULT;
	d->bitmap = emu_dma_translate(dma, base, end - base, EMU_DMA_WRITE | EMU_DMA_READ);
	if (!d->bitmap)
		return -EFAULT;
	d->bytes = end - base;
	d->dma_gen = dma->gen;
	d->resolved = true;
	return 0;
}

void emu_dirty_mark(struct emu_dirty *d, uint64_t iova, uint64_t len)
{
	uint64_t first, last;

	if (!d->resolved || len == 0)
		return;
	first = iova >> EMU_DIRTY_PAGE_SHIFT;
	last = (iova + len - 1) >> EMU_DIRTY_PAGE_SHIFT;
	for (uint64_t page = first; page <= last; page++) {
		if (page / 8 >= d->bytes) {
			d->out_of_range += last - page + 1;
			return;
		}
		__atomic_fetch_or(&d->bitmap[page / 8], (uint8_t)(1u << (page % 8)),
				  __ATOMIC_RELAXED);
		d->pages_marked++;
	}
}

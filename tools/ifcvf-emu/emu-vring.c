/* Split virtqueue, device side (see emu-vring.h). */
#include "emu-vring.h"

#include <endian.h>
#include <stdarg.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define DESC_SIZE 16u

static int fault(struct emu_fault *f, int err, uint64_t iova, uint64_t len, const char *fmt,
		 ...) __attribute__((format(printf, 5, 6)));

static int fault(struct emu_fault *f, int err, uint64_t iova, uint64_t len, const char *fmt, ...)
{
	va_list ap;

	f->iova = iova;
	f->len = len;
	va_start(ap, fmt);
	vsnprintf(f->what, sizeof(f->what), fmt, ap);
	va_end(ap);
	return -err;
}

void emu_vring_init(struct emu_vring *r, struct emu_vq *vq, bool event_idx)
{
	memset(r, 0, sizeof(*r));
	r->vq = vq;
	r->event_idx = event_idx;
	r->avail_idx = vq->last_avail;
	/* interrupt exactly when used_event is crossed from here on */
	r->signalled_used = vq->last_used;
	r->signalled_valid = true;
	/* until told otherwise the driver kicks for every buffer (zeroed ring) */
	r->notify_on = true;
}

static void *map_ring(struct emu_dma *dma, uint64_t iova, uint64_t len, unsigned align,
		      uint32_t prot, const char *name, struct emu_fault *f, int *err)
{
	void *p;

	if (iova % align) {
		*err = fault(f, EINVAL, iova, len, "%s ring is not %u-byte aligned", name, align);
		return NULL;
	}
	p = emu_dma_translate(dma, iova, len, prot);
	if (!p)
		*err = fault(f, EFAULT, iova, len, "%s ring (0x%" PRIx64 " bytes) is outside the DMA maps",
			     name, len);
	return p;
}

int emu_vring_ready(struct emu_vring *r, struct emu_dma *dma, struct emu_fault *f)
{
	struct emu_vq *vq = r->vq;
	uint64_t n;
	int err = 0;

	if (r->mapped && r->dma_gen == dma->gen)
		return 0;
	r->mapped = false;
	n = vq->size;
	r->desc = map_ring(dma, vq->desc, DESC_SIZE * n, 16, EMU_DMA_READ, "descriptor", f, &err);
	if (!r->desc)
		return err;
	/* flags, idx, ring[n], used_event */
	r->avail = map_ring(dma, vq->avail, 6 + 2 * n, 2, EMU_DMA_READ, "available", f, &err);
	if (!r->avail)
		return err;
	/* flags, idx, ring[n], avail_event */
	r->used = map_ring(dma, vq->used, 6 + 8 * n, 4, EMU_DMA_READ | EMU_DMA_WRITE, "used", f,
			   &err);
	if (!r->used)
		return err;
	r->size = vq->size;
	r->dma_gen = dma->gen;
	r->mapped = true;
	return 0;
}

int emu_vring_avail(struct emu_vring *r, struct emu_fault *f)
{
	uint16_t idx = le16toh(__atomic_load_n(&r->avail->idx, __ATOMIC_ACQUIRE));
	uint16_t n = (uint16_t)(idx - r->vq->last_avail);

	if (n > r->size)
		return fault(f, EINVAL, r->vq->avail + 2, 2,
			     "available index moved from %u to %u, more than the ring size %u",
			     r->vq->last_avail, idx, r->size);
	/* the driver only ever adds chains: an index below one read before
	 * would take back chains the device may already hold (a caller
	 * walking up to the count it knew would run past what is posted) */
	if (n < emu_vring_known(r))
		return fault(f, EINVAL, r->vq->avail + 2, 2,
			     "available index went back from %u to %u", r->avail_idx, idx);
	r->avail_idx = idx;
	return n;
}

uint16_t emu_vring_head(const struct emu_vring *r, unsigned ahead)
{
	uint16_t slot = (uint16_t)(r->vq->last_avail + ahead) & (uint16_t)(r->size - 1);

	return le16toh(__atomic_load_n(&r->avail->ring[slot], __ATOMIC_RELAXED));
}

/* Ask for a line in a state to be written: the driver's core has it (the
 * previous frame was read there), and a plain prefetch would fetch it shared
 * and leave the store to take it over again. */
static inline void prefetch_write(const void *p)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
#else
	__builtin_prefetch(p, 1);
#endif
}

void emu_vring_prefetch(struct emu_vring *r, struct emu_dma *dma, unsigned known, bool writable)
{
	const unsigned half = EMU_VRING_AHEAD / 2;
	uint16_t head;

	if (known > EMU_VRING_AHEAD) {
		head = emu_vring_head(r, EMU_VRING_AHEAD);
		if (head < r->size)
			__builtin_prefetch(&r->desc[head], 0);
	}
	if (known > half) {
		struct vring_desc d;
		uint64_t room;
		uint8_t *p;

		head = emu_vring_head(r, half);
		if (head >= r->size)
			return;
		memcpy(&d, &r->desc[head], sizeof(d));
		if (le16toh(d.flags) & VRING_DESC_F_INDIRECT ||
		    !!(le16toh(d.flags) & VRING_DESC_F_WRITE) != writable)
			return;
		p = emu_dma_lookup(dma, le64toh(d.addr), writable ? EMU_DMA_WRITE : EMU_DMA_READ,
				   &room);
		if (p && writable) {
			prefetch_write(p);
			if (room > 64 && le32toh(d.len) > 64)
				prefetch_write(p + 64);
		} else if (p) {
			__builtin_prefetch(p, 0);
		}
	}
}

static int add_segments(struct emu_dma *dma, uint64_t addr, uint32_t len, bool writable,
			struct emu_walk *w, uint16_t idx, struct emu_fault *f)
{
	uint32_t prot = writable ? EMU_DMA_WRITE : EMU_DMA_READ;
	uint64_t iova = addr;
	uint32_t left = len;

	if (addr + len < addr)
		return fault(f, EFAULT, addr, len, "descriptor %u wraps the address space", idx);
	while (left) {
		uint64_t room;
		uint8_t *p = emu_dma_lookup(dma, iova, prot, &room);
		uint32_t piece;

		if (!p)
			return fault(f, EFAULT, iova, left,
				     "buffer of descriptor %u (0x%" PRIx64 "+0x%x) is outside the "
				     "DMA maps%s", idx, addr, len, writable ? " or not writable" : "");
		if (w->n >= w->max)
			return fault(f, ENOSPC, iova, left, "more than %u buffer segments", w->max);
		piece = room < left ? (uint32_t)room : left;
		w->segs[w->n++] = (struct emu_seg){ .ptr = p, .iova = iova, .len = piece };
		w->bytes += piece;
		iova += piece;
		left -= piece;
	}
	return 0;
}

int emu_vring_walk(struct emu_vring *r, struct emu_dma *dma, uint16_t head, bool writable,
		   struct emu_walk *w, struct emu_fault *f)
{
	const struct vring_desc *table = r->desc;
	uint64_t table_iova = r->vq->desc;
	unsigned table_n = r->size, count = 0;
	bool indirect = false;
	uint16_t idx = head;

	for (;;) {
		struct vring_desc d;
		uint16_t flags;
		int err;

		if (idx >= table_n)
			return fault(f, EINVAL, table_iova, 0, "%sdescriptor index %u is outside the "
				     "%s of %u", indirect ? "indirect " : "", idx,
				     indirect ? "table" : "ring", table_n);
		/* one copy: the driver may change the descriptor under us */
		memcpy(&d, &table[idx], sizeof(d));
		flags = le16toh(d.flags);
		if (++count > r->size)
			return fault(f, ELOOP, table_iova + (uint64_t)idx * DESC_SIZE, DESC_SIZE,
				     "descriptor chain from head %u is longer than the ring size "
				     "%u (a loop?)", head, r->size);
		if (flags & VRING_DESC_F_INDIRECT) {
			uint32_t len = le32toh(d.len);
			uint64_t addr = le64toh(d.addr);

			if (indirect)
				return fault(f, EINVAL, addr, len, "nested indirect table in the "
					     "chain from head %u", head);
			if (flags & VRING_DESC_F_NEXT)
				return fault(f, EINVAL, addr, len, "descriptor %u has both INDIRECT "
					     "and NEXT", idx);
			if (len == 0 || len % DESC_SIZE)
				return fault(f, EINVAL, addr, len, "indirect table of descriptor %u "
					     "has length %u, not a multiple of 16", idx, len);
			if (addr % DESC_SIZE)
				return fault(f, EINVAL, addr, len, "indirect table of descriptor %u "
					     "is not 16-byte aligned", idx);
			table = emu_dma_translate(dma, addr, len, EMU_DMA_READ);
			if (!table)
				return fault(f, EFAULT, addr, len, "indirect table of descriptor %u "
					     "(0x%x bytes) is outside the DMA maps", idx, len);
			table_iova = addr;
			table_n = len / DESC_SIZE;
			indirect = true;
			idx = 0;
			/* the chain's length is what the table holds */
			count--;
			continue;
		}
		if (!!(flags & VRING_DESC_F_WRITE) == writable && d.len) {
			err = add_segments(dma, le64toh(d.addr), le32toh(d.len), writable, w, idx, f);
			if (err < 0)
				return err;
		}
		if (!(flags & VRING_DESC_F_NEXT))
			return 0;
		idx = le16toh(d.next);
	}
}

void emu_vring_take(struct emu_vring *r)
{
	r->vq->last_avail++;
	r->armed = false;
}

void emu_vring_push_used(struct emu_vring *r, uint16_t head, uint32_t len, struct emu_dirty *log)
{
	struct emu_vq *vq = r->vq;
	uint16_t slot = vq->last_used & (uint16_t)(r->size - 1);
	struct vring_used_elem *e = &r->used->ring[slot];

	e->id = htole32(head);
	e->len = htole32(len);
	if (log)
		emu_dirty_mark(log, vq->used + 4 + 8ull * slot, 8);
	vq->last_used++;
}

void emu_vring_push(struct emu_vring *r, uint16_t head, uint32_t len, struct emu_dirty *log)
{
	emu_vring_take(r);
	emu_vring_push_used(r, head, len, log);
}

void emu_vring_publish(struct emu_vring *r, struct emu_dirty *log)
{
	__atomic_store_n(&r->used->idx, htole16(r->vq->last_used), __ATOMIC_RELEASE);
	if (log)
		emu_dirty_mark(log, r->vq->used + 2, 2);
}

bool emu_vring_need_interrupt(struct emu_vring *r)
{
	uint16_t now = r->vq->last_used, old = r->signalled_used, ev;
	bool valid = r->signalled_valid;

	/* the used->idx store must be visible before we read the driver's
	 * wish, or both sides may decide nobody needs to act */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!r->event_idx)
		return !(le16toh(__atomic_load_n(&r->avail->flags, __ATOMIC_RELAXED)) &
			 VRING_AVAIL_F_NO_INTERRUPT);
	r->signalled_used = now;
	r->signalled_valid = true;
	ev = le16toh(__atomic_load_n(&r->avail->ring[r->size], __ATOMIC_RELAXED));
	return !valid || vring_need_event(ev, now, old);
}

bool emu_vring_set_notify(struct emu_vring *r, bool on, struct emu_dirty *log)
{
	uint16_t idx;

	if (!on) {
		/* with EVENT_IDX the avail_event we left behind is already passed:
		 * the driver kicks no more, nothing to write */
		if (r->notify_on && !r->event_idx) {
			__atomic_store_n(&r->used->flags, htole16(VRING_USED_F_NO_NOTIFY),
					 __ATOMIC_RELAXED);
			if (log)
				emu_dirty_mark(log, r->vq->used, 2);
		}
		r->notify_on = false;
		r->armed = false;
		return false;
	}
	if (r->event_idx) {
		uint16_t *avail_event = (uint16_t *)&r->used->ring[r->size];

		__atomic_store_n(avail_event, htole16(r->avail_idx), __ATOMIC_RELAXED);
		if (log)
			emu_dirty_mark(log, r->vq->used + 4 + 8ull * r->size, 2);
	} else if (!r->notify_on) {
		__atomic_store_n(&r->used->flags, 0, __ATOMIC_RELAXED);
		if (log)
			emu_dirty_mark(log, r->vq->used, 2);
	}
	r->notify_on = true;
	r->armed = true;
	/* the driver checks our flag after publishing avail->idx; we check its
	 * index after publishing the flag */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	idx = le16toh(__atomic_load_n(&r->avail->idx, __ATOMIC_ACQUIRE));
	return idx != r->avail_idx;
}

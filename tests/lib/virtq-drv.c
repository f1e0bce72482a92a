#include "virtq-drv.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* the event-index words sit right after each ring (virtio 1.x 2.7.10) */
static volatile uint16_t *used_event(struct virtq_drv *q)
{
	return (volatile uint16_t *)((uint8_t *)q->avail + 4 + 2u * q->size);
}

static volatile uint16_t *avail_event(struct virtq_drv *q)
{
	return (volatile uint16_t *)((uint8_t *)q->used + 4 + 8u * q->size);
}

int virtq_drv_init(struct virtq_drv *q, struct vu_guest_mem *mem, unsigned index,
		   uint16_t size, bool event_idx, struct cerr *e)
{
	memset(q, 0, sizeof(*q));
	q->kickfd = q->callfd = -1;
	if (size == 0 || (size & (size - 1)))
		return cerr_set(e, EINVAL, "queue size %u is not a power of two", size);
	q->index = index;
	q->size = size;
	q->event_idx = event_idx;
	q->desc_gpa = vu_guest_mem_alloc(mem, 16ull * size, 4096);
	q->avail_gpa = vu_guest_mem_alloc(mem, 6 + 2ull * size, 2);
	q->used_gpa = vu_guest_mem_alloc(mem, 6 + 8ull * size, 4096);
	if (!q->desc_gpa || !q->avail_gpa || !q->used_gpa)
		return cerr_set(e, ENOMEM, "guest memory is too small for queue %u", index);
	q->desc = vu_gpa(mem, q->desc_gpa);
	q->avail = vu_gpa(mem, q->avail_gpa);
	q->used = vu_gpa(mem, q->used_gpa);
	q->next_free = calloc(size, sizeof(uint16_t));
	q->chain_len = calloc(size, sizeof(uint16_t));
	if (!q->next_free || !q->chain_len) {
		virtq_drv_fini(q);
		return cerr_set(e, ENOMEM, "out of memory");
	}
	for (uint16_t i = 0; i < size; i++)
		q->next_free[i] = (uint16_t)(i + 1);
	q->num_free = size;
	q->kickfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	q->callfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->kickfd < 0 || q->callfd < 0) {
		int err = errno;

		virtq_drv_fini(q);
		return cerr_set(e, err, "eventfd: %s", strerror(err));
	}
	return 0;
}

void virtq_drv_fini(struct virtq_drv *q)
{
	free(q->next_free);
	free(q->chain_len);
	q->next_free = q->chain_len = NULL;
	if (q->kickfd >= 0)
		close(q->kickfd);
	if (q->callfd >= 0)
		close(q->callfd);
	q->kickfd = q->callfd = -1;
}

static uint16_t take_desc(struct virtq_drv *q)
{
	uint16_t d = q->free_head;

	q->free_head = q->next_free[d];
	q->num_free--;
	return d;
}

int virtq_drv_add(struct virtq_drv *q, struct vu_guest_mem *mem, const struct virtq_buf *bufs,
		  unsigned n, bool indirect)
{
	uint16_t head, prev = 0;

	if (n == 0 || q->num_free < (indirect ? 1 : n))
		return -ENOSPC;
	if (indirect) {
		uint64_t gpa = vu_guest_mem_alloc(mem, 16ull * n, 16);
		struct vring_desc *table;

		if (!gpa)
			return -ENOMEM;
		table = vu_gpa(mem, gpa);
		for (unsigned i = 0; i < n; i++) {
			table[i].addr = bufs[i].gpa;
			table[i].len = bufs[i].len;
			table[i].flags = (uint16_t)((bufs[i].device_writes ? VRING_DESC_F_WRITE : 0) |
						    (i + 1 < n ? VRING_DESC_F_NEXT : 0));
			table[i].next = (uint16_t)(i + 1 < n ? i + 1 : 0);
		}
		head = take_desc(q);
		q->desc[head].addr = gpa;
		q->desc[head].len = (uint32_t)(16 * n);
		q->desc[head].flags = VRING_DESC_F_INDIRECT;
		q->desc[head].next = 0;
		q->chain_len[head] = 1;
	} else {
		head = 0;
		for (unsigned i = 0; i < n; i++) {
			uint16_t d = take_desc(q);

			if (i == 0)
				head = d;
			else
				q->desc[prev].next = d;
			q->desc[d].addr = bufs[i].gpa;
			q->desc[d].len = bufs[i].len;
			q->desc[d].flags = (uint16_t)((bufs[i].device_writes ? VRING_DESC_F_WRITE : 0) |
						      (i + 1 < n ? VRING_DESC_F_NEXT : 0));
			prev = d;
		}
		q->chain_len[head] = (uint16_t)n;
	}
	q->avail->ring[q->avail_idx & (q->size - 1)] = head;
	q->avail_idx++;
	return head;
}

int virtq_drv_kick(struct virtq_drv *q)
{
	uint16_t old = q->avail->idx;
	bool need;

	__atomic_store_n(&q->avail->idx, q->avail_idx, __ATOMIC_RELEASE);
	/* the store above must be visible before we read the device's wish */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (q->event_idx) {
		uint16_t event = *avail_event(q);

		need = (uint16_t)(q->avail_idx - event - 1) < (uint16_t)(q->avail_idx - old);
	} else {
		need = !(__atomic_load_n(&q->used->flags, __ATOMIC_ACQUIRE) & VRING_USED_F_NO_NOTIFY);
	}
	if (!need)
		return 0;
	q->kicks++;
	if (q->notify_fe)
		return vu_frontend_kick(q->notify_fe, q->index, q->kickfd) < 0 ? -EIO : 1;
	return eventfd_write(q->kickfd, 1) == 0 ? 1 : -errno;
}

int virtq_drv_get_used(struct virtq_drv *q, uint32_t *id, uint32_t *len)
{
	uint16_t used_idx = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
	struct vring_used_elem *el;
	uint16_t d;

	if (used_idx == q->last_used)
		return 0;
	el = &q->used->ring[q->last_used & (q->size - 1)];
	*id = el->id;
	*len = el->len;
	q->last_used++;
	if (*id >= q->size || q->chain_len[*id] == 0)
		return -EPROTO;
	/* return the chain to the free list */
	d = (uint16_t)*id;
	for (uint16_t i = 0; i < q->chain_len[*id]; i++) {
		uint16_t next = q->desc[d].next;

		q->next_free[d] = q->free_head;
		q->free_head = d;
		q->num_free++;
		d = next;
	}
	q->chain_len[*id] = 0;
	if (q->event_idx)
		*used_event(q) = q->last_used;
	return 1;
}

void virtq_drv_enable_interrupts(struct virtq_drv *q)
{
	if (q->event_idx)
		*used_event(q) = q->last_used;
	else
		__atomic_store_n(&q->avail->flags, 0, __ATOMIC_RELEASE);
}

void virtq_drv_disable_interrupts(struct virtq_drv *q)
{
	if (q->event_idx)
		*used_event(q) = (uint16_t)(q->last_used - 1);
	else
		__atomic_store_n(&q->avail->flags, VRING_AVAIL_F_NO_INTERRUPT, __ATOMIC_RELEASE);
}

int virtq_drv_wait_call(struct virtq_drv *q, int timeout_ms)
{
	struct pollfd p = { .fd = q->callfd, .events = POLLIN };
	eventfd_t v;
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return r < 0 ? -errno : 0;
	(void)eventfd_read(q->callfd, &v);
	return 1;
}

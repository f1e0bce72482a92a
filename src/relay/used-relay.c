#include "used-relay.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

/* longest indirect table we accept (the virtio spec allows up to 2^16/16) */
#define INDIRECT_MAX 4096u

static uint16_t load16(const volatile uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* A page is logged after it was written: a log sync that runs in between
 * then sees the bit set again and sends the page once more. */
static void log_range(const struct used_relay_ops *ops, uint64_t gpa, uint64_t len)
{
	if (!len)
		return;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	ops->log(ops->opaque, gpa, len);
}

/* offsets inside a split used ring */
static uint64_t used_elem_off(uint16_t slot)
{
	return offsetof(struct vring_used, ring) + (uint64_t)slot * sizeof(struct vring_used_elem);
}

static uint64_t avail_event_off(uint16_t size)
{
	return used_elem_off(size);
}

/* The dirty log's page: vhost-user logs 4 KiB pages whatever the guest's. */
#define LOG_PAGE 4096u

/* Ranges to log, merged while their pages touch or overlap: one log call for
 * buffers laid out back to back (a chain's descriptors, a ring's buffers)
 * and for consecutive used elements, instead of one per range. The merged
 * range covers exactly the pages of its parts. */
struct log_batch {
	uint64_t start, end;   /* [start, end); empty when equal */
};

static void batch_flush(const struct used_relay_ops *ops, struct log_batch *b)
{
	log_range(ops, b->start, b->end - b->start);
	b->start = b->end = 0;
}

/* [gpa, gpa+len) is inside guest memory (translated), len > 0 */
static inline void batch_add(const struct used_relay_ops *ops, struct log_batch *b, uint64_t gpa,
		      uint64_t len)
{
	uint64_t end = gpa + len;

	if (b->end != b->start && gpa / LOG_PAGE <= (b->end - 1) / LOG_PAGE + 1 &&
	    (end - 1) / LOG_PAGE + 1 >= b->start / LOG_PAGE) {
		if (gpa < b->start)
			b->start = gpa;
		if (end > b->end)
			b->end = end;
		return;
	}
	batch_flush(ops, b);
	b->start = gpa;
	b->end = end;
}

/* Log every device-writable descriptor of the chain at @head, whole: the
 * used length is what the device reports, not a bound on what it wrote
 * (virtio lets it write more), so the chain's WRITE buffers, indirect
 * ones included, are all dirty. A buffer outside guest memory is refused. */
static int log_chain(struct used_relay_queue *q, const struct used_relay_ops *ops, uint32_t head,
		     struct log_batch *batch, uint64_t *logged, struct cerr *e)
{
	const struct vring_desc *table = q->desc;
	uint32_t table_size = q->size, i = head, steps = 0;
	bool indirect = false;

	if (head >= q->size)
		return cerr_set(e, EINVAL, "used entry names descriptor %u, ring has %u", head, q->size);
	for (;;) {
		struct vring_desc d;

		memcpy(&d, (const void *)&table[i], sizeof(d));
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (indirect)
				return cerr_set(e, EINVAL, "descriptor %u: nested indirect table", head);
			if (d.len == 0 || d.len % sizeof(struct vring_desc) ||
			    d.len / sizeof(struct vring_desc) > INDIRECT_MAX)
				return cerr_set(e, EINVAL, "descriptor %u: indirect table of %u bytes", head, d.len);
			table = ops->translate(ops->opaque, d.addr, d.len);
			if (!table)
				return cerr_set(e, EFAULT, "descriptor %u: indirect table 0x%llx+%u is outside guest memory",
						head, (unsigned long long)d.addr, d.len);
			table_size = d.len / sizeof(struct vring_desc);
			indirect = true;
			i = 0;
			steps = 0;
			continue;
		}
		if ((d.flags & VRING_DESC_F_WRITE) && d.len) {
			if (!ops->translate(ops->opaque, d.addr, d.len))
				return cerr_set(e, EFAULT, "descriptor %u: buffer 0x%llx+%u is outside guest memory",
						head, (unsigned long long)d.addr, d.len);
			batch_add(ops, batch, d.addr, d.len);
			*logged += d.len;
		}
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		if (++steps >= table_size)
			return cerr_set(e, ELOOP, "descriptor %u: chain longer than its table (%u)", head,
					table_size);
		i = d.next;
		if (i >= table_size)
			return cerr_set(e, EINVAL, "descriptor %u: next %u is past the table (%u)", head, i,
					table_size);
	}
	return 0;
}

/* virtio's vring_need_event(): did [old, new) cross the guest's event? */
static bool crossed(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

int used_relay_run(struct used_relay_queue *q, const struct used_relay_ops *ops,
		   unsigned budget, struct used_relay_result *res, struct cerr *e)
{
	uint16_t dev_idx = load16(&q->mediated->idx);
	uint16_t pending = (uint16_t)(dev_idx - q->last);
	uint16_t old = q->last, mask = (uint16_t)(q->size - 1);
	uint16_t flags, guest_flags;
	struct log_batch bufs = { 0 }, elems = { 0 };
	int r = 0;

	memset(res, 0, sizeof(*res));
	if (pending > q->size)
		return cerr_set(e, EINVAL, "device used index %u is %u entries past %u, ring has %u",
				dev_idx, pending, q->last, q->size);
	if (pending > budget)
		pending = (uint16_t)budget;

	for (uint16_t n = 0; n < pending; n++) {
		uint16_t slot = (uint16_t)(q->last & mask);
		uint16_t gslot = (uint16_t)((q->last + q->shift) & mask);
		struct vring_used_elem el;

		memcpy(&el, (const void *)&q->mediated->ring[slot], sizeof(el));
		r = log_chain(q, ops, el.id, &bufs, &res->bytes_logged, e);
		if (r < 0)
			break;
		memcpy((void *)&q->used->ring[gslot], &el, sizeof(el));
		batch_add(ops, &elems, q->used_gpa + used_elem_off(gslot), sizeof(el));
		q->last++;
		res->entries++;
	}
	/* the buffers and entries relayed, before the index below */
	batch_flush(ops, &bufs);
	batch_flush(ops, &elems);

	/* flags (NO_NOTIFY) and avail_event are the device's wishes to the guest */
	flags = load16(&q->mediated->flags);
	guest_flags = load16(&q->used->flags);
	if (!q->own_notify && flags != guest_flags) {
		__atomic_store_n(&q->used->flags, flags, __ATOMIC_RELAXED);
		log_range(ops, q->used_gpa + offsetof(struct vring_used, flags), sizeof(uint16_t));
	}
	if (q->event_idx && !q->own_notify) {
		volatile uint16_t *dev_ev = (volatile uint16_t *)((uint8_t *)q->mediated + avail_event_off(q->size));
		volatile uint16_t *guest_ev = (volatile uint16_t *)((uint8_t *)q->used + avail_event_off(q->size));

		uint16_t want = (uint16_t)(*dev_ev + q->shift);

		if (want != *guest_ev) {
			*guest_ev = want;
			log_range(ops, q->used_gpa + avail_event_off(q->size), sizeof(uint16_t));
		}
	}

	if (res->entries) {
		uint16_t gidx = (uint16_t)(q->last + q->shift);

		/* entries and their log bits before the index the guest polls */
		__atomic_store_n(&q->used->idx, gidx, __ATOMIC_RELEASE);
		log_range(ops, q->used_gpa + offsetof(struct vring_used, idx), sizeof(uint16_t));
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (q->event_idx) {
			uint16_t used_event = load16((volatile uint16_t *)&q->avail->ring[q->size]);

			res->interrupt = crossed(used_event, gidx, (uint16_t)(old + q->shift));
		} else {
			res->interrupt = !(load16(&q->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
		}
	}
	return r;
}

void used_relay_log_used_ring(const struct used_relay_queue *q, const struct used_relay_ops *ops)
{
	log_range(ops, q->used_gpa, avail_event_off(q->size) + sizeof(uint16_t));
}

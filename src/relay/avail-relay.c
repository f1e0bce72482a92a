#include "avail-relay.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

static uint16_t load16(const volatile uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* used_event sits after the avail ring, avail_event after the used ring */
static volatile uint16_t *used_event(struct vring_avail *a, uint16_t size)
{
	return (volatile uint16_t *)&a->ring[size];
}

static volatile uint16_t *avail_event(struct vring_used *u, uint16_t size)
{
	return (volatile uint16_t *)&u->ring[size];
}

static uint64_t avail_event_off(uint16_t size)
{
	return offsetof(struct vring_used, ring) + (uint64_t)size * sizeof(struct vring_used_elem);
}

/* virtio's vring_need_event() */
static bool crossed(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

/* The guest kicks when its avail index passes @at (EVENT_IDX). Logged: the
 * field is in the guest's used ring. */
static void want_kick_at(struct avail_relay_queue *q, const struct used_relay_ops *ops,
			 uint16_t at)
{
	volatile uint16_t *ev = avail_event(q->guest_used, q->size);

	if (*ev == at)
		return;
	__atomic_store_n(ev, at, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	ops->log(ops->opaque, q->guest_used_gpa + avail_event_off(q->size), sizeof(uint16_t));
}

void avail_relay_start(struct avail_relay_queue *q, const struct used_relay_ops *ops,
		       uint16_t dev_used_idx)
{
	uint16_t idx = load16(&q->guest_avail->idx), mask = (uint16_t)(q->size - 1);

	/* the whole ring: entries between the device's position and idx may
	 * be anywhere in it */
	if (q->shift == 0)
		memcpy((void *)q->dev_avail->ring, (const void *)q->guest_avail->ring,
		       (size_t)q->size * sizeof(uint16_t));
	else
		for (uint16_t n = 0, i = (uint16_t)(idx - q->size); n < q->size; n++, i++)
			q->dev_avail->ring[(uint16_t)(i - q->shift) & mask] =
				q->guest_avail->ring[i & mask];
	q->next = idx;
	__atomic_store_n(&q->dev_avail->flags, 0, __ATOMIC_RELAXED);
	*used_event(q->dev_avail, q->size) = dev_used_idx;
	__atomic_store_n(&q->dev_avail->idx, (uint16_t)(idx - q->shift), __ATOMIC_RELEASE);

	/* a kick for every new buffer from now on */
	if (load16(&q->guest_used->flags) & VRING_USED_F_NO_NOTIFY) {
		__atomic_store_n(&q->guest_used->flags, 0, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_RELEASE);
		ops->log(ops->opaque, q->guest_used_gpa + offsetof(struct vring_used, flags),
			 sizeof(uint16_t));
	}
	if (q->event_idx)
		want_kick_at(q, ops, idx);
	/* entries made available meanwhile go with the first run */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

int avail_relay_run(struct avail_relay_queue *q, const struct used_relay_ops *ops,
		    struct avail_relay_result *res, struct cerr *e)
{
	uint16_t old = q->next, mask = (uint16_t)(q->size - 1), dev_next;

	memset(res, 0, sizeof(*res));
	for (;;) {
		uint16_t idx = load16(&q->guest_avail->idx);
		uint16_t n = (uint16_t)(idx - q->next);

		if (n > q->size)
			return cerr_set(e, EINVAL, "guest avail index %u is %u entries past %u, ring has %u",
					idx, n, q->next, q->size);
		for (; q->next != idx; q->next++)
			q->dev_avail->ring[(uint16_t)(q->next - q->shift) & mask] =
				q->guest_avail->ring[q->next & mask];
		if (!q->event_idx)
			break;
		/* ask for the next kick, then look again: a buffer made
		 * available before the guest saw the request came without one */
		want_kick_at(q, ops, q->next);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (load16(&q->guest_avail->idx) == q->next)
			break;
	}
	if (q->next == old)
		return 0;
	res->entries = (uint16_t)(q->next - old);
	dev_next = (uint16_t)(q->next - q->shift);
	/* entries before the index the device polls */
	__atomic_store_n(&q->dev_avail->idx, dev_next, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (q->event_idx)
		res->notify = crossed(load16(avail_event(q->dev_used, q->size)), dev_next,
				      (uint16_t)(old - q->shift));
	else
		res->notify = !(load16(&q->dev_used->flags) & VRING_USED_F_NO_NOTIFY);
	return 0;
}

uint16_t avail_relay_arm_interrupt(struct avail_relay_queue *q, uint16_t used_idx)
{
	/* without EVENT_IDX the flags stay 0: an interrupt for every entry */
	if (q->event_idx)
		__atomic_store_n(used_event(q->dev_avail, q->size), used_idx, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return load16(&q->dev_used->idx);
}

void avail_relay_stop(struct avail_relay_queue *q, const struct used_relay_ops *ops)
{
	if (q->event_idx)
		want_kick_at(q, ops, load16(&q->guest_avail->idx));
}

#include "ring-relay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "avail-relay.h"
#include "event-relay.h"
#include "used-relay.h"

/* event-relay keys: the VF's interrupt of vring q is q, the guest's kick of
 * vring q is KICK_KEY + q */
#define KICK_KEY RING_RELAY_MAX_VRINGS

_Static_assert(2 * RING_RELAY_MAX_VRINGS <= EVENT_RELAY_MAX_KEYS, "two keys per vring");

struct rq {
	unsigned qid;
	struct used_relay_queue used;
	struct avail_relay_queue avail;
	int irqfd;       /* the VF's interrupt, ours */
	int callfd;      /* dup of the guest's, or -1 */
	int kickfd;      /* dup of the guest's, or -1 (the caller's may be closed
			  * and its number reused while we still need it) */
	bool broken;     /* the guest broke the ring: relay no more */
	bool started;
};

struct ring_relay {
	struct event_relay *ev;
	struct ring_relay_ops ops;
	struct used_relay_ops rops;    /* translate/log for the relay cores */
	/* set by the owner before a vring's keys are watched, read by the
	 * thread only for watched keys (event-relay's lock orders the two) */
	struct rq *q[RING_RELAY_MAX_VRINGS];
	unsigned count;
	atomic_uint_fast64_t entries, kicks, calls, errors;
};

static void broke(struct ring_relay *r, struct rq *q, const struct cerr *ce)
{
	atomic_fetch_add(&r->errors, 1);
	if (q->broken)
		return;
	q->broken = true;
	if (r->ops.error)
		r->ops.error(r->ops.opaque, q->qid, ce->msg);
}

/* Relay the used entries, then ask the VF for an interrupt at its next
 * one; again if it published meanwhile. Returns entries relayed, or -errno. */
static int relay_used(struct ring_relay *r, struct rq *q, bool arm, bool *call, struct cerr *e)
{
	int total = 0;

	for (;;) {
		struct used_relay_result res;
		int err = used_relay_run(&q->used, &r->rops, q->used.size, &res, e);

		total += (int)res.entries;
		*call |= res.interrupt;
		if (err < 0)
			return err;
		if (!arm || avail_relay_arm_interrupt(&q->avail, q->used.last) == q->used.last)
			break;
	}
	atomic_fetch_add(&r->entries, (uint64_t)total);
	return total;
}

static void call_guest(struct ring_relay *r, struct rq *q)
{
	if (q->callfd < 0)
		return;
	/* an eventfd write only fails on counter overflow */
	(void)!eventfd_write(q->callfd, 1);
	atomic_fetch_add(&r->calls, 1);
}

static void on_interrupt(struct ring_relay *r, struct rq *q)
{
	struct cerr ce = { 0 };
	bool call = false;
	int n = relay_used(r, q, true, &call, &ce);

	/* what was relayed before a bad entry is the guest's */
	if (call)
		call_guest(r, q);
	if (n < 0)
		broke(r, q, &ce);
}

static void on_kick(struct ring_relay *r, struct rq *q)
{
	struct avail_relay_result res;
	struct cerr ce = { 0 };

	if (avail_relay_run(&q->avail, &r->rops, &res, &ce) < 0) {
		broke(r, q, &ce);
		return;
	}
	atomic_fetch_add(&r->kicks, 1);
	if (res.notify)
		r->ops.doorbell(r->ops.opaque, q->qid);
}

static void on_event(void *opaque, unsigned key)
{
	struct ring_relay *r = opaque;
	bool kick = key >= KICK_KEY;
	struct rq *q = r->q[kick ? key - KICK_KEY : key];

	if (!q || q->broken)
		return;
	if (kick)
		on_kick(r, q);
	else
		on_interrupt(r, q);
}

int ring_relay_new(const char *name, const struct ring_relay_ops *ops,
		   struct ring_relay **ret, struct cerr *e)
{
	struct ring_relay *r = calloc(1, sizeof(*r));
	int err;

	if (!r)
		return cerr_set(e, ENOMEM, "out of memory");
	r->ops = *ops;
	r->rops.translate = ops->translate;
	r->rops.log = ops->log;
	r->rops.opaque = ops->opaque;
	r->rops.log_word = ops->log_word;
	err = event_relay_new(name, on_event, r, &r->ev, e);
	if (err < 0) {
		free(r);
		return err;
	}
	*ret = r;
	return 0;
}

static void forget(struct ring_relay *r, unsigned qid)
{
	struct rq *q = r->q[qid];

	if (!q)
		return;
	if (q->irqfd >= 0)
		close(q->irqfd);
	if (q->callfd >= 0)
		close(q->callfd);
	if (q->kickfd >= 0)
		close(q->kickfd);
	free(q);
	r->q[qid] = NULL;
	r->count--;
}

void ring_relay_free(struct ring_relay *r)
{
	if (!r)
		return;
	/* joins the thread: no callback runs after this */
	event_relay_free(r->ev);
	for (unsigned i = 0; i < RING_RELAY_MAX_VRINGS; i++)
		forget(r, i);
	free(r);
}

int ring_relay_prepare(struct ring_relay *r, const struct ring_relay_vring *v, int *ret_irqfd,
		       struct cerr *e)
{
	struct rq *q;
	int err;

	if (v->qid >= RING_RELAY_MAX_VRINGS)
		return cerr_set(e, EINVAL, "ring relay: vring %u is out of range", v->qid);
	if (r->q[v->qid])
		return cerr_set(e, EBUSY, "ring relay: vring %u is relayed already", v->qid);
	if (v->size == 0 || (v->size & (v->size - 1)))
		return cerr_set(e, EINVAL, "ring relay: vring %u has size %u", v->qid, v->size);
	q = calloc(1, sizeof(*q));
	if (!q)
		return cerr_set(e, ENOMEM, "out of memory");
	q->qid = v->qid;
	q->callfd = q->kickfd = -1;
	q->irqfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->irqfd < 0) {
		err = errno;
		free(q);
		return cerr_set(e, err, "ring relay: vring %u: eventfd: %s", v->qid, strerror(err));
	}
	if ((v->callfd >= 0 && (q->callfd = fcntl(v->callfd, F_DUPFD_CLOEXEC, 0)) < 0) ||
	    (v->kickfd >= 0 && (q->kickfd = fcntl(v->kickfd, F_DUPFD_CLOEXEC, 0)) < 0)) {
		err = errno;
		if (q->callfd >= 0)
			close(q->callfd);
		close(q->irqfd);
		free(q);
		return cerr_set(e, err, "ring relay: vring %u: cannot dup the guest's eventfds: %s",
				v->qid, strerror(err));
	}
	q->used = (struct used_relay_queue){
		.size = v->size,
		.event_idx = v->event_idx,
		.desc = v->desc,
		.avail = v->avail,
		.used = v->used,
		.used_gpa = v->used_gpa,
		.mediated = v->dev_used,
		.last = v->used_idx,
		.shift = v->shift,
		.own_notify = true,
	};
	q->avail = (struct avail_relay_queue){
		.size = v->size,
		.event_idx = v->event_idx,
		.guest_avail = v->avail,
		.guest_used = v->used,
		.guest_used_gpa = v->used_gpa,
		.dev_avail = v->dev_avail,
		.dev_used = v->dev_used,
		.shift = v->shift,
	};
	avail_relay_start(&q->avail, &r->rops, v->used_idx);
	r->q[v->qid] = q;
	r->count++;
	*ret_irqfd = q->irqfd;
	return 0;
}

int ring_relay_start(struct ring_relay *r, unsigned qid, struct cerr *e)
{
	struct rq *q = qid < RING_RELAY_MAX_VRINGS ? r->q[qid] : NULL;
	int err;

	if (!q)
		return cerr_set(e, ENOENT, "ring relay: vring %u is not prepared", qid);
	err = event_relay_add(r->ev, qid, q->irqfd, e);
	if (err == 0 && q->kickfd >= 0)
		err = event_relay_add(r->ev, KICK_KEY + qid, q->kickfd, e);
	if (err < 0) {
		ring_relay_stop(r, qid);
		return cerr_prefix(e, "ring relay, vring %u", qid);
	}
	q->started = true;
	/* one pass of each kind: entries and buffers that came before the
	 * watch (an eventfd keeps its count, so nothing is lost either way) */
	(void)!eventfd_write(q->irqfd, 1);
	if (q->kickfd >= 0)
		(void)!eventfd_write(q->kickfd, 1);
	return 0;
}

void ring_relay_stop(struct ring_relay *r, unsigned qid)
{
	if (qid >= RING_RELAY_MAX_VRINGS || !r->q[qid])
		return;
	event_relay_remove(r->ev, qid);
	event_relay_remove(r->ev, KICK_KEY + qid);
	r->q[qid]->started = false;
}

int ring_relay_set_fds(struct ring_relay *r, unsigned qid, int callfd, int kickfd, struct cerr *e)
{
	struct rq *q = qid < RING_RELAY_MAX_VRINGS ? r->q[qid] : NULL;
	int c = -1, k = -1, err;

	if (!q)
		return cerr_set(e, ENOENT, "ring relay: vring %u is not prepared", qid);
	if (q->started)
		return cerr_set(e, EBUSY, "ring relay: vring %u is relaying: stop it first", qid);
	if ((callfd >= 0 && (c = fcntl(callfd, F_DUPFD_CLOEXEC, 0)) < 0) ||
	    (kickfd >= 0 && (k = fcntl(kickfd, F_DUPFD_CLOEXEC, 0)) < 0)) {
		err = errno;
		if (c >= 0)
			close(c);
		return cerr_set(e, err, "ring relay: vring %u: cannot dup the guest's eventfds: %s", qid,
				strerror(err));
	}
	if (q->callfd >= 0)
		close(q->callfd);
	if (q->kickfd >= 0)
		close(q->kickfd);
	q->callfd = c;
	q->kickfd = k;
	return 0;
}

int ring_relay_finish(struct ring_relay *r, unsigned qid, struct cerr *e)
{
	struct rq *q = qid < RING_RELAY_MAX_VRINGS ? r->q[qid] : NULL;
	bool call = false;
	int n = 0;

	if (!q)
		return cerr_set(e, ENOENT, "ring relay: vring %u is not prepared", qid);
	ring_relay_stop(r, qid);
	if (!q->broken) {
		n = relay_used(r, q, false, &call, e);
		if (call)
			call_guest(r, q);
		if (n < 0)
			atomic_fetch_add(&r->errors, 1);
	}
	avail_relay_stop(&q->avail, &r->rops);
	forget(r, qid);
	return n;
}

unsigned ring_relay_count(const struct ring_relay *r)
{
	return r->count;
}

uint64_t ring_relay_entries(const struct ring_relay *r)
{
	return atomic_load(&r->entries);
}

uint64_t ring_relay_kicks(const struct ring_relay *r)
{
	return atomic_load(&r->kicks);
}

uint64_t ring_relay_calls(const struct ring_relay *r)
{
	return atomic_load(&r->calls);
}

uint64_t ring_relay_errors(const struct ring_relay *r)
{
	return atomic_load(&r->errors);
}

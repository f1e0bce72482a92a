/* Host notifiers: the doorbell page of each vring that runs direct in the
 * VF, handed to the frontend so that the guest's kicks reach the VF
 * without the helper (port.h). The frontend answers later, on the backend
 * channel's worker (port_host_notifier_done()); until it does, and for good
 * when it refuses, the kick relay carries the kicks, as it watches every
 * direct vring's kickfd all along. Every function here runs with ctl held,
 * except port_host_notifier_done(). */
#include <stdio.h>

#include "port-private.h"
#include "vhost-features.h"

/* what the frontend must have negotiated for a host notifier */
static const struct {
	unsigned bit;
	const char *name;
} needed[] = {
	{ VHOST_USER_PF_BACKEND_REQ, "BACKEND_REQ" },
	{ VHOST_USER_PF_BACKEND_SEND_FD, "BACKEND_SEND_FD" },
	{ VHOST_USER_PF_HOST_NOTIFIER, "HOST_NOTIFIER" },
	{ VHOST_USER_PF_REPLY_ACK, "REPLY_ACK" },
};

/* Say once per connection why no vring gets a host notifier: a log line,
 * the port's state and reason as they are. */
static void say_once(struct port *p, const char *why)
{
	struct port_event ev = { .port = p->index, .log_only = true };

	if (p->hn_said)
		return;
	p->hn_said = true;
	snprintf(ev.reason, sizeof(ev.reason), "host notifiers: %s; kicks go through the relay", why);
	if (p->events)
		port_events_push(p->events, &ev);
}

/* NULL when the frontend negotiated all it takes, else what it lacks */
static const char *frontend_lacks(struct port *p)
{
	uint64_t pf = 0;

	if (!p->fe->host_notifier || p->fe->get_protocol_features(p->conn, &pf) < 0)
		return "host notifiers";
	for (unsigned i = 0; i < sizeof(needed) / sizeof(needed[0]); i++)
		if (!(pf & (1ull << needed[i].bit)))
			return needed[i].name;
	return NULL;
}

static void install(struct port *p, unsigned qid)
{
	struct cerr ce = { 0 };
	uint64_t off = 0, size = 0;
	int fd = -1;

	if (ifcvf_hw_notify_area(&p->hw, qid, &fd, &off, &size, &ce) < 0) {
		say_once(p, ce.msg);
		return;
	}
	p->hn_asked |= 1ull << qid;
	p->fe->host_notifier(p->conn, p, qid, fd, off, size, -1);
}

void port_hn_remove(struct port *p, unsigned qid)
{
	uint64_t bit = 1ull << qid;
	/* the vring still runs (relayed, or about to be): a kick the guest
	 * wrote to the page before the frontend let go is made up for */
	int poke = p->running && ((p->vf_enabled | p->relayed) & bit) ? p->vr[qid].kickfd : -1;

	if (!(p->hn_asked & bit) || p->conn < 0)
		return;
	p->hn_asked &= ~bit;
	p->fe->host_notifier(p->conn, p, qid, -1, 0, 0, poke);
}

void port_hn_sync(struct port *p)
{
	uint64_t want = 0;
	const char *lacks;

	if (p->hn_syncing)
		return;
	p->hn_syncing = true;
	if (p->conn >= 0 && p->running) {
		want = p->vf_enabled & ~p->relayed & ~p->held;
		if (want && (lacks = frontend_lacks(p))) {
			char why[96];

			snprintf(why, sizeof(why), "the frontend did not negotiate %s", lacks);
			say_once(p, why);
			want = 0;
		}
	}
	for (unsigned q = 0; q < IFCVF_MAX_VRINGS; q++) {
		uint64_t bit = 1ull << q;

		if ((p->hn_asked & bit) && !(want & bit))
			port_hn_remove(p, q);
		else if ((want & bit) && !(p->hn_asked & bit))
			install(p, q);
	}
	p->hn_syncing = false;
}

void port_hn_reset(struct port *p)
{
	p->hn_asked = 0;
	p->hn_said = false;
	atomic_store(&p->hn_on, 0);
}

void port_host_notifier_done(struct port *p, int conn, unsigned qid, bool on)
{
	uint64_t bit = 1ull << qid;

	/* an answer to an earlier frontend's request tells nothing */
	if (qid >= IFCVF_MAX_VRINGS || !port_has_conn(p, conn))
		return;
	uint64_t was;

	if (on)
		was = atomic_fetch_or(&p->hn_on, bit);
	else
		was = atomic_fetch_and(&p->hn_on, ~bit);
	/* D-Bus shows each vring's path */
	if (!(was & bit) != !on && p->events) {
		struct port_event ev = { .port = p->index, .refresh = true };

		port_events_push(p->events, &ev);
	}
}

#include "kick-relay.h"

#include <errno.h>
#include <stdlib.h>

#include "event-relay.h"

/* A thin wrapper: the relay's keys are vring indices. */
struct kick_relay {
	struct event_relay *relay;
};

int kick_relay_new(const char *name, kick_relay_notify_fn notify, void *opaque,
		   struct kick_relay **ret, struct cerr *e)
{
	struct kick_relay *k = calloc(1, sizeof(*k));
	int r;

	if (!k)
		return cerr_set(e, ENOMEM, "out of memory");
	r = event_relay_new(name, notify, opaque, &k->relay, e);
	if (r < 0) {
		free(k);
		return r;
	}
	*ret = k;
	return 0;
}

int kick_relay_add(struct kick_relay *k, unsigned qid, int kickfd, struct cerr *e)
{
	int r = event_relay_add(k->relay, qid, kickfd, e);

	return r < 0 ? cerr_prefix(e, "kick relay, vring %u", qid) : 0;
}

void kick_relay_remove(struct kick_relay *k, unsigned qid)
{
	event_relay_remove(k->relay, qid);
}

void kick_relay_free(struct kick_relay *k)
{
	if (!k)
		return;
	event_relay_free(k->relay);
	free(k);
}

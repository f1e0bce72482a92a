#include "config-relay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "event-relay.h"

struct config_relay {
	struct event_relay *relay;
	int fd;
	config_relay_fn fn;
	void *opaque;
};

static void on_event(void *opaque, unsigned key)
{
	struct config_relay *c = opaque;

	c->fn(c->opaque);
}

int config_relay_new(const char *name, config_relay_fn fn, void *opaque,
		     struct config_relay **ret, struct cerr *e)
{
	struct config_relay *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return cerr_set(e, ENOMEM, "out of memory");
	c->fn = fn;
	c->opaque = opaque;
	c->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->fd < 0) {
		r = cerr_set(e, errno, "cannot create the config eventfd: %s", strerror(errno));
		free(c);
		return r;
	}
	r = event_relay_new(name, on_event, c, &c->relay, e);
	if (r == 0)
		r = event_relay_add(c->relay, 0, c->fd, e);
	if (r < 0) {
		event_relay_free(c->relay);
		close(c->fd);
		free(c);
		return r;
	}
	*ret = c;
	return 0;
}

int config_relay_fd(const struct config_relay *c)
{
	return c->fd;
}

void config_relay_free(struct config_relay *c)
{
	if (!c)
		return;
	event_relay_free(c->relay);
	close(c->fd);
	free(c);
}

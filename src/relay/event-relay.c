#include "event-relay.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* key of the stop eventfd in the epoll data; user keys are below it */
#define STOP_KEY 0xffffffffu

struct watch {
	int fd;          /* our dup, -1 when the key is free */
	uint32_t gen;    /* bumped on every add, so stale events are recognised */
};

struct event_relay {
	pthread_t thread;
	int epfd;
	int stopfd;
	event_relay_fn fn;
	void *opaque;
	/* held by the thread while it handles a batch of events and by the
	 * owner while it changes the watch table */
	pthread_mutex_t lock;
	struct watch watch[EVENT_RELAY_MAX_KEYS];
};

static uint64_t pack(uint32_t key, uint32_t gen)
{
	return (uint64_t)gen << 32 | key;
}

static void handle(struct event_relay *r, uint64_t data)
{
	uint32_t key = (uint32_t)data, gen = (uint32_t)(data >> 32);
	struct watch *w;
	uint64_t count;

	if (key >= EVENT_RELAY_MAX_KEYS)
		return;
	w = &r->watch[key];
	if (w->fd < 0 || w->gen != gen)
		return;  /* removed or replaced after epoll_wait returned */
	/* the fd is non-blocking: EAGAIN means someone else drained it */
	if (read(w->fd, &count, sizeof(count)) == (ssize_t)sizeof(count))
		r->fn(r->opaque, key);
}

static void *relay_main(void *arg)
{
	struct event_relay *r = arg;
	struct epoll_event evs[16];
	bool stop = false;

	while (!stop) {
		int n = epoll_wait(r->epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])), -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;  /* only a broken epfd gets here; the owner still joins */
		}
		pthread_mutex_lock(&r->lock);
		for (int i = 0; i < n; i++) {
			if ((uint32_t)evs[i].data.u64 == STOP_KEY)
				stop = true;
			else
				handle(r, evs[i].data.u64);
		}
		pthread_mutex_unlock(&r->lock);
	}
	return NULL;
}

int event_relay_new(const char *name, event_relay_fn fn, void *opaque,
		    struct event_relay **ret, struct cerr *e)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = STOP_KEY };
	struct event_relay *r = calloc(1, sizeof(*r));
	char tname[16];
	int err;

	if (!r)
		return cerr_set(e, ENOMEM, "out of memory");
	r->fn = fn;
	r->opaque = opaque;
	r->epfd = -1;
	r->stopfd = -1;
	for (unsigned i = 0; i < EVENT_RELAY_MAX_KEYS; i++)
		r->watch[i].fd = -1;
	pthread_mutex_init(&r->lock, NULL);

	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->epfd < 0) {
		err = errno;
		goto fail;
	}
	r->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->stopfd < 0) {
		err = errno;
		goto fail;
	}
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->stopfd, &ev) < 0) {
		err = errno;
		goto fail;
	}
	err = pthread_create(&r->thread, NULL, relay_main, r);
	if (err)
		goto fail;
	snprintf(tname, sizeof(tname), "%s", name);
	(void)pthread_setname_np(r->thread, tname);
	*ret = r;
	return 0;

fail:
	if (r->stopfd >= 0)
		close(r->stopfd);
	if (r->epfd >= 0)
		close(r->epfd);
	pthread_mutex_destroy(&r->lock);
	free(r);
	return cerr_set(e, err, "cannot start relay thread %s: %s", name, strerror(err));
}

/* caller holds r->lock */
static void drop(struct event_relay *r, unsigned key)
{
	struct watch *w = &r->watch[key];

	if (w->fd < 0)
		return;
	(void)epoll_ctl(r->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	close(w->fd);
	w->fd = -1;
}

int event_relay_add(struct event_relay *r, unsigned key, int fd, struct cerr *e)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct watch *w;
	int dup_fd, flags, err;

	if (key >= EVENT_RELAY_MAX_KEYS)
		return cerr_set(e, EINVAL, "relay key %u is out of range", key);
	if (fd < 0)
		return cerr_set(e, EBADF, "relay key %u: no fd to watch", key);
	dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup_fd < 0)
		return cerr_set(e, errno, "relay key %u: cannot dup fd %d: %s", key, fd,
				strerror(errno));
	/* a stale event must never block the thread in read() */
	flags = fcntl(dup_fd, F_GETFL);
	if (flags < 0 || fcntl(dup_fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		err = errno;
		close(dup_fd);
		return cerr_set(e, err, "relay key %u: cannot make fd non-blocking: %s", key,
				strerror(err));
	}

	pthread_mutex_lock(&r->lock);
	drop(r, key);
	w = &r->watch[key];
	w->gen++;
	ev.data.u64 = pack(key, w->gen);
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, dup_fd, &ev) < 0) {
		err = errno;
		pthread_mutex_unlock(&r->lock);
		close(dup_fd);
		return cerr_set(e, err, "relay key %u: cannot watch fd %d: %s", key, fd, strerror(err));
	}
	w->fd = dup_fd;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

void event_relay_remove(struct event_relay *r, unsigned key)
{
	if (key >= EVENT_RELAY_MAX_KEYS)
		return;
	pthread_mutex_lock(&r->lock);
	drop(r, key);
	pthread_mutex_unlock(&r->lock);
}

void event_relay_free(struct event_relay *r)
{
	uint64_t one = 1;

	if (!r)
		return;
	/* an eventfd write of 1 cannot fail short of a counter overflow */
	(void)!write(r->stopfd, &one, sizeof(one));
	pthread_join(r->thread, NULL);
	for (unsigned i = 0; i < EVENT_RELAY_MAX_KEYS; i++)
		drop(r, i);
	close(r->stopfd);
	close(r->epfd);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

#include "port-events.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* a main loop that stalls must not make the vhost thread wait or grow memory */
#define QUEUE_MAX 256u

struct port_events {
	pthread_mutex_t lock;
	int fd;
	unsigned head, count;
	struct port_event ring[QUEUE_MAX];
};

int port_events_new(struct port_events **ret, struct cerr *e)
{
	struct port_events *q = calloc(1, sizeof(*q));

	if (!q)
		return cerr_set(e, ENOMEM, "out of memory");
	q->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->fd < 0) {
		int err = errno;

		free(q);
		return cerr_set(e, err, "cannot create an eventfd: %s", strerror(err));
	}
	pthread_mutex_init(&q->lock, NULL);
	*ret = q;
	return 0;
}

int port_events_fd(const struct port_events *q)
{
	return q->fd;
}

void port_events_push(struct port_events *q, const struct port_event *ev)
{
	uint64_t one = 1;

	pthread_mutex_lock(&q->lock);
	if (q->count == QUEUE_MAX) {
		q->head = (q->head + 1) % QUEUE_MAX;
		q->count--;
	}
	q->ring[(q->head + q->count) % QUEUE_MAX] = *ev;
	q->count++;
	pthread_mutex_unlock(&q->lock);
	(void)!write(q->fd, &one, sizeof(one));
}

bool port_events_pop(struct port_events *q, struct port_event *ret)
{
	uint64_t count;
	bool got = false;

	pthread_mutex_lock(&q->lock);
	if (q->count > 0) {
		*ret = q->ring[q->head];
		q->head = (q->head + 1) % QUEUE_MAX;
		q->count--;
		got = true;
	}
	/* drain the eventfd once the queue is empty; a push after this
	 * writes it again */
	if (q->count == 0)
		(void)!read(q->fd, &count, sizeof(count));
	pthread_mutex_unlock(&q->lock);
	return got;
}

void port_events_free(struct port_events *q)
{
	if (!q)
		return;
	close(q->fd);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

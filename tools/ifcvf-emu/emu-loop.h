/* The emulator's one event loop: an epoll set whose entries point at a
 * struct emu_watch (a callback and its argument). The vfio-user sockets,
 * the signalfd, wire fds and timers all sit in it; the datapath runs its
 * bursts between two rounds (main.c).
 *
 * Threads: the main thread only. */
#pragma once

#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>

typedef void (*emu_watch_fn)(void *opaque, uint32_t events);

struct emu_watch {
	emu_watch_fn fn;
	void *opaque;
	int fd;           /* -1 when not watched */
};

struct emu_loop {
	int epoll_fd;
};

static inline int emu_loop_add(struct emu_loop *l, struct emu_watch *w, int fd, uint32_t events,
			       emu_watch_fn fn, void *opaque)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	w->fn = fn;
	w->opaque = opaque;
	if (epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		w->fd = -1;
		return -errno;
	}
	w->fd = fd;
	return 0;
}

/* Stop watching (before the fd is closed). Accepts an unwatched entry. */
static inline void emu_loop_del(struct emu_loop *l, struct emu_watch *w)
{
	if (w->fd >= 0)
		(void)epoll_ctl(l->epoll_fd, EPOLL_CTL_DEL, w->fd, NULL);
	w->fd = -1;
}

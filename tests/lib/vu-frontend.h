/* A small vhost-user frontend for tests and benchmarks: what QEMU does for a
 * virtio-net device, minus the guest. Guest memory is a memfd (GPA 0 up),
 * rings are laid out by virtq-drv.h, and messages follow the vhost-user spec
 * (docs/interop/vhost-user.rst). It also keeps a dirty log for the live-
 * migration tests (SET_LOG_BASE with a shared memfd).
 *
 * Host notifiers (vu_frontend_serve_backend()): a thread of the frontend's
 * own reads the backend channel, as QEMU's main loop does, maps each
 * vring's doorbell page the backend hands over (or refuses it), and
 * vu_frontend_kick() then writes the doorbell there instead of the kickfd.
 *
 * Plain C with errno returns. Threads: one thread drives a frontend; the
 * backend-channel thread only touches the host-notifier fields, under
 * hn_lock. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cerr.h"

enum vu_request {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_SET_BACKEND_REQ_FD = 21,
	VU_SET_STATUS = 39,
	VU_GET_STATUS = 40,
};

#define VU_PROTOCOL_F_MQ 0
#define VU_PROTOCOL_F_LOG_SHMFD 1
#define VU_PROTOCOL_F_REPLY_ACK 3
#define VU_PROTOCOL_F_BACKEND_REQ 5
#define VU_PROTOCOL_F_BACKEND_SEND_FD 10
#define VU_PROTOCOL_F_HOST_NOTIFIER 11
#define VU_PROTOCOL_F_CONFIG 9
#define VU_PROTOCOL_F_STATUS 16

/* guest memory: one memfd region at GPA 0 */
struct vu_guest_mem {
	int fd;
	uint8_t *base;
	uint64_t size;
	uint64_t next;      /* bump allocator cursor */
};

int vu_guest_mem_init(struct vu_guest_mem *mem, uint64_t size, struct cerr *e);
void vu_guest_mem_fini(struct vu_guest_mem *mem);
/* Allocate @len bytes aligned to @align; returns the GPA (0 is never used). */
uint64_t vu_guest_mem_alloc(struct vu_guest_mem *mem, uint64_t len, uint64_t align);
static inline void *vu_gpa(struct vu_guest_mem *mem, uint64_t gpa)
{
	return mem->base + gpa;
}

/* What the frontend does with the backend's host-notifier messages. */
enum vu_notifier_mode {
	VU_NOTIFIER_ACCEPT,   /* map the page; kicks go to its doorbell */
	VU_NOTIFIER_REFUSE,   /* answer "failed" (QEMU without page-per-vq=on) */
	VU_NOTIFIER_CLOSE,    /* close its end of the channel */
	VU_NOTIFIER_IGNORE,   /* never read the channel */
};

#define VU_MAX_NOTIFIERS 16

struct vu_frontend {
	int sock;
	int timeout_ms;
	uint64_t features;            /* what the backend offered */
	uint64_t protocol_features;   /* what the backend offered */
	bool reply_ack;               /* negotiated */
	struct vu_guest_mem *mem;
	/* dirty log (SET_LOG_BASE) */
	int log_fd;
	uint8_t *log;
	uint64_t log_size;
	/* backend channel (SET_BACKEND_REQ_FD): our end, and a copy of the
	 * backend's end to look at what it queued; -1 when none */
	int backend_fd;
	int backend_peer;
	/* the frontend vanishing (tests/fault): requests sent so far, and the
	 * one (1-based; 0: none) at which the socket is closed instead */
	unsigned sent;
	unsigned close_at;
	/* host notifiers (vu_frontend_serve_backend) */
	pthread_mutex_t hn_lock;
	bool hn_serving;             /* the thread runs */
	pthread_t hn_thread;
	int hn_stop;                 /* eventfd that stops it */
	enum vu_notifier_mode hn_mode;
	void *hn_page[VU_MAX_NOTIFIERS];    /* under hn_lock; NULL: none */
	uint64_t hn_page_size[VU_MAX_NOTIFIERS];
	/* where the last page of each vring came from (under hn_lock): the
	 * offset into the fd and what the fd was (its /proc/self/fd link,
	 * e.g. "anon_inode:[vfio-device]") */
	uint64_t hn_offset[VU_MAX_NOTIFIERS];
	char hn_fd_kind[VU_MAX_NOTIFIERS][48];
	unsigned hn_installs, hn_removals, hn_refusals;   /* under hn_lock */
	unsigned config_changes;     /* config-change notices read (hn_lock) */
	uint64_t hn_doorbells;       /* kicks written to a page (driver thread) */
};

/* Connect to a backend listening on @path (waits up to @timeout_ms for the
 * socket to accept). */
int vu_frontend_connect(struct vu_frontend *fe, const char *path, int timeout_ms,
			struct cerr *e);
/* Listen on @path and accept one backend in client mode. */
int vu_frontend_accept(struct vu_frontend *fe, const char *path, int timeout_ms,
		       struct cerr *e);
void vu_frontend_close(struct vu_frontend *fe);

/* GET_FEATURES, GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES(@protocol &
 * offered), SET_OWNER. */
int vu_frontend_handshake(struct vu_frontend *fe, uint64_t protocol, struct cerr *e);
int vu_frontend_set_features(struct vu_frontend *fe, uint64_t features, struct cerr *e);
int vu_frontend_set_mem_table(struct vu_frontend *fe, struct vu_guest_mem *mem, struct cerr *e);
int vu_frontend_get_queue_num(struct vu_frontend *fe, uint64_t *ret, struct cerr *e);
int vu_frontend_set_status(struct vu_frontend *fe, uint8_t status, struct cerr *e);

struct virtq_drv;
/* SET_VRING_NUM/BASE/ADDR/KICK/CALL for @q (its index, size, rings, fds). */
int vu_frontend_setup_vring(struct vu_frontend *fe, struct virtq_drv *q, struct cerr *e);
int vu_frontend_set_vring_enable(struct vu_frontend *fe, unsigned index, bool enable,
				 struct cerr *e);
int vu_frontend_set_vring_call(struct vu_frontend *fe, unsigned index, int fd, struct cerr *e);
/* GET_VRING_BASE: stops the ring in the backend */
int vu_frontend_get_vring_base(struct vu_frontend *fe, unsigned index, uint32_t *ret,
			       struct cerr *e);

/* SET_BACKEND_REQ_FD with one end of a new socket pair; the other end
 * (backend_fd) is never read unless the caller reads it. @sndbuf > 0 sets
 * the backend end's SO_SNDBUF first, so that a few unread messages fill it. */
int vu_frontend_set_backend_req(struct vu_frontend *fe, int sndbuf, struct cerr *e);
/* What the backend queued on its channel and we did not read (SIOCOUTQ of
 * its end, in the kernel's accounting), and whether its send buffer is full:
 * a blocking send by the backend would wait now. */
int vu_frontend_backend_queued(const struct vu_frontend *fe, unsigned *bytes, bool *full,
			       struct cerr *e);
/* Read one backend message header (the channel's messages have no payload
 * here) within the frontend's timeout. */
int vu_frontend_backend_read(struct vu_frontend *fe, uint32_t *request, struct cerr *e);

/* Serve the backend channel (set up first) as @mode says; a thread reads
 * it until vu_frontend_close(). */
int vu_frontend_serve_backend(struct vu_frontend *fe, enum vu_notifier_mode mode, struct cerr *e);
/* Kick vring @index: on its doorbell page when one is mapped (1), else on
 * @kickfd (0); -errno when that write fails. */
int vu_frontend_kick(struct vu_frontend *fe, unsigned index, int kickfd);
/* @q's kicks (virtq_drv_kick()) go through vu_frontend_kick(). */
void vu_frontend_kick_through(struct vu_frontend *fe, struct virtq_drv *q);
/* Config-change notices (VHOST_USER_BACKEND_CONFIG_CHANGE_MSG) the serving
 * thread read so far; QEMU answers each with GET_CONFIG, the caller does. */
unsigned vu_frontend_config_changes(struct vu_frontend *fe);
/* Bit per vring with a doorbell page mapped now. */
uint64_t vu_frontend_notifiers(struct vu_frontend *fe);

/* A dirty log covering the guest memory, shared with SET_LOG_BASE. */
int vu_frontend_set_log_base(struct vu_frontend *fe, struct cerr *e);
bool vu_frontend_log_test(const struct vu_frontend *fe, uint64_t gpa);
void vu_frontend_log_clear(struct vu_frontend *fe);

/* Send a request with an optional payload and fds; wait for the reply when
 * @reply is non-NULL (or for REPLY_ACK when negotiated and @reply is NULL). */
int vu_frontend_request(struct vu_frontend *fe, uint32_t request, const void *payload,
			uint32_t len, const int *fds, unsigned nfds, void *reply,
			uint32_t reply_len, struct cerr *e);

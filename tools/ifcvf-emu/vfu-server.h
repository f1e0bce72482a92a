/* vfio-user server end for one connected client (reference/vfio-user.md):
 * VERSION negotiation, then device info, region info and access, IRQ info
 * and eventfd binding, DMA map/unmap and reset, all answered from the
 * emu_device. Every request gets exactly one reply unless it carries
 * No_reply; a request that is not accepted gets a header-only error reply.
 * Malformed framing ends the connection (the caller drops the client), and
 * so do a reply the client does not take within VFU_SERVER_SEND_TIMEOUT_MS
 * (sending never blocks) and a request that found guest memory gone
 * (emu-dma-guard.h; answered EFAULT first).
 *
 * Threads: a connection is served by one thread (the main loop). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cerr.h"
#include "emu-device.h"
#include "vfio-user-proto.h"

/* How long the rest of a message may take once its first byte arrived. */
#define VFU_SERVER_MSG_TIMEOUT_MS 5000
/* How long a reply may wait for the client to take it; then the client is
 * dropped (a client that stops reading must not hold the emulator). */
#define VFU_SERVER_SEND_TIMEOUT_MS 5000

struct vfu_server_stats {
	uint64_t clients;
	uint64_t messages;
	uint64_t errors;        /* error replies (and refused No_reply requests) */
	uint64_t dropped;       /* clients dropped: malformed framing, a reply not
				 * taken in time, guest memory gone */
	uint64_t per_command[VFU_CMD_MAX + 1];
};

struct vfu_conn {
	int fd;
	struct emu_device *dev;
	struct vfu_server_stats *stats;
	bool verbose;
	bool negotiated;               /* VERSION accepted */
	uint64_t client_max_xfer;      /* client's max_data_xfer_size */
	uint32_t client_max_fds;       /* client's max_msg_fds */
	uint8_t *rbuf;                 /* reply payload buffer */
	int reply_fd;                  /* an fd to pass with the reply (the
					* device's, not owned), or -1 */
	int stop_fd;                   /* -1, or see vfu_conn_watch_stop() */
	bool (*stop_fn)(void *opaque);
	void *stop_opaque;
	FILE *record;                  /* vfu-record.h: NULL unless recording */
	size_t rbuf_size;              /* the largest reply: a whole region read */
	FILE *record_msgs;             /* vfu-record.h: NULL unless recording */
};

/* Take @fd (closed by vfu_conn_close()). */
int vfu_conn_open(struct vfu_conn *c, int fd, struct emu_device *dev,
		  struct vfu_server_stats *stats, bool verbose, struct cerr *e);

/* While a reply waits for room in the socket, watch @fd too (the
 * emulator's signalfd): when it is readable, @fn handles it and returns
 * true to give the reply up (the emulator stops; the client is dropped). */
void vfu_conn_watch_stop(struct vfu_conn *c, int fd, bool (*fn)(void *opaque), void *opaque);

/* Read and answer one message. Returns 0 to keep serving, or -errno when
 * the connection has to go (peer closed, malformed framing, send failed),
 * with the reason in @e. */
int vfu_conn_serve(struct vfu_conn *c, struct cerr *e);

/* Close the socket and drop what the client lent the device. */
void vfu_conn_close(struct vfu_conn *c);

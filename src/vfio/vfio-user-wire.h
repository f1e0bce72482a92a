/* vfio-user framing: one message = header + payload, with any fds riding on
 * the header's bytes as SCM_RIGHTS. Used by both ends (src/vfio client,
 * tools/ifcvf-emu server). Plain C; no state beyond the socket.
 *
 * Threads: the functions are reentrant; callers serialise use of a socket. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "cerr.h"
#include "vfio-user-proto.h"

struct vfu_msg {
	struct vfu_hdr hdr;
	uint8_t *payload;           /* malloc'd, hdr.msg_size - 16 bytes */
	size_t payload_len;
	int fds[VFU_MAX_MSG_FDS];
	unsigned nfds;
};

#define VFU_MSG_INIT { .payload = NULL, .payload_len = 0, .nfds = 0 }

/* Free the payload and close every fd the message still owns. */
void vfu_msg_clear(struct vfu_msg *m);

/* Take fd i out of the message so vfu_msg_clear() leaves it open. */
int vfu_msg_steal_fd(struct vfu_msg *m, unsigned i);

/* Send header + payload and @nfds fds in one sendmsg(). hdr->msg_size is
 * filled in here. Returns 0 or -errno. */
int vfu_send(int sock, struct vfu_hdr *hdr, const void *payload, size_t len,
	     const int *fds, unsigned nfds, struct cerr *e);

/* Receive one whole message. Waits at most @timeout_ms in total (-1: no
 * limit, only for a server's idle wait). Refuses a message shorter than a
 * header or longer than @max_size (after reading past it, so the stream stays
 * framed only when that is possible: the caller should drop the connection),
 * and one that carried more fds than VFU_MAX_MSG_FDS (they are closed).
 * A peer that closed the socket gives -ECONNRESET. */
int vfu_recv(int sock, struct vfu_msg *m, size_t max_size, int timeout_ms,
	     struct cerr *e);

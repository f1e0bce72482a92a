#include "vfio-user-wire.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *const command_names[] = {
	[VFU_CMD_VERSION] = "VERSION",
	[VFU_CMD_DMA_MAP] = "DMA_MAP",
	[VFU_CMD_DMA_UNMAP] = "DMA_UNMAP",
	[VFU_CMD_DEVICE_GET_INFO] = "DEVICE_GET_INFO",
	[VFU_CMD_DEVICE_GET_REGION_INFO] = "DEVICE_GET_REGION_INFO",
	[VFU_CMD_DEVICE_GET_REGION_IO_FDS] = "DEVICE_GET_REGION_IO_FDS",
	[VFU_CMD_DEVICE_GET_IRQ_INFO] = "DEVICE_GET_IRQ_INFO",
	[VFU_CMD_DEVICE_SET_IRQS] = "DEVICE_SET_IRQS",
	[VFU_CMD_REGION_READ] = "REGION_READ",
	[VFU_CMD_REGION_WRITE] = "REGION_WRITE",
	[VFU_CMD_DMA_READ] = "DMA_READ",
	[VFU_CMD_DMA_WRITE] = "DMA_WRITE",
	[VFU_CMD_DEVICE_RESET] = "DEVICE_RESET",
};

const char *vfu_command_name(unsigned command)
{
	if (command < sizeof(command_names) / sizeof(command_names[0]) &&
	    command_names[command])
		return command_names[command];
	return "unknown command";
}

void vfu_msg_clear(struct vfu_msg *m)
{
	free(m->payload);
	m->payload = NULL;
	m->payload_len = 0;
	for (unsigned i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	m->nfds = 0;
}

int vfu_msg_steal_fd(struct vfu_msg *m, unsigned i)
{
	int fd;

	if (i >= m->nfds)
		return -1;
	fd = m->fds[i];
	m->fds[i] = -1;
	return fd;
}

int vfu_send(int sock, struct vfu_hdr *hdr, const void *payload, size_t len,
	     const int *fds, unsigned nfds, struct cerr *e)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 64)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov[2];
	struct msghdr mh = { 0 };
	size_t total = VFU_HDR_SIZE + len, sent = 0;

	if (nfds > 64)
		return cerr_set(e, EINVAL, "too many fds (%u) for one message", nfds);
	hdr->msg_size = (uint32_t)total;
	iov[0].iov_base = hdr;
	iov[0].iov_len = VFU_HDR_SIZE;
	iov[1].iov_base = (void *)payload;
	iov[1].iov_len = len;
	mh.msg_iov = iov;
	mh.msg_iovlen = len ? 2 : 1;
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	while (sent < total) {
		ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return cerr_set(e, errno, "cannot send %s: %s",
					vfu_command_name(hdr->command), strerror(errno));
		}
		sent += (size_t)n;
		/* fds went with the first bytes; send the rest plainly */
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		while (n > 0 && mh.msg_iovlen) {
			size_t take = (size_t)n < mh.msg_iov->iov_len ? (size_t)n
								       : mh.msg_iov->iov_len;
			mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + take;
			mh.msg_iov->iov_len -= take;
			n -= (ssize_t)take;
			if (mh.msg_iov->iov_len == 0) {
				mh.msg_iov++;
				mh.msg_iovlen--;
			}
		}
	}
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until @sock is readable or the deadline passes. */
static int wait_readable(int sock, long long deadline, struct cerr *e)
{
	for (;;) {
		struct pollfd p = { .fd = sock, .events = POLLIN };
		int timeout = -1, r;

		if (deadline >= 0) {
			long long left = deadline - now_ms();

			if (left <= 0)
				return cerr_set(e, ETIMEDOUT, "no answer from the peer in time");
			timeout = left > 1000000 ? 1000000 : (int)left;
		}
		r = poll(&p, 1, timeout);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return cerr_set(e, errno, "poll: %s", strerror(errno));
		if (r > 0)
			return 0;
	}
}

static void collect_fds(struct msghdr *mh, struct vfu_msg *m, int *too_many)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n;
		int *in;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		in = (int *)CMSG_DATA(c);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, &in[i], sizeof(fd));
			if (m->nfds < VFU_MAX_MSG_FDS) {
				m->fds[m->nfds++] = fd;
			} else {
				close(fd);
				*too_many = 1;
			}
		}
	}
}

/* Read exactly @len bytes (no fds expected) before the deadline. */
static int read_full(int sock, void *buf, size_t len, long long deadline, struct cerr *e)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n;
		int r = wait_readable(sock, deadline, e);

		if (r < 0)
			return r;
		n = recv(sock, (char *)buf + got, len - got, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return cerr_set(e, errno, "receive: %s", strerror(errno));
		if (n == 0)
			return cerr_set(e, ECONNRESET,
					"the peer closed the connection in the middle of a message");
		got += (size_t)n;
	}
	return 0;
}

int vfu_recv(int sock, struct vfu_msg *m, size_t max_size, int timeout_ms,
	     struct cerr *e)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 64)];
		struct cmsghdr align;
	} ctl;
	long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	struct iovec iov = { .iov_base = &m->hdr, .iov_len = VFU_HDR_SIZE };
	struct msghdr mh = { 0 };
	int too_many = 0, r;
	size_t got = 0;

	m->payload = NULL;
	m->payload_len = 0;
	m->nfds = 0;
	while (got < VFU_HDR_SIZE) {
		ssize_t n;

		r = wait_readable(sock, deadline, e);
		if (r < 0)
			goto fail;
		iov.iov_base = (char *)&m->hdr + got;
		iov.iov_len = VFU_HDR_SIZE - got;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			r = cerr_set(e, errno, "receive: %s", strerror(errno));
			goto fail;
		}
		if (n == 0) {
			r = cerr_set(e, ECONNRESET, got ? "the peer closed the connection in the middle of a message header"
							: "the peer closed the connection");
			goto fail;
		}
		collect_fds(&mh, m, &too_many);
		if (mh.msg_flags & MSG_CTRUNC)
			too_many = 1;
		got += (size_t)n;
	}
	if (m->hdr.msg_size < VFU_HDR_SIZE) {
		r = cerr_set(e, EPROTO, "message size %u is shorter than a header",
			     m->hdr.msg_size);
		goto fail;
	}
	if (m->hdr.msg_size > max_size) {
		r = cerr_set(e, EMSGSIZE, "%s message of %u bytes is larger than the %zu allowed",
			     vfu_command_name(m->hdr.command), m->hdr.msg_size, max_size);
		goto fail;
	}
	m->payload_len = m->hdr.msg_size - VFU_HDR_SIZE;
	if (m->payload_len) {
		m->payload = malloc(m->payload_len);
		if (!m->payload) {
			r = cerr_set(e, ENOMEM, "out of memory for a %zu-byte message", m->payload_len);
			goto fail;
		}
		r = read_full(sock, m->payload, m->payload_len, deadline, e);
		if (r < 0)
			goto fail;
	}
	if (too_many) {
		r = cerr_set(e, EPROTO, "%s message carried more than %u fds",
			     vfu_command_name(m->hdr.command), VFU_MAX_MSG_FDS);
		goto fail;
	}
	return 0;
fail:
	vfu_msg_clear(m);
	return r;
}

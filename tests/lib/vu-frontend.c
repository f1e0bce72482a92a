#include "vu-frontend.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "virtq-drv.h"

#define VU_VERSION 0x1u
#define VU_FLAG_REPLY 0x4u
#define VU_FLAG_NEED_REPLY 0x8u
#define VU_VRING_NOFD 0x100u
#define VU_HDR_SIZE 12u

struct vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
} __attribute__((packed));

struct vu_vring_state {
	uint32_t index;
	uint32_t num;
} __attribute__((packed));

struct vu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;
	uint64_t used;
	uint64_t avail;
	uint64_t log;
} __attribute__((packed));

struct vu_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
} __attribute__((packed));

struct vu_log {
	uint64_t mmap_size;
	uint64_t mmap_offset;
} __attribute__((packed));

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int vu_guest_mem_init(struct vu_guest_mem *mem, uint64_t size, struct cerr *e)
{
	memset(mem, 0, sizeof(*mem));
	mem->fd = memfd_create("vu-guest-mem", MFD_CLOEXEC);
	if (mem->fd < 0)
		return cerr_set(e, errno, "memfd_create: %s", strerror(errno));
	if (ftruncate(mem->fd, (off_t)size) < 0) {
		int err = errno;

		close(mem->fd);
		return cerr_set(e, err, "ftruncate: %s", strerror(err));
	}
	mem->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, mem->fd, 0);
	if (mem->base == MAP_FAILED) {
		int err = errno;

		close(mem->fd);
		return cerr_set(e, err, "mmap: %s", strerror(err));
	}
	mem->size = size;
	mem->next = 4096;   /* GPA 0 stays unused */
	return 0;
}

void vu_guest_mem_fini(struct vu_guest_mem *mem)
{
	if (mem->base && mem->base != MAP_FAILED)
		munmap(mem->base, mem->size);
	if (mem->fd >= 0)
		close(mem->fd);
	memset(mem, 0, sizeof(*mem));
	mem->fd = -1;
}

uint64_t vu_guest_mem_alloc(struct vu_guest_mem *mem, uint64_t len, uint64_t align)
{
	uint64_t at = (mem->next + align - 1) & ~(align - 1);

	if (at + len > mem->size)
		return 0;
	mem->next = at + len;
	return at;
}

static void fe_init(struct vu_frontend *fe, int timeout_ms)
{
	memset(fe, 0, sizeof(*fe));
	fe->sock = -1;
	fe->log_fd = -1;
	fe->backend_fd = -1;
	fe->backend_peer = -1;
	fe->timeout_ms = timeout_ms;
	fe->hn_stop = -1;
	pthread_mutex_init(&fe->hn_lock, NULL);
}

static int fill_addr(struct sockaddr_un *sa, const char *path, struct cerr *e)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return cerr_set(e, ENAMETOOLONG, "socket path %s is too long", path);
	strcpy(sa->sun_path, path);
	return 0;
}

int vu_frontend_connect(struct vu_frontend *fe, const char *path, int timeout_ms,
			struct cerr *e)
{
	long long deadline = now_ms() + timeout_ms;
	struct sockaddr_un sa;
	int r;

	fe_init(fe, timeout_ms);
	if ((r = fill_addr(&sa, path, e)) < 0)
		return r;
	for (;;) {
		fe->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fe->sock < 0)
			return cerr_set(e, errno, "socket: %s", strerror(errno));
		if (connect(fe->sock, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return 0;
		r = errno;
		close(fe->sock);
		fe->sock = -1;
		if ((r != ENOENT && r != ECONNREFUSED) || now_ms() >= deadline)
			return cerr_set(e, r, "cannot connect to %s: %s", path, strerror(r));
		usleep(20 * 1000);
	}
}

int vu_frontend_accept(struct vu_frontend *fe, const char *path, int timeout_ms,
		       struct cerr *e)
{
	struct sockaddr_un sa;
	struct pollfd p;
	int lsock, r;

	fe_init(fe, timeout_ms);
	if ((r = fill_addr(&sa, path, e)) < 0)
		return r;
	lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lsock < 0)
		return cerr_set(e, errno, "socket: %s", strerror(errno));
	unlink(path);
	if (bind(lsock, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lsock, 1) < 0) {
		r = errno;
		close(lsock);
		return cerr_set(e, r, "cannot listen on %s: %s", path, strerror(r));
	}
	p.fd = lsock;
	p.events = POLLIN;
	r = poll(&p, 1, timeout_ms);
	if (r <= 0) {
		close(lsock);
		unlink(path);
		return cerr_set(e, r == 0 ? ETIMEDOUT : errno, "no backend connected to %s", path);
	}
	fe->sock = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
	r = errno;
	close(lsock);
	unlink(path);
	if (fe->sock < 0)
		return cerr_set(e, r, "accept: %s", strerror(r));
	return 0;
}

static void hn_stop(struct vu_frontend *fe);

void vu_frontend_close(struct vu_frontend *fe)
{
	hn_stop(fe);
	if (fe->sock >= 0)
		close(fe->sock);
	if (fe->log && fe->log != MAP_FAILED)
		munmap(fe->log, fe->log_size);
	if (fe->log_fd >= 0)
		close(fe->log_fd);
	if (fe->backend_fd >= 0)
		close(fe->backend_fd);
	if (fe->backend_peer >= 0)
		close(fe->backend_peer);
	fe->sock = fe->log_fd = fe->backend_fd = fe->backend_peer = -1;
	fe->log = NULL;
}

static int recv_full_fd(int fd, int timeout_ms, void *buf, size_t len, long long deadline,
			struct cerr *e)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = deadline - now_ms();
		ssize_t n;
		int r;

		if (left <= 0)
			return cerr_set(e, ETIMEDOUT, "the backend did not answer within %d ms",
					timeout_ms);
		r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		n = recv(fd, (char *)buf + got, len - got, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return cerr_set(e, n == 0 ? ECONNRESET : errno, "the backend closed the connection");
		got += (size_t)n;
	}
	return 0;
}

static int recv_full(struct vu_frontend *fe, void *buf, size_t len, long long deadline,
		     struct cerr *e)
{
	return recv_full_fd(fe->sock, fe->timeout_ms, buf, len, deadline, e);
}

/* VU_FRONTEND_RECORD=DIR: each frontend's requests go to
 * DIR/port-bringup-PID-N, as seeds of the fuzz target port-bringup
 * (tests/fuzz/port-bringup.c has the format: a variant byte, then per
 * request u8 request, u8 fds, u16 payload length, the payload). */
static void record_request(const struct vu_frontend *fe, uint32_t request, const void *payload,
			   uint32_t len, unsigned nfds)
{
	static const struct vu_frontend *cur;
	static FILE *f;
	static unsigned n;
	const char *dir = getenv("VU_FRONTEND_RECORD");
	uint16_t len16 = len > UINT16_MAX ? UINT16_MAX : (uint16_t)len;

	if (!dir || !*dir)
		return;
	if (fe != cur || !f) {
		char path[4096];

		if (f)
			fclose(f);
		snprintf(path, sizeof(path), "%s/port-bringup-%ld-%u", dir, (long)getpid(), n++);
		f = fopen(path, "we");
		cur = fe;
		if (!f)
			return;
		fputc(0, f);
	}
	fputc((int)(request & 0xff), f);
	fputc((int)nfds, f);
	fwrite(&len16, 2, 1, f);
	if (len16)
		fwrite(payload, 1, len16, f);
	fflush(f);
}

int vu_frontend_request(struct vu_frontend *fe, uint32_t request, const void *payload,
			uint32_t len, const int *fds, unsigned nfds, void *reply,
			uint32_t reply_len, struct cerr *e)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} ctl;
	struct vu_hdr hdr = { .request = request, .flags = VU_VERSION, .size = len };
	struct iovec iov[2] = { { &hdr, VU_HDR_SIZE }, { (void *)payload, len } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	bool want_ack = !reply && fe->reply_ack;
	long long deadline;
	struct vu_hdr rhdr;
	int r;

	if (want_ack)
		hdr.flags |= VU_FLAG_NEED_REPLY;
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
	if (fe->close_at && ++fe->sent == fe->close_at) {
		close(fe->sock);
		fe->sock = -1;
		return cerr_set(e, ECONNRESET, "closed the connection at request %u (message %u), "
				"as asked", request, fe->sent);
	}
	if (!fe->close_at)
		fe->sent++;
	if (fe->sock < 0)
		return cerr_set(e, ENOTCONN, "request %u: the connection is closed", request);
	if (sendmsg(fe->sock, &mh, MSG_NOSIGNAL) != (ssize_t)(VU_HDR_SIZE + len))
		return cerr_set(e, errno ? errno : EIO, "cannot send request %u: %s", request,
				strerror(errno));
	record_request(fe, request, payload, len, nfds);
	if (!reply && !want_ack)
		return 0;

	deadline = now_ms() + fe->timeout_ms;
	if ((r = recv_full(fe, &rhdr, VU_HDR_SIZE, deadline, e)) < 0)
		return cerr_prefix(e, "request %u", request);
	if (rhdr.request != request || !(rhdr.flags & VU_FLAG_REPLY))
		return cerr_set(e, EPROTO, "request %u answered with request %u flags 0x%x", request,
				rhdr.request, rhdr.flags);
	if (reply) {
		if (rhdr.size != reply_len)
			return cerr_set(e, EPROTO, "request %u: reply of %u bytes, expected %u",
					request, rhdr.size, reply_len);
		return recv_full(fe, reply, reply_len, deadline, e);
	} else {
		uint64_t status;

		if (rhdr.size != sizeof(status))
			return cerr_set(e, EPROTO, "request %u: ack of %u bytes", request, rhdr.size);
		if ((r = recv_full(fe, &status, sizeof(status), deadline, e)) < 0)
			return r;
		if (status)
			return cerr_set(e, EIO, "the backend refused request %u (status %llu)", request,
					(unsigned long long)status);
	}
	return 0;
}

int vu_frontend_handshake(struct vu_frontend *fe, uint64_t protocol, struct cerr *e)
{
	uint64_t want;
	int r;

	if ((r = vu_frontend_request(fe, VU_GET_FEATURES, NULL, 0, NULL, 0, &fe->features,
				     sizeof(fe->features), e)) < 0)
		return r;
	if (fe->features & (1ull << 30)) {
		if ((r = vu_frontend_request(fe, VU_GET_PROTOCOL_FEATURES, NULL, 0, NULL, 0,
					     &fe->protocol_features, sizeof(uint64_t), e)) < 0)
			return r;
		want = protocol & fe->protocol_features;
		if ((r = vu_frontend_request(fe, VU_SET_PROTOCOL_FEATURES, &want, sizeof(want), NULL,
					     0, NULL, 0, e)) < 0)
			return r;
		fe->reply_ack = want & (1ull << VU_PROTOCOL_F_REPLY_ACK);
	}
	return vu_frontend_request(fe, VU_SET_OWNER, NULL, 0, NULL, 0, NULL, 0, e);
}

int vu_frontend_set_features(struct vu_frontend *fe, uint64_t features, struct cerr *e)
{
	return vu_frontend_request(fe, VU_SET_FEATURES, &features, sizeof(features), NULL, 0,
				   NULL, 0, e);
}

int vu_frontend_set_mem_table(struct vu_frontend *fe, struct vu_guest_mem *mem, struct cerr *e)
{
	struct {
		uint32_t nregions;
		uint32_t padding;
		struct vu_mem_region regions[8];
	} __attribute__((packed)) msg = { .nregions = 1 };

	fe->mem = mem;
	/* userspace_addr is "the frontend's VA": ours, so ring addresses match */
	msg.regions[0].guest_phys_addr = 0;
	msg.regions[0].memory_size = mem->size;
	msg.regions[0].userspace_addr = (uint64_t)(uintptr_t)mem->base;
	msg.regions[0].mmap_offset = 0;
	return vu_frontend_request(fe, VU_SET_MEM_TABLE, &msg, sizeof(msg), &mem->fd, 1, NULL, 0, e);
}

int vu_frontend_get_queue_num(struct vu_frontend *fe, uint64_t *ret, struct cerr *e)
{
	return vu_frontend_request(fe, VU_GET_QUEUE_NUM, NULL, 0, NULL, 0, ret, sizeof(*ret), e);
}

int vu_frontend_set_status(struct vu_frontend *fe, uint8_t status, struct cerr *e)
{
	uint64_t v = status;

	return vu_frontend_request(fe, VU_SET_STATUS, &v, sizeof(v), NULL, 0, NULL, 0, e);
}

int vu_frontend_set_vring_call(struct vu_frontend *fe, unsigned index, int fd, struct cerr *e)
{
	uint64_t v = index | (fd < 0 ? VU_VRING_NOFD : 0);

	return vu_frontend_request(fe, VU_SET_VRING_CALL, &v, sizeof(v), fd < 0 ? NULL : &fd,
				   fd < 0 ? 0 : 1, NULL, 0, e);
}

int vu_frontend_setup_vring(struct vu_frontend *fe, struct virtq_drv *q, struct cerr *e)
{
	struct vu_vring_state num = { .index = q->index, .num = q->size };
	struct vu_vring_state base = { .index = q->index, .num = q->avail_idx };
	struct vu_vring_addr addr = {
		.index = q->index,
		.desc = (uint64_t)(uintptr_t)q->desc,
		.used = (uint64_t)(uintptr_t)q->used,
		.avail = (uint64_t)(uintptr_t)q->avail,
		.log = q->used_gpa,
	};
	uint64_t kick = q->index;
	int r;

	if ((r = vu_frontend_request(fe, VU_SET_VRING_NUM, &num, sizeof(num), NULL, 0, NULL, 0, e)) < 0 ||
	    (r = vu_frontend_request(fe, VU_SET_VRING_BASE, &base, sizeof(base), NULL, 0, NULL, 0, e)) < 0 ||
	    (r = vu_frontend_request(fe, VU_SET_VRING_ADDR, &addr, sizeof(addr), NULL, 0, NULL, 0, e)) < 0 ||
	    (r = vu_frontend_request(fe, VU_SET_VRING_KICK, &kick, sizeof(kick), &q->kickfd, 1, NULL, 0, e)) < 0 ||
	    (r = vu_frontend_set_vring_call(fe, q->index, q->callfd, e)) < 0)
		return cerr_prefix(e, "vring %u", q->index);
	return 0;
}

int vu_frontend_set_vring_enable(struct vu_frontend *fe, unsigned index, bool enable,
				 struct cerr *e)
{
	struct vu_vring_state s = { .index = index, .num = enable };

	return vu_frontend_request(fe, VU_SET_VRING_ENABLE, &s, sizeof(s), NULL, 0, NULL, 0, e);
}

int vu_frontend_get_vring_base(struct vu_frontend *fe, unsigned index, uint32_t *ret,
			       struct cerr *e)
{
	struct vu_vring_state s = { .index = index }, reply;
	int r = vu_frontend_request(fe, VU_GET_VRING_BASE, &s, sizeof(s), NULL, 0, &reply,
				    sizeof(reply), e);

	if (r == 0)
		*ret = reply.num;
	return r;
}

int vu_frontend_set_backend_req(struct vu_frontend *fe, int sndbuf, struct cerr *e)
{
	int sv[2], r;

	if (fe->backend_fd >= 0)
		return cerr_set(e, EBUSY, "the backend channel is set up already");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return cerr_set(e, errno, "socketpair: %s", strerror(errno));
	if (sndbuf > 0 && setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) < 0) {
		r = cerr_set(e, errno, "SO_SNDBUF: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return r;
	}
	r = vu_frontend_request(fe, VU_SET_BACKEND_REQ_FD, NULL, 0, &sv[1], 1, NULL, 0, e);
	if (r < 0) {
		close(sv[0]);
		close(sv[1]);
		return r;
	}
	fe->backend_fd = sv[0];
	fe->backend_peer = sv[1];
	return 0;
}

int vu_frontend_backend_queued(const struct vu_frontend *fe, unsigned *bytes, bool *full,
			       struct cerr *e)
{
	int outq = 0, sndbuf = 0;
	socklen_t len = sizeof(sndbuf);

	if (fe->backend_peer < 0)
		return cerr_set(e, ENOTCONN, "no backend channel");
	if (ioctl(fe->backend_peer, SIOCOUTQ, &outq) < 0 ||
	    getsockopt(fe->backend_peer, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len) < 0)
		return cerr_set(e, errno, "backend channel: %s", strerror(errno));
	*bytes = (unsigned)outq;
	/* a send allocates only below the limit (sock_alloc_send_pskb) */
	*full = outq >= sndbuf;
	return 0;
}

int vu_frontend_backend_read(struct vu_frontend *fe, uint32_t *request, struct cerr *e)
{
	struct vu_hdr hdr;
	int r;

	if (fe->backend_fd < 0)
		return cerr_set(e, ENOTCONN, "no backend channel");
	r = recv_full_fd(fe->backend_fd, fe->timeout_ms, &hdr, sizeof(hdr),
			 now_ms() + fe->timeout_ms, e);
	if (r < 0)
		return cerr_prefix(e, "backend channel");
	if (hdr.size)
		return cerr_set(e, EPROTO, "backend message %u with %u bytes of payload", hdr.request,
				hdr.size);
	*request = hdr.request;
	return 0;
}

int vu_frontend_set_log_base(struct vu_frontend *fe, struct cerr *e)
{
	struct vu_log msg;
	uint64_t pages;
	int r;

	if (!fe->mem)
		return cerr_set(e, EINVAL, "no memory table yet");
	pages = (fe->mem->size + 4095) / 4096;
	fe->log_size = ((pages + 7) / 8 + 4095) & ~4095ull;
	fe->log_fd = memfd_create("vu-dirty-log", MFD_CLOEXEC);
	if (fe->log_fd < 0 || ftruncate(fe->log_fd, (off_t)fe->log_size) < 0)
		return cerr_set(e, errno, "dirty log memfd: %s", strerror(errno));
	fe->log = mmap(NULL, fe->log_size, PROT_READ | PROT_WRITE, MAP_SHARED, fe->log_fd, 0);
	if (fe->log == MAP_FAILED) {
		fe->log = NULL;
		return cerr_set(e, errno, "dirty log mmap: %s", strerror(errno));
	}
	msg.mmap_size = fe->log_size;
	msg.mmap_offset = 0;
	/* SET_LOG_BASE is always answered, with an empty payload */
	{
		uint64_t unused;

		r = vu_frontend_request(fe, VU_SET_LOG_BASE, &msg, sizeof(msg), &fe->log_fd, 1,
					&unused, 0, e);
	}
	return r;
}

bool vu_frontend_log_test(const struct vu_frontend *fe, uint64_t gpa)
{
	uint64_t page = gpa / 4096;

	if (!fe->log || page / 8 >= fe->log_size)
		return false;
	return __atomic_load_n(&fe->log[page / 8], __ATOMIC_ACQUIRE) & (1u << (page % 8));
}

void vu_frontend_log_clear(struct vu_frontend *fe)
{
	if (fe->log)
		memset(fe->log, 0, fe->log_size);
}

/* ---- host notifiers ---- */

#define VU_BACKEND_CONFIG_CHANGE_MSG 2u
#define VU_BACKEND_VRING_HOST_NOTIFIER_MSG 3u

struct vu_area {
	uint64_t u64;
	uint64_t size;
	uint64_t offset;
};

/* one message off the channel: header, payload (at most @cap bytes), fd */
static int hn_read(int sock, struct vu_hdr *hdr, void *payload, size_t cap, int *fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = hdr, .iov_len = VU_HDR_SIZE };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *c;
	ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);

	*fd = -1;
	if (n != VU_HDR_SIZE)
		return -1;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_type == SCM_RIGHTS) {
			int nfd = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			int fds[8];

			memcpy(fds, CMSG_DATA(c), sizeof(int) * (size_t)nfd);
			for (int i = 0; i < nfd; i++) {
				if (*fd < 0)
					*fd = fds[i];
				else
					close(fds[i]);
			}
		}
	if (hdr->size > cap || (hdr->size && recv(sock, payload, hdr->size, MSG_WAITALL) !=
						      (ssize_t)hdr->size)) {
		if (*fd >= 0)
			close(*fd);
		return -1;
	}
	return 0;
}

/* The answer to a host-notifier message: 0 accepted, else failed. */
static uint64_t hn_apply(struct vu_frontend *fe, const struct vu_area *a, int fd)
{
	unsigned idx = (unsigned)(a->u64 & 0xff);
	char link[64], kind[48] = "";
	void *page = NULL;
	ssize_t n;

	if (idx >= VU_MAX_NOTIFIERS)
		return 1;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if (fd >= 0 && (n = readlink(link, kind, sizeof(kind) - 1)) > 0)
		kind[n] = '\0';
	if (!(a->u64 & VU_VRING_NOFD)) {
		if (fe->hn_mode == VU_NOTIFIER_REFUSE || fd < 0 || !a->size)
			goto refuse;
		page = mmap(NULL, a->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)a->offset);
		if (page == MAP_FAILED)
			goto refuse;
	}
	pthread_mutex_lock(&fe->hn_lock);
	if (fe->hn_page[idx])
		munmap(fe->hn_page[idx], fe->hn_page_size[idx]);
	fe->hn_page[idx] = page;
	fe->hn_page_size[idx] = page ? a->size : 0;
	if (page) {
		fe->hn_offset[idx] = a->offset;
		memcpy(fe->hn_fd_kind[idx], kind, sizeof(kind));
		fe->hn_installs++;
	}
	else
		fe->hn_removals++;
	pthread_mutex_unlock(&fe->hn_lock);
	return 0;
refuse:
	pthread_mutex_lock(&fe->hn_lock);
	fe->hn_refusals++;
	pthread_mutex_unlock(&fe->hn_lock);
	return 1;
}

static void *hn_main(void *opaque)
{
	struct vu_frontend *fe = opaque;

	for (;;) {
		struct pollfd p[2] = { { .fd = fe->backend_fd, .events = POLLIN },
				       { .fd = fe->hn_stop, .events = POLLIN } };
		struct vu_hdr hdr;
		struct vu_area a;
		uint64_t status = 0;
		int fd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		if (hn_read(fe->backend_fd, &hdr, &a, sizeof(a), &fd) < 0)
			break;
		if (hdr.request == VU_BACKEND_VRING_HOST_NOTIFIER_MSG && hdr.size == sizeof(a))
			status = hn_apply(fe, &a, fd);
		else if (hdr.request == VU_BACKEND_VRING_HOST_NOTIFIER_MSG)
			status = 1;
		else if (hdr.request == VU_BACKEND_CONFIG_CHANGE_MSG) {
			pthread_mutex_lock(&fe->hn_lock);
			fe->config_changes++;
			pthread_mutex_unlock(&fe->hn_lock);
		}
		if (fd >= 0)
			close(fd);    /* a mapping keeps what it needs */
		if (hdr.flags & VU_FLAG_NEED_REPLY) {
			struct {
				struct vu_hdr h;
				uint64_t u64;
			} __attribute__((packed)) r = {
				{ hdr.request, VU_VERSION | VU_FLAG_REPLY, sizeof(uint64_t) }, status
			};

			if (send(fe->backend_fd, &r, sizeof(r), MSG_NOSIGNAL) != (ssize_t)sizeof(r))
				break;
		}
	}
	return NULL;
}

unsigned vu_frontend_config_changes(struct vu_frontend *fe)
{
	unsigned n;

	pthread_mutex_lock(&fe->hn_lock);
	n = fe->config_changes;
	pthread_mutex_unlock(&fe->hn_lock);
	return n;
}

int vu_frontend_serve_backend(struct vu_frontend *fe, enum vu_notifier_mode mode, struct cerr *e)
{
	int r;

	if (fe->backend_fd < 0)
		return cerr_set(e, ENOTCONN, "no backend channel");
	if (fe->hn_serving)
		return cerr_set(e, EBUSY, "the backend channel is served already");
	fe->hn_mode = mode;
	if (mode == VU_NOTIFIER_CLOSE) {
		close(fe->backend_fd);
		fe->backend_fd = -1;
		return 0;
	}
	if (mode == VU_NOTIFIER_IGNORE)
		return 0;
	fe->hn_stop = eventfd(0, EFD_CLOEXEC);
	if (fe->hn_stop < 0)
		return cerr_set(e, errno, "eventfd: %s", strerror(errno));
	r = pthread_create(&fe->hn_thread, NULL, hn_main, fe);
	if (r) {
		close(fe->hn_stop);
		fe->hn_stop = -1;
		return cerr_set(e, r, "backend channel thread: %s", strerror(r));
	}
	fe->hn_serving = true;
	return 0;
}

static void hn_stop(struct vu_frontend *fe)
{
	if (fe->hn_serving) {
		(void)eventfd_write(fe->hn_stop, 1);
		pthread_join(fe->hn_thread, NULL);
		fe->hn_serving = false;
		close(fe->hn_stop);
		fe->hn_stop = -1;
	}
	for (unsigned i = 0; i < VU_MAX_NOTIFIERS; i++) {
		if (fe->hn_page[i])
			munmap(fe->hn_page[i], fe->hn_page_size[i]);
		fe->hn_page[i] = NULL;
	}
}

int vu_frontend_kick(struct vu_frontend *fe, unsigned index, int kickfd)
{
	void *page = NULL;

	pthread_mutex_lock(&fe->hn_lock);
	if (index < VU_MAX_NOTIFIERS && (page = fe->hn_page[index])) {
		/* the doorbell: the queue's index, at the start of its page */
		*(volatile uint16_t *)page = (uint16_t)index;
		fe->hn_doorbells++;
	}
	pthread_mutex_unlock(&fe->hn_lock);
	if (page)
		return 1;
	return eventfd_write(kickfd, 1) < 0 ? -errno : 0;
}

void vu_frontend_kick_through(struct vu_frontend *fe, struct virtq_drv *q)
{
	q->notify_fe = fe;
}

uint64_t vu_frontend_notifiers(struct vu_frontend *fe)
{
	uint64_t bits = 0;

	pthread_mutex_lock(&fe->hn_lock);
	for (unsigned i = 0; i < VU_MAX_NOTIFIERS; i++)
		if (fe->hn_page[i])
			bits |= 1ull << i;
	pthread_mutex_unlock(&fe->hn_lock);
	return bits;
}

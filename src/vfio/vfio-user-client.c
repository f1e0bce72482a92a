/* The vfio-user transport: a client for reference/vfio-user.md over one UNIX
 * socket. Each request is sent and its reply awaited (opts->timeout_ms);
 * server->client DMA_READ/DMA_WRITE commands that arrive first are answered
 * from the client's DMA map table. A failure that can leave the stream out
 * of step (send or receive error, timeout, a reply that matches nothing)
 * marks the connection broken: later calls fail at once and close skips
 * talking to the server.
 *
 * Threads: c->lock is held for a whole request (send, wait, serve server
 * commands, reply), so one request is on the wire at a time; it also guards
 * the DMA map table and the broken flag. */
#include "vfio-dev-private.h"
#include "vfio-user-caps.h"
#include "vfio-user-wire.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Our protocol version: 0.x, accept a server minor up to ours. */
#define VU_MAJOR 0
#define VU_MINOR 2

/* vfu_send() passes at most this many fds in one message. */
#define VU_SEND_FDS_MAX 64u

struct vu_map {
	uint64_t iova;
	uint64_t size;
	uint8_t *vaddr;
};

struct vu_client {
	struct vfio_dev *dev;       /* for its counters */
	int sock;
	pthread_mutex_t lock;
	uint16_t next_id;
	int timeout_ms;
	bool broken;
	char broken_why[CERR_MSG_MAX];  /* written once, before broken_seen */
	atomic_bool broken_seen;        /* read without the lock (lost reason) */
	/* a posted write was sent and no reply has come since: the server
	 * may not have done it yet (set and cleared under lock, read by
	 * vu_flush_posted() without it) */
	atomic_bool unflushed;
	struct vfu_caps caps;       /* the server's */
	uint64_t xfer;              /* bytes per REGION_READ/WRITE message */
	uint64_t pgsize;            /* smallest DMA page size of the server */
	struct vu_map *maps;
	size_t n_maps;
	size_t cap_maps;
};

struct vu_req {
	const char *what;           /* names the request in messages */
	uint16_t command;
	uint32_t flags;             /* extra header flags (No_reply) */
	const void *payload;
	size_t len;
	const int *fds;
	unsigned nfds;
	unsigned max_reply_fds;
	size_t min_reply;           /* shorter reply payloads are refused */
};

static struct vu_client *client(struct vfio_dev *dev)
{
	return dev->priv;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Record an error that leaves the connection unusable. */
static int __attribute__((format(printf, 4, 5)))
vu_break(struct vu_client *c, struct cerr *e, int code, const char *fmt, ...)
{
	char msg[CERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!c->broken) {
		c->broken = true;
		memcpy(c->broken_why, msg, sizeof(msg));
		atomic_store_explicit(&c->broken_seen, true, memory_order_release);
		/* a server that is only slow keeps the socket open: hang it up
		 * ourselves, so that the owner's watch on the lost fd sees the
		 * device gone and opens it again (nothing more can be said on
		 * this connection) */
		(void)shutdown(c->sock, SHUT_RDWR);
	}
	return cerr_set(e, code, "%s", msg);
}

/* ---- serving server -> client commands ---- */

/* The client memory behind [iova, iova+count), or NULL. */
static uint8_t *dma_lookup(struct vu_client *c, uint64_t iova, uint64_t count)
{
	for (size_t i = 0; i < c->n_maps; i++) {
		const struct vu_map *m = &c->maps[i];

		if (iova >= m->iova && count <= m->size && iova - m->iova <= m->size - count)
			return m->vaddr + (iova - m->iova);
	}
	return NULL;
}

/* Answer DMA_READ/DMA_WRITE; anything else gets ENOSYS. A request we
 * cannot satisfy gets an error reply and the wait goes on. */
static int serve(struct vu_client *c, const struct vfu_msg *m, const char *what,
		 struct cerr *e)
{
	struct vfu_hdr rh = { .msg_id = m->hdr.msg_id, .command = m->hdr.command,
			      .flags = VFU_FLAG_TYPE_REPLY };
	unsigned cmd = m->hdr.command;
	struct vfu_dma_access a;
	uint8_t *reply = NULL, *mem;
	size_t reply_len = 0;
	struct cerr le = { 0 };
	int err = 0, r;

	if (cmd != VFU_CMD_DMA_READ && cmd != VFU_CMD_DMA_WRITE) {
		err = ENOSYS;
		goto answer;
	}
	if (m->payload_len < sizeof(a)) {
		err = EINVAL;
		goto answer;
	}
	memcpy(&a, m->payload, sizeof(a));
	if (a.count > VFU_MAX_DATA_XFER ||
	    (cmd == VFU_CMD_DMA_WRITE && m->payload_len != sizeof(a) + a.count)) {
		err = EINVAL;
		goto answer;
	}
	mem = dma_lookup(c, a.address, a.count);
	if (!mem) {
		err = EFAULT;
		goto answer;
	}
	reply_len = sizeof(a) + (cmd == VFU_CMD_DMA_READ ? a.count : 0);
	reply = malloc(reply_len);
	if (!reply) {
		err = ENOMEM;
		reply_len = 0;
		goto answer;
	}
	memcpy(reply, &a, sizeof(a));
	if (cmd == VFU_CMD_DMA_READ)
		memcpy(reply + sizeof(a), mem, a.count);
	else
		memcpy(mem, m->payload + sizeof(a), a.count);
answer:
	if (m->hdr.flags & VFU_FLAG_NO_REPLY) {
		free(reply);
		return 0;
	}
	if (err) {
		rh.flags |= VFU_FLAG_ERROR;
		rh.error = (uint32_t)err;
		reply_len = 0;
	}
	r = vfu_send(c->sock, &rh, reply, reply_len, NULL, 0, &le);
	free(reply);
	if (r < 0)
		return vu_break(c, e, -r, "%s: cannot answer the server's %s: %s", what,
				vfu_command_name(cmd), strerror(-r));
	return 0;
}

/* ---- one request ---- */

/* Send @q and wait for its reply into @reply (owned by the caller on
 * success). Takes no lock: callers hold c->lock. */
/* Send request @q as message *@ret_id; a posted one (No_reply) is done. */
static int vu_send_req(struct vu_client *c, const struct vu_req *q, uint16_t *ret_id,
		       struct cerr *e)
{
	struct vfu_hdr hdr = { .msg_id = c->next_id++, .command = q->command,
			       .flags = VFU_FLAG_TYPE_COMMAND | q->flags };
	struct cerr le = { 0 };
	uint64_t t0;
	int r;

	if (c->broken)
		return cerr_set(e, ENOTCONN,
				"%s: the connection is unusable after an earlier failure (%s)",
				q->what, c->broken_why);
	/* a send may be where the time goes: the server woken on this CPU
	 * runs (and answers) before the sender returns */
	t0 = now_ns();
	r = vfu_send(c->sock, &hdr, q->payload, q->len, q->fds, q->nfds, &le);
	if (r < 0)
		return vu_break(c, e, -r, "%s: cannot send the request: %s", q->what,
				strerror(-r));
	if (q->flags & VFU_FLAG_NO_REPLY) {
		atomic_store(&c->unflushed, true);
		atomic_fetch_add(&c->dev->posted, 1);
		atomic_fetch_add(&c->dev->posted_ns, now_ns() - t0);
	}
	*ret_id = hdr.msg_id;
	return 0;
}

/* Wait for the reply to request @q sent as message @msg_id, serving the
 * server's commands that come first; counted as a round trip since @t0
 * unless @t0 is 0. A server's error reply leaves the
 * stream in step; anything else that fails breaks the connection. */
static int vu_wait_reply(struct vu_client *c, const struct vu_req *q, uint16_t msg_id,
			 uint64_t t0, struct vfu_msg *reply, struct cerr *e)
{
	struct vfu_hdr hdr = { .msg_id = msg_id };
	struct cerr le = { 0 };
	long long deadline;
	int r;

	reply->payload = NULL;
	reply->payload_len = 0;
	reply->nfds = 0;
	deadline = now_ms() + c->timeout_ms;
	for (;;) {
		long long left = deadline - now_ms();
		unsigned type;

		r = vfu_recv(c->sock, reply, VFU_MAX_MSG_SIZE, left > 0 ? (int)left : 0, &le);
		if (r == -ETIMEDOUT)
			return vu_break(c, e, ETIMEDOUT, "%s: no reply within %d ms", q->what,
					c->timeout_ms);
		if (r < 0)
			return vu_break(c, e, -r, "%s: %s", q->what, le.msg);
		type = reply->hdr.flags & VFU_FLAG_TYPE_MASK;
		if (type == VFU_FLAG_TYPE_COMMAND) {
			r = serve(c, reply, q->what, e);
			vfu_msg_clear(reply);
			if (r < 0)
				return r;
			continue;
		}
		if (type != VFU_FLAG_TYPE_REPLY) {
			r = vu_break(c, e, EPROTO, "%s: the server sent a message of unknown type %u",
				     q->what, type);
			break;
		}
		if (reply->hdr.msg_id != hdr.msg_id || reply->hdr.command != q->command) {
			r = vu_break(c, e, EPROTO,
				     "%s: the server replied to %s (message id %u) instead of %s (message id %u)",
				     q->what, vfu_command_name(reply->hdr.command),
				     reply->hdr.msg_id, vfu_command_name(q->command), hdr.msg_id);
			break;
		}
		/* the server answers in order: every message sent before this
		 * one, posted writes included, is done */
		atomic_store(&c->unflushed, false);
		if (reply->hdr.flags & VFU_FLAG_ERROR) {
			int code = (int)reply->hdr.error;

			if (code <= 0 || code > 4095)
				r = cerr_set(e, EIO, "%s: server replied with error %u", q->what,
					     reply->hdr.error);
			else
				r = cerr_set(e, code, "%s: server replied with error: %s", q->what,
					     strerror(code));
			break;
		}
		if (reply->nfds > q->max_reply_fds) {
			r = cerr_set(e, EPROTO, "%s: the reply carried %u fds, at most %u expected",
				     q->what, reply->nfds, q->max_reply_fds);
			break;
		}
		if (reply->payload_len < q->min_reply) {
			r = cerr_set(e, EPROTO,
				     "%s: the reply's payload of %zu bytes is shorter than the %zu expected",
				     q->what, reply->payload_len, q->min_reply);
			break;
		}
		if (t0) {
			atomic_fetch_add(&c->dev->round_trips, 1);
			atomic_fetch_add(&c->dev->round_trip_ns, now_ns() - t0);
		}
		return 0;
	}
	vfu_msg_clear(reply);
	return r;
}

static int vu_call(struct vu_client *c, const struct vu_req *q, struct vfu_msg *reply,
		   struct cerr *e)
{
	uint64_t t0 = now_ns();
	uint16_t id;
	int r;

	reply->payload = NULL;
	reply->payload_len = 0;
	reply->nfds = 0;
	r = vu_send_req(c, q, &id, e);
	if (r < 0 || (q->flags & VFU_FLAG_NO_REPLY))
		return r;
	return vu_wait_reply(c, q, id, t0, reply, e);
}

/* ---- regions ---- */

static int vu_region_info(struct vfio_dev *dev, unsigned index, void *buf, size_t len,
			  size_t *ret_len, int *ret_fd, struct cerr *e)
{
	struct vu_client *c = client(dev);
	struct vfu_region_info q = { .argsz = (uint32_t)len, .index = index };
	struct vfu_msg m = VFU_MSG_INIT;
	char what[64];
	struct vu_req req = { .what = what, .command = VFU_CMD_DEVICE_GET_REGION_INFO,
			      .payload = &q, .len = sizeof(q), .max_reply_fds = 1,
			      .min_reply = sizeof(q) };
	int r;

	*ret_len = 0;
	*ret_fd = -1;
	snprintf(what, sizeof(what), "DEVICE_GET_REGION_INFO for region %u", index);
	pthread_mutex_lock(&c->lock);
	r = vu_call(c, &req, &m, e);
	pthread_mutex_unlock(&c->lock);
	if (r < 0)
		return r;
	*ret_len = m.payload_len < len ? m.payload_len : len;
	memcpy(buf, m.payload, *ret_len);
	if (m.nfds)
		*ret_fd = vfu_msg_steal_fd(&m, 0);
	vfu_msg_clear(&m);
	return 0;
}

static int vu_region_read(struct vfio_dev *dev, unsigned index, uint64_t offset, void *buf,
			  size_t len, struct cerr *e)
{
	struct vu_client *c = client(dev);
	int r = 0;

	pthread_mutex_lock(&c->lock);
	for (size_t done = 0; done < len;) {
		size_t n = len - done < c->xfer ? len - done : (size_t)c->xfer;
		struct vfu_region_access q = { .offset = offset + done, .region = index,
					       .count = (uint32_t)n };
		struct vfu_msg m = VFU_MSG_INIT;
		struct vfu_region_access a;
		char what[96];
		struct vu_req req = { .what = what, .command = VFU_CMD_REGION_READ,
				      .payload = &q, .len = sizeof(q),
				      .min_reply = sizeof(q) + n };

		snprintf(what, sizeof(what), "REGION_READ of %zu bytes at 0x%llx in region %u", n,
			 (unsigned long long)q.offset, index);
		r = vu_call(c, &req, &m, e);
		if (r < 0)
			break;
		memcpy(&a, m.payload, sizeof(a));
		if (a.count != n || m.payload_len != sizeof(a) + n) {
			r = cerr_set(e, EPROTO, "%s: the reply holds %u bytes (payload %zu)", what,
				     a.count, m.payload_len);
			vfu_msg_clear(&m);
			break;
		}
		memcpy((uint8_t *)buf + done, m.payload + sizeof(a), n);
		vfu_msg_clear(&m);
		done += n;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

static int vu_region_read_batch(struct vfio_dev *dev, const struct vfio_dev_read *reads,
				unsigned n, struct cerr *e)
{
	struct vu_client *c = client(dev);
	struct vfu_region_access q[VFIO_DEV_READ_BATCH_MAX];
	struct vu_req req[VFIO_DEV_READ_BATCH_MAX];
	char what[VFIO_DEV_READ_BATCH_MAX][80];
	uint16_t id[VFIO_DEV_READ_BATCH_MAX];
	unsigned sent = 0;
	uint64_t t0 = now_ns();
	int r = 0, first = 0;

	pthread_mutex_lock(&c->lock);
	for (; sent < n; sent++) {
		const struct vfio_dev_read *rd = &reads[sent];

		q[sent] = (struct vfu_region_access){ .offset = rd->offset, .region = rd->region,
						      .count = (uint32_t)rd->len };
		snprintf(what[sent], sizeof(what[sent]), "REGION_READ of %zu bytes at 0x%llx in region %u",
			 rd->len, (unsigned long long)rd->offset, rd->region);
		req[sent] = (struct vu_req){ .what = what[sent], .command = VFU_CMD_REGION_READ,
					     .payload = &q[sent], .len = sizeof(q[sent]),
					     .min_reply = sizeof(q[sent]) + rd->len };
		if ((r = vu_send_req(c, &req[sent], &id[sent], e)) < 0)
			break;   /* the connection is broken: nothing to wait for */
	}
	for (unsigned i = 0; r == 0 && i < sent; i++) {
		struct vfu_msg m = VFU_MSG_INIT;
		struct vfu_region_access a;
		struct cerr le = { 0 };
		/* the exchange counts once, with its last reply */
		int ri = vu_wait_reply(c, &req[i], id[i], i + 1 == sent ? t0 : 0, &m, &le);

		if (ri == 0) {
			memcpy(&a, m.payload, sizeof(a));
			if (a.count != reads[i].len || m.payload_len != sizeof(a) + reads[i].len)
				ri = cerr_set(&le, EPROTO, "%s: the reply holds %u bytes (payload %zu)",
					      what[i], a.count, m.payload_len);
			else
				memcpy(reads[i].buf, m.payload + sizeof(a), reads[i].len);
		}
		vfu_msg_clear(&m);
		if (ri < 0 && first == 0) {
			first = ri;
			*e = le;
		}
		/* a broken connection has no more replies to give */
		if (c->broken)
			break;
	}
	pthread_mutex_unlock(&c->lock);
	return r < 0 ? r : first;
}

static int region_write(struct vfio_dev *dev, unsigned index, uint64_t offset,
			const void *buf, size_t len, bool posted, struct cerr *e)
{
	struct vu_client *c = client(dev);
	size_t chunk = len < c->xfer ? len : (size_t)c->xfer;
	struct vfu_region_access *q = malloc(sizeof(*q) + chunk);
	int r = 0;

	if (!q)
		return cerr_set(e, ENOMEM, "out of memory for a %zu-byte REGION_WRITE", len);
	pthread_mutex_lock(&c->lock);
	for (size_t done = 0; done < len;) {
		size_t n = len - done < chunk ? len - done : chunk;
		struct vfu_msg m = VFU_MSG_INIT;
		char what[96];
		struct vu_req req = { .what = what, .command = VFU_CMD_REGION_WRITE,
				      .flags = posted ? VFU_FLAG_NO_REPLY : 0,
				      .payload = q, .len = sizeof(*q) + n };

		q->offset = offset + done;
		q->region = index;
		q->count = (uint32_t)n;
		memcpy(q + 1, (const uint8_t *)buf + done, n);
		snprintf(what, sizeof(what), "REGION_WRITE of %zu bytes at 0x%llx in region %u", n,
			 (unsigned long long)q->offset, index);
		r = vu_call(c, &req, &m, e);
		if (r < 0)
			break;
		vfu_msg_clear(&m);
		done += n;
	}
	pthread_mutex_unlock(&c->lock);
	free(q);
	return r;
}

static int vu_region_write(struct vfio_dev *dev, unsigned index, uint64_t offset,
			   const void *buf, size_t len, struct cerr *e)
{
	return region_write(dev, index, offset, buf, len, false, e);
}

static int vu_region_write_posted(struct vfio_dev *dev, unsigned index, uint64_t offset,
				  const void *buf, size_t len, struct cerr *e)
{
	return region_write(dev, index, offset, buf, len, true, e);
}

/* ---- irqs ---- */

static int vu_irq_info(struct vfio_dev *dev, unsigned index, uint32_t *ret_flags,
		       uint32_t *ret_count, struct cerr *e)
{
	struct vu_client *c = client(dev);
	struct vfu_irq_info q = { .argsz = sizeof(q), .index = index }, a;
	struct vfu_msg m = VFU_MSG_INIT;
	char what[64];
	struct vu_req req = { .what = what, .command = VFU_CMD_DEVICE_GET_IRQ_INFO,
			      .payload = &q, .len = sizeof(q), .min_reply = sizeof(q) };
	int r;

	snprintf(what, sizeof(what), "DEVICE_GET_IRQ_INFO for irq %u", index);
	pthread_mutex_lock(&c->lock);
	r = vu_call(c, &req, &m, e);
	pthread_mutex_unlock(&c->lock);
	if (r < 0)
		return r;
	memcpy(&a, m.payload, sizeof(a));
	vfu_msg_clear(&m);
	if (a.index != index)
		return cerr_set(e, EPROTO, "%s: the reply describes irq %u", what, a.index);
	*ret_flags = a.flags;
	*ret_count = a.count;
	return 0;
}

static int vu_set_irqs(struct vfio_dev *dev, const void *arg, size_t arglen, const int *fds,
		       unsigned nfds, struct cerr *e)
{
	struct vu_client *c = client(dev);
	struct vfu_msg m = VFU_MSG_INIT;
	struct vfu_irq_set s;
	char what[96];
	struct vu_req req = { .what = what, .command = VFU_CMD_DEVICE_SET_IRQS,
			      .payload = arg, .len = arglen, .fds = fds, .nfds = nfds };
	int r;

	memcpy(&s, arg, sizeof(s));
	if (s.count)
		snprintf(what, sizeof(what), "DEVICE_SET_IRQS for irq %u vectors %u..%u", s.index,
			 s.start, s.start + s.count - 1);
	else
		snprintf(what, sizeof(what), "DEVICE_SET_IRQS unbinding irq %u", s.index);
	pthread_mutex_lock(&c->lock);
	r = vu_call(c, &req, &m, e);
	pthread_mutex_unlock(&c->lock);
	vfu_msg_clear(&m);
	return r;
}

/* ---- DMA ---- */

static int vu_dma_map(struct vfio_dev *dev, uint64_t iova, uint64_t size, void *vaddr,
		      int fd, uint64_t fd_offset, struct cerr *e)
{
	struct vu_client *c = client(dev);
	struct vfu_dma_map q = { .argsz = sizeof(q),
				 .flags = VFU_DMA_FLAG_READ | VFU_DMA_FLAG_WRITE,
				 .offset = fd >= 0 ? fd_offset : 0, .address = iova, .size = size };
	struct vfu_msg m = VFU_MSG_INIT;
	char what[96];
	struct vu_req req = { .what = what, .command = VFU_CMD_DMA_MAP, .payload = &q,
			      .len = sizeof(q), .fds = &fd, .nfds = fd >= 0 ? 1 : 0 };
	int r = 0;

	snprintf(what, sizeof(what), "DMA_MAP of iova 0x%llx size 0x%llx",
		 (unsigned long long)iova, (unsigned long long)size);
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n_maps && r == 0; i++)
		if (iova < c->maps[i].iova + c->maps[i].size && c->maps[i].iova < iova + size)
			r = cerr_set(e, EEXIST, "%s: overlaps the mapping at iova 0x%llx size 0x%llx",
				     what, (unsigned long long)c->maps[i].iova,
				     (unsigned long long)c->maps[i].size);
	if (r == 0 && c->n_maps >= c->caps.max_dma_maps)
		r = cerr_set(e, ENOSPC, "%s: the server takes at most %u mappings", what,
			     c->caps.max_dma_maps);
	/* the server mmaps fd-backed ranges in its page size */
	if (r == 0 && fd >= 0 && ((iova | size | fd_offset) & (c->pgsize - 1)))
		r = cerr_set(e, EINVAL, "%s: not aligned to the server's page size %llu", what,
			     (unsigned long long)c->pgsize);
	if (r == 0 && fd >= 0 && c->caps.max_msg_fds == 0)
		r = cerr_set(e, ENOTSUP, "%s: the server takes no fds", what);
	if (r == 0 && c->n_maps == c->cap_maps) {
		size_t n = c->cap_maps ? c->cap_maps * 2 : 16;
		struct vu_map *grown = realloc(c->maps, n * sizeof(*grown));

		if (!grown)
			r = cerr_set(e, ENOMEM, "%s: out of memory", what);
		else {
			c->maps = grown;
			c->cap_maps = n;
		}
	}
	if (r == 0)
		r = vu_call(c, &req, &m, e);
	if (r == 0) {
		c->maps[c->n_maps].iova = iova;
		c->maps[c->n_maps].size = size;
		c->maps[c->n_maps].vaddr = vaddr;
		c->n_maps++;
	}
	pthread_mutex_unlock(&c->lock);
	vfu_msg_clear(&m);
	return r;
}

static int dma_unmap_locked(struct vu_client *c, uint64_t iova, uint64_t size, struct cerr *e)
{
	struct vfu_dma_unmap q = { .argsz = sizeof(q), .address = iova, .size = size };
	struct vfu_msg m = VFU_MSG_INIT;
	char what[96];
	struct vu_req req = { .what = what, .command = VFU_CMD_DMA_UNMAP, .payload = &q,
			      .len = sizeof(q) };
	size_t i;
	int r;

	snprintf(what, sizeof(what), "DMA_UNMAP of iova 0x%llx size 0x%llx",
		 (unsigned long long)iova, (unsigned long long)size);
	for (i = 0; i < c->n_maps; i++)
		if (c->maps[i].iova == iova && c->maps[i].size == size)
			break;
	if (i == c->n_maps)
		return cerr_set(e, EINVAL, "%s: no such mapping", what);
	r = vu_call(c, &req, &m, e);
	vfu_msg_clear(&m);
	if (r < 0)
		return r;
	c->maps[i] = c->maps[--c->n_maps];
	return 0;
}

static int vu_dma_unmap(struct vfio_dev *dev, uint64_t iova, uint64_t size, struct cerr *e)
{
	struct vu_client *c = client(dev);
	int r;

	pthread_mutex_lock(&c->lock);
	r = dma_unmap_locked(c, iova, size, e);
	pthread_mutex_unlock(&c->lock);
	return r;
}

static int vu_reset(struct vfio_dev *dev, struct cerr *e)
{
	struct vu_client *c = client(dev);
	struct vfu_msg m = VFU_MSG_INIT;
	struct vu_req req = { .what = "DEVICE_RESET", .command = VFU_CMD_DEVICE_RESET };
	int r;

	pthread_mutex_lock(&c->lock);
	r = vu_call(c, &req, &m, e);
	pthread_mutex_unlock(&c->lock);
	vfu_msg_clear(&m);
	return r;
}

/* ---- open / close ---- */

static void client_free(struct vu_client *c)
{
	if (c->sock >= 0)
		close(c->sock);
	free(c->maps);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static void vu_close(struct vfio_dev *dev)
{
	struct vu_client *c = client(dev);

	pthread_mutex_lock(&c->lock);
	/* newest first; a server that stopped answering makes the rest moot */
	while (c->n_maps && !c->broken) {
		const struct vu_map *m = &c->maps[c->n_maps - 1];

		if (dma_unmap_locked(c, m->iova, m->size, NULL) < 0)
			break;
	}
	pthread_mutex_unlock(&c->lock);
	client_free(c);
	dev->priv = NULL;
}

/* the socket: a server that exits or closes it hangs it up */
static int vu_lost_fd(const struct vfio_dev *dev, bool *ret_readable)
{
	*ret_readable = false;
	return ((const struct vu_client *)dev->priv)->sock;
}

static void vu_lost_reason(struct vfio_dev *dev, char *buf, size_t len)
{
	struct vu_client *c = client(dev);

	if (atomic_load_explicit(&c->broken_seen, memory_order_acquire))
		snprintf(buf, len, "device lost: the vfio-user connection broke: %s", c->broken_why);
	else
		snprintf(buf, len, "device lost: vfio-user socket hung up");
}

/* Before an access to a mapped area: the posted writes still in the socket
 * are done first (one round trip, only when there are some), so a doorbell
 * store never overtakes the register writes sent before it. */
static int vu_flush_posted(struct vfio_dev *dev, struct cerr *e)
{
	struct vu_client *c = client(dev);
	uint16_t vendor;

	if (!atomic_load(&c->unflushed))
		return 0;
	/* the vendor ID: a read with no side effect */
	return vu_region_read(dev, VFIO_DEV_REGION_CONFIG, 0, &vendor, sizeof(vendor), e);
}

static const struct vfio_dev_ops vu_ops = {
	.region_info = vu_region_info,
	.region_read = vu_region_read,
	.region_read_batch = vu_region_read_batch,
	.region_write = vu_region_write,
	.region_write_posted = vu_region_write_posted,
	.flush_posted = vu_flush_posted,
	.irq_info = vu_irq_info,
	.set_irqs = vu_set_irqs,
	.dma_map = vu_dma_map,
	.dma_unmap = vu_dma_unmap,
	.reset = vu_reset,
	.lost_fd = vu_lost_fd,
	.lost_reason = vu_lost_reason,
	.close = vu_close,
};

static int negotiate_version(struct vu_client *c, struct cerr *e)
{
	const struct vfu_caps ours = {
		.max_msg_fds = VFU_MAX_MSG_FDS,
		.max_data_xfer_size = VFU_MAX_DATA_XFER,
		.pgsizes = 4096,
		.max_dma_maps = 65535,
	};
	struct vfu_version v = { .major = VU_MAJOR, .minor = VU_MINOR };
	char payload[sizeof(v) + 256];
	struct vfu_msg m = VFU_MSG_INIT;
	struct vu_req req = { .what = "VERSION", .command = VFU_CMD_VERSION,
			      .payload = payload, .min_reply = sizeof(v) };
	struct vfu_caps caps;
	int n, r;

	memcpy(payload, &v, sizeof(v));
	n = vfu_caps_format(&ours, payload + sizeof(v), sizeof(payload) - sizeof(v));
	if (n < 0)
		return cerr_set(e, -n, "VERSION: cannot write our capabilities");
	req.len = sizeof(v) + (size_t)n + 1;
	r = vu_call(c, &req, &m, e);
	if (r < 0)
		return r;
	memcpy(&v, m.payload, sizeof(v));
	vfu_caps_defaults(&caps);
	if (v.major != VU_MAJOR)
		r = cerr_set(e, EPROTO, "VERSION: the server speaks protocol %u.%u, not %u.x",
			     v.major, v.minor, VU_MAJOR);
	else if (v.minor > VU_MINOR)
		r = cerr_set(e, EPROTO,
			     "VERSION: the server answered minor version %u, above the %u we proposed",
			     v.minor, VU_MINOR);
	else if (m.payload_len > sizeof(v)) {
		const char *json = (const char *)m.payload + sizeof(v);

		if (!memchr(json, '\0', m.payload_len - sizeof(v)))
			r = cerr_set(e, EINVAL,
				     "VERSION: the server's capabilities are not NUL-terminated");
		else if ((r = vfu_caps_parse(json, &caps, e)) < 0)
			cerr_prefix(e, "VERSION");
		/* the spec lets a server grant it only when the client offered
		 * it; it would come with a socket fd we never asked for */
		else if (caps.twin_socket)
			r = cerr_set(e, EINVAL,
				     "VERSION: capabilities JSON: twin_socket is supported in the reply, but the client did not propose it");
	}
	vfu_msg_clear(&m);
	if (r < 0)
		return r;
	c->caps = caps;
	c->xfer = caps.max_data_xfer_size < VFU_MAX_DATA_XFER ? caps.max_data_xfer_size
							       : VFU_MAX_DATA_XFER;
	c->pgsize = caps.pgsizes & -caps.pgsizes;
	return 0;
}

static int get_device_info(struct vfio_dev *dev, struct vu_client *c, struct cerr *e)
{
	struct vfu_device_info q = { .argsz = sizeof(q) }, a;
	struct vfu_msg m = VFU_MSG_INIT;
	struct vu_req req = { .what = "DEVICE_GET_INFO", .command = VFU_CMD_DEVICE_GET_INFO,
			      .payload = &q, .len = sizeof(q), .min_reply = sizeof(q) };
	int r = vu_call(c, &req, &m, e);

	if (r < 0)
		return r;
	memcpy(&a, m.payload, sizeof(a));
	vfu_msg_clear(&m);
	/* bounded before anything is sized by them */
	if (a.num_regions > VFIO_USER_REGION_LIMIT)
		return cerr_set(e, EPROTO,
				"DEVICE_GET_INFO: the server reports %u regions, more than the %u a PCI function may have",
				a.num_regions, VFIO_USER_REGION_LIMIT);
	if (a.num_irqs > VFIO_USER_IRQ_LIMIT)
		return cerr_set(e, EPROTO,
				"DEVICE_GET_INFO: the server reports %u irq indexes, more than the %u a PCI function may have",
				a.num_irqs, VFIO_USER_IRQ_LIMIT);
	dev->flags = a.flags;
	dev->num_regions = a.num_regions;
	dev->num_irqs = a.num_irqs;
	return 0;
}

static int connect_socket(struct vu_client *c, const char *path, struct cerr *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = c->timeout_ms / 1000,
			      .tv_usec = (c->timeout_ms % 1000) * 1000 };

	if (strlen(path) >= sizeof(sa.sun_path))
		return cerr_set(e, EINVAL, "the socket path is too long");
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->sock < 0)
		return cerr_set(e, errno, "cannot create a socket: %s", strerror(errno));
	/* bounds connect() and every send: a server that stops reading must not hang us */
	if (setsockopt(c->sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return cerr_set(e, errno, "cannot set a send timeout: %s", strerror(errno));
	if (connect(c->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;

		if (err == ENOENT)
			return cerr_set(e, err, "cannot connect: the socket does not exist (%s)",
					strerror(err));
		if (err == ECONNREFUSED)
			return cerr_set(e, err, "cannot connect: nothing listens on the socket (%s)",
					strerror(err));
		return cerr_set(e, err, "cannot connect: %s", strerror(err));
	}
	return 0;
}

int vfio_user_open(struct vfio_dev *dev, const char *path, struct cerr *e)
{
	struct vu_client *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return cerr_set(e, ENOMEM, "out of memory");
	c->sock = -1;
	c->next_id = 1;
	c->timeout_ms = dev->timeout_ms;
	c->dev = dev;
	pthread_mutex_init(&c->lock, NULL);
	r = connect_socket(c, path, e);
	if (r == 0)
		r = negotiate_version(c, e);
	if (r == 0)
		r = get_device_info(dev, c, e);
	if (r < 0) {
		client_free(c);
		return r;
	}
	dev->ops = &vu_ops;
	dev->priv = c;
	dev->irq_inline_fds = false;
	dev->irq_max_fds = c->caps.max_msg_fds < VU_SEND_FDS_MAX ? c->caps.max_msg_fds
								: VU_SEND_FDS_MAX;
	dev->posted_writes = true;
	dev->region_fds_untrusted = true;
	return 0;
}

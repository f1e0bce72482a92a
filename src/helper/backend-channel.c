/* Config-change notices on the frontends' backend channels, without ever
 * waiting on a frontend. See backend-channel.h for why this is safe next to
 * DPDK. */
#include "backend-channel.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* vhost-user specification, "Back-end message types" */
#define VU_BACKEND_CONFIG_CHANGE_MSG 2u
#define VU_BACKEND_VRING_HOST_NOTIFIER_MSG 3u
#define VU_VERSION 0x1u
#define VU_FLAG_REPLY (1u << 2)
#define VU_FLAG_NEED_REPLY (1u << 3)
#define VU_VRING_IDX_MASK 0xffull
#define VU_VRING_NOFD_MASK (1ull << 8)

struct vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
} __attribute__((packed));

struct vu_area_msg {
	struct vu_hdr hdr;
	uint64_t u64;         /* vring index, NOFD */
	uint64_t size;
	uint64_t offset;
} __attribute__((packed));

struct vu_reply_msg {
	struct vu_hdr hdr;
	uint64_t u64;         /* 0: success */
} __attribute__((packed));

typedef struct {
	int fd;               /* our dup */
	int refs;             /* under lock: the table's, the worker's */
	char label[32];
	gint64 last_warn;     /* monotonic, of the last warning about drops */
	unsigned quiet;       /* drops since then */
	/* host notifiers, under lock */
	bool hn_dead;         /* a timeout or a broken exchange: no more */
	bool hn_refusal_said; /* the first refusal was logged */
} Channel;

typedef struct {
	int conn;
	unsigned qid;
	int fd;               /* ours; -1: a removal */
	uint64_t offset, size;
	int poke_fd;          /* ours, or -1 */
	backend_channel_notifier_done done;
	void *opaque;
} HnRequest;

/* conn -> Channel *; NULL while empty */
static GMutex lock;
static GHashTable *channels;

/* the host-notifier worker, under lock */
static GCond worker_cond;
static GQueue requests = G_QUEUE_INIT;
static GThread *worker;
static bool worker_running;
static int busy_conn = -1;        /* the request under way (until its done returned) */
static int cancel_fd = -1;        /* eventfd: cut the exchange under way short */
static bool cancel_busy;

static void channel_unref(Channel *c)
{
	if (--c->refs > 0)
		return;
	close(c->fd);
	g_free(c);
}

static void request_free(HnRequest *r)
{
	if (r->fd >= 0)
		close(r->fd);
	if (r->poke_fd >= 0)
		close(r->poke_fd);
	g_free(r);
}

gboolean backend_channel_set(int conn, int fd, const char *label)
{
	struct stat st;
	Channel *c;
	int copy;

	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		g_warning("%s: the backend channel the frontend sent is not a socket; "
			  "config-change notices will not reach it", label);
		backend_channel_clear(conn);
		return FALSE;
	}
	copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (copy < 0) {
		g_warning("%s: cannot keep the backend channel (%s); config-change notices will "
			  "not reach the frontend", label, g_strerror(errno));
		backend_channel_clear(conn);
		return FALSE;
	}
	c = g_new0(Channel, 1);
	c->fd = copy;
	c->refs = 1;
	g_strlcpy(c->label, label, sizeof(c->label));
	g_mutex_lock(&lock);
	if (!channels)
		channels = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
						 (GDestroyNotify)channel_unref);
	g_hash_table_replace(channels, GINT_TO_POINTER(conn), c);
	g_mutex_unlock(&lock);
	return TRUE;
}

/* caller holds lock */
static void remove_locked(int conn)
{
	if (!channels)
		return;
	g_hash_table_remove(channels, GINT_TO_POINTER(conn));
	if (g_hash_table_size(channels) == 0)
		g_clear_pointer(&channels, g_hash_table_unref);
}

/* caller holds lock: drop @conn's queued requests, without a result */
static void drop_requests_locked(int conn)
{
	for (GList *l = requests.head, *next; l; l = next) {
		HnRequest *r = l->data;

		next = l->next;
		if (r->conn != conn)
			continue;
		g_queue_delete_link(&requests, l);
		request_free(r);
	}
}

void backend_channel_clear(int conn)
{
	GThread *done = NULL;
	gint64 deadline = g_get_monotonic_time() + (BACKEND_CHANNEL_SEND_TIMEOUT_MS +
				BACKEND_CHANNEL_REPLY_TIMEOUT_MS + 1000) * G_TIME_SPAN_MILLISECOND;

	g_mutex_lock(&lock);
	remove_locked(conn);
	drop_requests_locked(conn);
	/* a request under way: cut short, and its result not delivered; the
	 * wait is bounded by the exchange's own timeouts anyway */
	while (busy_conn == conn && conn >= 0) {
		cancel_busy = true;
		if (cancel_fd >= 0)
			(void)eventfd_write(cancel_fd, 1);
		if (!g_cond_wait_until(&worker_cond, &lock, deadline)) {
			g_warning("backend channel %d: the host-notifier worker did not let go "
				  "in time", conn);
			break;
		}
	}
	/* the last channel gone: the worker, whose requests now fail at once,
	 * is joined, and its eventfd closed */
	while (!channels && worker_running)
		if (!g_cond_wait_until(&worker_cond, &lock, deadline))
			break;
	if (!channels && worker && !worker_running) {
		done = worker;
		worker = NULL;
		if (cancel_fd >= 0)
			close(cancel_fd);
		cancel_fd = -1;
	}
	g_mutex_unlock(&lock);
	if (done)
		g_thread_join(done);
}

/* caller holds lock: a full channel, said once per BACKEND_CHANNEL_WARN_SECONDS */
static void warn_dropped(Channel *c)
{
	gint64 now = g_get_monotonic_time();

	if (c->last_warn && now - c->last_warn < BACKEND_CHANNEL_WARN_SECONDS * G_TIME_SPAN_SECOND) {
		c->quiet++;
		return;
	}
	if (c->quiet)
		g_warning("%s: config-change notice dropped: the frontend does not read its backend "
			  "channel (%u more dropped in the last %d s)", c->label, c->quiet,
			  BACKEND_CHANNEL_WARN_SECONDS);
	else
		g_warning("%s: config-change notice dropped: the frontend does not read its backend "
			  "channel (the notices it has not read tell it the same)", c->label);
	c->last_warn = now;
	c->quiet = 0;
}

int backend_channel_config_changed(int conn)
{
	struct vu_hdr hdr = { .request = VU_BACKEND_CONFIG_CHANGE_MSG, .flags = VU_VERSION };
	Channel *c;
	ssize_t n;
	int r = 0;

	g_mutex_lock(&lock);
	c = channels ? g_hash_table_lookup(channels, GINT_TO_POINTER(conn)) : NULL;
	if (!c) {
		g_mutex_unlock(&lock);
		return -ENOTCONN;
	}
	/* MSG_DONTWAIT: the lock and the caller never wait on the frontend */
	n = send(c->fd, &hdr, sizeof(hdr), MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n == (ssize_t)sizeof(hdr)) {
		r = 0;
	} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		warn_dropped(c);
		r = -EAGAIN;
	} else {
		/* gone, or a short write that left the stream out of step:
		 * no more notices on this channel */
		r = n < 0 ? -errno : -EPROTO;
		g_warning("%s: the backend channel broke (%s); no more config-change notices "
			  "until the frontend sends a new one", c->label,
			  n < 0 ? g_strerror(errno) : "short write");
		remove_locked(conn);
	}
	g_mutex_unlock(&lock);
	return r;
}

/* ---- host notifiers (the worker thread) ---- */

/* Wait until @fd is ready for @events, at most @timeout_ms, unless the
 * exchange is cut short: 0 ready, -ETIMEDOUT, -ECANCELED, -errno. */
static int wait_fd(int fd, short events, int timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + timeout_ms * G_TIME_SPAN_MILLISECOND;

	for (;;) {
		struct pollfd pf[2] = { { .fd = fd, .events = events },
					{ .fd = cancel_fd, .events = POLLIN } };
		gint64 left = (deadline - g_get_monotonic_time()) / G_TIME_SPAN_MILLISECOND;
		int n;

		if (left < 0)
			return -ETIMEDOUT;
		n = poll(pf, 2, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (pf[1].revents & POLLIN)
			return -ECANCELED;
		if (pf[0].revents & (POLLHUP | POLLERR | POLLNVAL) && !(pf[0].revents & events))
			return -EPIPE;
		if (pf[0].revents & events)
			return 0;
	}
}

/* Send @r's message on @c: whole, or the channel is broken. */
static int send_request(Channel *c, const HnRequest *r)
{
	struct vu_area_msg m = {
		.hdr = { .request = VU_BACKEND_VRING_HOST_NOTIFIER_MSG,
			 .flags = VU_VERSION | VU_FLAG_NEED_REPLY,
			 .size = sizeof(m) - sizeof(m.hdr) },
		.u64 = (r->qid & VU_VRING_IDX_MASK) | (r->fd < 0 ? VU_VRING_NOFD_MASK : 0),
		.size = r->fd < 0 ? 0 : r->size,
		.offset = r->fd < 0 ? 0 : r->offset,
	};
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;
	int w;

	if (r->fd >= 0) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &r->fd, sizeof(int));
	}
	for (;;) {
		if ((w = wait_fd(c->fd, POLLOUT, BACKEND_CHANNEL_SEND_TIMEOUT_MS)) < 0)
			return w;
		/* under lock: a config-change notice never lands inside it */
		g_mutex_lock(&lock);
		n = sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		g_mutex_unlock(&lock);
		if (n == (ssize_t)sizeof(m))
			return 0;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			continue;
		return n < 0 ? -errno : -EPROTO;
	}
}

/* The frontend's answer to @r: 0 accepted, -EREMOTEIO refused, another
 * -errno when none came in time or it was out of step. */
static int read_reply(Channel *c, const HnRequest *r)
{
	struct vu_reply_msg m;
	size_t got = 0;
	gint64 deadline = g_get_monotonic_time() +
			  BACKEND_CHANNEL_REPLY_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;

	while (got < sizeof(m)) {
		gint64 left = (deadline - g_get_monotonic_time()) / G_TIME_SPAN_MILLISECOND;
		ssize_t n;
		int w;

		if (left < 0)
			return -ETIMEDOUT;
		if ((w = wait_fd(c->fd, POLLIN, (int)left)) < 0)
			return w;
		n = recv(c->fd, (char *)&m + got, sizeof(m) - got, MSG_DONTWAIT);
		if (n == 0)
			return -EPIPE;
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return -errno;
		got += (size_t)n;
	}
	(void)r;
	if (m.hdr.request != VU_BACKEND_VRING_HOST_NOTIFIER_MSG || !(m.hdr.flags & VU_FLAG_REPLY) ||
	    m.hdr.size != sizeof(m.u64))
		return -EPROTO;
	return m.u64 == 0 ? 0 : -EREMOTEIO;
}

static const char *exchange_failure(int r)
{
	switch (r) {
	case -ETIMEDOUT:
		return "the frontend did not read its backend channel or answer in time";
	case -EPIPE:
	case -ECONNRESET:
		return "the frontend closed its backend channel";
	case -EPROTO:
		return "the frontend's answer was out of step";
	default:
		return g_strerror(-r);
	}
}

/* caller holds lock: a cancel meant for the request before */
static void drain_cancel(void)
{
	eventfd_t v;

	cancel_busy = false;
	if (cancel_fd >= 0)
		(void)eventfd_read(cancel_fd, &v);
}

static void *worker_main(void *unused)
{
	(void)unused;
	g_mutex_lock(&lock);
	for (;;) {
		HnRequest *r = g_queue_pop_head(&requests);
		Channel *c;
		bool on = false;
		int x;

		if (!r)
			break;
		c = channels ? g_hash_table_lookup(channels, GINT_TO_POINTER(r->conn)) : NULL;
		busy_conn = r->conn;
		drain_cancel();
		if (c && !c->hn_dead) {
			c->refs++;
			g_mutex_unlock(&lock);
			x = send_request(c, r);
			if (x == 0)
				x = read_reply(c, r);
			g_mutex_lock(&lock);
			if (x == -EREMOTEIO) {
				if (r->fd >= 0 && !c->hn_refusal_said) {
					c->hn_refusal_said = true;
					g_message("%s: the frontend refused the host notifier of vring %u "
						  "(QEMU maps one only with page-per-vq=on on the virtio "
						  "device; libvirt: <driver page_per_vq='on'/>): its kicks "
						  "go through the relay", c->label, r->qid);
				}
			} else if (x < 0 && x != -ECANCELED && !cancel_busy && r->fd < 0 &&
				   (x == -EPIPE || x == -ECONNRESET)) {
				/* a notifier taken back from a frontend that closed:
				 * a VM that shut down, the end of a normal life */
				c->hn_dead = true;
				g_debug("%s: vring %u: no host notifier to take back, the frontend "
					"closed its backend channel", c->label, r->qid);
			} else if (x < 0 && x != -ECANCELED && !cancel_busy) {
				c->hn_dead = true;
				g_warning("%s: host notifiers given up on this backend channel, vring %u: "
					  "%s; kicks go through the relay", c->label, r->qid,
					  exchange_failure(x));
			}
			on = x == 0 && r->fd >= 0;
			if (on)
				g_message("%s: vring %u: kicks go to its doorbell page (host notifier)",
					  c->label, r->qid);
			if (x == 0 && r->fd < 0 && r->poke_fd >= 0)
				(void)eventfd_write(r->poke_fd, 1);
			channel_unref(c);
		} else {
			x = -ENOTCONN;
		}
		if (!cancel_busy && r->done) {
			/* busy_conn still names this conn: backend_channel_clear()
			 * waits for the callback to return */
			g_mutex_unlock(&lock);
			r->done(r->opaque, r->conn, r->qid, on);
			g_mutex_lock(&lock);
		}
		request_free(r);
		busy_conn = -1;
		drain_cancel();
		g_cond_broadcast(&worker_cond);
	}
	worker_running = false;
	g_cond_broadcast(&worker_cond);
	g_mutex_unlock(&lock);
	return NULL;
}

void backend_channel_host_notifier(int conn, unsigned qid, int fd, uint64_t offset,
				   uint64_t size, int poke_fd, backend_channel_notifier_done done,
				   void *opaque)
{
	HnRequest *r = g_new0(HnRequest, 1);
	GThread *old = NULL;

	r->conn = conn;
	r->qid = qid;
	r->fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
	r->offset = offset;
	r->size = size;
	r->poke_fd = poke_fd >= 0 ? fcntl(poke_fd, F_DUPFD_CLOEXEC, 0) : -1;
	r->done = done;
	r->opaque = opaque;
	if (fd >= 0 && r->fd < 0) {
		g_warning("backend channel %d: vring %u: cannot keep the host notifier's fd (%s)",
			  conn, qid, g_strerror(errno));
		request_free(r);
		if (done)
			done(opaque, conn, qid, false);
		return;
	}
	g_mutex_lock(&lock);
	if (cancel_fd < 0)
		cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	g_queue_push_tail(&requests, r);
	/* the last worker ran out of requests: it is gone or going */
	while (!worker_running && worker) {
		old = worker;
		worker = NULL;
		g_mutex_unlock(&lock);
		g_thread_join(old);
		g_mutex_lock(&lock);
	}
	if (!worker_running) {
		GError *error = NULL;

		/* under lock: it starts by taking it */
		worker = g_thread_try_new("ifcvf-hnotify", worker_main, NULL, &error);
		if (worker) {
			worker_running = true;
		} else {
			g_warning("backend channel %d: no host-notifier worker (%s); kicks go "
				  "through the relay", conn, error->message);
			g_error_free(error);
			g_queue_remove(&requests, r);
			g_mutex_unlock(&lock);
			request_free(r);
			if (done)
				done(opaque, conn, qid, false);
			return;
		}
	}
	g_mutex_unlock(&lock);
}

void backend_channel_shutdown(void)
{
	gint64 deadline = g_get_monotonic_time() + (BACKEND_CHANNEL_SEND_TIMEOUT_MS +
				BACKEND_CHANNEL_REPLY_TIMEOUT_MS + 1000) * G_TIME_SPAN_MILLISECOND;
	GThread *done = NULL;
	HnRequest *r;

	g_mutex_lock(&lock);
	while ((r = g_queue_pop_head(&requests)))
		request_free(r);
	/* the worker keeps its own reference to a channel it uses */
	g_clear_pointer(&channels, g_hash_table_unref);
	while (worker_running) {
		if (busy_conn >= 0) {
			cancel_busy = true;
			if (cancel_fd >= 0)
				(void)eventfd_write(cancel_fd, 1);
		}
		if (!g_cond_wait_until(&worker_cond, &lock, deadline)) {
			g_warning("backend channels: the host-notifier worker did not stop in time");
			break;
		}
	}
	if (!worker_running) {
		done = worker;
		worker = NULL;
		if (cancel_fd >= 0)
			close(cancel_fd);
		cancel_fd = -1;
	}
	g_mutex_unlock(&lock);
	if (done)
		g_thread_join(done);
}

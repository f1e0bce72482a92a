/* A hostile vfio-user client against the real ifcvf-emu: a raw client that
 * speaks the wire format itself and does what a well-behaved one never
 * would (a saturated or fake eventfd, replies left unread, a DMA-mapped
 * memfd shrunk under the device, unaligned or huge DMA maps, malformed
 * VERSION capabilities). Each case asserts the error reply or that the
 * client was dropped, then that the next client is served, and that SIGTERM
 * still ends the emulator cleanly (test_emu_stop: bounded wait, exit 0). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "ifcvf-regs.h"
#include "raw-client.h"
#include "test-util.h"
#include "vfio-user-wire.h"

/* what a well-behaved request waits for its reply */
#define REPLY_TIMEOUT_MS 5000
/* what the next client may wait while the emulator gets rid of a stalled
 * one (its send timeout is 5 s): a liveness bound, not a measurement */
#define NEXT_CLIENT_TIMEOUT_MS 30000
#define REGION_CONFIG 7u
#define IRQ_MSIX 2u
#define IRQ_SET_DATA_NONE 0x1u
#define IRQ_SET_DATA_EVENTFD 0x4u
#define IRQ_SET_ACTION_TRIGGER 0x20u
#define DMA_RW (VFU_DMA_FLAG_READ | VFU_DMA_FLAG_WRITE)
#define RING_IOVA 0x100000u
#define RING_BYTES 0x4000u

/* ---- a raw client ---- */

/* Client, client_connect(), client_free(): raw-client.h */

/* One request and its reply within @timeout_ms. Returns 0 or the reply's
 * errno; a reply that never came or a closed connection fails the test,
 * naming @what. */
static int client_call_timeout(Client *c, const char *what, guint16 cmd, const void *payload,
			       size_t len, const int *fds, unsigned nfds, int timeout_ms,
			       struct vfu_msg *reply)
{
	struct vfu_hdr h = { .msg_id = c->next_id++, .command = cmd };
	struct vfu_msg m = VFU_MSG_INIT;
	struct cerr e = { 0 };

	if (vfu_send(c->fd, &h, payload, len, fds, nfds, &e) < 0)
		g_error("%s: cannot send %s: %s", what, vfu_command_name(cmd), e.msg);
	if (vfu_recv(c->fd, &m, VFU_MAX_MSG_SIZE, timeout_ms, &e) < 0)
		g_error("%s: no reply to %s: %s", what, vfu_command_name(cmd), e.msg);
	g_assert_cmpuint(m.hdr.msg_id, ==, h.msg_id);
	g_assert_cmpuint(m.hdr.command, ==, cmd);
	g_assert_cmpuint(m.hdr.flags & VFU_FLAG_TYPE_MASK, ==, VFU_FLAG_TYPE_REPLY);
	if (reply) {
		*reply = m;
	} else {
		vfu_msg_clear(&m);
	}
	return (m.hdr.flags & VFU_FLAG_ERROR) ? (int)m.hdr.error : 0;
}

static int client_call(Client *c, const char *what, guint16 cmd, const void *payload,
		       size_t len, const int *fds, unsigned nfds)
{
	return client_call_timeout(c, what, cmd, payload, len, fds, nfds, REPLY_TIMEOUT_MS, NULL);
}

/* VERSION with @json (NULL: none); returns the reply's errno. */
static int client_version_json(Client *c, const char *json, int timeout_ms,
			       struct vfu_msg *reply)
{
	struct vfu_version v = { .major = 0, .minor = 0 };
	size_t jlen = json ? strlen(json) + 1 : 0;
	g_autofree guint8 *buf = g_malloc(sizeof(v) + jlen);

	memcpy(buf, &v, sizeof(v));
	if (json)
		memcpy(buf + sizeof(v), json, jlen);
	return client_call_timeout(c, json ? json : "VERSION without capabilities",
				   VFU_CMD_VERSION, buf, sizeof(v) + jlen, NULL, 0, timeout_ms,
				   reply);
}

static void client_version(Client *c)
{
	g_assert_cmpint(client_version_json(c, "{\"capabilities\":{\"max_msg_fds\":8}}",
					    REPLY_TIMEOUT_MS, NULL), ==, 0);
}

static int region_write(Client *c, guint32 region, guint64 off, guint32 len, guint32 val)
{
	struct vfu_region_access a = { .offset = off, .region = region, .count = len };
	guint8 buf[sizeof(a) + 4];

	g_assert_cmpuint(len, <=, 4);
	memcpy(buf, &a, sizeof(a));
	memcpy(buf + sizeof(a), &val, len);
	return client_call(c, "REGION_WRITE", VFU_CMD_REGION_WRITE, buf, sizeof(a) + len, NULL, 0);
}

static guint32 region_read_timeout(Client *c, guint32 region, guint64 off, guint32 len,
				   int timeout_ms)
{
	struct vfu_region_access a = { .offset = off, .region = region, .count = len };
	struct vfu_msg m = VFU_MSG_INIT;
	guint32 v = 0;

	g_assert_cmpint(client_call_timeout(c, "REGION_READ", VFU_CMD_REGION_READ, &a, sizeof(a),
					    NULL, 0, timeout_ms, &m), ==, 0);
	g_assert_cmpuint(m.payload_len, ==, sizeof(a) + len);
	memcpy(&v, m.payload + sizeof(a), len);
	vfu_msg_clear(&m);
	return v;
}

static guint32 rd(Client *c, guint32 region, guint64 off, guint32 len)
{
	return region_read_timeout(c, region, off, len, REPLY_TIMEOUT_MS);
}

static int set_irqs(Client *c, guint32 flags, guint32 start, guint32 count, const int *fds,
		    unsigned nfds)
{
	struct vfu_irq_set s = { .argsz = sizeof(s), .flags = flags, .index = IRQ_MSIX,
				 .start = start, .count = count };

	return client_call(c, "DEVICE_SET_IRQS", VFU_CMD_DEVICE_SET_IRQS, &s, sizeof(s), fds,
			   nfds);
}

static int dma_map(Client *c, int fd, guint64 offset, guint64 iova, guint64 size)
{
	struct vfu_dma_map d = { .argsz = sizeof(d), .flags = DMA_RW, .offset = offset,
				 .address = iova, .size = size };

	return client_call(c, "DMA_MAP", VFU_CMD_DMA_MAP, &d, sizeof(d), fd >= 0 ? &fd : NULL,
			   fd >= 0 ? 1 : 0);
}

/* True once the emulator has closed @fd (whatever was still unread is
 * discarded), false if it is still open after @timeout_ms. */
static gboolean peer_closed(int fd, int timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	for (;;) {
		gint64 left = (deadline - g_get_monotonic_time()) / 1000;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char b[4096];
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return FALSE;
		n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return TRUE;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return FALSE;
	}
}

/* The emulator still serves: a new client negotiates and reads the vendor
 * id, each answer within @timeout_ms. */
static void assert_next_client_served(TestEmu *emu, int timeout_ms)
{
	g_autoptr(Client) c = client_connect(emu->socket);

	g_assert_cmpint(client_version_json(c, NULL, timeout_ms, NULL), ==, 0);
	g_assert_cmphex(region_read_timeout(c, REGION_CONFIG, 0, 2, timeout_ms), ==, 0x1af4);
}

/* ---- the virtio registers, enough to start one queue ---- */

typedef struct {
	Client *c;
	guint32 common_bar, common_off;
	guint32 notify_bar, notify_off, notify_mult;
} Dev;

static void dev_init(Dev *d, Client *c)
{
	guint8 pos = (guint8)rd(c, REGION_CONFIG, PCI_CFG_CAP_PTR, 1);
	guint hops = 0;

	memset(d, 0, sizeof(*d));
	d->c = c;
	d->common_bar = d->notify_bar = G_MAXUINT32;
	for (; pos && hops < 48; hops++, pos = (guint8)rd(c, REGION_CONFIG, pos + 1, 1)) {
		guint8 type;

		if (rd(c, REGION_CONFIG, pos, 1) != PCI_CAP_ID_VNDR)
			continue;
		type = (guint8)rd(c, REGION_CONFIG, pos + VIRTIO_PCI_CAP_CFG_TYPE, 1);
		if (type == VIRTIO_PCI_CAP_COMMON_CFG) {
			d->common_bar = rd(c, REGION_CONFIG, pos + VIRTIO_PCI_CAP_BAR, 1);
			d->common_off = rd(c, REGION_CONFIG, pos + VIRTIO_PCI_CAP_OFFSET, 4);
		} else if (type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
			d->notify_bar = rd(c, REGION_CONFIG, pos + VIRTIO_PCI_CAP_BAR, 1);
			d->notify_off = rd(c, REGION_CONFIG, pos + VIRTIO_PCI_CAP_OFFSET, 4);
			d->notify_mult = rd(c, REGION_CONFIG, pos + VIRTIO_PCI_NOTIFY_CAP_MULT, 4);
		}
	}
	g_assert_cmpuint(d->common_bar, !=, G_MAXUINT32);
	g_assert_cmpuint(d->notify_bar, !=, G_MAXUINT32);
}

static int cwr(Dev *d, guint32 off, guint32 len, guint32 v)
{
	return region_write(d->c, d->common_bar, d->common_off + off, len, v);
}

/* Queue @q (size 64) with its rings at @iova (desc), +0x1000 (avail) and
 * +0x2000 (used), the driver ready; enabling it makes the device read the
 * used ring. Returns the errno of the enabling write. */
static int start_queue(Dev *d, guint32 q, guint64 iova)
{
	g_assert_cmpint(cwr(d, VIRTIO_COMMON_STATUS, 1,
			    VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			    VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK), ==, 0);
	g_assert_cmpint(cwr(d, VIRTIO_COMMON_Q_SELECT, 2, q), ==, 0);
	g_assert_cmpint(cwr(d, VIRTIO_COMMON_Q_SIZE, 2, 64), ==, 0);
	g_assert_cmpint(cwr(d, VIRTIO_COMMON_Q_DESCLO, 4, (guint32)iova), ==, 0);
	g_assert_cmpint(cwr(d, VIRTIO_COMMON_Q_AVAILLO, 4, (guint32)iova + 0x1000), ==, 0);
	g_assert_cmpint(cwr(d, VIRTIO_COMMON_Q_USEDLO, 4, (guint32)iova + 0x2000), ==, 0);
	return cwr(d, VIRTIO_COMMON_Q_ENABLE, 2, 1);
}

/* Where queue @q's doorbell is (the queue selected by start_queue). */
static guint64 doorbell_offset(Dev *d)
{
	guint16 noff = (guint16)rd(d->c, d->common_bar, d->common_off + VIRTIO_COMMON_Q_NOFF, 2);

	return d->notify_off + (guint64)noff * d->notify_mult;
}

/* Ring a doorbell without waiting for the answer (the client may be
 * dropped by then). */
static void kick_nowait(Dev *d, guint64 doorbell, guint16 q)
{
	struct vfu_region_access a = { .offset = doorbell, .region = d->notify_bar, .count = 2 };
	guint8 buf[sizeof(a) + 2];
	struct vfu_hdr h = { .msg_id = d->c->next_id++, .command = VFU_CMD_REGION_WRITE };
	struct cerr e = { 0 };

	memcpy(buf, &a, sizeof(a));
	memcpy(buf + sizeof(a), &q, sizeof(q));
	(void)vfu_send(d->c->fd, &h, buf, sizeof(buf), NULL, 0, &e);
}

/* ---- interrupts ---- */

/* A blocking eventfd one below its maximum count: a blocking write of 1
 * would wait for a reader forever. The interrupt is pending anyway, so the
 * trigger succeeds and the counter is left as it was. */
static void test_irq_saturated_eventfd(void)
{
	TestEmu *emu = test_emu_start(NULL);
	g_autoptr(Client) c = client_connect(emu->socket);
	int efd = eventfd(0, EFD_CLOEXEC);   /* blocking, as a careless client makes it */
	eventfd_t v = 0;

	g_assert_cmpint(efd, >=, 0);
	g_assert_cmpint(eventfd_write(efd, 0xfffffffffffffffeull), ==, 0);
	client_version(c);
	g_assert_cmpint(set_irqs(c, IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER, 0, 1, &efd, 1),
			==, 0);
	/* the emulator raises vector 0 now: it must answer, not block */
	g_assert_cmpint(set_irqs(c, IRQ_SET_DATA_NONE | IRQ_SET_ACTION_TRIGGER, 0, 1, NULL, 0),
			==, 0);
	g_assert_cmpint(eventfd_read(efd, &v), ==, 0);
	g_assert_cmphex(v, ==, 0xfffffffffffffffeull);
	g_assert_cmphex(rd(c, REGION_CONFIG, 0, 2), ==, 0x1af4);
	close(efd);
	g_clear_pointer(&c, client_free);
	assert_next_client_served(emu, REPLY_TIMEOUT_MS);
	test_emu_stop(emu);
}

/* The client makes its eventfd blocking again after binding it (the flag
 * belongs to the open file both share) and saturates it: raising the vector
 * would block for good. The emulator gives that write up, answers the
 * request that raised it with an error and drops the client. */
static void test_irq_made_blocking_again(void)
{
	TestEmu *emu = test_emu_start(NULL);
	g_autoptr(Client) c = client_connect(emu->socket);
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	g_assert_cmpint(efd, >=, 0);
	client_version(c);
	g_assert_cmpint(set_irqs(c, IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER, 0, 1, &efd, 1),
			==, 0);
	g_assert_cmpint(fcntl(efd, F_SETFL, 0), ==, 0);
	g_assert_cmpint(eventfd_write(efd, 0xfffffffffffffffeull), ==, 0);
	g_assert_cmpint(set_irqs(c, IRQ_SET_DATA_NONE | IRQ_SET_ACTION_TRIGGER, 0, 1, NULL, 0),
			==, EIO);
	g_assert_true(peer_closed(c->fd, REPLY_TIMEOUT_MS));
	close(efd);
	g_clear_pointer(&c, client_free);
	assert_next_client_served(emu, REPLY_TIMEOUT_MS);
	test_emu_stop(emu);
}

/* The same from the datapath: the config vector's eventfd is made blocking
 * and full, and a queue whose rings are not mapped stops with a device
 * error, which raises the config vector after the request was answered.
 * The client is dropped. */
static void test_irq_made_blocking_datapath(void)
{
	TestEmu *emu = test_emu_start(NULL);
	g_autoptr(Client) c = client_connect(emu->socket);
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int r;
	Dev d;

	g_assert_cmpint(efd, >=, 0);
	client_version(c);
	dev_init(&d, c);
	g_assert_cmpint(set_irqs(c, IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER, 0, 1, &efd, 1),
			==, 0);
	g_assert_cmpint(cwr(&d, VIRTIO_COMMON_MSIX, 2, 0), ==, 0);
	g_assert_cmpint(fcntl(efd, F_SETFL, 0), ==, 0);
	g_assert_cmpint(eventfd_write(efd, 0xfffffffffffffffeull), ==, 0);
	/* nothing is DMA-mapped: the queue faults once it runs (a kick) */
	r = start_queue(&d, 1, RING_IOVA);
	g_assert_true(r == 0 || r == EIO);
	if (r == 0)
		kick_nowait(&d, doorbell_offset(&d), 1);
	g_assert_true(peer_closed(c->fd, REPLY_TIMEOUT_MS));
	close(efd);
	g_clear_pointer(&c, client_free);
	assert_next_client_served(emu, REPLY_TIMEOUT_MS);
	test_emu_stop(emu);
}

/* Only eventfds are interrupt fds: a pipe (which blocks when full) or a
 * plain file is refused with EINVAL, and the client may go on. */
static void test_irq_not_an_eventfd(void)
{
	TestEmu *emu = test_emu_start(NULL);
	g_autoptr(Client) c = client_connect(emu->socket);
	int p[2], mfd, efd;

	g_assert_cmpint(pipe2(p, O_CLOEXEC), ==, 0);
	mfd = memfd_create("emu-hostile", MFD_CLOEXEC);
	g_assert_cmpint(mfd, >=, 0);
	client_version(c);
	g_assert_cmpint(set_irqs(c, IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER, 0, 1, &p[1], 1),
			==, EINVAL);
	g_assert_cmpint(set_irqs(c, IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER, 0, 1, &mfd, 1),
			==, EINVAL);
	/* nothing was bound: a trigger goes nowhere and is answered */
	g_assert_cmpint(set_irqs(c, IRQ_SET_DATA_NONE | IRQ_SET_ACTION_TRIGGER, 0, 1, NULL, 0),
			==, 0);
	/* a real eventfd next to a fake one: the whole request is refused */
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	{
		int two[2] = { efd, p[1] };

		g_assert_cmpint(set_irqs(c, IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER, 0, 2,
					 two, 2), ==, EINVAL);
	}
	g_assert_cmpint(set_irqs(c, IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER, 0, 1, &efd, 1),
			==, 0);
	close(efd);
	close(mfd);
	close(p[0]);
	close(p[1]);
	g_clear_pointer(&c, client_free);
	assert_next_client_served(emu, REPLY_TIMEOUT_MS);
	test_emu_stop(emu);
}

/* ---- a client that stops reading ---- */

/* Pipeline config-space reads and never read a reply, until the emulator
 * takes no request for a second: it is then waiting to send a reply nobody
 * takes (its socket is full both ways). A slow emulator can only make this
 * give up early, so a case may pass wrongly on old code, never fail
 * wrongly on good code. */
static void stall_emulator(Client *c)
{
	struct vfu_region_access a = { .offset = 0, .region = REGION_CONFIG, .count = 256 };
	guint8 msg[VFU_HDR_SIZE + sizeof(a)];
	struct vfu_hdr h = { .command = VFU_CMD_REGION_READ,
			     .msg_size = (guint32)sizeof(msg) };
	size_t part = 0;

	memcpy(msg + VFU_HDR_SIZE, &a, sizeof(a));
	for (guint i = 0;; i++) {
		struct pollfd p = { .fd = c->fd, .events = POLLOUT };
		ssize_t n;

		g_assert_cmpuint(i, <, 10000000);
		if (part == 0) {
			h.msg_id = (guint16)i;
			memcpy(msg, &h, sizeof(h));
		}
		n = send(c->fd, msg + part, sizeof(msg) - part, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			part = (part + (size_t)n) % sizeof(msg);
			continue;
		}
		/* dropped already (a very slow run): stuck it was */
		if (errno == EPIPE || errno == ECONNRESET)
			return;
		g_assert_cmpint(errno, ==, EAGAIN);
		if (poll(&p, 1, 1000) == 0)
			return;
	}
}

/* SIGTERM while a reply is stuck: the emulator stops at once (a blocked
 * send would keep it forever; test_emu_stop gives it 5 s). */
static void test_stalled_reader_sigterm(void)
{
	TestEmu *emu = test_emu_start(NULL);
	g_autoptr(Client) c = client_connect(emu->socket);

	client_version(c);
	stall_emulator(c);
	test_emu_stop(emu);
}

/* The stalled client is dropped after the send timeout and the next one is
 * served. */
static void test_stalled_reader_dropped(void)
{
	TestEmu *emu = test_emu_start(NULL);
	g_autoptr(Client) c = client_connect(emu->socket);
	g_autoptr(Client) next = NULL;

	client_version(c);
	stall_emulator(c);
	/* waiting in the backlog while the emulator is stuck; served once the
	 * stalled client is gone (one client at a time). Reading the stalled
	 * client's replies before that would unstall it. */
	next = client_connect(emu->socket);
	g_assert_cmpint(client_version_json(next, NULL, NEXT_CLIENT_TIMEOUT_MS, NULL), ==, 0);
	g_assert_cmphex(rd(next, REGION_CONFIG, 0, 2), ==, 0x1af4);
	g_assert_true(peer_closed(c->fd, REPLY_TIMEOUT_MS));
	g_clear_pointer(&next, client_free);
	g_clear_pointer(&c, client_free);
	test_emu_stop(emu);
}

/* ---- DMA ---- */

static int ring_memfd(void)
{
	int mfd = memfd_create("emu-hostile", MFD_CLOEXEC);

	g_assert_cmpint(mfd, >=, 0);
	g_assert_cmpint(ftruncate(mfd, RING_BYTES), ==, 0);
	return mfd;
}

/* The memfd behind a DMA map is shrunk before the device first touches it:
 * the request that makes it touch the memory is refused (EFAULT) and the
 * client dropped; the emulator lives on. */
static void test_dma_shrunk_before_use(void)
{
	TestEmu *emu = test_emu_start(NULL);
	g_autoptr(Client) c = client_connect(emu->socket);
	int mfd = ring_memfd();
	Dev d;

	client_version(c);
	dev_init(&d, c);
	g_assert_cmpint(dma_map(c, mfd, 0, RING_IOVA, RING_BYTES), ==, 0);
	g_assert_cmpint(ftruncate(mfd, 0), ==, 0);
	g_assert_cmpint(start_queue(&d, 1, RING_IOVA), ==, EFAULT);
	g_assert_true(peer_closed(c->fd, REPLY_TIMEOUT_MS));
	close(mfd);
	g_clear_pointer(&c, client_free);
	assert_next_client_served(emu, REPLY_TIMEOUT_MS);
	test_emu_stop(emu);
}

/* Shrunk while the queue runs: the datapath's next look at the ring finds
 * the memory gone, and the client is dropped. */
static void test_dma_shrunk_while_running(void)
{
	TestEmu *emu = test_emu_start(NULL);
	g_autoptr(Client) c = client_connect(emu->socket);
	int mfd = ring_memfd();
	guint64 doorbell;
	Dev d;

	client_version(c);
	dev_init(&d, c);
	g_assert_cmpint(dma_map(c, mfd, 0, RING_IOVA, RING_BYTES), ==, 0);
	g_assert_cmpint(start_queue(&d, 1, RING_IOVA), ==, 0);
	doorbell = doorbell_offset(&d);
	g_assert_cmpint(ftruncate(mfd, 0), ==, 0);
	/* a TX doorbell: the device reads the avail ring after answering (or
	 * it has looked at the rings on its own already) */
	kick_nowait(&d, doorbell, 1);
	g_assert_true(peer_closed(c->fd, REPLY_TIMEOUT_MS));
	close(mfd);
	g_clear_pointer(&c, client_free);
	assert_next_client_served(emu, REPLY_TIMEOUT_MS);
	test_emu_stop(emu);
}

/* Maps the device could never honour are refused up front. */
static void test_dma_bad_ranges(void)
{
	TestEmu *emu = test_emu_start(NULL);
	g_autoptr(Client) c = client_connect(emu->socket);
	int mfd = ring_memfd();

	client_version(c);
	/* not on 4 KiB pages (the pgsizes the emulator advertises) */
	g_assert_cmpint(dma_map(c, mfd, 0x10, RING_IOVA, 0x1000), ==, EINVAL);
	g_assert_cmpint(dma_map(c, mfd, 0, RING_IOVA + 0x800, 0x1000), ==, EINVAL);
	g_assert_cmpint(dma_map(c, mfd, 0, RING_IOVA, 0x1800), ==, EINVAL);
	g_assert_cmpint(dma_map(c, -1, 0, RING_IOVA + 0x10, 0x1000), ==, EINVAL);
	/* 2^62 bytes without an fd, and ranges that wrap */
	g_assert_cmpint(dma_map(c, -1, 0, 0, G_GUINT64_CONSTANT(1) << 62), ==, EINVAL);
	g_assert_cmpint(dma_map(c, -1, 0, G_GUINT64_CONSTANT(0xfffffffffffff000), 0x2000), ==,
			EINVAL);
	g_assert_cmpint(dma_map(c, mfd, G_GUINT64_CONSTANT(0xfffffffffffff000), RING_IOVA, 0x2000),
			==, EINVAL);
	/* the sane ones still work */
	g_assert_cmpint(dma_map(c, mfd, 0x1000, RING_IOVA, 0x2000), ==, 0);
	g_assert_cmpint(dma_map(c, -1, 0, 0x40000000, 0x100000), ==, 0);
	close(mfd);
	g_clear_pointer(&c, client_free);
	assert_next_client_served(emu, REPLY_TIMEOUT_MS);
	test_emu_stop(emu);
}

/* ---- VERSION ---- */

static const char *const bad_caps[] = {
	"{garbage",
	"{\"capabilities\":{\"max_msg_fds\":-1}}",
	"{\"capabilities\":{\"max_msg_fds\":\"8\"}}",
	"{\"capabilities\":{\"max_msg_fds\":1.5}}",
	"{\"capabilities\":{\"max_msg_fds\":100000}}",
	"{\"capabilities\":{\"max_data_xfer_size\":true}}",
	"{\"capabilities\":{\"pgsizes\":[4096]}}",
	"{\"capabilities\":[]}",
	"{\"capabilities\":{\"max_msg_fds\":8}} trailing",
	"{\"capabilities\":{\"max_msg_fds\":8,}}",
	"[]",
};

/* Malformed capabilities get EINVAL and leave the connection unnegotiated:
 * a good VERSION then works on the same socket. */
static void test_version_malformed(void)
{
	TestEmu *emu = test_emu_start(NULL);
	g_autoptr(Client) c = client_connect(emu->socket);

	for (guint i = 0; i < G_N_ELEMENTS(bad_caps); i++) {
		g_test_message("capabilities %s", bad_caps[i]);
		g_assert_cmpint(client_version_json(c, bad_caps[i], REPLY_TIMEOUT_MS, NULL), ==,
				EINVAL);
	}
	client_version(c);
	g_assert_cmphex(rd(c, REGION_CONFIG, 0, 2), ==, 0x1af4);
	g_clear_pointer(&c, client_free);
	test_emu_stop(emu);
}

/* The reply's capabilities, as a JSON object. */
static JsonObject *reply_caps(const struct vfu_msg *m)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	const char *json = (const char *)m->payload + sizeof(struct vfu_version);
	JsonObject *top;

	g_assert_cmpuint(m->payload_len, >, sizeof(struct vfu_version));
	g_assert_cmpuint(m->payload[m->payload_len - 1], ==, 0);
	json_parser_load_from_data(parser, json, -1, &error);
	g_assert_no_error(error);
	g_assert_true(JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)));
	top = json_node_get_object(json_parser_get_root(parser));
	g_assert_true(json_object_has_member(top, "capabilities"));
	return json_object_ref(json_object_get_object_member(top, "capabilities"));
}

typedef struct {
	const char *proposed;        /* NULL: no capabilities at all */
	gint64 max_msg_fds, max_data_xfer_size, max_dma_maps, pgsizes;
} CapsCase;

/* The reply names only capabilities with a spec default (so the client
 * knows them) and never more than the client proposed, or than the
 * default when it proposed nothing. */
static void test_version_reply(gconstpointer data)
{
	const CapsCase *cc = data;
	static const char *const known[] = { "max_msg_fds", "max_data_xfer_size", "max_dma_maps",
					     "pgsizes" };
	TestEmu *emu = test_emu_start(NULL);
	g_autoptr(Client) c = client_connect(emu->socket);
	struct vfu_msg m = VFU_MSG_INIT;
	g_autoptr(JsonObject) caps = NULL;
	g_autoptr(GList) members = NULL;

	g_assert_cmpint(client_version_json(c, cc->proposed, REPLY_TIMEOUT_MS, &m), ==, 0);
	caps = reply_caps(&m);
	vfu_msg_clear(&m);
	members = json_object_get_members(caps);
	for (GList *l = members; l; l = l->next) {
		gboolean ok = FALSE;

		for (guint i = 0; i < G_N_ELEMENTS(known); i++)
			ok |= !strcmp(l->data, known[i]);
		if (!ok)
			g_error("the VERSION reply names capability '%s'", (const char *)l->data);
	}
	g_assert_cmpint(json_object_get_int_member(caps, "max_msg_fds"), ==, cc->max_msg_fds);
	g_assert_cmpint(json_object_get_int_member(caps, "max_data_xfer_size"), ==,
			cc->max_data_xfer_size);
	g_assert_cmpint(json_object_get_int_member(caps, "max_dma_maps"), ==, cc->max_dma_maps);
	g_assert_cmpint(json_object_get_int_member(caps, "pgsizes"), ==, cc->pgsizes);
	g_assert_cmphex(rd(c, REGION_CONFIG, 0, 2), ==, 0x1af4);
	g_clear_pointer(&c, client_free);
	test_emu_stop(emu);
}

static const CapsCase caps_none = { NULL, 1, 1048576, 1024, 4096 };
static const CapsCase caps_small = {
	"{\"capabilities\":{\"max_msg_fds\":2,\"max_data_xfer_size\":65536,"
	"\"max_dma_maps\":16,\"pgsizes\":2101248,\"write_multiple\":true,"
	"\"twin_socket\":{\"supported\":true},\"migration\":{\"pgsize\":4096}}}",
	2, 65536, 16, 4096
};
static const CapsCase caps_large = {
	"{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":67108864,"
	"\"max_dma_maps\":65535}}",
	8, 1048576, 1024, 4096
};

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ifcvf-helper/emu-hostile/irq/saturated-eventfd",
			test_irq_saturated_eventfd);
	g_test_add_func("/ifcvf-helper/emu-hostile/irq/made-blocking-again",
			test_irq_made_blocking_again);
	g_test_add_func("/ifcvf-helper/emu-hostile/irq/made-blocking-datapath",
			test_irq_made_blocking_datapath);
	g_test_add_func("/ifcvf-helper/emu-hostile/irq/not-an-eventfd", test_irq_not_an_eventfd);
	g_test_add_func("/ifcvf-helper/emu-hostile/send/stalled-reader-sigterm",
			test_stalled_reader_sigterm);
	g_test_add_func("/ifcvf-helper/emu-hostile/send/stalled-reader-dropped",
			test_stalled_reader_dropped);
	g_test_add_func("/ifcvf-helper/emu-hostile/dma/shrunk-before-use",
			test_dma_shrunk_before_use);
	g_test_add_func("/ifcvf-helper/emu-hostile/dma/shrunk-while-running",
			test_dma_shrunk_while_running);
	g_test_add_func("/ifcvf-helper/emu-hostile/dma/bad-ranges", test_dma_bad_ranges);
	g_test_add_func("/ifcvf-helper/emu-hostile/version/malformed", test_version_malformed);
	g_test_add_data_func("/ifcvf-helper/emu-hostile/version/reply/none", &caps_none,
			     test_version_reply);
	g_test_add_data_func("/ifcvf-helper/emu-hostile/version/reply/small", &caps_small,
			     test_version_reply);
	g_test_add_data_func("/ifcvf-helper/emu-hostile/version/reply/large", &caps_large,
			     test_version_reply);
	return g_test_run();
}

/* Device tests of ifcvf-emu: start the real emulator and drive it with a
 * minimal vfio-user client built on the shared wire code, checking the
 * protocol (negotiation, replies, errors, No_reply, framing faults) and the
 * device model (config space, BARs, MSI-X, virtio registers, BAR4, DMA). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ifcvf-regs.h"
#include "raw-client.h"
#include "test-util.h"
#include "vfio-user-wire.h"

#define TIMEOUT_MS 5000
#define REGION_CONFIG 7u
#define NUM_REGIONS 9u
#define IRQ_INTX 0u
#define IRQ_MSIX 2u
#define IRQ_SET_DATA_NONE 0x1u
#define IRQ_SET_DATA_BOOL 0x2u
#define IRQ_SET_DATA_EVENTFD 0x4u
#define IRQ_SET_ACTION_MASK 0x8u
#define IRQ_SET_ACTION_TRIGGER 0x20u
#define BIT(n) (G_GUINT64_CONSTANT(1) << (n))

/* ---- a minimal vfio-user client ---- */

/* Client, client_connect(), client_free(): raw-client.h */

static void client_send(Client *c, guint16 id, guint16 cmd, guint32 flags, const void *payload,
			size_t len, const int *fds, unsigned nfds)
{
	struct vfu_hdr h = { .msg_id = id, .command = cmd, .flags = flags };
	struct cerr e = { 0 };

	if (vfu_send(c->fd, &h, payload, len, fds, nfds, &e) < 0)
		g_error("send %s: %s", vfu_command_name(cmd), e.msg);
}

static void client_recv(Client *c, struct vfu_msg *m)
{
	struct cerr e = { 0 };

	if (vfu_recv(c->fd, m, VFU_MAX_MSG_SIZE, TIMEOUT_MS, &e) < 0)
		g_error("receive: %s", e.msg);
}

/* One request, its reply. Returns 0 or the reply's errno; @reply (if not
 * NULL) receives the reply, to be cleared by the caller. */
static int client_call_fds(Client *c, guint16 cmd, const void *payload, size_t len,
			   const int *fds, unsigned nfds, struct vfu_msg *reply)
{
	struct vfu_msg m = VFU_MSG_INIT;
	guint16 id = c->next_id++;
	int err;

	client_send(c, id, cmd, VFU_FLAG_TYPE_COMMAND, payload, len, fds, nfds);
	client_recv(c, &m);
	g_assert_cmpuint(m.hdr.msg_id, ==, id);
	g_assert_cmpuint(m.hdr.command, ==, cmd);
	g_assert_cmpuint(m.hdr.flags & VFU_FLAG_TYPE_MASK, ==, VFU_FLAG_TYPE_REPLY);
	/* only a mappable region's info comes with its fd */
	if (cmd != VFU_CMD_DEVICE_GET_REGION_INFO)
		g_assert_cmpuint(m.nfds, ==, 0);
	err = (m.hdr.flags & VFU_FLAG_ERROR) ? (int)m.hdr.error : 0;
	if (err)
		g_assert_cmpuint(m.payload_len, ==, 0);
	if (reply)
		*reply = m;
	else
		vfu_msg_clear(&m);
	return err;
}

static int client_call(Client *c, guint16 cmd, const void *payload, size_t len,
		       struct vfu_msg *reply)
{
	return client_call_fds(c, cmd, payload, len, NULL, 0, reply);
}

static void client_version(Client *c)
{
	static const char json[] = "{\"capabilities\":{\"max_msg_fds\":8,"
				   "\"max_data_xfer_size\":1048576}}";
	guint8 buf[4 + sizeof(json)];
	struct vfu_version v = { .major = 0, .minor = 0 };

	memcpy(buf, &v, sizeof(v));
	memcpy(buf + 4, json, sizeof(json));
	g_assert_cmpint(client_call(c, VFU_CMD_VERSION, buf, sizeof(buf), NULL), ==, 0);
}

static int region_read(Client *c, guint32 region, guint64 off, void *buf, guint32 len)
{
	struct vfu_region_access a = { .offset = off, .region = region, .count = len };
	struct vfu_msg m = VFU_MSG_INIT;
	int err = client_call(c, VFU_CMD_REGION_READ, &a, sizeof(a), &m);

	if (!err) {
		g_assert_cmpuint(m.payload_len, ==, sizeof(a) + len);
		g_assert_cmpmem(m.payload, sizeof(a), &a, sizeof(a));
		memcpy(buf, m.payload + sizeof(a), len);
	}
	vfu_msg_clear(&m);
	return err;
}

static int region_write(Client *c, guint32 region, guint64 off, const void *buf, guint32 len)
{
	struct vfu_region_access a = { .offset = off, .region = region, .count = len };
	g_autofree guint8 *p = g_malloc(sizeof(a) + len);
	struct vfu_msg m = VFU_MSG_INIT;
	int err;

	memcpy(p, &a, sizeof(a));
	memcpy(p + sizeof(a), buf, len);
	err = client_call(c, VFU_CMD_REGION_WRITE, p, sizeof(a) + len, &m);
	if (!err)
		g_assert_cmpuint(m.payload_len, ==, sizeof(a));
	vfu_msg_clear(&m);
	return err;
}

static guint32 rd(Client *c, guint32 region, guint64 off, guint32 len)
{
	guint32 v = 0;

	g_assert_cmpint(region_read(c, region, off, &v, len), ==, 0);
	return v;
}

static void wr(Client *c, guint32 region, guint64 off, guint32 len, guint32 v)
{
	g_assert_cmpint(region_write(c, region, off, &v, len), ==, 0);
}

/* The head of region @index's info; with @ret_caps/@ret_fd, what follows
 * it (g_free) and the fd that came along (-1: none; closed otherwise). */
static int region_info_full(Client *c, guint32 index, guint32 argsz, struct vfu_region_info *out,
			    guint8 **ret_caps, gsize *ret_caps_len, int *ret_fd)
{
	struct vfu_region_info in = { .argsz = argsz, .index = index };
	struct vfu_msg m = VFU_MSG_INIT;
	int err = client_call(c, VFU_CMD_DEVICE_GET_REGION_INFO, &in, sizeof(in), &m);

	if (ret_fd)
		*ret_fd = -1;
	if (!err) {
		g_assert_cmpuint(m.payload_len, >=, sizeof(*out));
		memcpy(out, m.payload, sizeof(*out));
		/* the whole reply when it fits argsz, else only the head */
		g_assert_cmpuint(m.payload_len, ==, out->argsz <= argsz ? out->argsz : sizeof(*out));
		g_assert_cmpuint(m.nfds, <=, 1);
		if (ret_caps) {
			*ret_caps_len = m.payload_len - sizeof(*out);
			*ret_caps = g_memdup2(m.payload + sizeof(*out), *ret_caps_len);
		}
		if (ret_fd && m.nfds) {
			*ret_fd = m.fds[0];
			m.nfds = 0;
		}
	}
	vfu_msg_clear(&m);
	return err;
}

static int region_info(Client *c, guint32 index, guint32 argsz, struct vfu_region_info *out)
{
	return region_info_full(c, index, argsz, out, NULL, NULL, NULL);
}

static guint64 region_size(Client *c, guint32 index)
{
	struct vfu_region_info info;

	g_assert_cmpint(region_info(c, index, sizeof(info), &info), ==, 0);
	return info.size;
}

static int irq_info(Client *c, guint32 index, struct vfu_irq_info *out)
{
	struct vfu_irq_info in = { .argsz = sizeof(in), .index = index };
	struct vfu_msg m = VFU_MSG_INIT;
	int err = client_call(c, VFU_CMD_DEVICE_GET_IRQ_INFO, &in, sizeof(in), &m);

	if (!err) {
		g_assert_cmpuint(m.payload_len, ==, sizeof(*out));
		memcpy(out, m.payload, sizeof(*out));
	}
	vfu_msg_clear(&m);
	return err;
}

static int set_irqs(Client *c, guint32 flags, guint32 index, guint32 start, guint32 count,
		    const int *fds, unsigned nfds, const guint8 *bools)
{
	struct vfu_irq_set s = { .argsz = sizeof(s), .flags = flags, .index = index,
				 .start = start, .count = count };
	guint8 buf[sizeof(s) + 64];
	size_t len = sizeof(s);

	if (bools) {
		g_assert_cmpuint(count, <=, 64);
		memcpy(buf + sizeof(s), bools, count);
		len += count;
		s.argsz = (guint32)len;
	}
	memcpy(buf, &s, sizeof(s));
	return client_call_fds(c, VFU_CMD_DEVICE_SET_IRQS, buf, len, fds, nfds, NULL);
}

static int dma_map(Client *c, int fd, guint64 offset, guint64 iova, guint64 size,
		   guint32 flags)
{
	struct vfu_dma_map d = { .argsz = sizeof(d), .flags = flags, .offset = offset,
				 .address = iova, .size = size };

	return client_call_fds(c, VFU_CMD_DMA_MAP, &d, sizeof(d), fd >= 0 ? &fd : NULL,
			       fd >= 0 ? 1 : 0, NULL);
}

static int dma_unmap(Client *c, guint64 iova, guint64 size, guint32 flags)
{
	struct vfu_dma_unmap d = { .argsz = sizeof(d), .flags = flags, .address = iova,
				   .size = size };
	struct vfu_msg m = VFU_MSG_INIT;
	int err = client_call(c, VFU_CMD_DMA_UNMAP, &d, sizeof(d), &m);

	if (!err)
		g_assert_cmpuint(m.payload_len, ==, sizeof(d));
	vfu_msg_clear(&m);
	return err;
}

/* True when the server closed the connection within the timeout. */
static gboolean peer_closed(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char b[64];

	for (;;) {
		ssize_t n;

		if (poll(&p, 1, TIMEOUT_MS) <= 0)
			return FALSE;
		n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return TRUE;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return FALSE;
	}
}

/* ---- emulators that do not outlive a failed test ----
 * A failed assertion aborts this process; an emulator left running would
 * keep the test's output pipes open until meson's timeout. */

static volatile GPid live_emus[8];

static mode_t umask_now(void)
{
	mode_t m = umask(0);

	umask(m);
	return m;
}

static void kill_live_emus(int sig)
{
	for (guint i = 0; i < G_N_ELEMENTS(live_emus); i++)
		if (live_emus[i] > 0)
			kill(live_emus[i], SIGKILL);
	signal(sig, SIG_DFL);
	raise(sig);
}

static TestEmu *emu_start(const char *const *args)
{
	TestEmu *emu = test_emu_start(args);

	for (guint i = 0; i < G_N_ELEMENTS(live_emus); i++) {
		if (live_emus[i] <= 0) {
			live_emus[i] = emu->pid;
			break;
		}
	}
	return emu;
}

static void emu_stop(TestEmu *emu)
{
	for (guint i = 0; i < G_N_ELEMENTS(live_emus); i++)
		if (live_emus[i] == emu->pid)
			live_emus[i] = 0;
	test_emu_stop(emu);
}

/* ---- fixture: an emulator, a negotiated client, an fd-leak check ---- */

typedef struct {
	TestEmu *emu;
	Client *c;
	guint fds_before;
} Fx;

static void fx_start(Fx *fx, const char *const *args)
{
	fx->fds_before = test_count_fds();
	fx->emu = emu_start(args);
	fx->c = client_connect(fx->emu->socket);
	client_version(fx->c);
}

static void fx_stop(Fx *fx)
{
	g_clear_pointer(&fx->c, client_free);
	g_clear_pointer(&fx->emu, emu_stop);
	g_assert_cmpuint(test_count_fds(), ==, fx->fds_before);
}

/* ---- capability walk, as a driver does it ---- */

typedef struct {
	guint8 bar;
	guint32 offset;
	guint32 length;
	guint8 cap_len;
} VCap;

typedef struct {
	guint8 msix_pos;
	gboolean has[6];
	VCap cap[6];            /* by cfg_type */
	guint32 notify_mult;
	gboolean loop;
	guint count;
} Caps;

static void walk_caps(Client *c, Caps *caps)
{
	gboolean seen[256] = { FALSE };
	guint8 pos = (guint8)rd(c, REGION_CONFIG, PCI_CFG_CAP_PTR, 1);

	memset(caps, 0, sizeof(*caps));
	while (pos) {
		guint8 id, type;

		if (seen[pos]) {
			caps->loop = TRUE;
			return;
		}
		seen[pos] = TRUE;
		caps->count++;
		id = (guint8)rd(c, REGION_CONFIG, pos, 1);
		if (id == PCI_CAP_ID_MSIX) {
			caps->msix_pos = pos;
		} else if (id == PCI_CAP_ID_VNDR) {
			type = (guint8)rd(c, REGION_CONFIG, pos + VIRTIO_PCI_CAP_CFG_TYPE, 1);
			g_assert_cmpuint(type, >=, 1);
			g_assert_cmpuint(type, <=, 5);
			caps->has[type] = TRUE;
			caps->cap[type].bar = (guint8)rd(c, REGION_CONFIG, pos + VIRTIO_PCI_CAP_BAR, 1);
			caps->cap[type].offset = rd(c, REGION_CONFIG, pos + VIRTIO_PCI_CAP_OFFSET, 4);
			caps->cap[type].length = rd(c, REGION_CONFIG, pos + VIRTIO_PCI_CAP_LENGTH, 4);
			caps->cap[type].cap_len = (guint8)rd(c, REGION_CONFIG, pos + VIRTIO_PCI_CAP_LEN, 1);
			if (type == VIRTIO_PCI_CAP_NOTIFY_CFG)
				caps->notify_mult = rd(c, REGION_CONFIG, pos + VIRTIO_PCI_NOTIFY_CAP_MULT, 4);
		}
		pos = (guint8)rd(c, REGION_CONFIG, pos + 1, 1);
	}
}

/* common cfg accessors through the COMMON cap */
typedef struct {
	Client *c;
	Caps caps;
} Dev;

static void dev_init(Dev *d, Client *c)
{
	d->c = c;
	walk_caps(c, &d->caps);
	g_assert_true(d->caps.has[VIRTIO_PCI_CAP_COMMON_CFG]);
}

static guint32 crd(Dev *d, guint32 off, guint32 len)
{
	const VCap *cc = &d->caps.cap[VIRTIO_PCI_CAP_COMMON_CFG];

	return rd(d->c, cc->bar, cc->offset + off, len);
}

static void cwr(Dev *d, guint32 off, guint32 len, guint32 v)
{
	const VCap *cc = &d->caps.cap[VIRTIO_PCI_CAP_COMMON_CFG];

	wr(d->c, cc->bar, cc->offset + off, len, v);
}

static guint64 device_features(Dev *d)
{
	guint64 f;

	cwr(d, VIRTIO_COMMON_DFSELECT, 4, 0);
	f = crd(d, VIRTIO_COMMON_DF, 4);
	cwr(d, VIRTIO_COMMON_DFSELECT, 4, 1);
	return f | (guint64)crd(d, VIRTIO_COMMON_DF, 4) << 32;
}

static void set_driver_features(Dev *d, guint64 f)
{
	cwr(d, VIRTIO_COMMON_GFSELECT, 4, 0);
	cwr(d, VIRTIO_COMMON_GF, 4, (guint32)f);
	cwr(d, VIRTIO_COMMON_GFSELECT, 4, 1);
	cwr(d, VIRTIO_COMMON_GF, 4, (guint32)(f >> 32));
}

static guint64 driver_features(Dev *d)
{
	guint64 f;

	cwr(d, VIRTIO_COMMON_GFSELECT, 4, 0);
	f = crd(d, VIRTIO_COMMON_GF, 4);
	cwr(d, VIRTIO_COMMON_GFSELECT, 4, 1);
	return f | (guint64)crd(d, VIRTIO_COMMON_GF, 4) << 32;
}

/* ---- protocol ---- */

static void test_version(void)
{
	const char *const args[] = { NULL };
	static const char json[] = "{\"capabilities\":{\"max_msg_fds\":4}}";
	guint8 buf[4 + sizeof(json)];
	struct vfu_version v = { .major = 0, .minor = 7 };
	struct vfu_msg m = VFU_MSG_INIT;
	g_autoptr(Client) c = NULL;
	guint fds = test_count_fds();
	TestEmu *emu = emu_start(args);
	const char *reply_json;
	int efd;

	c = client_connect(emu->socket);
	memcpy(buf, &v, sizeof(v));
	memcpy(buf + 4, json, sizeof(json));

	/* JSON that is not NUL-terminated */
	g_assert_cmpint(client_call(c, VFU_CMD_VERSION, buf, sizeof(buf) - 1, NULL), ==, EINVAL);
	/* VERSION carrying an fd */
	efd = eventfd(0, EFD_CLOEXEC);
	g_assert_cmpint(client_call_fds(c, VFU_CMD_VERSION, buf, sizeof(buf), &efd, 1, NULL), !=,
			0);
	close(efd);
	/* a major the server does not speak */
	v.major = 1;
	memcpy(buf, &v, sizeof(v));
	g_assert_cmpint(client_call(c, VFU_CMD_VERSION, buf, sizeof(buf), NULL), !=, 0);
	v.major = 0;
	memcpy(buf, &v, sizeof(v));

	g_assert_cmpint(client_call(c, VFU_CMD_VERSION, buf, sizeof(buf), &m), ==, 0);
	g_assert_cmpuint(m.payload_len, >, 4);
	memcpy(&v, m.payload, sizeof(v));
	g_assert_cmpuint(v.major, ==, 0);
	g_assert_cmpuint(v.minor, ==, 0);
	g_assert_cmpuint(m.payload[m.payload_len - 1], ==, 0);
	reply_json = (const char *)m.payload + 4;
	g_assert_cmpuint(strlen(reply_json), ==, m.payload_len - 5);
	g_assert_nonnull(strstr(reply_json, "\"capabilities\""));
	/* never more than the client proposed (4; the server takes 8) */
	g_assert_nonnull(strstr(reply_json, "\"max_msg_fds\":4"));
	g_assert_nonnull(strstr(reply_json, "\"max_data_xfer_size\":1048576"));
	vfu_msg_clear(&m);

	/* negotiated once only */
	g_assert_cmpint(client_call(c, VFU_CMD_VERSION, buf, sizeof(buf), NULL), ==, EINVAL);

	g_clear_pointer(&c, client_free);
	emu_stop(emu);
	g_assert_cmpuint(test_count_fds(), ==, fds);
}

static void test_before_version(void)
{
	const char *const args[] = { NULL };
	struct vfu_device_info info = { .argsz = sizeof(info) };
	guint fds = test_count_fds();
	TestEmu *emu = emu_start(args);
	g_autoptr(Client) c = client_connect(emu->socket);

	g_assert_cmpint(client_call(c, VFU_CMD_DEVICE_GET_INFO, &info, sizeof(info), NULL), ==,
			EINVAL);
	g_assert_cmpint(region_read(c, REGION_CONFIG, 0, &info, 2), ==, EINVAL);
	client_version(c);
	g_assert_cmpint(client_call(c, VFU_CMD_DEVICE_GET_INFO, &info, sizeof(info), NULL), ==, 0);
	g_clear_pointer(&c, client_free);
	emu_stop(emu);
	g_assert_cmpuint(test_count_fds(), ==, fds);
}

static void test_device_info(void)
{
	const char *const args[] = { NULL };
	struct vfu_device_info in = { .argsz = sizeof(in) }, out;
	struct vfu_msg m = VFU_MSG_INIT;
	Fx fx;

	fx_start(&fx, args);
	g_assert_cmpint(client_call(fx.c, VFU_CMD_DEVICE_GET_INFO, &in, sizeof(in), &m), ==, 0);
	g_assert_cmpuint(m.payload_len, ==, sizeof(out));
	memcpy(&out, m.payload, sizeof(out));
	vfu_msg_clear(&m);
	g_assert_cmpuint(out.argsz, ==, 16);
	g_assert_cmpuint(out.flags, ==, 0x3);   /* RESET | PCI */
	g_assert_cmpuint(out.num_regions, ==, 9);
	g_assert_cmpuint(out.num_irqs, ==, 5);

	in.argsz = 8;
	g_assert_cmpint(client_call(fx.c, VFU_CMD_DEVICE_GET_INFO, &in, sizeof(in), NULL), ==,
			EINVAL);
	in.argsz = sizeof(in);
	g_assert_cmpint(client_call(fx.c, VFU_CMD_DEVICE_GET_INFO, &in, 8, NULL), ==, EINVAL);
	fx_stop(&fx);
}

static gboolean is_pow2(guint64 v)
{
	return v && !(v & (v - 1));
}

static void test_region_info(void)
{
	const char *const args[] = { NULL };
	const char *const no_lm[] = { "--no-lm", NULL };
	struct vfu_region_info info;
	Fx fx;

	fx_start(&fx, args);
	g_assert_cmpint(region_info(fx.c, REGION_CONFIG, sizeof(info), &info), ==, 0);
	g_assert_cmpuint(info.argsz, ==, 32);
	g_assert_cmpuint(info.index, ==, REGION_CONFIG);
	g_assert_cmpuint(info.size, ==, 256);
	g_assert_cmpuint(info.flags, ==, 0x3);
	g_assert_cmpuint(info.cap_offset, ==, 0);

	/* BARs are read/write; only BAR0 (the notify area, see
	 * region-info-notify) is mappable */
	for (guint i = 0; i < NUM_REGIONS; i++) {
		g_assert_cmpint(region_info(fx.c, i, 64, &info), ==, 0);
		g_assert_cmpuint(info.index, ==, i);
		if (i == 0) {
			g_assert_true(is_pow2(info.size));
			g_assert_cmpuint(info.flags, ==, 0xf);
		} else if (i == 1 || i == 4 || i == REGION_CONFIG) {
			g_assert_true(is_pow2(info.size));
			g_assert_cmpuint(info.flags, ==, 0x3);
		} else {
			g_assert_cmpuint(info.size, ==, 0);
			g_assert_cmpuint(info.flags, ==, 0);
		}
	}
	g_assert_cmpuint(region_size(fx.c, 4), >=, IFCVF_LM_MIN_BAR_SIZE);

	g_assert_cmpint(region_info(fx.c, NUM_REGIONS, sizeof(info), &info), ==, EINVAL);
	g_assert_cmpint(region_info(fx.c, 0, 16, &info), ==, EINVAL);
	fx_stop(&fx);

	fx_start(&fx, no_lm);
	g_assert_cmpint(region_info(fx.c, 4, sizeof(info), &info), ==, 0);
	g_assert_cmpuint(info.size, ==, 0);
	g_assert_cmpuint(info.flags, ==, 0);
	g_assert_cmpuint(region_size(fx.c, 0), >, 0);
	fx_stop(&fx);
}

/* --doorbell mapped (the default): the virtio BAR's notify area is one
 * sparse-mmap area of a memfd sealed against shrinking, handed out with the
 * full reply only; the notify multiplier puts each doorbell on a page of
 * its own. --doorbell message: nothing is mappable. */
static void test_region_info_notify(void)
{
	const char *const args[] = { NULL };
	const char *const message[] = { "--doorbell", "message", NULL };
	const char *const mult4[] = { "--fault", "notify-mult=4", NULL };
	struct vfu_region_info info;
	g_autofree guint8 *caps = NULL;
	gsize caps_len = 0;
	struct stat st;
	int fd, seals;
	Caps vc;
	Fx fx;

	fx_start(&fx, args);
	walk_caps(fx.c, &vc);
	g_assert_cmpuint(vc.notify_mult, ==, 4096);
	/* the 32-byte head says how much the capability needs, no fd yet */
	g_assert_cmpint(region_info_full(fx.c, 0, 32, &info, NULL, NULL, &fd), ==, 0);
	g_assert_cmpint(fd, ==, -1);
	g_assert_cmpuint(info.argsz, ==, 64);
	g_assert_cmpuint(info.flags, ==, 0xf);
	g_assert_cmpuint(info.cap_offset, ==, 0);
	g_assert_cmpint(region_info_full(fx.c, 0, 64, &info, &caps, &caps_len, &fd), ==, 0);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpuint(info.cap_offset, ==, 32);
	g_assert_cmpuint(caps_len, ==, 32);
	{
		guint16 id, version;
		guint32 next, nr;
		guint64 off, size;

		memcpy(&id, caps, 2);
		memcpy(&version, caps + 2, 2);
		memcpy(&next, caps + 4, 4);
		memcpy(&nr, caps + 8, 4);
		memcpy(&off, caps + 16, 8);
		memcpy(&size, caps + 24, 8);
		g_assert_cmpuint(id, ==, 1);          /* VFIO_REGION_INFO_CAP_SPARSE_MMAP */
		g_assert_cmpuint(version, ==, 1);
		g_assert_cmpuint(next, ==, 0);
		g_assert_cmpuint(nr, ==, 1);
		g_assert_cmphex(off, ==, vc.cap[VIRTIO_PCI_CAP_NOTIFY_CFG].offset);
		g_assert_cmphex(size, ==, vc.cap[VIRTIO_PCI_CAP_NOTIFY_CFG].length);
		g_assert_cmpuint(off % 4096, ==, 0);
		seals = fcntl(fd, F_GET_SEALS);
		g_assert_cmpint(seals, >=, 0);
		g_assert_true(seals & F_SEAL_SHRINK);
		g_assert_true(seals & F_SEAL_GROW);
		g_assert_cmpint(fstat(fd, &st), ==, 0);
		g_assert_cmpuint((guint64)st.st_size, >=, off + size);
		/* a doorbell not rung yet reads as idle, not as a queue index */
		{
			guint8 *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
					 (off_t)off);

			g_assert_true(p != MAP_FAILED);
			g_assert_cmphex(*(volatile guint16 *)p, ==, 0xffff);
			munmap(p, 4096);
		}
	}
	close(fd);
	/* the other BARs stay unmappable */
	g_assert_cmpint(region_info_full(fx.c, 1, 64, &info, NULL, NULL, &fd), ==, 0);
	g_assert_cmpint(fd, ==, -1);
	g_assert_cmpuint(info.flags, ==, 0x3);
	fx_stop(&fx);

	fx_start(&fx, message);
	g_assert_cmpint(region_info_full(fx.c, 0, 64, &info, NULL, NULL, &fd), ==, 0);
	g_assert_cmpint(fd, ==, -1);
	g_assert_cmpuint(info.argsz, ==, 32);
	g_assert_cmpuint(info.flags, ==, 0x3);
	fx_stop(&fx);

	/* a multiplier below the page size: still mappable (whoever maps it
	 * finds two doorbells per page), advertised as it is */
	fx_start(&fx, mult4);
	walk_caps(fx.c, &vc);
	g_assert_cmpuint(vc.notify_mult, ==, 4);
	g_assert_cmpuint(vc.cap[VIRTIO_PCI_CAP_NOTIFY_CFG].length, ==, 3 * 4);
	fx_stop(&fx);
}

/* ---- config space ---- */

typedef struct {
	const char *args[6];
	guint16 device;
	guint16 subsys;
	guint32 class_code;
	guint num_queues;
	guint32 min_device_len;
} IdCase;

static const IdCase id_net = { { "--queue-pairs", "3", NULL }, 0x1041, 0x001a, 0x020000, 7, 10 };
static const IdCase id_blk = { { "--type", "blk", "--queues", "2", NULL }, 0x1042, 0x0002,
			       0x010000, 2, 96 };

static void test_config_ids(gconstpointer data)
{
	const IdCase *ic = data;
	Caps caps;
	Fx fx;

	fx_start(&fx, ic->args);
	g_assert_cmphex(rd(fx.c, REGION_CONFIG, PCI_CFG_VENDOR_ID, 2), ==, 0x1af4);
	g_assert_cmphex(rd(fx.c, REGION_CONFIG, PCI_CFG_DEVICE_ID, 2), ==, ic->device);
	g_assert_cmphex(rd(fx.c, REGION_CONFIG, PCI_CFG_SUBSYS_VENDOR_ID, 2), ==, 0x8086);
	g_assert_cmphex(rd(fx.c, REGION_CONFIG, PCI_CFG_SUBSYS_ID, 2), ==, ic->subsys);
	g_assert_cmphex(rd(fx.c, REGION_CONFIG, PCI_CFG_REVISION, 1), ==, 1);
	g_assert_cmphex(rd(fx.c, REGION_CONFIG, PCI_CFG_REVISION, 4) >> 8, ==, ic->class_code);
	g_assert_cmphex(rd(fx.c, REGION_CONFIG, PCI_CFG_STATUS, 2) & PCI_STATUS_CAP_LIST, !=, 0);
	/* read-only IDs stay put */
	wr(fx.c, REGION_CONFIG, PCI_CFG_VENDOR_ID, 4, 0);
	g_assert_cmphex(rd(fx.c, REGION_CONFIG, PCI_CFG_VENDOR_ID, 2), ==, 0x1af4);
	/* whole-space read in one request */
	{
		guint8 space[256];

		g_assert_cmpint(region_read(fx.c, REGION_CONFIG, 0, space, sizeof(space)), ==, 0);
		g_assert_cmphex(space[0] | space[1] << 8, ==, 0x1af4);
		g_assert_cmpint(region_read(fx.c, REGION_CONFIG, 200, space, 57), ==, EINVAL);
	}

	walk_caps(fx.c, &caps);
	g_assert_false(caps.loop);
	g_assert_cmphex(rd(fx.c, REGION_CONFIG, PCI_CFG_CAP_PTR, 1), ==, caps.msix_pos);
	g_assert_cmpuint(caps.count, ==, 5);
	for (guint t = VIRTIO_PCI_CAP_COMMON_CFG; t <= VIRTIO_PCI_CAP_DEVICE_CFG; t++) {
		const VCap *vc = &caps.cap[t];

		g_assert_true(caps.has[t]);
		g_assert_cmpuint(vc->bar, <=, 5);
		g_assert_cmpuint((guint64)vc->offset + vc->length, <=, region_size(fx.c, vc->bar));
		g_assert_cmpuint(vc->cap_len, >=, t == VIRTIO_PCI_CAP_NOTIFY_CFG ? 20 : 16);
	}
	g_assert_cmpuint(caps.cap[VIRTIO_PCI_CAP_COMMON_CFG].length, >=, 0x38);
	g_assert_cmpuint(caps.cap[VIRTIO_PCI_CAP_DEVICE_CFG].length, >=, ic->min_device_len);
	g_assert_cmpuint(caps.notify_mult, >, 0);
	g_assert_cmpuint(caps.cap[VIRTIO_PCI_CAP_NOTIFY_CFG].length, >=,
			 (ic->num_queues - 1) * caps.notify_mult + 2);

	/* MSI-X: table and PBA inside their BAR, one vector per queue plus config */
	{
		guint32 ctrl = rd(fx.c, REGION_CONFIG, caps.msix_pos + PCI_MSIX_FLAGS, 2);
		guint32 table = rd(fx.c, REGION_CONFIG, caps.msix_pos + PCI_MSIX_TABLE, 4);
		guint32 pba = rd(fx.c, REGION_CONFIG, caps.msix_pos + PCI_MSIX_PBA, 4);
		guint n = (ctrl & PCI_MSIX_FLAGS_QSIZE) + 1;

		g_assert_cmpuint(n, >=, 1 + ic->num_queues);
		g_assert_cmpuint((table & ~7u) + 16 * n, <=, region_size(fx.c, table & 7));
		g_assert_cmpuint((pba & ~7u) + (n + 63) / 64 * 8, <=, region_size(fx.c, pba & 7));
		/* vectors start masked */
		g_assert_cmphex(rd(fx.c, table & 7, (table & ~7u) + 12, 4) & 1, ==, 1);
	}
	fx_stop(&fx);
}

static void test_bar_sizing(void)
{
	const char *const args[] = { NULL };
	Fx fx;

	fx_start(&fx, args);
	for (guint i = 0; i < 6; i++) {
		guint32 reg = PCI_CFG_BAR0 + 4 * i;
		guint32 saved = rd(fx.c, REGION_CONFIG, reg, 4);
		guint64 size = region_size(fx.c, i);
		guint32 back;

		wr(fx.c, REGION_CONFIG, reg, 4, 0xffffffff);
		back = rd(fx.c, REGION_CONFIG, reg, 4);
		if (size) {
			g_assert_true(is_pow2(size));
			g_assert_cmphex(back & 1, ==, 0);          /* memory BAR */
			g_assert_cmphex(back & ~0xfu, ==, (guint32)~(size - 1) & ~0xfu);
			if ((back & 0x6) == 0x4) {
				/* 64-bit: the upper half is the next slot */
				g_assert_cmpuint(i, <, 5);
				g_assert_cmpuint(region_size(fx.c, i + 1), ==, 0);
				wr(fx.c, REGION_CONFIG, reg + 4, 4, 0xffffffff);
				g_assert_cmphex(rd(fx.c, REGION_CONFIG, reg + 4, 4), ==, 0xffffffff);
				wr(fx.c, REGION_CONFIG, reg + 4, 4, 0);
				i++;
			}
		} else {
			g_assert_cmphex(back, ==, 0);
		}
		/* an address sticks, with the type bits unchanged */
		wr(fx.c, REGION_CONFIG, reg, 4, 0xfe000000);
		if (size)
			g_assert_cmphex(rd(fx.c, REGION_CONFIG, reg, 4), ==, 0xfe000000 | (back & 0xf));
		wr(fx.c, REGION_CONFIG, reg, 4, saved);
	}
	fx_stop(&fx);
}

/* ---- MSI-X ---- */

static gboolean eventfd_fired(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	guint64 v;

	if (poll(&p, 1, 0) != 1)
		return FALSE;
	g_assert_cmpint(read(fd, &v, sizeof(v)), ==, sizeof(v));
	return TRUE;
}

static void test_msix(void)
{
	const char *const args[] = { "--queue-pairs", "2", NULL };
	struct vfu_irq_info info;
	guint8 bools[2] = { 1, 0 };
	int efd[8];
	guint n;
	Dev d;
	Fx fx;

	fx_start(&fx, args);
	dev_init(&d, fx.c);
	g_assert_cmpint(irq_info(fx.c, IRQ_MSIX, &info), ==, 0);
	n = info.count;
	g_assert_cmpuint(info.index, ==, IRQ_MSIX);
	g_assert_cmphex(info.flags & 0x1, ==, 0x1);   /* EVENTFD */
	g_assert_cmpuint(n, >=, 1 + crd(&d, VIRTIO_COMMON_NUMQ, 2));
	g_assert_cmpuint(n, ==, (rd(fx.c, REGION_CONFIG, d.caps.msix_pos + PCI_MSIX_FLAGS, 2) &
				 PCI_MSIX_FLAGS_QSIZE) + 1);
	g_assert_cmpuint(n, <=, G_N_ELEMENTS(efd));
	for (guint i = 0; i < 2; i++) {
		g_assert_cmpint(irq_info(fx.c, i, &info), ==, 0);
		g_assert_cmpuint(info.count, ==, 0);
	}
	g_assert_cmpint(irq_info(fx.c, 5, &info), ==, EINVAL);

	for (guint i = 0; i < n; i++)
		efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	g_assert_cmpint(set_irqs(fx.c, IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER, IRQ_MSIX, 0,
				 n, efd, n, NULL), ==, 0);
	/* DATA_NONE|TRIGGER with vectors fires them (loopback) */
	g_assert_cmpint(set_irqs(fx.c, IRQ_SET_DATA_NONE | IRQ_SET_ACTION_TRIGGER, IRQ_MSIX, 2, 1,
				 NULL, 0, NULL), ==, 0);
	for (guint i = 0; i < n; i++)
		g_assert_cmpint(eventfd_fired(efd[i]), ==, i == 2);
	g_assert_cmpint(set_irqs(fx.c, IRQ_SET_DATA_BOOL | IRQ_SET_ACTION_TRIGGER, IRQ_MSIX, 0, 2,
				 NULL, 0, bools), ==, 0);
	g_assert_true(eventfd_fired(efd[0]));
	g_assert_false(eventfd_fired(efd[1]));

	/* unassign one vector: DATA_EVENTFD without fds */
	g_assert_cmpint(set_irqs(fx.c, IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER, IRQ_MSIX, 2,
				 1, NULL, 0, NULL), ==, 0);
	g_assert_cmpint(set_irqs(fx.c, IRQ_SET_DATA_NONE | IRQ_SET_ACTION_TRIGGER, IRQ_MSIX, 2, 2,
				 NULL, 0, NULL), ==, 0);
	g_assert_false(eventfd_fired(efd[2]));
	g_assert_true(eventfd_fired(efd[3]));

	/* refusals */
	g_assert_cmpint(set_irqs(fx.c, IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER, IRQ_MSIX,
				 n - 1, 2, efd, 2, NULL), ==, EINVAL);
	g_assert_cmpint(set_irqs(fx.c, IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER, IRQ_MSIX, 0,
				 3, efd, 2, NULL), ==, EINVAL);
	g_assert_cmpint(set_irqs(fx.c, IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER, IRQ_INTX, 0,
				 1, efd, 1, NULL), ==, EINVAL);
	g_assert_cmpint(set_irqs(fx.c, IRQ_SET_DATA_NONE | IRQ_SET_ACTION_MASK, IRQ_MSIX, 0, 1,
				 NULL, 0, NULL), ==, EINVAL);
	g_assert_cmpint(set_irqs(fx.c, IRQ_SET_DATA_NONE | IRQ_SET_ACTION_TRIGGER, IRQ_MSIX, 0, 1,
				 efd, 1, NULL), ==, EINVAL);
	g_assert_cmpint(set_irqs(fx.c, IRQ_SET_DATA_NONE | IRQ_SET_DATA_EVENTFD |
				 IRQ_SET_ACTION_TRIGGER, IRQ_MSIX, 0, 1, NULL, 0, NULL), ==, EINVAL);

	/* unassign everything: NONE|TRIGGER, count 0 */
	g_assert_cmpint(set_irqs(fx.c, IRQ_SET_DATA_NONE | IRQ_SET_ACTION_TRIGGER, IRQ_MSIX, 0, 0,
				 NULL, 0, NULL), ==, 0);
	g_assert_cmpint(set_irqs(fx.c, IRQ_SET_DATA_NONE | IRQ_SET_ACTION_TRIGGER, IRQ_MSIX, 0, n,
				 NULL, 0, NULL), ==, 0);
	for (guint i = 0; i < n; i++) {
		g_assert_false(eventfd_fired(efd[i]));
		close(efd[i]);
	}
	fx_stop(&fx);
}

/* ---- virtio registers ---- */

static void test_features(void)
{
	const char *const net2[] = { "--queue-pairs", "2", NULL };
	const char *const net1[] = { NULL };
	const char *const blk2[] = { "--type", "blk", "--queues", "2", NULL };
	guint64 want_net = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_ACCESS_PLATFORM) |
			   BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_MRG_RXBUF) |
			   BIT(VIRTIO_NET_F_STATUS) | BIT(VIRTIO_NET_F_CTRL_VQ) |
			   BIT(VIRTIO_F_ANY_LAYOUT) | BIT(VIRTIO_RING_F_INDIRECT_DESC) |
			   BIT(VIRTIO_RING_F_EVENT_IDX);
	guint64 want_blk = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_ACCESS_PLATFORM) |
			   BIT(VIRTIO_BLK_F_SIZE_MAX) | BIT(VIRTIO_BLK_F_SEG_MAX) |
			   BIT(VIRTIO_BLK_F_GEOMETRY) | BIT(VIRTIO_BLK_F_BLK_SIZE) |
			   BIT(VIRTIO_BLK_F_FLUSH) | BIT(VIRTIO_BLK_F_MQ);
	guint64 f, req;
	Dev d;
	Fx fx;

	fx_start(&fx, net2);
	dev_init(&d, fx.c);
	f = device_features(&d);
	g_assert_cmphex(f & want_net, ==, want_net);
	g_assert_cmphex(f & BIT(VIRTIO_NET_F_MQ), !=, 0);
	g_assert_cmphex(f & BIT(VIRTIO_F_RING_PACKED), ==, 0);
	cwr(&d, VIRTIO_COMMON_DFSELECT, 4, 2);
	g_assert_cmphex(crd(&d, VIRTIO_COMMON_DF, 4), ==, 0);

	/* the DPDK start sequence: 0, 0x01, 0x03, features, 0x0B, 0x0F */
	cwr(&d, VIRTIO_COMMON_STATUS, 1, 0);
	g_assert_cmphex(crd(&d, VIRTIO_COMMON_STATUS, 1), ==, 0);
	cwr(&d, VIRTIO_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE);
	cwr(&d, VIRTIO_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	req = f & ~BIT(VIRTIO_F_ACCESS_PLATFORM);
	set_driver_features(&d, req);
	g_assert_cmphex(driver_features(&d), ==, req);
	cwr(&d, VIRTIO_COMMON_STATUS, 1, 0x0b);
	g_assert_cmphex(crd(&d, VIRTIO_COMMON_STATUS, 1), ==, 0x0b);
	/* features are fixed after FEATURES_OK */
	set_driver_features(&d, req | BIT(VIRTIO_F_ACCESS_PLATFORM));
	g_assert_cmphex(driver_features(&d), ==, req);
	cwr(&d, VIRTIO_COMMON_STATUS, 1, 0x0f);
	g_assert_cmphex(crd(&d, VIRTIO_COMMON_STATUS, 1), ==, 0x0f);

	/* reset */
	cwr(&d, VIRTIO_COMMON_STATUS, 1, 0);
	g_assert_cmphex(crd(&d, VIRTIO_COMMON_STATUS, 1), ==, 0);
	g_assert_cmphex(driver_features(&d), ==, 0);

	/* asking for a feature the device lacks: FEATURES_OK does not stick */
	cwr(&d, VIRTIO_COMMON_STATUS, 1, 0x03);
	set_driver_features(&d, req | BIT(VIRTIO_F_RING_PACKED));
	cwr(&d, VIRTIO_COMMON_STATUS, 1, 0x0b);
	g_assert_cmphex(crd(&d, VIRTIO_COMMON_STATUS, 1), ==, 0x03);
	fx_stop(&fx);

	fx_start(&fx, net1);
	dev_init(&d, fx.c);
	f = device_features(&d);
	g_assert_cmphex(f & want_net, ==, want_net);
	g_assert_cmphex(f & BIT(VIRTIO_NET_F_MQ), ==, 0);
	fx_stop(&fx);

	fx_start(&fx, blk2);
	dev_init(&d, fx.c);
	f = device_features(&d);
	g_assert_cmphex(f & want_blk, ==, want_blk);
	fx_stop(&fx);
}

static void select_queue(Dev *d, guint q)
{
	cwr(d, VIRTIO_COMMON_Q_SELECT, 2, q);
}

static void test_queues(void)
{
	const char *const args[] = { "--queue-pairs", "2", "--queue-size-max", "512", "--mac",
				     "02:11:22:33:44:55", NULL };
	static const guint8 mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
	const VCap *dc, *nc;
	guint8 cfgbuf[10];
	guint nq, n_vec;
	Dev d;
	Fx fx;

	fx_start(&fx, args);
	dev_init(&d, fx.c);
	nq = crd(&d, VIRTIO_COMMON_NUMQ, 2);
	g_assert_cmpuint(nq, ==, 5);
	n_vec = nq + 1;
	g_assert_cmphex(crd(&d, VIRTIO_COMMON_MSIX, 2), ==, 0xffff);
	cwr(&d, VIRTIO_COMMON_MSIX, 2, 0);
	g_assert_cmphex(crd(&d, VIRTIO_COMMON_MSIX, 2), ==, 0);
	cwr(&d, VIRTIO_COMMON_MSIX, 2, n_vec);
	g_assert_cmphex(crd(&d, VIRTIO_COMMON_MSIX, 2), ==, 0xffff);

	for (guint q = 0; q < nq; q++) {
		select_queue(&d, q);
		g_assert_cmpuint(crd(&d, VIRTIO_COMMON_Q_SELECT, 2), ==, q);
		g_assert_cmpuint(crd(&d, VIRTIO_COMMON_Q_SIZE, 2), ==, 512);
		g_assert_cmpuint(crd(&d, VIRTIO_COMMON_Q_NOFF, 2), ==, q);
		g_assert_cmphex(crd(&d, VIRTIO_COMMON_Q_MSIX, 2), ==, 0xffff);
		g_assert_cmpuint(crd(&d, VIRTIO_COMMON_Q_ENABLE, 2), ==, 0);
	}

	select_queue(&d, 3);
	cwr(&d, VIRTIO_COMMON_Q_SIZE, 2, 256);
	g_assert_cmpuint(crd(&d, VIRTIO_COMMON_Q_SIZE, 2), ==, 256);
	cwr(&d, VIRTIO_COMMON_Q_SIZE, 2, 300);        /* not a power of two */
	cwr(&d, VIRTIO_COMMON_Q_SIZE, 2, 1024);       /* above the max */
	cwr(&d, VIRTIO_COMMON_Q_SIZE, 2, 0);
	g_assert_cmpuint(crd(&d, VIRTIO_COMMON_Q_SIZE, 2), ==, 256);

	cwr(&d, VIRTIO_COMMON_Q_MSIX, 2, 4);
	g_assert_cmphex(crd(&d, VIRTIO_COMMON_Q_MSIX, 2), ==, 4);
	cwr(&d, VIRTIO_COMMON_Q_MSIX, 2, n_vec);
	g_assert_cmphex(crd(&d, VIRTIO_COMMON_Q_MSIX, 2), ==, 0xffff);
	cwr(&d, VIRTIO_COMMON_Q_MSIX, 2, 4);

	cwr(&d, VIRTIO_COMMON_Q_DESCLO, 4, 0x12345000);
	cwr(&d, VIRTIO_COMMON_Q_DESCHI, 4, 0x1);
	cwr(&d, VIRTIO_COMMON_Q_AVAILLO, 4, 0x12346000);
	cwr(&d, VIRTIO_COMMON_Q_USEDLO, 4, 0x12347000);
	cwr(&d, VIRTIO_COMMON_Q_USEDHI, 4, 0x2);
	g_assert_cmphex(crd(&d, VIRTIO_COMMON_Q_DESCLO, 4), ==, 0x12345000);
	g_assert_cmphex(crd(&d, VIRTIO_COMMON_Q_DESCHI, 4), ==, 0x1);
	g_assert_cmphex(crd(&d, VIRTIO_COMMON_Q_AVAILLO, 4), ==, 0x12346000);
	g_assert_cmphex(crd(&d, VIRTIO_COMMON_Q_AVAILHI, 4), ==, 0);
	g_assert_cmphex(crd(&d, VIRTIO_COMMON_Q_USEDHI, 4), ==, 0x2);

	/* queues may be enabled after DRIVER_OK; disable reads back 0 */
	cwr(&d, VIRTIO_COMMON_STATUS, 1, 0x0f);
	cwr(&d, VIRTIO_COMMON_Q_ENABLE, 2, 1);
	g_assert_cmpuint(crd(&d, VIRTIO_COMMON_Q_ENABLE, 2), ==, 1);
	cwr(&d, VIRTIO_COMMON_Q_SIZE, 2, 128);        /* fixed while enabled */
	g_assert_cmpuint(crd(&d, VIRTIO_COMMON_Q_SIZE, 2), ==, 256);
	cwr(&d, VIRTIO_COMMON_Q_MSIX, 2, 0xffff);     /* the DPDK stop order */
	cwr(&d, VIRTIO_COMMON_Q_ENABLE, 2, 0);
	g_assert_cmpuint(crd(&d, VIRTIO_COMMON_Q_ENABLE, 2), ==, 0);
	cwr(&d, VIRTIO_COMMON_Q_SIZE, 2, 128);
	g_assert_cmpuint(crd(&d, VIRTIO_COMMON_Q_SIZE, 2), ==, 128);

	/* out-of-range select: zeros, writes go nowhere */
	select_queue(&d, nq);
	cwr(&d, VIRTIO_COMMON_Q_SIZE, 2, 64);
	cwr(&d, VIRTIO_COMMON_Q_ENABLE, 2, 1);
	g_assert_cmpuint(crd(&d, VIRTIO_COMMON_Q_SIZE, 2), ==, 0);
	g_assert_cmpuint(crd(&d, VIRTIO_COMMON_Q_ENABLE, 2), ==, 0);
	g_assert_cmpuint(crd(&d, VIRTIO_COMMON_Q_NOFF, 2), ==, 0);
	g_assert_cmpuint(crd(&d, VIRTIO_COMMON_Q_DESCLO, 4), ==, 0);

	/* doorbells: a 16-bit write of the queue index */
	nc = &d.caps.cap[VIRTIO_PCI_CAP_NOTIFY_CFG];
	for (guint q = 0; q < nq; q++)
		wr(fx.c, nc->bar, nc->offset + q * d.caps.notify_mult, 2, q);
	/* ISR reads (and clears) */
	g_assert_cmphex(rd(fx.c, d.caps.cap[VIRTIO_PCI_CAP_ISR_CFG].bar,
			   d.caps.cap[VIRTIO_PCI_CAP_ISR_CFG].offset, 1), ==, 0);

	/* net device config */
	dc = &d.caps.cap[VIRTIO_PCI_CAP_DEVICE_CFG];
	g_assert_cmpint(region_read(fx.c, dc->bar, dc->offset, cfgbuf, sizeof(cfgbuf)), ==, 0);
	g_assert_cmpmem(cfgbuf, 6, mac, 6);
	g_assert_cmphex(cfgbuf[6] | cfgbuf[7] << 8, ==, VIRTIO_NET_S_LINK_UP);
	g_assert_cmpuint(cfgbuf[8] | cfgbuf[9] << 8, ==, 2);

	/* reset: queues off, sizes back to the max, vectors cleared */
	select_queue(&d, 3);
	cwr(&d, VIRTIO_COMMON_Q_ENABLE, 2, 1);
	cwr(&d, VIRTIO_COMMON_STATUS, 1, 0);
	g_assert_cmpuint(crd(&d, VIRTIO_COMMON_Q_SELECT, 2), ==, 0);
	select_queue(&d, 3);
	g_assert_cmpuint(crd(&d, VIRTIO_COMMON_Q_ENABLE, 2), ==, 0);
	g_assert_cmpuint(crd(&d, VIRTIO_COMMON_Q_SIZE, 2), ==, 512);
	g_assert_cmphex(crd(&d, VIRTIO_COMMON_Q_MSIX, 2), ==, 0xffff);
	g_assert_cmphex(crd(&d, VIRTIO_COMMON_MSIX, 2), ==, 0xffff);
	fx_stop(&fx);
}

static void test_blk_config(void)
{
	const char *const args[] = { "--type", "blk", "--queues", "3", "--capacity", "4096",
				     NULL };
	guint8 cfg[96];
	const VCap *dc;
	Dev d;
	Fx fx;

	fx_start(&fx, args);
	dev_init(&d, fx.c);
	g_assert_cmpuint(crd(&d, VIRTIO_COMMON_NUMQ, 2), ==, 3);
	dc = &d.caps.cap[VIRTIO_PCI_CAP_DEVICE_CFG];
	g_assert_cmpuint(dc->length, >=, sizeof(cfg));
	g_assert_cmpint(region_read(fx.c, dc->bar, dc->offset, cfg, sizeof(cfg)), ==, 0);
	g_assert_cmpuint(cfg[0] | cfg[1] << 8 | cfg[2] << 16, ==, 4096);
	g_assert_cmpuint(cfg[VIRTIO_BLK_CFG_BLK_SIZE] | cfg[VIRTIO_BLK_CFG_BLK_SIZE + 1] << 8, ==,
			 512);
	g_assert_cmpuint(cfg[VIRTIO_BLK_CFG_NUM_QUEUES] | cfg[VIRTIO_BLK_CFG_NUM_QUEUES + 1] << 8,
			 ==, 3);
	g_assert_cmpuint(cfg[VIRTIO_BLK_CFG_SEG_MAX], >, 0);
	g_assert_cmpuint(cfg[VIRTIO_BLK_CFG_HEADS], >, 0);
	/* capacity is read byte by byte by the driver */
	g_assert_cmpuint(rd(fx.c, dc->bar, dc->offset + 1, 1), ==, 0x10);
	fx_stop(&fx);
}

/* ---- BAR4 live-migration block ---- */

static void test_lm_net(void)
{
	const char *const args[] = { "--queue-pairs", "2", NULL };
	guint32 w1 = (7u << 16) | 9u, w2 = (100u << 16) | 101u;
	guint32 tx1 = IFCVF_LM_RING_STATE_OFFSET + IFCVF_LM_CFG_SIZE + 4;   /* queue 3 */
	guint32 rx1 = IFCVF_LM_RING_STATE_OFFSET + IFCVF_LM_CFG_SIZE;       /* queue 2 */
	guint8 b[2];
	Dev d;
	Fx fx;

	fx_start(&fx, args);
	dev_init(&d, fx.c);

	wr(fx.c, 4, IFCVF_LM_BASE_ADDR_LOW, 4, 0);
	wr(fx.c, 4, IFCVF_LM_BASE_ADDR_HIGH, 4, 0x1000);
	wr(fx.c, 4, IFCVF_LM_END_ADDR_LOW, 4, 0x8000);
	wr(fx.c, 4, IFCVF_LM_END_ADDR_HIGH, 4, 0x1000);
	wr(fx.c, 4, IFCVF_LM_LOGGING_CTRL, 4, IFCVF_LM_ENABLE_VF);
	g_assert_cmphex(rd(fx.c, 4, IFCVF_LM_BASE_ADDR_HIGH, 4), ==, 0x1000);
	g_assert_cmphex(rd(fx.c, 4, IFCVF_LM_END_ADDR_LOW, 4), ==, 0x8000);
	g_assert_cmphex(rd(fx.c, 4, IFCVF_LM_LOGGING_CTRL, 4), ==, 1);

	/* the MQ register shares pair 0's block without touching its words */
	wr(fx.c, 4, IFCVF_LM_RING_STATE_OFFSET, 4, 0x11);
	wr(fx.c, 4, IFCVF_LM_RING_STATE_OFFSET + 4, 4, 0x22);
	wr(fx.c, 4, IFCVF_MQ_OFFSET, 4, 2);
	g_assert_cmphex(rd(fx.c, 4, IFCVF_MQ_OFFSET, 4), ==, 2);
	g_assert_cmphex(rd(fx.c, 4, IFCVF_LM_RING_STATE_OFFSET, 4), ==, 0x11);
	g_assert_cmphex(rd(fx.c, 4, IFCVF_LM_RING_STATE_OFFSET + 4, 4), ==, 0x22);

	/* queue 3 (pair 1 TX) latches its word at enable */
	wr(fx.c, 4, tx1, 4, w1);
	wr(fx.c, 4, rx1, 4, 0x33);
	select_queue(&d, 3);
	cwr(&d, VIRTIO_COMMON_Q_ENABLE, 2, 1);
	wr(fx.c, 4, tx1, 4, w2);
	g_assert_cmphex(rd(fx.c, 4, tx1, 4), ==, w1);   /* live: the latched position */
	cwr(&d, VIRTIO_COMMON_Q_ENABLE, 2, 0);
	g_assert_cmpuint(crd(&d, VIRTIO_COMMON_Q_ENABLE, 2), ==, 0);
	g_assert_cmphex(rd(fx.c, 4, tx1, 4), ==, w1);   /* written back at disable */
	g_assert_cmphex(rd(fx.c, 4, rx1, 4), ==, 0x33);
	/* a new word is what the next enable starts from */
	wr(fx.c, 4, tx1, 4, w2);
	cwr(&d, VIRTIO_COMMON_Q_ENABLE, 2, 1);
	g_assert_cmphex(rd(fx.c, 4, tx1, 4), ==, w2);
	/* virtio reset keeps the words current */
	cwr(&d, VIRTIO_COMMON_STATUS, 1, 0);
	g_assert_cmphex(rd(fx.c, 4, tx1, 4), ==, w2);

	/* everything is 32-bit */
	g_assert_cmpint(region_read(fx.c, 4, IFCVF_LM_LOGGING_CTRL, b, 2), ==, EINVAL);
	g_assert_cmpint(region_read(fx.c, 4, 2, b, 2), ==, EINVAL);
	g_assert_cmpint(region_write(fx.c, 4, IFCVF_MQ_OFFSET, b, 2), ==, EINVAL);
	g_assert_cmpint(region_read(fx.c, 4, region_size(fx.c, 4), b, 0), ==, 0);
	fx_stop(&fx);
}

static void test_lm_blk(void)
{
	const char *const args[] = { "--type", "blk", "--queues", "3", NULL };
	guint32 q2 = IFCVF_LM_RING_STATE_OFFSET + 2 * IFCVF_LM_CFG_SIZE;
	Dev d;
	Fx fx;

	fx_start(&fx, args);
	dev_init(&d, fx.c);
	wr(fx.c, 4, q2, 4, (5u << 16) | 6u);
	wr(fx.c, 4, IFCVF_MQ_OFFSET, 4, 3);
	select_queue(&d, 2);
	cwr(&d, VIRTIO_COMMON_Q_ENABLE, 2, 1);
	wr(fx.c, 4, q2, 4, 0);
	g_assert_cmphex(rd(fx.c, 4, q2, 4), ==, (5u << 16) | 6u);
	cwr(&d, VIRTIO_COMMON_Q_ENABLE, 2, 0);
	g_assert_cmphex(rd(fx.c, 4, q2, 4), ==, (5u << 16) | 6u);
	g_assert_cmphex(rd(fx.c, 4, IFCVF_MQ_OFFSET, 4), ==, 3);
	fx_stop(&fx);
}

static void test_device_reset(void)
{
	const char *const args[] = { NULL };
	Dev d;
	Fx fx;

	fx_start(&fx, args);
	dev_init(&d, fx.c);
	cwr(&d, VIRTIO_COMMON_STATUS, 1, 0x03);
	select_queue(&d, 1);
	cwr(&d, VIRTIO_COMMON_Q_ENABLE, 2, 1);
	wr(fx.c, 4, IFCVF_LM_LOGGING_CTRL, 4, 1);
	g_assert_cmpint(client_call(fx.c, VFU_CMD_DEVICE_RESET, NULL, 0, NULL), ==, 0);
	g_assert_cmphex(crd(&d, VIRTIO_COMMON_STATUS, 1), ==, 0);
	select_queue(&d, 1);
	g_assert_cmpuint(crd(&d, VIRTIO_COMMON_Q_ENABLE, 2), ==, 0);
	g_assert_cmphex(rd(fx.c, 4, IFCVF_LM_LOGGING_CTRL, 4), ==, 0);
	g_assert_cmpint(client_call(fx.c, VFU_CMD_DEVICE_RESET, "x", 1, NULL), ==, EINVAL);
	fx_stop(&fx);
}

/* ---- DMA ---- */

static void test_dma(void)
{
	const char *const args[] = { NULL };
	guint32 rw = VFU_DMA_FLAG_READ | VFU_DMA_FLAG_WRITE;
	int mfd, fds[2];
	Fx fx;

	fx_start(&fx, args);
	mfd = memfd_create("emu-test", MFD_CLOEXEC);
	g_assert_cmpint(mfd, >=, 0);
	g_assert_cmpint(ftruncate(mfd, 0x4000), ==, 0);

	g_assert_cmpint(dma_map(fx.c, mfd, 0x1000, 0x100000, 0x2000, rw), ==, 0);
	/* overlaps, exact or partial */
	g_assert_cmpint(dma_map(fx.c, mfd, 0x1000, 0x100000, 0x2000, rw), ==, EEXIST);
	g_assert_cmpint(dma_map(fx.c, -1, 0, 0x101000, 0x2000, rw), ==, EEXIST);
	g_assert_cmpint(dma_map(fx.c, -1, 0, 0xff000, 0x2000, rw), ==, EEXIST);
	/* adjacent is fine; message-based (no fd) is recorded */
	g_assert_cmpint(dma_map(fx.c, -1, 0, 0x102000, 0x1000, VFU_DMA_FLAG_READ), ==, 0);
	/* past the end of the memfd, bad flags, two fds, zero size */
	g_assert_cmpint(dma_map(fx.c, mfd, 0x3000, 0x200000, 0x2000, rw), ==, EINVAL);
	g_assert_cmpint(dma_map(fx.c, mfd, 0, 0x200000, 0x1000, 0x10), ==, EINVAL);
	fds[0] = fds[1] = mfd;
	{
		struct vfu_dma_map m = { .argsz = sizeof(m), .flags = rw, .address = 0x200000,
					 .size = 0x1000 };

		g_assert_cmpint(client_call_fds(fx.c, VFU_CMD_DMA_MAP, &m, sizeof(m), fds, 2,
						NULL), ==, EINVAL);
	}
	g_assert_cmpint(dma_map(fx.c, -1, 0, 0x200000, 0, rw), ==, EINVAL);

	/* unmap must match exactly */
	g_assert_cmpint(dma_unmap(fx.c, 0x100000, 0x1000, 0), ==, ENOENT);
	g_assert_cmpint(dma_unmap(fx.c, 0x100000, 0x2000, 0), ==, 0);
	g_assert_cmpint(dma_unmap(fx.c, 0x100000, 0x2000, 0), ==, ENOENT);
	g_assert_cmpint(dma_map(fx.c, mfd, 0, 0x400000, 0x4000, VFU_DMA_FLAG_READ), ==, 0);
	/* FLAG_ALL takes address and size 0 */
	g_assert_cmpint(dma_unmap(fx.c, 0x400000, 0x4000, VFU_DMA_UNMAP_FLAG_ALL), ==, EINVAL);
	g_assert_cmpint(dma_unmap(fx.c, 0, 0, VFU_DMA_UNMAP_FLAG_ALL), ==, 0);
	g_assert_cmpint(dma_unmap(fx.c, 0x102000, 0x1000, 0), ==, ENOENT);
	g_assert_cmpint(dma_unmap(fx.c, 0x400000, 0x4000, 0), ==, ENOENT);
	close(mfd);
	fx_stop(&fx);
}

/* ---- refusals, No_reply, framing faults ---- */

static void test_errors(void)
{
	const char *const args[] = { NULL };
	struct vfu_region_access a = { .region = 0, .count = 4 };
	guint8 buf[32] = { 0 };
	guint64 bar0;
	int efd;
	Fx fx;

	fx_start(&fx, args);
	g_assert_cmpint(client_call(fx.c, 99, NULL, 0, NULL), ==, EINVAL);
	g_assert_cmpint(client_call(fx.c, 0, buf, 8, NULL), ==, EINVAL);
	{
		guint32 io_fds[4] = { 16, 0, 0, 0 };

		g_assert_cmpint(client_call(fx.c, VFU_CMD_DEVICE_GET_REGION_IO_FDS, io_fds,
					    sizeof(io_fds), NULL), !=, 0);
	}
	g_assert_cmpint(client_call(fx.c, VFU_CMD_DMA_READ, buf, 16, NULL), !=, 0);
	g_assert_cmpint(client_call(fx.c, 15, buf, 8, NULL), !=, 0);   /* WRITE_MULTI */

	bar0 = region_size(fx.c, 0);
	g_assert_cmpint(region_read(fx.c, NUM_REGIONS, 0, buf, 4), ==, EINVAL);
	g_assert_cmpint(region_read(fx.c, 2, 0, buf, 4), ==, EINVAL);
	g_assert_cmpint(region_read(fx.c, 0, bar0 - 2, buf, 4), ==, EINVAL);
	g_assert_cmpint(region_read(fx.c, 0, G_MAXUINT64 - 1, buf, 4), ==, EINVAL);
	g_assert_cmpint(region_read(fx.c, 0, bar0, buf, 1), ==, EINVAL);
	g_assert_cmpint(region_read(fx.c, 0, 0, buf, 0), ==, 0);
	a.count = (1u << 20) + 1;
	g_assert_cmpint(client_call(fx.c, VFU_CMD_REGION_READ, &a, sizeof(a), NULL), ==, EINVAL);
	/* REGION_WRITE whose count disagrees with its payload */
	a.count = 8;
	memcpy(buf, &a, sizeof(a));
	g_assert_cmpint(client_call(fx.c, VFU_CMD_REGION_WRITE, buf, sizeof(a) + 4, NULL), ==,
			EINVAL);
	/* REGION_READ with a short payload */
	g_assert_cmpint(client_call(fx.c, VFU_CMD_REGION_READ, buf, 8, NULL), ==, EINVAL);
	/* a request carrying an fd it has no use for */
	a.count = 4;
	efd = eventfd(0, EFD_CLOEXEC);
	g_assert_cmpint(client_call_fds(fx.c, VFU_CMD_REGION_READ, &a, sizeof(a), &efd, 1, NULL),
			==, EINVAL);
	/* more fds than the advertised max_msg_fds: refused, still framed */
	{
		int many[9];

		for (guint i = 0; i < G_N_ELEMENTS(many); i++)
			many[i] = efd;
		g_assert_cmpint(client_call_fds(fx.c, VFU_CMD_REGION_READ, &a, sizeof(a), many,
						G_N_ELEMENTS(many), NULL), ==, EINVAL);
	}
	close(efd);
	/* the stream is still in step */
	g_assert_cmphex(rd(fx.c, REGION_CONFIG, 0, 2), ==, 0x1af4);
	fx_stop(&fx);
}

static void test_no_reply(void)
{
	const char *const args[] = { NULL };
	struct vfu_region_access a = { .region = 0, .count = 2 };
	guint8 buf[sizeof(a) + 2];
	struct vfu_msg m = VFU_MSG_INIT;
	guint16 v = 1;
	Dev d;
	Fx fx;

	fx_start(&fx, args);
	dev_init(&d, fx.c);
	a.offset = d.caps.cap[VIRTIO_PCI_CAP_COMMON_CFG].offset + VIRTIO_COMMON_Q_SELECT;
	a.region = d.caps.cap[VIRTIO_PCI_CAP_COMMON_CFG].bar;
	memcpy(buf, &a, sizeof(a));
	memcpy(buf + sizeof(a), &v, 2);
	/* a posted write, a posted bad write and a posted unknown command */
	client_send(fx.c, 100, VFU_CMD_REGION_WRITE, VFU_FLAG_NO_REPLY, buf, sizeof(buf), NULL, 0);
	a.region = 2;
	memcpy(buf, &a, sizeof(a));
	client_send(fx.c, 101, VFU_CMD_REGION_WRITE, VFU_FLAG_NO_REPLY, buf, sizeof(buf), NULL, 0);
	client_send(fx.c, 102, 77, VFU_FLAG_NO_REPLY, NULL, 0, NULL, 0);
	/* the next message is the reply to the next request */
	a.region = d.caps.cap[VIRTIO_PCI_CAP_COMMON_CFG].bar;
	client_send(fx.c, 103, VFU_CMD_REGION_READ, 0, &a, sizeof(a), NULL, 0);
	client_recv(fx.c, &m);
	g_assert_cmpuint(m.hdr.msg_id, ==, 103);
	g_assert_cmpuint(m.hdr.command, ==, VFU_CMD_REGION_READ);
	g_assert_cmphex(m.hdr.flags, ==, VFU_FLAG_TYPE_REPLY);
	g_assert_cmpuint(m.payload_len, ==, sizeof(a) + 2);
	g_assert_cmpuint(m.payload[sizeof(a)], ==, 1);
	vfu_msg_clear(&m);
	fx_stop(&fx);
}

static void send_raw(int fd, const void *buf, size_t len)
{
	g_assert_cmpint(send(fd, buf, len, MSG_NOSIGNAL), ==, (ssize_t)len);
}

static void test_framing(void)
{
	const char *const args[] = { NULL };
	struct vfu_hdr h = { .msg_id = 1, .command = VFU_CMD_REGION_WRITE };
	guint8 body[10] = { 0 };
	guint fds = test_count_fds();
	TestEmu *emu = emu_start(args);
	Client *c;

	/* oversized msg_size */
	c = client_connect(emu->socket);
	client_version(c);
	h.msg_size = 16u << 20;
	send_raw(c->fd, &h, sizeof(h));
	g_assert_true(peer_closed(c->fd));
	client_free(c);

	/* EOF in the middle of a message */
	c = client_connect(emu->socket);
	client_version(c);
	h.msg_size = 100;
	send_raw(c->fd, &h, sizeof(h));
	send_raw(c->fd, body, sizeof(body));
	client_free(c);

	/* a msg_size shorter than a header */
	c = client_connect(emu->socket);
	h.msg_size = 8;
	send_raw(c->fd, &h, sizeof(h));
	g_assert_true(peer_closed(c->fd));
	client_free(c);

	/* half a header, then EOF */
	c = client_connect(emu->socket);
	send_raw(c->fd, &h, 8);
	client_free(c);

	/* still serving */
	c = client_connect(emu->socket);
	client_version(c);
	g_assert_cmphex(rd(c, REGION_CONFIG, 0, 2), ==, 0x1af4);
	client_free(c);
	emu_stop(emu);
	g_assert_cmpuint(test_count_fds(), ==, fds);
}

/* Device state survives a client; DMA maps and eventfds do not. */
static void test_reconnect(void)
{
	const char *const args[] = { NULL };
	int mfd, efd;
	Dev d;
	Fx fx;

	fx_start(&fx, args);
	dev_init(&d, fx.c);
	cwr(&d, VIRTIO_COMMON_STATUS, 1, 0x03);
	select_queue(&d, 1);
	cwr(&d, VIRTIO_COMMON_Q_SIZE, 2, 128);
	mfd = memfd_create("emu-test", MFD_CLOEXEC);
	g_assert_cmpint(ftruncate(mfd, 0x1000), ==, 0);
	g_assert_cmpint(dma_map(fx.c, mfd, 0, 0x10000, 0x1000, VFU_DMA_FLAG_READ), ==, 0);
	close(mfd);
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	g_assert_cmpint(set_irqs(fx.c, IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER, IRQ_MSIX, 0,
				 1, &efd, 1, NULL), ==, 0);

	g_clear_pointer(&fx.c, client_free);
	fx.c = client_connect(fx.emu->socket);
	client_version(fx.c);
	d.c = fx.c;
	g_assert_cmphex(crd(&d, VIRTIO_COMMON_STATUS, 1), ==, 0x03);
	select_queue(&d, 1);
	g_assert_cmpuint(crd(&d, VIRTIO_COMMON_Q_SIZE, 2), ==, 128);
	g_assert_cmpint(dma_unmap(fx.c, 0x10000, 0x1000, 0), ==, ENOENT);
	/* the old eventfd is no longer bound */
	g_assert_cmpint(set_irqs(fx.c, IRQ_SET_DATA_NONE | IRQ_SET_ACTION_TRIGGER, IRQ_MSIX, 0, 1,
				 NULL, 0, NULL), ==, 0);
	g_assert_false(eventfd_fired(efd));
	close(efd);
	fx_stop(&fx);
}

/* ---- faults ---- */

typedef enum {
	CHECK_VENDOR,
	CHECK_DEVICE,
	CHECK_SUBSYS,
	CHECK_NO_NOTIFY,
	CHECK_NO_ISR,
	CHECK_LOOP,
	CHECK_OUTSIDE,
	CHECK_NUMQ,
	CHECK_BAR4,
	CHECK_BAR7,
} FaultCheck;

typedef struct {
	const char *fault;
	FaultCheck check;
} FaultCase;

static void test_fault(gconstpointer data)
{
	const FaultCase *fc = data;
	const char *const args[] = { "--fault", fc->fault, NULL };
	gboolean outside = FALSE;
	Caps caps;
	Fx fx;

	fx_start(&fx, args);
	walk_caps(fx.c, &caps);
	switch (fc->check) {
	case CHECK_VENDOR:
		g_assert_cmphex(rd(fx.c, REGION_CONFIG, PCI_CFG_VENDOR_ID, 2), !=, 0x1af4);
		break;
	case CHECK_DEVICE:
		g_assert_cmphex(rd(fx.c, REGION_CONFIG, PCI_CFG_DEVICE_ID, 2), ==, 0x1043);
		break;
	case CHECK_SUBSYS:
		g_assert_cmphex(rd(fx.c, REGION_CONFIG, PCI_CFG_SUBSYS_VENDOR_ID, 2), ==, 0x1af4);
		break;
	case CHECK_NO_NOTIFY:
		g_assert_false(caps.has[VIRTIO_PCI_CAP_NOTIFY_CFG]);
		g_assert_true(caps.has[VIRTIO_PCI_CAP_COMMON_CFG]);
		break;
	case CHECK_NO_ISR:
		g_assert_false(caps.has[VIRTIO_PCI_CAP_ISR_CFG]);
		g_assert_true(caps.has[VIRTIO_PCI_CAP_NOTIFY_CFG]);
		break;
	case CHECK_LOOP:
		g_assert_true(caps.loop);
		break;
	case CHECK_OUTSIDE:
		for (guint t = 1; t <= 4; t++)
			outside |= (guint64)caps.cap[t].offset + caps.cap[t].length >
				   region_size(fx.c, caps.cap[t].bar);
		g_assert_true(outside);
		break;
	case CHECK_NUMQ: {
		Dev d;

		dev_init(&d, fx.c);
		g_assert_cmpuint(crd(&d, VIRTIO_COMMON_NUMQ, 2), ==, 4);
		break;
	}
	case CHECK_BAR4: {
		Dev d;

		/* QEMU-style: virtio structures in BAR4, no LM block */
		dev_init(&d, fx.c);
		for (guint t = 1; t <= 4; t++)
			g_assert_cmpuint(caps.cap[t].bar, ==, 4);
		g_assert_cmpuint(region_size(fx.c, 0), ==, 0);
		g_assert_cmpuint(crd(&d, VIRTIO_COMMON_NUMQ, 2), ==, 3);
		g_assert_cmpuint((guint64)caps.cap[VIRTIO_PCI_CAP_NOTIFY_CFG].offset +
				 caps.cap[VIRTIO_PCI_CAP_NOTIFY_CFG].length, <=, region_size(fx.c, 4));
		break;
	}
	case CHECK_BAR7:
		g_assert_cmpuint(caps.cap[VIRTIO_PCI_CAP_COMMON_CFG].bar, ==, 7);
		break;
	default:
		g_assert_not_reached();
	}
	fx_stop(&fx);
}

static const FaultCase fault_cases[] = {
	{ "wrong-vendor", CHECK_VENDOR },
	{ "wrong-device", CHECK_DEVICE },
	{ "wrong-subsystem", CHECK_SUBSYS },
	{ "missing-notify-cap", CHECK_NO_NOTIFY },
	{ "missing-cap=isr", CHECK_NO_ISR },
	{ "cap-loop", CHECK_LOOP },
	{ "cap-outside-bar", CHECK_OUTSIDE },
	{ "num-queues=4", CHECK_NUMQ },
	{ "cap-bar=4", CHECK_BAR4 },
	{ "cap-bar=7", CHECK_BAR7 },
};

/* ---- --virtio-function: a plain virtio 1.x function, not an IFCVF ---- */

typedef struct {
	const char *name;
	const char *args[8];
} VirtioFunctionCase;

/* with it, what it implies is accepted and changes nothing */
static const VirtioFunctionCase vf_cases[] = {
	{ "ids", { "--virtio-function", NULL } },
	{ "no-lm", { "--virtio-function", "--no-lm", NULL } },
	{ "faults", { "--fault", "cap-bar=4", "--virtio-function", "--fault", "wrong-subsystem",
		      NULL } },
};

static void test_virtio_function(gconstpointer data)
{
	const VirtioFunctionCase *vc = data;
	Caps caps;
	Dev d;
	Fx fx;

	fx_start(&fx, vc->args);
	/* QEMU's virtio-net-pci IDs: the subsystem is not Intel's */
	g_assert_cmphex(rd(fx.c, REGION_CONFIG, PCI_CFG_VENDOR_ID, 2), ==, 0x1af4);
	g_assert_cmphex(rd(fx.c, REGION_CONFIG, PCI_CFG_DEVICE_ID, 2), ==, 0x1041);
	g_assert_cmphex(rd(fx.c, REGION_CONFIG, PCI_CFG_SUBSYS_VENDOR_ID, 2), ==, 0x1af4);
	g_assert_cmphex(rd(fx.c, REGION_CONFIG, PCI_CFG_SUBSYS_ID, 2), ==, VIRTIO_ID_NET);

	/* every virtio structure in BAR4, BAR0 gone */
	walk_caps(fx.c, &caps);
	g_assert_false(caps.loop);
	for (guint t = VIRTIO_PCI_CAP_COMMON_CFG; t <= VIRTIO_PCI_CAP_DEVICE_CFG; t++) {
		g_assert_true(caps.has[t]);
		g_assert_cmpuint(caps.cap[t].bar, ==, 4);
		g_assert_cmpuint((guint64)caps.cap[t].offset + caps.cap[t].length, <=,
				 region_size(fx.c, 4));
	}
	g_assert_cmpuint(region_size(fx.c, 0), ==, 0);
	g_assert_cmpuint(region_size(fx.c, 1), >, 0);

	/* no LM block: BAR4 offset 0 (LOGGING_CTRL on an IFCVF) is the common
	 * config's device_feature_select, whose window 1 shows VERSION_1 */
	dev_init(&d, fx.c);
	g_assert_cmpuint(d.caps.cap[VIRTIO_PCI_CAP_COMMON_CFG].offset, ==, 0);
	wr(fx.c, 4, IFCVF_LM_LOGGING_CTRL, 4, 1);
	g_assert_cmphex(crd(&d, VIRTIO_COMMON_DFSELECT, 4), ==, 1);
	g_assert_cmphex(crd(&d, VIRTIO_COMMON_DF, 4) & BIT(VIRTIO_F_VERSION_1 - 32), !=, 0);
	g_assert_cmpuint(crd(&d, VIRTIO_COMMON_NUMQ, 2), ==, 3);
	fx_stop(&fx);
}

/* ---- command line and signals ---- */

typedef struct {
	const char *args[6];
	const char *names;   /* the option the message must name */
} BadOption;

static const BadOption bad_options[] = {
	{ { "--socket", "/nonexistent/s", "--queue-pairs", "0", NULL }, "--queue-pairs" },
	{ { "--socket", "/nonexistent/s", "--queue-pairs", "x", NULL }, "--queue-pairs" },
	{ { "--socket", "/nonexistent/s", "--type", "scsi", NULL }, "--type" },
	{ { "--socket", "/nonexistent/s", "--mac", "zz", NULL }, "--mac" },
	{ { "--socket", "/nonexistent/s", "--fault", "nope", NULL }, "--fault" },
	{ { "--socket", "/nonexistent/s", "--fault", "cap-bar=1", NULL }, "cap-bar" },
	{ { "--socket", "/nonexistent/s", "--queue-size-max", "1000", NULL }, "--queue-size-max" },
	{ { "--socket", "/nonexistent/s", "--capacity", "8", NULL }, "--capacity" },
	{ { "--socket", "/nonexistent/s", "--type", "blk", "--mac", "02:00:00:00:00:01" },
	  "--mac" },
	{ { "--socket", "/nonexistent/s", "--bogus", NULL }, "--bogus" },
	{ { "--socket", NULL }, "--socket" },
	{ { "--verbose", NULL }, "--socket" },
	{ { "--socket", "/nonexistent/s", "extra", NULL }, "extra" },
	{ { "--socket", "/nonexistent/s", "--virtio-function", "--fault", "cap-bar=0" },
	  "--virtio-function" },
	{ { "--socket", "/nonexistent/s", "--type", "blk", "--virtio-function" },
	  "--virtio-function" },
};

static void test_bad_options(void)
{
	const char *emu = test_program("IFCVF_EMU");

	for (guint i = 0; i < G_N_ELEMENTS(bad_options); i++) {
		const BadOption *b = &bad_options[i];
		const char *argv[8] = { emu };

		for (guint j = 0; j < G_N_ELEMENTS(b->args) && b->args[j]; j++)
			argv[j + 1] = b->args[j];
		test_assert_usage_error(argv, b->names);
	}
	{
		const char *argv[] = { emu, "--help", NULL };
		g_autofree char *out = NULL, *err = NULL;

		g_assert_cmpint(test_run(argv, &out, &err), ==, 0);
		g_assert_nonnull(strstr(out, "--fault KIND"));
		g_assert_nonnull(strstr(out, "for tests"));
		g_assert_nonnull(strstr(out, "--queue-size-max"));
		g_assert_nonnull(strstr(out, "--virtio-function"));
		g_assert_nonnull(strstr(out, "virtio-net-pci,disable-legacy=on"));
	}
}

static void test_signals(void)
{
	const char *const args[] = { NULL };
	guint fds = test_count_fds();
	TestEmu *emu = emu_start(args);
	Client *c;
	int status;

	g_assert_cmpint(kill(emu->pid, SIGUSR1), ==, 0);
	c = client_connect(emu->socket);
	client_version(c);
	g_assert_cmphex(rd(c, REGION_CONFIG, 0, 2), ==, 0x1af4);
	g_assert_cmpint(kill(emu->pid, SIGUSR1), ==, 0);
	g_assert_cmphex(rd(c, REGION_CONFIG, 0, 2), ==, 0x1af4);
	client_free(c);

	g_assert_cmpint(kill(emu->pid, SIGTERM), ==, 0);
	g_assert_cmpint(waitpid(emu->pid, &status, 0), ==, emu->pid);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	for (guint i = 0; i < G_N_ELEMENTS(live_emus); i++)
		if (live_emus[i] == emu->pid)
			live_emus[i] = 0;
	g_spawn_close_pid(emu->pid);
	emu->pid = 0;
	g_assert_false(g_file_test(emu->socket, G_FILE_TEST_EXISTS));
	emu_stop(emu);
	g_assert_cmpuint(test_count_fds(), ==, fds);
}

/* --socket in a directory that does not exist yet: the emulator creates it
 * (and the missing ones above it) and listens there. */
static void test_socket_dir_created(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp("ifcvf-emu-dir-XXXXXX", &error);
	g_autofree char *sock = NULL, *parent = NULL, *top = NULL;
	const char *argv[] = { test_program("IFCVF_EMU"), "--socket", NULL, NULL };
	gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	struct stat st;
	GPid pid;
	int status;

	g_assert_no_error(error);
	top = g_build_filename(dir, "a", NULL);
	parent = g_build_filename(top, "b", NULL);
	sock = g_build_filename(parent, "vf.sock", NULL);
	argv[2] = sock;
	g_spawn_async(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid,
		      &error);
	g_assert_no_error(error);
	while (!g_file_test(sock, G_FILE_TEST_EXISTS)) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			g_error("ifcvf-emu exited (status %d) instead of listening on %s", status, sock);
		if (g_get_monotonic_time() > deadline) {
			kill(pid, SIGKILL);
			g_error("ifcvf-emu did not listen on %s within 10 s", sock);
		}
		g_usleep(10 * 1000);
	}
	g_assert_cmpint(stat(parent, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0755 & ~umask_now());
	g_assert_cmpint(kill(pid, SIGTERM), ==, 0);
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	g_spawn_close_pid(pid);
	g_assert_cmpint(rmdir(parent), ==, 0);
	g_assert_cmpint(rmdir(top), ==, 0);
	g_assert_cmpint(rmdir(dir), ==, 0);
}

/* A socket directory that cannot be made (a file is in the way): one line
 * naming the socket the user asked for and the cause, never our .tmp name. */
static void test_socket_dir_refused(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp("ifcvf-emu-dir-XXXXXX", &error);
	g_autofree char *file = NULL, *sock = NULL, *out = NULL, *err = NULL;
	g_autofree char *want = NULL;
	const char *argv[] = { test_program("IFCVF_EMU"), "--socket", NULL, NULL };

	g_assert_no_error(error);
	file = g_build_filename(dir, "file", NULL);
	sock = g_build_filename(file, "sub", "vf.sock", NULL);
	g_assert_true(g_file_set_contents(file, "", 0, NULL));
	argv[2] = sock;
	g_assert_cmpint(test_run(argv, &out, &err), ==, 1);
	want = g_strdup_printf("ifcvf-emu: cannot listen on %s: ", sock);
	g_test_message("stderr: %s", err);
	g_assert_true(g_str_has_prefix(err, want));
	g_assert_null(strstr(err, ".tmp"));
	g_assert_nonnull(strstr(err, "Not a directory"));
	g_assert_cmpint(unlink(file), ==, 0);
	g_assert_cmpint(rmdir(dir), ==, 0);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGABRT, kill_live_emus);
	signal(SIGTRAP, kill_live_emus);

	g_test_add_func("/ifcvf-helper/emu/version", test_version);
	g_test_add_func("/ifcvf-helper/emu/socket-dir/created", test_socket_dir_created);
	g_test_add_func("/ifcvf-helper/emu/socket-dir/refused", test_socket_dir_refused);
	g_test_add_func("/ifcvf-helper/emu/before-version", test_before_version);
	g_test_add_func("/ifcvf-helper/emu/device-info", test_device_info);
	g_test_add_func("/ifcvf-helper/emu/region-info", test_region_info);
	g_test_add_func("/ifcvf-helper/emu/region-info-notify", test_region_info_notify);
	g_test_add_data_func("/ifcvf-helper/emu/config/net", &id_net, test_config_ids);
	g_test_add_data_func("/ifcvf-helper/emu/config/blk", &id_blk, test_config_ids);
	g_test_add_func("/ifcvf-helper/emu/bar-sizing", test_bar_sizing);
	g_test_add_func("/ifcvf-helper/emu/msix", test_msix);
	g_test_add_func("/ifcvf-helper/emu/features", test_features);
	g_test_add_func("/ifcvf-helper/emu/queues", test_queues);
	g_test_add_func("/ifcvf-helper/emu/blk-config", test_blk_config);
	g_test_add_func("/ifcvf-helper/emu/lm/net", test_lm_net);
	g_test_add_func("/ifcvf-helper/emu/lm/blk", test_lm_blk);
	g_test_add_func("/ifcvf-helper/emu/device-reset", test_device_reset);
	g_test_add_func("/ifcvf-helper/emu/dma", test_dma);
	g_test_add_func("/ifcvf-helper/emu/errors", test_errors);
	g_test_add_func("/ifcvf-helper/emu/no-reply", test_no_reply);
	g_test_add_func("/ifcvf-helper/emu/framing", test_framing);
	g_test_add_func("/ifcvf-helper/emu/reconnect", test_reconnect);
	for (guint i = 0; i < G_N_ELEMENTS(fault_cases); i++) {
		g_autofree char *path = g_strdup_printf("/ifcvf-helper/emu/fault/%s",
							 fault_cases[i].fault);

		g_test_add_data_func(path, &fault_cases[i], test_fault);
	}
	for (guint i = 0; i < G_N_ELEMENTS(vf_cases); i++) {
		g_autofree char *path = g_strdup_printf("/ifcvf-helper/emu/virtio-function/%s",
							 vf_cases[i].name);

		g_test_add_data_func(path, &vf_cases[i], test_virtio_function);
	}
	g_test_add_func("/ifcvf-helper/emu/bad-options", test_bad_options);
	g_test_add_func("/ifcvf-helper/emu/signals", test_signals);
	return g_test_run();
}

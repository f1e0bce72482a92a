/* vfio-user protocol dispatch for one client (see vfu-server.h). */
#include "vfu-server.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "emu-dma-guard.h"
#include "emu-dma.h"
#include "emu-fault.h"
#include "emu-stall.h"
#include "vfio-user-caps.h"
#include "vfio-user-wire.h"
#include "vfu-record.h"

#define VFIO_DEVICE_FLAGS_RESET 0x1u
#define VFIO_DEVICE_FLAGS_PCI 0x2u
#define VFIO_REGION_INFO_FLAG_READ 0x1u
#define VFIO_REGION_INFO_FLAG_WRITE 0x2u
#define VFIO_REGION_INFO_FLAG_MMAP 0x4u
#define VFIO_REGION_INFO_FLAG_CAPS 0x8u
#define VFIO_REGION_INFO_CAP_SPARSE_MMAP 1u
#define VFIO_IRQ_INFO_EVENTFD 0x1u
#define VFIO_IRQ_SET_DATA_NONE 0x1u
#define VFIO_IRQ_SET_DATA_BOOL 0x2u
#define VFIO_IRQ_SET_DATA_EVENTFD 0x4u
#define VFIO_IRQ_SET_DATA_MASK 0x7u
#define VFIO_IRQ_SET_ACTION_MASK 0x8u
#define VFIO_IRQ_SET_ACTION_UNMASK 0x10u
#define VFIO_IRQ_SET_ACTION_TRIGGER 0x20u
#define VFIO_IRQ_SET_ACTION_MASKS 0x38u
#define VFU_DMA_UNMAP_FLAG_DIRTY_BITMAP 0x1u

#define SERVER_MAJOR 0u
#define SERVER_MINOR 0u
#define SERVER_MAX_MSG_FDS VFU_MAX_MSG_FDS
/* The largest reply is a REGION_READ of a whole region (it cannot read past
 * one), or the VERSION capabilities (well below a page). */
#define REPLY_MIN_DATA 4096u

int vfu_conn_open(struct vfu_conn *c, int fd, struct emu_device *dev,
		  struct vfu_server_stats *stats, bool verbose, struct cerr *e)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->dev = dev;
	c->stats = stats;
	c->verbose = verbose;
	c->client_max_xfer = VFU_MAX_DATA_XFER;
	c->client_max_fds = 1;   /* the spec's default when the client says nothing */
	c->stop_fd = -1;
	c->reply_fd = -1;
	c->rbuf_size = REPLY_MIN_DATA;
	for (unsigned i = 0; i < EMU_NUM_REGIONS; i++)
		if (emu_device_region_size(dev, i) > c->rbuf_size)
			c->rbuf_size = (size_t)emu_device_region_size(dev, i);
	c->rbuf_size += sizeof(struct vfu_region_access);
	c->rbuf = malloc(c->rbuf_size);
	if (!c->rbuf) {
		close(fd);
		c->fd = -1;
		return cerr_set(e, ENOMEM, "out of memory for a client");
	}
	c->record = vfu_record_open();
	c->record_msgs = vfu_record_msgs_open();
	stats->clients++;
	emu_device_client_new(dev);
	return 0;
}

void vfu_conn_watch_stop(struct vfu_conn *c, int fd, bool (*fn)(void *opaque), void *opaque)
{
	c->stop_fd = fd;
	c->stop_fn = fn;
	c->stop_opaque = opaque;
}

void vfu_conn_close(struct vfu_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->rbuf);
	c->rbuf = NULL;
	vfu_record_close(c->record);
	c->record = NULL;
	vfu_record_msgs_close(c->record_msgs);
	c->record_msgs = NULL;
	emu_device_client_gone(c->dev);
}

/* ---- VERSION ---- */

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* The client's capabilities are parsed by the strict reader the helper's
 * client uses for a server's (src/vfio/vfio-user-caps.c); what it refuses
 * (not JSON, a known key of the wrong type, negative or out of range) is
 * EINVAL here, as libvfio-user answers. The reply names only the four
 * capabilities the spec gives defaults for, each at most what the client
 * proposed (or its default): never something it did not ask for. */
static int h_version(struct vfu_conn *c, struct vfu_msg *m, size_t *rlen, struct cerr *e)
{
	const struct vfu_version *in = (const void *)m->payload;
	struct vfu_version out = { .major = SERVER_MAJOR, .minor = SERVER_MINOR };
	struct vfu_caps theirs, reply;
	int n;

	if (c->negotiated)
		return cerr_set(e, EINVAL, "VERSION was already negotiated");
	if (m->nfds)
		return cerr_set(e, EINVAL, "VERSION must not carry fds");
	if (m->payload_len < sizeof(*in))
		return cerr_set(e, EINVAL, "VERSION payload of %zu bytes is too short",
				m->payload_len);
	if (in->major != SERVER_MAJOR)
		return cerr_set(e, ENOTSUP, "client protocol major %u, this server speaks %u",
				in->major, SERVER_MAJOR);
	vfu_caps_defaults(&theirs);
	if (m->payload_len > sizeof(*in)) {
		const char *s = (const char *)m->payload + sizeof(*in);
		size_t slen = m->payload_len - sizeof(*in);
		struct cerr perr = { 0 };

		if (s[slen - 1] != '\0' || memchr(s, '\0', slen) != s + slen - 1)
			return cerr_set(e, EINVAL, "VERSION capabilities are not a NUL-terminated "
					"string");
		if (vfu_caps_parse(s, &theirs, &perr) < 0)
			return cerr_set(e, EINVAL, "VERSION: %s", perr.msg);
	}
	reply.max_msg_fds = (uint32_t)min_u64(theirs.max_msg_fds, SERVER_MAX_MSG_FDS);
	reply.max_data_xfer_size = min_u64(theirs.max_data_xfer_size, VFU_MAX_DATA_XFER);
	reply.pgsizes = theirs.pgsizes & EMU_DMA_PAGE;
	reply.max_dma_maps = (uint32_t)min_u64(theirs.max_dma_maps, EMU_DMA_MAX_MAPS);
	if (!reply.pgsizes)
		return cerr_set(e, EINVAL, "VERSION: the client's DMA page sizes 0x%llx do not "
				"include the 0x%x this server maps",
				(unsigned long long)theirs.pgsizes, EMU_DMA_PAGE);
	c->client_max_fds = theirs.max_msg_fds;
	c->client_max_xfer = theirs.max_data_xfer_size;
	/* the reply's minor is min(client, ours); ours is 0 */
	memcpy(c->rbuf, &out, sizeof(out));
	n = vfu_caps_format(&reply, (char *)c->rbuf + sizeof(out), c->rbuf_size - sizeof(out));
	if (n < 0)
		return cerr_set(e, -n, "VERSION: cannot write the capabilities");
	*rlen = sizeof(out) + (size_t)n + 1;
	c->negotiated = true;
	return 0;
}

/* ---- device, region and irq info ---- */

static int h_device_info(struct vfu_conn *c, struct vfu_msg *m, size_t *rlen, struct cerr *e)
{
	struct vfu_device_info in, out = {
		.argsz = sizeof(out),
		.flags = VFIO_DEVICE_FLAGS_RESET | VFIO_DEVICE_FLAGS_PCI,
		.num_regions = EMU_NUM_REGIONS,
		.num_irqs = EMU_NUM_IRQS,
	};

	if (m->payload_len != sizeof(in))
		return cerr_set(e, EINVAL, "DEVICE_GET_INFO payload of %zu bytes, expected %zu",
				m->payload_len, sizeof(in));
	memcpy(&in, m->payload, sizeof(in));
	if (in.argsz < sizeof(out))
		return cerr_set(e, EINVAL, "DEVICE_GET_INFO argsz %u is below %zu", in.argsz,
				sizeof(out));
	memcpy(c->rbuf, &out, sizeof(out));
	*rlen = sizeof(out);
	return 0;
}

static int h_region_info(struct vfu_conn *c, struct vfu_msg *m, size_t *rlen, struct cerr *e)
{
	struct vfu_region_info in, out;
	uint64_t area_off, area_size;
	int fd;

	if (m->payload_len != sizeof(in))
		return cerr_set(e, EINVAL, "DEVICE_GET_REGION_INFO payload of %zu bytes, "
				"expected %zu", m->payload_len, sizeof(in));
	memcpy(&in, m->payload, sizeof(in));
	if (in.argsz < sizeof(in))
		return cerr_set(e, EINVAL, "DEVICE_GET_REGION_INFO argsz %u is below %zu",
				in.argsz, sizeof(in));
	if (in.index >= EMU_NUM_REGIONS)
		return cerr_set(e, EINVAL, "no region %u (the device has %u)", in.index,
				EMU_NUM_REGIONS);
	memset(&out, 0, sizeof(out));
	out.argsz = sizeof(out);
	out.index = in.index;
	out.size = emu_device_region_size(c->dev, in.index);
	if (out.size)
		out.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	/* --doorbell mapped: the virtio BAR is mappable in one sparse area,
	 * the notify area, from the device's sealed memfd at offset 0; only
	 * to a client that takes fds */
	if (out.size && c->client_max_fds > 0 &&
	    emu_device_region_mmap(c->dev, in.index, &fd, &area_off, &area_size)) {
		struct {
			uint16_t id, version;
			uint32_t next;
			uint32_t nr_areas, reserved;
			uint64_t offset, size;
		} __attribute__((packed)) cap = { .id = VFIO_REGION_INFO_CAP_SPARSE_MMAP,
						  .version = 1, .nr_areas = 1,
						  .offset = area_off, .size = area_size };

		out.flags |= VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS;
		out.argsz = (uint32_t)(sizeof(out) + sizeof(cap));
		/* too small for the capability: the head says how much to ask
		 * for (as the kernel does), without caps and without the fd */
		if (in.argsz >= out.argsz) {
			out.cap_offset = sizeof(out);
			memcpy(c->rbuf + sizeof(out), &cap, sizeof(cap));
			*rlen = out.argsz;
			c->reply_fd = fd;
		} else {
			*rlen = sizeof(out);
		}
		memcpy(c->rbuf, &out, sizeof(out));
		return 0;
	}
	memcpy(c->rbuf, &out, sizeof(out));
	*rlen = sizeof(out);
	return 0;
}

static int h_irq_info(struct vfu_conn *c, struct vfu_msg *m, size_t *rlen, struct cerr *e)
{
	struct vfu_irq_info in, out;

	if (m->payload_len != sizeof(in))
		return cerr_set(e, EINVAL, "DEVICE_GET_IRQ_INFO payload of %zu bytes, expected %zu",
				m->payload_len, sizeof(in));
	memcpy(&in, m->payload, sizeof(in));
	if (in.argsz < sizeof(in))
		return cerr_set(e, EINVAL, "DEVICE_GET_IRQ_INFO argsz %u is below %zu", in.argsz,
				sizeof(in));
	if (in.index >= EMU_NUM_IRQS)
		return cerr_set(e, EINVAL, "no irq index %u (the device has %u)", in.index,
				EMU_NUM_IRQS);
	out.argsz = sizeof(out);
	out.flags = VFIO_IRQ_INFO_EVENTFD;
	out.index = in.index;
	out.count = in.index == EMU_IRQ_MSIX ? c->dev->irq.n : 0;
	memcpy(c->rbuf, &out, sizeof(out));
	*rlen = sizeof(out);
	return 0;
}

/* ---- SET_IRQS ---- */

static int irq_trigger_range(struct vfu_conn *c, const struct vfu_irq_set *s,
			     const uint8_t *bools)
{
	for (uint32_t i = 0; i < s->count; i++)
		if (!bools || bools[i])
			(void)emu_irq_trigger(&c->dev->irq, s->start + i);
	return 0;
}

static int h_set_irqs(struct vfu_conn *c, struct vfu_msg *m, size_t *rlen, struct cerr *e)
{
	struct emu_irq *irq = &c->dev->irq;
	uint32_t data, action;
	struct vfu_irq_set s;

	(void)rlen;
	if (m->payload_len < sizeof(s))
		return cerr_set(e, EINVAL, "DEVICE_SET_IRQS payload of %zu bytes is too short",
				m->payload_len);
	memcpy(&s, m->payload, sizeof(s));
	data = s.flags & VFIO_IRQ_SET_DATA_MASK;
	action = s.flags & VFIO_IRQ_SET_ACTION_MASKS;
	if (s.argsz < sizeof(s) || (s.flags & ~(VFIO_IRQ_SET_DATA_MASK | VFIO_IRQ_SET_ACTION_MASKS)) ||
	    __builtin_popcount(data) != 1 || __builtin_popcount(action) != 1)
		return cerr_set(e, EINVAL, "DEVICE_SET_IRQS argsz %u flags 0x%x are invalid",
				s.argsz, s.flags);
	if (s.index != EMU_IRQ_MSIX)
		return cerr_set(e, EINVAL, "irq index %u has no vectors (only MSI-X, index %u)",
				s.index, EMU_IRQ_MSIX);
	if (action != VFIO_IRQ_SET_ACTION_TRIGGER)
		return cerr_set(e, EINVAL, "MSI-X vectors cannot be masked through SET_IRQS");
	if (data != VFIO_IRQ_SET_DATA_EVENTFD && m->nfds)
		return cerr_set(e, EINVAL, "DEVICE_SET_IRQS carries %u fds without DATA_EVENTFD",
				m->nfds);
	if (data == VFIO_IRQ_SET_DATA_NONE && s.count == 0) {
		if (s.start != 0)
			return cerr_set(e, EINVAL, "unassigning all vectors needs start 0");
		emu_irq_clear(irq);
		return 0;
	}
	if (s.count == 0 || s.start >= irq->n || s.count > irq->n - s.start)
		return cerr_set(e, EINVAL, "vectors %u+%u are outside the MSI-X table of %u",
				s.start, s.count, irq->n);
	switch (data) {
	case VFIO_IRQ_SET_DATA_NONE:
		return irq_trigger_range(c, &s, NULL);
	case VFIO_IRQ_SET_DATA_BOOL:
		if (m->payload_len < sizeof(s) + s.count)
			return cerr_set(e, EINVAL, "DEVICE_SET_IRQS has %zu bytes for %u booleans",
					m->payload_len - sizeof(s), s.count);
		return irq_trigger_range(c, &s, m->payload + sizeof(s));
	default:
		break;
	}
	if (m->nfds == 0) {
		emu_irq_unassign(irq, s.start, s.count);
		return 0;
	}
	if (m->nfds != s.count)
		return cerr_set(e, EINVAL, "DEVICE_SET_IRQS carries %u fds for %u vectors", m->nfds,
				s.count);
	/* all or nothing: check every fd before binding any */
	for (unsigned i = 0; i < m->nfds; i++) {
		int r = emu_irq_check_fd(m->fds[i], s.start + i, e);

		if (r < 0)
			return r;
	}
	emu_irq_assign(irq, s.start, s.count, m->fds);
	/* the table owns them now */
	for (unsigned i = 0; i < m->nfds; i++)
		(void)vfu_msg_steal_fd(m, i);
	return 0;
}

/* ---- region access ---- */

static int h_region_read(struct vfu_conn *c, struct vfu_msg *m, size_t *rlen, struct cerr *e)
{
	struct vfu_region_access a;
	int r;

	if (m->payload_len != sizeof(a))
		return cerr_set(e, EINVAL, "REGION_READ payload of %zu bytes, expected %zu",
				m->payload_len, sizeof(a));
	memcpy(&a, m->payload, sizeof(a));
	if (a.count > VFU_MAX_DATA_XFER)
		return cerr_set(e, EINVAL, "REGION_READ of %u bytes is above the %u allowed",
				a.count, VFU_MAX_DATA_XFER);
	if (a.count > c->rbuf_size - sizeof(a))
		return cerr_set(e, EINVAL, "REGION_READ of %u bytes is larger than any region",
				a.count);
	r = emu_device_region_read(c->dev, a.region, a.offset, c->rbuf + sizeof(a), a.count, e);
	if (r < 0)
		return r;
	memcpy(c->rbuf, &a, sizeof(a));
	*rlen = sizeof(a) + a.count;
	return 0;
}

static int h_region_write(struct vfu_conn *c, struct vfu_msg *m, size_t *rlen, struct cerr *e)
{
	struct vfu_region_access a;
	int r;

	if (m->payload_len < sizeof(a))
		return cerr_set(e, EINVAL, "REGION_WRITE payload of %zu bytes is too short",
				m->payload_len);
	memcpy(&a, m->payload, sizeof(a));
	if (a.count != m->payload_len - sizeof(a))
		return cerr_set(e, EINVAL, "REGION_WRITE says %u bytes but carries %zu", a.count,
				m->payload_len - sizeof(a));
	if (a.count > VFU_MAX_DATA_XFER)
		return cerr_set(e, EINVAL, "REGION_WRITE of %u bytes is above the %u allowed",
				a.count, VFU_MAX_DATA_XFER);
	r = emu_device_region_write(c->dev, a.region, a.offset, m->payload + sizeof(a), a.count,
				    e);
	if (r < 0)
		return r;
	memcpy(c->rbuf, &a, sizeof(a));
	*rlen = sizeof(a);
	return 0;
}

/* ---- DMA ---- */

static int h_dma_map(struct vfu_conn *c, struct vfu_msg *m, size_t *rlen, struct cerr *e)
{
	struct vfu_dma_map d;
	int fd;

	(void)rlen;
	if (m->payload_len != sizeof(d))
		return cerr_set(e, EINVAL, "DMA_MAP payload of %zu bytes, expected %zu",
				m->payload_len, sizeof(d));
	memcpy(&d, m->payload, sizeof(d));
	if (d.argsz < sizeof(d))
		return cerr_set(e, EINVAL, "DMA_MAP argsz %u is below %zu", d.argsz, sizeof(d));
	if (!d.flags || (d.flags & ~(VFU_DMA_FLAG_READ | VFU_DMA_FLAG_WRITE)))
		return cerr_set(e, EINVAL, "DMA_MAP flags 0x%x are not READ and/or WRITE", d.flags);
	if (m->nfds > 1)
		return cerr_set(e, EINVAL, "DMA_MAP carries %u fds, at most one is allowed",
				m->nfds);
	fd = m->nfds ? vfu_msg_steal_fd(m, 0) : -1;
	if (c->dev->cfg->faults.slow_dma_map_ms) {
		unsigned ms = c->dev->cfg->faults.slow_dma_map_ms;
		struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

		/* a device slow to map: the client waits with whatever it holds */
		fprintf(stderr, "ifcvf-emu: fault slow-dma-map: answering DMA_MAP in %u ms\n", ms);
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	return emu_device_dma_map(c->dev, d.address, d.size, d.flags, fd, d.offset, e);
}

static int h_dma_unmap(struct vfu_conn *c, struct vfu_msg *m, size_t *rlen, struct cerr *e)
{
	struct vfu_dma_unmap d;
	int r;

	if (m->payload_len != sizeof(d))
		return cerr_set(e, EINVAL, "DMA_UNMAP payload of %zu bytes, expected %zu",
				m->payload_len, sizeof(d));
	memcpy(&d, m->payload, sizeof(d));
	if (d.argsz < sizeof(d))
		return cerr_set(e, EINVAL, "DMA_UNMAP argsz %u is below %zu", d.argsz, sizeof(d));
	if (d.flags & VFU_DMA_UNMAP_FLAG_DIRTY_BITMAP)
		return cerr_set(e, ENOTSUP, "DMA_UNMAP dirty bitmaps are not supported");
	if (d.flags & ~VFU_DMA_UNMAP_FLAG_ALL)
		return cerr_set(e, EINVAL, "DMA_UNMAP flags 0x%x are invalid", d.flags);
	if (d.flags & VFU_DMA_UNMAP_FLAG_ALL) {
		if (d.address || d.size)
			return cerr_set(e, EINVAL, "DMA_UNMAP of all mappings needs address and "
					"size 0");
	}
	r = emu_device_dma_unmap(c->dev, d.address, d.size, d.flags & VFU_DMA_UNMAP_FLAG_ALL, e);
	if (r < 0)
		return r;
	d.argsz = sizeof(d);
	memcpy(c->rbuf, &d, sizeof(d));
	*rlen = sizeof(d);
	return 0;
}

static int h_reset(struct vfu_conn *c, struct vfu_msg *m, size_t *rlen, struct cerr *e)
{
	(void)rlen;
	if (m->payload_len)
		return cerr_set(e, EINVAL, "DEVICE_RESET takes no payload (got %zu bytes)",
				m->payload_len);
	emu_device_reset(c->dev);
	return 0;
}

/* ---- dispatch ---- */

typedef int (*handler_fn)(struct vfu_conn *c, struct vfu_msg *m, size_t *rlen, struct cerr *e);

static const struct {
	handler_fn fn;
	bool takes_fds;
} handlers[VFU_CMD_MAX + 1] = {
	[VFU_CMD_VERSION] = { h_version, false },
	[VFU_CMD_DMA_MAP] = { h_dma_map, true },
	[VFU_CMD_DMA_UNMAP] = { h_dma_unmap, false },
	[VFU_CMD_DEVICE_GET_INFO] = { h_device_info, false },
	[VFU_CMD_DEVICE_GET_REGION_INFO] = { h_region_info, false },
	[VFU_CMD_DEVICE_GET_IRQ_INFO] = { h_irq_info, false },
	[VFU_CMD_DEVICE_SET_IRQS] = { h_set_irqs, true },
	[VFU_CMD_REGION_READ] = { h_region_read, false },
	[VFU_CMD_REGION_WRITE] = { h_region_write, false },
	[VFU_CMD_DEVICE_RESET] = { h_reset, false },
};

static int dispatch(struct vfu_conn *c, struct vfu_msg *m, size_t *rlen, struct cerr *e)
{
	unsigned cmd = m->hdr.command;

	if (cmd == 0 || cmd > VFU_CMD_MAX)
		return cerr_set(e, EINVAL, "unknown command %u", cmd);
	if (!c->negotiated && cmd != VFU_CMD_VERSION)
		return cerr_set(e, EINVAL, "%s before VERSION", vfu_command_name(cmd));
	if (!handlers[cmd].fn)
		return cerr_set(e, ENOTSUP, "%s (command %u) is not supported by this device",
				vfu_command_name(cmd), cmd);
	if (m->nfds && !handlers[cmd].takes_fds && cmd != VFU_CMD_VERSION)
		return cerr_set(e, EINVAL, "%s must not carry fds (got %u)", vfu_command_name(cmd),
				m->nfds);
	return handlers[cmd].fn(c, m, rlen, e);
}

static void log_request(const struct vfu_conn *c, const struct vfu_msg *m)
{
	const struct vfu_hdr *h = &m->hdr;

	if (!c->verbose)
		return;
	if ((h->command == VFU_CMD_REGION_READ || h->command == VFU_CMD_REGION_WRITE) &&
	    m->payload_len >= sizeof(struct vfu_region_access)) {
		struct vfu_region_access a;

		memcpy(&a, m->payload, sizeof(a));
		fprintf(stderr, "ifcvf-emu: <- %s id %u region %u offset 0x%" PRIx64 " count %u%s\n",
			vfu_command_name(h->command), h->msg_id, a.region, a.offset, a.count,
			h->flags & VFU_FLAG_NO_REPLY ? " (no reply)" : "");
		return;
	}
	fprintf(stderr, "ifcvf-emu: <- %s id %u size %u fds %u%s\n", vfu_command_name(h->command),
		h->msg_id, h->msg_size, m->nfds, h->flags & VFU_FLAG_NO_REPLY ? " (no reply)" : "");
}

/* --fault fail-at: which request was refused, and whether the client can
 * know (a No_reply request gets no error reply) */
static void emu_fault_report(const struct vfu_conn *c, const struct vfu_msg *m, bool no_reply)
{
	struct vfu_region_access a = { 0 };
	char where[80] = "";

	if ((m->hdr.command == VFU_CMD_REGION_READ || m->hdr.command == VFU_CMD_REGION_WRITE) &&
	    m->payload_len >= sizeof(a)) {
		memcpy(&a, m->payload, sizeof(a));
		snprintf(where, sizeof(where), " of region %u offset 0x%" PRIx64 " count %u",
			 a.region, a.offset, a.count);
	}
	fprintf(stderr, "ifcvf-emu: --fault fail-at=%" PRIu64 ": %s%s (message id %u) refused%s\n",
		c->stats->messages, vfu_command_name(m->hdr.command), where, m->hdr.msg_id,
		no_reply ? ", unseen: no reply wanted" : " with EIO");
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until the socket takes more, the deadline passes, or the emulator
 * is told to stop (a client that does not read must not hold SIGTERM). */
static int wait_writable(struct vfu_conn *c, long long deadline, struct cerr *e)
{
	for (;;) {
		struct pollfd p[2] = { { .fd = c->fd, .events = POLLOUT },
				       { .fd = c->stop_fd, .events = POLLIN } };
		long long left = deadline - now_ms();
		int r;

		if (left <= 0)
			return cerr_set(e, ETIMEDOUT, "the client took no reply for %d ms",
					VFU_SERVER_SEND_TIMEOUT_MS);
		r = poll(p, c->stop_fd >= 0 ? 2 : 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return cerr_set(e, errno, "poll: %s", strerror(errno));
		if ((p[1].revents & POLLIN) && c->stop_fn && c->stop_fn(c->stop_opaque))
			return cerr_set(e, ECANCELED, "the emulator is stopping with a reply "
					"the client has not taken");
		/* room, or an error that the next send reports */
		if (p[0].revents)
			return 0;
	}
}

/* Send all of @iov without ever blocking, within VFU_SERVER_SEND_TIMEOUT_MS.
 * @fd (or -1) goes with the first bytes sent (SCM_RIGHTS); a partial send
 * then simply goes on without it. */
static int send_all(struct vfu_conn *c, struct iovec *iov, int iovcnt, int fd,
		    const char *what, struct cerr *e)
{
	long long deadline = now_ms() + VFU_SERVER_SEND_TIMEOUT_MS;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)iovcnt };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;

	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	while (mh.msg_iovlen) {
		ssize_t n = sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		int r;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return cerr_set(e, errno, "cannot send the %s reply: %s", what,
					strerror(errno));
		if (n < 0) {
			r = wait_writable(c, deadline, e);
			if (r < 0)
				return r;
			continue;
		}
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

static int send_reply(struct vfu_conn *c, const struct vfu_hdr *req, int err, size_t rlen,
		      struct cerr *e)
{
	size_t len = err ? 0 : rlen;
	struct vfu_hdr h = {
		.msg_id = req->msg_id,
		.command = req->command,
		.msg_size = (uint32_t)(VFU_HDR_SIZE + len),
		.flags = VFU_FLAG_TYPE_REPLY | (err ? VFU_FLAG_ERROR : 0),
		.error = (uint32_t)err,
	};
	struct iovec iov[2] = { { .iov_base = &h, .iov_len = VFU_HDR_SIZE },
				{ .iov_base = c->rbuf, .iov_len = len } };

	vfu_record_reply(c->record, &h, c->rbuf, len);
	return send_all(c, iov, len ? 2 : 1, err ? -1 : c->reply_fd,
			vfu_command_name(req->command), e);
}

/* vfu_recv() refuses a message with more fds than it takes only after
 * reading all of it, so the stream is still framed: answer it and go on. */
static bool recv_error_is_framed(int r, const struct vfu_msg *m)
{
	return r == -EPROTO && m->hdr.msg_size >= VFU_HDR_SIZE &&
	       m->hdr.msg_size <= VFU_MAX_MSG_SIZE;
}

int vfu_conn_serve(struct vfu_conn *c, struct cerr *e)
{
	struct vfu_msg m = VFU_MSG_INIT;
	struct cerr herr = { 0 };
	size_t rlen = 0;
	bool no_reply, fault = false;
	enum emu_fault_action act;
	int r;

	c->reply_fd = -1;
	r = vfu_recv(c->fd, &m, VFU_MAX_MSG_SIZE, VFU_SERVER_MSG_TIMEOUT_MS, e);
	if (r < 0 && !recv_error_is_framed(r, &m)) {
		if (r != -ECONNRESET)
			c->stats->dropped++;
		return r;
	}
	c->stats->messages++;
	vfu_record_msg(c->record_msgs, &m);
	act = emu_fault_schedule_take(&c->dev->cfg->faults.schedule, c->stats->messages);
	if (act == EMU_FAULT_DROP) {
		vfu_msg_clear(&m);
		c->stats->dropped++;
		return cerr_set(e, ECONNABORTED, "--fault drop-at: connection closed at message %"
				PRIu64, c->stats->messages);
	}
	if ((m.hdr.flags & VFU_FLAG_TYPE_MASK) != VFU_FLAG_TYPE_COMMAND) {
		/* we never send commands, so no reply is owed to us: ignore it */
		c->stats->errors++;
		if (c->verbose)
			fprintf(stderr, "ifcvf-emu: ignoring a message of type %u (command %u)\n",
				m.hdr.flags & VFU_FLAG_TYPE_MASK, m.hdr.command);
		vfu_msg_clear(&m);
		return 0;
	}
	if (m.hdr.command <= VFU_CMD_MAX)
		c->stats->per_command[m.hdr.command]++;
	no_reply = m.hdr.flags & VFU_FLAG_NO_REPLY;
	if (r < 0) {
		r = cerr_set(&herr, EINVAL, "%s", e->msg);
		cerr_clear(e);
	} else if (act == EMU_FAULT_FAIL) {
		log_request(c, &m);
		r = cerr_set(&herr, EIO, "--fault fail-at: %s refused",
			     vfu_command_name(m.hdr.command));
		emu_fault_report(c, &m, no_reply);
	} else {
		uint64_t iova;

		log_request(c, &m);
		r = dispatch(c, &m, &rlen, &herr);
		/* the request touched guest memory the client took away */
		if (emu_dma_guard_take(&iova)) {
			cerr_clear(&herr);
			r = cerr_set(&herr, EFAULT, "%s found the client's memory at IOVA 0x%" PRIx64
				     " gone (its file shrank after DMA_MAP)",
				     vfu_command_name(m.hdr.command), iova);
			fault = true;
		} else if (emu_stall_take()) {
			cerr_clear(&herr);
			r = cerr_set(&herr, EIO, "%s raised an interrupt whose eventfd the client "
				     "made blocking and let fill up",
				     vfu_command_name(m.hdr.command));
			fault = true;
		}
	}
	if (r < 0) {
		c->stats->errors++;
		if (c->verbose)
			fprintf(stderr, "ifcvf-emu: -> error %d (%s)%s\n", -r, herr.msg,
				no_reply ? ", not sent: no reply wanted" : "");
	}
	/* never answer a No_reply request, not even with an error */
	if (!no_reply && send_reply(c, &m.hdr, r < 0 ? -r : 0, rlen, e) < 0) {
		vfu_msg_clear(&m);
		c->stats->dropped++;
		return -(e->code ? e->code : EIO);
	}
	vfu_msg_clear(&m);
	/* answered; now the client goes */
	if (fault) {
		c->stats->dropped++;
		return cerr_set(e, herr.code, "%s", herr.msg);
	}
	return 0;
}

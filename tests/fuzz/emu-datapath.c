/* Fuzz target emu-datapath: the emulated VF's virtio-net datapath
 * (emu-net.c over emu-vring.c) against guest rings and DMA maps the fuzzer
 * writes: TX chains and RX buffers, MRG_RXBUF, indirect tables, EVENT_IDX
 * words, indices; mappings present, absent, partial, read-only, moved
 * under a running queue; the dirty log on. The device is programmed
 * through its registers (emu_device_region_write, as a REGION_WRITE would)
 * and the datapath runs its bursts as the emulator's loop runs them. Every
 * input gets a fresh device and must leave no fd or mapping behind.
 *
 * Guest memory is one memfd of FZ_PAGES pages (guest-physical page i =
 * memfd page i); what the device may reach of it is only what the DMA maps
 * say. Input:
 *   u8 emulator variant (net ones of emu-fuzz.c); u32 feature choice (bit i
 *   keeps feature wanted[i] if the device offers it);
 *   u8 number of DMA maps (mod 9), each: u8 first page, u8 pages, u8 IOVA
 *   page (0xff: the same as the first page), u8 prot (1 read, 2 write);
 *   per queue of the device (RX/TX of each pair): u16 size, u32 desc, u32
 *   avail, u32 used (guest-physical), u8 enable;
 *   then operations until the input ends, op = u8 % 10:
 *   0 guest memory write (u32 offset, u16 length, bytes), 1 doorbell (u8
 *   queue), 2 a frame from the wire (u8 pair, u16 length, bytes), 3 run
 *   bursts, 4 DMA unmap (u8 map), 5 DMA map again (u8 map), 6 queue off
 *   and on again (u8 queue), 7 device reset and bring-up again, 8 dirty log
 *   on in DMA map (u8 map) (IFCVF only), 9 the configuration changed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "emu-fuzz.h"
#include "ifcvf-regs.h"

#define FZ_PAGE 4096u
#define FZ_PAGES 64u
#define FZ_MAX_MAPS 8u
#define FZ_MAX_OPS 256u
#define FZ_RUN_ROUNDS 16u

/* virtio_pci_common_cfg */
#define CC_DFSELECT 0x00u
#define CC_GFSELECT 0x08u
#define CC_GF 0x0cu
#define CC_MSIX_CONFIG 0x10u
#define CC_STATUS 0x14u
#define CC_Q_SELECT 0x16u
#define CC_Q_SIZE 0x18u
#define CC_Q_MSIX 0x1au
#define CC_Q_ENABLE 0x1cu
#define CC_Q_DESC 0x20u
#define CC_Q_AVAIL 0x28u
#define CC_Q_USED 0x30u

static const unsigned wanted[] = {
	VIRTIO_NET_F_MRG_RXBUF, VIRTIO_RING_F_INDIRECT_DESC, VIRTIO_RING_F_EVENT_IDX,
	VIRTIO_F_VERSION_1, VIRTIO_NET_F_MQ, VIRTIO_NET_F_CTRL_VQ, VIRTIO_NET_F_MAC,
	VIRTIO_NET_F_STATUS, VIRTIO_NET_F_CSUM, VIRTIO_NET_F_GUEST_CSUM, VIRTIO_F_ANY_LAYOUT,
	VIRTIO_F_ACCESS_PLATFORM, VIRTIO_F_RING_PACKED, VIRTIO_F_IN_ORDER,
	VIRTIO_NET_F_HOST_TSO4, VIRTIO_NET_F_GUEST_TSO4, VIRTIO_F_NOTIFICATION_DATA,
};
static const unsigned net_variants[] = { 0, 1, 2, 4, 5 };

struct dmap {
	uint64_t iova, size, off;
	uint32_t prot;
	bool mapped;
};

struct rig {
	struct fz_emu emu;
	int mem;
	unsigned vbar, nq;
	uint64_t features;
	struct dmap map[FZ_MAX_MAPS];
	unsigned nmaps;
	struct { uint16_t size; uint64_t desc, avail, used; bool on; } q[8];
};

static void reg_write(struct rig *r, unsigned bar, uint32_t off, const void *v, size_t len)
{
	struct cerr e = { 0 };

	/* refused writes are the model's business (counted there) */
	(void)emu_device_region_write(&r->emu.dev, bar, off, v, len, &e);
}

static void cc8(struct rig *r, uint32_t off, uint8_t v)
{
	reg_write(r, r->vbar, EMU_COMMON_OFF + off, &v, 1);
}

static void cc16(struct rig *r, uint32_t off, uint16_t v)
{
	reg_write(r, r->vbar, EMU_COMMON_OFF + off, &v, 2);
}

static void cc32(struct rig *r, uint32_t off, uint32_t v)
{
	reg_write(r, r->vbar, EMU_COMMON_OFF + off, &v, 4);
}

static void cc64(struct rig *r, uint32_t off, uint64_t v)
{
	cc32(r, off, (uint32_t)v);
	cc32(r, off + 4, (uint32_t)(v >> 32));
}

static void queue_program(struct rig *r, unsigned q)
{
	cc16(r, CC_Q_SELECT, (uint16_t)q);
	cc16(r, CC_Q_SIZE, r->q[q].size);
	cc16(r, CC_Q_MSIX, (uint16_t)(q + 1));
	cc64(r, CC_Q_DESC, r->q[q].desc);
	cc64(r, CC_Q_AVAIL, r->q[q].avail);
	cc64(r, CC_Q_USED, r->q[q].used);
	if (r->q[q].on)
		cc16(r, CC_Q_ENABLE, 1);
}

/* the driver's bring-up, as the helper does it */
static void bring_up(struct rig *r)
{
	cc8(r, CC_STATUS, 0);
	cc8(r, CC_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	cc32(r, CC_GFSELECT, 0);
	cc32(r, CC_GF, (uint32_t)r->features);
	cc32(r, CC_GFSELECT, 1);
	cc32(r, CC_GF, (uint32_t)(r->features >> 32));
	cc8(r, CC_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
		VIRTIO_STATUS_FEATURES_OK);
	cc16(r, CC_MSIX_CONFIG, 0);
	for (unsigned q = 0; q < r->nq; q++)
		queue_program(r, q);
	cc8(r, CC_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
		VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

static void dma_map(struct rig *r, unsigned i)
{
	struct dmap *m = &r->map[i];
	struct cerr e = { 0 };
	int fd;

	if (m->mapped)
		return;
	fd = dup(r->mem);
	if (fd < 0)
		abort();
	/* refusals (overlap, outside the file) are part of the game */
	m->mapped = emu_device_dma_map(&r->emu.dev, m->iova, m->size, m->prot, fd, m->off,
				       &e) == 0;
}

static void dma_unmap(struct rig *r, unsigned i)
{
	struct dmap *m = &r->map[i];
	struct cerr e = { 0 };

	if (!m->mapped)
		return;
	if (emu_device_dma_unmap(&r->emu.dev, m->iova, m->size, false, &e) < 0) {
		fprintf(stderr, "emu-datapath: unmapping what was mapped failed: %s\n", e.msg);
		abort();
	}
	m->mapped = false;
}

static void run(struct rig *r)
{
	for (unsigned i = 0; i < FZ_RUN_ROUNDS && emu_net_run(&r->emu.dev.net); i++)
		;
}

static void log_on(struct rig *r, unsigned i)
{
	struct dmap *m = &r->map[i % FZ_MAX_MAPS];
	uint64_t end = m->iova + m->size - 1;
	uint32_t v;

	if (r->emu.dev.layout.lm_bar < 0)
		return;
	v = (uint32_t)m->iova;
	reg_write(r, (unsigned)r->emu.dev.layout.lm_bar, IFCVF_LM_BASE_ADDR_LOW, &v, 4);
	v = (uint32_t)(m->iova >> 32);
	reg_write(r, (unsigned)r->emu.dev.layout.lm_bar, IFCVF_LM_BASE_ADDR_HIGH, &v, 4);
	v = (uint32_t)end;
	reg_write(r, (unsigned)r->emu.dev.layout.lm_bar, IFCVF_LM_END_ADDR_LOW, &v, 4);
	v = (uint32_t)(end >> 32);
	reg_write(r, (unsigned)r->emu.dev.layout.lm_bar, IFCVF_LM_END_ADDR_HIGH, &v, 4);
	v = IFCVF_LM_ENABLE_VF;
	reg_write(r, (unsigned)r->emu.dev.layout.lm_bar, IFCVF_LM_LOGGING_CTRL, &v, 4);
}

static void setup(struct rig *r, struct fz_in *in)
{
	uint32_t choice;
	unsigned nmaps;

	fz_emu_open(&r->emu, net_variants[fz_u8(in) % 5]);
	r->vbar = 0;
	for (unsigned b = 0; b < EMU_NUM_BARS; b++)
		if (r->emu.dev.layout.bar[b].kind == EMU_BAR_VIRTIO)
			r->vbar = b;
	r->nq = 2 * r->emu.cfg->queue_pairs;
	if (r->nq > 8)
		r->nq = 8;
	choice = fz_u32(in);
	r->features = 0;
	for (unsigned i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
		if (choice & (1u << i))
			r->features |= 1ull << wanted[i];
	r->features &= r->emu.dev.virtio.device_features;

	r->mem = fz_memfd("fz-guest", (uint64_t)FZ_PAGES * FZ_PAGE);
	emu_device_client_new(&r->emu.dev);
	/* one eventfd per vector, as the helper binds them */
	for (unsigned v = 0; v < r->emu.dev.irq.n && v <= r->nq; v++) {
		int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

		if (fd < 0)
			abort();
		emu_irq_assign(&r->emu.dev.irq, v, 1, &fd);
	}
	nmaps = fz_u8(in) % (FZ_MAX_MAPS + 1);
	r->nmaps = nmaps;
	for (unsigned i = 0; i < FZ_MAX_MAPS; i++) {
		struct dmap *m = &r->map[i];
		uint8_t first = fz_u8(in) % FZ_PAGES, pages = i < nmaps ? fz_u8(in) : 1;
		uint8_t iova = i < nmaps ? fz_u8(in) : 0xff;
		uint8_t prot = i < nmaps ? fz_u8(in) : 3;

		if (i >= nmaps)
			first = 0;
		if (pages == 0 || pages > FZ_PAGES - first)
			pages = (uint8_t)(FZ_PAGES - first);
		m->off = (uint64_t)first * FZ_PAGE;
		m->size = (uint64_t)pages * FZ_PAGE;
		m->iova = (uint64_t)(iova == 0xff ? first : iova) * FZ_PAGE;
		m->prot = (prot & 3) ? prot & 3 : 3;
		m->mapped = false;
		if (i < nmaps)
			dma_map(r, i);
	}
	for (unsigned q = 0; q < r->nq; q++) {
		r->q[q].size = fz_u16(in);
		r->q[q].desc = fz_u32(in);
		r->q[q].avail = fz_u32(in);
		r->q[q].used = fz_u32(in);
		r->q[q].on = fz_u8(in) & 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rig r;   /* large: the whole register file */
	struct fz_in in = { data, size };
	static uint8_t buf[65536];

	fz_leaks_baseline();
	setup(&r, &in);
	bring_up(&r);
	run(&r);
	for (unsigned op = 0; op < FZ_MAX_OPS && !fz_empty(&in); op++) {
		switch (fz_u8(&in) % 10) {
		case 0: {
			uint32_t off = fz_u32(&in) % (FZ_PAGES * FZ_PAGE);
			uint16_t len = fz_u16(&in);

			len = (uint16_t)fz_bytes(&in, buf, len);
			if (len > FZ_PAGES * FZ_PAGE - off)
				len = (uint16_t)(FZ_PAGES * FZ_PAGE - off);
			if (pwrite(r.mem, buf, len, off) != len)
				abort();
			break;
		}
		case 1: {
			uint16_t q = fz_u8(&in) % (r.nq + 1);

			reg_write(&r, r.vbar, EMU_NOTIFY_OFF + q * EMU_NOTIFY_MULT, &q, 2);
			run(&r);
			break;
		}
		case 2: {
			uint8_t pair = fz_u8(&in);
			uint16_t len = fz_u16(&in);

			len = (uint16_t)fz_bytes(&in, buf, len);
			emu_net_rx(&r.emu.dev.net, pair % r.emu.cfg->queue_pairs, buf, len);
			run(&r);
			break;
		}
		case 3:
			run(&r);
			break;
		case 4:
			dma_unmap(&r, fz_u8(&in) % FZ_MAX_MAPS);
			break;
		case 5:
			dma_map(&r, fz_u8(&in) % FZ_MAX_MAPS);
			break;
		case 6: {
			unsigned q = fz_u8(&in) % r.nq;

			cc16(&r, CC_Q_SELECT, (uint16_t)q);
			cc16(&r, CC_Q_ENABLE, 0);
			r.q[q].on = true;
			queue_program(&r, q);
			run(&r);
			break;
		}
		case 7:
			bring_up(&r);
			run(&r);
			break;
		case 8:
			log_on(&r, fz_u8(&in));
			break;
		default:
			emu_device_config_changed(&r.emu.dev);
			break;
		}
	}
	/* FZ_DEBUG=1: what the input made the device do */
	if (getenv("FZ_DEBUG"))
		emu_device_print_stats(&r.emu.dev, stderr);
	/* the client goes: DMA unmapped, eventfds closed */
	emu_device_client_gone(&r.emu.dev);
	fz_emu_close(&r.emu);
	fz_memfd_check_unmapped("emu-datapath", r.mem);
	close(r.mem);
	fz_leaks_check("emu-datapath");
	return 0;
}

/* The emulated VF as a whole: assembly and region routing (see emu-device.h). */
#include "emu-device.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "emu-wire.h"
#include "ifcvf-regs.h"

int emu_device_init(struct emu_device *dev, const struct emu_config *cfg, struct cerr *e)
{
	int r;

	memset(dev, 0, sizeof(*dev));
	dev->cfg = cfg;
	r = emu_layout_compute(cfg, &dev->layout, e);
	if (r < 0)
		return r;
	r = emu_doorbell_init(&dev->doorbell, &dev->layout, cfg->doorbell == EMU_DOORBELL_MAPPED, e);
	if (r < 0)
		return r;
	emu_pci_init(&dev->pci, cfg, &dev->layout);
	emu_virtio_init(&dev->virtio, cfg, &dev->layout);
	emu_dma_init(&dev->dma);
	emu_irq_init(&dev->irq, dev->layout.msix_entries);
	if (cfg->type == EMU_TYPE_NET) {
		r = emu_net_init(&dev->net, cfg, &dev->virtio, &dev->dma, &dev->irq, e);
		if (r < 0)
			return r;
		dev->virtio.net = &dev->net;
	} else {
		r = emu_blk_init(&dev->blk, cfg, &dev->virtio, &dev->dma, &dev->irq, e);
		if (r < 0)
			return r;
		dev->virtio.blk = &dev->blk;
	}
	return 0;
}

void emu_device_fini(struct emu_device *dev)
{
	emu_device_client_gone(dev);
	if (dev->virtio.net)
		emu_net_fini(&dev->net);
	if (dev->virtio.blk)
		emu_blk_fini(&dev->blk);
	dev->virtio.net = NULL;
	dev->virtio.blk = NULL;
	emu_doorbell_fini(&dev->doorbell);
}

static void doorbell_kick(void *opaque, unsigned q, uint16_t value)
{
	emu_virtio_doorbell(opaque, q, value);
}

unsigned emu_device_doorbells(struct emu_device *dev)
{
	unsigned n;

	if (!dev->doorbell.enabled)
		return 0;
	n = emu_doorbell_drain(&dev->doorbell, doorbell_kick, &dev->virtio);
	emu_doorbell_arm(&dev->doorbell, emu_virtio_any_enabled(&dev->virtio));
	return n;
}

bool emu_device_region_mmap(const struct emu_device *dev, unsigned region, int *ret_fd,
			    uint64_t *ret_area_off, uint64_t *ret_area_size)
{
	const struct emu_doorbell *db = &dev->doorbell;

	if (!db->enabled || region != dev->layout.virtio_bar)
		return false;
	*ret_fd = db->memfd;
	*ret_area_off = db->notify_off;
	*ret_area_size = db->notify_len;
	return true;
}

uint64_t emu_device_region_size(const struct emu_device *dev, unsigned region)
{
	if (region < EMU_NUM_BARS)
		return dev->layout.bar[region].size;
	if (region == EMU_REGION_CONFIG)
		return 256;
	return 0;
}

static int check_access(const struct emu_device *dev, unsigned region, uint64_t off,
			size_t len, const char *what, struct cerr *e)
{
	uint64_t size = emu_device_region_size(dev, region);

	if (region >= EMU_NUM_REGIONS)
		return cerr_set(e, EINVAL, "%s of region %u: no such region", what, region);
	if (!size)
		return cerr_set(e, EINVAL, "%s of region %u: the region is not implemented", what,
				region);
	if (off > size || len > size - off)
		return cerr_set(e, EINVAL,
				"%s of %zu bytes at 0x%" PRIx64 " is outside region %u (0x%" PRIx64
				" bytes)",
				what, len, off, region, size);
	return 0;
}

static int route(struct emu_device *dev, unsigned region, uint64_t off, void *rbuf,
		 const void *wbuf, size_t len, struct cerr *e)
{
	const char *what = rbuf ? "read" : "write";
	int r = check_access(dev, region, off, len, what, e);

	if (r < 0 || len == 0)
		return r;
	if (region == EMU_REGION_CONFIG) {
		if (rbuf)
			emu_pci_cfg_read(&dev->pci, (uint32_t)off, rbuf, len);
		else
			emu_pci_cfg_write(&dev->pci, (uint32_t)off, wbuf, len);
		return 0;
	}
	switch (dev->layout.bar[region].kind) {
	case EMU_BAR_VIRTIO:
		r = rbuf ? emu_virtio_bar_read(&dev->virtio, off, rbuf, len)
			 : emu_virtio_bar_write(&dev->virtio, off, wbuf, len);
		break;
	case EMU_BAR_MSIX:
		if (rbuf)
			emu_pci_msix_read(&dev->pci, off, rbuf, len);
		else
			emu_pci_msix_write(&dev->pci, off, wbuf, len);
		break;
	case EMU_BAR_LM:
		r = rbuf ? emu_lm_read(&dev->virtio, off, rbuf, len)
			 : emu_lm_write(&dev->virtio, off, wbuf, len);
		if (r < 0)
			return cerr_set(e, EINVAL,
					"%s of %zu bytes at 0x%" PRIx64
					" of BAR%u: the live-migration block takes 32-bit accesses",
					what, len, off, region);
		break;
	default:
		return cerr_set(e, EINVAL, "%s of region %u: the region is not implemented", what,
				region);
	}
	if (r < 0)
		return cerr_set(e, -r, "%s of %zu bytes at 0x%" PRIx64 " of BAR%u failed", what,
				len, off, region);
	return 0;
}

int emu_device_region_read(struct emu_device *dev, unsigned region, uint64_t off, void *buf,
			   size_t len, struct cerr *e)
{
	return route(dev, region, off, buf, NULL, len, e);
}

int emu_device_region_write(struct emu_device *dev, unsigned region, uint64_t off,
			    const void *buf, size_t len, struct cerr *e)
{
	return route(dev, region, off, NULL, buf, len, e);
}

void emu_device_reset(struct emu_device *dev)
{
	emu_virtio_function_reset(&dev->virtio);
}

void emu_device_config_changed(struct emu_device *dev)
{
	struct emu_virtio *v = &dev->virtio;
	struct cerr e = { 0 };

	/* a blk disk's new size comes with the interrupt (emu_blk_resize) */
	if (v->blk) {
		if (emu_blk_resize(v->blk, &e) < 0)
			fprintf(stderr, "ifcvf-emu: capacity change: %s\n", e.msg);
		return;
	}
	v->config_generation++;
	v->isr |= 2;
	if (v->msix_config != VIRTIO_MSI_NO_VECTOR)
		(void)emu_irq_trigger(&dev->irq, v->msix_config);
}

void emu_device_client_new(struct emu_device *dev)
{
	if (dev->virtio.net)
		emu_net_client(&dev->net, true);
	if (dev->virtio.blk)
		emu_blk_client(&dev->blk, true);
}

void emu_device_client_hung_up(struct emu_device *dev)
{
	if (dev->virtio.net)
		emu_net_hang_up(&dev->net);
	if (dev->virtio.blk)
		emu_blk_hang_up(&dev->blk);
}

void emu_device_client_gone(struct emu_device *dev)
{
	/* what a live client rang before it left is served, as its messages
	 * were (one that hung up has its datapath stopped already) */
	emu_device_doorbells(dev);
	if (dev->virtio.net)
		emu_net_client(&dev->net, false);
	if (dev->virtio.blk)
		emu_blk_client(&dev->blk, false);
	emu_dma_clear(&dev->dma);
	emu_irq_clear(&dev->irq);
}

int emu_device_dma_map(struct emu_device *dev, uint64_t iova, uint64_t size, uint32_t prot,
		       int fd, uint64_t fd_offset, struct cerr *e)
{
	const struct emu_lm *lm = &dev->virtio.lm;
	uint64_t log_base = (uint64_t)lm->base_hi << 32 | lm->base_lo;

	if (dev->cfg->faults.dma_map_log && lm->present && log_base && iova == log_base) {
		if (fd >= 0)
			close(fd);
		return cerr_set(e, EPERM, "DMA map at the log base 0x%llx refused (--fault dma-map-log)",
				(unsigned long long)iova);
	}
	return emu_dma_add(&dev->dma, iova, size, prot, fd, fd_offset, e);
}

int emu_device_dma_unmap(struct emu_device *dev, uint64_t iova, uint64_t size, bool all,
			 struct cerr *e)
{
	if (dev->virtio.net)
		emu_net_before_unmap(&dev->net);
	if (dev->virtio.blk)
		emu_blk_before_unmap(&dev->blk);
	if (all) {
		emu_dma_clear(&dev->dma);
		return 0;
	}
	return emu_dma_remove(&dev->dma, iova, size, e);
}

void emu_device_print_stats(const struct emu_device *dev, FILE *out)
{
	const struct emu_virtio *v = &dev->virtio;

	fprintf(out,
		"ifcvf-emu: device status 0x%02x, features 0x%016" PRIx64 "/0x%016" PRIx64
		", resets %" PRIu64 ", features refused %" PRIu64 ", ignored writes %" PRIu64
		", dma maps %u, irq eventfds %u\n",
		v->status, v->driver_features, v->device_features, v->stats.resets,
		v->stats.features_refused, v->stats.ignored_writes, dev->dma.n,
		emu_irq_bound(&dev->irq));
	for (unsigned q = 0; q < v->nvq; q++) {
		const struct emu_vq *vq = &v->vq[q];

		fprintf(out,
			"ifcvf-emu: queue %u: %s size %u vector %u avail %u used %u kicks %" PRIu64
			" (bad %" PRIu64 ") irqs %" PRIu64 "\n",
			q, vq->enabled ? "on " : "off", vq->size, vq->msix_vector, vq->last_avail,
			vq->last_used, vq->kicks, vq->bad_kicks,
			vq->msix_vector < dev->irq.n ? dev->irq.fired[vq->msix_vector] : 0);
	}
	if (v->net) {
		emu_net_print(&dev->net, out);
		if (dev->net.wire)
			emu_wire_print(dev->net.wire, out);
	}
	if (v->blk)
		emu_blk_print(&dev->blk, out);
}

void emu_device_json(const struct emu_device *dev, FILE *out)
{
	const struct emu_virtio *v = &dev->virtio;

	fprintf(out,
		"\"type\":\"%s\",\"device\":{\"status\":%u,\"needs_reset\":%s,"
		"\"driver_features\":%" PRIu64 ",\"device_features\":%" PRIu64
		",\"resets\":%" PRIu64 ",\"features_refused\":%" PRIu64
		",\"ignored_writes\":%" PRIu64 ",\"dma_maps\":%u,\"irq_eventfds\":%u}"
		",\"doorbell\":{\"mode\":\"%s\",\"message_kicks\":%" PRIu64
		",\"mapped_kicks\":%" PRIu64 ",\"poller_signals\":%" PRIu64
		",\"poller_sleeps\":%" PRIu64 ",\"poller_parks\":%" PRIu64 "}",
		v->type == EMU_TYPE_NET ? "net" : "blk", v->status,
		v->status & VIRTIO_STATUS_NEEDS_RESET ? "true" : "false", v->driver_features,
		v->device_features, v->stats.resets, v->stats.features_refused,
		v->stats.ignored_writes, dev->dma.n, emu_irq_bound(&dev->irq),
		dev->doorbell.enabled ? "mapped" : "message", v->stats.message_doorbells,
		dev->doorbell.stats.kicks,
		__atomic_load_n(&dev->doorbell.stats.signals, __ATOMIC_RELAXED),
		__atomic_load_n(&dev->doorbell.stats.sleeps, __ATOMIC_RELAXED),
		__atomic_load_n(&dev->doorbell.stats.parks, __ATOMIC_RELAXED));
	if (v->net) {
		fputs(",\"datapath\":{", out);
		emu_net_json(&dev->net, out);
		fputs("}", out);
		if (dev->net.wire)
			emu_wire_json(dev->net.wire, out);
	}
	if (v->blk) {
		fputs(",", out);
		emu_blk_json(&dev->blk, out);
	}
}

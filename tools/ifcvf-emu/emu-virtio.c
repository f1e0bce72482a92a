/* Virtio 1.0 PCI register model of the emulated VF: common configuration,
 * notify doorbells, ISR and device configuration (see emu-virtio.h). */
#include "emu-virtio.h"
#include "emu-bytes.h"
#include "emu-net.h"

#include <errno.h>
#include <string.h>

#include "ifcvf-regs.h"

#define BIT(n) (1ull << (n))

/* blk config values; seg_max leaves room for the header and status
 * descriptors of a request in a queue of the largest size */
#define EMU_BLK_SIZE_MAX 0x10000u
#define EMU_BLK_HEADS 16u
#define EMU_BLK_SECTORS 63u

static uint64_t net_features(const struct emu_config *cfg)
{
	uint64_t f = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_ACCESS_PLATFORM) |
		     BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_MRG_RXBUF) |
		     BIT(VIRTIO_NET_F_STATUS) | BIT(VIRTIO_NET_F_CTRL_VQ) |
		     BIT(VIRTIO_F_ANY_LAYOUT) | BIT(VIRTIO_RING_F_INDIRECT_DESC) |
		     BIT(VIRTIO_RING_F_EVENT_IDX);

	if (cfg->queue_pairs > 1)
		f |= BIT(VIRTIO_NET_F_MQ);
	return f;
}

static uint64_t blk_features(const struct emu_config *cfg)
{
	uint64_t f = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_ACCESS_PLATFORM) |
		     BIT(VIRTIO_BLK_F_SIZE_MAX) | BIT(VIRTIO_BLK_F_SEG_MAX) |
		     BIT(VIRTIO_BLK_F_GEOMETRY) | BIT(VIRTIO_BLK_F_BLK_SIZE) |
		     BIT(VIRTIO_BLK_F_FLUSH);

	if (cfg->blk_queues > 1)
		f |= BIT(VIRTIO_BLK_F_MQ);
	return f;
}

static void build_devcfg(struct emu_virtio *v, const struct emu_config *cfg)
{
	uint8_t *d = v->devcfg;

	if (cfg->type == EMU_TYPE_NET) {
		memcpy(d + VIRTIO_NET_CFG_MAC, cfg->mac, 6);
		emu_put16(d, VIRTIO_NET_CFG_STATUS, VIRTIO_NET_S_LINK_UP);
		emu_put16(d, VIRTIO_NET_CFG_MAX_VQ_PAIRS, (uint16_t)cfg->queue_pairs);
	} else {
		uint64_t cyl = cfg->capacity / (EMU_BLK_HEADS * EMU_BLK_SECTORS);

		emu_put32(d, VIRTIO_BLK_CFG_CAPACITY, (uint32_t)cfg->capacity);
		emu_put32(d, VIRTIO_BLK_CFG_CAPACITY + 4, (uint32_t)(cfg->capacity >> 32));
		emu_put32(d, VIRTIO_BLK_CFG_SIZE_MAX, EMU_BLK_SIZE_MAX);
		emu_put32(d, VIRTIO_BLK_CFG_SEG_MAX, cfg->queue_size_max > 2 ? cfg->queue_size_max - 2 : 1);
		emu_put16(d, VIRTIO_BLK_CFG_CYLINDERS, (uint16_t)(cyl > 0xffff ? 0xffff : cyl));
		d[VIRTIO_BLK_CFG_HEADS] = EMU_BLK_HEADS;
		d[VIRTIO_BLK_CFG_SECTORS] = EMU_BLK_SECTORS;
		emu_put32(d, VIRTIO_BLK_CFG_BLK_SIZE, 512);
		emu_put16(d, VIRTIO_BLK_CFG_NUM_QUEUES, (uint16_t)cfg->blk_queues);
	}
}

void emu_virtio_init(struct emu_virtio *v, const struct emu_config *cfg,
		     const struct emu_layout *layout)
{
	memset(v, 0, sizeof(*v));
	v->layout = layout;
	v->type = cfg->type;
	v->nvq = layout->nvq;
	v->num_queues = cfg->faults.num_queues_set ? cfg->faults.num_queues : (uint16_t)v->nvq;
	v->queue_size_max = (uint16_t)(cfg->queue_size_max > 0xffff ? 0x8000 : cfg->queue_size_max);
	v->msix_entries = layout->msix_entries;
	v->device_features = cfg->type == EMU_TYPE_NET ? net_features(cfg) : blk_features(cfg);
	v->device_features |= cfg->features_extra;
	v->verbose = cfg->verbose;
	v->virtio_function = cfg->virtio_function;
	v->no_stop_queue = cfg->faults.queue_no_stop_set ? (int)cfg->faults.queue_no_stop : -1;
	v->lm.present = layout->lm_bar >= 0;
	build_devcfg(v, cfg);
	emu_virtio_reset(v);
	v->stats.resets = 0;
}

/* Stop queue @q and leave its position in the BAR4 word. The datapath runs
 * on this thread between register accesses, so no chain is half done here:
 * it publishes what it completed and the readback of queue_enable (0)
 * means "quiesced". */
static void queue_disable(struct emu_virtio *v, unsigned q)
{
	if (!v->vq[q].enabled)
		return;
	if (v->net)
		emu_net_queue_stopping(v->net, q);
	v->vq[q].enabled = false;
	emu_lm_store(v, q);
}

static void queue_enable(struct emu_virtio *v, unsigned q)
{
	if (v->vq[q].enabled)
		return;
	emu_lm_latch(v, q);
	v->vq[q].enabled = true;
	if (v->net)
		emu_net_queue_started(v->net, q);
}

/* Every ring back to index 0, the words a next enable latches included. */
static void rings_restart(struct emu_virtio *v)
{
	for (unsigned q = 0; q < v->nvq; q++) {
		v->vq[q].last_avail = v->vq[q].last_used = 0;
		v->lm.ring_state[q] = 0;
	}
}

/* A write virtio 1.x does not allow: ignored, and counted with the device
 * errors the stats report (only a net device has that counter). */
static void driver_error(struct emu_virtio *v, unsigned q, const char *what)
{
	if (v->net)
		emu_net_driver_error(v->net, q, what);
	else
		v->stats.ignored_writes++;
}

void emu_virtio_reset(struct emu_virtio *v)
{
	for (unsigned q = 0; q < v->nvq; q++) {
		struct emu_vq *vq = &v->vq[q];

		queue_disable(v, q);
		vq->size = v->queue_size_max;
		vq->msix_vector = VIRTIO_MSI_NO_VECTOR;
		vq->desc = vq->avail = vq->used = 0;
	}
	v->driver_features = 0;
	v->dfselect = 0;
	v->gfselect = 0;
	v->msix_config = VIRTIO_MSI_NO_VECTOR;
	v->status = 0;
	v->queue_select = 0;
	v->isr = 0;
	v->stats.resets++;
	/* a virtio 1.x function keeps no ring position across a reset */
	if (v->virtio_function)
		rings_restart(v);
	if (v->net)
		emu_net_reset(v->net);
}

void emu_virtio_function_reset(struct emu_virtio *v)
{
	emu_virtio_reset(v);
	emu_lm_reset(&v->lm);
	rings_restart(v);
}

/* ---- common configuration ---- */

static const struct {
	uint8_t off;
	uint8_t width;
} common_fields[] = {
	{ VIRTIO_COMMON_DFSELECT, 4 }, { VIRTIO_COMMON_DF, 4 },
	{ VIRTIO_COMMON_GFSELECT, 4 }, { VIRTIO_COMMON_GF, 4 },
	{ VIRTIO_COMMON_MSIX, 2 }, { VIRTIO_COMMON_NUMQ, 2 },
	{ VIRTIO_COMMON_STATUS, 1 }, { VIRTIO_COMMON_CFGGENERATION, 1 },
	{ VIRTIO_COMMON_Q_SELECT, 2 }, { VIRTIO_COMMON_Q_SIZE, 2 },
	{ VIRTIO_COMMON_Q_MSIX, 2 }, { VIRTIO_COMMON_Q_ENABLE, 2 },
	{ VIRTIO_COMMON_Q_NOFF, 2 },
	{ VIRTIO_COMMON_Q_DESCLO, 4 }, { VIRTIO_COMMON_Q_DESCHI, 4 },
	{ VIRTIO_COMMON_Q_AVAILLO, 4 }, { VIRTIO_COMMON_Q_AVAILHI, 4 },
	{ VIRTIO_COMMON_Q_USEDLO, 4 }, { VIRTIO_COMMON_Q_USEDHI, 4 },
};

/* The selected queue, or NULL when queue_select is out of range. */
static struct emu_vq *selected(struct emu_virtio *v)
{
	return v->queue_select < v->nvq ? &v->vq[v->queue_select] : NULL;
}

static uint32_t select_half(uint64_t v, uint32_t sel)
{
	if (sel == 0)
		return (uint32_t)v;
	if (sel == 1)
		return (uint32_t)(v >> 32);
	return 0;
}

static uint32_t common_get(struct emu_virtio *v, unsigned off)
{
	struct emu_vq *vq = selected(v);

	switch (off) {
	case VIRTIO_COMMON_DFSELECT: return v->dfselect;
	case VIRTIO_COMMON_DF: return select_half(v->device_features, v->dfselect);
	case VIRTIO_COMMON_GFSELECT: return v->gfselect;
	case VIRTIO_COMMON_GF: return select_half(v->driver_features, v->gfselect);
	case VIRTIO_COMMON_MSIX: return v->msix_config;
	case VIRTIO_COMMON_NUMQ:
		/* QEMU's virtio-net lists one pair and the control queue until
		 * the driver takes MQ */
		if (v->virtio_function && v->type == EMU_TYPE_NET && v->nvq > 3 &&
		    v->num_queues == v->nvq && !(v->driver_features & BIT(VIRTIO_NET_F_MQ)))
			return 3;
		return v->num_queues;
	case VIRTIO_COMMON_STATUS: return v->status;
	case VIRTIO_COMMON_CFGGENERATION: return v->config_generation;
	case VIRTIO_COMMON_Q_SELECT: return v->queue_select;
	default: break;
	}
	if (!vq)
		return 0;
	switch (off) {
	case VIRTIO_COMMON_Q_SIZE: return vq->size;
	case VIRTIO_COMMON_Q_MSIX: return vq->msix_vector;
	case VIRTIO_COMMON_Q_ENABLE: return vq->enabled;
	case VIRTIO_COMMON_Q_NOFF: return v->queue_select;
	case VIRTIO_COMMON_Q_DESCLO: return (uint32_t)vq->desc;
	case VIRTIO_COMMON_Q_DESCHI: return (uint32_t)(vq->desc >> 32);
	case VIRTIO_COMMON_Q_AVAILLO: return (uint32_t)vq->avail;
	case VIRTIO_COMMON_Q_AVAILHI: return (uint32_t)(vq->avail >> 32);
	case VIRTIO_COMMON_Q_USEDLO: return (uint32_t)vq->used;
	case VIRTIO_COMMON_Q_USEDHI: return (uint32_t)(vq->used >> 32);
	default: return 0;
	}
}

static void set_status(struct emu_virtio *v, uint8_t val)
{
	bool driver_ok = (val & VIRTIO_STATUS_DRIVER_OK) && !(v->status & VIRTIO_STATUS_DRIVER_OK);

	if (val == 0) {
		emu_virtio_reset(v);
		return;
	}
	/* FEATURES_OK only sticks when the driver asked for nothing we lack */
	if ((val & VIRTIO_STATUS_FEATURES_OK) && !(v->status & VIRTIO_STATUS_FEATURES_OK) &&
	    (v->driver_features & ~v->device_features)) {
		val &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
		v->stats.features_refused++;
	}
	v->status = val;
	if (driver_ok && v->net)
		emu_net_driver_ok(v->net);
}

static uint16_t valid_vector(const struct emu_virtio *v, uint32_t val)
{
	return val < v->msix_entries ? (uint16_t)val : VIRTIO_MSI_NO_VECTOR;
}

static void set_half(uint64_t *reg, bool high, uint32_t val)
{
	if (high)
		*reg = (*reg & 0xffffffffull) | ((uint64_t)val << 32);
	else
		*reg = (*reg & ~0xffffffffull) | val;
}

static void queue_set(struct emu_virtio *v, struct emu_vq *vq, unsigned off, uint32_t val)
{
	switch (off) {
	case VIRTIO_COMMON_Q_MSIX:
		vq->msix_vector = valid_vector(v, val);
		return;
	case VIRTIO_COMMON_Q_ENABLE:
		if (val == 1)
			queue_enable(v, v->queue_select);
		else if (val == 0 && (int)v->queue_select == v->no_stop_queue)
			/* --fault queue-no-stop: a queue that never quiesces */
			return;
		else if (val == 0 && v->virtio_function && vq->enabled)
			driver_error(v, v->queue_select,
				     "queue_enable=0 on an enabled queue: a virtio 1.x function "
				     "without VIRTIO_F_RING_RESET has no per-queue stop");
		else if (val == 0)
			queue_disable(v, v->queue_select);
		else
			v->stats.ignored_writes++;
		return;
	default:
		break;
	}
	/* a running queue's ring layout is fixed until it is disabled */
	if (vq->enabled) {
		v->stats.ignored_writes++;
		return;
	}
	switch (off) {
	case VIRTIO_COMMON_Q_SIZE:
		if (val == 0 || (val & (val - 1)) || val > v->queue_size_max)
			v->stats.ignored_writes++;
		else
			vq->size = (uint16_t)val;
		return;
	case VIRTIO_COMMON_Q_DESCLO:
	case VIRTIO_COMMON_Q_DESCHI:
		set_half(&vq->desc, off == VIRTIO_COMMON_Q_DESCHI, val);
		return;
	case VIRTIO_COMMON_Q_AVAILLO:
	case VIRTIO_COMMON_Q_AVAILHI:
		set_half(&vq->avail, off == VIRTIO_COMMON_Q_AVAILHI, val);
		return;
	case VIRTIO_COMMON_Q_USEDLO:
	case VIRTIO_COMMON_Q_USEDHI:
		set_half(&vq->used, off == VIRTIO_COMMON_Q_USEDHI, val);
		return;
	default:
		v->stats.ignored_writes++;   /* queue_notify_off is read-only */
		return;
	}
}

static void common_set(struct emu_virtio *v, unsigned off, uint32_t val)
{
	struct emu_vq *vq;

	switch (off) {
	case VIRTIO_COMMON_DFSELECT:
		v->dfselect = val;
		return;
	case VIRTIO_COMMON_GFSELECT:
		v->gfselect = val;
		return;
	case VIRTIO_COMMON_GF:
		/* features are fixed once FEATURES_OK was accepted */
		if ((v->status & VIRTIO_STATUS_FEATURES_OK) || v->gfselect > 1)
			v->stats.ignored_writes++;
		else
			set_half(&v->driver_features, v->gfselect == 1, val);
		return;
	case VIRTIO_COMMON_MSIX:
		v->msix_config = valid_vector(v, val);
		return;
	case VIRTIO_COMMON_STATUS:
		set_status(v, (uint8_t)val);
		return;
	case VIRTIO_COMMON_Q_SELECT:
		v->queue_select = (uint16_t)val;
		return;
	case VIRTIO_COMMON_DF:
	case VIRTIO_COMMON_NUMQ:
	case VIRTIO_COMMON_CFGGENERATION:
		v->stats.ignored_writes++;
		return;
	default:
		break;
	}
	vq = selected(v);
	if (!vq) {
		v->stats.ignored_writes++;
		return;
	}
	queue_set(v, vq, off, val);
}

static void common_read(struct emu_virtio *v, uint32_t rel, uint8_t *out, size_t len)
{
	uint8_t snap[VIRTIO_COMMON_CFG_SIZE];

	for (unsigned i = 0; i < sizeof(common_fields) / sizeof(common_fields[0]); i++) {
		uint32_t val = common_get(v, common_fields[i].off);

		for (unsigned b = 0; b < common_fields[i].width; b++)
			snap[common_fields[i].off + b] = (uint8_t)(val >> (8 * b));
	}
	memcpy(out, snap + rel, len);
}

/* Each field the write touches gets one update: its current value with the
 * written bytes merged in (a full-width write is simply the new value). */
static void common_write(struct emu_virtio *v, uint32_t rel, const uint8_t *in, size_t len)
{
	for (unsigned i = 0; i < sizeof(common_fields) / sizeof(common_fields[0]); i++) {
		uint32_t f = common_fields[i].off, w = common_fields[i].width;
		uint32_t val;

		if (f + w <= rel || f >= rel + len)
			continue;
		val = common_get(v, f);
		for (uint32_t b = 0; b < w; b++) {
			if (f + b < rel || f + b >= rel + len)
				continue;
			val &= ~(0xffu << (8 * b));
			val |= (uint32_t)in[f + b - rel] << (8 * b);
		}
		common_set(v, f, val);
	}
}

/* ---- notify, ISR, device config ---- */

/* A doorbell: the 16-bit queue index written at the queue's notify address
 * (a posted REGION_WRITE, or a store into the mapped notify area that the
 * main thread took out of it); the datapath processes the queue from here. */
void emu_virtio_doorbell(struct emu_virtio *v, unsigned q, uint16_t val)
{
	if (q >= v->nvq)
		return;
	v->vq[q].kicks++;
	if (val != q)
		v->vq[q].bad_kicks++;
	if (v->net)
		emu_net_kick(v->net, q);
}

bool emu_virtio_any_enabled(const struct emu_virtio *v)
{
	for (unsigned q = 0; q < v->nvq; q++)
		if (v->vq[q].enabled)
			return true;
	return false;
}

static void notify_write(struct emu_virtio *v, uint32_t rel, const uint8_t *in, size_t len)
{
	uint32_t mult = v->layout->notify_mult;
	unsigned q = rel / mult;

	if (rel % mult || (len != 2 && len != 4) || q >= v->nvq) {
		v->stats.ignored_writes++;
		return;
	}
	v->stats.message_doorbells++;
	emu_virtio_doorbell(v, q, (uint16_t)(in[0] | in[1] << 8));
}

static void isr_read(struct emu_virtio *v, uint32_t rel, uint8_t *out, size_t len)
{
	memset(out, 0, len);
	/* read-to-clear, like the hardware register */
	if (rel == 0) {
		out[0] = v->isr;
		v->isr = 0;
	}
}

/* ---- BAR routing ---- */

enum area_kind { AREA_COMMON, AREA_ISR, AREA_DEVICE, AREA_NOTIFY, AREA_COUNT };

static void area_bounds(const struct emu_virtio *v, enum area_kind a, uint64_t *start,
			uint64_t *end)
{
	static const uint32_t starts[AREA_COUNT] = { EMU_COMMON_OFF, EMU_ISR_OFF, EMU_DEVICE_OFF,
						     EMU_NOTIFY_OFF };
	const uint32_t lens[AREA_COUNT] = { VIRTIO_COMMON_CFG_SIZE, EMU_ISR_LEN,
					    EMU_DEVICE_WINDOW, v->layout->notify_len };

	*start = starts[a];
	*end = starts[a] + (uint64_t)lens[a];
}

/* Split an access into pieces that each lie in one area or in a gap between
 * areas (gaps read as zeros and ignore writes). */
static int bar_access(struct emu_virtio *v, uint64_t off, uint8_t *rbuf, const uint8_t *wbuf,
		      size_t len)
{
	while (len) {
		uint64_t next = UINT64_MAX, start, end;
		int area = -1;
		size_t piece;

		for (int a = 0; a < AREA_COUNT; a++) {
			area_bounds(v, (enum area_kind)a, &start, &end);
			if (off >= start && off < end) {
				area = a;
				next = end;
				break;
			}
			if (start > off && start < next)
				next = start;
		}
		piece = next - off < len ? (size_t)(next - off) : len;
		if (area < 0) {
			if (rbuf)
				memset(rbuf, 0, piece);
		} else {
			uint32_t rel;

			area_bounds(v, (enum area_kind)area, &start, &end);
			rel = (uint32_t)(off - start);
			switch ((enum area_kind)area) {
			case AREA_COMMON:
				if (rbuf)
					common_read(v, rel, rbuf, piece);
				else
					common_write(v, rel, wbuf, piece);
				break;
			case AREA_ISR:
				if (rbuf)
					isr_read(v, rel, rbuf, piece);
				else
					v->stats.ignored_writes++;
				break;
			case AREA_DEVICE:
				/* no device config field is writable (no set_config) */
				if (rbuf)
					memcpy(rbuf, v->devcfg + rel, piece);
				else
					v->stats.ignored_writes++;
				break;
			case AREA_NOTIFY:
				if (rbuf)
					memset(rbuf, 0, piece);
				else
					notify_write(v, rel, wbuf, piece);
				break;
			default:
				return -EINVAL;
			}
		}
		off += piece;
		len -= piece;
		if (rbuf)
			rbuf += piece;
		else
			wbuf += piece;
	}
	return 0;
}

int emu_virtio_bar_read(struct emu_virtio *v, uint64_t off, void *buf, size_t len)
{
	return bar_access(v, off, buf, NULL, len);
}

int emu_virtio_bar_write(struct emu_virtio *v, uint64_t off, const void *buf, size_t len)
{
	return bar_access(v, off, NULL, buf, len);
}

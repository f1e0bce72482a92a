/* Probe and device-level verbs: identity, capabilities, features, queue
 * counts, the live-migration mode, device status. */
#include "ifcvf-hw.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "ifcvf-io.h"

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void sleep_ms(struct ifcvf_hw *hw, unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	ifcvf_hw_nap(hw, &ts);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

unsigned ifcvf_hw_max_vrings(const struct ifcvf_hw *hw)
{
	return hw->type == IFCVF_DEV_NET ? 2u * hw->max_queues : hw->max_queues;
}

int ifcvf_hw_read_features(struct ifcvf_hw *hw, uint64_t *ret, struct cerr *e)
{
	uint32_t lo, hi;
	int r;

	if ((r = ifcvf_common_write32(hw, VIRTIO_COMMON_DFSELECT, 0, e)) < 0 ||
	    (r = ifcvf_common_read32(hw, VIRTIO_COMMON_DF, &lo, e)) < 0 ||
	    (r = ifcvf_common_write32(hw, VIRTIO_COMMON_DFSELECT, 1, e)) < 0 ||
	    (r = ifcvf_common_read32(hw, VIRTIO_COMMON_DF, &hi, e)) < 0)
		return cerr_prefix(e, "cannot read device features");
	*ret = (uint64_t)hi << 32 | lo;
	return 0;
}

/* Live-migration block: only an IFCVF (by IDs) has one, in BAR4, and only
 * when no virtio capability claims BAR4 (QEMU's virtio-net-pci keeps its own
 * capabilities there). */
static bool detect_lm_block(const struct ifcvf_hw *hw)
{
	return hw->is_ifcvf && hw->bar_size[IFCVF_LM_BAR] >= IFCVF_LM_MIN_BAR_SIZE &&
	       !(hw->caps.virtio_bar_mask & (1u << IFCVF_LM_BAR));
}

static int read_queue_counts(struct ifcvf_hw *hw, struct cerr *e)
{
	int r;

	if (hw->type == IFCVF_DEV_NET) {
		r = ifcvf_common_read16(hw, VIRTIO_COMMON_NUMQ, &hw->num_queues, e);
		if (r < 0)
			return cerr_prefix(e, "cannot read num_queues");
		/* a plain function (QEMU's virtio-net-pci) may list only its
		 * first pair and the control queue until MQ is negotiated: its
		 * pairs are those of the device config, if it has the control
		 * queue they are switched on with (an IFCVF counts from
		 * num_queues, as the reference driver does) */
		if (!hw->is_ifcvf && (hw->features & (1ull << VIRTIO_NET_F_MQ))) {
			r = ifcvf_devcfg_read16(hw, VIRTIO_NET_CFG_MAX_VQ_PAIRS, &hw->max_vq_pairs, e);
			if (r < 0)
				return cerr_prefix(e, "cannot read max_virtqueue_pairs");
			if (hw->max_vq_pairs < 1 || hw->max_vq_pairs > 0x8000)
				return cerr_set(e, EINVAL, "max_virtqueue_pairs %u is outside 1..32768",
						hw->max_vq_pairs);
		}
		if (hw->max_vq_pairs && (hw->features & (1ull << VIRTIO_NET_F_CTRL_VQ))) {
			hw->max_queues = hw->max_vq_pairs > IFCVF_MAX_QUEUES ? IFCVF_MAX_QUEUES
									      : hw->max_vq_pairs;
			return 0;
		}
		/* N queue pairs and one control queue */
		if (hw->num_queues == 0)
			return cerr_set(e, EINVAL, "num_queues is 0: the VF has no queues");
		if (hw->num_queues % 2 == 0)
			return cerr_set(e, EINVAL,
					"num_queues %u is even: a net VF has 2N+1 queues (N pairs and a control queue)",
					hw->num_queues);
		if (hw->num_queues < 3)
			return cerr_set(e, EINVAL, "num_queues %u leaves no queue pair", hw->num_queues);
		hw->max_queues = (uint16_t)((hw->num_queues - 1) / 2);
	} else {
		r = ifcvf_common_read16(hw, VIRTIO_COMMON_NUMQ, &hw->num_queues, e);
		if (r < 0)
			return cerr_prefix(e, "cannot read num_queues");
		/* the reference driver counts blk queues from the device config */
		hw->max_queues = hw->blk.num_queues ? hw->blk.num_queues : hw->num_queues;
		if (hw->max_queues == 0)
			return cerr_set(e, EINVAL, "num_queues is 0: the VF has no queues");
	}
	if (hw->max_queues > IFCVF_MAX_QUEUES)
		hw->max_queues = IFCVF_MAX_QUEUES;
	return 0;
}

static int read_device_config(struct ifcvf_hw *hw, struct cerr *e)
{
	struct ifcvf_blk_info *b = &hw->blk;
	int r = 0;

	if (hw->type == IFCVF_DEV_NET) {
		for (unsigned i = 0; i < 6 && r == 0; i++)
			r = ifcvf_devcfg_read8(hw, VIRTIO_NET_CFG_MAC + i, &hw->mac[i], e);
		return r < 0 ? cerr_prefix(e, "cannot read the MAC address") : 0;
	}
	/* capacity byte by byte: the reference hardware cannot do 64-bit reads */
	b->capacity = 0;
	for (unsigned i = 0; i < 8 && r == 0; i++) {
		uint8_t byte;

		r = ifcvf_devcfg_read8(hw, VIRTIO_BLK_CFG_CAPACITY + i, &byte, e);
		b->capacity |= (uint64_t)byte << (8 * i);
	}
	if (r == 0)
		r = ifcvf_devcfg_read32(hw, VIRTIO_BLK_CFG_SIZE_MAX, &b->size_max, e);
	if (r == 0)
		r = ifcvf_devcfg_read32(hw, VIRTIO_BLK_CFG_SEG_MAX, &b->seg_max, e);
	if (r == 0)
		r = ifcvf_devcfg_read16(hw, VIRTIO_BLK_CFG_CYLINDERS, &b->cylinders, e);
	if (r == 0)
		r = ifcvf_devcfg_read8(hw, VIRTIO_BLK_CFG_HEADS, &b->heads, e);
	if (r == 0)
		r = ifcvf_devcfg_read8(hw, VIRTIO_BLK_CFG_SECTORS, &b->sectors, e);
	if (r == 0)
		r = ifcvf_devcfg_read32(hw, VIRTIO_BLK_CFG_BLK_SIZE, &b->blk_size, e);
	if (r == 0)
		r = ifcvf_devcfg_read16(hw, VIRTIO_BLK_CFG_NUM_QUEUES, &b->num_queues, e);
	return r < 0 ? cerr_prefix(e, "cannot read the block device configuration") : 0;
}

int ifcvf_hw_init(struct ifcvf_hw *hw, struct vfio_dev *dev,
		  const struct ifcvf_devargs *args, struct cerr *e)
{
	uint8_t cfg[PCI_CFG_SPACE_SIZE];
	const struct vfio_region *cfg_region;
	uint32_t needed;
	int r;

	memset(hw, 0, sizeof(*hw));
	hw->dev = dev;
	cfg_region = vfio_dev_region(dev, VFIO_DEV_REGION_CONFIG);
	if (!cfg_region || cfg_region->size < PCI_CFG_SPACE_SIZE)
		return cerr_set(e, ENODEV, "the device has no PCI configuration space");
	r = vfio_dev_read(dev, VFIO_DEV_REGION_CONFIG, 0, cfg, sizeof(cfg), e);
	if (r < 0)
		return cerr_prefix(e, "cannot read config space");

	hw->ids.vendor = le16(cfg + PCI_CFG_VENDOR_ID);
	hw->ids.device = le16(cfg + PCI_CFG_DEVICE_ID);
	hw->ids.subsys_vendor = le16(cfg + PCI_CFG_SUBSYS_VENDOR_ID);
	hw->ids.subsys_device = le16(cfg + PCI_CFG_SUBSYS_ID);
	r = ifcvf_ids_match(&hw->ids, args->generic_virtio, &hw->type, &hw->is_ifcvf, e);
	if (r < 0)
		return r;

	for (unsigned i = 0; i < 6; i++) {
		const struct vfio_region *reg = vfio_dev_region(dev, i);

		hw->bar_size[i] = reg ? reg->size : 0;
	}
	r = ifcvf_caps_parse(cfg, hw->bar_size, &hw->caps, e);
	if (r < 0)
		return r;

	r = ifcvf_hw_read_features(hw, &hw->features, e);
	if (r < 0)
		return r;
	r = read_device_config(hw, e);
	if (r < 0)
		return r;
	r = read_queue_counts(hw, e);
	if (r < 0)
		return r;

	r = vfio_dev_irq_count(dev, VFIO_DEV_IRQ_MSIX, &hw->msix_vectors, e);
	if (r < 0)
		return cerr_prefix(e, "cannot read MSI-X information");
	/* vector 0 for config changes, one per vring after it */
	needed = 1 + ifcvf_hw_max_vrings(hw);
	if (hw->msix_vectors < needed)
		return cerr_set(e, ENODEV, "MSI-X has %u vectors, %u needed (1 config + %u vrings)",
				hw->msix_vectors, needed, needed - 1);

	hw->lm_block = detect_lm_block(hw);
	hw->sw_live_migration = args->sw_live_migration;
	if (!hw->lm_block && !hw->sw_live_migration)
		return cerr_set(e, ENOTSUP,
				"does not support HW assist live migration, please enable sw-live-migration (%s)",
				!hw->is_ifcvf ? "not an IFCVF: no live-migration block"
				: hw->bar_size[IFCVF_LM_BAR] == 0 ? "the VF has no BAR4"
				: (hw->caps.virtio_bar_mask & (1u << IFCVF_LM_BAR)) ? "BAR4 holds virtio capabilities, not the live-migration block"
				: "BAR4 is too small for the live-migration block");
	return 0;
}

int ifcvf_hw_get_status(struct ifcvf_hw *hw, uint8_t *ret, struct cerr *e)
{
	return ifcvf_common_read8(hw, VIRTIO_COMMON_STATUS, ret, e);
}

int ifcvf_hw_add_status(struct ifcvf_hw *hw, uint8_t bits, struct cerr *e)
{
	uint8_t status;
	int r;

	if ((r = ifcvf_hw_get_status(hw, &status, e)) < 0 ||
	    (r = ifcvf_common_write8(hw, VIRTIO_COMMON_STATUS, status | bits, e)) < 0 ||
	    /* read back to flush the write */
	    (r = ifcvf_hw_get_status(hw, &status, e)) < 0)
		return cerr_prefix(e, "cannot set device status 0x%02x", bits);
	/* the write is posted: one the VF lost shows only here (a VF may
	 * refuse FEATURES_OK: ifcvf_hw_set_features() says so itself) */
	if ((status & bits & ~VIRTIO_STATUS_FEATURES_OK) != (bits & ~VIRTIO_STATUS_FEATURES_OK))
		return cerr_set(e, EIO, "the VF did not take device status 0x%02x (reads 0x%02x)",
				bits, status);
	return 0;
}

int ifcvf_hw_reset(struct ifcvf_hw *hw, int timeout_ms, struct cerr *e)
{
	long long deadline = now_ms() + timeout_ms;
	uint8_t status;
	int r;

	/* a reset may set queue_select and the queues' registers anew */
	hw->selected_known = false;
	hw->program_unchecked = 0;
	r = ifcvf_common_write8(hw, VIRTIO_COMMON_STATUS, 0, e);
	if (r < 0)
		return cerr_prefix(e, "cannot reset the VF");
	for (;;) {
		r = ifcvf_hw_get_status(hw, &status, e);
		if (r < 0)
			return cerr_prefix(e, "cannot reset the VF");
		if (status == 0)
			return 0;
		if (now_ms() >= deadline)
			return cerr_set(e, ETIMEDOUT, "the VF did not finish its reset within %d ms (status 0x%02x)",
					timeout_ms, status);
		sleep_ms(hw, 1);
	}
}

int ifcvf_hw_set_features(struct ifcvf_hw *hw, uint64_t features, struct cerr *e)
{
	uint8_t status;
	int r;

	if ((r = ifcvf_common_write32(hw, VIRTIO_COMMON_GFSELECT, 0, e)) < 0 ||
	    (r = ifcvf_common_write32(hw, VIRTIO_COMMON_GF, (uint32_t)features, e)) < 0 ||
	    (r = ifcvf_common_write32(hw, VIRTIO_COMMON_GFSELECT, 1, e)) < 0 ||
	    (r = ifcvf_common_write32(hw, VIRTIO_COMMON_GF, (uint32_t)(features >> 32), e)) < 0)
		return cerr_prefix(e, "cannot write driver features");
	r = ifcvf_hw_add_status(hw, VIRTIO_STATUS_FEATURES_OK, e);
	if (r < 0)
		return r;
	r = ifcvf_hw_get_status(hw, &status, e);
	if (r < 0)
		return r;
	if (!(status & VIRTIO_STATUS_FEATURES_OK))
		return cerr_set(e, EINVAL, "the VF refused features 0x%llx (FEATURES_OK did not stick)",
				(unsigned long long)features);
	return 0;
}

int ifcvf_hw_set_config_vector(struct ifcvf_hw *hw, uint16_t vector, struct cerr *e)
{
	uint16_t back;
	int r;

	if ((r = ifcvf_common_write16(hw, VIRTIO_COMMON_MSIX, vector, e)) < 0)
		return cerr_prefix(e, "cannot set the config vector");
	/* no vector cannot be refused: nothing to read back (the next read
	 * orders the posted write) */
	if (vector == VIRTIO_MSI_NO_VECTOR)
		return 0;
	if ((r = ifcvf_common_read16(hw, VIRTIO_COMMON_MSIX, &back, e)) < 0)
		return cerr_prefix(e, "cannot set the config vector");
	if (back == VIRTIO_MSI_NO_VECTOR)
		return cerr_set(e, ENOSPC, "the VF refused config vector %u", vector);
	return 0;
}

int ifcvf_hw_read_device_config(struct ifcvf_hw *hw, uint32_t off, void *buf, uint32_t len,
				struct cerr *e)
{
	uint8_t *out = buf;
	int r;

	if ((uint64_t)off + len > hw->caps.device.length)
		return cerr_set(e, EINVAL, "device config bytes 0x%x+%u are outside its %u bytes", off,
				len, hw->caps.device.length);
	for (uint32_t i = 0; i < len; i++) {
		r = ifcvf_devcfg_read8(hw, off + i, &out[i], e);
		if (r < 0)
			return cerr_prefix(e, "cannot read the device configuration");
	}
	return 0;
}

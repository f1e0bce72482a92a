#include "ifcvf-caps.h"

#include <errno.h>
#include <string.h>

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

const char *ifcvf_cap_type_name(unsigned cfg_type)
{
	switch (cfg_type) {
	case VIRTIO_PCI_CAP_COMMON_CFG:
		return "common";
	case VIRTIO_PCI_CAP_NOTIFY_CFG:
		return "notify";
	case VIRTIO_PCI_CAP_ISR_CFG:
		return "isr";
	case VIRTIO_PCI_CAP_DEVICE_CFG:
		return "device";
	case VIRTIO_PCI_CAP_PCI_CFG:
		return "pci-cfg";
	default:
		return "unknown";
	}
}

static int parse_vendor_cap(const uint8_t *cfg, uint8_t pos, const uint64_t bar_size[6],
			    struct ifcvf_caps *caps, struct cerr *e)
{
	const uint8_t *cap = cfg + pos;
	unsigned type = cap[VIRTIO_PCI_CAP_CFG_TYPE];
	struct ifcvf_cap_loc loc = { .present = true, .pos = pos };
	struct ifcvf_cap_loc *slot;

	if ((unsigned)pos + VIRTIO_PCI_CAP_SIZE > PCI_CFG_SPACE_SIZE)
		return cerr_set(e, EINVAL, "vendor capability at 0x%02x runs past the end of config space", pos);
	loc.bar = cap[VIRTIO_PCI_CAP_BAR];
	loc.offset = rd32(cap + VIRTIO_PCI_CAP_OFFSET);
	loc.length = rd32(cap + VIRTIO_PCI_CAP_LENGTH);

	switch (type) {
	case VIRTIO_PCI_CAP_COMMON_CFG:
		slot = &caps->common;
		break;
	case VIRTIO_PCI_CAP_NOTIFY_CFG:
		slot = &caps->notify;
		break;
	case VIRTIO_PCI_CAP_ISR_CFG:
		slot = &caps->isr;
		break;
	case VIRTIO_PCI_CAP_DEVICE_CFG:
		slot = &caps->device;
		break;
	default:
		/* PCI_CFG and vendor-private types are not used, but still
		 * claim their BAR for the live-migration block check */
		if (loc.bar <= 5)
			caps->virtio_bar_mask |= (uint8_t)(1u << loc.bar);
		return 0;
	}
	if (loc.bar > 5)
		return cerr_set(e, EINVAL, "%s capability at 0x%02x names BAR %u, which does not exist",
				ifcvf_cap_type_name(type), pos, loc.bar);
	if ((uint64_t)loc.offset + loc.length > UINT32_MAX)
		return cerr_set(e, EINVAL, "%s capability at 0x%02x: offset 0x%x + length 0x%x overflows",
				ifcvf_cap_type_name(type), pos, loc.offset, loc.length);
	if ((uint64_t)loc.offset + loc.length > bar_size[loc.bar])
		return cerr_set(e, EINVAL,
				"%s capability at 0x%02x points outside BAR %u (offset 0x%x length 0x%x, BAR size 0x%llx)",
				ifcvf_cap_type_name(type), pos, loc.bar, loc.offset, loc.length,
				(unsigned long long)bar_size[loc.bar]);
	if (type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
		if ((unsigned)pos + VIRTIO_PCI_NOTIFY_CAP_SIZE > PCI_CFG_SPACE_SIZE)
			return cerr_set(e, EINVAL, "notify capability at 0x%02x runs past the end of config space", pos);
		caps->notify_off_multiplier = rd32(cap + VIRTIO_PCI_NOTIFY_CAP_MULT);
	}
	caps->virtio_bar_mask |= (uint8_t)(1u << loc.bar);
	/* as in the reference driver, a repeated type replaces the earlier one */
	*slot = loc;
	return 0;
}

static void parse_msix_cap(const uint8_t *cfg, uint8_t pos, struct ifcvf_caps *caps)
{
	uint32_t table;

	if ((unsigned)pos + 12 > PCI_CFG_SPACE_SIZE)
		return;
	caps->has_msix = true;
	caps->msix_table_size = (uint16_t)((rd16(cfg + pos + PCI_MSIX_FLAGS) & PCI_MSIX_FLAGS_QSIZE) + 1);
	table = rd32(cfg + pos + PCI_MSIX_TABLE);
	caps->msix_table_bar = (uint8_t)(table & 7u);
	caps->msix_table_offset = table & ~7u;
}

int ifcvf_caps_parse(const uint8_t *cfg, const uint64_t bar_size[6],
		     struct ifcvf_caps *ret, struct cerr *e)
{
	uint8_t seen[PCI_CFG_SPACE_SIZE / 8] = { 0 };
	struct ifcvf_caps caps;
	uint8_t pos;
	int r;

	memset(&caps, 0, sizeof(caps));
	if (!(rd16(cfg + PCI_CFG_STATUS) & PCI_STATUS_CAP_LIST))
		return cerr_set(e, ENODEV, "config space has no capability list");

	pos = cfg[PCI_CFG_CAP_PTR];
	while (pos) {
		/* capabilities live after the standard header, dword aligned */
		if (pos < 0x40 || (pos & 3) || pos > PCI_CFG_SPACE_SIZE - 4)
			return cerr_set(e, EINVAL, "capability pointer 0x%02x is outside the capability area", pos);
		if (seen[pos / 8] & (1u << (pos % 8)))
			return cerr_set(e, ELOOP, "capability list loops back to 0x%02x", pos);
		seen[pos / 8] |= (uint8_t)(1u << (pos % 8));

		if (cfg[pos] == PCI_CAP_ID_VNDR) {
			r = parse_vendor_cap(cfg, pos, bar_size, &caps, e);
			if (r < 0)
				return r;
		} else if (cfg[pos] == PCI_CAP_ID_MSIX) {
			parse_msix_cap(cfg, pos, &caps);
		}
		pos = cfg[pos + 1];
	}

	if (!caps.common.present)
		return cerr_set(e, ENODEV, "capability incomplete: no common configuration capability");
	if (!caps.notify.present)
		return cerr_set(e, ENODEV, "capability incomplete: no notify capability");
	if (!caps.isr.present)
		return cerr_set(e, ENODEV, "capability incomplete: no ISR capability");
	if (!caps.device.present)
		return cerr_set(e, ENODEV, "capability incomplete: no device configuration capability");
	if (caps.common.length < VIRTIO_COMMON_CFG_SIZE)
		return cerr_set(e, EINVAL, "common configuration capability is 0x%x bytes, shorter than 0x%x",
				caps.common.length, VIRTIO_COMMON_CFG_SIZE);
	*ret = caps;
	return 0;
}

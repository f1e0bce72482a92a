#include "ifcvf-ids.h"

#include <errno.h>

#include "ifcvf-regs.h"

struct id_row {
	uint16_t device;
	uint16_t subsys_device;
};

/* vendor is always 0x1af4 and subsystem vendor 0x8086 */
static const struct id_row ifcvf_rows[] = {
	{ IFCVF_NET_MODERN_DEVICE_ID, IFCVF_SUBSYS_DEVICE_ID },
	{ IFCVF_NET_TRANSITIONAL_DEVICE_ID, IFCVF_SUBSYS_NET_DEVICE_ID },
	{ IFCVF_BLK_TRANSITIONAL_DEVICE_ID, IFCVF_SUBSYS_BLK_DEVICE_ID },
	{ IFCVF_BLK_MODERN_DEVICE_ID, IFCVF_SUBSYS_BLK_DEVICE_ID },
	{ IFCVF_BLK_MODERN_DEVICE_ID, 0x0000 },
};

const char *ifcvf_dev_type_name(enum ifcvf_dev_type type)
{
	return type == IFCVF_DEV_BLK ? "blk" : "net";
}

/* virtio device type from the PCI IDs (reference §1.1) */
static int virtio_id_of(const struct ifcvf_pci_ids *ids, unsigned *ret, struct cerr *e)
{
	if (ids->device < 0x1000 || ids->device > 0x107f)
		return cerr_set(e, ENODEV, "PCI device ID 0x%04x is not a virtio device", ids->device);
	*ret = ids->device < 0x1040 ? ids->subsys_device : (unsigned)ids->device - 0x1040u;
	return 0;
}

int ifcvf_ids_match(const struct ifcvf_pci_ids *ids, bool generic_virtio,
		    enum ifcvf_dev_type *ret_type, bool *ret_is_ifcvf, struct cerr *e)
{
	bool is_ifcvf = false;
	unsigned virtio_id = 0;
	int r;

	if (ids->vendor != IFCVF_VENDOR_ID)
		return cerr_set(e, ENODEV, "PCI vendor 0x%04x is not virtio (0x%04x)", ids->vendor,
				IFCVF_VENDOR_ID);
	if (ids->subsys_vendor == IFCVF_SUBSYS_VENDOR_ID) {
		for (unsigned i = 0; i < sizeof(ifcvf_rows) / sizeof(ifcvf_rows[0]); i++)
			if (ifcvf_rows[i].device == ids->device &&
			    ifcvf_rows[i].subsys_device == ids->subsys_device)
				is_ifcvf = true;
	}
	if (!is_ifcvf && !generic_virtio)
		return cerr_set(e, ENODEV,
				"PCI IDs %04x:%04x subsystem %04x:%04x are not an IFCVF VF (use generic-virtio=1 for other virtio functions)",
				ids->vendor, ids->device, ids->subsys_vendor, ids->subsys_device);
	/* a generic function must be modern: this driver has no legacy interface */
	if (!is_ifcvf && ids->device < 0x1040)
		return cerr_set(e, ENODEV, "PCI device 0x%04x is a transitional virtio device; only modern ones are supported",
				ids->device);
	r = virtio_id_of(ids, &virtio_id, e);
	if (r < 0)
		return r;
	if (virtio_id == VIRTIO_ID_NET)
		*ret_type = IFCVF_DEV_NET;
	else if (virtio_id == VIRTIO_ID_BLOCK)
		*ret_type = IFCVF_DEV_BLK;
	else
		return cerr_set(e, ENODEV, "virtio device type %u is neither net nor blk", virtio_id);
	*ret_is_ifcvf = is_ifcvf;
	return 0;
}

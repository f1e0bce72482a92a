#include "vhost-features.h"

#include "ifcvf-regs.h"

#define BIT(n) (1ull << (n))

uint64_t ifcvf_vhost_offered_features(enum ifcvf_dev_type type, uint64_t vf_features,
				      unsigned queues)
{
	/* no vIOMMU behind the VF: the guest must hand it guest-physical addresses */
	uint64_t f = vf_features & ~BIT(VIRTIO_F_ACCESS_PLATFORM);

	f |= BIT(VHOST_F_LOG_ALL) | BIT(VHOST_USER_F_PROTOCOL_FEATURES);
	if (type == IFCVF_DEV_NET) {
		/* QEMU emulates these for the VF: link status, the control
		 * queue, and the guest's own announcement after migration */
		f |= BIT(VIRTIO_NET_F_STATUS) | BIT(VIRTIO_NET_F_CTRL_VQ) |
		     BIT(VIRTIO_NET_F_GUEST_ANNOUNCE);
		if (queues <= 1)
			f &= ~BIT(VIRTIO_NET_F_MQ);
	} else if (queues <= 1) {
		f &= ~BIT(VIRTIO_BLK_F_MQ);
	}
	return f;
}

uint64_t ifcvf_vhost_protocol_features(enum ifcvf_dev_type type)
{
	uint64_t f = BIT(VHOST_USER_PF_MQ) | BIT(VHOST_USER_PF_LOG_SHMFD) |
		     BIT(VHOST_USER_PF_REPLY_ACK) | BIT(VHOST_USER_PF_BACKEND_REQ) |
		     BIT(VHOST_USER_PF_STATUS);

	if (type == IFCVF_DEV_BLK)
		f |= BIT(VHOST_USER_PF_CONFIG);
	return f;
}

uint64_t ifcvf_vhost_vf_features(uint64_t negotiated, uint64_t vf_features)
{
	/* the helper reaches the VF only through VFIO, so the VF's DMA is
	 * always translated (IOVA = GPA): accept IOMMU_PLATFORM when offered,
	 * which a device that requires it (QEMU's iommu_platform=on) checks
	 * at FEATURES_OK; the frontend never sees the bit */
	return (negotiated & vf_features) | (vf_features & BIT(VIRTIO_F_ACCESS_PLATFORM));
}

#include "vhost-features.h"

#include "ifcvf-regs.h"

#define BIT(n) (1ull << (n))

#define VIRTIO_NET_F_CTRL_GUEST_OFFLOADS 2

/* Device-independent bits the helper carries end to end. Not here:
 * RING_PACKED (stop/resume, the relay and the dirty logging handle split
 * rings only), IN_ORDER and RING_RESET (nothing honours them across a
 * stop, the relay or a switch), NOTIFICATION_DATA (the doorbell is the
 * 16-bit queue index, not the 32-bit format), SR_IOV (a property of the
 * physical function, not of a guest's device), NOTIFY_ON_EMPTY (legacy
 * interrupt semantics the relay does not keep), ACCESS_PLATFORM (below). */
static const uint64_t common_allowed =
	BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_ANY_LAYOUT) | BIT(VIRTIO_RING_F_INDIRECT_DESC) |
	BIT(VIRTIO_RING_F_EVENT_IDX) | BIT(VIRTIO_F_ORDER_PLATFORM);

/* What the VF's datapath does by itself: offloads, the MAC, the MTU, the
 * merged RX buffers, the link status field. Not here: the control queue's
 * commands (RX mode, VLAN and MAC filters, guest offloads, announce),
 * which QEMU emulates for a vhost-user device and never passes on, and
 * anything newer (RSS, hash report, USO, coalescing, standby, speed). */
static const uint64_t net_allowed =
	BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_MTU) |
	BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_GUEST_TSO6) |
	BIT(VIRTIO_NET_F_GUEST_ECN) | BIT(VIRTIO_NET_F_GUEST_UFO) | BIT(VIRTIO_NET_F_HOST_TSO4) |
	BIT(VIRTIO_NET_F_HOST_TSO6) | BIT(VIRTIO_NET_F_HOST_ECN) | BIT(VIRTIO_NET_F_HOST_UFO) |
	BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_NET_F_STATUS);

/* Not here: CONFIG_WCE (the guest writes the cache mode into the config,
 * and the helper has no SET_CONFIG), and anything newer (lifetime, secure
 * erase, zoned). */
static const uint64_t blk_allowed =
	BIT(VIRTIO_BLK_F_SIZE_MAX) | BIT(VIRTIO_BLK_F_SEG_MAX) | BIT(VIRTIO_BLK_F_GEOMETRY) |
	BIT(VIRTIO_BLK_F_RO) | BIT(VIRTIO_BLK_F_BLK_SIZE) | BIT(VIRTIO_BLK_F_FLUSH) |
	BIT(VIRTIO_BLK_F_TOPOLOGY) | BIT(VIRTIO_BLK_F_DISCARD) | BIT(VIRTIO_BLK_F_WRITE_ZEROES);

/* Multiqueue: an IFCVF takes the number of pairs (queues) in its BAR4 MQ
 * register; a plain net function through its control queue, which the
 * helper then owns (ctrl-queue.h), so CTRL_VQ goes to the VF with MQ;
 * a plain blk function needs nothing (the driver uses what it enables). */
static uint64_t mq_bits(enum ifcvf_dev_type type)
{
	return type == IFCVF_DEV_NET ? BIT(VIRTIO_NET_F_MQ) | BIT(VIRTIO_NET_F_CTRL_VQ)
				     : BIT(VIRTIO_BLK_F_MQ);
}

uint64_t ifcvf_vhost_vf_allowed(enum ifcvf_dev_type type, bool is_ifcvf, unsigned queues)
{
	uint64_t f = common_allowed | (type == IFCVF_DEV_NET ? net_allowed : blk_allowed);

	if (queues > 1)
		f |= mq_bits(type);
	/* the IFCVF's own control queue has always been negotiated with it
	 * (the reference driver writes what the frontend chose) */
	if (type == IFCVF_DEV_NET && is_ifcvf)
		f |= BIT(VIRTIO_NET_F_CTRL_VQ);
	return f;
}

uint64_t ifcvf_vhost_offered_features(enum ifcvf_dev_type type, bool is_ifcvf,
				      uint64_t vf_features, unsigned queues)
{
	/* ACCESS_PLATFORM is never in the allow-list: no vIOMMU behind the
	 * VF, the guest must hand it guest-physical addresses */
	uint64_t f = vf_features & ifcvf_vhost_vf_allowed(type, is_ifcvf, queues);

	f |= BIT(VHOST_USER_F_PROTOCOL_FEATURES);
	if (ifcvf_vhost_migratable(type, is_ifcvf))
		f |= BIT(VHOST_F_LOG_ALL);
	if (type == IFCVF_DEV_NET) {
		/* QEMU emulates these for the VF: link status, the control
		 * queue, and the guest's own announcement after migration */
		f |= BIT(VIRTIO_NET_F_STATUS) | BIT(VIRTIO_NET_F_CTRL_VQ) |
		     BIT(VIRTIO_NET_F_GUEST_ANNOUNCE);
	}
	return f;
}

bool ifcvf_vhost_migratable(enum ifcvf_dev_type type, bool is_ifcvf)
{
	/* a plain blk function has no per-queue stop (virtio 1.x) and its
	 * reset drops the requests in flight: a migration's stop could lose
	 * or repeat a write, so it is not offered at all */
	return is_ifcvf || type != IFCVF_DEV_BLK;
}

uint64_t ifcvf_vhost_protocol_features(enum ifcvf_dev_type type, bool is_ifcvf)
{
	uint64_t f = BIT(VHOST_USER_PF_MQ) |
		     (ifcvf_vhost_migratable(type, is_ifcvf) ? BIT(VHOST_USER_PF_LOG_SHMFD) : 0) |
		     BIT(VHOST_USER_PF_REPLY_ACK) | BIT(VHOST_USER_PF_BACKEND_REQ) |
		     BIT(VHOST_USER_PF_STATUS) |
		     /* host notifiers: the VF's doorbell pages handed to the
		      * frontend (port-notifier.c, backend-channel.h) */
		     BIT(VHOST_USER_PF_BACKEND_SEND_FD) | BIT(VHOST_USER_PF_HOST_NOTIFIER);

	if (type == IFCVF_DEV_BLK)
		f |= BIT(VHOST_USER_PF_CONFIG);
	return f;
}

uint64_t ifcvf_vhost_vf_features(enum ifcvf_dev_type type, bool is_ifcvf, unsigned queues,
				 uint64_t negotiated, uint64_t vf_features)
{
	uint64_t f = negotiated & vf_features & ifcvf_vhost_vf_allowed(type, is_ifcvf, queues);
	const uint64_t mq = BIT(VIRTIO_NET_F_MQ) | BIT(VIRTIO_NET_F_CTRL_VQ);

	/* a plain net function's control queue and its pairs are the
	 * helper's business, whatever the frontend chose: a frontend may run
	 * several pairs without MQ (virtio-user without cq), and the function
	 * then needs MQ to have them */
	if (type == IFCVF_DEV_NET && !is_ifcvf) {
		f &= ~mq;
		if (queues > 1 && (vf_features & mq) == mq)
			f |= mq;
	}
	/* the helper reaches the VF only through VFIO, so the VF's DMA is
	 * always translated (IOVA = GPA): accept IOMMU_PLATFORM when offered,
	 * which a device that requires it (QEMU's iommu_platform=on) checks
	 * at FEATURES_OK; the frontend never sees the bit */
	return f | (vf_features & BIT(VIRTIO_F_ACCESS_PLATFORM));
}

/* Names of feature bits, for the probe's decoded output and for logs. */
#include "ifcvf-hw.h"

struct feature_name {
	unsigned bit;
	const char *name;
};

static const struct feature_name common_names[] = {
	{ VIRTIO_F_NOTIFY_ON_EMPTY, "NOTIFY_ON_EMPTY" },
	{ VHOST_F_LOG_ALL, "LOG_ALL" },
	{ VIRTIO_F_ANY_LAYOUT, "ANY_LAYOUT" },
	{ VIRTIO_RING_F_INDIRECT_DESC, "RING_INDIRECT_DESC" },
	{ VIRTIO_RING_F_EVENT_IDX, "RING_EVENT_IDX" },
	{ VHOST_USER_F_PROTOCOL_FEATURES, "PROTOCOL_FEATURES" },
	{ VIRTIO_F_VERSION_1, "VERSION_1" },
	{ VIRTIO_F_ACCESS_PLATFORM, "IOMMU_PLATFORM" },
	{ VIRTIO_F_RING_PACKED, "RING_PACKED" },
	{ VIRTIO_F_IN_ORDER, "IN_ORDER" },
	{ VIRTIO_F_ORDER_PLATFORM, "ORDER_PLATFORM" },
	{ VIRTIO_F_SR_IOV, "SR_IOV" },
	{ VIRTIO_F_NOTIFICATION_DATA, "NOTIFICATION_DATA" },
};

static const struct feature_name net_names[] = {
	{ VIRTIO_NET_F_CSUM, "NET_CSUM" },
	{ VIRTIO_NET_F_GUEST_CSUM, "NET_GUEST_CSUM" },
	{ VIRTIO_NET_F_MTU, "NET_MTU" },
	{ VIRTIO_NET_F_MAC, "NET_MAC" },
	{ VIRTIO_NET_F_GUEST_TSO4, "NET_GUEST_TSO4" },
	{ VIRTIO_NET_F_GUEST_TSO6, "NET_GUEST_TSO6" },
	{ VIRTIO_NET_F_GUEST_ECN, "NET_GUEST_ECN" },
	{ VIRTIO_NET_F_GUEST_UFO, "NET_GUEST_UFO" },
	{ VIRTIO_NET_F_HOST_TSO4, "NET_HOST_TSO4" },
	{ VIRTIO_NET_F_HOST_TSO6, "NET_HOST_TSO6" },
	{ VIRTIO_NET_F_HOST_ECN, "NET_HOST_ECN" },
	{ VIRTIO_NET_F_HOST_UFO, "NET_HOST_UFO" },
	{ VIRTIO_NET_F_MRG_RXBUF, "NET_MRG_RXBUF" },
	{ VIRTIO_NET_F_STATUS, "NET_STATUS" },
	{ VIRTIO_NET_F_CTRL_VQ, "NET_CTRL_VQ" },
	{ VIRTIO_NET_F_CTRL_RX, "NET_CTRL_RX" },
	{ VIRTIO_NET_F_CTRL_VLAN, "NET_CTRL_VLAN" },
	{ VIRTIO_NET_F_GUEST_ANNOUNCE, "NET_GUEST_ANNOUNCE" },
	{ VIRTIO_NET_F_MQ, "NET_MQ" },
	{ VIRTIO_NET_F_CTRL_MAC_ADDR, "NET_CTRL_MAC_ADDR" },
};

static const struct feature_name blk_names[] = {
	{ VIRTIO_BLK_F_SIZE_MAX, "BLK_SIZE_MAX" },
	{ VIRTIO_BLK_F_SEG_MAX, "BLK_SEG_MAX" },
	{ VIRTIO_BLK_F_GEOMETRY, "BLK_GEOMETRY" },
	{ VIRTIO_BLK_F_RO, "BLK_RO" },
	{ VIRTIO_BLK_F_BLK_SIZE, "BLK_BLK_SIZE" },
	{ VIRTIO_BLK_F_FLUSH, "BLK_FLUSH" },
	{ VIRTIO_BLK_F_TOPOLOGY, "BLK_TOPOLOGY" },
	{ VIRTIO_BLK_F_CONFIG_WCE, "BLK_CONFIG_WCE" },
	{ VIRTIO_BLK_F_MQ, "BLK_MQ" },
	{ VIRTIO_BLK_F_DISCARD, "BLK_DISCARD" },
	{ VIRTIO_BLK_F_WRITE_ZEROES, "BLK_WRITE_ZEROES" },
};

static const char *lookup(const struct feature_name *t, unsigned n, unsigned bit)
{
	for (unsigned i = 0; i < n; i++)
		if (t[i].bit == bit)
			return t[i].name;
	return NULL;
}

#define N(t) (sizeof(t) / sizeof((t)[0]))

const char *ifcvf_feature_name(enum ifcvf_dev_type type, unsigned bit)
{
	const char *name = lookup(common_names, N(common_names), bit);

	if (name)
		return name;
	if (type == IFCVF_DEV_NET)
		return lookup(net_names, N(net_names), bit);
	return lookup(blk_names, N(blk_names), bit);
}

/* IFCVF register map (reference/ifcvf-dpdk-driver.md §1–§5): PCI IDs, virtio
 * vendor capabilities, common configuration, the BAR4 live-migration block,
 * status and feature bits. Shared with tools/ifcvf-emu, which models the same
 * registers. No code here. */
#pragma once

/* PCI identity (§1.1) */
#define IFCVF_VENDOR_ID 0x1af4u
#define IFCVF_NET_MODERN_DEVICE_ID 0x1041u
#define IFCVF_NET_TRANSITIONAL_DEVICE_ID 0x1000u
#define IFCVF_BLK_MODERN_DEVICE_ID 0x1042u
#define IFCVF_BLK_TRANSITIONAL_DEVICE_ID 0x1001u
#define IFCVF_SUBSYS_VENDOR_ID 0x8086u
#define IFCVF_SUBSYS_DEVICE_ID 0x001au       /* N3000 net VF */
#define IFCVF_SUBSYS_NET_DEVICE_ID 0x0001u   /* C5000X-PL net */
#define IFCVF_SUBSYS_BLK_DEVICE_ID 0x0002u   /* C5000X-PL blk */

#define VIRTIO_ID_NET 1u
#define VIRTIO_ID_BLOCK 2u

/* PCI configuration space */
#define PCI_CFG_VENDOR_ID 0x00u
#define PCI_CFG_DEVICE_ID 0x02u
#define PCI_CFG_COMMAND 0x04u
#define PCI_CFG_STATUS 0x06u
#define PCI_CFG_REVISION 0x08u
#define PCI_CFG_CLASS_PROG 0x09u
#define PCI_CFG_HEADER_TYPE 0x0eu
#define PCI_CFG_BAR0 0x10u
#define PCI_CFG_SUBSYS_VENDOR_ID 0x2cu
#define PCI_CFG_SUBSYS_ID 0x2eu
#define PCI_CFG_CAP_PTR 0x34u
#define PCI_CFG_INT_PIN 0x3du
#define PCI_CFG_SPACE_SIZE 256u
#define PCI_STATUS_CAP_LIST 0x10u
#define PCI_COMMAND_MEMORY 0x2u
#define PCI_COMMAND_MASTER 0x4u

#define PCI_CAP_ID_MSIX 0x11u
#define PCI_CAP_ID_VNDR 0x09u
#define PCI_MSIX_FLAGS 2u              /* u16: table size - 1 in bits 10:0 */
#define PCI_MSIX_FLAGS_QSIZE 0x07ffu
#define PCI_MSIX_FLAGS_ENABLE 0x8000u
#define PCI_MSIX_TABLE 4u              /* u32: BIR in bits 2:0, offset above */
#define PCI_MSIX_PBA 8u

/* virtio vendor capability (§2.1) */
#define VIRTIO_PCI_CAP_COMMON_CFG 1u
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2u
#define VIRTIO_PCI_CAP_ISR_CFG 3u
#define VIRTIO_PCI_CAP_DEVICE_CFG 4u
#define VIRTIO_PCI_CAP_PCI_CFG 5u
#define VIRTIO_PCI_CAP_VNDR 0u
#define VIRTIO_PCI_CAP_NEXT 1u
#define VIRTIO_PCI_CAP_LEN 2u
#define VIRTIO_PCI_CAP_CFG_TYPE 3u
#define VIRTIO_PCI_CAP_BAR 4u
#define VIRTIO_PCI_CAP_OFFSET 8u
#define VIRTIO_PCI_CAP_LENGTH 12u
#define VIRTIO_PCI_NOTIFY_CAP_MULT 16u
#define VIRTIO_PCI_CAP_SIZE 16u
#define VIRTIO_PCI_NOTIFY_CAP_SIZE 20u

/* common configuration (§2.2) */
#define VIRTIO_COMMON_DFSELECT 0x00u
#define VIRTIO_COMMON_DF 0x04u
#define VIRTIO_COMMON_GFSELECT 0x08u
#define VIRTIO_COMMON_GF 0x0cu
#define VIRTIO_COMMON_MSIX 0x10u
#define VIRTIO_COMMON_NUMQ 0x12u
#define VIRTIO_COMMON_STATUS 0x14u
#define VIRTIO_COMMON_CFGGENERATION 0x15u
#define VIRTIO_COMMON_Q_SELECT 0x16u
#define VIRTIO_COMMON_Q_SIZE 0x18u
#define VIRTIO_COMMON_Q_MSIX 0x1au
#define VIRTIO_COMMON_Q_ENABLE 0x1cu
#define VIRTIO_COMMON_Q_NOFF 0x1eu
#define VIRTIO_COMMON_Q_DESCLO 0x20u
#define VIRTIO_COMMON_Q_DESCHI 0x24u
#define VIRTIO_COMMON_Q_AVAILLO 0x28u
#define VIRTIO_COMMON_Q_AVAILHI 0x2cu
#define VIRTIO_COMMON_Q_USEDLO 0x30u
#define VIRTIO_COMMON_Q_USEDHI 0x34u
#define VIRTIO_COMMON_CFG_SIZE 0x38u

#define VIRTIO_MSI_NO_VECTOR 0xffffu

/* device status */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01u
#define VIRTIO_STATUS_DRIVER 0x02u
#define VIRTIO_STATUS_DRIVER_OK 0x04u
#define VIRTIO_STATUS_FEATURES_OK 0x08u
#define VIRTIO_STATUS_NEEDS_RESET 0x40u
#define VIRTIO_STATUS_FAILED 0x80u

/* net device configuration (§2.3) */
#define VIRTIO_NET_CFG_MAC 0u
#define VIRTIO_NET_CFG_STATUS 6u
#define VIRTIO_NET_CFG_MAX_VQ_PAIRS 8u
#define VIRTIO_NET_CFG_MTU 10u
#define VIRTIO_NET_S_LINK_UP 1u
#define VIRTIO_NET_S_ANNOUNCE 2u

/* blk device configuration (§2.3, struct virtio_blk_config) */
#define VIRTIO_BLK_CFG_CAPACITY 0u
#define VIRTIO_BLK_CFG_SIZE_MAX 8u
#define VIRTIO_BLK_CFG_SEG_MAX 12u
#define VIRTIO_BLK_CFG_CYLINDERS 16u
#define VIRTIO_BLK_CFG_HEADS 18u
#define VIRTIO_BLK_CFG_SECTORS 19u
#define VIRTIO_BLK_CFG_BLK_SIZE 20u
#define VIRTIO_BLK_CFG_NUM_QUEUES 34u
#define VIRTIO_BLK_CFG_WINDOW 96u

/* BAR4 live-migration block (§3.1, §3.2) */
#define IFCVF_LM_BAR 4u
#define IFCVF_LM_LOGGING_CTRL 0x00u
#define IFCVF_LM_BASE_ADDR_LOW 0x10u
#define IFCVF_LM_BASE_ADDR_HIGH 0x14u
#define IFCVF_LM_END_ADDR_LOW 0x18u
#define IFCVF_LM_END_ADDR_HIGH 0x1cu
#define IFCVF_LM_RING_STATE_OFFSET 0x20u
#define IFCVF_LM_CFG_SIZE 0x40u
#define IFCVF_MQ_OFFSET 0x28u
#define IFCVF_LM_ENABLE_VF 0x1u
#define IFCVF_LM_ENABLE_PF 0x3u
#define IFCVF_LM_DISABLE 0x0u
#define IFCVF_LM_MIN_BAR_SIZE 0x800u

#define IFCVF_LOG_BASE 0x100000000000ull
#define IFCVF_MEDIATED_VRING 0x200000000000ull
/* the helper's own control queue of a plain net function (ifcvf-ctrlq.h),
 * past the 64 mediated rings */
#define IFCVF_CTRL_VRING 0x300000000000ull

/* virtio-net control queue: class MQ, command VQ_PAIRS_SET, the answers */
#define VIRTIO_NET_CTRL_MQ 4u
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 0u
#define VIRTIO_NET_OK 0u
#define VIRTIO_NET_ERR 1u

#define IFCVF_MAX_QUEUES 32u   /* queue pairs (net) or queues (blk) */
#define IFCVF_MAX_VRINGS 64u

/* feature bits */
#define VIRTIO_F_NOTIFY_ON_EMPTY 24
#define VIRTIO_F_ANY_LAYOUT 27
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED 34
#define VIRTIO_F_IN_ORDER 35
#define VIRTIO_F_ORDER_PLATFORM 36
#define VIRTIO_F_SR_IOV 37
#define VIRTIO_F_NOTIFICATION_DATA 38
#define VHOST_F_LOG_ALL 26
#define VHOST_USER_F_PROTOCOL_FEATURES 30

#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_GUEST_UFO 10
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_HOST_UFO 14
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_F_CTRL_VQ 17
#define VIRTIO_NET_F_CTRL_RX 18
#define VIRTIO_NET_F_CTRL_VLAN 19
#define VIRTIO_NET_F_GUEST_ANNOUNCE 21
#define VIRTIO_NET_F_MQ 22
#define VIRTIO_NET_F_CTRL_MAC_ADDR 23

#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_GEOMETRY 4
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_TOPOLOGY 10
#define VIRTIO_BLK_F_CONFIG_WCE 11
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

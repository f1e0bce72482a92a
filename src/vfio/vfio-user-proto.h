/* vfio-user wire format (reference/vfio-user.md §1): the header, command
 * numbers and payload layouts. Shared by the client in src/vfio and the
 * server in tools/ifcvf-emu. All fields are host-endian and packed. */
#pragma once

#include <stdint.h>

#define VFU_HDR_SIZE 16u

/* One message, header included, may not exceed this. It covers the largest
 * REGION_READ/WRITE or DMA_READ/WRITE we ever allow plus its head. */
#define VFU_MAX_DATA_XFER (1u << 20)
#define VFU_MAX_MSG_SIZE (VFU_MAX_DATA_XFER + 64u)

/* How many fds our own receivers accept in one message. */
#define VFU_MAX_MSG_FDS 8u

enum vfu_command {
	VFU_CMD_VERSION = 1,
	VFU_CMD_DMA_MAP = 2,
	VFU_CMD_DMA_UNMAP = 3,
	VFU_CMD_DEVICE_GET_INFO = 4,
	VFU_CMD_DEVICE_GET_REGION_INFO = 5,
	VFU_CMD_DEVICE_GET_REGION_IO_FDS = 6,
	VFU_CMD_DEVICE_GET_IRQ_INFO = 7,
	VFU_CMD_DEVICE_SET_IRQS = 8,
	VFU_CMD_REGION_READ = 9,
	VFU_CMD_REGION_WRITE = 10,
	VFU_CMD_DMA_READ = 11,
	VFU_CMD_DMA_WRITE = 12,
	VFU_CMD_DEVICE_RESET = 13,
	VFU_CMD_MAX = 18,
};

#define VFU_FLAG_TYPE_MASK 0xfu
#define VFU_FLAG_TYPE_COMMAND 0x0u
#define VFU_FLAG_TYPE_REPLY 0x1u
#define VFU_FLAG_NO_REPLY 0x10u
#define VFU_FLAG_ERROR 0x20u

struct vfu_hdr {
	uint16_t msg_id;
	uint16_t command;
	uint32_t msg_size;
	uint32_t flags;
	uint32_t error;
} __attribute__((packed));

struct vfu_version {
	uint16_t major;
	uint16_t minor;
	/* followed by a NUL-terminated JSON string */
} __attribute__((packed));

#define VFU_DMA_FLAG_READ 0x1u
#define VFU_DMA_FLAG_WRITE 0x2u

struct vfu_dma_map {
	uint32_t argsz;
	uint32_t flags;
	uint64_t offset;
	uint64_t address;
	uint64_t size;
} __attribute__((packed));

#define VFU_DMA_UNMAP_FLAG_ALL 0x2u

struct vfu_dma_unmap {
	uint32_t argsz;
	uint32_t flags;
	uint64_t address;
	uint64_t size;
} __attribute__((packed));

struct vfu_device_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t num_regions;
	uint32_t num_irqs;
} __attribute__((packed));

/* Same layout as the kernel's struct vfio_region_info. */
struct vfu_region_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t cap_offset;
	uint64_t size;
	uint64_t offset;
} __attribute__((packed));

struct vfu_irq_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t count;
} __attribute__((packed));

struct vfu_irq_set {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t start;
	uint32_t count;
} __attribute__((packed));

struct vfu_region_access {
	uint64_t offset;
	uint32_t region;
	uint32_t count;
	/* followed by data for WRITE requests and READ replies */
} __attribute__((packed));

struct vfu_dma_access {
	uint64_t address;
	uint64_t count;
	/* followed by data for DMA_WRITE requests and DMA_READ replies */
} __attribute__((packed));

_Static_assert(sizeof(struct vfu_hdr) == 16, "vfio-user header");
_Static_assert(sizeof(struct vfu_dma_map) == 32, "DMA_MAP payload");
_Static_assert(sizeof(struct vfu_dma_unmap) == 24, "DMA_UNMAP payload");
_Static_assert(sizeof(struct vfu_region_info) == 32, "region info");
_Static_assert(sizeof(struct vfu_irq_set) == 20, "irq set");
_Static_assert(sizeof(struct vfu_region_access) == 16, "region access");
_Static_assert(sizeof(struct vfu_dma_access) == 16, "dma access");

const char *vfu_command_name(unsigned command);

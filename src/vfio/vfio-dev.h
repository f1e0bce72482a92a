/* One device-access interface over two transports:
 *   pci:DDDD:BB:DD.F   kernel VFIO (own type1 container per device)
 *   vfio-user:PATH     vfio-user client over a UNIX socket
 * Regions (BARs, config space), MSI-X eventfds, DMA map/unmap and reset.
 * Nothing here knows about virtio.
 *
 * Errors: functions return 0 or -errno and, given a struct cerr, say what
 * failed; messages name the device address.
 *
 * Threads: a vfio_dev may be used from several threads at once (the helper's
 * main thread programs the device while a relay thread rings doorbells); the
 * vfio-user transport serialises its socket internally. vfio_dev_close() must
 * not race with any other call on the same device. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cerr.h"

struct vfio_dev;

enum vfio_transport {
	VFIO_TRANSPORT_KERNEL,
	VFIO_TRANSPORT_USER,
};

/* region indices (linux/vfio.h VFIO_PCI_*_REGION_INDEX) */
#define VFIO_DEV_REGION_BAR0 0u
#define VFIO_DEV_REGION_BAR4 4u
#define VFIO_DEV_REGION_CONFIG 7u
#define VFIO_DEV_MAX_REGIONS 9u

/* irq indices (linux/vfio.h VFIO_PCI_*_IRQ_INDEX) */
#define VFIO_DEV_IRQ_MSIX 2u

/* region flags (linux/vfio.h VFIO_REGION_INFO_FLAG_*) */
#define VFIO_DEV_REGION_READ 0x1u
#define VFIO_DEV_REGION_WRITE 0x2u
#define VFIO_DEV_REGION_MMAP 0x4u

#define VFIO_DEV_DEFAULT_TIMEOUT_MS 5000

struct vfio_dev_options {
	int timeout_ms;   /* per vfio-user request; 0 means the default */
};

struct vfio_region {
	uint64_t size;    /* 0: the device does not implement this region */
	uint32_t flags;   /* VFIO_DEV_REGION_* */
	unsigned n_maps;  /* mmapped sparse areas (may be 0; over vfio-user only
			   * from a memfd sealed with F_SEAL_SHRINK, see
			   * vfio-region.c, else every access is a message) */
	struct {
		uint64_t offset;  /* within the region */
		uint64_t size;
		void *addr;
	} maps[4];
};

/* Open and take the device named by @address. @opts may be NULL. */
int vfio_dev_open(const char *address, const struct vfio_dev_options *opts,
		  struct vfio_dev **ret, struct cerr *e);

/* Unbind interrupts, drop DMA mappings, unmap regions, close every fd.
 * Accepts NULL. */
void vfio_dev_close(struct vfio_dev *dev);

const char *vfio_dev_address(const struct vfio_dev *dev);
enum vfio_transport vfio_dev_transport(const struct vfio_dev *dev);
unsigned vfio_dev_num_regions(const struct vfio_dev *dev);
unsigned vfio_dev_num_irqs(const struct vfio_dev *dev);

/* Region description, read once at open. NULL for an index out of range. */
const struct vfio_region *vfio_dev_region(const struct vfio_dev *dev, unsigned index);

/* Region access. Within an mmapped area an access of 1, 2, 4 or 8 bytes at
 * a naturally aligned offset is one access of that width; elsewhere it goes
 * through the transport. Out-of-range accesses fail with -EINVAL. */
int vfio_dev_read(struct vfio_dev *dev, unsigned region, uint64_t offset,
		  void *buf, size_t len, struct cerr *e);
int vfio_dev_write(struct vfio_dev *dev, unsigned region, uint64_t offset,
		   const void *buf, size_t len, struct cerr *e);

/* Reads done in order as one exchange: over vfio-user every request is
 * sent before the first reply is awaited (the server answers in order), so
 * @n reads cost one round trip; elsewhere one read after the other. Each
 * is a register read of at most 8 bytes. Stops at the first that fails
 * (the others are still consumed, the stream stays in step). */
#define VFIO_DEV_READ_BATCH_MAX 12u
struct vfio_dev_read {
	unsigned region;
	uint64_t offset;
	void *buf;
	size_t len;
};
int vfio_dev_read_batch(struct vfio_dev *dev, const struct vfio_dev_read *reads, unsigned n,
			struct cerr *e);

/* A write whose completion is not waited for (vfio-user: No_reply), for
 * doorbells on a hot path. Ordered before any later access on the device. */
int vfio_dev_write_posted(struct vfio_dev *dev, unsigned region, uint64_t offset,
			  const void *buf, size_t len, struct cerr *e);

/* What the transport spent, for a timing breakdown: requests that waited
 * for their reply (vfio-user messages; kernel: none are counted) and the
 * time from send to reply, and requests sent without waiting (posted
 * writes) and the time their sends took. Totals since open; read from any
 * thread. */
struct vfio_dev_counters {
	uint64_t round_trips;
	uint64_t round_trip_ns;
	uint64_t posted;
	uint64_t posted_ns;
};
void vfio_dev_counters(const struct vfio_dev *dev, struct vfio_dev_counters *ret);

/* Number of vectors of irq @index (0 when the device has none). */
int vfio_dev_irq_count(struct vfio_dev *dev, unsigned index, uint32_t *ret_count,
		       struct cerr *e);

/* Bind vectors start..start+count-1 of irq @index to @fds (an fd of -1
 * unbinds that vector). The caller keeps ownership of the fds. */
int vfio_dev_set_irq_eventfds(struct vfio_dev *dev, unsigned index, uint32_t start,
			      uint32_t count, const int *fds, struct cerr *e);

/* Unbind every vector of irq @index. */
int vfio_dev_disable_irqs(struct vfio_dev *dev, unsigned index, struct cerr *e);

/* Let the device DMA to [iova, iova+size). The memory is @vaddr in this
 * process; @fd/@fd_offset name the same memory for transports that share it
 * by fd (vfio-user). With fd < 0 a vfio-user server reaches the range through
 * DMA_READ/DMA_WRITE messages, served from @vaddr. */
int vfio_dev_dma_map(struct vfio_dev *dev, uint64_t iova, uint64_t size, void *vaddr,
		     int fd, uint64_t fd_offset, struct cerr *e);
/* A range the device refused to unmap stays mapped in it (and blocks its
 * IOVAs): it is kept, and unmapped again before the next map (and at close),
 * so that a one-off failure leaks nothing. */
int vfio_dev_dma_unmap(struct vfio_dev *dev, uint64_t iova, uint64_t size,
		       struct cerr *e);

int vfio_dev_reset(struct vfio_dev *dev, struct cerr *e);

/* An fd that tells when the device is gone, for a watch in another thread;
 * never read it. vfio-user: the socket, which hangs up (POLLHUP/POLLERR)
 * when the server goes; kernel VFIO: an fd that becomes readable (POLLIN)
 * when the device's request interrupt (hot removal asked: close the device
 * soon, the kernel waits for it) or error interrupt (AER) fires.
 * *@ret_readable says which condition to watch. -1 when the transport has
 * none (a kernel without either interrupt). Valid until vfio_dev_close(). */
int vfio_dev_lost_fd(const struct vfio_dev *dev, bool *ret_readable);
/* Once the lost fd fired: why, as a port reason ("device lost: vfio-user
 * socket hung up", "device removed (request interrupt)", ...). */
void vfio_dev_lost_reason(struct vfio_dev *dev, char *buf, size_t len);

/* Where a peer process can mmap [@offset, @offset + @len) of region @index
 * itself (a vhost-user host notifier: QEMU maps a VF's doorbell page into
 * the guest). On success *@ret_fd is a descriptor the device keeps owning
 * (valid until vfio_dev_close(); dup it to hand it on) and *@ret_fd_offset
 * the range's offset in it; page alignment is the caller's to check.
 *   kernel VFIO: the device fd at the region's offset + @offset, when the
 *     region has the MMAP flag and the range lies in one sparse-mmap area
 *     (if the kernel reports any);
 *   vfio-user: the server's region fd (kept open after open, only for
 *     regions whose areas we mapped, i.e. a memfd sealed against shrinking)
 *     at the area's fd offset + (@offset - the area's offset).
 * -ENOTSUP with the reason in @e (no MMAP flag, no fd, an unsealed server
 * fd, the range in no mappable area); -EINVAL for a bad index or range.
 * Any thread (reads what open recorded). */
int vfio_dev_region_mmap_fd(const struct vfio_dev *dev, unsigned index, uint64_t offset,
			    uint64_t len, int *ret_fd, uint64_t *ret_fd_offset, struct cerr *e);

/* What another process needs to stop a kernel VFIO device once this one is
 * gone (the helper's sentinel, src/helper/sentinel.h): the device fd (the
 * device keeps owning it: dup it to hand it on), the offset in that fd of
 * byte @offset of region @index, and the offset in it of configuration
 * space. -ENOTSUP over vfio-user (the server stops the device itself when
 * the socket hangs up); -EINVAL for a bad index or offset. Any thread. */
int vfio_dev_kernel_handle(const struct vfio_dev *dev, unsigned index, uint64_t offset,
			   int *ret_fd, uint64_t *ret_fd_offset, uint64_t *ret_config_fd_offset);

/* Fixed-width helpers over vfio_dev_read/vfio_dev_write. */
int vfio_dev_read8(struct vfio_dev *dev, unsigned region, uint64_t off, uint8_t *v, struct cerr *e);
int vfio_dev_read16(struct vfio_dev *dev, unsigned region, uint64_t off, uint16_t *v, struct cerr *e);
int vfio_dev_read32(struct vfio_dev *dev, unsigned region, uint64_t off, uint32_t *v, struct cerr *e);
int vfio_dev_write8(struct vfio_dev *dev, unsigned region, uint64_t off, uint8_t v, struct cerr *e);
int vfio_dev_write16(struct vfio_dev *dev, unsigned region, uint64_t off, uint16_t v, struct cerr *e);
int vfio_dev_write32(struct vfio_dev *dev, unsigned region, uint64_t off, uint32_t v, struct cerr *e);

/* Inside src/vfio: the transport seam behind vfio-dev.h, the device record
 * both transports share, and the pure helpers of the shared core (exposed
 * here so the unit tests can reach them).
 *
 * Threads: struct vfio_dev is written only by vfio_dev_open() and
 * vfio_dev_close(); in between every field is read-only except irq_bound
 * (under irq_lock) and the atomic counters. A transport that has a channel to serialise (the
 * vfio-user socket) keeps its own lock in its private state. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vfio-dev.h"

/* "vfio-user:" + a 107-byte socket path + NUL fits */
#define VFIO_DEV_ADDRESS_MAX 128u
#define VFIO_DEV_SUN_PATH_MAX 107u

/* Defensive limits on what a device may report (QEMU uses 100 and 50). */
#define VFIO_DEV_REGION_LIMIT 64u
#define VFIO_DEV_IRQ_LIMIT 64u
/* A vfio-user server emulates one PCI function: 9 standard regions and 5
 * irq indexes, plus room for device-specific ones. */
#define VFIO_USER_REGION_LIMIT 16u
#define VFIO_USER_IRQ_LIMIT 16u
/* sparse-mmap areas in one capability; more is a confused or hostile device */
#define VFIO_DEV_SPARSE_AREA_LIMIT 64u

/* DMA ranges a device failed to unmap, kept to unmap again */
#define VFIO_DEV_STALE_LIMIT 16u

/* The public struct vfio_region has room for this many mapped areas. */
#define VFIO_DEV_MAX_AREAS 4u

/* linux/vfio.h values, spelled here so the shared core needs no kernel header */
#define VFIO_DEV_REGION_INFO_SIZE 32u
#define VFIO_DEV_REGION_FLAG_CAPS 0x8u
#define VFIO_DEV_CAP_SPARSE_MMAP 1u
#define VFIO_DEV_IRQ_SET_DATA_NONE 0x1u
#define VFIO_DEV_IRQ_SET_DATA_EVENTFD 0x4u
#define VFIO_DEV_IRQ_SET_ACTION_TRIGGER 0x20u
#define VFIO_DEV_IRQ_SET_HEAD 20u

/* ---- address ---- */

struct vfio_address {
	enum vfio_transport transport;
	char bdf[16];                             /* "dddd:bb:dd.f", lower case */
	char path[VFIO_DEV_SUN_PATH_MAX + 1];     /* vfio-user socket */
};

/* Parse "pci:DDDD:BB:DD.F" or "vfio-user:PATH". */
int vfio_address_parse(const char *address, struct vfio_address *ret, struct cerr *e);

/* ---- region info ---- */

/* One reply to DEVICE_GET_REGION_INFO, kernel or vfio-user (same layout). */
struct vfio_region_desc {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint64_t size;
	uint64_t offset;       /* mmap/pread base of the region in its fd */
	bool sparse;           /* a sparse-mmap capability was present */
	unsigned nr_areas;     /* areas kept (the first VFIO_DEV_MAX_AREAS) */
	struct {
		uint64_t offset;   /* within the region */
		uint64_t size;
	} areas[VFIO_DEV_MAX_AREAS];
};

/* Parse @len valid bytes of a struct vfio_region_info plus its capability
 * chain. Every offset is checked against @len and a chain that loops is
 * refused; sparse areas must lie inside the region. */
int vfio_region_info_parse(const void *buf, size_t len, struct vfio_region_desc *ret,
			   struct cerr *e);

/* ---- irqs ---- */

/* Build the DEVICE_SET_IRQS argument (struct vfio_irq_set) for vectors
 * start..start+count-1 of @index into @buf.
 *   fds == NULL: DATA_NONE|TRIGGER, which with count 0 unbinds the index;
 *   otherwise DATA_EVENTFD|TRIGGER, and with @inline_fds (kernel) the fds
 *   follow the head as int32s; without (vfio-user) they travel as
 *   SCM_RIGHTS and argsz covers the head alone.
 * Returns the argument's size (= argsz) or -EINVAL / -ENOSPC. */
ssize_t vfio_irq_set_build(void *buf, size_t bufsz, uint32_t index, uint32_t start,
			   uint32_t count, const int *fds, bool inline_fds);

/* ---- transports ---- */

struct vfio_dev_ops {
	/* Ask for region @index's info into @buf (@len bytes, argsz = @len).
	 * *ret_len: valid bytes in @buf. *ret_fd: an fd the caller owns to
	 * mmap areas from (at desc.offset + area.offset), or -1. */
	int (*region_info)(struct vfio_dev *dev, unsigned index, void *buf, size_t len,
			   size_t *ret_len, int *ret_fd, struct cerr *e);
	int (*region_read)(struct vfio_dev *dev, unsigned index, uint64_t offset,
			   void *buf, size_t len, struct cerr *e);
	int (*region_write)(struct vfio_dev *dev, unsigned index, uint64_t offset,
			    const void *buf, size_t len, struct cerr *e);
	/* vfio_dev_read_batch() of checked reads none of which lies in a
	 * mapped area; NULL: one region_read after the other */
	int (*region_read_batch)(struct vfio_dev *dev, const struct vfio_dev_read *reads,
				 unsigned n, struct cerr *e);
	int (*region_write_posted)(struct vfio_dev *dev, unsigned index, uint64_t offset,
				   const void *buf, size_t len, struct cerr *e);
	/* Before an access to a mapped area: have every posted write done
	 * (any thread; cheap when none is pending). NULL: nothing is posted */
	int (*flush_posted)(struct vfio_dev *dev, struct cerr *e);
	int (*irq_info)(struct vfio_dev *dev, unsigned index, uint32_t *ret_flags,
			uint32_t *ret_count, struct cerr *e);
	/* One DEVICE_SET_IRQS with @arg from vfio_irq_set_build() and, for
	 * vfio-user, @nfds fds to pass along (at most irq_max_fds). */
	int (*set_irqs)(struct vfio_dev *dev, const void *arg, size_t arglen,
			const int *fds, unsigned nfds, struct cerr *e);
	int (*dma_map)(struct vfio_dev *dev, uint64_t iova, uint64_t size, void *vaddr,
		       int fd, uint64_t fd_offset, struct cerr *e);
	int (*dma_unmap)(struct vfio_dev *dev, uint64_t iova, uint64_t size, struct cerr *e);
	int (*reset)(struct vfio_dev *dev, struct cerr *e);
	/* vfio_dev_lost_fd() and vfio_dev_lost_reason(); NULL: none */
	int (*lost_fd)(const struct vfio_dev *dev, bool *ret_readable);
	void (*lost_reason)(struct vfio_dev *dev, char *buf, size_t len);
	/* Drop DMA mappings (if the channel still works), close every fd,
	 * free the private state. */
	void (*close)(struct vfio_dev *dev);
};

struct vfio_region_map {
	void *base;      /* what mmap() returned */
	size_t len;
};

struct vfio_dev {
	char address[VFIO_DEV_ADDRESS_MAX];
	enum vfio_transport transport;
	const struct vfio_dev_ops *ops;
	void *priv;                      /* the transport's state */
	int timeout_ms;

	/* filled by the transport's open */
	uint32_t flags;                  /* VFIO_DEVICE_FLAGS_* */
	unsigned num_regions;
	unsigned num_irqs;
	bool irq_inline_fds;             /* kernel: fds inside vfio_irq_set */
	unsigned irq_max_fds;            /* vfio-user: fds per SET_IRQS */
	bool posted_writes;              /* transport can skip waiting */
	bool region_fds_untrusted;       /* vfio-user: the server may shrink a
					  * region fd after we map it, so only
					  * fds sealed against it are mapped */

	/* filled by vfio_regions_load() */
	struct vfio_region *regions;     /* num_regions entries */
	uint64_t *region_offsets;        /* desc.offset per region */
	struct vfio_region_map (*maps)[VFIO_DEV_MAX_AREAS];
	int *region_fds;                 /* per region: the fd its areas were
					  * mapped from, kept for
					  * vfio_dev_region_mmap_fd(); -1 when
					  * nothing of it is mapped */
	const char **region_nomap;       /* per region: why nothing of it is
					  * mapped (static text), or NULL */

	pthread_mutex_t irq_lock;
	uint64_t irq_bound;              /* bit per irq index with vectors bound */

	/* ranges whose unmap failed, to unmap again (under dma_lock) */
	pthread_mutex_t dma_lock;
	unsigned n_stale;
	struct {
		uint64_t iova, size;
	} stale[VFIO_DEV_STALE_LIMIT];
	/* vfio_dev_counters(); added to by the transport, any thread */
	_Atomic uint64_t round_trips;
	_Atomic uint64_t round_trip_ns;
	_Atomic uint64_t posted;
	_Atomic uint64_t posted_ns;
};

/* vfio-region.c: read every region's info, mmap its areas; undo. */
int vfio_regions_load(struct vfio_dev *dev, struct cerr *e);
void vfio_regions_unload(struct vfio_dev *dev);

/* Region access behind the public read/write calls; messages lack the
 * device address (the caller adds it). */
int vfio_region_access(struct vfio_dev *dev, unsigned index, uint64_t offset, void *buf,
		       size_t len, bool write, bool posted, struct cerr *e);

/* Transport constructors: fill dev->ops, dev->priv and the fields above
 * "filled by the transport's open". On failure nothing is left open. */
int vfio_kernel_open(struct vfio_dev *dev, const char *bdf, struct cerr *e);
int vfio_user_open(struct vfio_dev *dev, const char *path, struct cerr *e);
/* The kernel transport's device fd (vfio_dev_kernel_handle()). */
int vfio_kernel_device_fd(const struct vfio_dev *dev);

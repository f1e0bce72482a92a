/* The kernel VFIO transport: one type1 container per device (as DPDK's IFCVF
 * driver does), the group from sysfs, and the device fd's ioctls, pread and
 * pwrite. While it holds the function, its bus mastering is on (vfio-pci
 * leaves that to the user). Everything above the ioctls (region table, mmap,
 * irq chunking) is the shared core's.
 *
 * Threads: the fds are set at open and closed at close; ioctls and
 * pread/pwrite on them need no lock of ours. */
#include "vfio-dev-private.h"
#include "vfio-kernel.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

struct vk_dev {
	int container;
	int group;
	int device;
	unsigned group_no;
	uint64_t config_offset;   /* of the config region in the device fd */
	bool master;              /* we turned bus mastering on */
	int req_fd;               /* eventfd of the request interrupt, or -1 */
	int err_fd;               /* eventfd of the error interrupt, or -1 */
	int lost_ep;              /* epoll over both: readable when either fired */
};

/* PCI command register (PCI Local Bus 3.0 §6.2.2) */
#define PCI_COMMAND_OFFSET 0x04u
#define PCI_COMMAND_MEMORY_BIT 0x2u
#define PCI_COMMAND_MASTER_BIT 0x4u

static struct vk_dev *vk(struct vfio_dev *dev)
{
	return dev->priv;
}

/* ---- sysfs ---- */

/* The last component of the symlink @path's target. */
static int link_basename(const char *path, char *buf, size_t len)
{
	char target[PATH_MAX];
	const char *base;
	ssize_t n = readlink(path, target, sizeof(target) - 1);

	if (n < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= len || !*base)
		return -EINVAL;
	memcpy(buf, base, strlen(base) + 1);
	return 0;
}

int vfio_kernel_iommu_group(const char *sysfs_root, const char *bdf, unsigned *ret_group,
			    struct cerr *e)
{
	char dir[PATH_MAX - 32], path[PATH_MAX], name[256];
	unsigned long group;
	struct stat st;
	char *end;
	int n, r;

	n = snprintf(dir, sizeof(dir), "%s/bus/pci/devices/%s", sysfs_root, bdf);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return cerr_set(e, ENAMETOOLONG, "the sysfs root %.64s... is too long", sysfs_root);
	if (stat(dir, &st) < 0)
		return cerr_set(e, ENODEV, "no such PCI device (%s: %s)", dir, strerror(errno));

	snprintf(path, sizeof(path), "%s/driver", dir);
	r = link_basename(path, name, sizeof(name));
	if (r == -ENOENT)
		return cerr_set(e, ENODEV, "the device is not bound to any driver (bind it to vfio-pci)");
	if (r < 0)
		return cerr_set(e, -r, "cannot read %s: %s", path, strerror(-r));
	if (strcmp(name, "vfio-pci"))
		return cerr_set(e, EBUSY, "the device is bound to %s, not vfio-pci", name);

	snprintf(path, sizeof(path), "%s/iommu_group", dir);
	r = link_basename(path, name, sizeof(name));
	if (r == -ENOENT)
		return cerr_set(e, ENODEV, "the device has no IOMMU group (is the IOMMU enabled?)");
	if (r < 0)
		return cerr_set(e, -r, "cannot read %s: %s", path, strerror(-r));
	errno = 0;
	group = strtoul(name, &end, 10);
	if (errno || *end || end == name || group > INT_MAX)
		return cerr_set(e, EINVAL, "%s points to \"%s\", not a group number", path, name);
	*ret_group = (unsigned)group;
	return 0;
}

/* ---- open ---- */

static int open_dev_node(const char *path, struct cerr *e)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd >= 0)
		return fd;
	if (errno == ENOENT)
		return cerr_set(e, ENOENT, "%s does not exist (no kernel VFIO: is vfio-pci loaded?)",
				path);
	if (errno == EACCES || errno == EPERM)
		return cerr_set(e, errno, "permission denied opening %s", path);
	return cerr_set(e, errno, "cannot open %s: %s", path, strerror(errno));
}

static int setup_container(struct vk_dev *k, const char *dev_dir, struct cerr *e)
{
	char path[PATH_MAX];
	int r;

	snprintf(path, sizeof(path), "%s/vfio", dev_dir);
	k->container = open_dev_node(path, e);
	if (k->container < 0)
		return k->container;
	r = ioctl(k->container, VFIO_GET_API_VERSION);
	if (r < 0)
		return cerr_set(e, errno, "VFIO_GET_API_VERSION on %s: %s", path, strerror(errno));
	if (r != VFIO_API_VERSION)
		return cerr_set(e, EINVAL, "%s speaks VFIO API %d, not %d", path, r,
				VFIO_API_VERSION);
	if (ioctl(k->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0)
		return VFIO_TYPE1v2_IOMMU;
	if (ioctl(k->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) > 0)
		return VFIO_TYPE1_IOMMU;
	return cerr_set(e, ENOTSUP, "%s offers no type1 IOMMU", path);
}

static int setup_group(struct vk_dev *k, const char *dev_dir, int iommu_type,
		       struct cerr *e)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%u", dev_dir, k->group_no);
	k->group = open(path, O_RDWR | O_CLOEXEC);
	if (k->group < 0) {
		if (errno == EBUSY)
			return cerr_set(e, EBUSY, "group %u is busy: another process or container holds %s",
					k->group_no, path);
		return open_dev_node(path, e);
	}
	if (ioctl(k->group, VFIO_GROUP_GET_STATUS, &status) < 0)
		return cerr_set(e, errno, "VFIO_GROUP_GET_STATUS on group %u: %s", k->group_no,
				strerror(errno));
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE))
		return cerr_set(e, EBUSY,
				"group %u is not viable: every device in it must be bound to vfio-pci or to no driver",
				k->group_no);
	if (ioctl(k->group, VFIO_GROUP_SET_CONTAINER, &k->container) < 0)
		return cerr_set(e, errno, "VFIO_GROUP_SET_CONTAINER for group %u: %s", k->group_no,
				strerror(errno));
	if (ioctl(k->container, VFIO_SET_IOMMU, iommu_type) < 0)
		return cerr_set(e, errno, "VFIO_SET_IOMMU (type %d) for group %u: %s", iommu_type,
				k->group_no, strerror(errno));
	return 0;
}

/* ---- the command register ---- */

static int read_command(struct vk_dev *k, uint16_t *ret, struct cerr *e)
{
	uint16_t raw;
	ssize_t n = pread(k->device, &raw, sizeof(raw),
			  (off_t)(k->config_offset + PCI_COMMAND_OFFSET));

	if (n != (ssize_t)sizeof(raw))
		return cerr_set(e, n < 0 ? errno : EIO, "cannot read the PCI command register: %s",
				n < 0 ? strerror(errno) : "short read");
	*ret = le16toh(raw);
	return 0;
}

static int write_command(struct vk_dev *k, uint16_t cmd, struct cerr *e)
{
	uint16_t raw = htole16(cmd);
	ssize_t n = pwrite(k->device, &raw, sizeof(raw),
			   (off_t)(k->config_offset + PCI_COMMAND_OFFSET));

	if (n != (ssize_t)sizeof(raw))
		return cerr_set(e, n < 0 ? errno : EIO, "cannot write the PCI command register: %s",
				n < 0 ? strerror(errno) : "short write");
	return 0;
}

/* vfio-pci hands the function over with bus mastering off (enabling it is
 * the user's job, as in DPDK's and QEMU's PCI layers): without it every DMA
 * of the device is dropped, silently. Memory decoding is needed for the
 * BARs. Both must read back set. */
static int enable_bus_master(struct vk_dev *k, struct cerr *e)
{
	const uint16_t want = PCI_COMMAND_MEMORY_BIT | PCI_COMMAND_MASTER_BIT;
	struct vfio_region_info info = { .argsz = sizeof(info),
					 .index = VFIO_PCI_CONFIG_REGION_INDEX };
	uint16_t cmd;
	int r;

	if (ioctl(k->device, VFIO_DEVICE_GET_REGION_INFO, &info) < 0)
		return cerr_set(e, errno, "VFIO_DEVICE_GET_REGION_INFO for the config space: %s",
				strerror(errno));
	k->config_offset = info.offset;
	if ((r = read_command(k, &cmd, e)) < 0)
		return r;
	if ((cmd & want) == want)
		return 0;
	if ((r = write_command(k, cmd | want, e)) < 0)
		return r;
	k->master = true;
	if ((r = read_command(k, &cmd, e)) < 0)
		return r;
	if ((cmd & want) != want)
		return cerr_set(e, EIO, "the device does not keep bus mastering and memory decoding on (command 0x%04x)",
				cmd);
	return 0;
}

/* At release: no DMA from the device once its mappings are gone. */
static void disable_bus_master(struct vk_dev *k)
{
	uint16_t cmd;

	if (!k->master || read_command(k, &cmd, NULL) < 0)
		return;
	(void)write_command(k, cmd & (uint16_t)~PCI_COMMAND_MASTER_BIT, NULL);
	k->master = false;
}

/* Bind irq @index's one vector to a new eventfd; -1 when the device has no
 * such interrupt or the kernel refuses (older kernels, a function that is not
 * PCIe for ERR): the device then works without that warning. */
static int bind_notice_irq(struct vk_dev *k, unsigned index)
{
	struct vfio_irq_info info = { .argsz = sizeof(info), .index = index };
	union {
		struct vfio_irq_set set;
		uint8_t buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	} u;
	int32_t fd32;
	int fd;

	if (ioctl(k->device, VFIO_DEVICE_GET_IRQ_INFO, &info) < 0 || info.count < 1 ||
	    !(info.flags & VFIO_IRQ_INFO_EVENTFD))
		return -1;
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return -1;
	memset(&u, 0, sizeof(u));
	u.set.argsz = sizeof(u.buf);
	u.set.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	u.set.index = index;
	u.set.start = 0;
	u.set.count = 1;
	fd32 = fd;
	memcpy(u.set.data, &fd32, sizeof(fd32));
	if (ioctl(k->device, VFIO_DEVICE_SET_IRQS, &u.set) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void unbind_notice_irq(struct vk_dev *k, unsigned index, int *fd)
{
	struct vfio_irq_set set = { .argsz = sizeof(set),
				    .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
				    .index = index };

	if (*fd < 0)
		return;
	if (k->device >= 0)
		(void)ioctl(k->device, VFIO_DEVICE_SET_IRQS, &set);
	close(*fd);
	*fd = -1;
}

/* The request interrupt (the kernel asks for the device back: hot removal,
 * unbind) and the error interrupt (an uncorrectable AER error), both behind
 * one epoll fd for vfio_dev_lost_fd(). */
static void bind_lost_irqs(struct vk_dev *k)
{
	k->req_fd = bind_notice_irq(k, VFIO_PCI_REQ_IRQ_INDEX);
	k->err_fd = bind_notice_irq(k, VFIO_PCI_ERR_IRQ_INDEX);
	if (k->req_fd < 0 && k->err_fd < 0)
		return;
	k->lost_ep = epoll_create1(EPOLL_CLOEXEC);
	for (int i = 0; i < 2 && k->lost_ep >= 0; i++) {
		int fd = i ? k->err_fd : k->req_fd;
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

		if (fd >= 0 && epoll_ctl(k->lost_ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(k->lost_ep);
			k->lost_ep = -1;
		}
	}
}

static void vk_free(struct vk_dev *k)
{
	if (k->lost_ep >= 0)
		close(k->lost_ep);
	unbind_notice_irq(k, VFIO_PCI_REQ_IRQ_INDEX, &k->req_fd);
	unbind_notice_irq(k, VFIO_PCI_ERR_IRQ_INDEX, &k->err_fd);
	/* device before group before container: each holds the next */
	if (k->device >= 0)
		close(k->device);
	if (k->group >= 0)
		close(k->group);
	if (k->container >= 0)
		close(k->container);
	free(k);
}

/* ---- ops ---- */

static int vk_region_info(struct vfio_dev *dev, unsigned index, void *buf, size_t len,
			  size_t *ret_len, int *ret_fd, struct cerr *e)
{
	struct vfio_region_info info = { .argsz = (uint32_t)len, .index = index };
	int fd = vk(dev)->device;

	*ret_len = 0;
	*ret_fd = -1;
	memcpy(buf, &info, sizeof(info));
	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, buf) < 0) {
		/* vfio-pci refuses the VGA index on devices without VGA: absent */
		if (errno == EINVAL && index == VFIO_PCI_VGA_REGION_INDEX) {
			memcpy(buf, &info, sizeof(info));
			*ret_len = sizeof(info);
			return 0;
		}
		return cerr_set(e, errno, "VFIO_DEVICE_GET_REGION_INFO for region %u: %s", index,
				strerror(errno));
	}
	*ret_len = len;
	memcpy(&info, buf, sizeof(info));
	/* the core closes what it gets; areas are mmapped from the device fd */
	if (info.flags & VFIO_REGION_INFO_FLAG_MMAP) {
		*ret_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (*ret_fd < 0)
			return cerr_set(e, errno, "cannot duplicate the device fd: %s",
					strerror(errno));
	}
	return 0;
}

static int vk_region_read(struct vfio_dev *dev, unsigned index, uint64_t offset, void *buf,
			  size_t len, struct cerr *e)
{
	ssize_t n = pread(vk(dev)->device, buf, len,
			  (off_t)(dev->region_offsets[index] + offset));

	if (n < 0)
		return cerr_set(e, errno, "read of %zu bytes at 0x%llx in region %u: %s", len,
				(unsigned long long)offset, index, strerror(errno));
	if ((size_t)n != len)
		return cerr_set(e, EIO, "read of %zu bytes at 0x%llx in region %u returned %zd",
				len, (unsigned long long)offset, index, n);
	return 0;
}

static int vk_region_write(struct vfio_dev *dev, unsigned index, uint64_t offset,
			   const void *buf, size_t len, struct cerr *e)
{
	ssize_t n = pwrite(vk(dev)->device, buf, len,
			   (off_t)(dev->region_offsets[index] + offset));

	if (n < 0)
		return cerr_set(e, errno, "write of %zu bytes at 0x%llx in region %u: %s", len,
				(unsigned long long)offset, index, strerror(errno));
	if ((size_t)n != len)
		return cerr_set(e, EIO, "write of %zu bytes at 0x%llx in region %u returned %zd",
				len, (unsigned long long)offset, index, n);
	return 0;
}

static int vk_irq_info(struct vfio_dev *dev, unsigned index, uint32_t *ret_flags,
		       uint32_t *ret_count, struct cerr *e)
{
	struct vfio_irq_info info = { .argsz = sizeof(info), .index = index };

	if (ioctl(vk(dev)->device, VFIO_DEVICE_GET_IRQ_INFO, &info) < 0)
		return cerr_set(e, errno, "VFIO_DEVICE_GET_IRQ_INFO for irq %u: %s", index,
				strerror(errno));
	*ret_flags = info.flags;
	*ret_count = info.count;
	return 0;
}

static int vk_set_irqs(struct vfio_dev *dev, const void *arg, size_t arglen, const int *fds,
		       unsigned nfds, struct cerr *e)
{
	struct vfio_irq_set head;

	memcpy(&head, arg, sizeof(head));
	if (ioctl(vk(dev)->device, VFIO_DEVICE_SET_IRQS, arg) < 0)
		return cerr_set(e, errno, "VFIO_DEVICE_SET_IRQS for irq %u vectors %u+%u: %s",
				head.index, head.start, head.count, strerror(errno));
	return 0;
}

static int vk_dma_map(struct vfio_dev *dev, uint64_t iova, uint64_t size, void *vaddr,
		      int fd, uint64_t fd_offset, struct cerr *e)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)vaddr,
		.iova = iova,
		.size = size,
	};

	if (ioctl(vk(dev)->container, VFIO_IOMMU_MAP_DMA, &map) < 0)
		return cerr_set(e, errno, "VFIO_IOMMU_MAP_DMA of iova 0x%llx size 0x%llx: %s",
				(unsigned long long)iova, (unsigned long long)size,
				strerror(errno));
	return 0;
}

static int vk_dma_unmap(struct vfio_dev *dev, uint64_t iova, uint64_t size, struct cerr *e)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = iova,
		.size = size,
	};

	if (ioctl(vk(dev)->container, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0)
		return cerr_set(e, errno, "VFIO_IOMMU_UNMAP_DMA of iova 0x%llx size 0x%llx: %s",
				(unsigned long long)iova, (unsigned long long)size,
				strerror(errno));
	if (unmap.size != size)
		return cerr_set(e, EINVAL,
				"VFIO_IOMMU_UNMAP_DMA of iova 0x%llx size 0x%llx unmapped 0x%llx bytes",
				(unsigned long long)iova, (unsigned long long)size,
				(unsigned long long)unmap.size);
	return 0;
}

static int vk_reset(struct vfio_dev *dev, struct cerr *e)
{
	if (ioctl(vk(dev)->device, VFIO_DEVICE_RESET) < 0)
		return cerr_set(e, errno, "VFIO_DEVICE_RESET: %s", strerror(errno));
	return 0;
}

static void vk_close(struct vfio_dev *dev)
{
	/* the device stops mastering first; closing the container then
	 * drops its DMA mappings */
	disable_bus_master(vk(dev));
	vk_free(vk(dev));
	dev->priv = NULL;
}

static int vk_lost_fd(const struct vfio_dev *dev, bool *ret_readable)
{
	*ret_readable = true;
	return ((const struct vk_dev *)dev->priv)->lost_ep;
}

static bool fired(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void vk_lost_reason(struct vfio_dev *dev, char *buf, size_t len)
{
	struct vk_dev *k = vk(dev);

	if (fired(k->req_fd))
		snprintf(buf, len, "device removed (request interrupt)");
	else if (fired(k->err_fd))
		snprintf(buf, len, "device failed (error interrupt)");
	else
		snprintf(buf, len, "device lost");
}

static const struct vfio_dev_ops vk_ops = {
	.region_info = vk_region_info,
	.region_read = vk_region_read,
	.region_write = vk_region_write,
	.region_write_posted = vk_region_write,
	.irq_info = vk_irq_info,
	.set_irqs = vk_set_irqs,
	.dma_map = vk_dma_map,
	.dma_unmap = vk_dma_unmap,
	.reset = vk_reset,
	.lost_fd = vk_lost_fd,
	.lost_reason = vk_lost_reason,
	.close = vk_close,
};

int vfio_kernel_open(struct vfio_dev *dev, const char *bdf, struct cerr *e)
{
	const char *sysfs_root = getenv(VFIO_KERNEL_SYSFS_ENV);
	const char *dev_dir = getenv(VFIO_KERNEL_DEV_DIR_ENV);
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vk_dev *k;
	int r, type;

	if (!sysfs_root || !*sysfs_root)
		sysfs_root = "/sys";
	if (!dev_dir || !*dev_dir)
		dev_dir = "/dev/vfio";
	k = calloc(1, sizeof(*k));
	if (!k)
		return cerr_set(e, ENOMEM, "out of memory");
	k->container = k->group = k->device = -1;
	k->req_fd = k->err_fd = k->lost_ep = -1;
	r = vfio_kernel_iommu_group(sysfs_root, bdf, &k->group_no, e);
	if (r < 0)
		goto fail;
	type = setup_container(k, dev_dir, e);
	if (type < 0) {
		r = type;
		goto fail;
	}
	r = setup_group(k, dev_dir, type, e);
	if (r < 0)
		goto fail;
	k->device = ioctl(k->group, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (k->device < 0) {
		r = cerr_set(e, errno, "VFIO_GROUP_GET_DEVICE_FD in group %u: %s", k->group_no,
			     strerror(errno));
		goto fail;
	}
	if (ioctl(k->device, VFIO_DEVICE_GET_INFO, &info) < 0) {
		r = cerr_set(e, errno, "VFIO_DEVICE_GET_INFO: %s", strerror(errno));
		goto fail;
	}
	if (!(info.flags & VFIO_DEVICE_FLAGS_PCI)) {
		r = cerr_set(e, ENODEV, "vfio-pci reports a device that is not PCI (flags 0x%x)",
			     info.flags);
		goto fail;
	}
	r = enable_bus_master(k, e);
	if (r < 0)
		goto fail;
	bind_lost_irqs(k);
	dev->ops = &vk_ops;
	dev->priv = k;
	dev->flags = info.flags;
	dev->num_regions = info.num_regions;
	dev->num_irqs = info.num_irqs;
	dev->irq_inline_fds = true;
	dev->irq_max_fds = 0;
	dev->posted_writes = false;
	return 0;
fail:
	disable_bus_master(k);
	vk_free(k);
	return r;
}

int vfio_kernel_device_fd(const struct vfio_dev *dev)
{
	return ((const struct vk_dev *)dev->priv)->device;
}

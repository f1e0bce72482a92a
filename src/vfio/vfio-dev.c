/* The shared core of vfio-dev.h: address parsing, open/close, and the calls
 * that only forward to a transport after checking their arguments (irqs,
 * DMA, reset). Region access lives in vfio-region.c. */
#include "vfio-dev-private.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCI_PREFIX "pci:"
#define USER_PREFIX "vfio-user:"

/* ---- address ---- */

/* @n hex digits at @s; returns the value or -1. */
static long parse_hex(const char *s, unsigned n)
{
	long v = 0;

	for (unsigned i = 0; i < n; i++) {
		char c = s[i];
		int d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	return v;
}

static int parse_bdf(const char *address, const char *s, struct vfio_address *ret,
		     struct cerr *e)
{
	long dom, bus, slot, fn;

	/* DDDD:BB:DD.F, exactly 12 characters */
	if (strlen(s) != 12 || s[4] != ':' || s[7] != ':' || s[10] != '.')
		return cerr_set(e, EINVAL,
				"invalid device address \"%.128s\": expected pci:DDDD:BB:DD.F (hex)",
				address);
	dom = parse_hex(s, 4);
	bus = parse_hex(s + 5, 2);
	slot = parse_hex(s + 8, 2);
	fn = parse_hex(s + 11, 1);
	if (dom < 0 || bus < 0 || slot < 0 || fn < 0)
		return cerr_set(e, EINVAL,
				"invalid device address \"%.128s\": expected hex digits in pci:DDDD:BB:DD.F",
				address);
	if (slot > 0x1f)
		return cerr_set(e, EINVAL,
				"invalid device address \"%.128s\": device number 0x%02lx is larger than 0x1f",
				address, slot);
	if (fn > 7)
		return cerr_set(e, EINVAL,
				"invalid device address \"%.128s\": function number %ld is larger than 7",
				address, fn);
	ret->transport = VFIO_TRANSPORT_KERNEL;
	/* sysfs and VFIO_GROUP_GET_DEVICE_FD spell it in lower case */
	snprintf(ret->bdf, sizeof(ret->bdf), "%04lx:%02lx:%02lx.%lx", dom, bus, slot, fn);
	return 0;
}

int vfio_address_parse(const char *address, struct vfio_address *ret, struct cerr *e)
{
	size_t n;

	memset(ret, 0, sizeof(*ret));
	if (!address)
		return cerr_set(e, EINVAL, "no device address given");
	if (!strncmp(address, PCI_PREFIX, strlen(PCI_PREFIX)))
		return parse_bdf(address, address + strlen(PCI_PREFIX), ret, e);
	if (strncmp(address, USER_PREFIX, strlen(USER_PREFIX)))
		return cerr_set(e, EINVAL,
				"invalid device address \"%.128s\": expected pci:DDDD:BB:DD.F or vfio-user:PATH",
				address);
	n = strlen(address + strlen(USER_PREFIX));
	if (n == 0)
		return cerr_set(e, EINVAL,
				"invalid device address \"%s\": the socket path is empty", address);
	if (n > VFIO_DEV_SUN_PATH_MAX)
		return cerr_set(e, EINVAL,
				"invalid device address \"%.128s...\": the socket path is %zu bytes, more than the %u a UNIX socket allows",
				address, n, VFIO_DEV_SUN_PATH_MAX);
	ret->transport = VFIO_TRANSPORT_USER;
	memcpy(ret->path, address + strlen(USER_PREFIX), n + 1);
	return 0;
}

/* ---- open / close ---- */

int vfio_dev_open(const char *address, const struct vfio_dev_options *opts,
		  struct vfio_dev **ret, struct cerr *e)
{
	struct vfio_address addr;
	struct vfio_dev *dev;
	int r;

	*ret = NULL;
	r = vfio_address_parse(address, &addr, e);
	if (r < 0)
		return r;
	if (opts && opts->timeout_ms < 0)
		return cerr_set(e, EINVAL, "%s: negative timeout %d ms", address,
				opts->timeout_ms);
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return cerr_set(e, ENOMEM, "%s: out of memory", address);
	snprintf(dev->address, sizeof(dev->address), "%s", address);
	dev->transport = addr.transport;
	dev->timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms
						   : VFIO_DEV_DEFAULT_TIMEOUT_MS;
	pthread_mutex_init(&dev->irq_lock, NULL);
	pthread_mutex_init(&dev->dma_lock, NULL);

	if (addr.transport == VFIO_TRANSPORT_KERNEL)
		r = vfio_kernel_open(dev, addr.bdf, e);
	else
		r = vfio_user_open(dev, addr.path, e);
	if (r < 0)
		goto fail;
	if (dev->num_regions > VFIO_DEV_REGION_LIMIT || dev->num_irqs > VFIO_DEV_IRQ_LIMIT) {
		r = cerr_set(e, EPROTO,
			     "the device reports %u regions and %u irq types, more than the %u and %u supported",
			     dev->num_regions, dev->num_irqs, VFIO_DEV_REGION_LIMIT,
			     VFIO_DEV_IRQ_LIMIT);
		goto fail_transport;
	}
	r = vfio_regions_load(dev, e);
	if (r < 0)
		goto fail_transport;
	*ret = dev;
	return 0;

fail_transport:
	dev->ops->close(dev);
fail:
	cerr_prefix(e, "%s", address);
	pthread_mutex_destroy(&dev->irq_lock);
	pthread_mutex_destroy(&dev->dma_lock);
	free(dev);
	return r;
}

void vfio_dev_close(struct vfio_dev *dev)
{
	if (!dev)
		return;
	/* interrupts first, so the device stops signalling fds we give back */
	for (unsigned i = 0; i < dev->num_irqs && i < 64; i++)
		if (dev->irq_bound & (1ull << i))
			(void)vfio_dev_disable_irqs(dev, i, NULL);
	vfio_regions_unload(dev);
	dev->ops->close(dev);
	pthread_mutex_destroy(&dev->irq_lock);
	pthread_mutex_destroy(&dev->dma_lock);
	free(dev);
}

const char *vfio_dev_address(const struct vfio_dev *dev)
{
	return dev->address;
}

enum vfio_transport vfio_dev_transport(const struct vfio_dev *dev)
{
	return dev->transport;
}

int vfio_dev_lost_fd(const struct vfio_dev *dev, bool *ret_readable)
{
	*ret_readable = false;
	return dev->ops->lost_fd ? dev->ops->lost_fd(dev, ret_readable) : -1;
}

void vfio_dev_lost_reason(struct vfio_dev *dev, char *buf, size_t len)
{
	if (dev->ops->lost_reason)
		dev->ops->lost_reason(dev, buf, len);
	else
		snprintf(buf, len, "device lost");
}

unsigned vfio_dev_num_regions(const struct vfio_dev *dev)
{
	return dev->num_regions;
}

unsigned vfio_dev_num_irqs(const struct vfio_dev *dev)
{
	return dev->num_irqs;
}

/* ---- irqs ---- */

ssize_t vfio_irq_set_build(void *buf, size_t bufsz, uint32_t index, uint32_t start,
			   uint32_t count, const int *fds, bool inline_fds)
{
	struct irq_set_head {
		uint32_t argsz, flags, index, start, count;
	} head;
	size_t size = VFIO_DEV_IRQ_SET_HEAD;

	_Static_assert(sizeof(head) == VFIO_DEV_IRQ_SET_HEAD, "vfio_irq_set head");
	if (fds && count == 0)
		return -EINVAL;
	if (!fds && count != 0)
		return -EINVAL;
	if ((uint64_t)start + count > UINT32_MAX)
		return -EINVAL;
	if (fds && inline_fds) {
		if (count > (UINT32_MAX - size) / sizeof(int32_t))
			return -EINVAL;
		size += (size_t)count * sizeof(int32_t);
	}
	if (size > bufsz)
		return -ENOSPC;
	head.argsz = (uint32_t)size;
	head.flags = (fds ? VFIO_DEV_IRQ_SET_DATA_EVENTFD : VFIO_DEV_IRQ_SET_DATA_NONE) |
		     VFIO_DEV_IRQ_SET_ACTION_TRIGGER;
	head.index = index;
	head.start = start;
	head.count = count;
	memcpy(buf, &head, sizeof(head));
	if (fds && inline_fds)
		for (uint32_t i = 0; i < count; i++) {
			int32_t fd = fds[i] < 0 ? -1 : fds[i];

			memcpy((char *)buf + VFIO_DEV_IRQ_SET_HEAD + i * sizeof(fd), &fd,
			       sizeof(fd));
		}
	return (ssize_t)size;
}

static void mark_irq(struct vfio_dev *dev, unsigned index, bool bound)
{
	if (index >= 64)
		return;
	pthread_mutex_lock(&dev->irq_lock);
	if (bound)
		dev->irq_bound |= 1ull << index;
	else
		dev->irq_bound &= ~(1ull << index);
	pthread_mutex_unlock(&dev->irq_lock);
}

int vfio_dev_irq_count(struct vfio_dev *dev, unsigned index, uint32_t *ret_count,
		       struct cerr *e)
{
	uint32_t flags, count;
	int r;

	*ret_count = 0;
	if (index >= dev->num_irqs)
		return 0;
	r = dev->ops->irq_info(dev, index, &flags, &count, e);
	if (r < 0) {
		cerr_prefix(e, "%s", dev->address);
		return r;
	}
	*ret_count = count;
	return 0;
}

/* One SET_IRQS for a run of vectors; fds go inline or alongside. */
static int set_irqs_once(struct vfio_dev *dev, unsigned index, uint32_t start,
			 uint32_t count, const int *fds, unsigned nfds, struct cerr *e)
{
	size_t len = VFIO_DEV_IRQ_SET_HEAD + (dev->irq_inline_fds ? count * sizeof(int32_t) : 0);
	char small[VFIO_DEV_IRQ_SET_HEAD + 64 * sizeof(int32_t)];
	char *buf = len <= sizeof(small) ? small : malloc(len);
	ssize_t n;
	int r;

	if (!buf)
		return cerr_set(e, ENOMEM, "out of memory for %u irq vectors", count);
	n = vfio_irq_set_build(buf, len, index, start, count, fds, dev->irq_inline_fds);
	if (n < 0)
		r = cerr_set(e, (int)-n, "cannot describe irq %u vectors %u..%u", index, start,
			     start + count - 1);
	else
		r = dev->ops->set_irqs(dev, buf, (size_t)n, fds, nfds, e);
	if (buf != small)
		free(buf);
	return r;
}

/* vfio-user: runs of valid fds, at most irq_max_fds each, and runs of -1
 * (sent without fds, which unbinds them), with start advanced per run. */
static int set_irqs_chunked(struct vfio_dev *dev, unsigned index, uint32_t start,
			    uint32_t count, const int *fds, struct cerr *e)
{
	uint32_t i = 0;

	while (i < count) {
		uint32_t n = 1;
		int r;

		if (fds[i] < 0) {
			while (i + n < count && fds[i + n] < 0)
				n++;
			r = set_irqs_once(dev, index, start + i, n, fds + i, 0, e);
		} else {
			if (dev->irq_max_fds == 0)
				return cerr_set(e, ENOTSUP,
						"the device takes no fds, so irq %u cannot be bound to eventfds",
						index);
			while (i + n < count && n < dev->irq_max_fds && fds[i + n] >= 0)
				n++;
			r = set_irqs_once(dev, index, start + i, n, fds + i, n, e);
		}
		if (r < 0)
			return r;
		i += n;
	}
	return 0;
}

int vfio_dev_set_irq_eventfds(struct vfio_dev *dev, unsigned index, uint32_t start,
			      uint32_t count, const int *fds, struct cerr *e)
{
	bool any = false;
	int r;

	if (index >= dev->num_irqs)
		return cerr_set(e, EINVAL, "%s: irq index %u does not exist (the device has %u)",
				dev->address, index, dev->num_irqs);
	if (count == 0)
		return 0;
	if (!fds || (uint64_t)start + count > UINT32_MAX)
		return cerr_set(e, EINVAL, "%s: invalid irq %u vector range %u+%u",
				dev->address, index, start, count);
	for (uint32_t i = 0; i < count; i++)
		any |= fds[i] >= 0;
	if (dev->irq_inline_fds)
		r = set_irqs_once(dev, index, start, count, fds, 0, e);
	else
		r = set_irqs_chunked(dev, index, start, count, fds, e);
	if (r < 0) {
		cerr_prefix(e, "%s", dev->address);
		return r;
	}
	if (any)
		mark_irq(dev, index, true);
	return 0;
}

int vfio_dev_disable_irqs(struct vfio_dev *dev, unsigned index, struct cerr *e)
{
	int r;

	if (index >= dev->num_irqs)
		return cerr_set(e, EINVAL, "%s: irq index %u does not exist (the device has %u)",
				dev->address, index, dev->num_irqs);
	r = set_irqs_once(dev, index, 0, 0, NULL, 0, e);
	if (r < 0) {
		cerr_prefix(e, "%s", dev->address);
		return r;
	}
	mark_irq(dev, index, false);
	return 0;
}

void vfio_dev_counters(const struct vfio_dev *dev, struct vfio_dev_counters *ret)
{
	ret->round_trips = atomic_load(&dev->round_trips);
	ret->round_trip_ns = atomic_load(&dev->round_trip_ns);
	ret->posted = atomic_load(&dev->posted);
	ret->posted_ns = atomic_load(&dev->posted_ns);
}

/* ---- DMA, reset ---- */

/* Unmap again what the device refused to unmap before; what still fails
 * stays for the next time. Holds dma_lock. */
static void retry_stale_locked(struct vfio_dev *dev)
{
	for (unsigned i = 0; i < dev->n_stale;) {
		struct cerr ce = { 0 };

		if (dev->ops->dma_unmap(dev, dev->stale[i].iova, dev->stale[i].size, &ce) < 0 &&
		    ce.code != EINVAL) {
			i++;
			continue;
		}
		/* unmapped now, or no longer known to the transport */
		dev->stale[i] = dev->stale[--dev->n_stale];
	}
}

int vfio_dev_dma_map(struct vfio_dev *dev, uint64_t iova, uint64_t size, void *vaddr,
		     int fd, uint64_t fd_offset, struct cerr *e)
{
	int r;

	pthread_mutex_lock(&dev->dma_lock);
	retry_stale_locked(dev);
	pthread_mutex_unlock(&dev->dma_lock);

	if (size == 0 || iova + size < iova || !vaddr ||
	    (uintptr_t)vaddr + size < (uintptr_t)vaddr)
		return cerr_set(e, EINVAL, "%s: invalid DMA range iova 0x%llx size 0x%llx vaddr %p",
				dev->address, (unsigned long long)iova,
				(unsigned long long)size, vaddr);
	r = dev->ops->dma_map(dev, iova, size, vaddr, fd, fd_offset, e);
	if (r < 0)
		cerr_prefix(e, "%s", dev->address);
	return r;
}

int vfio_dev_dma_unmap(struct vfio_dev *dev, uint64_t iova, uint64_t size, struct cerr *e)
{
	int r;

	if (size == 0 || iova + size < iova)
		return cerr_set(e, EINVAL, "%s: invalid DMA range iova 0x%llx size 0x%llx",
				dev->address, (unsigned long long)iova,
				(unsigned long long)size);
	r = dev->ops->dma_unmap(dev, iova, size, e);
	if (r < 0) {
		pthread_mutex_lock(&dev->dma_lock);
		if (r != -EINVAL && dev->n_stale < VFIO_DEV_STALE_LIMIT) {
			dev->stale[dev->n_stale].iova = iova;
			dev->stale[dev->n_stale].size = size;
			dev->n_stale++;
		}
		pthread_mutex_unlock(&dev->dma_lock);
		cerr_prefix(e, "%s", dev->address);
	}
	return r;
}

int vfio_dev_reset(struct vfio_dev *dev, struct cerr *e)
{
	int r = dev->ops->reset(dev, e);

	if (r < 0)
		cerr_prefix(e, "%s", dev->address);
	return r;
}

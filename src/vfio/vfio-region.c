/* Regions, shared by both transports: the region-info reply and its
 * capability chain, the region table read at open, mmap of sparse areas, and
 * the access dispatcher (mapped area -> one volatile access of the exact
 * width; anything else -> the transport). */
#include "vfio-dev-private.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

/* A region info reply needing more than this is refused. */
#define REGION_INFO_MAX 65536u
#define REGION_INFO_ATTEMPTS 4

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* ---- region info and its capability chain ---- */

static int parse_sparse(const uint8_t *p, size_t len, uint64_t off,
			struct vfio_region_desc *d, struct cerr *e)
{
	uint32_t nr;

	if (len - off < 16)
		return cerr_set(e, EPROTO,
				"sparse-mmap capability at offset %llu is cut off by the end of the %zu-byte reply",
				(unsigned long long)off, len);
	nr = get32(p + off + 8);
	if (nr > VFIO_DEV_SPARSE_AREA_LIMIT)
		return cerr_set(e, EPROTO,
				"sparse-mmap capability at offset %llu claims %u areas, more than the %u supported",
				(unsigned long long)off, nr, VFIO_DEV_SPARSE_AREA_LIMIT);
	if ((uint64_t)nr * 16 > len - off - 16)
		return cerr_set(e, EPROTO,
				"sparse-mmap capability at offset %llu claims %u areas, more than fit in the %zu-byte reply",
				(unsigned long long)off, nr, len);
	d->sparse = true;
	for (uint32_t i = 0; i < nr; i++) {
		uint64_t aoff = get64(p + off + 16 + 16 * (uint64_t)i);
		uint64_t asize = get64(p + off + 24 + 16 * (uint64_t)i);

		if (aoff > d->size || asize > d->size - aoff)
			return cerr_set(e, EPROTO,
					"sparse area %u (offset 0x%llx size 0x%llx) lies outside the region of size 0x%llx",
					i, (unsigned long long)aoff, (unsigned long long)asize,
					(unsigned long long)d->size);
		/* areas beyond what the public struct holds go through the transport */
		if (asize && d->nr_areas < VFIO_DEV_MAX_AREAS) {
			d->areas[d->nr_areas].offset = aoff;
			d->areas[d->nr_areas].size = asize;
			d->nr_areas++;
		}
	}
	return 0;
}

int vfio_region_info_parse(const void *buf, size_t len, struct vfio_region_desc *ret,
			   struct cerr *e)
{
	const uint8_t *p = buf;
	uint64_t off;
	size_t steps = 0, max_steps;

	memset(ret, 0, sizeof(*ret));
	if (len < VFIO_DEV_REGION_INFO_SIZE)
		return cerr_set(e, EPROTO, "region info of %zu bytes is shorter than the %u-byte head",
				len, VFIO_DEV_REGION_INFO_SIZE);
	ret->argsz = get32(p);
	ret->flags = get32(p + 4);
	ret->index = get32(p + 8);
	off = get32(p + 12);
	ret->size = get64(p + 16);
	ret->offset = get64(p + 24);
	/* the kernel leaves CAPS set with cap_offset 0 when the caps did not fit */
	if (!(ret->flags & VFIO_DEV_REGION_FLAG_CAPS))
		return 0;
	/* caps are at least 8 bytes each, so a longer walk must be a loop */
	max_steps = (len - VFIO_DEV_REGION_INFO_SIZE) / 8 + 1;
	while (off) {
		uint16_t id;
		int r;

		if (off < VFIO_DEV_REGION_INFO_SIZE || off > len - 8)
			return cerr_set(e, EPROTO,
					"capability at offset %llu lies outside the %zu-byte reply",
					(unsigned long long)off, len);
		if (++steps > max_steps)
			return cerr_set(e, EPROTO, "capability chain loops (at offset %llu)",
					(unsigned long long)off);
		id = get16(p + off);
		if (id == VFIO_DEV_CAP_SPARSE_MMAP && !ret->sparse) {
			r = parse_sparse(p, len, off, ret, e);
			if (r < 0)
				return r;
		}
		off = get32(p + off + 4);
	}
	return 0;
}

/* Ask for region @index's info, growing the buffer while the device says
 * it needs more. */
static int fetch_region_info(struct vfio_dev *dev, unsigned index,
			     struct vfio_region_desc *desc, int *ret_fd, struct cerr *e)
{
	size_t len = VFIO_DEV_REGION_INFO_SIZE;
	uint8_t *buf = NULL;
	int r = 0;

	*ret_fd = -1;
	for (int attempt = 0;; attempt++) {
		uint8_t *grown = realloc(buf, len);
		size_t got = 0;
		uint32_t argsz;
		int fd = -1;

		if (!grown) {
			r = cerr_set(e, ENOMEM, "out of memory for region %u info", index);
			break;
		}
		buf = grown;
		memset(buf, 0, len);
		r = dev->ops->region_info(dev, index, buf, len, &got, &fd, e);
		if (r < 0)
			break;
		argsz = got >= 4 ? get32(buf) : 0;
		if (argsz > len) {
			if (fd >= 0)
				close(fd);
			if (argsz > REGION_INFO_MAX || attempt + 1 >= REGION_INFO_ATTEMPTS) {
				r = cerr_set(e, EPROTO,
					     "DEVICE_GET_REGION_INFO for region %u: the reply asks for argsz %u after %d attempts",
					     index, argsz, attempt + 1);
				break;
			}
			len = argsz;
			continue;
		}
		r = vfio_region_info_parse(buf, got < argsz ? got : argsz, desc, e);
		if (r == 0 && desc->index != index)
			r = cerr_set(e, EPROTO, "the reply describes region %u", desc->index);
		if (r < 0) {
			cerr_prefix(e, "DEVICE_GET_REGION_INFO for region %u", index);
			if (fd >= 0)
				close(fd);
			break;
		}
		*ret_fd = fd;
		break;
	}
	free(buf);
	return r;
}

/* Where area @k of region @index lies in the region fd; 0 or EPROTO. */
static int area_file_range(unsigned index, unsigned k, const struct vfio_region_desc *d,
			   uint64_t aoff, uint64_t asize, uint64_t *ret_foff, struct cerr *e)
{
	uint64_t foff = d->offset + aoff;

	if (foff < d->offset || foff + asize < foff || foff + asize > (uint64_t)INT64_MAX)
		return cerr_set(e, EPROTO, "region %u area %u offset 0x%llx overflows", index, k,
				(unsigned long long)foff);
	*ret_foff = foff;
	return 0;
}

static int map_area(struct vfio_dev *dev, unsigned index, unsigned k,
		    const struct vfio_region_desc *d, uint64_t aoff, uint64_t asize, int fd,
		    int prot, struct cerr *e)
{
	struct vfio_region *reg = &dev->regions[index];
	uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t foff = 0, start, delta, len;
	void *p;
	int r;

	if ((r = area_file_range(index, k, d, aoff, asize, &foff, e)) < 0)
		return r;
	start = foff & ~(pg - 1);
	delta = foff - start;
	len = (delta + asize + pg - 1) & ~(pg - 1);
	p = mmap(NULL, len, prot, MAP_SHARED, fd, (off_t)start);
	if (p == MAP_FAILED)
		return cerr_set(e, errno, "cannot mmap region %u area %u (offset 0x%llx size 0x%llx): %s",
				index, k, (unsigned long long)aoff, (unsigned long long)asize,
				strerror(errno));
	dev->maps[index][k].base = p;
	dev->maps[index][k].len = len;
	reg->maps[k].offset = aoff;
	reg->maps[k].size = asize;
	reg->maps[k].addr = (char *)p + delta;
	reg->n_maps = k + 1;
	return 0;
}

/* The areas to map: the sparse ones, or without the cap the whole region. */
static unsigned area_count(const struct vfio_region_desc *d)
{
	return d->sparse ? d->nr_areas : 1;
}

static void area_get(const struct vfio_region_desc *d, unsigned k, uint64_t *aoff,
		     uint64_t *asize)
{
	*aoff = d->sparse ? d->areas[k].offset : 0;
	*asize = d->sparse ? d->areas[k].size : d->size;
}

/* Every area lies within the @fsize bytes of the region fd; 0 or EPROTO. */
static int check_fd_covers(unsigned index, const struct vfio_region_desc *d, uint64_t fsize,
			   struct cerr *e)
{
	for (unsigned k = 0; k < area_count(d); k++) {
		uint64_t aoff, asize, foff = 0;
		int r;

		area_get(d, k, &aoff, &asize);
		if ((r = area_file_range(index, k, d, aoff, asize, &foff, e)) < 0)
			return r;
		if (foff + asize > fsize)
			return cerr_set(e, EPROTO,
					"region %u area %u ends at 0x%llx but the region fd holds only 0x%llx bytes",
					index, k, (unsigned long long)(foff + asize),
					(unsigned long long)fsize);
	}
	return 0;
}

/* A library does not log, but nobody else can tell this: the region works,
 * only slower, because its fd came without the seal. One line per region,
 * at open. The reason is kept for vfio_dev_region_mmap_fd() too. */
static void note_unsealed(struct vfio_dev *dev, unsigned index, const char *why)
{
	fprintf(stderr, "%s: region %u: %s; it is accessed through messages, not mapped\n",
		dev->address, index, why);
	dev->region_nomap[index] = why;
}

/* A memory access to a page past the end of a file raises SIGBUS. A fd
 * from a vfio-user server is the server's: it may shrink the file at any
 * time, even after we checked its size. Only a memfd sealed with
 * F_SEAL_SHRINK keeps its size for good, so only such fds are mapped (1);
 * others are left to message access (0). The size is read after the seal,
 * when it can no longer drop: a fd shorter than the areas it is offered
 * for is a lying server, refused. */
static int check_server_fd(struct vfio_dev *dev, unsigned index,
			   const struct vfio_region_desc *d, int fd, struct cerr *e)
{
	struct statfs sfs;
	struct stat st;
	int seals, r;

	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0) {
		note_unsealed(dev, index, "the server's region fd takes no seals (not a memfd)");
		return 0;
	}
	if (!(seals & F_SEAL_SHRINK)) {
		note_unsealed(dev, index,
			      "the server's region fd is not sealed against shrinking (F_SEAL_SHRINK)");
		return 0;
	}
	/* a hole punched in a hugetlbfs file faults in a new huge page, and
	 * SIGBUS when none is free: the seal does not cover that */
	if (fstatfs(fd, &sfs) == 0 && sfs.f_type == HUGETLBFS_MAGIC) {
		note_unsealed(dev, index, "the server's region fd is on hugetlbfs");
		return 0;
	}
	if (fstat(fd, &st) < 0)
		return cerr_set(e, errno, "region %u: cannot stat the region fd: %s", index,
				strerror(errno));
	r = check_fd_covers(index, d, (uint64_t)st.st_size, e);
	return r < 0 ? r : 1;
}

static int map_region(struct vfio_dev *dev, unsigned index, const struct vfio_region_desc *d,
		      int fd, struct cerr *e)
{
	int prot = 0;
	struct stat st;

	if (d->size == 0) {
		dev->region_nomap[index] = "the device does not implement it";
		return 0;
	}
	if (!(d->flags & VFIO_DEV_REGION_MMAP)) {
		dev->region_nomap[index] = "the device does not offer it for mmap (no MMAP flag)";
		return 0;
	}
	if (fd < 0) {
		dev->region_nomap[index] = "the device handed out no fd to map it from";
		return 0;
	}
	if (d->flags & VFIO_DEV_REGION_READ)
		prot |= PROT_READ;
	if (d->flags & VFIO_DEV_REGION_WRITE)
		prot |= PROT_WRITE;
	if (!prot) {
		dev->region_nomap[index] = "it is neither readable nor writable";
		return 0;
	}
	if (dev->region_fds_untrusted) {
		int r = check_server_fd(dev, index, d, fd, e);

		if (r <= 0)
			return r;
	} else if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		/* a kernel VFIO fd is a device, not a file; a regular file
		 * here (the unit tests' fake) is at least checked once */
		int r = check_fd_covers(index, d, (uint64_t)st.st_size, e);

		if (r < 0)
			return r;
	}
	for (unsigned k = 0; k < area_count(d); k++) {
		uint64_t aoff, asize;
		int r;

		area_get(d, k, &aoff, &asize);
		r = map_area(dev, index, k, d, aoff, asize, fd, prot, e);
		if (r < 0)
			return r;
	}
	return 0;
}

int vfio_regions_load(struct vfio_dev *dev, struct cerr *e)
{
	unsigned n = dev->num_regions ? dev->num_regions : 1;

	dev->regions = calloc(n, sizeof(*dev->regions));
	dev->region_offsets = calloc(n, sizeof(*dev->region_offsets));
	dev->maps = calloc(n, sizeof(*dev->maps));
	dev->region_fds = malloc(n * sizeof(*dev->region_fds));
	dev->region_nomap = calloc(n, sizeof(*dev->region_nomap));
	if (!dev->regions || !dev->region_offsets || !dev->maps || !dev->region_fds ||
	    !dev->region_nomap) {
		vfio_regions_unload(dev);
		return cerr_set(e, ENOMEM, "out of memory for %u regions", n);
	}
	for (unsigned i = 0; i < n; i++)
		dev->region_fds[i] = -1;
	for (unsigned i = 0; i < dev->num_regions; i++) {
		struct vfio_region_desc d;
		int fd, r;

		r = fetch_region_info(dev, i, &d, &fd, e);
		if (r < 0) {
			vfio_regions_unload(dev);
			return r;
		}
		dev->regions[i].size = d.size;
		dev->regions[i].flags = d.flags;
		dev->region_offsets[i] = d.offset;
		r = map_region(dev, i, &d, fd, e);
		/* the fd of a region with mapped areas stays open: a peer may
		 * map the same areas (vfio_dev_region_mmap_fd); a vfio-user fd
		 * gets here only past check_server_fd()'s seal checks */
		if (r == 0 && dev->regions[i].n_maps)
			dev->region_fds[i] = fd;
		else if (fd >= 0)
			close(fd);
		if (r < 0) {
			vfio_regions_unload(dev);
			return r;
		}
		/* a write left in the socket could be overtaken by a store to
		 * mapped memory: without a flush before such a store (the
		 * transport's flush_posted), once anything is mapped nothing is
		 * posted */
		if (dev->regions[i].n_maps && !dev->ops->flush_posted)
			dev->posted_writes = false;
	}
	return 0;
}

void vfio_regions_unload(struct vfio_dev *dev)
{
	if (dev->maps)
		for (unsigned i = 0; i < dev->num_regions; i++)
			for (unsigned k = 0; k < VFIO_DEV_MAX_AREAS; k++)
				if (dev->maps[i][k].base)
					munmap(dev->maps[i][k].base, dev->maps[i][k].len);
	if (dev->region_fds)
		for (unsigned i = 0; i < dev->num_regions; i++)
			if (dev->region_fds[i] >= 0)
				close(dev->region_fds[i]);
	free(dev->region_fds);
	free(dev->region_nomap);
	dev->region_fds = NULL;
	dev->region_nomap = NULL;
	free(dev->maps);
	free(dev->region_offsets);
	free(dev->regions);
	dev->maps = NULL;
	dev->region_offsets = NULL;
	dev->regions = NULL;
}

const struct vfio_region *vfio_dev_region(const struct vfio_dev *dev, unsigned index)
{
	if (index >= dev->num_regions)
		return NULL;
	return &dev->regions[index];
}

/* ---- access ---- */

/* The mapped byte for [off, off+len) if one area holds all of it. */
static void *find_mapped(const struct vfio_region *reg, uint64_t off, size_t len)
{
	for (unsigned k = 0; k < reg->n_maps; k++) {
		uint64_t ao = reg->maps[k].offset, as = reg->maps[k].size;

		if (off >= ao && len <= as && off - ao <= as - len)
			return (char *)reg->maps[k].addr + (off - ao);
	}
	return NULL;
}

/* One access of exactly @len bytes: device registers may act on width. */
static void mmio_copy(void *p, void *buf, size_t len, bool write)
{
	switch (len) {
	case 1: {
		uint8_t v;

		if (write) {
			memcpy(&v, buf, sizeof(v));
			*(volatile uint8_t *)p = v;
		} else {
			v = *(volatile uint8_t *)p;
			memcpy(buf, &v, sizeof(v));
		}
		break;
	}
	case 2: {
		uint16_t v;

		if (write) {
			memcpy(&v, buf, sizeof(v));
			*(volatile uint16_t *)p = v;
		} else {
			v = *(volatile uint16_t *)p;
			memcpy(buf, &v, sizeof(v));
		}
		break;
	}
	case 4: {
		uint32_t v;

		if (write) {
			memcpy(&v, buf, sizeof(v));
			*(volatile uint32_t *)p = v;
		} else {
			v = *(volatile uint32_t *)p;
			memcpy(buf, &v, sizeof(v));
		}
		break;
	}
	default: {
		uint64_t v;

		if (write) {
			memcpy(&v, buf, sizeof(v));
			*(volatile uint64_t *)p = v;
		} else {
			v = *(volatile uint64_t *)p;
			memcpy(buf, &v, sizeof(v));
		}
		break;
	}
	}
}

int vfio_region_access(struct vfio_dev *dev, unsigned index, uint64_t offset, void *buf,
		       size_t len, bool write, bool posted, struct cerr *e)
{
	const char *what = write ? "write" : "read";
	const struct vfio_region *reg;
	void *p;

	if (index >= dev->num_regions)
		return cerr_set(e, EINVAL, "%s of region %u: no such region (the device has %u)",
				what, index, dev->num_regions);
	reg = &dev->regions[index];
	if (reg->size == 0)
		return cerr_set(e, EINVAL, "%s of region %u: the device does not implement it",
				what, index);
	if (!(reg->flags & (write ? VFIO_DEV_REGION_WRITE : VFIO_DEV_REGION_READ)))
		return cerr_set(e, EINVAL, "%s of region %u: the region is not %s", what, index,
				write ? "writable" : "readable");
	if (offset > reg->size || len > reg->size - offset)
		return cerr_set(e, EINVAL,
				"%s of %zu bytes at 0x%llx is outside region %u (size 0x%llx)", what,
				len, (unsigned long long)offset, index,
				(unsigned long long)reg->size);
	if (len == 0)
		return 0;
	if (!buf)
		return cerr_set(e, EINVAL, "%s of region %u: no buffer", what, index);
	if ((len == 1 || len == 2 || len == 4 || len == 8) && offset % len == 0 &&
	    (p = find_mapped(reg, offset, len))) {
		/* a store to mapped memory would overtake a write still in the
		 * socket: those are done first */
		if (dev->posted_writes && dev->ops->flush_posted) {
			int r = dev->ops->flush_posted(dev, e);

			if (r < 0)
				return r;
		}
		mmio_copy(p, buf, len, write);
		return 0;
	}
	if (!write)
		return dev->ops->region_read(dev, index, offset, buf, len, e);
	/* posted socket writes would overtake nothing only if no area is mapped */
	if (posted && dev->posted_writes)
		return dev->ops->region_write_posted(dev, index, offset, buf, len, e);
	return dev->ops->region_write(dev, index, offset, buf, len, e);
}

static int access_named(struct vfio_dev *dev, unsigned region, uint64_t offset, void *buf,
			size_t len, bool write, bool posted, struct cerr *e)
{
	int r = vfio_region_access(dev, region, offset, buf, len, write, posted, e);

	if (r < 0)
		cerr_prefix(e, "%s", dev->address);
	return r;
}

int vfio_dev_read_batch(struct vfio_dev *dev, const struct vfio_dev_read *reads, unsigned n,
			struct cerr *e)
{
	bool batch = dev->ops->region_read_batch && n > 1;
	int r;

	if (n > VFIO_DEV_READ_BATCH_MAX)
		return cerr_set(e, EINVAL, "%s: %u reads in one batch, at most %u", dev->address, n,
				VFIO_DEV_READ_BATCH_MAX);
	for (unsigned i = 0; i < n && batch; i++) {
		const struct vfio_dev_read *q = &reads[i];
		const struct vfio_region *reg = vfio_dev_region(dev, q->region);

		if (q->len == 0 || q->len > 8 || !q->buf)
			return cerr_set(e, EINVAL, "%s: a batched read of %zu bytes", dev->address,
					q->len);
		/* what is mapped, or out of range, goes the ordinary way (which
		 * says what is wrong with it) */
		if (!reg || !(reg->flags & VFIO_DEV_REGION_READ) || q->offset > reg->size ||
		    q->len > reg->size - q->offset || find_mapped(reg, q->offset, q->len))
			batch = false;
	}
	if (!batch) {
		for (unsigned i = 0; i < n; i++)
			if ((r = vfio_dev_read(dev, reads[i].region, reads[i].offset, reads[i].buf,
					       reads[i].len, e)) < 0)
				return r;
		return 0;
	}
	r = dev->ops->region_read_batch(dev, reads, n, e);
	if (r < 0)
		cerr_prefix(e, "%s", dev->address);
	return r;
}

int vfio_dev_read(struct vfio_dev *dev, unsigned region, uint64_t offset, void *buf,
		  size_t len, struct cerr *e)
{
	return access_named(dev, region, offset, buf, len, false, false, e);
}

int vfio_dev_write(struct vfio_dev *dev, unsigned region, uint64_t offset,
		   const void *buf, size_t len, struct cerr *e)
{
	return access_named(dev, region, offset, (void *)buf, len, true, false, e);
}

int vfio_dev_write_posted(struct vfio_dev *dev, unsigned region, uint64_t offset,
			  const void *buf, size_t len, struct cerr *e)
{
	return access_named(dev, region, offset, (void *)buf, len, true, true, e);
}

/* ---- fixed width (device registers are little endian) ---- */

int vfio_dev_read8(struct vfio_dev *dev, unsigned region, uint64_t off, uint8_t *v,
		   struct cerr *e)
{
	return vfio_dev_read(dev, region, off, v, sizeof(*v), e);
}

int vfio_dev_read16(struct vfio_dev *dev, unsigned region, uint64_t off, uint16_t *v,
		    struct cerr *e)
{
	uint16_t raw;
	int r = vfio_dev_read(dev, region, off, &raw, sizeof(raw), e);

	if (r == 0)
		*v = le16toh(raw);
	return r;
}

int vfio_dev_read32(struct vfio_dev *dev, unsigned region, uint64_t off, uint32_t *v,
		    struct cerr *e)
{
	uint32_t raw;
	int r = vfio_dev_read(dev, region, off, &raw, sizeof(raw), e);

	if (r == 0)
		*v = le32toh(raw);
	return r;
}

int vfio_dev_write8(struct vfio_dev *dev, unsigned region, uint64_t off, uint8_t v,
		    struct cerr *e)
{
	return vfio_dev_write(dev, region, off, &v, sizeof(v), e);
}

int vfio_dev_write16(struct vfio_dev *dev, unsigned region, uint64_t off, uint16_t v,
		     struct cerr *e)
{
	uint16_t raw = htole16(v);

	return vfio_dev_write(dev, region, off, &raw, sizeof(raw), e);
}

int vfio_dev_write32(struct vfio_dev *dev, unsigned region, uint64_t off, uint32_t v,
		     struct cerr *e)
{
	uint32_t raw = htole32(v);

	return vfio_dev_write(dev, region, off, &raw, sizeof(raw), e);
}

/* ---- handing a mappable range to a peer ---- */

int vfio_dev_region_mmap_fd(const struct vfio_dev *dev, unsigned index, uint64_t offset,
			    uint64_t len, int *ret_fd, uint64_t *ret_fd_offset, struct cerr *e)
{
	const struct vfio_region *reg;

	*ret_fd = -1;
	*ret_fd_offset = 0;
	if (index >= dev->num_regions)
		return cerr_set(e, EINVAL, "%s: no region %u (the device has %u)", dev->address,
				index, dev->num_regions);
	reg = &dev->regions[index];
	if (len == 0 || offset > reg->size || len > reg->size - offset)
		return cerr_set(e, EINVAL,
				"%s: range 0x%llx+0x%llx is not inside region %u (size 0x%llx)",
				dev->address, (unsigned long long)offset, (unsigned long long)len,
				index, (unsigned long long)reg->size);
	if (dev->region_fds[index] < 0 || reg->n_maps == 0)
		return cerr_set(e, ENOTSUP, "%s: region %u cannot be mapped: %s", dev->address,
				index,
				dev->region_nomap[index] ? dev->region_nomap[index]
							 : "none of its areas is mapped");
	/* the areas we mapped are those the device offers for mmap (its
	 * sparse-mmap areas, or the whole region without that capability);
	 * the range has to lie in one of them, as in find_mapped() */
	for (unsigned k = 0; k < reg->n_maps; k++) {
		uint64_t ao = reg->maps[k].offset, as = reg->maps[k].size;

		if (offset >= ao && len <= as && offset - ao <= as - len) {
			/* as map_area(): the area's fd offset is the region's
			 * plus the area's offset within the region */
			*ret_fd = dev->region_fds[index];
			*ret_fd_offset = dev->region_offsets[index] + offset;
			return 0;
		}
	}
	return cerr_set(e, ENOTSUP,
			"%s: range 0x%llx+0x%llx of region %u lies in none of its %u mappable (sparse-mmap) areas",
			dev->address, (unsigned long long)offset, (unsigned long long)len, index,
			reg->n_maps);
}

int vfio_dev_kernel_handle(const struct vfio_dev *dev, unsigned index, uint64_t offset,
			   int *ret_fd, uint64_t *ret_fd_offset, uint64_t *ret_config_fd_offset)
{
	if (dev->transport != VFIO_TRANSPORT_KERNEL)
		return -ENOTSUP;
	if (index >= dev->num_regions || VFIO_DEV_REGION_CONFIG >= dev->num_regions ||
	    offset >= dev->regions[index].size)
		return -EINVAL;
	*ret_fd = vfio_kernel_device_fd(dev);
	*ret_fd_offset = dev->region_offsets[index] + offset;
	*ret_config_fd_offset = dev->region_offsets[VFIO_DEV_REGION_CONFIG];
	return 0;
}

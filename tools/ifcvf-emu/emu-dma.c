/* DMA map table (see emu-dma.h). */
#include "emu-dma.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void emu_dma_init(struct emu_dma *dma)
{
	dma->maps = NULL;
	dma->n = 0;
	dma->cap = 0;
	dma->hint = 0;
	/* gen is never reset: cached pointers must see every change */
}

/* Index of the first mapping whose end is above @iova (n if none). */
static unsigned first_ending_after(const struct emu_dma *dma, uint64_t iova)
{
	unsigned lo = 0, hi = dma->n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const struct emu_dma_map *m = &dma->maps[mid];

		if (m->iova + m->size <= iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The granule the fd is mapped in: the page size, or the huge page size of
 * a hugetlbfs file (its st_blksize), which mmap() and munmap() of it need. */
static uint64_t map_granule(const struct stat *st)
{
	uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE), bs = (uint64_t)st->st_blksize;

	if (bs > pg && bs <= (1ull << 30) && !(bs & (bs - 1)))
		return bs;
	return pg;
}

static int map_fd(struct emu_dma_map *m, int fd, struct cerr *e)
{
	uint64_t pg, start, len;
	int prot = 0;
	struct stat st;
	void *p;

	/* touching a shared mapping past the end of its file raises SIGBUS, so
	 * refuse a range the file does not cover now; a file shrunk later is
	 * emu-dma-guard.h's business */
	if (fstat(fd, &st) < 0)
		return cerr_set(e, errno, "cannot stat the DMA fd: %s", strerror(errno));
	if (S_ISREG(st.st_mode) && (m->fd_offset > (uint64_t)st.st_size ||
				    m->size > (uint64_t)st.st_size - m->fd_offset))
		return cerr_set(e, EINVAL,
				"DMA range at fd offset 0x%llx size 0x%llx is past the end of "
				"the file (0x%llx bytes)",
				(unsigned long long)m->fd_offset, (unsigned long long)m->size,
				(unsigned long long)st.st_size);
	pg = map_granule(&st);
	start = m->fd_offset & ~(pg - 1);
	len = (m->fd_offset - start + m->size + pg - 1) & ~(pg - 1);
	if (len > SIZE_MAX || start > (uint64_t)INT64_MAX)
		return cerr_set(e, EINVAL, "DMA range too large");
	if (m->prot & EMU_DMA_READ)
		prot |= PROT_READ;
	if (m->prot & EMU_DMA_WRITE)
		prot |= PROT_WRITE;
	p = mmap(NULL, (size_t)len, prot, MAP_SHARED, fd, (off_t)start);
	if (p == MAP_FAILED)
		return cerr_set(e, errno, "cannot mmap the DMA fd: %s", strerror(errno));
	m->map_base = p;
	m->map_len = (size_t)len;
	m->ptr = (uint8_t *)p + (m->fd_offset - start);
	return 0;
}

int emu_dma_add(struct emu_dma *dma, uint64_t iova, uint64_t size, uint32_t prot, int fd,
		uint64_t fd_offset, struct cerr *e)
{
	struct emu_dma_map m = { .iova = iova, .size = size, .prot = prot,
				 .fd_offset = fd_offset };
	unsigned at;
	int r = 0;

	if (size == 0 || iova + size < iova) {
		r = cerr_set(e, EINVAL, "bad DMA range iova 0x%llx size 0x%llx",
			     (unsigned long long)iova, (unsigned long long)size);
		goto out;
	}
	/* the VERSION reply advertises 4 KiB pages only */
	if ((iova | size | (fd >= 0 ? fd_offset : 0)) % EMU_DMA_PAGE) {
		r = cerr_set(e, EINVAL,
			     "DMA range iova 0x%llx size 0x%llx fd offset 0x%llx is not on %u-byte "
			     "pages", (unsigned long long)iova, (unsigned long long)size,
			     (unsigned long long)fd_offset, EMU_DMA_PAGE);
		goto out;
	}
	if (size > EMU_DMA_MAX_MAP_SIZE) {
		r = cerr_set(e, EINVAL, "DMA range of 0x%llx bytes is larger than the 0x%llx allowed",
			     (unsigned long long)size, (unsigned long long)EMU_DMA_MAX_MAP_SIZE);
		goto out;
	}
	if (fd >= 0 && fd_offset + size < fd_offset) {
		r = cerr_set(e, EINVAL, "DMA fd offset overflows");
		goto out;
	}
	at = first_ending_after(dma, iova);
	if (at < dma->n && dma->maps[at].iova < iova + size) {
		r = cerr_set(e, EEXIST,
			     "DMA range 0x%llx+0x%llx overlaps the mapping at 0x%llx+0x%llx",
			     (unsigned long long)iova, (unsigned long long)size,
			     (unsigned long long)dma->maps[at].iova,
			     (unsigned long long)dma->maps[at].size);
		goto out;
	}
	if (dma->n >= EMU_DMA_MAX_MAPS) {
		r = cerr_set(e, ENOSPC, "already %u DMA mappings", dma->n);
		goto out;
	}
	if (dma->n == dma->cap) {
		unsigned cap = dma->cap ? dma->cap * 2 : 16;
		struct emu_dma_map *maps = realloc(dma->maps, cap * sizeof(*maps));

		if (!maps) {
			r = cerr_set(e, ENOMEM, "out of memory for the DMA table");
			goto out;
		}
		dma->maps = maps;
		dma->cap = cap;
	}
	if (fd >= 0) {
		r = map_fd(&m, fd, e);
		if (r < 0)
			goto out;
	}
	memmove(&dma->maps[at + 1], &dma->maps[at], (dma->n - at) * sizeof(m));
	dma->maps[at] = m;
	dma->n++;
out:
	/* the mapping keeps the memory alive; the fd is not needed any more */
	if (fd >= 0)
		close(fd);
	return r;
}

static void unmap_one(struct emu_dma_map *m)
{
	if (m->map_base)
		munmap(m->map_base, m->map_len);
	m->map_base = NULL;
	m->ptr = NULL;
}

int emu_dma_remove(struct emu_dma *dma, uint64_t iova, uint64_t size, struct cerr *e)
{
	unsigned at = first_ending_after(dma, iova);

	if (at >= dma->n || dma->maps[at].iova != iova || dma->maps[at].size != size)
		return cerr_set(e, ENOENT, "no DMA mapping is exactly 0x%llx+0x%llx",
				(unsigned long long)iova, (unsigned long long)size);
	unmap_one(&dma->maps[at]);
	dma->gen++;
	dma->hint = 0;
	memmove(&dma->maps[at], &dma->maps[at + 1], (dma->n - at - 1) * sizeof(dma->maps[0]));
	dma->n--;
	return 0;
}

void emu_dma_clear(struct emu_dma *dma)
{
	for (unsigned i = 0; i < dma->n; i++)
		unmap_one(&dma->maps[i]);
	free(dma->maps);
	emu_dma_init(dma);
	dma->gen++;
}

const struct emu_dma_map *emu_dma_find(const struct emu_dma *dma, uint64_t iova, uint64_t len,
				       uint32_t prot)
{
	unsigned at = first_ending_after(dma, iova);
	const struct emu_dma_map *m;

	if (len == 0 || iova + len < iova || at >= dma->n)
		return NULL;
	m = &dma->maps[at];
	if (iova < m->iova || iova + len > m->iova + m->size)
		return NULL;
	if ((m->prot & prot) != prot)
		return NULL;
	return m;
}

void *emu_dma_translate(const struct emu_dma *dma, uint64_t iova, uint64_t len, uint32_t prot)
{
	const struct emu_dma_map *m = emu_dma_find(dma, iova, len, prot);

	if (!m || !m->ptr)
		return NULL;
	return m->ptr + (iova - m->iova);
}

void *emu_dma_lookup(struct emu_dma *dma, uint64_t iova, uint32_t prot, uint64_t *ret_len)
{
	const struct emu_dma_map *m = NULL;
	unsigned at;

	if (dma->hint < dma->n) {
		m = &dma->maps[dma->hint];
		if (iova < m->iova || iova - m->iova >= m->size)
			m = NULL;
	}
	if (!m) {
		at = first_ending_after(dma, iova);
		if (at >= dma->n || iova < dma->maps[at].iova)
			return NULL;
		dma->hint = at;
		m = &dma->maps[at];
	}
	if ((m->prot & prot) != prot || !m->ptr)
		return NULL;
	*ret_len = m->size - (iova - m->iova);
	return m->ptr + (iova - m->iova);
}

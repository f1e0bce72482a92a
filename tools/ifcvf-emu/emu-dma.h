/* The emulated VF's "IOMMU": the DMA mappings the client granted with
 * DMA_MAP. A mapping with an fd is mmapped MAP_SHARED and the device reaches
 * it by pointer; one without an fd is recorded as message-based (a datapath
 * would reach it with DMA_READ/DMA_WRITE). Lookups refuse any range that is
 * not wholly inside one mapping with the needed access rights.
 *
 * Threads: changed and used only by the main thread, which serves the
 * client and runs the datapath; the datapath publishes what it wrote before
 * a mapping goes (emu_device_dma_unmap), so there is no DMA to a range after
 * its DMA_UNMAP reply, and it re-translates whenever @gen changed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cerr.h"

/* Advertised as max_dma_maps in the VERSION reply. */
#define EMU_DMA_MAX_MAPS 1024u
/* Advertised as pgsizes: iova, size and fd offset of a map are multiples. */
#define EMU_DMA_PAGE 4096u
/* One map covers at most this (libvfio-user's bound, 8 TiB): more is no
 * guest's memory, only a way to make lookups and sizes overflow. */
#define EMU_DMA_MAX_MAP_SIZE (1ull << 43)

#define EMU_DMA_READ 0x1u    /* the device may read (VFU_DMA_FLAG_READ) */
#define EMU_DMA_WRITE 0x2u   /* the device may write (VFU_DMA_FLAG_WRITE) */

struct emu_dma_map {
	uint64_t iova;
	uint64_t size;
	uint32_t prot;          /* EMU_DMA_* */
	uint64_t fd_offset;
	void *map_base;         /* mmap()ed area, NULL when message-based */
	size_t map_len;
	uint8_t *ptr;           /* iova's byte; NULL when message-based */
};

struct emu_dma {
	struct emu_dma_map *maps;   /* sorted by iova, never overlapping */
	unsigned n;
	unsigned cap;
	uint64_t gen;               /* bumped whenever a mapping goes away */
	unsigned hint;              /* last mapping emu_dma_lookup() hit */
};

void emu_dma_init(struct emu_dma *dma);

/* Add [iova, iova+size). @fd (or -1 for message-based) is always consumed:
 * mapped and closed, or closed on failure. Overlap gives -EEXIST; a range
 * off EMU_DMA_PAGE pages, larger than EMU_DMA_MAX_MAP_SIZE, wrapping, or
 * past the end of the fd's file gives -EINVAL. */
int emu_dma_add(struct emu_dma *dma, uint64_t iova, uint64_t size, uint32_t prot, int fd,
		uint64_t fd_offset, struct cerr *e);

/* Remove exactly [iova, iova+size); -ENOENT when no mapping matches. */
int emu_dma_remove(struct emu_dma *dma, uint64_t iova, uint64_t size, struct cerr *e);

/* Remove every mapping. */
void emu_dma_clear(struct emu_dma *dma);

/* The mapping holding all of [iova, iova+len) with @prot, or NULL. */
const struct emu_dma_map *emu_dma_find(const struct emu_dma *dma, uint64_t iova, uint64_t len,
				       uint32_t prot);

/* Pointer to [iova, iova+len) for the device, or NULL when the range is not
 * wholly inside one fd-backed mapping allowing @prot. */
void *emu_dma_translate(const struct emu_dma *dma, uint64_t iova, uint64_t len, uint32_t prot);

/* Pointer to @iova in the fd-backed mapping holding it with @prot, and in
 * @ret_len how many bytes from there lie in that mapping; NULL when @iova is
 * in none (or only in a message-based one). For buffers that may span
 * adjacent mappings: the caller walks on from iova + *ret_len.
 * Pointers stay valid until dma->gen changes. */
void *emu_dma_lookup(struct emu_dma *dma, uint64_t iova, uint32_t prot, uint64_t *ret_len);

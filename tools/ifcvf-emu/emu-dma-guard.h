/* Guest memory that vanishes under the device. A client can shrink the file
 * behind a DMA mapping after DMA_MAP (ftruncate of its memfd); the next
 * device access to the lost pages then raises SIGBUS, which would kill the
 * emulator. Sealing cannot be required: the memory the helper passes on is
 * QEMU's or DPDK's guest RAM (vhost-user memory tables: hugetlbfs files and
 * memfds that are not sealed against shrinking), so the emulator survives
 * the fault instead.
 *
 * The SIGBUS handler looks the faulting address up in the DMA table; when it
 * lies in a mapping, it puts anonymous zeroed memory over that whole
 * mapping and returns, so the access repeats and succeeds. Nothing unwinds:
 * the request or datapath step that faulted finishes on zeroes (every
 * pointer it holds stays valid, no state is left half-updated, nothing
 * leaks), and then the loop sees the fault (emu_dma_guard_take) and drops
 * the client, which unmaps everything. A SIGBUS anywhere else is a bug and
 * still kills the process.
 *
 * Threads: guest memory and the DMA table belong to the main thread (the
 * stall watchdog touches neither); the signal is synchronous (raised by
 * the faulting access on that thread), so the handler never sees the
 * table in the middle of a change. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cerr.h"
#include "emu-dma.h"

/* Guard @dma's fd-backed mappings from now on. Once, before any client. */
int emu_dma_guard_install(struct emu_dma *dma, struct cerr *e);

/* Whether a guarded mapping faulted since the last call (cleared here), with
 * the IOVA of the first fault in @ret_iova. */
bool emu_dma_guard_take(uint64_t *ret_iova);

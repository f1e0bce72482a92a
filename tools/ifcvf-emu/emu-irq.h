/* MSI-X delivery: one eventfd per vector, bound by the client with
 * DEVICE_SET_IRQS and dropped when the client goes away. Signalling a vector
 * is an eventfd write; a vector with no eventfd counts as a lost interrupt.
 *
 * Threads: the main thread only (it serves the client and runs the
 * datapath, which triggers vectors); not locked. */
#pragma once

#include <stdint.h>

#include "cerr.h"
#include "emu-layout.h"

struct emu_irq {
	unsigned n;                                /* MSI-X table size */
	int fd[EMU_MSIX_MAX_ENTRIES];              /* -1: unbound */
	uint64_t fired[EMU_MSIX_MAX_ENTRIES];
	uint64_t lost[EMU_MSIX_MAX_ENTRIES];
};

void emu_irq_init(struct emu_irq *irq, unsigned n);

/* Accept @fd (the client's, for @vector) as an interrupt fd: it must be an
 * eventfd, and it is made non-blocking so that raising a vector never waits
 * (a counter at its maximum would block a write until someone reads).
 * -EINVAL otherwise. */
int emu_irq_check_fd(int fd, unsigned vector, struct cerr *e);

/* Bind vectors start..start+count-1 to @fds, taking ownership of them and
 * closing whatever was bound before. The range was validated by the caller,
 * and each fd by emu_irq_check_fd(). */
void emu_irq_assign(struct emu_irq *irq, unsigned start, unsigned count, const int *fds);

/* Unbind (and close) a range, or every vector. */
void emu_irq_unassign(struct emu_irq *irq, unsigned start, unsigned count);
void emu_irq_clear(struct emu_irq *irq);

/* Raise @vector. Returns 0, -ENOENT when nothing is bound to it (counted as
 * lost), -EINVAL for a vector outside the table (0xFFFF included), -EINTR
 * when the write blocked and was interrupted (emu_stall_take() says so to
 * the loop, which drops the client). */
int emu_irq_trigger(struct emu_irq *irq, unsigned vector);

unsigned emu_irq_bound(const struct emu_irq *irq);

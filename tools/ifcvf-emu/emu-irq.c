/* MSI-X eventfd table (see emu-irq.h). */
#include "emu-irq.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

void emu_irq_init(struct emu_irq *irq, unsigned n)
{
	irq->n = n;
	for (unsigned i = 0; i < EMU_MSIX_MAX_ENTRIES; i++) {
		irq->fd[i] = -1;
		irq->fired[i] = 0;
		irq->lost[i] = 0;
	}
}

void emu_irq_assign(struct emu_irq *irq, unsigned start, unsigned count, const int *fds)
{
	for (unsigned i = 0; i < count; i++) {
		if (irq->fd[start + i] >= 0)
			close(irq->fd[start + i]);
		irq->fd[start + i] = fds[i];
	}
}

void emu_irq_unassign(struct emu_irq *irq, unsigned start, unsigned count)
{
	for (unsigned i = start; i < start + count && i < irq->n; i++) {
		if (irq->fd[i] >= 0)
			close(irq->fd[i]);
		irq->fd[i] = -1;
	}
}

void emu_irq_clear(struct emu_irq *irq)
{
	emu_irq_unassign(irq, 0, irq->n);
}

int emu_irq_trigger(struct emu_irq *irq, unsigned vector)
{
	if (vector >= irq->n)
		return -EINVAL;
	if (irq->fd[vector] < 0) {
		irq->lost[vector]++;
		return -ENOENT;
	}
	/* a full counter (EAGAIN) still means the interrupt is pending */
	if (eventfd_write(irq->fd[vector], 1) < 0 && errno != EAGAIN)
		return -errno;
	irq->fired[vector]++;
	return 0;
}

unsigned emu_irq_bound(const struct emu_irq *irq)
{
	unsigned n = 0;

	for (unsigned i = 0; i < irq->n; i++)
		n += irq->fd[i] >= 0;
	return n;
}

/* MSI-X eventfd table (see emu-irq.h). */
#include "emu-irq.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "emu-stall.h"

void emu_irq_init(struct emu_irq *irq, unsigned n)
{
	irq->n = n;
	for (unsigned i = 0; i < EMU_MSIX_MAX_ENTRIES; i++) {
		irq->fd[i] = -1;
		irq->fired[i] = 0;
		irq->lost[i] = 0;
	}
}

int emu_irq_check_fd(int fd, unsigned vector, struct cerr *e)
{
	static const char want[] = "anon_inode:[eventfd]";
	char path[64], target[sizeof(want) + 1];
	ssize_t n;
	int flags;

	/* the kernel names an eventfd's inode this way; a pipe, socket or file
	 * can block a write or means nothing as an interrupt */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return cerr_set(e, EINVAL, "the fd for MSI-X vector %u cannot be inspected: %s",
				vector, strerror(errno));
	target[n] = '\0';
	if (strcmp(target, want) != 0)
		return cerr_set(e, EINVAL, "the fd for MSI-X vector %u is not an eventfd (%s)",
				vector, target);
	/* O_NONBLOCK is a flag of the open file the client shares with us, so
	 * its copy changes too; consumers of an interrupt eventfd (KVM irqfd,
	 * QEMU, DPDK, the helper) poll it and create it non-blocking anyway */
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0))
		return cerr_set(e, EINVAL, "cannot make the eventfd for MSI-X vector %u "
				"non-blocking: %s", vector, strerror(errno));
	return 0;
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
	int r;

	if (vector >= irq->n)
		return -EINVAL;
	if (irq->fd[vector] < 0) {
		irq->lost[vector]++;
		return -ENOENT;
	}
	/* the fd is non-blocking (emu_irq_check_fd): a full counter gives
	 * EAGAIN, and then the interrupt is pending anyway; a client that made
	 * it blocking again gets the write interrupted (emu-stall.h) */
	emu_stall_enter();
	r = eventfd_write(irq->fd[vector], 1);
	emu_stall_leave();
	if (r < 0 && errno != EAGAIN)
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

/* SIGBUS on guest memory turned into a dropped client (see emu-dma-guard.h). */
#include "emu-dma-guard.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

static struct emu_dma *guarded;
static volatile sig_atomic_t faulted;
static volatile uint64_t fault_iova;

/* The mapping whose mmap()ed area holds @addr, or NULL. */
static struct emu_dma_map *map_at(uintptr_t addr)
{
	for (unsigned i = 0; guarded && i < guarded->n; i++) {
		struct emu_dma_map *m = &guarded->maps[i];
		uintptr_t base = (uintptr_t)m->map_base;

		if (base && addr >= base && addr - base < m->map_len)
			return m;
	}
	return NULL;
}

static void on_sigbus(int sig, siginfo_t *si, void *ucontext)
{
	int saved_errno = errno;
	struct emu_dma_map *m = map_at((uintptr_t)si->si_addr);
	uintptr_t addr = (uintptr_t)si->si_addr, ptr;

	(void)ucontext;
	/* the same range, now private zeroes: the access repeats and succeeds;
	 * the mapping's munmap() later unmaps this just the same */
	if (!m || mmap(m->map_base, m->map_len, PROT_READ | PROT_WRITE,
		       MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED) {
		/* not guest memory: die of it as we would have */
		signal(sig, SIG_DFL);
		errno = saved_errno;
		return;
	}
	ptr = (uintptr_t)m->ptr;
	if (!faulted)
		fault_iova = m->iova + (addr > ptr ? addr - ptr : 0);
	faulted = 1;
	errno = saved_errno;
}

int emu_dma_guard_install(struct emu_dma *dma, struct cerr *e)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	guarded = dma;
	if (sigaction(SIGBUS, &sa, NULL) < 0)
		return cerr_set(e, errno, "cannot install the SIGBUS handler: %s", strerror(errno));
	return 0;
}

bool emu_dma_guard_take(uint64_t *ret_iova)
{
	if (!faulted)
		return false;
	*ret_iova = fault_iova;
	faulted = 0;
	return true;
}

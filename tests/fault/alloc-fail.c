/* LD_PRELOAD shim for the allocation fault sweep (tests only): malloc,
 * calloc and realloc fail once, at the Nth call, in one process, while a
 * test arms it. The control block is a page of the file named by
 * IFCVF_ALLOC_FAULT_FILE, shared with the test, so the test arms and
 * disarms it at any time after the process started (DPDK's EAL init is
 * then not the only thing hit) and reads how many calls a fault-free run
 * made.
 *
 * Only calls made by the program's own code and by DPDK are counted and
 * failed (see swept()): g_malloc() aborts on NULL by contract, and the
 * helper's GLib code relies on it.
 *
 * Threads: any; the counter is atomic. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "alloc-fail.h"


static void *(*next_malloc)(size_t);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);
static void (*next_free)(void *);
static void *main_base;
static struct alloc_fault_ctl *ctl;

/* dlsym() may allocate (calloc) before the real calloc is known */
static unsigned char boot[65536] __attribute__((aligned(16)));
static __thread int resolving;
static _Atomic size_t boot_used;

static int is_boot(const void *p)
{
	return (const unsigned char *)p >= boot && (const unsigned char *)p < boot + sizeof(boot);
}

static void *boot_alloc(size_t n)
{
	size_t at = atomic_fetch_add(&boot_used, (n + 15) & ~(size_t)15);

	return at + n <= sizeof(boot) ? boot + at : NULL;
}

/* The next allocator, looked up on first use: other libraries'
 * constructors may allocate before ours runs. */
static void resolve(void)
{
	if (next_malloc || resolving)
		return;
	resolving = 1;
	next_free = dlsym(RTLD_NEXT, "free");
	next_realloc = dlsym(RTLD_NEXT, "realloc");
	next_calloc = dlsym(RTLD_NEXT, "calloc");
	next_malloc = dlsym(RTLD_NEXT, "malloc");
	resolving = 0;
}

__attribute__((constructor)) static void alloc_fault_init(void)
{
	const char *path;
	int fd;

	Dl_info info;

	resolve();
	if (dladdr((void *)getauxval(AT_ENTRY), &info))
		main_base = info.dli_fbase;
	path = getenv(ALLOC_FAULT_FILE_ENV);
	if (!path)
		return;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (ctl == MAP_FAILED)
		ctl = NULL;
	close(fd);
}

/* The program's own code (src/vfio, src/ifcvf, src/relay, the port: plain C
 * with errno returns) and DPDK's libraries. Not GLib (g_malloc() aborts on
 * NULL by contract), nor libc on behalf of anyone (vasprintf for GLib). */
static int swept(void *caller)
{
	Dl_info info;

	if (!dladdr(caller, &info))
		return 0;
	return (main_base && info.dli_fbase == main_base) ||
	       (info.dli_fname && strstr(info.dli_fname, "librte_"));
}

/* 1: this call fails */
static int take(void *caller)
{
	uint64_t at;

	if (!ctl || atomic_load(&ctl->pid) != getpid() || !swept(caller))
		return 0;
	at = atomic_fetch_add(&ctl->calls, 1) + 1;
	if (at != atomic_load(&ctl->fail_at))
		return 0;
	atomic_fetch_add(&ctl->failed, 1);
	return 1;
}

void *malloc(size_t n)
{
	resolve();
	if (!next_malloc)
		return boot_alloc(n);
	if (take(__builtin_return_address(0))) {
		errno = ENOMEM;
		return NULL;
	}
	return next_malloc(n);
}

void *calloc(size_t k, size_t n)
{
	resolve();
	if (!next_calloc) {
		void *p = k && n > SIZE_MAX / k ? NULL : boot_alloc(k * n);

		/* the boot buffer is static: zero already */
		return p;
	}
	if (take(__builtin_return_address(0))) {
		errno = ENOMEM;
		return NULL;
	}
	return next_calloc(k, n);
}

void *realloc(void *p, size_t n)
{
	resolve();
	if (!next_realloc)
		return NULL;
	if (is_boot(p)) {
		size_t room = (size_t)(boot + sizeof(boot) - (unsigned char *)p);
		void *q = next_malloc(n);

		if (q)
			memcpy(q, p, n < room ? n : room);
		return q;
	}
	if (take(__builtin_return_address(0))) {
		errno = ENOMEM;
		return NULL;
	}
	return next_realloc(p, n);
}

void free(void *p)
{
	if (!p || is_boot(p))
		return;
	resolve();
	if (next_free)
		next_free(p);
}

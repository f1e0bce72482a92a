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


static void *main_base;
static struct alloc_fault_ctl *ctl;

/* The allocator behind us: ASan's when the process runs under it (its
 * entry points are exported under these names), else glibc's. No dlsym():
 * it allocates, and under ASan it is not usable before ASan's own init,
 * which allocates through us. */
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t k, size_t n);
void *__libc_realloc(void *p, size_t n);
void __libc_free(void *p);
extern void *__interceptor_malloc(size_t n) __attribute__((weak));
extern void *__interceptor_calloc(size_t k, size_t n) __attribute__((weak));
extern void *__interceptor_realloc(void *p, size_t n) __attribute__((weak));
extern void __interceptor_free(void *p) __attribute__((weak));

__attribute__((constructor)) static void alloc_fault_init(void)
{
	const char *path;
	Dl_info info;
	int fd;

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
	if (take(__builtin_return_address(0))) {
		errno = ENOMEM;
		return NULL;
	}
	return __interceptor_malloc ? __interceptor_malloc(n) : __libc_malloc(n);
}

void *calloc(size_t k, size_t n)
{
	if (take(__builtin_return_address(0))) {
		errno = ENOMEM;
		return NULL;
	}
	return __interceptor_calloc ? __interceptor_calloc(k, n) : __libc_calloc(k, n);
}

void *realloc(void *p, size_t n)
{
	if (take(__builtin_return_address(0))) {
		errno = ENOMEM;
		return NULL;
	}
	return __interceptor_realloc ? __interceptor_realloc(p, n) : __libc_realloc(p, n);
}

void free(void *p)
{
	if (__interceptor_free)
		__interceptor_free(p);
	else
		__libc_free(p);
}

/* An I/O write barrier: stores to memory a device reads by DMA (rings,
 * buffers, a dirty log cleared for it) reach the device before a later
 * store to one of its registers (a doorbell, a queue enable), as Linux's
 * writel() orders them. A CPU fence (__atomic_thread_fence) orders memory
 * for other CPUs only; a device is another observer.
 *
 *   x86:     stores are not reordered with older stores, and a store to an
 *            uncached (UC) mapping, as VFIO maps BARs, not either: a
 *            compiler barrier suffices (a write-combining mapping would
 *            need sfence; none is used)
 *   arm64:   dmb oshst: earlier stores are seen by the outer-shareable
 *            domain, devices, before later ones (a CPU fence gives dmb ish,
 *            the inner-shareable domain: CPUs only)
 *   arm:     dsb st
 *   powerpc: sync, which orders cacheable stores before I/O stores
 *   riscv:   fence w,o: memory writes before device output
 *   others:  __sync_synchronize(), a full barrier, the most C offers
 *
 * Threads: any. */
#pragma once

static inline void io_write_barrier(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ __volatile__("" ::: "memory");
#elif defined(__aarch64__)
	__asm__ __volatile__("dmb oshst" ::: "memory");
#elif defined(__arm__)
	__asm__ __volatile__("dsb st" ::: "memory");
#elif defined(__powerpc__) || defined(__powerpc64__)
	__asm__ __volatile__("sync" ::: "memory");
#elif defined(__riscv)
	__asm__ __volatile__("fence w,o" ::: "memory");
#else
	__sync_synchronize();
#endif
}

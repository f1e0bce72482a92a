/* The TSC frequency for DPDK's EAL, measured in a few milliseconds.
 *
 * EAL asks the architecture first (get_tsc_freq_arch(): a CPUID leaf, or a
 * model-specific register through /dev/cpu/N/msr) and, when that gives
 * nothing (a VM, no msr module), sleeps 100 ms against the monotonic clock:
 * half of the helper's start. The helper links EAL statically, so this
 * definition stands in for EAL's (whose object defines nothing else: a
 * DPDK that moves it fails to link, it cannot be silently ignored).
 *
 * The helper's use of the TSC is DPDK's own bookkeeping (nothing of ours
 * times anything with it), so a 2 ms measurement is plenty: the clock is
 * read between two TSC reads, and a pair far apart (the thread was
 * preempted) is read again.
 *
 * Threads: EAL's init, on the main thread. */
#include <stdint.h>
#include <time.h>
#include <x86intrin.h>

#include "eal.h"

#define CALIBRATE_NS 2000000ull  /* 2 ms */
#define PAIR_MAX_CYCLES 20000ull  /* a clock read between two TSC reads */

static uint64_t ns_of(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}

/* a clock reading and the TSC at that moment (the middle of two reads) */
static void clock_and_tsc(uint64_t *ns, uint64_t *tsc)
{
	for (int tries = 0;; tries++) {
		struct timespec ts;
		uint64_t before = __rdtsc();

		clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
		uint64_t after = __rdtsc();

		if (after - before <= PAIR_MAX_CYCLES || tries == 100) {
			*ns = ns_of(&ts);
			*tsc = before + (after - before) / 2;
			return;
		}
	}
}

uint64_t ifcvf_eal_measure_tsc_hz(void)
{
	uint64_t ns0, tsc0, ns1, tsc1;
	struct timespec pause = { .tv_nsec = (long)CALIBRATE_NS };

	clock_and_tsc(&ns0, &tsc0);
	(void)nanosleep(&pause, NULL);
	clock_and_tsc(&ns1, &tsc1);
	if (ns1 <= ns0 || tsc1 <= tsc0)
		return 0; /* EAL then measures it its own way */
	return (uint64_t)((unsigned __int128)(tsc1 - tsc0) * 1000000000u / (ns1 - ns0));
}

/* EAL's hook (lib/eal/include/rte_cycles.h's internal get_tsc_freq_arch) */
uint64_t get_tsc_freq_arch(void);
uint64_t get_tsc_freq_arch(void)
{
	return ifcvf_eal_measure_tsc_hz();
}

/* DPDK's EAL, started inside the helper only for the vhost library: no
 * hugepages, no PCI scan, no shared config, no telemetry, a file prefix of
 * its own (so several helpers run side by side), and one lcore that may run
 * on every CPU the helper may (EAL must not pin the helper to one CPU).
 * DPDK logs go to stderr.
 *
 * Threads: main thread, once per process. */
#pragma once

#include <glib.h>
#include <stdint.h>

gboolean ifcvf_eal_init(gboolean verbose, GError **error);
void ifcvf_eal_cleanup(void);

/* The TSC's frequency in Hz, measured against CLOCK_MONOTONIC_RAW over
 * 2 ms (eal-tsc.c, x86 only; EAL's own way sleeps 100 ms); 0 if the
 * clocks disagree on which way time goes. */
uint64_t ifcvf_eal_measure_tsc_hz(void);

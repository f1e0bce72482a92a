/* DPDK's EAL, started inside the helper only for the vhost library: no
 * hugepages, no PCI scan, no shared config, no telemetry, a file prefix of
 * its own (so several helpers run side by side), and one lcore that may run
 * on every CPU the helper may (EAL must not pin the helper to one CPU).
 * DPDK logs go to stderr.
 *
 * Threads: main thread, once per process. */
#pragma once

#include <glib.h>

gboolean ifcvf_eal_init(gboolean verbose, GError **error);
void ifcvf_eal_cleanup(void);

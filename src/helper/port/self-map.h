/* Re-open a mapping of this process as an fd, for a DMA map that wants one
 * (vfio-user). DPDK closes the dirty-log fd right after mapping it
 * (DESIGN.md, pitfall of rte_vhost_get_log_base); the port keeps a dup of
 * the fd SET_LOG_BASE carried (port-lm.c), and this is the fallback when it
 * has none: find the mapping in /proc/self/maps (a scan of every mapping,
 * hundreds of microseconds) and open /proc/self/map_files/<start>-<end>,
 * which names the same file (the frontend's memfd). Opening those links
 * needs CAP_SYS_ADMIN (or CAP_CHECKPOINT_RESTORE).
 *
 * Errors: 0 or -errno with a cause. No GLib, no DPDK.
 * Threads: no state. */
#pragma once

#include <stdint.h>

#include "cerr.h"

/* Parse one line of /proc/PID/maps: start, end and file offset. 0, or
 * -EINVAL when the line is not one. */
int self_map_parse_line(const char *line, uint64_t *start, uint64_t *end, uint64_t *offset);

/* An fd (O_RDWR, close-on-exec; the caller closes it) for the file mapped
 * at [addr, addr + len), and the file offset of @addr in it. The range
 * must lie in one mapping of a file. */
int self_map_open(uint64_t addr, uint64_t len, int *ret_fd, uint64_t *ret_offset,
		  struct cerr *e);

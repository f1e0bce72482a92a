/* The frontend's memory table as the port sees it: guest-physical ranges,
 * where this process has them mapped, and the fd that backs each (for the
 * vfio-user DMA map). Pure functions: validation and HVA -> GPA translation.
 *
 * Errors: 0 or -errno with a cause. No GLib, no DPDK. Threads: no state. */
#pragma once

#include <stdint.h>

#include "cerr.h"

#define PORT_MEM_MAX_REGIONS 64u

struct port_mem_region {
	uint64_t gpa;        /* guest-physical address = IOVA */
	uint64_t size;
	uint64_t hva;        /* where this process has it mapped */
	int fd;              /* backing fd (owned by the vhost library) or -1 */
	uint64_t fd_offset;  /* offset of gpa within @fd */
};

struct port_mem {
	unsigned n;
	struct port_mem_region r[PORT_MEM_MAX_REGIONS];
};

/* Region @i as the vhost library mapped it: DPDK maps each region's fd
 * from offset 0 (@mmap_addr, @mmap_size) and points @host_user_addr at the
 * region's offset within it. -EINVAL when the region does not lie inside
 * its own mapping. */
int port_mem_region_from_mapping(unsigned i, uint64_t gpa, uint64_t size, uint64_t host_user_addr,
				 uint64_t mmap_addr, uint64_t mmap_size, int fd,
				 struct port_mem_region *ret, struct cerr *e);

/* Refuse an empty table, empty or wrapping regions, and regions whose
 * guest-physical ranges overlap (the VF could not tell them apart). */
int port_mem_check(const struct port_mem *m, struct cerr *e);

/* Translate [hva, hva+len) to a guest-physical address; the range must lie
 * within one region. -ERANGE when it does not. */
int port_mem_hva_to_gpa(const struct port_mem *m, uint64_t hva, uint64_t len, uint64_t *ret_gpa);

/* The other way: a pointer in this process for guest range [gpa, gpa+len),
 * which must lie within one region; NULL when it does not. */
void *port_mem_gpa_to_hva(const struct port_mem *m, uint64_t gpa, uint64_t len);

#include "port-mem.h"

#include <errno.h>
#include <stddef.h>

int port_mem_region_from_mapping(unsigned i, uint64_t gpa, uint64_t size, uint64_t host_user_addr,
				 uint64_t mmap_addr, uint64_t mmap_size, int fd,
				 struct port_mem_region *ret, struct cerr *e)
{
	if (host_user_addr < mmap_addr || host_user_addr - mmap_addr > mmap_size ||
	    size > mmap_size - (host_user_addr - mmap_addr))
		return cerr_set(e, EINVAL, "memory region %u lies outside its own mapping", i);
	*ret = (struct port_mem_region){
		.gpa = gpa,
		.size = size,
		.hva = host_user_addr,
		.fd = fd,
		.fd_offset = host_user_addr - mmap_addr,
	};
	return 0;
}

int port_mem_check(const struct port_mem *m, struct cerr *e)
{
	if (m->n == 0)
		return cerr_set(e, EINVAL, "the memory table is empty");
	for (unsigned i = 0; i < m->n; i++) {
		const struct port_mem_region *a = &m->r[i];

		if (a->size == 0 || a->gpa + a->size < a->gpa || a->hva + a->size < a->hva)
			return cerr_set(e, EINVAL,
					"memory region %u (GPA 0x%llx size 0x%llx) is empty or wraps", i,
					(unsigned long long)a->gpa, (unsigned long long)a->size);
		for (unsigned j = 0; j < i; j++) {
			const struct port_mem_region *b = &m->r[j];

			if (a->gpa < b->gpa + b->size && b->gpa < a->gpa + a->size)
				return cerr_set(e, EINVAL,
						"memory regions %u (GPA 0x%llx+0x%llx) and %u (GPA 0x%llx+0x%llx) overlap",
						j, (unsigned long long)b->gpa, (unsigned long long)b->size, i,
						(unsigned long long)a->gpa, (unsigned long long)a->size);
		}
	}
	return 0;
}

int port_mem_hva_to_gpa(const struct port_mem *m, uint64_t hva, uint64_t len, uint64_t *ret_gpa)
{
	if (hva + len < hva)
		return -ERANGE;
	for (unsigned i = 0; i < m->n; i++) {
		const struct port_mem_region *r = &m->r[i];

		if (hva >= r->hva && hva - r->hva < r->size && len <= r->size - (hva - r->hva)) {
			*ret_gpa = r->gpa + (hva - r->hva);
			return 0;
		}
	}
	return -ERANGE;
}

void *port_mem_gpa_to_hva(const struct port_mem *m, uint64_t gpa, uint64_t len)
{
	if (gpa + len < gpa)
		return NULL;
	for (unsigned i = 0; i < m->n; i++) {
		const struct port_mem_region *r = &m->r[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
			return (void *)(uintptr_t)(r->hva + (gpa - r->gpa));
	}
	return NULL;
}

#include "mediated-ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096ull

static uint64_t page_up(uint64_t v)
{
	return (v + PAGE - 1) & ~(PAGE - 1);
}

uint64_t mediated_used_ring_len(uint16_t qsize)
{
	return 4 + 8ull * qsize + 2;
}

int mediated_ring_new(uint16_t qsize, struct mediated_ring **ret, struct cerr *e)
{
	struct mediated_ring *m;
	int err;

	if (qsize == 0 || (qsize & (qsize - 1)) || qsize > 32768)
		return cerr_set(e, EINVAL, "mediated ring: size %u is not a power of two up to 32768",
				qsize);
	m = calloc(1, sizeof(*m));
	if (!m)
		return cerr_set(e, ENOMEM, "out of memory");
	m->qsize = qsize;
	m->used_off = page_up(4 + 2ull * qsize + 2);
	m->size = m->used_off + page_up(mediated_used_ring_len(qsize));
	m->base = MAP_FAILED;
	m->fd = memfd_create("ifcvf-mediated-ring", MFD_CLOEXEC);
	if (m->fd < 0 || ftruncate(m->fd, (off_t)m->size) < 0) {
		err = errno;
		goto fail;
	}
	m->base = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	if (m->base == MAP_FAILED) {
		err = errno;
		goto fail;
	}
	m->avail = m->base;
	m->used = (struct vring_used *)((uint8_t *)m->base + m->used_off);
	*ret = m;
	return 0;

fail:
	mediated_ring_free(m);
	return cerr_set(e, err, "cannot allocate a mediated ring of %u entries: %s", qsize,
			strerror(err));
}

void mediated_ring_free(struct mediated_ring *m)
{
	if (!m)
		return;
	if (m->base != MAP_FAILED && m->base)
		munmap(m->base, m->size);
	if (m->fd >= 0)
		close(m->fd);
	free(m);
}

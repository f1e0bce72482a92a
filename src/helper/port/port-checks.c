/* What the port checks of what the frontend set up before anything goes to
 * the VF: the negotiated features and the number of vrings, the memory
 * table, each vring's size and addresses (translated into guest-physical
 * addresses within one memory region) and the index it resumes at. These
 * are the checks the helper does itself; DPDK's vhost library checks the
 * messages first (see port-private.h for what it leaves to the port).
 * Split out of port-vf.c so that a fuzz target (tests/fuzz/port-bringup.c)
 * can drive them without a VF and without DPDK. Every function runs with
 * ctl held, like port-vf.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "ifcvf-regs.h"
#include "port-private.h"

static const char *queue_unit(const struct port *p)
{
	return p->hw.type == IFCVF_DEV_NET ? "queue pairs" : "queues";
}

/* A ring at @hva of @len bytes into its GPA: inside one region of guest
 * memory, and aligned as virtio requires (§2.7: descriptor table 16,
 * available ring 2, used ring 4; packed: 16, 4, 4) both as the VF sees it
 * and as this process reads it (a region mapped at an odd offset would
 * misalign the reads of the used index). */
static int translate(struct port *p, unsigned qid, const char *what, uint64_t hva, uint64_t len,
		     unsigned align, uint64_t *gpa, struct cerr *e)
{
	if (port_mem_hva_to_gpa(&p->mem, hva, len, gpa) < 0)
		return cerr_set(e, EFAULT, "vring %u: the %s (0x%llx bytes) is outside guest memory",
				qid, what, (unsigned long long)len);
	if (*gpa % align || hva % align)
		return cerr_set(e, EINVAL, "vring %u: the %s at GPA 0x%llx is not %u-byte aligned",
				qid, what, (unsigned long long)*gpa, align);
	return 0;
}

int port_queue_cfg(struct port *p, unsigned qid, struct ifcvf_vring_cfg *ret, struct cerr *e)
{
	bool packed = p->features & (1ull << VIRTIO_F_RING_PACKED);
	const struct port_vring *vr = &p->vr[qid];
	struct ifcvf_vring_cfg cfg = { .vector = (uint16_t)(qid + 1), .size = vr->size };
	uint64_t n = vr->size;
	int r;

	if ((r = translate(p, qid, "descriptor table", vr->desc, 16 * n, 16, &cfg.desc, e)) < 0 ||
	    (r = translate(p, qid, packed ? "driver event area" : "available ring", vr->avail,
			   packed ? 4 : 6 + 2 * n, packed ? 4 : 2, &cfg.avail, e)) < 0 ||
	    (r = translate(p, qid, packed ? "device event area" : "used ring", vr->used,
			   packed ? 4 : 6 + 8 * n, 4, &cfg.used, e)) < 0)
		return r;
	*ret = cfg;
	return 0;
}

/* Where vring @qid resumes: the frontend's ring state (SET_VRING_BASE),
 * checked against the used index in guest memory, the guest's truth. A
 * frontend may have completed entries itself while no backend ran (QEMU's
 * virtio-net does with TX), or hand a stale state: an index below the
 * guest's would offer again entries it saw completed, one above it would
 * skip entries never completed. Split rings only (a packed ring has no
 * used index to read). */
int port_resume_index(struct port *p, unsigned qid, bool say, uint16_t *avail, uint16_t *used)
{
	struct port_vring vr;
	uint16_t guest;

	if (p->fe->get_vring_base(p->conn, qid, avail, used) < 0)
		return -1;
	/* a used ring that is not 4-byte aligned has no index to read (and
	 * port_queue_cfg() refuses it): the frontend's state stands */
	if ((p->features & (1ull << VIRTIO_F_RING_PACKED)) ||
	    p->fe->get_vring(p->conn, qid, &vr) < 0 || !vr.used || vr.used % 4)
		return 0;
	guest = __atomic_load_n(&((const struct vring_used *)(uintptr_t)vr.used)->idx,
				__ATOMIC_ACQUIRE);
	if (*used == guest && (int16_t)(*avail - guest) >= 0)
		return 0;
	if (say)
		port_note(p, true, "vring %u: the frontend resumes it at index %u, but the used ring in "
			  "guest memory shows %u: it resumes at %u, the guest's", qid, *used, guest, guest);
	*avail = *used = guest;
	return 0;
}


int port_frontend_accept(struct port *p, unsigned *ret_nr, uint64_t *ret_vrings, struct cerr *e)
{
	unsigned nr = p->fe->num_vrings(p->conn);

	if (p->fe->get_features(p->conn, &p->features) < 0)
		return cerr_set(e, EIO, "cannot read the negotiated features");
	pthread_mutex_lock(&p->state_lock);
	p->negotiated = p->features;
	pthread_mutex_unlock(&p->state_lock);
	if (nr > p->max_vrings)
		return cerr_set(e, ERANGE, "the frontend set up %u vrings, but the port offers %u (%u %s)",
				nr, p->max_vrings, p->queues, queue_unit(p));
	*ret_nr = nr;
	*ret_vrings = p->ready & (nr >= 64 ? ~0ull : (1ull << nr) - 1);
	return 0;
}

int port_mem_accept(struct port *p, struct cerr *e)
{
	int r = p->fe->get_mem(p->conn, &p->mem, e);

	if (r < 0)
		return r;
	return port_mem_check(&p->mem, e);
}

int port_vring_accept(struct port *p, unsigned qid, struct ifcvf_vring_cfg *ret, struct cerr *e)
{
	struct port_vring vr;
	int r;

	if (qid >= p->max_vrings)
		return cerr_set(e, ERANGE, "the frontend uses vring %u, but the port offers %u vrings (%u %s)",
				qid, p->max_vrings, p->queues, queue_unit(p));
	if (p->fe->get_vring(p->conn, qid, &vr) < 0)
		return cerr_set(e, EIO, "vring %u: the frontend has not set it up", qid);
	if (vr.size == 0 || (vr.size & (vr.size - 1)))
		return cerr_set(e, EINVAL, "vring %u: size %u is not a power of two", qid, vr.size);
	if (vr.size > p->qmax[qid])
		return cerr_set(e, EINVAL, "vring %u: size %u is above the VF maximum %u", qid, vr.size,
				p->qmax[qid]);
	/* a request of seg_max segments must fit (port_blk_seg_max()) */
	if (p->hw.type == IFCVF_DEV_BLK && !(p->features & (1ull << VIRTIO_RING_F_INDIRECT_DESC)) &&
	    (p->features & (1ull << VIRTIO_BLK_F_SEG_MAX)) && vr.size < port_blk_seg_max(p) + 2) {
		unsigned need = 1;

		while (need < port_blk_seg_max(p) + 2)
			need <<= 1;
		return cerr_set(e, EINVAL, "vring %u: %u entries cannot hold a request of the disk's "
				"seg_max %u segments plus its header and status without indirect "
				"descriptors: give the disk a queue size of at least %u (QEMU: "
				"vhost-user-blk-pci,queue-size=%u)", qid, vr.size, port_blk_seg_max(p),
				need, need);
	}
	p->vr[qid] = vr;
	if ((r = port_queue_cfg(p, qid, ret, e)) < 0)
		return r;
	if (port_resume_index(p, qid, true, &ret->last_avail_idx, &ret->last_used_idx) < 0)
		return cerr_set(e, EIO, "vring %u: cannot read its ring state", qid);
	return 0;
}

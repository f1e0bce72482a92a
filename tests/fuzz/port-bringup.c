/* Fuzz target port-bringup: the checks the helper does itself on what a
 * vhost-user frontend set up, before anything goes to the VF
 * (src/helper/port/port-checks.c: features and vring count, the memory
 * table, each vring's size, addresses and resume index; port-mem.c: each
 * region against its own mapping, GPA/HVA translation; vhost-features.c:
 * what goes to the VF), driven through the port's own functions with a
 * frontend of vhost-user messages in any order.
 *
 * DPDK's socket is not here: this file keeps the state DPDK keeps for the
 * port (memory table mapped, vring numbers, addresses, bases, enables,
 * features) and applies the messages as DPDK does before the port sees
 * them, including what DPDK itself refuses (a feature not offered, more
 * than 8 regions, a region it cannot map, ring addresses it cannot
 * translate into its mapping for the ring's whole length: such a vring
 * never becomes ready). After every message the port's checks run over
 * the vrings that are ready, as a bring-up (or a vring enabled later)
 * would, and what they accept is checked: every ring GPA maps back to the
 * frontend's address, the ring lies in one region and is aligned, the size
 * is a power of two within the VF's maximum, the VF is offered nothing it
 * lacks.
 *
 * Input: u8 port variant (net IFCVF with BAR4, net 4 pairs without, plain
 * virtio net function, blk), then vhost-user requests until the input ends:
 * u8 request, u8 fds (ignored), u16 payload length, the payload (the wire
 * format's payload). Request 0xf0 is no vhost-user request: the guest
 * writes guest memory (u64 GPA, then bytes), e.g. a used index.
 * VU_FRONTEND_RECORD=DIR makes the test frontend (tests/lib/vu-frontend.c)
 * record its requests in this format. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ifcvf-regs.h"
#include "port-private.h"
#include "vhost-features.h"

#define MAX_REGIONS 8u          /* DPDK's VHOST_MEMORY_MAX_NREGIONS */
#define MAX_MAP (16ull << 20)   /* the harness maps at most this per region */
#define MAX_RECORDS 256u
#define NVQ IFCVF_MAX_VRINGS

enum {
	VU_SET_FEATURES = 2,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ENABLE = 18,
	FZ_GUEST_WRITE = 0xf0,
};

struct region {
	uint64_t gpa, size, uaddr, mmap_offset;
	uint8_t *map;          /* "DPDK's" mapping of the fd from offset 0 */
	size_t map_len;
};

struct vq {
	uint32_t num;
	bool addr_set;
	uint64_t desc, used, avail;   /* frontend addresses */
	uint16_t last_avail, last_used;
	bool kick, call, enabled;
};

/* what DPDK holds for the connection */
static struct {
	struct region reg[MAX_REGIONS];
	unsigned nreg;
	bool mem_set;
	struct vq vq[NVQ];
	unsigned nr_vring;
	uint64_t features;
} fe;

static struct port port;

/* ---- DPDK's side ---- */

static void unmap_all(void)
{
	for (unsigned i = 0; i < fe.nreg; i++)
		munmap(fe.reg[i].map, fe.reg[i].map_len);
	fe.nreg = 0;
	fe.mem_set = false;
}

/* frontend address -> our address, for [qva, qva+len) in one region */
static uint64_t qva_to_vva(uint64_t qva, uint64_t len)
{
	for (unsigned i = 0; fe.mem_set && i < fe.nreg; i++) {
		const struct region *r = &fe.reg[i];

		if (qva >= r->uaddr && qva - r->uaddr < r->size && len <= r->size - (qva - r->uaddr))
			return (uint64_t)(uintptr_t)r->map + r->mmap_offset + (qva - r->uaddr);
	}
	return 0;
}

/* the vring's rings in our mapping, as DPDK translates them (0: not) */
static bool vq_rings(unsigned q, uint64_t *desc, uint64_t *avail, uint64_t *used)
{
	const struct vq *v = &fe.vq[q];
	uint64_t n = v->num, extra = fe.features & (1ull << VIRTIO_RING_F_EVENT_IDX) ? 2 : 0;

	if (!v->addr_set || n == 0 || n > 32768)
		return false;
	*desc = qva_to_vva(v->desc, 16 * n);
	*avail = qva_to_vva(v->avail, 4 + 2 * n + extra);
	*used = qva_to_vva(v->used, 4 + 8 * n + extra);
	return *desc && *avail && *used;
}

static bool vq_ready(unsigned q)
{
	uint64_t d, a, u;

	return q < fe.nr_vring && fe.vq[q].enabled && fe.vq[q].kick && fe.vq[q].call &&
	       vq_rings(q, &d, &a, &u);
}

static int f_features(int conn, uint64_t *ret)
{
	(void)conn;
	*ret = fe.features;
	return 0;
}

static int f_protocol(int conn, uint64_t *ret)
{
	(void)conn;
	*ret = 0;
	return 0;
}

static unsigned f_num_vrings(int conn)
{
	(void)conn;
	return fe.nr_vring;
}

static int f_get_mem(int conn, struct port_mem *ret, struct cerr *e)
{
	(void)conn;
	if (!fe.mem_set)
		return cerr_set(e, ENOENT, "the frontend has sent no memory table");
	ret->n = fe.nreg;
	for (unsigned i = 0; i < fe.nreg; i++) {
		const struct region *r = &fe.reg[i];
		int rc = port_mem_region_from_mapping(i, r->gpa, r->size,
						      (uint64_t)(uintptr_t)r->map + r->mmap_offset,
						      (uint64_t)(uintptr_t)r->map, r->map_len, -1,
						      &ret->r[i], e);

		if (rc < 0)
			return rc;
	}
	return 0;
}

static int f_get_vring(int conn, unsigned qid, struct port_vring *ret)
{
	uint64_t d = 0, a = 0, u = 0;

	(void)conn;
	if (qid >= fe.nr_vring || qid >= NVQ)
		return -1;
	vq_rings(qid, &d, &a, &u);
	*ret = (struct port_vring){ .desc = d, .avail = a, .used = u,
				    .size = (uint16_t)fe.vq[qid].num, .kickfd = -1, .callfd = -1 };
	return 0;
}

static int f_get_vring_base(int conn, unsigned qid, uint16_t *avail, uint16_t *used)
{
	(void)conn;
	if (qid >= fe.nr_vring || qid >= NVQ)
		return -1;
	*avail = fe.vq[qid].last_avail;
	*used = fe.vq[qid].last_used;
	return 0;
}

static int f_set_vring_base(int conn, unsigned qid, uint16_t avail, uint16_t used)
{
	(void)conn;
	if (qid >= fe.nr_vring || qid >= NVQ)
		return -1;
	fe.vq[qid].last_avail = avail;
	fe.vq[qid].last_used = used;
	return 0;
}

static const struct port_frontend_ops ops = {
	.get_features = f_features,
	.get_protocol_features = f_protocol,
	.num_vrings = f_num_vrings,
	.get_mem = f_get_mem,
	.get_vring = f_get_vring,
	.get_vring_base = f_get_vring_base,
	.set_vring_base = f_set_vring_base,
};

static void set_mem_table(const uint8_t *pl, size_t len)
{
	uint32_t n;

	if (len < 8)
		return;
	memcpy(&n, pl, 4);
	/* DPDK refuses a table it cannot take whole */
	if (n == 0 || n > MAX_REGIONS || len < 8 + 32ull * n)
		return;
	unmap_all();
	for (unsigned i = 0; i < n; i++) {
		struct region *r = &fe.reg[i];
		uint64_t v[4];

		memcpy(v, pl + 8 + 32 * i, sizeof(v));
		r->gpa = v[0];
		r->size = v[1];
		r->uaddr = v[2];
		r->mmap_offset = v[3];
		/* DPDK maps offset + size of the fd; what it cannot map fails
		 * the whole table */
		if (r->size == 0 || r->mmap_offset > MAX_MAP || r->size > MAX_MAP - r->mmap_offset) {
			fe.nreg = i;
			unmap_all();
			return;
		}
		r->map_len = (r->mmap_offset + r->size + 4095) & ~4095ull;
		r->map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (r->map == MAP_FAILED)
			abort();
		fe.nreg = i + 1;
	}
	fe.mem_set = true;
}

static void guest_write(const uint8_t *pl, size_t len)
{
	uint64_t gpa;

	if (len < 8)
		return;
	memcpy(&gpa, pl, 8);
	pl += 8;
	len -= 8;
	for (unsigned i = 0; fe.mem_set && i < fe.nreg; i++) {
		struct region *r = &fe.reg[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size) {
			uint64_t off = gpa - r->gpa;
			size_t take = len < r->size - off ? len : (size_t)(r->size - off);

			memcpy(r->map + r->mmap_offset + off, pl, take);
			return;
		}
	}
}

/* ---- the port's checks ---- */

static void check(bool ok, const char *what, unsigned q)
{
	if (!ok) {
		fprintf(stderr, "port-bringup: vring %u: %s\n", q, what);
		abort();
	}
}

/* the port's bring-up checks over what is ready, and what they accepted */
static void bring_up(void)
{
	struct cerr e = { 0 };
	uint64_t vrings, vf;
	unsigned nr;

	port.ready = 0;
	for (unsigned q = 0; q < NVQ; q++)
		if (vq_ready(q))
			port.ready |= 1ull << q;
	if (!fe.mem_set || !port.ready)
		return;
	if (port_frontend_accept(&port, &nr, &vrings, &e) < 0)
		return;
	check(nr <= port.max_vrings, "more vrings than offered accepted", nr);
	vf = ifcvf_vhost_vf_features(port.hw.type, port.hw.is_ifcvf, port.queues, port.features,
				     port.hw.features);
	check(!(vf & ~port.hw.features & ~(1ull << VIRTIO_F_ACCESS_PLATFORM)),
	      "the VF is offered a feature it lacks", 0);
	cerr_clear(&e);
	if (port_mem_accept(&port, &e) < 0)
		return;
	for (unsigned q = 0; q < NVQ; q++) {
		struct ifcvf_vring_cfg cfg;
		const struct port_vring *vr = &port.vr[q];
		uint64_t n;

		if (!(vrings & (1ull << q)))
			continue;
		cerr_clear(&e);
		if (port_vring_accept(&port, q, &cfg, &e) < 0) {
			if (getenv("FZ_DEBUG"))
				fprintf(stderr, "port-bringup: %s\n", e.msg);
			continue;
		}
		if (getenv("FZ_DEBUG"))
			fprintf(stderr, "port-bringup: vring %u accepted: size %u desc 0x%llx "
				"resumes at %u/%u\n", q, cfg.size, (unsigned long long)cfg.desc,
				cfg.last_avail_idx, cfg.last_used_idx);
		n = cfg.size;
		check(n && !(n & (n - 1)) && n <= port.qmax[q], "size accepted", q);
		check(port_mem_gpa_to_hva(&port.mem, cfg.desc, 16 * n) ==
		      (void *)(uintptr_t)vr->desc, "descriptor table GPA", q);
		check(port_mem_gpa_to_hva(&port.mem, cfg.avail, 6 + 2 * n) ==
		      (void *)(uintptr_t)vr->avail, "available ring GPA", q);
		check(port_mem_gpa_to_hva(&port.mem, cfg.used, 6 + 8 * n) ==
		      (void *)(uintptr_t)vr->used, "used ring GPA", q);
		check(!(cfg.desc % 16) && !(cfg.avail % 2) && !(cfg.used % 4) && !(vr->used % 4),
		      "rings accepted misaligned", q);
	}
}

/* ---- ports ---- */

static void port_reset(unsigned variant)
{
	static const struct {
		enum ifcvf_dev_type type;
		bool is_ifcvf, lm_block;
		unsigned queues;
		uint16_t qmax;
	} variants[] = {
		{ IFCVF_DEV_NET, true, true, 1, 256 },
		{ IFCVF_DEV_NET, true, false, 4, 1024 },
		{ IFCVF_DEV_NET, false, false, 2, 256 },
		{ IFCVF_DEV_BLK, true, true, 2, 128 },
	};
	const typeof(variants[0]) *v = &variants[variant % 4];

	pthread_mutex_destroy(&port.state_lock);
	memset(&port, 0, sizeof(port));
	pthread_mutex_init(&port.state_lock, NULL);
	port.fe = &ops;
	port.conn = 0;
	port.hw.type = v->type;
	port.hw.is_ifcvf = v->is_ifcvf;
	port.hw.lm_block = v->lm_block;
	/* what the VF offers: everything the helper may carry, and more */
	port.hw.features = ~0ull & ~(1ull << VIRTIO_F_RING_PACKED);
	port.queues = v->queues;
	port.max_vrings = v->type == IFCVF_DEV_NET ? 2 * v->queues : v->queues;
	for (unsigned q = 0; q < port.max_vrings; q++)
		port.qmax[q] = v->qmax;
	port.offered = ifcvf_vhost_offered_features(v->type, v->is_ifcvf, port.hw.features,
						    v->queues);
}

static void vq_touch(unsigned q)
{
	if (q + 1 > fe.nr_vring)
		fe.nr_vring = q + 1;
}

static void apply(uint8_t req, const uint8_t *pl, size_t len)
{
	uint32_t idx = 0, num = 0;
	uint64_t u64 = 0;

	if (len >= 8) {
		memcpy(&idx, pl, 4);
		memcpy(&num, pl + 4, 4);
		memcpy(&u64, pl, 8);
	}
	switch (req) {
	case VU_SET_FEATURES:
		/* DPDK refuses what it did not offer */
		if (len >= 8 && !(u64 & ~(port.offered | 1ull << VHOST_F_LOG_ALL)))
			fe.features = u64;
		break;
	case VU_SET_MEM_TABLE:
		set_mem_table(pl, len);
		break;
	case VU_RESET_OWNER:
		memset(fe.vq, 0, sizeof(fe.vq));
		fe.nr_vring = 0;
		fe.features = 0;
		break;
	case VU_SET_VRING_NUM:
	case VU_SET_VRING_BASE:
	case VU_SET_VRING_ENABLE:
	case VU_GET_VRING_BASE:
		if (len < 8 || idx >= NVQ)
			break;
		vq_touch(idx);
		if (req == VU_SET_VRING_NUM)
			fe.vq[idx].num = num;
		else if (req == VU_SET_VRING_BASE)
			fe.vq[idx].last_avail = fe.vq[idx].last_used = (uint16_t)num;
		else if (req == VU_SET_VRING_ENABLE)
			fe.vq[idx].enabled = num != 0;
		else
			fe.vq[idx].enabled = fe.vq[idx].kick = false;
		break;
	case VU_SET_VRING_ADDR:
		if (len < 40 || idx >= NVQ)
			break;
		vq_touch(idx);
		memcpy(&fe.vq[idx].desc, pl + 8, 8);
		memcpy(&fe.vq[idx].used, pl + 16, 8);
		memcpy(&fe.vq[idx].avail, pl + 24, 8);
		fe.vq[idx].addr_set = true;
		break;
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
		if (len < 8 || (u64 & 0xff) >= NVQ)
			break;
		vq_touch(u64 & 0xff);
		if (req == VU_SET_VRING_KICK)
			fe.vq[u64 & 0xff].kick = true;
		else
			fe.vq[u64 & 0xff].call = true;
		break;
	case FZ_GUEST_WRITE:
		guest_write(pl, len);
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t at = 1;

	if (size < 1)
		return 0;
	memset(&fe, 0, sizeof(fe));
	port_reset(data[0]);
	for (unsigned n = 0; n < MAX_RECORDS && at + 4 <= size; n++) {
		uint8_t req = data[at];
		uint16_t len;

		memcpy(&len, data + at + 2, 2);
		at += 4;
		if (len > size - at)
			len = (uint16_t)(size - at);
		apply(req, data + at, len);
		at += len;
		bring_up();
	}
	unmap_all();
	return 0;
}

/* Live migration of a port (reference §3, §8; DESIGN.md flows 4-5): the
 * VF's dirty logging (hw mode) or the software relay of the used rings with
 * the helper logging (sw mode), entered when the frontend sets
 * VHOST_F_LOG_ALL, left when it clears it while the device runs (a
 * cancelled migration) or when the datapath stops.
 *
 * What DPDK's driver leaves open and this file closes (reference §10.4):
 *   - LOG_ALL cleared goes back to the direct path (DPDK: no revert);
 *   - a repeated on/off/on never maps the log or a mediated ring twice;
 *   - a vring enabled or given a new callfd while relaying is relayed too;
 *   - the VF interrupts the relay for every used entry, whatever the
 *     guest's own interrupt suppression (EVENT_IDX or NO_INTERRUPT): the
 *     avail ring is mediated as well (avail-relay.h says why);
 *   - a new log (SET_LOG_BASE) while logging is switched to without a
 *     window where the VF writes unlogged; when the new log cannot be
 *     used, the port fails with its queues stopped rather than resume
 *     unlogged (the reply is DPDK's and has no status);
 *   - a queue that does not stop in time is not given a ring index of
 *     ours: the VF is reset and the state read from the used ring.
 *
 * On an IFCVF the switch goes one vring at a time and never resets the
 * device: stop the vring (the VF reports where it stands), point it at the
 * mediated rings (or back at the guest's), bind its vector, enable it.
 * Frames arriving meanwhile wait in the VF's receive FIFO.
 *
 * A plain virtio function (generic-virtio=1) has no per-queue stop and no
 * way to be told a ring index: a reset restarts every ring at 0. The switch
 * resets it once and programs it again with every vring relayed, the relay
 * translating indices (avail-relay.h); it stays relayed, unlogged after a
 * cancelled migration, until the frontend stops the device. A vring the
 * frontend disables meanwhile is held by the relay (the VF runs on), so a
 * new callfd needs no reset.
 *
 * Threads: everything here runs with the port's ctl held (port.h), except
 * the relay callbacks at the bottom, which run on the ring relay thread. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ifcvf-regs.h"
#include "kick-relay.h"
#include "port-private.h"
#include "self-map.h"

#define PAGE 4096ull

static uint64_t page_up(uint64_t v)
{
	return (v + PAGE - 1) & ~(PAGE - 1);
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t mediated_iova(unsigned qid)
{
	return IFCVF_MEDIATED_VRING + (uint64_t)qid * MEDIATED_RING_STRIDE;
}

/* ---- relay callbacks (ring relay thread) ---- */

static void *relay_translate(void *opaque, uint64_t gpa, uint64_t len)
{
	struct port *p = opaque;

	/* the memory table does not change while the relay runs: a new one
	 * stops the datapath first */
	return port_mem_gpa_to_hva(&p->mem, gpa, len);
}

static void log_write(struct port *p, uint64_t gpa, uint64_t len)
{
	int conn = atomic_load(&p->relay_conn);

	if (!len || !atomic_load(&p->log_on) || conn < 0 || !p->fe->log_write)
		return;
	p->fe->log_write(conn, gpa, len);
	atomic_fetch_add(&p->stats.pages_logged, (gpa + len - 1) / PAGE - gpa / PAGE + 1);
}

static void relay_log(void *opaque, uint64_t gpa, uint64_t len)
{
	log_write(opaque, gpa, len);
}

/* A round of the relay hands its dirty pages over a log word at a time:
 * one atomic OR for up to 64 pages instead of one call per range. */
static void relay_log_word(void *opaque, uint64_t word, uint64_t bits)
{
	struct port *p = opaque;
	int conn = atomic_load(&p->relay_conn);

	if (!bits || !atomic_load(&p->log_on) || conn < 0)
		return;
	if (p->fe->log_word) {
		p->fe->log_word(conn, word, bits);
	} else if (p->fe->log_write) {
		/* one call per run of consecutive pages */
		for (uint64_t left = bits; left;) {
			unsigned first = (unsigned)__builtin_ctzll(left), n = 0;

			while (first + n < 64 && (left >> (first + n)) & 1)
				n++;
			p->fe->log_write(conn, (word * 64 + first) * PAGE, (uint64_t)n * PAGE);
			left &= n == 64 ? 0 : ~(((1ull << n) - 1) << first);
		}
	} else {
		return;
	}
	atomic_fetch_add(&p->stats.pages_logged, (uint64_t)__builtin_popcountll(bits));
}

static void relay_doorbell(void *opaque, unsigned qid)
{
	port_doorbell(opaque, qid);
}

static void relay_error(void *opaque, unsigned qid, const char *msg)
{
	struct port *p = opaque;
	struct port_event ev = { .port = p->index, .warning = true };

	atomic_fetch_add(&p->stats.errors, 1);
	snprintf(ev.reason, sizeof(ev.reason), "vring %u: relay stopped: %s", qid, msg);
	pthread_mutex_lock(&p->state_lock);
	ev.state = p->state;
	pthread_mutex_unlock(&p->state_lock);
	if (p->events)
		port_events_push(p->events, &ev);
}

static const struct ring_relay_ops relay_ops_template = {
	.translate = relay_translate,
	.log = relay_log,
	.log_word = relay_log_word,
	.doorbell = relay_doorbell,
	.error = relay_error,
};

/* ---- helpers ---- */

void port_lm_init(struct port *p)
{
	p->lm_mode = p->cfg.sw_live_migration || !p->hw.lm_block ? PORT_LM_MODE_SW
								   : PORT_LM_MODE_HW;
	p->lm = PORT_LM_DIRECT;
	p->lm_mode_snapshot = p->lm_mode;
}

bool port_lm_relays(const struct port *p, unsigned qid)
{
	return p->hw.type == IFCVF_DEV_BLK || qid % 2 == 0;
}

void port_lm_log_used_ring(struct port *p, unsigned qid)
{
	const struct port_vring *vr = &p->vr[qid];
	uint64_t len = mediated_used_ring_len(vr->size), gpa;

	if (port_mem_hva_to_gpa(&p->mem, vr->used, len, &gpa) == 0)
		log_write(p, gpa, len);
}

static int ensure_relay(struct port *p, struct cerr *e)
{
	struct ring_relay_ops ops = relay_ops_template;
	char name[16];
	int r;

	if (p->relay)
		return 0;
	ops.opaque = p;
	snprintf(name, sizeof(name), "ifcvf-ring-%u", p->index);
	r = ring_relay_new(name, &ops, &p->relay, e);
	if (r == 0)
		port_snapshot(p);
	return r;
}

/* The relay thread goes once no vring is relayed and the datapath stops
 * (port_lm_stop()); its count stays. A cancelled migration keeps it,
 * idle in its poll, for the next switch: starting a thread is a good part
 * of a switch's time. */
static void drop_relay(struct port *p)
{
	struct ring_relay *r = p->relay;

	if (!r || ring_relay_count(r) > 0)
		return;
	pthread_mutex_lock(&p->state_lock);
	atomic_fetch_add(&p->stats.relayed, ring_relay_entries(r));
	p->relay_view = NULL;
	pthread_mutex_unlock(&p->state_lock);
	ring_relay_free(r);
	p->relay = NULL;
}

/* Free what port_lm_relay_queue() set up for vring @qid, whatever it got
 * to, except the relay's part. */
static void free_mediated(struct port *p, unsigned qid)
{
	uint64_t bit = 1ull << qid;
	struct cerr ce = { 0 };

	if (p->med_mapped & bit) {
		if (vfio_dev_dma_unmap(p->dev, mediated_iova(qid), p->med[qid]->size, &ce) < 0)
			atomic_fetch_add(&p->stats.errors, 1);
		p->med_mapped &= ~bit;
	}
	mediated_ring_free(p->med[qid]);
	p->med[qid] = NULL;
	p->med_shift[qid] = 0;
}

/* The mediated ring of vring @qid, its relay over, stays mapped as its
 * spare for the next switch: a memfd, a mapping and a DMA map (and unmap)
 * less, each time. */
static void park_mediated(struct port *p, unsigned qid)
{
	uint64_t bit = 1ull << qid;

	if (!(p->med_mapped & bit) || p->med_spare[qid]) {
		free_mediated(p, qid);
		return;
	}
	p->med_spare[qid] = p->med[qid];
	p->med[qid] = NULL;
	p->med_mapped &= ~bit;
	p->med_shift[qid] = 0;
}

/* A mediated ring of @size entries for vring @qid, DMA-mapped: its spare
 * if it fits, else a new one (a spare of another size goes first: it holds
 * the IOVA). */
static int take_mediated(struct port *p, unsigned qid, uint16_t size, struct cerr *e)
{
	struct mediated_ring *m = p->med_spare[qid];
	uint64_t bit = 1ull << qid, iova = mediated_iova(qid);
	struct cerr ce = { 0 };
	int r;

	p->med_spare[qid] = NULL;
	if (m && m->qsize == size) {
		p->med[qid] = m;
		p->med_mapped |= bit;
		port_phase(&p->phases, "mediated ring (spare)");
		return 0;
	}
	if (m) {
		if (vfio_dev_dma_unmap(p->dev, iova, m->size, &ce) < 0)
			atomic_fetch_add(&p->stats.errors, 1);
		mediated_ring_free(m);
	}
	if ((r = mediated_ring_new(size, &m, e)) < 0)
		return cerr_prefix(e, "vring %u", qid);
	p->med[qid] = m;
	port_phase(&p->phases, "mediated ring");
	r = vfio_dev_dma_map(p->dev, iova, m->size, m->base, m->fd, 0, e);
	if (r < 0) {
		free_mediated(p, qid);
		return cerr_prefix(e, "vring %u: cannot DMA-map its mediated ring", qid);
	}
	p->med_mapped |= bit;
	port_phase(&p->phases, "DMA map");
	return 0;
}

static void drop_spare(struct port *p, unsigned q)
{
	struct mediated_ring *m = p->med_spare[q];
	struct cerr ce = { 0 };

	if (!m)
		return;
	if (p->dev && vfio_dev_dma_unmap(p->dev, mediated_iova(q), m->size, &ce) < 0)
		atomic_fetch_add(&p->stats.errors, 1);
	mediated_ring_free(m);
	p->med_spare[q] = NULL;
}

void port_lm_prepare(struct port *p)
{
	struct cerr ce = { 0 };

	if (p->lm_mode != PORT_LM_MODE_SW || !p->hw.is_ifcvf || p->translated ||
	    (p->features & (1ull << VIRTIO_F_RING_PACKED)) || ensure_relay(p, &ce) < 0)
		return;
	for (unsigned q = 0; q < IFCVF_MAX_VRINGS; q++) {
		struct mediated_ring *m;

		if (!(p->vf_enabled & (1ull << q)) || !port_lm_relays(p, q) || p->med[q] ||
		    (p->med_spare[q] && p->med_spare[q]->qsize == p->vr[q].size))
			continue;
		/* one of another size holds the IOVA */
		drop_spare(p, q);
		if (mediated_ring_new(p->vr[q].size, &m, &ce) < 0)
			continue;
		if (vfio_dev_dma_map(p->dev, mediated_iova(q), m->size, m->base, m->fd, 0, &ce) < 0) {
			mediated_ring_free(m);
			continue;
		}
		p->med_spare[q] = m;
	}
}

void port_lm_release(struct port *p)
{
	for (unsigned q = 0; q < IFCVF_MAX_VRINGS; q++)
		drop_spare(p, q);
	drop_relay(p);
	if (p->relay) {
		/* a vring left prepared: forget it without a last pass */
		pthread_mutex_lock(&p->state_lock);
		atomic_fetch_add(&p->stats.relayed, ring_relay_entries(p->relay));
		p->relay_view = NULL;
		pthread_mutex_unlock(&p->state_lock);
		ring_relay_free(p->relay);
		p->relay = NULL;
	}
}

/* Bring vring @qid back to the direct path from a stop: guest rings, ring
 * state, callfd, enable, kicks through the kick relay. */
static int direct_queue(struct port *p, unsigned qid, uint16_t avail, uint16_t used,
			struct cerr *e)
{
	struct ifcvf_vring_cfg cfg;
	int r;

	if ((r = port_queue_cfg(p, qid, &cfg, e)) < 0)
		return r;
	cfg.last_avail_idx = avail;
	cfg.last_used_idx = used;
	r = vfio_dev_set_irq_eventfds(p->dev, VFIO_DEV_IRQ_MSIX, qid + 1, 1, &p->vr[qid].callfd, e);
	if (r < 0)
		return cerr_prefix(e, "vring %u: cannot bind its interrupt", qid);
	port_phase(&p->phases, "interrupt");
	p->vf_enabled |= 1ull << qid;
	if ((r = ifcvf_hw_queue_program(&p->hw, qid, &cfg, e)) < 0)
		return r;
	port_phase(&p->phases, "program");
	if ((r = ifcvf_hw_queue_enable(&p->hw, qid, e)) < 0)
		return r;
	port_phase(&p->phases, "enable");
	if (p->kick && p->vr[qid].kickfd >= 0) {
		r = kick_relay_add(p->kick, qid, p->vr[qid].kickfd, e);
		if (r < 0)
			return r;
	}
	/* kicks the relay did not take are still in the kickfd; this covers
	 * buffers posted while nobody watched */
	port_doorbell_nudge(p, qid);
	return 0;
}

/* ---- one vring ---- */

int port_lm_relay_queue(struct port *p, unsigned qid, const struct ifcvf_vring_cfg *guest,
			bool update_mq, struct cerr *e)
{
	const struct port_vring *vr = &p->vr[qid];
	struct ifcvf_vring_cfg cfg = *guest;
	struct ring_relay_vring rv;
	struct mediated_ring *m;
	uint64_t bit = 1ull << qid, iova = mediated_iova(qid);
	/* a translated vring's VF starts at 0 (it was just reset), wherever
	 * the guest's stands; otherwise the VF resumes at the guest's index */
	uint16_t shift = p->translated ? cfg.last_used_idx : 0;
	int irqfd, r;

	if (p->features & (1ull << VIRTIO_F_RING_PACKED))
		return cerr_set(e, ENOTSUP, "vring %u: %s needs split rings", qid,
				p->translated ? "the relay that carries a plain virtio function's rings "
						"from a nonzero index"
					      : "software live migration");
	if ((r = ensure_relay(p, e)) < 0)
		return r;
	port_phase(&p->phases, "relay thread");
	if ((r = take_mediated(p, qid, vr->size, e)) < 0)
		return r;
	m = p->med[qid];
	p->med_shift[qid] = shift;
	/* the VF's used ring goes on where the guest's stands: the same
	 * entries, index, flags and avail_event; a translated one starts empty */
	if (!shift)
		memcpy(m->used, (const void *)(uintptr_t)vr->used, mediated_used_ring_len(vr->size));
	else
		memset(m->used, 0, mediated_used_ring_len(vr->size));
	if (p->translated)
		cfg.last_avail_idx = cfg.last_used_idx = 0;
	m->used->idx = cfg.last_used_idx;

	rv = (struct ring_relay_vring){
		.qid = qid,
		.size = vr->size,
		.event_idx = p->features & (1ull << VIRTIO_RING_F_EVENT_IDX),
		.desc = (void *)(uintptr_t)vr->desc,
		.avail = (void *)(uintptr_t)vr->avail,
		.used = (void *)(uintptr_t)vr->used,
		.used_gpa = guest->used,
		.dev_avail = m->avail,
		.dev_used = m->used,
		.used_idx = cfg.last_used_idx,
		.shift = shift,
		.callfd = vr->callfd,
		.kickfd = vr->kickfd,
	};
	r = ring_relay_prepare(p->relay, &rv, &irqfd, e);
	if (r < 0) {
		free_mediated(p, qid);
		return r;
	}
	p->relayed |= bit;
	cfg.avail = iova;
	cfg.used = iova + m->used_off;
	port_phase(&p->phases, "relay prepare");
	/* from here on port_lm_unrelay_queue() undoes a failure */
	r = vfio_dev_set_irq_eventfds(p->dev, VFIO_DEV_IRQ_MSIX, qid + 1, 1, &irqfd, e);
	if (r < 0)
		return cerr_prefix(e, "vring %u: cannot bind its interrupt to the relay", qid);
	port_phase(&p->phases, "interrupt");
	if (update_mq && (r = ifcvf_hw_set_mq(&p->hw, (unsigned)__builtin_popcountll(p->vf_enabled | bit),
					      e)) < 0)
		return r;
	p->vf_enabled |= bit;
	if ((r = ifcvf_hw_queue_program(&p->hw, qid, &cfg, e)) < 0)
		return r;
	port_phase(&p->phases, "program");
	if ((r = ifcvf_hw_queue_enable(&p->hw, qid, e)) < 0)
		return r;
	port_phase(&p->phases, "enable");
	if ((r = ring_relay_start(p->relay, qid, e)) < 0)
		return r;
	/* buffers may wait with no kick to come */
	port_doorbell(p, qid);
	port_phase(&p->phases, "relay start");
	return 0;
}

int port_lm_unrelay_queue(struct port *p, unsigned qid, uint16_t *avail, uint16_t *used,
			  struct cerr *e)
{
	uint64_t bit = 1ull << qid;
	int r = 0, n;

	if (p->relay)
		ring_relay_stop(p->relay, qid);
	port_phase(&p->phases, "relay stop");
	if (p->vf_enabled & bit) {
		r = port_vf_queue_stop(p, qid, p->med[qid] ? p->med[qid]->used : NULL, avail, used, e);
		p->vf_enabled &= ~bit;
		/* the VF's indices, as the guest counts them */
		*avail = (uint16_t)(*avail + p->med_shift[qid]);
		*used = (uint16_t)(*used + p->med_shift[qid]);
		port_phase(&p->phases, "queue stop");
	}
	/* what the VF used before it stopped goes to the guest, logged */
	if (p->relay && (p->relayed & bit)) {
		struct cerr ce = { 0 };

		n = ring_relay_finish(p->relay, qid, &ce);
		if (n < 0)
			atomic_fetch_add(&p->stats.errors, 1);
	}
	p->relayed &= ~bit;
	port_phase(&p->phases, "relay finish");
	park_mediated(p, qid);
	return r;
}

void port_lm_hold_queue(struct port *p, unsigned qid)
{
	if (p->relay)
		ring_relay_stop(p->relay, qid);
	p->held |= 1ull << qid;
	port_snapshot(p);
}

int port_lm_resume_queue(struct port *p, unsigned qid, struct cerr *e)
{
	const struct port_vring *was = &p->vr[qid];
	struct port_vring vr;
	int r;

	if (p->fe->get_vring(p->conn, qid, &vr) < 0)
		return cerr_set(e, EIO, "vring %u: the frontend has not set it up", qid);
	/* the same rings: only eventfds changed (DPDK reports a new callfd as
	 * a disable and an enable); anything else starts over */
	if (vr.desc != was->desc || vr.avail != was->avail || vr.used != was->used ||
	    vr.size != was->size)
		return cerr_set(e, EAGAIN, "vring %u came back with other rings", qid);
	if ((r = ring_relay_set_fds(p->relay, qid, vr.callfd, vr.kickfd, e)) < 0 ||
	    (r = ring_relay_start(p->relay, qid, e)) < 0)
		return r;
	p->vr[qid] = vr;
	p->held &= ~(1ull << qid);
	port_snapshot(p);
	return 0;
}

/* direct -> relayed, one vring; on failure the vring is direct again (or,
 * when even that fails, the error says so and the caller fails the port) */
static int switch_queue(struct port *p, unsigned qid, struct cerr *e)
{
	struct ifcvf_vring_cfg cfg;
	uint16_t avail = 0, used = 0;
	struct cerr ce = { 0 };
	int r;

	/* its kicks must reach the relay: the frontend stops writing the
	 * doorbell page (a kick written there before it let go is made up
	 * for with a signal of the kickfd once it did) */
	port_hn_remove(p, qid);
	if (p->kick)
		kick_relay_remove(p->kick, qid);
	port_phase(&p->phases, "kick relay");
	r = port_vf_queue_stop(p, qid, (const struct vring_used *)(uintptr_t)p->vr[qid].used,
			       &avail, &used, e);
	if (r < 0)
		return r;
	port_phase(&p->phases, "queue stop");
	/* the VF was reset: nothing to switch (the caller fails the port) */
	if (p->vf_stuck)
		return cerr_set(e, ETIMEDOUT, "%s", p->stuck_cause.msg);
	p->vf_enabled &= ~(1ull << qid);
	if ((r = port_queue_cfg(p, qid, &cfg, e)) < 0)
		return r;
	cfg.last_avail_idx = avail;
	cfg.last_used_idx = used;
	r = port_lm_relay_queue(p, qid, &cfg, false, e);
	if (r == 0)
		return 0;
	if (port_lm_unrelay_queue(p, qid, &avail, &used, &ce) < 0 ||
	    direct_queue(p, qid, avail, used, &ce) < 0)
		return cerr_prefix(e, "and it cannot go back to the direct path (%s)", ce.msg);
	return r;
}

/* relayed -> direct, one vring */
static int unswitch_queue(struct port *p, unsigned qid, struct cerr *e)
{
	uint16_t avail = 0, used = 0;
	int r = port_lm_unrelay_queue(p, qid, &avail, &used, e);

	if (r == 0 && p->vf_stuck)
		r = cerr_set(e, ETIMEDOUT, "%s", p->stuck_cause.msg);
	return r < 0 ? r : direct_queue(p, qid, avail, used, e);
}

/* ---- the whole port ---- */

static int hw_log_start(struct port *p, struct cerr *e)
{
	uint64_t hva = 0, len = 0, off = 0;
	int fd = -1, r;

	if (!p->fe->get_log_base || p->fe->get_log_base(p->conn, &hva, &len) < 0 || !hva || !len)
		return cerr_set(e, ENOENT, "the frontend asked for dirty logging but sent no log (SET_LOG_BASE)");
	if (hva % PAGE)
		return cerr_set(e, EINVAL, "the dirty log at 0x%llx is not page-aligned",
				(unsigned long long)hva);
	/* a vfio-user server maps by fd: the one SET_LOG_BASE carried (kept
	 * for this), else the mapping found again in /proc/self/maps */
	if (vfio_dev_transport(p->dev) == VFIO_TRANSPORT_USER) {
		if (p->log_fd >= 0 && p->log_fd_size == len) {
			fd = fcntl(p->log_fd, F_DUPFD_CLOEXEC, 0);
			off = p->log_fd_off;
			if (fd < 0)
				return cerr_set(e, errno, "cannot hand the dirty log to the VF: %s",
						strerror(errno));
		} else if ((r = self_map_open(hva, len, &fd, &off, e)) < 0) {
			return cerr_prefix(e, "cannot hand the dirty log to the VF");
		}
	}
	port_phase(&p->phases, "log fd");
	r = vfio_dev_dma_map(p->dev, IFCVF_LOG_BASE, page_up(len), (void *)(uintptr_t)hva, fd, off, e);
	if (fd >= 0)
		close(fd);
	if (r < 0)
		return cerr_prefix(e, "cannot DMA-map the dirty log");
	port_phase(&p->phases, "DMA map");
	p->log_iova_len = page_up(len);
	p->log_len = len;
	r = ifcvf_hw_enable_logging(&p->hw, IFCVF_LOG_BASE, len, e);
	port_phase(&p->phases, "logging registers");
	if (r < 0) {
		struct cerr ce = { 0 };

		(void)vfio_dev_dma_unmap(p->dev, IFCVF_LOG_BASE, p->log_iova_len, &ce);
		p->log_iova_len = 0;
		return r;
	}
	return 0;
}

static void hw_log_stop(struct port *p)
{
	struct cerr ce = { 0 };

	if (!p->log_iova_len)
		return;
	if (ifcvf_hw_disable_logging(&p->hw, &ce) < 0 ||
	    vfio_dev_dma_unmap(p->dev, IFCVF_LOG_BASE, p->log_iova_len, &ce) < 0)
		atomic_fetch_add(&p->stats.errors, 1);
	p->log_iova_len = 0;
}

static int sw_start(struct port *p, struct cerr *e)
{
	uint64_t todo = p->vf_enabled;
	int r;

	if (p->features & (1ull << VIRTIO_F_RING_PACKED))
		return cerr_set(e, ENOTSUP, "software live migration needs split rings, the frontend chose packed ones");
	/* vrings set up from now on are relayed too */
	p->lm = PORT_LM_RELAYING_SW;
	for (unsigned q = 0; q < IFCVF_MAX_VRINGS; q++) {
		if (!(todo & (1ull << q)) || !port_lm_relays(p, q))
			continue;
		r = switch_queue(p, q, e);
		if (r < 0)
			return cerr_prefix(e, "vring %u", q);
	}
	return 0;
}

static int sw_stop(struct port *p, struct cerr *e)
{
	int r, ret = 0;

	for (unsigned q = 0; q < IFCVF_MAX_VRINGS; q++) {
		if (!(p->relayed & (1ull << q)))
			continue;
		r = unswitch_queue(p, q, e);
		if (r < 0 && ret == 0)
			ret = cerr_prefix(e, "vring %u", q);
	}
	p->lm = PORT_LM_DIRECT;
	return ret;
}

static int lm_enter(struct port *p, struct cerr *e)
{
	uint64_t t0 = now_us();
	struct cerr ce = { 0 };
	int r;

	port_phases_begin(&p->phases, p->dev, &p->hw);
	if (p->lm_mode == PORT_LM_MODE_HW) {
		r = hw_log_start(p, e);
		if (r == 0)
			p->lm = PORT_LM_LOGGING_HW;
	} else if (!p->hw.is_ifcvf || p->translated) {
		/* no per-queue stop: the whole function restarts with every vring
		 * relayed, once, and stays so until the device stops (an IFCVF
		 * translated from its bring-up is relayed already) */
		if (p->features & (1ull << VIRTIO_F_RING_PACKED))
			r = cerr_set(e, ENOTSUP, "software live migration needs split rings, the frontend chose packed ones");
		else
			r = p->translated ? 0 : port_vf_restart_translated(p, e);
		if (r == 0)
			p->lm = PORT_LM_RELAYING_SW;
	} else {
		r = sw_start(p, e);
		/* a VF that had to be reset has nothing to go back to */
		if (r < 0 && !p->vf_stuck && sw_stop(p, &ce) < 0)
			return cerr_prefix(e, "and the relay cannot be undone (%s)", ce.msg);
	}
	if (r < 0)
		return r;
	/* the used rings as the switch left them are logged once: entries the
	 * VF published while the switch ran, before the relay or the VF's own
	 * logging took over, would otherwise reach the log only with the next
	 * entry, and there may be none before the final copy */
	for (unsigned q = 0; q < IFCVF_MAX_VRINGS; q++)
		if ((p->vf_enabled | p->relayed) & (1ull << q))
			port_lm_log_used_ring(p, q);
	port_phase(&p->phases, "log used rings");
	atomic_store(&p->stats.switch_us, now_us() - t0);
	atomic_fetch_add(&p->stats.switchovers, 1);
	port_snapshot(p);
	if (p->lm == PORT_LM_LOGGING_HW)
		port_note(p, false, "live migration: logging-hw (the VF logs into a %llu-byte log), switched in %llu us",
			  (unsigned long long)p->log_len,
			  (unsigned long long)atomic_load(&p->stats.switch_us));
	else
		port_note(p, false, "live migration: relaying-sw (%u vrings relayed), switched in %llu us",
			  (unsigned)__builtin_popcountll(p->relayed),
			  (unsigned long long)atomic_load(&p->stats.switch_us));
	port_detail(p, &p->phases, p->lm == PORT_LM_LOGGING_HW ? "logging on, where the time went"
							       : "direct -> relay, where the time went");
	return 0;
}

static int lm_leave(struct port *p, struct cerr *e)
{
	uint64_t t0 = now_us();
	int r = 0;

	port_phases_begin(&p->phases, p->dev, &p->hw);
	if (p->lm == PORT_LM_LOGGING_HW)
		hw_log_stop(p);
	else if (p->lm == PORT_LM_RELAYING_SW && !p->translated)
		r = sw_stop(p, e);
	p->lm = PORT_LM_DIRECT;
	if (r < 0)
		return r;
	atomic_store(&p->stats.switch_us, now_us() - t0);
	atomic_fetch_add(&p->stats.rollbacks, 1);
	port_snapshot(p);
	if (p->translated)
		/* log_on is off already: the relay goes on without logging */
		port_note(p, false, "live migration: logging stopped while running: the %u vrings stay "
			  "relayed, unlogged, until the device stops (a plain virtio function cannot "
			  "resume at the guest's ring index), switched in %llu us",
			  (unsigned)__builtin_popcountll(p->relayed),
			  (unsigned long long)atomic_load(&p->stats.switch_us));
	else
		port_note(p, false, "live migration: logging stopped while running: direct again, "
			  "switched in %llu us", (unsigned long long)atomic_load(&p->stats.switch_us));
	port_detail(p, &p->phases, "logging off, where the time went");
	return 0;
}

int port_lm_reconcile(struct port *p, struct cerr *e)
{
	if (!p->running)
		return 0;
	if (p->log_all && p->lm == PORT_LM_DIRECT)
		return lm_enter(p, e);
	if (!p->log_all && p->lm != PORT_LM_DIRECT)
		return lm_leave(p, e);
	return 0;
}

int port_lm_log_before_run(struct port *p, struct cerr *e)
{
	if (!p->log_all || p->lm_mode != PORT_LM_MODE_HW || p->lm != PORT_LM_DIRECT)
		return 0;
	return lm_enter(p, e);
}

void port_lm_stop(struct port *p)
{
	hw_log_stop(p);
	/* every relayed vring was finished by its teardown */
	p->relayed = 0;
	p->held = 0;
	for (unsigned q = 0; q < IFCVF_MAX_VRINGS; q++)
		if (p->med[q])
			park_mediated(p, q);
	/* the spares and the relay thread go with the datapath: a spare kept
	 * mapped across a stop outlived a bring-up that failed midway (the
	 * fault sweep's drop-at points: one ring, its fd, mapping and DMA map
	 * left behind); port_lm_prepare() makes them ready again at the next
	 * start, so a switch still finds them */
	port_lm_release(p);
	p->lm = PORT_LM_DIRECT;
	p->log_paused = false;
	port_snapshot(p);
}

/* ---- entry points ---- */

int port_log_all(struct port *p, uint64_t features, struct cerr *e)
{
	bool want = features & (1ull << VHOST_F_LOG_ALL);
	bool announce = features & (1ull << VIRTIO_NET_F_GUEST_ANNOUNCE);
	int r;

	pthread_mutex_lock(&p->ctl);
	port_lm_unpause(p);
	pthread_mutex_lock(&p->state_lock);
	p->negotiated = features;
	p->guest_announce = p->hw.type == IFCVF_DEV_NET && announce;
	pthread_mutex_unlock(&p->state_lock);
	if (want && !p->log_all && p->hw.type == IFCVF_DEV_NET && !announce && !p->announce_warned) {
		/* QEMU announces a vhost-user guest with VIRTIO_NET_F_GUEST_ANNOUNCE
		 * or by asking the backend for a RARP, which the VF cannot send */
		p->announce_warned = true;
		port_note(p, true, "the guest did not accept VIRTIO_NET_F_GUEST_ANNOUNCE: "
			  "no announcement after migration: the VF cannot send RARP");
	}
	p->log_all = want;
	/* before the switch: the relay logs from its first entry */
	atomic_store(&p->log_on, want);
	r = port_lm_reconcile(p, e);
	if (r < 0) {
		atomic_fetch_add(&p->stats.errors, 1);
		if (want) {
			/* no log the frontend could trust: refuse, so it does not migrate */
			p->log_all = false;
			atomic_store(&p->log_on, false);
		}
		/* a queue that would not stop cost the VF a reset: the port
		 * fails (the frontend is told when it asked for logging) */
		if (!port_fail_stuck(p))
			port_note(p, true, "%s", e->msg);
		else if (!want)
			r = 0;
	}
	pthread_mutex_unlock(&p->ctl);
	return r;
}

/* Between the two halves of SET_LOG_BASE the old log may go at any time.
 * hw: stop the VF's queues (frames wait in its FIFO) and its logging, so it
 * writes nothing unlogged; sw: stop relaying (the VF keeps filling the
 * mediated rings, whose entries are relayed and logged into the new log). */
static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void port_lm_drop_log_fds(struct port *p)
{
	close_fd(&p->log_fd);
	close_fd(&p->log_fd_next);
}

void port_log_base_changing(struct port *p, int log_fd, uint64_t mmap_size,
			    uint64_t mmap_offset)
{
	struct cerr ce = { 0 };

	pthread_mutex_lock(&p->ctl);
	/* the new log's file, taken now: DPDK closes the message's fd once it
	 * has mapped it (no fd: the log is looked up in /proc/self/maps) */
	close_fd(&p->log_fd_next);
	if (log_fd >= 0 && (p->log_fd_next = fcntl(log_fd, F_DUPFD_CLOEXEC, 0)) >= 0) {
		p->log_fd_next_size = mmap_size;
		p->log_fd_next_off = mmap_offset;
	}
	if (p->running && p->lm == PORT_LM_LOGGING_HW) {
		for (unsigned q = 0; q < IFCVF_MAX_VRINGS; q++) {
			uint16_t avail = 0, used = 0;

			if (!(p->vf_enabled & (1ull << q)))
				continue;
			if (p->kick)
				kick_relay_remove(p->kick, q);
			if (port_vf_queue_stop(p, q, (const struct vring_used *)(uintptr_t)p->vr[q].used,
					       &avail, &used, &ce) < 0)
				atomic_fetch_add(&p->stats.errors, 1);
			p->paused_state[q] = ifcvf_ring_state_encode(avail, used);
		}
		/* a queue that would not stop cost the VF a reset: the port
		 * fails in the second half, its used rings logged into the
		 * new log */
		hw_log_stop(p);
		p->log_paused = true;
	} else if (p->running && p->lm == PORT_LM_RELAYING_SW) {
		for (unsigned q = 0; q < IFCVF_MAX_VRINGS; q++)
			if (p->relayed & (1ull << q))
				ring_relay_stop(p->relay, q);
		p->log_paused = true;
	}
	pthread_mutex_unlock(&p->ctl);
}

/* caller holds ctl. The frontend still has LOG_ALL on: a VF that cannot
 * log into the new log must not write at all, so any failure here fails
 * the port (its queues stay stopped, the VF is reset, the ring state and
 * the used rings go to the frontend and its new log). SET_LOG_BASE's reply
 * is already sent (by DPDK, empty: the message has no status) and QEMU
 * ignores a failure of it, so the port's state is what says so. */
static void log_resume(struct port *p)
{
	struct cerr ce = { 0 };
	int r = 0;

	if (!p->log_paused)
		return;
	p->log_paused = false;
	if (port_fail_stuck(p))
		return;
	if (p->lm == PORT_LM_LOGGING_HW) {
		r = hw_log_start(p, &ce);
		for (unsigned q = 0; r == 0 && q < IFCVF_MAX_VRINGS; q++) {
			uint16_t avail, used;

			if (!(p->vf_enabled & (1ull << q)))
				continue;
			ifcvf_ring_state_decode(IFCVF_DEV_BLK, p->paused_state[q], &avail, &used);
			p->vf_enabled &= ~(1ull << q);
			r = direct_queue(p, q, avail, used, &ce);
			if (r < 0)
				/* stopped still: the teardown reads it again */
				p->vf_enabled |= 1ull << q;
		}
	} else if (p->lm == PORT_LM_RELAYING_SW) {
		for (unsigned q = 0; r == 0 && q < IFCVF_MAX_VRINGS; q++)
			if (p->relayed & ~p->held & (1ull << q))
				r = ring_relay_start(p->relay, q, &ce);
	}
	if (r < 0) {
		cerr_prefix(&ce, "cannot log into the new dirty log (SET_LOG_BASE)");
		port_fail(p, &ce);
	}
}

void port_log_base_changed(struct port *p)
{
	pthread_mutex_lock(&p->ctl);
	/* DPDK took the new log */
	close_fd(&p->log_fd);
	p->log_fd = p->log_fd_next;
	p->log_fd_off = p->log_fd_next_off;
	p->log_fd_size = p->log_fd_next_size;
	p->log_fd_next = -1;
	log_resume(p);
	pthread_mutex_unlock(&p->ctl);
}

void port_lm_unpause(struct port *p)
{
	/* SET_LOG_BASE failed in DPDK, so its second half never came: go on
	 * with the log there is */
	close_fd(&p->log_fd_next);
	log_resume(p);
}

int port_set_lm_mode(struct port *p, enum port_lm_mode mode, struct cerr *e)
{
	struct timespec deadline;
	int r = 0;

	/* a bring-up holds ctl for as long as the VF takes: wait, not forever */
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += PORT_LM_MODE_WAIT_S;
	if (pthread_mutex_clocklock(&p->ctl, CLOCK_MONOTONIC, &deadline) != 0)
		return cerr_set(e, EBUSY, "the port has been busy for %d s (a device start or "
				"stop); try again", PORT_LM_MODE_WAIT_S);
	if (mode >= PORT_LM_MODE_LAST)
		r = cerr_set(e, EINVAL, "unknown live-migration mode %d", (int)mode);
	else if (p->lm != PORT_LM_DIRECT || p->log_all)
		r = cerr_set(e, EBUSY, "a live migration is under way (%s)",
			     port_lm_state_to_string(p->lm));
	else if (mode == PORT_LM_MODE_HW && !p->hw.lm_block)
		r = cerr_set(e, ENOTSUP, "the VF has no live-migration block (BAR4): only sw");
	else
		p->lm_mode = mode;
	port_snapshot(p);
	pthread_mutex_unlock(&p->ctl);
	return r;
}

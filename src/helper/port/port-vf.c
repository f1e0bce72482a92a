/* The VF side of a port: programming the VF from what the frontend set up
 * (guest memory, interrupts, vrings), the kick relay, the datapath's
 * bring-up and its stop. port.c decides when; this file does it. Every
 * function runs with ctl held (port.h), except the relay callbacks, which
 * run on the relay threads.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config-relay.h"
#include "ifcvf-regs.h"
#include "kick-relay.h"
#include "port-private.h"
#include "vhost-features.h"

#define RESET_TIMEOUT_MS 1000

/* ---- relay callbacks (relay threads) ---- */

void port_doorbell(struct port *p, unsigned qid)
{
	if (ifcvf_hw_notify_queue(&p->hw, qid, NULL) < 0)
		atomic_fetch_add(&p->stats.errors, 1);
	else
		atomic_fetch_add(&p->stats.kicks, 1);
}

void port_doorbell_nudge(struct port *p, unsigned qid)
{
	if (ifcvf_hw_notify_queue(&p->hw, qid, NULL) < 0)
		atomic_fetch_add(&p->stats.errors, 1);
}

static void on_kick(void *opaque, unsigned qid)
{
	port_doorbell(opaque, qid);
}

static void on_config_irq(void *opaque)
{
	struct port *p = opaque;
	int conn = atomic_load(&p->relay_conn);

	uint8_t cap[8];

	atomic_fetch_add(&p->stats.config_irqs, 1);
	if (p->hw.type != IFCVF_DEV_BLK)
		return;
	/* the capacity as the VF has it now, read without ctl (the device may
	 * be used from several threads; port_datapath_stop() joins this thread
	 * under ctl); the main loop learns of it through an event, it
	 * publishes it (bus-glue.c) */
	if (ifcvf_hw_read_device_config(&p->hw, VIRTIO_BLK_CFG_CAPACITY, cap, sizeof(cap),
					NULL) == 0) {
		uint64_t sectors = 0;

		for (unsigned i = 0; i < sizeof(cap); i++)
			sectors |= (uint64_t)cap[i] << (8 * i);
		if (atomic_exchange(&p->capacity, sectors) != sectors)
			port_info_changed(p, "capacity now %llu sectors of 512 bytes",
					  (unsigned long long)sectors);
	} else {
		atomic_fetch_add(&p->stats.errors, 1);
	}
	/* only a blk frontend reads the device config from the backend; the
	 * notice never waits on the frontend */
	if (conn >= 0 && p->fe->config_changed)
		p->fe->config_changed(conn);
}

/* ---- vrings ---- */

static int vf_reset(struct port *p, struct cerr *e);

/* A queue did not stop (@why): nothing but a reset stops it for sure. */
static void reset_stuck_vf(struct port *p, const struct cerr *why)
{
	struct cerr ce = { 0 };
	int r = vf_reset(p, &ce);

	p->vf_stuck = true;
	atomic_fetch_add(&p->stats.errors, 1);
	if (r < 0)
		cerr_set(&p->stuck_cause, EIO, "%s, and the VF cannot be reset (%s): it may still "
			 "write", why->msg, ce.msg);
	else
		cerr_set(&p->stuck_cause, ETIMEDOUT, "%s: the VF was reset, every vring's state is "
			 "its used index in guest memory", why->msg);
	port_note(p, true, "%s", p->stuck_cause.msg);
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* blk: the queue is stopped, but requests it fetched may still be under
 * way; wait (bounded) until its ring state shows every one completed
 * (last_avail == last_used), so the index handed back neither loses a
 * request nor offers one again. */
static int blk_drain(struct port *p, unsigned qid, uint16_t *avail, uint16_t *used,
		     struct cerr *e)
{
	long long deadline = mono_ms() + BLK_DRAIN_TIMEOUT_MS;
	long nap_ns = 10000;
	int r;

	while (*avail != *used) {
		if (mono_ms() >= deadline)
			return cerr_set(e, ETIMEDOUT,
					"vring %u: %u request(s) the VF fetched were not completed "
					"within %d ms of its stop (avail %u, used %u)",
					qid, (uint16_t)(*avail - *used), BLK_DRAIN_TIMEOUT_MS,
					*avail, *used);
		nanosleep(&(struct timespec){ .tv_nsec = nap_ns }, NULL);
		nap_ns = nap_ns * 4 > 1000000 ? 1000000 : nap_ns * 4;
		if ((r = ifcvf_hw_read_ring_state(&p->hw, qid, avail, used, e)) < 0)
			return r;
	}
	return 0;
}

int port_vf_queue_stop(struct port *p, unsigned qid, const struct vring_used *used_ring,
		       uint16_t *avail, uint16_t *used, struct cerr *e)
{
	bool split = !(p->features & (1ull << VIRTIO_F_RING_PACKED));
	bool reset = p->vf_reset_first || p->vf_stuck;

	if (!reset) {
		struct cerr ce = { 0 };

		if (ifcvf_hw_queue_disable(&p->hw, qid, QUEUE_STOP_TIMEOUT_MS, avail, used, &ce) < 0 ||
		    (p->hw.type == IFCVF_DEV_BLK && p->hw.lm_block &&
		     (p->blk_undrained = blk_drain(p, qid, avail, used, &ce) < 0))) {
			/* the reset makes sure the VF never completes what it
			 * had in flight: the guest's used index is then the
			 * truth, and the frontend offers those requests again */
			reset_stuck_vf(p, &ce);
			reset = true;
		}
	}
	if ((reset || !p->hw.lm_block) && split && used_ring) {
		/* no ring-state word (no BAR4 block, or the VF was reset): the
		 * used index the VF last published is the best we have, and
		 * the VF drops what it fetched but did not use (§3.2) */
		*used = __atomic_load_n(&used_ring->idx, __ATOMIC_ACQUIRE);
		*avail = *used;
	} else if (reset && p->vf_stuck) {
		return cerr_set(e, EIO, "vring %u: %s, and its state cannot be read from memory",
				qid, p->stuck_cause.msg);
	}
	return 0;
}

/* A plain net function with MQ: tell it through its control queue how
 * many pairs run (an IFCVF's MQ register is written with the queues). */
static int set_pairs(struct port *p, struct cerr *e)
{
	unsigned pairs = popcount64(p->vf_enabled) / 2;
	int r;

	if (!ifcvf_ctrlq_running(p->ctrlq))
		return 0;
	r = ifcvf_ctrlq_set_pairs(p->ctrlq, &p->hw, pairs ? pairs : 1, IFCVF_CTRLQ_TIMEOUT_MS, e);
	return r < 0 ? cerr_prefix(e, "cannot set the number of queue pairs") : 0;
}

/* Program and enable vring @qid in the VF from what the frontend set up. */
int port_queue_setup(struct port *p, unsigned qid, bool bind_vector, bool update_mq,
		     struct cerr *e)
{
	struct ifcvf_vring_cfg cfg;
	struct port_vring vr;
	int r;

	if ((r = port_vring_accept(p, qid, &cfg, e)) < 0)
		return r;
	vr = p->vr[qid];
	/* the VF moves from here on */
	p->vf_pos_known &= ~(1ull << qid);

	/* while the port relays, a vring that comes (back) goes through the
	 * relay too: a new callfd, a queue enabled during a migration */
	if ((p->lm == PORT_LM_RELAYING_SW && port_lm_relays(p, qid)) || p->translated) {
		r = port_lm_relay_queue(p, qid, &cfg, update_mq, e);
		return r < 0 || !update_mq ? r : set_pairs(p, e);
	}

	if (bind_vector) {
		r = vfio_dev_set_irq_eventfds(p->dev, VFIO_DEV_IRQ_MSIX, qid + 1, 1, &vr.callfd, e);
		if (r < 0)
			return cerr_prefix(e, "vring %u: cannot bind its interrupt", qid);
	}
	if (update_mq) {
		r = ifcvf_hw_set_mq(&p->hw, popcount64(p->vf_enabled | 1ull << qid), e);
		if (r < 0)
			return r;
	}
	/* counted as enabled from here, so a failure below still disables it */
	p->vf_enabled |= 1ull << qid;
	if ((r = ifcvf_hw_queue_program(&p->hw, qid, &cfg, e)) < 0 ||
	    (r = ifcvf_hw_queue_enable(&p->hw, qid, e)) < 0)
		return r;
	if (p->kick && vr.kickfd >= 0) {
		r = kick_relay_add(p->kick, qid, vr.kickfd, e);
		if (r < 0)
			return r;
		/* a kick may have been taken while the queue was down */
		port_doorbell_nudge(p, qid);
	}
	if (update_mq && (r = set_pairs(p, e)) < 0)
		return r;
	if (p->running)
		port_hn_sync(p);
	return 0;
}

/* Disable vring @qid in the VF; with @save, hand its ring state back (and,
 * while the frontend logs, mark its used ring dirty). */
void port_queue_teardown(struct port *p, unsigned qid, bool save)
{
	uint64_t bit = 1ull << qid;
	uint16_t avail = 0, used = 0;
	/* without @save the frontend may be gone already (shutdown) */
	bool have = save && p->conn >= 0 &&
		    p->fe->get_vring_base(p->conn, qid, &avail, &used) == 0;
	struct cerr ce = { 0 };
	/* the VF's own index is the guest's minus the relay's shift */
	uint16_t shift = (p->relayed & bit) ? p->med_shift[qid] : 0;
	bool stopped = (p->vf_enabled & bit) != 0;

	if (p->kick)
		kick_relay_remove(p->kick, qid);
	port_phase(&p->phases, "kick relay");
	if (p->relayed & bit) {
		if (port_lm_unrelay_queue(p, qid, &avail, &used, &ce) < 0) {
			atomic_fetch_add(&p->stats.errors, 1);
			have = stopped = false;
		}
	} else if (port_vf_queue_stop(p, qid, (const struct vring_used *)(uintptr_t)p->vr[qid].used,
				      &avail, &used, &ce) < 0) {
		atomic_fetch_add(&p->stats.errors, 1);
		have = stopped = false;
	}
	port_phase(&p->phases, "queue stop");
	p->vf_enabled &= ~bit;
	if (stopped) {
		p->vf_pos[qid] = (uint16_t)(used - shift);
		p->vf_pos_known |= bit;
	}
	if (save && have) {
		if (p->log_all)
			port_lm_log_used_ring(p, qid);
		(void)p->fe->set_vring_base(p->conn, qid, avail, used);
	}
	port_phase(&p->phases, "ring state");
}

/* ---- datapath ---- */

/* No config interrupt, then a reset: the VF writes nothing more, and needs
 * no other reset before it is programmed again (vf_fresh). */
static int vf_reset(struct port *p, struct cerr *e)
{
	int r = ifcvf_hw_set_config_vector(&p->hw, VIRTIO_MSI_NO_VECTOR, e);

	if (r == 0)
		r = ifcvf_hw_reset(&p->hw, RESET_TIMEOUT_MS, e);
	if (r == 0)
		ifcvf_ctrlq_stop(p->ctrlq, p->dev);
	p->vf_fresh = r == 0;
	p->vf_touched = false;
	return r;
}

/* Undo whatever bring-up did, in reverse; safe on a partial bring-up. */
void port_datapath_stop(struct port *p, bool save)
{
	struct cerr ce = { 0 };

	/* the kick relay's thread stays, idle, for the next bring-up (its
	 * start is a good part of a stop's time); no doorbell once each
	 * vring is off it */
	for (unsigned q = 0; p->kick && q < IFCVF_MAX_VRINGS; q++)
		kick_relay_remove(p->kick, q);
	if (p->closing || !p->dev) {
		kick_relay_free(p->kick);
		p->kick = NULL;
	}
	port_phase(&p->phases, "kick relay");
	/* a virtio function that is not an IFCVF has no per-queue stop: the
	 * device reset stops every vring at once, and each one's state is then
	 * its used index in guest memory (what it fetched but did not use is
	 * dropped, as §3.2 says of a VF without ring-state words) */
	if (!p->hw.is_ifcvf && p->vf_touched) {
		if (vf_reset(p, &ce) < 0)
			atomic_fetch_add(&p->stats.errors, 1);
		p->vf_reset_first = true;
	}
	for (unsigned q = 0; q < IFCVF_MAX_VRINGS; q++)
		if ((p->vf_enabled | p->relayed) & (1ull << q))
			port_queue_teardown(p, q, save);
	p->vf_reset_first = false;
	/* kept for the caller: a blk VF did not drain (stuck_cause) */
	p->stop_undrained = p->blk_undrained;
	p->blk_undrained = false;
	p->vf_stuck = false;
	p->translated = false;
	/* the VF writes nothing more: logging off, the relay gone */
	port_lm_stop(p);
	port_phase(&p->phases, "relay thread, spare rings");
	if (p->vf_touched && vf_reset(p, &ce) < 0)
		atomic_fetch_add(&p->stats.errors, 1);
	port_phase(&p->phases, "reset");
	if (p->irqs_bound) {
		if (vfio_dev_disable_irqs(p->dev, VFIO_DEV_IRQ_MSIX, &ce) < 0)
			atomic_fetch_add(&p->stats.errors, 1);
		p->irqs_bound = false;
	}
	port_phase(&p->phases, "interrupts");
	atomic_store(&p->relay_conn, -1);
	/* its thread stays, idle (vector 0 is unbound), for the next
	 * bring-up, unless the port closes */
	if (p->closing || !p->dev) {
		config_relay_free(p->config);
		p->config = NULL;
	}
	port_phase(&p->phases, "config relay");
	while (p->mapped > 0) {
		const struct port_mem_region *r = &p->mem.r[--p->mapped];

		if (vfio_dev_dma_unmap(p->dev, r->gpa, r->size, &ce) < 0)
			atomic_fetch_add(&p->stats.errors, 1);
	}
	port_phase(&p->phases, "memory unmap");
	p->vf_enabled = 0;
	p->running = false;
	port_hn_sync(p);
	port_snapshot(p);
}

static int map_memory(struct port *p, struct cerr *e)
{
	int r = port_mem_accept(p, e);

	if (r < 0)
		return r;
	for (unsigned i = 0; i < p->mem.n; i++) {
		const struct port_mem_region *m = &p->mem.r[i];

		r = vfio_dev_dma_map(p->dev, m->gpa, m->size, (void *)(uintptr_t)m->hva, m->fd,
				     m->fd_offset, e);
		if (r < 0)
			return cerr_prefix(e, "cannot DMA-map guest memory region %u", i);
		p->mapped++;
		atomic_fetch_add(&p->stats.dma_maps, 1);
	}
	return 0;
}

/* MSI-X: vector 0 to the config relay, vector i+1 to vring i's callfd. */
static int bind_interrupts(struct port *p, unsigned nr, uint64_t vrings, struct cerr *e)
{
	int fds[IFCVF_MAX_VRINGS + 1];
	char name[16];
	int r;

	snprintf(name, sizeof(name), "ifcvf-cfg-%u", p->index);
	/* the one a stop left idle, if any */
	if (!p->config && (r = config_relay_new(name, on_config_irq, p, &p->config, e)) < 0)
		return r;
	atomic_store(&p->relay_conn, p->conn);
	fds[0] = config_relay_fd(p->config);
	for (unsigned q = 0; q < nr; q++) {
		struct port_vring vr;

		fds[q + 1] = -1;
		if ((vrings & (1ull << q)) && p->fe->get_vring(p->conn, q, &vr) == 0)
			fds[q + 1] = vr.callfd;
	}
	r = vfio_dev_set_irq_eventfds(p->dev, VFIO_DEV_IRQ_MSIX, 0, nr + 1, fds, e);
	if (r < 0)
		return cerr_prefix(e, "cannot bind MSI-X");
	p->irqs_bound = true;
	return 0;
}

/* @was_reset: the caller reset the function just now, and a second reset
 * only widens the window in which it drops the frames it receives (QEMU's
 * virtio-net does, while the driver programs it) */
static int program_vf(struct port *p, uint64_t vrings, bool was_reset, struct cerr *e)
{
	uint64_t vf_features = ifcvf_vhost_vf_features(p->hw.type, p->hw.is_ifcvf, p->queues,
						       p->features, p->hw.features);
	int r;

	p->vf_touched = true;
	p->vf_fresh = false;
	if (!was_reset && (r = ifcvf_hw_reset(&p->hw, RESET_TIMEOUT_MS, e)) < 0)
		return r;
	if ((r = ifcvf_hw_add_status(&p->hw, VIRTIO_STATUS_ACKNOWLEDGE, e)) < 0 ||
	    (r = ifcvf_hw_add_status(&p->hw, VIRTIO_STATUS_DRIVER, e)) < 0 ||
	    (r = ifcvf_hw_set_features(&p->hw, vf_features, e)) < 0)
		return r;
	/* queue_size reads the maximum only until the driver writes it; after
	 * the features, as a plain function with MQ may add its queues then */
	for (unsigned q = 0; q < ifcvf_hw_max_vrings(&p->hw) && q < IFCVF_MAX_VRINGS; q++) {
		r = ifcvf_hw_queue_max_size(&p->hw, q, &p->qmax[q], e);
		if (r < 0)
			return r;
	}
	if (!p->hw.is_ifcvf && p->hw.type == IFCVF_DEV_NET &&
	    (vf_features & (1ull << VIRTIO_NET_F_MQ))) {
		if (!p->ctrlq && (r = ifcvf_ctrlq_new(&p->ctrlq, e)) < 0)
			return r;
		if ((r = ifcvf_ctrlq_start(p->ctrlq, &p->hw, e)) < 0)
			return r;
	}
	if ((r = ifcvf_hw_set_config_vector(&p->hw, 0, e)) < 0 ||
	    (r = ifcvf_hw_set_mq(&p->hw, popcount64(vrings), e)) < 0)
		return r;
	for (unsigned q = 0; q < IFCVF_MAX_VRINGS; q++) {
		if (!(vrings & (1ull << q)))
			continue;
		r = port_queue_setup(p, q, false, false, e);
		if (r < 0)
			return r;
	}
	/* the frontend logs already: the VF logs before it runs, not from
	 * the switch after the start (it would write unlogged meanwhile) */
	if ((r = port_lm_log_before_run(p, e)) < 0)
		return cerr_prefix(e, "cannot log dirty pages");
	r = ifcvf_hw_add_status(&p->hw, VIRTIO_STATUS_DRIVER_OK, e);
	if (r == 0)
		r = set_pairs(p, e);
	if (r < 0)
		return r;
	/* a relayed vring rang its doorbell before DRIVER_OK, which a plain
	 * virtio function ignores: buffers posted wait for this one */
	for (unsigned q = 0; q < IFCVF_MAX_VRINGS; q++)
		if (p->relayed & (1ull << q))
			port_doorbell(p, q);
	return 0;
}

bool port_vf_resumes_elsewhere(struct port *p, unsigned qid)
{
	uint16_t avail, used;

	if (p->translated || !p->hw.is_ifcvf || p->hw.lm_block ||
	    port_resume_index(p, qid, false, &avail, &used) < 0)
		return false;
	return !(p->vf_pos_known & (1ull << qid)) || p->vf_pos[qid] != used;
}

/* How the VF starts the vrings about to run (p->translated):
 * - an IFCVF with ring-state registers (BAR4) is told each resume index;
 * - a plain virtio function restarts its rings at 0 after its reset: when
 *   one stands elsewhere (or the frontend logs), every vring is relayed
 *   with translated indices;
 * - an IFCVF without them resumes each vring where it stopped itself, which
 *   is right only when this process saw it stop at the resume index. Else
 *   (a restarted helper, a frontend that completed entries while no backend
 *   ran) a function reset puts every ring at 0, and it is translated as a
 *   plain function is: it never resumes where the guest's ring says no. */
static int choose_start(struct port *p, uint64_t vrings, struct cerr *e)
{
	bool nonzero = false, unknown = false;
	unsigned first = 0;
	uint16_t first_idx = 0;
	int r;

	p->translated = false;
	/* logging: the relay carries the rings from the start (sw mode is the
	 * only mode without the BAR4 block). An IFCVF in sw mode too: started
	 * direct, it would write unlogged until the switch (a device
	 * re-attached, a frontend back, while the frontend logs) */
	if (p->log_all && (!p->hw.is_ifcvf || p->lm_mode != PORT_LM_MODE_HW)) {
		p->translated = true;
		return 0;
	}
	if (p->hw.is_ifcvf && p->hw.lm_block)
		return 0;
	if (!p->hw.is_ifcvf && p->log_all) {
		p->translated = true;
		return 0;
	}
	for (unsigned q = 0; q < IFCVF_MAX_VRINGS; q++) {
		uint16_t avail, used;

		if (!(vrings & (1ull << q)) || port_resume_index(p, q, false, &avail, &used) < 0)
			continue;
		if ((avail || used) && !nonzero) {
			first = q;
			first_idx = used;
		}
		nonzero |= avail || used;
		if (!(p->vf_pos_known & (1ull << q)) || p->vf_pos[q] != used)
			unknown = true;
	}
	if (!p->hw.is_ifcvf || !unknown) {
		p->translated = !p->hw.is_ifcvf && nonzero;
		return 0;
	}
	r = vfio_dev_reset(p->dev, e);
	if (r < 0)
		return cerr_prefix(e, "cannot reset the VF, which has no ring-state registers (BAR4), "
				   "to restart its rings at 0");
	memset(p->vf_pos, 0, sizeof(p->vf_pos));
	p->vf_pos_known = ~0ull;
	p->vf_fresh = true;
	p->translated = nonzero;
	if (nonzero)
		port_note(p, false, "vring %u resumes at index %u, where the VF is not known to stand, and "
			  "it has no ring-state registers (BAR4) to be told so: the function was reset",
			  first, first_idx);
	return 0;
}

int port_vf_restart_translated(struct port *p, struct cerr *e)
{
	uint64_t vrings = p->vf_enabled | p->relayed;
	int r;

	if (p->kick)
		for (unsigned q = 0; q < IFCVF_MAX_VRINGS; q++)
			kick_relay_remove(p->kick, q);
	/* every vring stops at once; each one's state is then its used index
	 * in guest memory, handed to the frontend for the programming below */
	r = vf_reset(p, e);
	if (r == 0) {
		p->vf_reset_first = true;
		for (unsigned q = 0; q < IFCVF_MAX_VRINGS; q++)
			if (vrings & (1ull << q))
				port_queue_teardown(p, q, true);
		p->vf_reset_first = false;
		p->translated = true;
		r = program_vf(p, vrings, true, e);
	}
	if (r < 0) {
		cerr_prefix(e, "cannot restart the function with its vrings relayed");
		port_fail(p, e);
	}
	return r;
}

static int start_kick_relay(struct port *p, struct cerr *e)
{
	char name[16];
	int r;

	snprintf(name, sizeof(name), "ifcvf-kick-%u", p->index);
	/* the one a stop left idle, if any */
	if (!p->kick && (r = kick_relay_new(name, on_kick, p, &p->kick, e)) < 0)
		return r;
	for (unsigned q = 0; q < IFCVF_MAX_VRINGS; q++) {
		/* a relayed vring's kicks are the ring relay's */
		if (!(p->vf_enabled & (1ull << q)) || (p->relayed & (1ull << q)) ||
		    p->vr[q].kickfd < 0)
			continue;
		r = kick_relay_add(p->kick, q, p->vr[q].kickfd, e);
		if (r < 0)
			return r;
		/* kicks sent before the relay ran are still counted in the
		 * eventfd; this one covers a doorbell lost to the reset */
		port_doorbell_nudge(p, q);
	}
	return 0;
}

/* The seed's dev_conf. */
int port_datapath_start(struct port *p, struct cerr *e)
{
	unsigned nr;
	uint64_t vrings;
	int r;

	if ((r = port_frontend_accept(p, &nr, &vrings, e)) < 0)
		return r;
	if ((r = choose_start(p, vrings, e)) < 0 ||
	    (r = map_memory(p, e)) < 0 ||
	    (r = bind_interrupts(p, nr, vrings, e)) < 0 ||
	    (r = program_vf(p, vrings, p->vf_fresh, e)) < 0 ||
	    (r = start_kick_relay(p, e)) < 0)
		return r;
	p->running = true;
	port_hn_sync(p);
	port_lm_prepare(p);
	if (p->translated)
		port_note(p, false, "%u vrings relayed from the start: %s restarts its rings at 0, so "
			  "the relay %s until the device stops", popcount64(p->relayed),
			  p->hw.is_ifcvf ? "the VF (no ring-state registers) was reset and"
					 : "a plain virtio function",
			  p->log_all ? "logs and translates ring indices" : "translates ring indices");
	return 0;
}

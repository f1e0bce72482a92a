/* The port state machine: bring-up, per-vring changes and stop of one VF
 * behind one vhost-user socket. See port.h for the threads. */
#include "port.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config-relay.h"
#include "ifcvf-regs.h"
#include "kick-relay.h"
#include "port-private.h"
#include "vhost-features.h"

#define RESET_TIMEOUT_MS 1000
#define VIRTIO_STATUS_DRIVER_OK_BIT 0x04u

static const char *const state_names[PORT_STATE_LAST] = {
	[PORT_STATE_PROBED] = "probed",
	[PORT_STATE_WAITING] = "waiting",
	[PORT_STATE_RUNNING] = "running",
	[PORT_STATE_STOPPED] = "stopped",
	[PORT_STATE_FAILED] = "failed",
};

static const char *const lm_mode_names[PORT_LM_MODE_LAST] = {
	[PORT_LM_MODE_HW] = "hw",
	[PORT_LM_MODE_SW] = "sw",
};

static const char *const lm_state_names[PORT_LM_LAST] = {
	[PORT_LM_DIRECT] = "direct",
	[PORT_LM_LOGGING_HW] = "logging-hw",
	[PORT_LM_RELAYING_SW] = "relaying-sw",
};

const char *port_state_to_string(enum port_state state)
{
	return state < PORT_STATE_LAST ? state_names[state] : "unknown";
}

const char *port_lm_mode_to_string(enum port_lm_mode mode)
{
	return mode < PORT_LM_MODE_LAST ? lm_mode_names[mode] : "unknown";
}

const char *port_lm_state_to_string(enum port_lm_state state)
{
	return state < PORT_LM_LAST ? lm_state_names[state] : "unknown";
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static unsigned popcount64(uint64_t v)
{
	return (unsigned)__builtin_popcountll(v);
}

/* Record a state change and hand it to the main loop. */
static void set_state(struct port *p, enum port_state state, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_state(struct port *p, enum port_state state, const char *fmt, ...)
{
	struct port_event ev = { .port = p->index, .state = state };
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(ev.reason, sizeof(ev.reason), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_lock(&p->state_lock);
	p->state = state;
	memcpy(p->reason, ev.reason, sizeof(p->reason));
	pthread_mutex_unlock(&p->state_lock);
	port_snapshot(p);
	if (p->events)
		port_events_push(p->events, &ev);
}

void port_note(struct port *p, bool warning, const char *fmt, ...)
{
	struct port_event ev = { .port = p->index, .warning = warning };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ev.reason, sizeof(ev.reason), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&p->state_lock);
	ev.state = p->state;
	pthread_mutex_unlock(&p->state_lock);
	port_snapshot(p);
	if (p->events)
		port_events_push(p->events, &ev);
}

void port_snapshot(struct port *p)
{
	pthread_mutex_lock(&p->state_lock);
	p->enabled_snapshot = p->vf_enabled & ~p->held;
	p->relayed_snapshot = p->relayed;
	p->lm_snapshot = p->lm;
	p->lm_mode_snapshot = p->lm_mode;
	p->relay_view = p->relay;
	pthread_mutex_unlock(&p->state_lock);
}

/* ---- relay callbacks (relay threads) ---- */

void port_doorbell(struct port *p, unsigned qid)
{
	if (ifcvf_hw_notify_queue(&p->hw, qid, NULL) < 0)
		atomic_fetch_add(&p->stats.errors, 1);
	else
		atomic_fetch_add(&p->stats.kicks, 1);
}

static void on_kick(void *opaque, unsigned qid)
{
	port_doorbell(opaque, qid);
}

static void on_config_irq(void *opaque)
{
	struct port *p = opaque;
	int conn = atomic_load(&p->relay_conn);

	atomic_fetch_add(&p->stats.config_irqs, 1);
	/* only a blk frontend reads the device config from the backend; the
	 * notice never waits on the frontend, as stop_datapath() joins this
	 * thread under ctl */
	if (p->hw.type == IFCVF_DEV_BLK && conn >= 0 && p->fe->config_changed)
		p->fe->config_changed(conn);
}

/* ---- vrings ---- */

static const char *queue_unit(const struct port *p)
{
	return p->hw.type == IFCVF_DEV_NET ? "queue pairs" : "queues";
}

static int translate(struct port *p, unsigned qid, const char *what, uint64_t hva, uint64_t len,
		     uint64_t *gpa, struct cerr *e)
{
	if (port_mem_hva_to_gpa(&p->mem, hva, len, gpa) < 0)
		return cerr_set(e, EFAULT, "vring %u: the %s (0x%llx bytes) is outside guest memory",
				qid, what, (unsigned long long)len);
	return 0;
}

int port_queue_cfg(struct port *p, unsigned qid, struct ifcvf_vring_cfg *ret, struct cerr *e)
{
	bool packed = p->features & (1ull << VIRTIO_F_RING_PACKED);
	const struct port_vring *vr = &p->vr[qid];
	struct ifcvf_vring_cfg cfg = { .vector = (uint16_t)(qid + 1), .size = vr->size };
	uint64_t n = vr->size;
	int r;

	if ((r = translate(p, qid, "descriptor table", vr->desc, 16 * n, &cfg.desc, e)) < 0 ||
	    (r = translate(p, qid, packed ? "driver event area" : "available ring", vr->avail,
			   packed ? 4 : 6 + 2 * n, &cfg.avail, e)) < 0 ||
	    (r = translate(p, qid, packed ? "device event area" : "used ring", vr->used,
			   packed ? 4 : 6 + 8 * n, &cfg.used, e)) < 0)
		return r;
	*ret = cfg;
	return 0;
}

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

int port_vf_queue_stop(struct port *p, unsigned qid, const struct vring_used *used_ring,
		       uint16_t *avail, uint16_t *used, struct cerr *e)
{
	bool split = !(p->features & (1ull << VIRTIO_F_RING_PACKED));
	bool reset = p->vf_reset_first || p->vf_stuck;

	if (!reset) {
		struct cerr ce = { 0 };

		if (ifcvf_hw_queue_disable(&p->hw, qid, QUEUE_STOP_TIMEOUT_MS, avail, used, &ce) < 0) {
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
static int queue_setup(struct port *p, unsigned qid, bool bind_vector, bool update_mq,
		       struct cerr *e)
{
	struct ifcvf_vring_cfg cfg;
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
	p->vr[qid] = vr;
	if ((r = port_queue_cfg(p, qid, &cfg, e)) < 0)
		return r;
	if (p->fe->get_vring_base(p->conn, qid, &cfg.last_avail_idx, &cfg.last_used_idx) < 0)
		return cerr_set(e, EIO, "vring %u: cannot read its ring state", qid);

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
		on_kick(p, qid);
	}
	return update_mq ? set_pairs(p, e) : 0;
}

/* Disable vring @qid in the VF; with @save, hand its ring state back (and,
 * while the frontend logs, mark its used ring dirty). */
static void queue_teardown(struct port *p, unsigned qid, bool save)
{
	uint64_t bit = 1ull << qid;
	uint16_t avail = 0, used = 0;
	/* without @save the frontend may be gone already (shutdown) */
	bool have = save && p->conn >= 0 &&
		    p->fe->get_vring_base(p->conn, qid, &avail, &used) == 0;
	struct cerr ce = { 0 };

	if (p->kick)
		kick_relay_remove(p->kick, qid);
	if (p->relayed & bit) {
		if (port_lm_unrelay_queue(p, qid, &avail, &used, &ce) < 0) {
			atomic_fetch_add(&p->stats.errors, 1);
			have = false;
		}
	} else if (port_vf_queue_stop(p, qid, (const struct vring_used *)(uintptr_t)p->vr[qid].used,
				      &avail, &used, &ce) < 0) {
		atomic_fetch_add(&p->stats.errors, 1);
		have = false;
	}
	p->vf_enabled &= ~bit;
	if (save && have) {
		if (p->log_all)
			port_lm_log_used_ring(p, qid);
		(void)p->fe->set_vring_base(p->conn, qid, avail, used);
	}
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
static void stop_datapath(struct port *p, bool save)
{
	struct cerr ce = { 0 };

	kick_relay_free(p->kick);
	p->kick = NULL;
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
			queue_teardown(p, q, save);
	p->vf_reset_first = false;
	p->vf_stuck = false;
	p->translated = false;
	/* the VF writes nothing more: logging off, the relay gone */
	port_lm_stop(p);
	if (p->vf_touched && vf_reset(p, &ce) < 0)
		atomic_fetch_add(&p->stats.errors, 1);
	if (p->irqs_bound) {
		if (vfio_dev_disable_irqs(p->dev, VFIO_DEV_IRQ_MSIX, &ce) < 0)
			atomic_fetch_add(&p->stats.errors, 1);
		p->irqs_bound = false;
	}
	atomic_store(&p->relay_conn, -1);
	config_relay_free(p->config);
	p->config = NULL;
	while (p->mapped > 0) {
		const struct port_mem_region *r = &p->mem.r[--p->mapped];

		if (vfio_dev_dma_unmap(p->dev, r->gpa, r->size, &ce) < 0)
			atomic_fetch_add(&p->stats.errors, 1);
	}
	p->vf_enabled = 0;
	p->running = false;
	port_snapshot(p);
}

static int map_memory(struct port *p, struct cerr *e)
{
	int r = p->fe->get_mem(p->conn, &p->mem, e);

	if (r < 0)
		return r;
	r = port_mem_check(&p->mem, e);
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
	r = config_relay_new(name, on_config_irq, p, &p->config, e);
	if (r < 0)
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

static void fail_running(struct port *p, const struct cerr *ce);

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
		r = queue_setup(p, q, false, false, e);
		if (r < 0)
			return r;
	}
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

/* A plain virtio function restarts its rings at 0 after a reset: does any
 * vring about to start stand elsewhere? */
static bool needs_translation(struct port *p, uint64_t vrings)
{
	if (p->hw.is_ifcvf)
		return false;
	/* logging: the relay carries the rings from the start (sw mode is the
	 * only mode without the BAR4 block) */
	if (p->log_all)
		return true;
	for (unsigned q = 0; q < IFCVF_MAX_VRINGS; q++) {
		uint16_t avail, used;

		if ((vrings & (1ull << q)) && p->fe->get_vring_base(p->conn, q, &avail, &used) == 0 &&
		    (avail || used))
			return true;
	}
	return false;
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
				queue_teardown(p, q, true);
		p->vf_reset_first = false;
		p->translated = true;
		r = program_vf(p, vrings, true, e);
	}
	if (r < 0) {
		cerr_prefix(e, "cannot restart the function with its vrings relayed");
		fail_running(p, e);
	}
	return r;
}

static int start_kick_relay(struct port *p, struct cerr *e)
{
	char name[16];
	int r;

	snprintf(name, sizeof(name), "ifcvf-kick-%u", p->index);
	r = kick_relay_new(name, on_kick, p, &p->kick, e);
	if (r < 0)
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
		on_kick(p, q);
	}
	return 0;
}

/* The seed's dev_conf. */
static int bring_up(struct port *p, struct cerr *e)
{
	unsigned nr = p->fe->num_vrings(p->conn);
	uint64_t vrings;
	int r;

	if (p->fe->get_features(p->conn, &p->features) < 0)
		return cerr_set(e, EIO, "cannot read the negotiated features");
	pthread_mutex_lock(&p->state_lock);
	p->negotiated = p->features;
	pthread_mutex_unlock(&p->state_lock);
	if (nr > p->max_vrings)
		return cerr_set(e, ERANGE, "the frontend set up %u vrings, but the port offers %u (%u %s)",
				nr, p->max_vrings, p->queues, queue_unit(p));
	vrings = p->ready & (nr >= 64 ? ~0ull : (1ull << nr) - 1);
	p->translated = needs_translation(p, vrings);
	if ((r = map_memory(p, e)) < 0 ||
	    (r = bind_interrupts(p, nr, vrings, e)) < 0 ||
	    (r = program_vf(p, vrings, p->vf_fresh, e)) < 0 ||
	    (r = start_kick_relay(p, e)) < 0)
		return r;
	p->running = true;
	if (p->translated)
		port_note(p, false, "%u vrings relayed from the start: a plain virtio function restarts its "
			  "rings at 0, so the relay %s until the device stops", popcount64(p->relayed),
			  p->log_all ? "logs and translates ring indices" : "translates ring indices");
	else if (!p->hw.lm_block) {
		/* the VF starts from its own position: fine for the VF that
		 * stopped there, wrong for another one (a migration's
		 * destination), which cannot be told where to resume */
		for (unsigned q = 0; q < IFCVF_MAX_VRINGS; q++) {
			uint16_t avail, used;

			if ((p->vf_enabled & (1ull << q)) &&
			    p->fe->get_vring_base(p->conn, q, &avail, &used) == 0 && (avail || used)) {
				port_note(p, true, "vring %u resumes at index %u, but the VF has no ring-state "
					  "registers (BAR4) to be told so: it resumes where it stopped itself, "
					  "which is right only for the VF that stopped there", q, used);
				break;
			}
		}
	}
	return 0;
}

static bool frontend_ready(struct port *p)
{
	uint64_t need = p->hw.type == IFCVF_DEV_NET ? 0x3 : 0x1;
	uint64_t pf = 0;

	if (p->conn < 0 || (p->ready & need) != need)
		return false;
	/* with STATUS, the frontend says when it is done configuring */
	if (p->fe->get_protocol_features(p->conn, &pf) == 0 &&
	    (pf & (1ull << VHOST_USER_PF_STATUS)) && !(p->fe_status & VIRTIO_STATUS_DRIVER_OK_BIT))
		return false;
	return true;
}

/* RUNNING again with the vrings now enabled, so the main loop sees queue
 * changes too */
static void announce_running(struct port *p)
{
	set_state(p, PORT_STATE_RUNNING, "%u of %u vrings enabled", popcount64(p->vf_enabled & ~p->held),
		  p->fe->num_vrings(p->conn));
}

static void fail_running(struct port *p, const struct cerr *ce)
{
	stop_datapath(p, true);
	p->refused = true;
	atomic_fetch_add(&p->stats.errors, 1);
	atomic_fetch_add(&p->stats.stops, 1);
	set_state(p, PORT_STATE_FAILED, "%s", ce->msg);
}

void port_fail(struct port *p, const struct cerr *ce)
{
	fail_running(p, ce);
}

bool port_fail_stuck(struct port *p)
{
	struct cerr ce;

	if (!p->vf_stuck || !p->running)
		return false;
	ce = p->stuck_cause;
	fail_running(p, &ce);
	return true;
}

/* Converge: bring the datapath up once the frontend is ready. */
static void reconcile(struct port *p)
{
	struct cerr ce = { 0 };

	if (p->running || p->refused || p->closing || !frontend_ready(p))
		return;
	if (bring_up(p, &ce) < 0) {
		stop_datapath(p, false);
		p->refused = true;
		atomic_fetch_add(&p->stats.errors, 1);
		set_state(p, PORT_STATE_FAILED, "%s", ce.msg);
		return;
	}
	atomic_fetch_add(&p->stats.starts, 1);
	announce_running(p);
	/* a device (re)started while the frontend logs: log from the start,
	 * or write nothing (no frontend message to refuse here, and a VF
	 * writing unlogged would corrupt the migrated guest) */
	if (port_lm_reconcile(p, &ce) < 0 && p->running) {
		cerr_prefix(&ce, "cannot log dirty pages");
		fail_running(p, &ce);
	}
}

/* ---- entry points ---- */

int port_open(unsigned index, const struct port_config *cfg,
	      const struct port_frontend_ops *fe, struct port_events *events,
	      struct port **ret, struct cerr *e)
{
	struct ifcvf_devargs args = { .sw_live_migration = cfg->sw_live_migration,
				      .generic_virtio = cfg->generic_virtio };
	struct port *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return cerr_set(e, ENOMEM, "out of memory");
	p->index = index;
	p->fe = fe;
	p->events = events;
	p->conn = -1;
	atomic_init(&p->relay_conn, -1);
	atomic_init(&p->conn_lookup, -1);
	p->cfg = *cfg;
	p->cfg.device = strdup(cfg->device);
	p->cfg.socket = strdup(cfg->socket);
	pthread_mutex_init(&p->ctl, NULL);
	pthread_mutex_init(&p->state_lock, NULL);
	if (!p->cfg.device || !p->cfg.socket) {
		r = cerr_set(e, ENOMEM, "out of memory");
		goto fail;
	}
	r = vfio_dev_open(cfg->device, NULL, &p->dev, e);
	if (r < 0)
		goto fail;
	r = ifcvf_hw_init(&p->hw, p->dev, &args, e);
	if (r < 0)
		goto fail;
	if (cfg->queue_pairs > p->hw.max_queues) {
		r = cerr_set(e, EINVAL, "queue-pairs=%u is more than the VF has (%u %s)",
			     cfg->queue_pairs, p->hw.max_queues,
			     p->hw.type == IFCVF_DEV_NET ? "queue pairs" : "queues");
		goto fail;
	}
	p->queues = cfg->queue_pairs ? cfg->queue_pairs : p->hw.max_queues;
	p->max_vrings = p->hw.type == IFCVF_DEV_NET ? 2 * p->queues : p->queues;
	p->offered = ifcvf_vhost_offered_features(p->hw.type, p->hw.is_ifcvf, p->hw.features,
						  p->queues);
	p->protocol = ifcvf_vhost_protocol_features(p->hw.type);
	port_lm_init(p);
	p->state = PORT_STATE_PROBED;
	*ret = p;
	return 0;

fail:
	vfio_dev_close(p->dev);
	pthread_mutex_destroy(&p->ctl);
	pthread_mutex_destroy(&p->state_lock);
	free(p->cfg.device);
	free(p->cfg.socket);
	free(p);
	return r;
}

void port_shutdown(struct port *p)
{
	bool had_frontend;

	if (!p)
		return;
	pthread_mutex_lock(&p->ctl);
	had_frontend = p->conn >= 0;
	p->closing = true;
	if (p->running || p->vf_touched || p->mapped) {
		if (p->running)
			atomic_fetch_add(&p->stats.stops, 1);
		stop_datapath(p, false);
	}
	/* DPDK's threads find the port no more */
	p->conn = -1;
	atomic_store(&p->conn_lookup, -1);
	atomic_store(&p->log_on, false);
	pthread_mutex_lock(&p->state_lock);
	p->connected = false;
	pthread_mutex_unlock(&p->state_lock);
	if (had_frontend)
		set_state(p, PORT_STATE_STOPPED, "the helper is shutting down");
	pthread_mutex_unlock(&p->ctl);
}

void port_close(struct port *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->ctl);
	/* the vhost socket is unregistered by now: the frontend is gone */
	p->conn = -1;
	atomic_store(&p->conn_lookup, -1);
	if (p->running || p->vf_touched || p->mapped)
		stop_datapath(p, false);
	ifcvf_ctrlq_free(p->ctrlq, p->dev);
	pthread_mutex_unlock(&p->ctl);
	vfio_dev_close(p->dev);
	pthread_mutex_destroy(&p->ctl);
	pthread_mutex_destroy(&p->state_lock);
	free(p->cfg.device);
	free(p->cfg.socket);
	free(p);
}

unsigned port_index(const struct port *p)
{
	return p->index;
}

const struct port_config *port_config(const struct port *p)
{
	return &p->cfg;
}

const struct ifcvf_hw *port_hw(const struct port *p)
{
	return &p->hw;
}

uint64_t port_offered_features(const struct port *p)
{
	return p->offered;
}

uint64_t port_protocol_features(const struct port *p)
{
	return p->protocol;
}

unsigned port_queue_num(const struct port *p)
{
	return p->queues;
}

void port_listening(struct port *p)
{
	pthread_mutex_lock(&p->ctl);
	set_state(p, PORT_STATE_WAITING, p->cfg.client ? "connecting to %s" : "listening on %s",
		  p->cfg.socket);
	pthread_mutex_unlock(&p->ctl);
}

int port_connect(struct port *p, int conn)
{
	int r = 0;

	pthread_mutex_lock(&p->ctl);
	if (p->closing) {
		r = -ESHUTDOWN;
	} else if (p->conn >= 0 && p->conn != conn) {
		r = -EBUSY;
	} else {
		p->conn = conn;
		atomic_store(&p->conn_lookup, conn);
		pthread_mutex_lock(&p->state_lock);
		p->connected = true;
		pthread_mutex_unlock(&p->state_lock);
		p->ready = 0;
		p->fe_status = 0;
		p->refused = false;
		p->restart = false;
		p->log_all = false;
		p->announce_warned = false;
	}
	pthread_mutex_unlock(&p->ctl);
	return r;
}

bool port_has_conn(struct port *p, int conn)
{
	/* no ctl: DPDK's hooks look ports up while another port may be in a
	 * long bring-up */
	return conn >= 0 && atomic_load(&p->conn_lookup) == conn;
}

void port_disconnect(struct port *p, int conn)
{
	pthread_mutex_lock(&p->ctl);
	if (p->conn != conn || conn < 0) {
		pthread_mutex_unlock(&p->ctl);
		return;
	}
	if (p->running) {
		stop_datapath(p, false);
		atomic_fetch_add(&p->stats.stops, 1);
	}
	p->conn = -1;
	atomic_store(&p->conn_lookup, -1);
	pthread_mutex_lock(&p->state_lock);
	p->connected = false;
	pthread_mutex_unlock(&p->state_lock);
	p->ready = 0;
	p->refused = false;
	p->restart = false;
	p->log_all = false;
	atomic_store(&p->log_on, false);
	set_state(p, PORT_STATE_WAITING, "the frontend disconnected");
	pthread_mutex_unlock(&p->ctl);
}

int port_device_ready(struct port *p)
{
	int r;

	pthread_mutex_lock(&p->ctl);
	reconcile(p);
	r = p->running ? 0 : -1;
	pthread_mutex_unlock(&p->ctl);
	return r;
}

/* caller holds ctl */
static void device_stop(struct port *p, const char *why)
{
	if (p->running) {
		uint64_t t0 = now_us(), dt;

		stop_datapath(p, true);
		dt = now_us() - t0;
		atomic_store(&p->stats.stop_us, dt);
		atomic_fetch_add(&p->stats.stops, 1);
		set_state(p, PORT_STATE_STOPPED, "%s (ring state handed back in %llu us)", why,
			  (unsigned long long)dt);
	} else if (p->refused) {
		/* the frontend starts over: it gets another bring-up */
		p->refused = false;
		set_state(p, PORT_STATE_STOPPED, "%s", why);
	}
}

void port_device_stop(struct port *p, const char *why)
{
	pthread_mutex_lock(&p->ctl);
	device_stop(p, why);
	pthread_mutex_unlock(&p->ctl);
}

void port_vring_state(struct port *p, unsigned qid, bool ready)
{
	struct cerr ce = { 0 };
	uint64_t bit = qid < IFCVF_MAX_VRINGS ? 1ull << qid : 0;

	pthread_mutex_lock(&p->ctl);
	port_lm_unpause(p);
	if (!bit) {
		if (ready && p->running) {
			cerr_set(&ce, ERANGE, "the frontend enabled vring %u, beyond any VF", qid);
			fail_running(p, &ce);
		}
		pthread_mutex_unlock(&p->ctl);
		return;
	}
	if (ready)
		p->ready |= bit;
	else
		p->ready &= ~bit;
	if (!p->running) {
		reconcile(p);
	} else if (ready && !(p->vf_enabled & bit)) {
		/* a vring enabled at run time, or a new callfd (DPDK reports
		 * it as disable then enable): program it without a reset */
		if (queue_setup(p, qid, true, true, &ce) < 0)
			fail_running(p, &ce);
		else
			announce_running(p);
	} else if (!ready && (p->relayed & bit) && p->translated) {
		/* no device restart for what may be just a new callfd */
		port_lm_hold_queue(p, qid);
		announce_running(p);
	} else if (ready && (p->held & bit)) {
		int r = port_lm_resume_queue(p, qid, &ce);

		if (r == -EAGAIN) {
			device_stop(p, ce.msg);
			reconcile(p);
		} else if (r < 0) {
			fail_running(p, &ce);
		} else {
			announce_running(p);
		}
	} else if (!ready && (p->vf_enabled & bit) && !p->hw.is_ifcvf) {
		/* a plain virtio function cannot stop one vring: stop the
		 * device, and start it again with the vrings still enabled */
		device_stop(p, "the frontend disabled a vring of a function without per-queue stop");
		reconcile(p);
	} else if (!ready && (p->vf_enabled & bit)) {
		queue_teardown(p, qid, true);
		if (!port_fail_stuck(p))
			announce_running(p);
	}
	pthread_mutex_unlock(&p->ctl);
}

void port_frontend_status(struct port *p, uint8_t status)
{
	pthread_mutex_lock(&p->ctl);
	p->fe_status = status;
	if (!(status & VIRTIO_STATUS_DRIVER_OK_BIT))
		device_stop(p, status == 0 ? "the frontend reset the device"
					   : "the frontend cleared DRIVER_OK");
	else
		reconcile(p);
	pthread_mutex_unlock(&p->ctl);
}

void port_mem_table_changing(struct port *p)
{
	pthread_mutex_lock(&p->ctl);
	if (p->running) {
		/* the old mappings go away with the old table */
		stop_datapath(p, true);
		p->restart = true;
	}
	pthread_mutex_unlock(&p->ctl);
}

void port_mem_table_changed(struct port *p)
{
	pthread_mutex_lock(&p->ctl);
	if (p->restart) {
		p->restart = false;
		reconcile(p);
		if (!p->running && !p->refused)
			set_state(p, PORT_STATE_STOPPED, "the memory table changed");
	}
	pthread_mutex_unlock(&p->ctl);
}

void port_features_changed(struct port *p, uint64_t features)
{
	pthread_mutex_lock(&p->ctl);
	pthread_mutex_lock(&p->state_lock);
	p->negotiated = features;
	pthread_mutex_unlock(&p->state_lock);
	pthread_mutex_unlock(&p->ctl);
}

int port_read_config(struct port *p, uint32_t offset, void *buf, uint32_t len, struct cerr *e)
{
	int r;

	if (p->hw.type != IFCVF_DEV_BLK)
		return cerr_set(e, ENOTSUP, "only a blk VF has a configuration for the frontend");
	pthread_mutex_lock(&p->ctl);
	r = ifcvf_hw_read_device_config(&p->hw, offset, buf, len, e);
	pthread_mutex_unlock(&p->ctl);
	return r;
}

void port_get_info(struct port *p, struct port_info *ret)
{
	memset(ret, 0, sizeof(*ret));
	pthread_mutex_lock(&p->state_lock);
	ret->state = p->state;
	memcpy(ret->reason, p->reason, sizeof(ret->reason));
	ret->negotiated = p->negotiated;
	ret->enabled_vrings = p->enabled_snapshot;
	ret->connected = p->connected;
	ret->lm_mode = p->lm_mode_snapshot;
	ret->lm_state = p->lm_snapshot;
	ret->relayed_vrings = p->relayed_snapshot;
	ret->guest_announce = p->guest_announce;
	/* the relay is freed under state_lock too (port-lm.c) */
	ret->relayed_entries = atomic_load(&p->stats.relayed) +
			       (p->relay_view ? ring_relay_entries(p->relay_view) : 0);
	pthread_mutex_unlock(&p->state_lock);
	ret->kicks = atomic_load(&p->stats.kicks);
	ret->config_irqs = atomic_load(&p->stats.config_irqs);
	ret->dma_maps = atomic_load(&p->stats.dma_maps);
	ret->errors = atomic_load(&p->stats.errors);
	ret->starts = atomic_load(&p->stats.starts);
	ret->stops = atomic_load(&p->stats.stops);
	ret->pages_logged = atomic_load(&p->stats.pages_logged);
	ret->switchovers = atomic_load(&p->stats.switchovers);
	ret->rollbacks = atomic_load(&p->stats.rollbacks);
	ret->switch_us = atomic_load(&p->stats.switch_us);
	ret->stop_us = atomic_load(&p->stats.stop_us);
}

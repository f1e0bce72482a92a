/* The port state machine of one VF behind one vhost-user socket: the
 * frontend's connection and events (vrings enabled, status, memory table)
 * converged by reconcile() into a running or stopped datapath, which
 * port-vf.c brings up and stops; the state and counters the main loop
 * reads. See port.h for the threads. */
#include "port.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ifcvf-regs.h"
#include "config-relay.h"
#include "kick-relay.h"
#include "port-private.h"
#include "vhost-features.h"

#define VIRTIO_STATUS_DRIVER_OK_BIT 0x04u

static const char *const state_names[PORT_STATE_LAST] = {
	[PORT_STATE_PROBED] = "probed",
	[PORT_STATE_WAITING] = "waiting",
	[PORT_STATE_CONNECTED] = "connected",
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

void port_detail(struct port *p, struct port_phases *ph, const char *what)
{
	struct port_event ev = { .port = p->index, .detail = true };
	int n;

	if (!ph->dev)
		return;
	n = snprintf(ev.reason, sizeof(ev.reason), "%s: ", what);
	if (n > 0 && (size_t)n < sizeof(ev.reason))
		port_phases_format(ph, ev.reason + n, sizeof(ev.reason) - (size_t)n);
	pthread_mutex_lock(&p->state_lock);
	ev.state = p->state;
	pthread_mutex_unlock(&p->state_lock);
	if (p->events)
		port_events_push(p->events, &ev);
}

void port_info_changed(struct port *p, const char *fmt, ...)
{
	struct port_event ev = { .port = p->index, .info = true };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ev.reason, sizeof(ev.reason), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&p->state_lock);
	ev.state = p->state;
	pthread_mutex_unlock(&p->state_lock);
	if (p->events)
		port_events_push(p->events, &ev);
}

void port_snapshot(struct port *p)
{
	/* whatever changed, the host notifiers follow the datapath */
	port_hn_sync(p);
	pthread_mutex_lock(&p->state_lock);
	p->enabled_snapshot = p->vf_enabled & ~p->held;
	p->relayed_snapshot = p->relayed;
	p->lm_snapshot = p->lm;
	p->lm_mode_snapshot = p->lm_mode;
	p->relay_view = p->relay;
	pthread_mutex_unlock(&p->state_lock);
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
	port_datapath_stop(p, true);
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

	if (p->running || p->refused || p->closing || p->dev_lost || !frontend_ready(p))
		return;
	if (port_datapath_start(p, &ce) < 0) {
		port_datapath_stop(p, false);
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

void port_reconcile(struct port *p)
{
	reconcile(p);
}

void port_set_state(struct port *p, enum port_state state, const char *reason)
{
	set_state(p, state, "%s", reason);
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
	p->log_fd = p->log_fd_next = -1;
	p->conn = -1;
	atomic_init(&p->relay_conn, -1);
	atomic_init(&p->hn_on, 0);
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
	p->protocol = ifcvf_vhost_protocol_features(p->hw.type, p->hw.is_ifcvf);
	atomic_store(&p->capacity, p->hw.type == IFCVF_DEV_BLK ? p->hw.blk.capacity : 0);
	port_lm_init(p);
	p->state = PORT_STATE_PROBED;
	port_vf_keep(p);
	if (!ifcvf_vhost_migratable(p->hw.type, p->hw.is_ifcvf))
		port_note(p, true, "live migration is not offered: a plain virtio blk function drops "
			  "the requests in flight when it is reset (virtio 1.x has no per-queue "
			  "stop), so the port offers no dirty logging and QEMU refuses to migrate "
			  "the VM");
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

void port_shutdown(struct port *p, const char *why)
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
		port_datapath_stop(p, false);
	}
	/* DPDK's threads find the port no more */
	p->conn = -1;
	atomic_store(&p->conn_lookup, -1);
	atomic_store(&p->log_on, false);
	pthread_mutex_lock(&p->state_lock);
	p->connected = false;
	pthread_mutex_unlock(&p->state_lock);
	if (had_frontend)
		/* vhost-user has no message by which a backend says it goes
		 * away: the frontend learns it from the socket closing, and
		 * takes the used index in guest memory as each vring's state,
		 * which the stop above made final */
		set_state(p, PORT_STATE_STOPPED, "the helper stopped the device (%s; the frontend "
			  "learns it from the socket closing)", why);
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
		port_datapath_stop(p, false);
	kick_relay_free(p->kick);
	p->kick = NULL;
	config_relay_free(p->config);
	p->config = NULL;
	port_lm_release(p);
	ifcvf_ctrlq_free(p->ctrlq, p->dev);
	port_lm_drop_log_fds(p);
	port_vf_unkeep(p);
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
		port_hn_reset(p);
		pthread_mutex_lock(&p->state_lock);
		p->connected = true;
		pthread_mutex_unlock(&p->state_lock);
		p->ready = 0;
		p->fe_status = 0;
		p->refused = false;
		p->restart = false;
		p->log_all = false;
		p->announce_warned = false;
		pthread_mutex_lock(&p->state_lock);
		p->mem_table_seen = false;
		p->mem_table_warned = false;
		p->connected_at_us = now_us();
		pthread_mutex_unlock(&p->state_lock);
		set_state(p, PORT_STATE_CONNECTED, "a frontend connected; no memory table yet");
	}
	pthread_mutex_unlock(&p->ctl);
	return r;
}

/* QEMU sends no SET_MEM_TABLE at all when no guest RAM can be shared (it
 * logs "vhost_set_mem_table failed"), so the port would wait in silence. */
#define NO_MEM_TABLE_REASON                                                                 \
	"the frontend sent no usable memory table: guest memory must be shared with the "    \
	"helper (libvirt: <memoryBacking> with <source type='memfd'/> or <hugepages/>, and " \
	"<access mode='shared'/>; QEMU: share=on on the memory backend)"

void port_check_mem_table(struct port *p)
{
	struct port_event ev = { .port = p->index, .state = PORT_STATE_CONNECTED };

	pthread_mutex_lock(&p->state_lock);
	if (p->state == PORT_STATE_CONNECTED && !p->mem_table_seen && !p->mem_table_warned &&
	    now_us() - p->connected_at_us >= PORT_MEM_TABLE_WAIT_MS * 1000u) {
		p->mem_table_warned = true;
		snprintf(ev.reason, sizeof(ev.reason), "%s", NO_MEM_TABLE_REASON);
		memcpy(p->reason, ev.reason, sizeof(p->reason));
		/* pushed under state_lock: a state change racing this one is
		 * written, and so queued, after it */
		if (p->events)
			port_events_push(p->events, &ev);
	}
	pthread_mutex_unlock(&p->state_lock);
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
		port_datapath_stop(p, false);
		atomic_fetch_add(&p->stats.stops, 1);
	}
	p->conn = -1;
	atomic_store(&p->conn_lookup, -1);
	port_hn_reset(p);
	pthread_mutex_lock(&p->state_lock);
	p->connected = false;
	pthread_mutex_unlock(&p->state_lock);
	p->ready = 0;
	p->refused = false;
	p->restart = false;
	p->log_all = false;
	atomic_store(&p->log_on, false);
	/* a log belongs to its connection */
	port_lm_drop_log_fds(p);
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

		port_phases_begin(&p->phases, p->dev, &p->hw);
		port_datapath_stop(p, true);
		dt = now_us() - t0;
		atomic_store(&p->stats.stop_us, dt);
		atomic_fetch_add(&p->stats.stops, 1);
		if (p->stop_undrained) {
			/* a blk VF would not drain:
			 * the ring state handed back is the guest's used
			 * index, and the port says why it failed */
			p->refused = true;
			atomic_fetch_add(&p->stats.errors, 1);
			set_state(p, PORT_STATE_FAILED, "%s", p->stuck_cause.msg);
			return;
		}
		set_state(p, PORT_STATE_STOPPED, "%s (ring state handed back in %llu us)", why,
			  (unsigned long long)dt);
		port_detail(p, &p->phases, "stop, where the time went");
	} else if (p->refused) {
		/* the frontend starts over: it gets another bring-up */
		p->refused = false;
		if (p->stop_undrained) {
			/* the failure (a blk VF that did not drain) stays
			 * what the port shows until it runs again */
			p->stop_undrained = false;
			return;
		}
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
	} else if (ready && !(p->vf_enabled & bit) && port_vf_resumes_elsewhere(p, qid)) {
		/* it would resume at its own index, which the guest's ring
		 * contradicts: the bring-up resets it and translates */
		device_stop(p, "a vring resumes where the VF (no ring-state registers) does not stand");
		reconcile(p);
	} else if (ready && !(p->vf_enabled & bit)) {
		/* a vring enabled at run time, or a new callfd (DPDK reports
		 * it as disable then enable): program it without a reset */
		if (port_queue_setup(p, qid, true, true, &ce) < 0)
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
		port_queue_teardown(p, qid, true);
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
		port_datapath_stop(p, true);
		p->restart = true;
	}
	pthread_mutex_unlock(&p->ctl);
}

void port_mem_table_changed(struct port *p)
{
	bool waiting_rings;

	pthread_mutex_lock(&p->ctl);
	pthread_mutex_lock(&p->state_lock);
	p->mem_table_seen = true;
	waiting_rings = p->state == PORT_STATE_CONNECTED;
	pthread_mutex_unlock(&p->state_lock);
	if (waiting_rings)
		set_state(p, PORT_STATE_CONNECTED, "the frontend sent its memory table; no vring "
			  "runs yet");
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

uint32_t port_blk_seg_max(const struct port *p)
{
	uint32_t seg_max = p->hw.blk.seg_max;

	if (!(p->offered & (1ull << VIRTIO_RING_F_INDIRECT_DESC)) &&
	    seg_max > PORT_BLK_RING_MIN - 2)
		seg_max = PORT_BLK_RING_MIN - 2;
	return seg_max;
}

/* The seg_max bytes of the window [@offset, @offset + @len) in @buf get
 * port_blk_seg_max() (little endian, as the field is). */
static void put_seg_max(const struct port *p, uint32_t offset, uint8_t *buf, uint32_t len)
{
	uint32_t v = port_blk_seg_max(p);

	for (uint32_t i = 0; i < 4; i++) {
		uint64_t at = (uint64_t)VIRTIO_BLK_CFG_SEG_MAX + i;

		if (at >= offset && at < (uint64_t)offset + len)
			buf[at - offset] = (uint8_t)(v >> (8 * i));
	}
}

int port_read_config(struct port *p, uint32_t offset, void *buf, uint32_t len, struct cerr *e)
{
	int r;

	if (p->hw.type != IFCVF_DEV_BLK)
		return cerr_set(e, ENOTSUP, "only a blk VF has a configuration for the frontend");
	pthread_mutex_lock(&p->ctl);
	if (p->dev_lost)
		r = cerr_set(e, ENODEV, "the device is lost; re-attaching");
	else
		r = ifcvf_hw_read_device_config(&p->hw, offset, buf, len, e);
	pthread_mutex_unlock(&p->ctl);
	if (r == 0)
		put_seg_max(p, offset, buf, len);
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
	ret->notifier_vrings = atomic_load(&p->hn_on) &
			       (p->enabled_snapshot | p->relayed_snapshot);
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
	ret->capacity = atomic_load(&p->capacity);
}

/* What port.c (the state machine), port-vf.c (the VF's programming) and
 * port-lm.c (live migration) share: the port itself and the few verbs each
 * calls in the others. Not for anyone outside src/helper/port.
 *
 * Threads: every field under "under ctl" belongs to whoever holds ctl (see
 * port.h); the rest says how it is shared. */
#pragma once

#include <pthread.h>

#include "ifcvf-ctrlq.h"
#include "mediated-ring.h"
#include "port.h"
#include "port-phases.h"
#include "ring-relay.h"

#define QUEUE_STOP_TIMEOUT_MS 100
/* blk: how long a stopped queue may take to complete the requests it
 * fetched (a disk finishing its I/O) */
#define BLK_DRAIN_TIMEOUT_MS 2000

struct config_relay;
struct kick_relay;

struct port {
	unsigned index;
	struct port_config cfg;
	const struct port_frontend_ops *fe;
	struct port_events *events;
	struct vfio_dev *dev;
	struct ifcvf_hw hw;
	uint32_t kept;            /* the VF keeper's id for dev, 0: none
				   * (under ctl, or before the port is shared) */
	uint64_t offered;
	uint64_t protocol;
	unsigned queues;          /* pairs (net) or queues (blk) offered */
	unsigned max_vrings;      /* vrings the frontend may use */

	/* serialises the state machine; held across a whole bring-up */
	pthread_mutex_t ctl;

	/* under ctl */
	int conn;                 /* frontend connection (DPDK vid), -1: none */
	uint64_t ready;           /* vrings the frontend reports ready */
	uint8_t fe_status;        /* last SET_STATUS */
	bool refused;             /* bring-up refused until the frontend restarts */
	bool restart;             /* restart once the new memory table is in */
	bool closing;             /* port_shutdown() ran: no frontend, no bring-up */
	bool dev_lost;            /* the device went away: no bring-up until
				   * port_device_reattach() opens it again
				   * (port-reattach.c) */
	bool running;
	struct port_mem mem;
	unsigned mapped;          /* regions of mem DMA-mapped */
	struct config_relay *config;
	bool irqs_bound;
	struct kick_relay *kick;
	uint64_t vf_enabled;      /* vrings enabled in the VF */
	uint16_t qmax[IFCVF_MAX_VRINGS];
	struct ifcvf_ctrlq *ctrlq;  /* a plain net function's control queue,
				     * the helper's when MQ goes to the VF */
	struct port_vring vr[IFCVF_MAX_VRINGS];

	uint64_t features;        /* negotiated at bring-up */
	bool vf_touched;          /* the VF left reset: reset it on stop */
	bool vf_fresh;            /* reset by a stop and untouched since: the
				   * next bring-up need not reset it again */
	bool vf_reset_first;      /* a plain virtio function is being stopped:
				   * reset already, its vrings read from memory */
	bool vf_stuck;            /* a queue did not stop when told: the VF was
				   * reset (every queue stopped), each vring's
				   * state is its used index in memory, and the
				   * port fails unless it is stopping anyway */
	struct cerr stuck_cause;  /* why, for the port's reason */
	bool blk_undrained;       /* a blk queue stopped with requests undone
				   * within BLK_DRAIN_TIMEOUT_MS: vf_stuck too,
				   * and the port fails even when stopping */
	bool stop_undrained;      /* blk_undrained, as the last
				   * port_datapath_stop() left it */
	bool translated;          /* a plain virtio function restarted its rings
				   * at 0 where the guest's stand elsewhere:
				   * every vring goes through the relay, which
				   * translates indices, until the datapath stops;
				   * so is an IFCVF without ring-state registers
				   * whose rings had to restart at 0 */
	/* an IFCVF without ring-state registers (no BAR4) resumes each vring
	 * where it stopped itself, whatever it is programmed with; where that
	 * is, is known only once this process stopped the vring or reset the
	 * function (a restarted helper knows nothing of it) */
	uint16_t vf_pos[IFCVF_MAX_VRINGS];
	uint64_t vf_pos_known;    /* bit per vring */

	/* live migration, under ctl (port-lm.c) */
	enum port_lm_mode lm_mode;
	bool log_all;             /* the frontend asked for dirty logging */
	bool announce_warned;     /* the GUEST_ANNOUNCE warning was given */
	enum port_lm_state lm;    /* what is in force */
	uint64_t log_iova_len;    /* hw: bytes mapped at IFCVF_LOG_BASE, 0: none */
	uint64_t log_len;         /* hw: the log's own size */
	bool log_paused;          /* between the two halves of SET_LOG_BASE */
	/* hw over vfio-user: the log's file as SET_LOG_BASE carried it (DPDK
	 * closes its own fd once mapped), so that logging on needs no search
	 * of /proc/self/maps. "next" is the one of a SET_LOG_BASE under way,
	 * current once DPDK took it; -1: none */
	int log_fd, log_fd_next;
	uint64_t log_fd_off, log_fd_next_off;    /* file offset of the log */
	uint64_t log_fd_size, log_fd_next_size;  /* the log's size */
	uint32_t paused_state[IFCVF_MAX_VRINGS];   /* hw: ring state while paused */
	struct ring_relay *relay;
	uint64_t relayed;         /* bit per vring relayed */
	uint64_t held;            /* relayed vrings the frontend disabled on a
				   * translated function: the relay leaves the
				   * guest's rings alone, the VF runs on */
	struct mediated_ring *med[IFCVF_MAX_VRINGS];
	uint16_t med_shift[IFCVF_MAX_VRINGS];   /* guest index - VF index */
	uint64_t med_mapped;      /* bit per mediated ring DMA-mapped */
	struct mediated_ring *med_spare[IFCVF_MAX_VRINGS];  /* a vring's mediated
				   * ring after its relay ended, still
				   * DMA-mapped at the vring's IOVA, for the
				   * next switch (until the datapath stops) */
	struct port_phases phases;  /* the switch or stop under way, for its
				     * timing breakdown (port_detail()) */

	/* the main loop's view, under state_lock */
	pthread_mutex_t state_lock;
	enum port_state state;
	char reason[PORT_REASON_MAX];
	uint64_t negotiated;
	uint64_t enabled_snapshot;
	bool connected;
	bool mem_table_seen;      /* a SET_MEM_TABLE since the frontend connected */
	bool mem_table_warned;    /* the reason says none came */
	uint64_t connected_at_us; /* CLOCK_MONOTONIC */
	struct ring_relay *relay_view;   /* p->relay, for its counters */
	uint64_t relayed_snapshot;
	enum port_lm_state lm_snapshot;
	enum port_lm_mode lm_mode_snapshot;
	bool guest_announce;

	/* host notifiers (port-notifier.c) */
	uint64_t hn_asked;        /* under ctl: vrings whose page was handed to
				   * the frontend and not taken back since */
	bool hn_said;             /* under ctl: why there are none was said on
				   * this connection */
	bool hn_syncing;          /* under ctl: port_hn_sync() runs (it may
				   * snapshot, which syncs) */
	atomic_uint_fast64_t hn_on;   /* vrings whose page the frontend maps, as
				       * its answers said (any thread) */

	_Atomic int relay_conn;   /* conn as the relay threads read it */
	_Atomic int conn_lookup;  /* conn for port_has_conn(), without ctl */
	_Atomic bool log_on;      /* log_write calls reach the log */
	/* blk: the VF's capacity in 512-byte sectors, as last read (probe,
	 * re-attach, config interrupt on the config relay thread) */
	_Atomic uint64_t capacity;
	struct port_counters stats;
};

static inline unsigned popcount64(uint64_t v)
{
	return (unsigned)__builtin_popcountll(v);
}

/* ---- port.c, for port-vf.c and port-lm.c (ctl held) ---- */

/* Push an event for the main loop without changing the state. */
void port_note(struct port *p, bool warning, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Log where the time of what @ph measured went (port-phases.h), as
 * "@what: breakdown"; not the port's reason. */
void port_detail(struct port *p, struct port_phases *ph, const char *what);
/* Tell the main loop a published fact other than the state changed
 * (@fmt: what); any thread, ctl not needed. */
void port_info_changed(struct port *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Refresh the main loop's view of vf_enabled, relayed and the lm state. */
void port_snapshot(struct port *p);
/* Stop the datapath (ring state handed back), FAILED with @ce's reason. */
void port_fail(struct port *p, const struct cerr *ce);
/* Converge on what the frontend asked for (bring-up when ready). */
void port_reconcile(struct port *p);
/* Change the state with @reason, for the main loop. */
void port_set_state(struct port *p, enum port_state state, const char *reason);
/* After a stop that found the VF stuck, with the datapath still up: fail
 * the port. true when it did. */
bool port_fail_stuck(struct port *p);

/* ---- port-checks.c: what the port checks of what the frontend set up,
 * before anything goes to the VF (ctl held). DPDK checked the messages
 * first: a memory region it could not map, a vring address it cannot
 * translate into its own mapping of guest memory for the ring's whole
 * length, never reach the port (the vring is not ready). What is left to
 * the port is all here. ---- */

/* The negotiated features (p->features) and how many vrings the frontend
 * set up (@ret_nr, at most p->max_vrings), and which of them are ready
 * (@ret_vrings). */
int port_frontend_accept(struct port *p, unsigned *ret_nr, uint64_t *ret_vrings, struct cerr *e);
/* The frontend's memory table into p->mem, checked (port_mem_check()). */
int port_mem_accept(struct port *p, struct cerr *e);
/* Vring @qid as the frontend set it up into p->vr[qid]: a vring the port
 * offers, a power-of-two size within the VF's maximum (p->qmax), rings
 * inside guest memory (p->mem) and aligned as virtio requires, and the
 * index it resumes at; @ret is what
 * the VF is programmed with. */
int port_vring_accept(struct port *p, unsigned qid, struct ifcvf_vring_cfg *ret, struct cerr *e);
/* The VF's view of vring @qid from the frontend's: GPAs, size, vector (no
 * ring state). */
int port_queue_cfg(struct port *p, unsigned qid, struct ifcvf_vring_cfg *ret, struct cerr *e);
/* Where vring @qid resumes: the frontend's ring state, or the guest's used
 * index when they disagree (said with a warning when @say). -1 when the
 * frontend has no ring state for it. */
int port_resume_index(struct port *p, unsigned qid, bool say, uint16_t *avail, uint16_t *used);

/* ---- port-vf.c, for port.c and port-lm.c (ctl held; port_doorbell(): any
 * thread) ---- */

/* Ring vring @qid's doorbell for a guest's kick (counted). */
void port_doorbell(struct port *p, unsigned qid);
/* Ring it for a kick that may have been missed (not counted: the kick
 * counters count the guest's kicks the relay carried). */
void port_doorbell_nudge(struct port *p, unsigned qid);
/* Disable vring @qid in the VF, wait until it is quiesced and read where it
 * stands; without the BAR4 block, from @used_ring (the used ring it
 * writes). A queue that does not stop within its bound (or cannot be told
 * to) is never given an index of ours: the VF is reset, which stops every
 * queue, p->vf_stuck is set, and this and every later stop reads the state
 * from @used_ring (what the VF fetched but did not use is fetched again,
 * §3.2). 0 when the state is known, -errno when it is not (no used ring to
 * read, packed rings). A caller that goes on running checks p->vf_stuck
 * (port_fail_stuck()). */
int port_vf_queue_stop(struct port *p, unsigned qid, const struct vring_used *used_ring,
		       uint16_t *avail, uint16_t *used, struct cerr *e);
/* An IFCVF without ring-state registers, not translated, would resume vring
 * @qid where it stands itself, and that is not known to be the vring's
 * resume index (the frontend's, checked against the guest's used ring):
 * only a restart of the device (a function reset, then translated) starts
 * the vring right. */
bool port_vf_resumes_elsewhere(struct port *p, unsigned qid);
/* A plain virtio function (no per-queue stop, rings restart at 0): reset it
 * and program it again with every vring relayed and its indices translated
 * (p->translated). Memory stays mapped, interrupts bound. On failure the
 * port has failed (its datapath stopped) and @e says why. */
int port_vf_restart_translated(struct port *p, struct cerr *e);
/* The datapath up from what the frontend set up (the seed's dev_conf):
 * memory mapped, interrupts bound, the VF programmed, the kick relay
 * started. On failure the caller stops it (port_datapath_stop()). */
int port_datapath_start(struct port *p, struct cerr *e);
/* At the end of a bring-up in sw mode on an IFCVF (per-queue switch), have
 * the relay thread and a DMA-mapped mediated ring for each relayable vring
 * ready before LOG_ALL comes, so the switch starts nothing and maps
 * nothing. Best effort: what cannot be had now, the switch tries again.
 * (Not on a mode set over D-Bus: that call would wait for the DMA maps.)
 * ctl held, datapath running. */
void port_lm_prepare(struct port *p);
/* Undo whatever port_datapath_start() did, in reverse; safe on a partial
 * bring-up. With @save, each vring's state goes back to the frontend. The
 * kick, config and ring relays' threads and the spare mediated rings stay,
 * idle, for the next bring-up, unless the port is closing (port_close()
 * and a lost device free them). */
void port_datapath_stop(struct port *p, bool save);
/* Program and enable vring @qid in the VF from what the frontend set up;
 * @bind_vector binds its interrupt and @update_mq tells the VF how many
 * queues run (both for a vring enabled at run time). */
int port_queue_setup(struct port *p, unsigned qid, bool bind_vector, bool update_mq,
		     struct cerr *e);
/* Disable vring @qid in the VF; with @save, hand its ring state back (and,
 * while the frontend logs, mark its used ring dirty). */
void port_queue_teardown(struct port *p, unsigned qid, bool save);

/* ---- port-notifier.c, for port.c, port-vf.c and port-lm.c (ctl held) ---- */

/* Converge the host notifiers on the datapath: every vring running direct
 * in the VF has its doorbell page handed to the frontend, every other one
 * not (asked, never waited for). Says once per connection why there are
 * none, when the frontend or the VF cannot have them. */
void port_hn_sync(struct port *p);
/* Take vring @qid's page back now (it is about to be relayed). */
void port_hn_remove(struct port *p, unsigned qid);
/* The frontend changed: forget every host notifier. */
void port_hn_reset(struct port *p);

/* ---- port-lm.c, for port.c and port-vf.c (ctl held) ---- */

void port_lm_init(struct port *p);
/* vring @qid goes through the relay in sw mode: RX (even) vrings for net,
 * every vring for blk */
bool port_lm_relays(const struct port *p, unsigned qid);
/* Converge on what the frontend asked for (p->log_all), once running. */
int port_lm_reconcile(struct port *p, struct cerr *e);
/* The VF is about to run (before DRIVER_OK) while the frontend logs, in
 * hardware mode: the VF logs from its first write (a device back, a
 * frontend back, in a migration). Holds ctl. */
int port_lm_log_before_run(struct port *p, struct cerr *e);
/* Bring vring @qid up relayed: @cfg holds the guest's addresses and ring
 * state; the VF queue is disabled. */
int port_lm_relay_queue(struct port *p, unsigned qid, const struct ifcvf_vring_cfg *cfg,
			bool update_mq, struct cerr *e);
/* Stop relaying vring @qid: stop the relay, stop the VF queue, relay what is
 * left, free the mediated ring; returns the ring state. -errno when the VF
 * queue would not stop (what could be undone is undone). */
int port_lm_unrelay_queue(struct port *p, unsigned qid, uint16_t *avail, uint16_t *used,
			  struct cerr *e);
/* A translated function cannot stop one vring, but the relay can: vring
 * @qid (relayed) is left alone until port_lm_resume_queue(). */
void port_lm_hold_queue(struct port *p, unsigned qid);
/* Relay held vring @qid again, with the frontend's eventfds as they are
 * now. -EAGAIN when its rings moved (the caller restarts the datapath). */
int port_lm_resume_queue(struct port *p, unsigned qid, struct cerr *e);
/* Mark vring @qid's whole used ring dirty (at stop: the VF does not log it
 * and the relay logs only what it wrote). */
void port_lm_log_used_ring(struct port *p, unsigned qid);
/* After the queues stopped: dirty logging off, log unmapped, relay thread
 * gone; back to direct. */
void port_lm_stop(struct port *p);
/* What port_lm_stop() keeps for the next bring-up goes: the spare mediated
 * rings (unmapped) and the relay thread (port_close(), a lost device). */
void port_lm_release(struct port *p);
/* Resume what the first half of a SET_LOG_BASE paused, when its second half
 * never came (DPDK refused the message). */
void port_lm_unpause(struct port *p);
/* Close the log's fds (the frontend went away, or the port closes). */
void port_lm_drop_log_fds(struct port *p);
/* port-reattach.c: hand a kernel VFIO device to the VF keeper (port.h,
 * port_set_vf_keeper()) as it is opened, and take it back before it is
 * closed. A device the keeper cannot take is noted (a warning), not
 * refused: the port works as without a keeper. */
void port_vf_keep(struct port *p);
void port_vf_unkeep(struct port *p);

/* A port: one VF behind one vhost-user socket, and the state machine that
 * carries it through the frontend's lifecycle (the seed's dev_conf,
 * dev_close and set_vring_state, reference §5-§7 and §9).
 *
 * Bring-up (port_device_ready, or a vring becoming ready once the frontend
 * is ready): DMA-map guest memory (IOVA = GPA), start the config relay,
 * bind MSI-X (vector 0 -> config eventfd, vector i+1 -> vring i's callfd),
 * program the VF (reset, ACK, DRIVER, features, FEATURES_OK, config vector,
 * MQ, each ready vring, DRIVER_OK) and start the kick relay. Stop reverses
 * it and gives the ring state back to the frontend. A failure unwinds what
 * was done and leaves the port FAILED with a reason.
 *
 * Live migration (port-lm.c): VHOST_F_LOG_ALL set by the frontend turns on
 * the VF's dirty logging (hw mode) or switches the RX used rings, every
 * ring for blk, to mediated rings relayed by the helper (sw mode); cleared
 * again without a stop (a cancelled migration) it returns to the direct
 * path; GET_VRING_BASE stops the VF, finishes the relay and marks the used
 * rings dirty before the ring state goes back to the frontend.
 *
 * The port reaches the frontend only through struct port_frontend_ops
 * (vhost-glue.c implements them over DPDK's public vhost API; tests can fake
 * them), so this file has no DPDK and no GLib main loop in it.
 *
 * Errors: 0 or -errno with a cause in the struct cerr.
 *
 * Threads: every port_* entry point below except port_get_info() and
 * port_check_mem_table() (main loop, state lock only) is called
 * from DPDK's vhost threads (callbacks and message hooks) or, at start and
 * shutdown, from the main thread; a per-port control mutex serialises them.
 * They never touch GLib main-loop objects: each state change is pushed to
 * struct port_events, which the main loop drains. The kick and config relay
 * threads only ring doorbells, count, and forward config interrupts.
 * The ring relay thread (software live migration) relays used entries,
 * logs through log_write and rings doorbells; it never takes ctl.
 * port_get_info() takes a short state lock and reads atomic counters, so the
 * main loop never waits for a bring-up.
 *
 * Host notifiers (port-notifier.c): while a vring runs direct in the VF,
 * its doorbell page is handed to the frontend (host_notifier()), so that
 * the guest's kicks reach the VF without the helper; the kick relay keeps
 * watching the kickfd, which then stays quiet. A relayed vring (software
 * live migration, a translated function) takes its page back first: its
 * kicks must reach the ring relay. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cerr.h"
#include "ifcvf-hw.h"
#include "port-events.h"
#include "port-mem.h"
#include "port-state.h"

/* Who else must be able to stop a kernel VFIO device when this process
 * dies (the helper's sentinel, src/helper/sentinel.h): @hold gets each
 * kernel VFIO port's device as it is opened (its fd, the fd offsets of the
 * virtio device_status and of the PCI command register) and returns an id;
 * @drop gets that id before the port closes the device. Set once, before
 * any port opens (main thread); without it (tests) nothing is handed on. */
typedef int (*port_vf_hold_fn)(const char *name, int fd, uint64_t status_off,
			       uint64_t command_off, uint32_t *ret_id);
typedef void (*port_vf_drop_fn)(uint32_t id);
void port_set_vf_keeper(port_vf_hold_fn hold, port_vf_drop_fn drop);

struct port_config {
	char *device;            /* pci:... or vfio-user:... */
	char *socket;            /* vhost-user socket path */
	bool client;             /* connect to the socket instead of listening */
	bool sw_live_migration;
	bool generic_virtio;      /* accept a virtio function that is not an IFCVF */
	unsigned queue_pairs;    /* 0: all the VF has (queues for blk) */
};

struct port;

/* One vring as the frontend set it up; addresses are in this process. */
struct port_vring {
	uint64_t desc;
	uint64_t avail;
	uint64_t used;
	uint16_t size;
	int kickfd;
	int callfd;
};

/* What the port needs from the vhost-user side, by connection id (DPDK's
 * vid). Called with the port's control mutex held, except config_changed,
 * which the config relay thread calls and which must never wait on the
 * frontend: the port joins that thread with its control mutex held. */
struct port_frontend_ops {
	int (*get_features)(int conn, uint64_t *ret);
	int (*get_protocol_features)(int conn, uint64_t *ret);
	unsigned (*num_vrings)(int conn);
	int (*get_mem)(int conn, struct port_mem *ret, struct cerr *e);
	int (*get_vring)(int conn, unsigned qid, struct port_vring *ret);
	int (*get_vring_base)(int conn, unsigned qid, uint16_t *avail, uint16_t *used);
	int (*set_vring_base)(int conn, unsigned qid, uint16_t avail, uint16_t used);
	void (*config_changed)(int conn);
	/* the dirty log (SET_LOG_BASE) as this process has it mapped; -1 or a
	 * size of 0 when there is none. Optional. */
	int (*get_log_base)(int conn, uint64_t *hva, uint64_t *size);
	/* mark guest range [gpa, gpa+len) dirty in that log; called from the
	 * ring relay thread too. Optional. */
	void (*log_write)(int conn, uint64_t gpa, uint64_t len);
	/* OR @bits into 64-bit word @word of that log (pages word*64 ...
	 * word*64+63); called from the ring relay thread. Optional. */
	void (*log_word)(int conn, uint64_t word, uint64_t bits);
	/* Hand vring @qid's doorbell page to the frontend as its host notifier
	 * (@fd at @offset, @size bytes; the callee keeps a dup), or take it
	 * back (@fd < 0), signalling @poke_fd (an eventfd, or -1) once the
	 * frontend let go. Never waits on the frontend: the answer comes later
	 * through port_host_notifier_done() on another thread. Optional. */
	void (*host_notifier)(int conn, struct port *p, unsigned qid, int fd, uint64_t offset,
			      uint64_t size, int poke_fd);
};

struct port_counters {
	atomic_uint_fast64_t kicks;        /* kicks relayed to the doorbell (the
					    * guest's, not the helper's own nudges) */
	atomic_uint_fast64_t config_irqs;  /* config interrupts from the VF */
	atomic_uint_fast64_t dma_maps;     /* guest memory regions mapped */
	atomic_uint_fast64_t errors;
	atomic_uint_fast64_t starts;       /* bring-ups that reached running */
	atomic_uint_fast64_t stops;
	/* live migration */
	atomic_uint_fast64_t pages_logged;  /* page marks the helper wrote (the VF's own are not seen) */
	atomic_uint_fast64_t relayed;       /* used entries relayed by finished relays */
	atomic_uint_fast64_t switchovers;   /* direct -> logging-hw or relaying-sw */
	atomic_uint_fast64_t rollbacks;     /* back to direct with the device running */
	atomic_uint_fast64_t switch_us;     /* the last switch either way, microseconds */
	atomic_uint_fast64_t stop_us;       /* the last stop (GET_VRING_BASE), microseconds */
};

/* A snapshot for the main loop. */
struct port_info {
	enum port_state state;
	char reason[PORT_REASON_MAX];
	bool connected;
	uint64_t negotiated;      /* virtio features the frontend chose */
	uint64_t enabled_vrings;  /* bit per vring enabled in the VF */
	uint64_t kicks, config_irqs, dma_maps, errors, starts, stops;
	/* live migration */
	enum port_lm_mode lm_mode;
	enum port_lm_state lm_state;
	bool guest_announce;      /* the guest accepted VIRTIO_NET_F_GUEST_ANNOUNCE */
	uint64_t relayed_vrings;  /* bit per vring relayed now */
	uint64_t notifier_vrings; /* bit per vring whose kicks go to its doorbell
				   * page through a host notifier (the rest of
				   * enabled_vrings | relayed_vrings: the relay) */
	uint64_t pages_logged, relayed_entries, switchovers, rollbacks;
	uint64_t switch_us, stop_us;
	uint64_t capacity;        /* blk: 512-byte sectors, current; 0 for net */
};

struct port;

/* Open and probe the VF. @cfg is copied. The port starts in PROBED. */
int port_open(unsigned index, const struct port_config *cfg,
	      const struct port_frontend_ops *fe, struct port_events *events,
	      struct port **ret, struct cerr *e);
/* The helper stops: stop the datapath now (relay threads joined, VF reset,
 * DMA unmapped), while the frontend's memory is still mapped, and take no
 * frontend and no bring-up after. Call it before the socket is unregistered:
 * DPDK unmaps guest memory there, with no callback for a device it never
 * reported running (a frontend that enabled fewer vrings than it set up).
 * @why says what made the helper stop (a signal, Shutdown(), a failed
 * start): the port's last line names the helper as the one that stopped
 * the device, and why. Accepts NULL. */
void port_shutdown(struct port *p, const char *why);
/* Stop the datapath if it runs and close the VF. Accepts NULL. */
void port_close(struct port *p);

unsigned port_index(const struct port *p);
const struct port_config *port_config(const struct port *p);
const struct ifcvf_hw *port_hw(const struct port *p);
/* features and protocol features for the socket; queues offered */
uint64_t port_offered_features(const struct port *p);
uint64_t port_protocol_features(const struct port *p);
unsigned port_queue_num(const struct port *p);

/* the socket listens (or, in client mode, is trying to connect) */
void port_listening(struct port *p);

/* vhost events */
/* -EBUSY: one frontend at a time; -ESHUTDOWN: after port_shutdown() */
int port_connect(struct port *p, int conn);
void port_disconnect(struct port *p, int conn);
bool port_has_conn(struct port *p, int conn);
int port_device_ready(struct port *p);               /* 0 when running */
void port_device_stop(struct port *p, const char *why);
void port_vring_state(struct port *p, unsigned qid, bool ready);
void port_frontend_status(struct port *p, uint8_t status);
void port_mem_table_changing(struct port *p);
void port_mem_table_changed(struct port *p);
/* How long a connected frontend may go without a memory table before the
 * port says why nothing runs (guest memory not shared with the helper). */
#define PORT_MEM_TABLE_WAIT_MS 2000u
/* Main loop, at least PORT_MEM_TABLE_WAIT_MS after a "connected" event:
 * when the frontend still sent no memory table, the port stays connected
 * with a reason saying so and what to set (one event). Takes only
 * state_lock. */
void port_check_mem_table(struct port *p);
void port_features_changed(struct port *p, uint64_t features);
/* The frontend's answer to a host_notifier() request of connection @conn:
 * vring @qid's kicks go to its doorbell page (@on) or to its kickfd. Any
 * thread; atomics only (no ctl). */
void port_host_notifier_done(struct port *p, int conn, unsigned qid, bool on);
/* SET_FEATURES was applied (VHOST_F_LOG_ALL may have changed): switch to or
 * from logging. -errno when logging was asked for and cannot be given (the
 * frontend must then not migrate), with the cause in @e. */
int port_log_all(struct port *p, uint64_t features, struct cerr *e);
/* SET_LOG_BASE: before the vhost library replaces the log, and after.
 * @log_fd is the fd the message carries (-1 if none; the port keeps a dup
 * of it, the caller keeps its own), @mmap_size and @mmap_offset its
 * payload: the log is @mmap_size bytes at @mmap_offset in that file. */
void port_log_base_changing(struct port *p, int log_fd, uint64_t mmap_size,
			    uint64_t mmap_offset);
void port_log_base_changed(struct port *p);
/* Choose how the next live migration is carried out: -EBUSY while one is
 * under way or when the port stays busy for PORT_LM_MODE_WAIT_S, -ENOTSUP
 * for hw on a VF without the BAR4 block. Waits for the port's control
 * mutex: not for the main loop (bus-glue.c calls it from a worker). */
#define PORT_LM_MODE_WAIT_S 30
int port_set_lm_mode(struct port *p, enum port_lm_mode mode, struct cerr *e);

/* Device configuration bytes for the frontend's GET_CONFIG (blk): the VF's,
 * but seg_max as port_blk_seg_max() says. */
int port_read_config(struct port *p, uint32_t offset, void *buf, uint32_t len, struct cerr *e);

/* The seg_max a blk port's frontend sees. Without indirect descriptors a
 * request takes one descriptor per segment plus two (header, status), and
 * a driver that builds one larger than its ring can never add it (Linux
 * warns once in virtqueue_add_split() and retries forever: the guest's
 * I/O hangs with the rings idle). The frontend reads the configuration
 * before it has rings (QEMU, when the device is created), so the VF's
 * seg_max is capped for a ring of PORT_BLK_RING_MIN entries (QEMU's
 * default queue-size for vhost-user-blk-pci) unless the port offers
 * indirect descriptors; a smaller ring is refused (port_vring_accept()). */
#define PORT_BLK_RING_MIN 128u
uint32_t port_blk_seg_max(const struct port *p);

void port_get_info(struct port *p, struct port_info *ret);

/* A lost device (port-reattach.c). The device's lost fd and its reason
 * (vfio_dev_lost_fd(), -1: none; vfio_dev_lost_reason()): the main loop
 * watches it while no port_device_lost()/port_device_reattach() runs (they
 * close and replace the device).
 * port_device_lost() stops the datapath (ring state from guest memory),
 * closes the device and fails the port with @why; nothing is brought up
 * until port_device_reattach() has opened and probed the device again
 * (0, and the port converges: running again when the frontend is ready) or
 * says why not. Both take ctl and may wait for a device timeout: call them
 * from a worker thread, never from the main loop or DPDK's threads. */
int port_device_lost_fd(struct port *p, bool *ret_readable);
void port_device_lost_reason(struct port *p, char *buf, size_t len);
void port_device_lost(struct port *p, const char *why);
bool port_device_is_lost(struct port *p);
int port_device_reattach(struct port *p, struct cerr *e);

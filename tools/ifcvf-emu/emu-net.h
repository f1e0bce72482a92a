/* The net datapath of the emulated VF: queue 2k is RX of pair k, 2k+1 its
 * TX, queue 2N the control queue (not served: QEMU handles it). Frames
 * carry the 12-byte virtio_net_hdr_v1 in guest memory: TX strips it, RX
 * writes it (num_buffers = buffers used with MRG_RXBUF, else 1).
 *
 * Scheduling: a kick (doorbell), an enable or DRIVER_OK marks a queue
 * pending; emu_net_run() gives every pending queue one bounded burst and is
 * called by the event loop between rounds, so register accesses are served
 * between bursts. A queue stays pending while it has work; while it runs it
 * tells the driver not to kick (VRING_USED_F_NO_NOTIFY, or a stale
 * avail_event with EVENT_IDX) and asks for kicks again only once it is out
 * of work (TX: ring empty; RX: frames waiting but no buffers). Used
 * elements are written as chains complete; used->idx is published and the
 * interrupt decided once per burst (EVENT_IDX or NO_INTERRUPT), one eventfd
 * write per queue and burst at most; and RX also every EMU_NET_BURST chains
 * written outside a burst (frames the wire hands over in a run), so that the
 * driver can take them and refill while more come.
 *
 * Frames from the wire for an RX queue that cannot take them (suspended,
 * device not running, no buffers) wait in the queue's bounded FIFO and go
 * first once buffers appear: at the next burst, or as soon as the next frame
 * arrives, whichever comes first; a full FIFO drops and counts them (dropped
 * generator frames are listed by sequence number). A wire may also hold its
 * frames back until buffers are there (emu_wire_ops.rx_peek, gen pps=max):
 * RX bursts then pull them once the FIFO is empty, and running out of
 * buffers asks for a kick as for the FIFO.
 *
 * A device error (an address outside the DMA maps, including the dirty log,
 * a chain longer than the ring, a bad index or indirect table) stops that
 * queue only: a line on stderr naming the queue and the address, the
 * queue's error counters, NEEDS_RESET in device status and the config
 * vector raised. A reset, or enabling the queue again, clears it.
 *
 * With --virtio-function and MQ negotiated, queue 2N is the control queue
 * (emu-ctrl.c) and only the pairs the driver set with VQ_PAIRS_SET run (1
 * after a reset, as a virtio-net device starts): the queues of the others
 * take no chains and receive nothing until a VQ_PAIRS_SET includes them.
 *
 * A reset drops what the receive FIFOs hold, except with --virtio-function:
 * QEMU's virtio-net does not read its netdev while the device is not
 * DRIVER_OK, so frames wait; they go first once RX runs again.
 *
 * Threads: the main thread (the event loop), like the register model. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cerr.h"
#include "emu-dirty.h"
#include "emu-dma.h"
#include "emu-fifo.h"
#include "emu-irq.h"
#include "emu-options.h"
#include "emu-virtio.h"
#include "emu-vring.h"

struct emu_wire;

/* chains per queue and burst */
#define EMU_NET_BURST 128u
/* dropped generator frames remembered as (stream, first, last) ranges */
#define EMU_NET_MAX_DROP_RANGES 4096u

struct emu_nq_stats {
	uint64_t chains;             /* descriptor chains completed */
	uint64_t frames;             /* frames carried (TX: sent to the wire) */
	uint64_t bytes;              /* frame bytes, virtio header excluded */
	uint64_t irqs;               /* eventfd signalled */
	uint64_t irqs_suppressed;    /* the driver did not want one */
	uint64_t irqs_lost;          /* wanted, but no vector or no eventfd */
	uint64_t notify_enables;     /* times the driver was asked to kick again */
	uint64_t resume_mismatch;    /* enabled at a used index the ring does not show */
	uint64_t rx_dropped;         /* frames dropped: FIFO full, too big, reset */
	uint64_t tx_bad;             /* TX chains with no frame (short, oversize) */
	uint64_t errors;             /* device errors */
	uint64_t dma_errors;         /* ... of them, addresses outside the DMA maps */
};

struct emu_nq {
	struct emu_vring ring;
	struct emu_fifo fifo;        /* RX queues */
	bool pending;                /* run a burst */
	bool soft;                   /* pending from enable/DRIVER_OK, not a kick:
				      * rings outside the maps just wait for a kick */
	bool dirty;                  /* used elements not published yet */
	unsigned unpublished;        /* ... how many */
	bool broken;                 /* stopped by a device error */
	struct emu_nq_stats st;
};

struct emu_drop_range {
	uint32_t stream;
	uint64_t first, last;
};

struct emu_net {
	struct emu_virtio *v;
	struct emu_dma *dma;
	struct emu_irq *irq;
	struct emu_wire *wire;
	unsigned npairs;
	unsigned active_pairs;       /* pairs that run (--virtio-function: VQ_PAIRS_SET) */
	uint64_t ctrl_commands;      /* control queue commands served */
	uint64_t ctrl_refused;       /* ... of them answered VIRTIO_NET_ERR */
	bool write_past_len;         /* --fault write-past-len */
	bool client;                 /* a vfio-user client is connected */
	bool orphaned;               /* a client went away: stopped until reset */
	struct emu_dirty dirty;
	struct emu_nq q[EMU_MAX_VRINGS];
	struct emu_walk walk;        /* segment scratch for one frame */
	struct { uint16_t head; uint64_t end; } *chains;   /* RX chains of one frame */
	uint8_t *frame;              /* EMU_MAX_FRAME bytes */
	uint64_t config_irqs;
	uint64_t device_errors;
	uint64_t gen_dropped;        /* generator frames among the drops */
	struct emu_drop_range drops[EMU_NET_MAX_DROP_RANGES];
	unsigned ndrops;
	bool drops_truncated;
};

int emu_net_init(struct emu_net *n, const struct emu_config *cfg, struct emu_virtio *v,
		 struct emu_dma *dma, struct emu_irq *irq, struct cerr *e);
void emu_net_fini(struct emu_net *n);

/* hooks of the register model (emu-virtio.c) */
void emu_net_kick(struct emu_net *n, unsigned q);
void emu_net_queue_started(struct emu_net *n, unsigned q);    /* after the indices latched */
void emu_net_queue_stopping(struct emu_net *n, unsigned q);   /* before they are stored */
void emu_net_driver_ok(struct emu_net *n);
void emu_net_reset(struct emu_net *n);
/* The driver wrote something the function does not allow (the register
 * model ignored it): a line on stderr, counted as a device error. */
void emu_net_driver_error(struct emu_net *n, unsigned q, const char *what);
/* The emulator is going away: frames still held in receive FIFOs will never
 * be delivered, so they count (and are listed) as dropped. */
void emu_net_drop_held(struct emu_net *n);

/* The client came or went; before DMA maps go, everything is published.
 * After a client went, no queue runs until the device is reset (a new
 * client resets it first): its rings were in the old client's memory. */
void emu_net_client(struct emu_net *n, bool present);
/* The client hung up (its process may be dead, and its frontend may have
 * taken the rings over from the used index in guest memory already): the
 * queues stop where they are, with nothing more read or written in guest
 * memory, not even the used entries not published yet, and no interrupt;
 * as a VF whose bus mastering went with the reset at the last close of its
 * device fd. Until a new client resets the device. */
void emu_net_hang_up(struct emu_net *n);
void emu_net_before_unmap(struct emu_net *n);

/* from the wire: a frame for RX of @pair, or for the pair a flow hash picks
 * among the running RX queues (pair 0 when none runs) */
void emu_net_rx(struct emu_net *n, unsigned pair, const uint8_t *frame, size_t len);
void emu_net_rx_flow(struct emu_net *n, const uint8_t *frame, size_t len);

/* Like emu_net_rx(), but a frame that finds the FIFO full is not dropped:
 * false, and the caller accounts for it, e.g. with emu_net_rx_dropped_gen()
 * (cheaper than one drop at a time: no frame is parsed). */
bool emu_net_rx_offer(struct emu_net *n, unsigned pair, const uint8_t *frame, size_t len);

/* @count generator frames of @stream, sequence numbers @first on, were lost
 * on RX of @pair for lack of room: counted and listed like drops. */
void emu_net_rx_dropped_gen(struct emu_net *n, unsigned pair, uint32_t stream, uint64_t first,
			    uint64_t count);

/* One burst per pending queue, then publish and interrupt. Returns true
 * while some queue still has work (call again without waiting). */
bool emu_net_run(struct emu_net *n);

/* VQ_PAIRS_SET: pairs 0..@pairs-1 run from now on (newly active queues get
 * a burst, the others stop taking chains). */
void emu_net_set_active_pairs(struct emu_net *n, unsigned pairs);
/* the control queue's index when the driver negotiated it with MQ
 * (--virtio-function only), else -1; and its doorbell (emu-ctrl.c) */
int emu_net_ctrl_queue(const struct emu_net *n);
void emu_ctrl_kick(struct emu_net *n);
void emu_ctrl_reset(struct emu_net *n);

/* counters */
void emu_net_print(const struct emu_net *n, FILE *out);
void emu_net_json(const struct emu_net *n, FILE *out);

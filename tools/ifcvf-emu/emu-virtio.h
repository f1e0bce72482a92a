/* The virtio side of the emulated VF: common configuration, doorbells, ISR,
 * device configuration (emu-virtio.c) and the IFCVF BAR4 live-migration
 * block (emu-lm.c), with per-queue state a datapath can run from.
 *
 * Semantics follow virtio 1.0 plus what the IFCVF driver relies on
 * (reference/ifcvf-dpdk-driver.md §11): queue_enable=0 suspends a queue and
 * reads back 0 once it is quiesced; queues may be programmed and enabled after
 * DRIVER_OK; out-of-table MSI-X vectors read back 0xFFFF; queue_enable=1
 * latches the ring indices from the queue's BAR4 state word, and disabling
 * writes them back.
 *
 * With --virtio-function the model is a plain virtio 1.x function instead:
 * a reset restarts every ring at index 0 (there are no ring-state words),
 * and queue_enable=0 on an enabled queue is a driver error (no
 * VIRTIO_F_RING_RESET): ignored, the queue keeps running, and counted with
 * the datapath's device errors. With several pairs it is QEMU's
 * virtio-net-pci,mq=on: num_queues reads 3 until the driver takes MQ, and
 * the control queue picks the pairs that run (emu-net.h).
 *
 * The datapath (emu-net.c, net only) moves last_avail/last_used of running
 * queues; the register model calls into it on a doorbell, a queue enable
 * or disable, DRIVER_OK and reset, and the datapath sets NEEDS_RESET.
 *
 * Threads: owned by the thread serving the vfio-user client, which also
 * runs the datapath. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "emu-layout.h"
#include "emu-options.h"

struct emu_vq {
	bool enabled;
	uint16_t size;            /* as written; the max after reset */
	uint16_t msix_vector;     /* VIRTIO_MSI_NO_VECTOR when none */
	uint64_t desc;            /* IOVAs (= guest physical addresses) */
	uint64_t avail;
	uint64_t used;
	uint16_t last_avail;      /* ring position: latched at enable */
	uint16_t last_used;
	uint64_t kicks;
	uint64_t bad_kicks;       /* doorbell value was not this queue's index */
};

/* BAR4 registers (ref §3.1). ring_state holds each queue's word while the
 * queue is disabled; an enabled queue's word is read live from its emu_vq. */
struct emu_lm {
	bool present;
	uint32_t logging_ctrl;
	uint32_t base_lo, base_hi;
	uint32_t end_lo, end_hi;
	uint32_t mq;
	uint32_t ring_state[EMU_MAX_VRINGS];
};

struct emu_virtio_stats {
	uint64_t ignored_writes;   /* read-only fields, bad sizes, programming while enabled */
	uint64_t features_refused; /* FEATURES_OK not accepted */
	uint64_t resets;
	uint64_t message_doorbells; /* doorbells that came as REGION_WRITE */
};

struct emu_net;

struct emu_virtio {
	const struct emu_layout *layout;
	struct emu_net *net;         /* the datapath (net only), NULL: none */
	enum emu_type type;
	unsigned nvq;
	uint16_t num_queues;         /* what the register reads (--fault num-queues) */
	uint16_t queue_size_max;
	unsigned msix_entries;
	uint64_t device_features;
	uint64_t driver_features;
	uint32_t dfselect;
	uint32_t gfselect;
	uint16_t msix_config;
	uint8_t status;
	uint8_t config_generation;
	uint16_t queue_select;
	uint8_t isr;
	bool verbose;
	bool virtio_function;        /* --virtio-function: not an IFCVF */
	int no_stop_queue;           /* --fault queue-no-stop=Q, -1: none */
	uint8_t devcfg[EMU_DEVICE_WINDOW];
	struct emu_vq vq[EMU_MAX_VRINGS];
	struct emu_lm lm;
	struct emu_virtio_stats stats;
};

void emu_virtio_init(struct emu_virtio *v, const struct emu_config *cfg,
		     const struct emu_layout *layout);

/* Virtio reset (device_status = 0): queues off (their indices go to the
 * BAR4 words; with --virtio-function every ring back to index 0),
 * features, vectors and selectors cleared. */
void emu_virtio_reset(struct emu_virtio *v);

/* Function reset (vfio-user DEVICE_RESET): virtio reset plus the BAR4 block
 * back to zero (logging off, ring state cleared). */
void emu_virtio_function_reset(struct emu_virtio *v);

/* A doorbell of queue @q with @value (its index, normally), from a
 * REGION_WRITE or taken from the mapped notify area (emu-doorbell.h). */
void emu_virtio_doorbell(struct emu_virtio *v, unsigned q, uint16_t value);

/* Some queue is enabled (the doorbell poller has something to watch). */
bool emu_virtio_any_enabled(const struct emu_virtio *v);

/* Access to the BAR that holds the virtio structures. @off/@len lie inside
 * the BAR; accesses may span areas. Returns 0 or -EINVAL. */
int emu_virtio_bar_read(struct emu_virtio *v, uint64_t off, void *buf, size_t len);
int emu_virtio_bar_write(struct emu_virtio *v, uint64_t off, const void *buf, size_t len);

/* BAR4 access: 32-bit registers; @off and @len must be multiples of 4
 * (-EINVAL otherwise). */
int emu_lm_read(struct emu_virtio *v, uint64_t off, void *buf, size_t len);
int emu_lm_write(struct emu_virtio *v, uint64_t off, const void *buf, size_t len);

/* BAR4 offset of queue @q's ring-state word (ref §3.2). */
uint32_t emu_lm_state_offset(enum emu_type type, unsigned q);

/* Queue @q's latched indices from its state word, and the reverse. */
void emu_lm_latch(struct emu_virtio *v, unsigned q);
void emu_lm_store(struct emu_virtio *v, unsigned q);

void emu_lm_reset(struct emu_lm *lm);

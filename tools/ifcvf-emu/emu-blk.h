/* The blk datapath of the emulated VF: every queue serves virtio-blk
 * requests (virtio 1.x §5.2.6) against a disk, a raw file (--backing) or a
 * sparse memfd of --capacity sectors: IN, OUT, FLUSH, GET_ID, and DISCARD /
 * WRITE_ZEROES when the driver negotiated them. A request is a chain: the
 * 16-byte header device-readable, data (readable for OUT, writable for IN),
 * then one device-writable status byte, the chain's last byte.
 *
 * A request that is malformed (header short or not device-readable, data
 * not a whole number of sectors, a range past the capacity, more segments
 * than seg_max or one larger than size_max) completes with VIRTIO_BLK_S_IOERR,
 * an unknown type with VIRTIO_BLK_S_UNSUPP. A chain with no device-writable
 * byte for the status cannot be answered: it completes with used length 0
 * and is counted. None of these stops the queue; only a ring fault
 * (addresses outside the DMA maps) does, as for net.
 *
 * Completion order: a request's data moves when the queue takes its chain;
 * its status byte and used element are written later, in the order
 * --complete-order picks among the requests in flight: fifo, reverse (each
 * burst backwards), or random (a random part of those in flight, in random
 * order, the rest held for a later round), as real disks complete. A queue
 * that stops (queue_enable=0: a suspend, a GET_VRING_BASE, a migration's
 * stop) first completes every request in flight, as a VF does, so the ring
 * state it stores has last_avail == last_used and nothing is half done. A
 * reset drops what is in flight (the driver reset the device).
 *
 * Every byte the device writes in guest memory (IN data, status bytes, used
 * ring) is logged while BAR4 logging is on.
 *
 * Capacity: emu_blk_resize() (SIGUSR1 in ifcvf-emu: the backing file's new
 * size, or the memory disk doubled) updates the config space and raises the
 * config interrupt.
 *
 * Threads: the main thread (the event loop), like the register model. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cerr.h"
#include "emu-dirty.h"
#include "emu-dma.h"
#include "emu-irq.h"
#include "emu-options.h"
#include "emu-virtio.h"
#include "emu-vring.h"

#define EMU_BLK_BURST 64u
#define EMU_BLK_ID_LEN 20u       /* VIRTIO_BLK_ID_BYTES */
#define EMU_BLK_SIZE_MAX 0x10000u   /* config size_max */
#define EMU_BLK_BUF_MAX (64u << 20)  /* largest request served */

struct emu_bq_stats {
	uint64_t requests;           /* chains completed */
	uint64_t reads, writes, flushes, get_ids, discards, write_zeroes;
	uint64_t bytes_read, bytes_written;
	uint64_t ioerr;              /* answered VIRTIO_BLK_S_IOERR */
	uint64_t unsupp;             /* answered VIRTIO_BLK_S_UNSUPP */
	uint64_t no_status;          /* no writable status byte: used length 0 */
	uint64_t out_of_order;       /* completed before an older request */
	uint64_t max_inflight;
	uint64_t irqs, irqs_suppressed, irqs_lost;
	uint64_t errors, dma_errors; /* ring faults (queue stopped) */
};

/* a request whose data moved, waiting for its completion */
struct emu_blk_req {
	uint16_t head;
	uint8_t status;              /* VIRTIO_BLK_S_* to write */
	bool has_status;
	uint64_t status_iova;
	uint32_t used_len;
	uint64_t seq;                /* order taken, to count out-of-order */
};

struct emu_bq {
	struct emu_vring ring;
	bool pending;                /* take chains */
	bool soft;                   /* pending from enable/DRIVER_OK, not a kick */
	bool dirty;                  /* used elements not published yet */
	bool broken;                 /* stopped by a ring fault */
	struct emu_blk_req *inflight;
	unsigned ninflight;
	uint64_t next_seq;
	uint64_t done_seq_min;       /* oldest seq not completed yet */
	struct emu_bq_stats st;
};

struct emu_blk {
	struct emu_virtio *v;
	struct emu_dma *dma;
	struct emu_irq *irq;
	unsigned nqueues;
	unsigned queue_size_max;
	int fd;                      /* the disk: backing file or memfd */
	bool file;                   /* fd is --backing */
	uint64_t capacity;           /* sectors */
	enum emu_blk_order order;
	uint64_t rng;
	bool client;
	bool orphaned;
	bool no_drain;               /* --fault blk-no-drain */
	struct emu_dirty dirty;
	struct emu_bq q[EMU_MAX_BLK_QUEUES];
	struct emu_walk walk;        /* segments of one request */
	uint8_t *buf;                /* one request's data */
	size_t buf_size;
	uint64_t config_irqs;
	uint64_t device_errors;
	uint64_t resizes;
};

int emu_blk_init(struct emu_blk *b, const struct emu_config *cfg, struct emu_virtio *v,
		 struct emu_dma *dma, struct emu_irq *irq, struct cerr *e);
void emu_blk_fini(struct emu_blk *b);

/* hooks of the register model (emu-virtio.c), as for net (emu-net.h) */
void emu_blk_kick(struct emu_blk *b, unsigned q);
void emu_blk_queue_started(struct emu_blk *b, unsigned q);
void emu_blk_queue_stopping(struct emu_blk *b, unsigned q);
void emu_blk_driver_ok(struct emu_blk *b);
void emu_blk_reset(struct emu_blk *b);
void emu_blk_client(struct emu_blk *b, bool present);
/* The client hung up: as emu_net_hang_up(), requests in flight are
 * neither completed nor published. */
void emu_blk_hang_up(struct emu_blk *b);
void emu_blk_before_unmap(struct emu_blk *b);

/* One round: take and complete. True while some queue still has work. */
bool emu_blk_run(struct emu_blk *b);

/* The disk's size changed (or, for the memory disk, grow it to twice its
 * size): new capacity in the config space, config interrupt. 0 or -errno. */
int emu_blk_resize(struct emu_blk *b, struct cerr *e);

void emu_blk_print(const struct emu_blk *b, FILE *out);
void emu_blk_json(const struct emu_blk *b, FILE *out);

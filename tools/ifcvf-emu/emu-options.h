/* ifcvf-emu command line: what the emulated VF looks like and which test
 * faults are switched on. Parsed once at start; read-only afterwards.
 *
 * Threads: written by main() before anything else runs, then shared
 * read-only by every part of the emulator. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cerr.h"
#include "emu-fault.h"

/* Limits that keep every structure inside its fixed-size BAR: 63 pairs give
 * 127 vrings, whose BAR4 state words end below 0x1000 and whose MSI-X table
 * (128 entries x 16 bytes) fits below the PBA at 0x800 of the MSI-X BAR. */
#define EMU_MAX_QUEUE_PAIRS 63u
#define EMU_MAX_BLK_QUEUES 63u
#define EMU_MAX_VRINGS (2u * EMU_MAX_QUEUE_PAIRS + 1u)
#define EMU_MAX_QUEUE_SIZE 32768u

enum emu_type {
	EMU_TYPE_NET,
	EMU_TYPE_BLK,
};

/* --fault KIND: deliberately broken devices for tests of the helper's probe */
struct emu_faults {
	bool cap_outside_bar;     /* the DEVICE cap reaches past its BAR */
	bool cap_loop;            /* the last cap links back to the first one */
	unsigned missing_caps;    /* bit (1 << cfg_type) per omitted virtio cap */
	bool wrong_vendor;
	bool wrong_device;
	bool wrong_subsystem;
	bool num_queues_set;      /* num_queues reads num_queues, not 2N+1 / N */
	uint16_t num_queues;
	bool cap_bar_set;         /* virtio caps name cap_bar */
	unsigned cap_bar;
	unsigned slow_dma_map_ms; /* every DMA_MAP holds the emulator this long */
	/* for the helper's live-migration error paths */
	bool dma_map_log;         /* a DMA map at the BAR4 log base is refused */
	bool queue_no_stop_set;   /* queue_enable=0 on queue_no_stop is ignored */
	unsigned queue_no_stop;
	bool blk_no_drain;        /* blk: a queue stops with its requests in flight */
	bool write_past_len;      /* net RX fills whole buffers, reports the frame's length */
	bool notify_mult_set;     /* notify_off_multiplier reads notify_mult */
	uint32_t notify_mult;
	struct emu_fault_schedule schedule; /* of the vfio-user conversation */
};

/* --doorbell MODE: how a client's doorbell writes reach the emulator */
enum emu_doorbell_mode {
	EMU_DOORBELL_MAPPED,   /* the notify area is a mappable sparse area of a
				* sealed memfd, watched by a poller thread;
				* REGION_WRITE works too */
	EMU_DOORBELL_MESSAGE,  /* nothing is mappable: REGION_WRITE only */
};

/* --wire KIND: where the frames of a net VF go and come from */
enum emu_wire_kind {
	EMU_WIRE_LOOP,   /* TX of pair k comes back on RX of pair k */
	EMU_WIRE_TAP,    /* a Linux TAP device */
	EMU_WIRE_PAIR,   /* another emulator over an AF_UNIX SOCK_SEQPACKET socket */
	EMU_WIRE_GEN,    /* frame generator and checker (gen-frame.h) */
};

#define EMU_IFNAME_MAX 15u
#define EMU_MAX_FRAME 65535u          /* bytes of Ethernet frame, no virtio header */
#define EMU_GEN_MAX_PPS 10000000u
#define EMU_RX_FIFO_MAX 65536u

struct emu_gen_config {
	uint64_t pps;             /* frames per second (unless max) */
	bool max;                 /* pps=max: as fast as RX takes them */
	unsigned size;            /* frame bytes, >= GEN_FRAME_HDR_LEN */
	uint64_t count;           /* frames to send, 0: no end */
	unsigned pair;            /* RX of this pair */
	uint32_t stream;          /* stream id written into the frames */
};

struct emu_wire_config {
	enum emu_wire_kind kind;
	char ifname[EMU_IFNAME_MAX + 1];  /* tap */
	const char *path;                 /* pair */
	struct emu_gen_config gen;
};

/* --complete-order: the order blk requests in flight complete in */
enum emu_blk_order {
	EMU_BLK_ORDER_RANDOM,   /* the default: as real disks */
	EMU_BLK_ORDER_FIFO,
	EMU_BLK_ORDER_REVERSE,
};

struct emu_config {
	const char *socket_path;
	enum emu_type type;
	unsigned queue_pairs;     /* net */
	unsigned blk_queues;      /* blk */
	uint8_t mac[6];
	bool no_lm;
	bool virtio_function;     /* net: a plain virtio 1.x function, not an IFCVF */
	uint64_t capacity;        /* blk, 512-byte sectors (without --backing) */
	const char *backing;      /* blk: raw image file, NULL: a memory disk */
	enum emu_blk_order blk_order;
	unsigned queue_size_max;
	bool verbose;
	struct emu_faults faults;
	struct emu_wire_config wire;  /* net */
	unsigned rx_fifo;             /* net: frames each RX queue may hold */
	const char *stats_file;       /* JSON counters, NULL: none */
	uint64_t features_extra;      /* offered on top, honoured or not */
	enum emu_doorbell_mode doorbell;
};

enum emu_options_result {
	EMU_OPTIONS_OK,
	EMU_OPTIONS_HELP,     /* --help was printed: exit 0 */
	EMU_OPTIONS_BAD,      /* e->msg names the option and the cause: exit 2 */
};

/* Fill @cfg from argv. Never prints except for --help (to @out). */
enum emu_options_result emu_options_parse(int argc, char **argv, struct emu_config *cfg,
					  FILE *out, struct cerr *e);

/* Number of virtqueues the device really has: 2N+1 (net) or N (blk). */
unsigned emu_config_vrings(const struct emu_config *cfg);

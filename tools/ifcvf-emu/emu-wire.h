/* The wire of a net VF (--wire): what frames the VF transmits go to, and
 * where frames it receives come from. One wire per emulator:
 *   loop   wire-loop.c   TX of pair k back into RX of pair k
 *   tap    wire-tap.c    a Linux TAP device
 *   pair   wire-pair.c   another emulator over SOCK_SEQPACKET
 *   gen    wire-gen.c    generator and checker of gen-frame.h frames
 * Frames are plain Ethernet frames (no virtio header, no FCS). Wire I/O runs
 * in the event loop; delivering into the VF is emu_net_rx()/emu_net_rx_flow(),
 * which never blocks (a full receive FIFO drops and counts), or, for a wire
 * that waits for buffers, the datapath pulling with rx_peek()/rx_pop().
 *
 * Threads: the main thread. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cerr.h"
#include "emu-loop.h"
#include "emu-options.h"

struct emu_net;
struct emu_wire;

struct emu_wire_stats {
	uint64_t tx_frames;       /* frames the VF sent that the wire took */
	uint64_t tx_bytes;
	uint64_t tx_dropped;      /* ... that it could not take (no peer, full) */
	uint64_t rx_frames;       /* frames the wire handed to the VF */
	uint64_t rx_bytes;
	uint64_t rx_errors;       /* reads that failed or were truncated */
};

struct emu_wire_ops {
	/* the VF transmitted @frame on TX of @pair */
	void (*tx)(struct emu_wire *w, unsigned pair, const uint8_t *frame, size_t len);
	/* RX of @pair runs (enabled with DRIVER_OK); may be called again */
	void (*rx_started)(struct emu_wire *w, unsigned pair);
	/* Optional, for a wire whose frames wait for buffers instead of being
	 * pushed with emu_net_rx() (gen pps=max): the next frame for RX of
	 * @pair, or NULL when there is none now. The datapath asks while RX
	 * of @pair runs, its FIFO is empty and buffers may be there; the frame
	 * stays the next one until rx_pop() says it was taken (written into
	 * the ring, or dropped because it cannot fit the buffers posted). */
	const uint8_t *(*rx_peek)(struct emu_wire *w, unsigned pair, size_t *len);
	void (*rx_pop)(struct emu_wire *w, unsigned pair);
	/* kind-specific counters: a text line, and JSON members (",\"k\":v...") */
	void (*print)(const struct emu_wire *w, FILE *out);
	void (*json)(const struct emu_wire *w, FILE *out);
	void (*close)(struct emu_wire *w);
};

struct emu_wire {
	const struct emu_wire_ops *ops;
	const char *kind;
	struct emu_net *net;
	struct emu_loop *loop;
	struct emu_wire_stats st;
};

/* Open the wire @cfg->wire for @net; registers its fds with @loop. */
int emu_wire_open(const struct emu_config *cfg, struct emu_net *net, struct emu_loop *loop,
		  struct emu_wire **ret, struct cerr *e);
void emu_wire_close(struct emu_wire *w);

/* counters: a line of text; the JSON member ",\"wire\":{...}" */
void emu_wire_print(const struct emu_wire *w, FILE *out);
void emu_wire_json(const struct emu_wire *w, FILE *out);

/* the kinds */
int emu_wire_loop_open(const struct emu_config *cfg, struct emu_wire **ret, struct cerr *e);
int emu_wire_tap_open(const struct emu_config *cfg, struct emu_loop *loop, struct emu_wire **ret,
		      struct cerr *e);
int emu_wire_pair_open(const struct emu_config *cfg, struct emu_loop *loop, struct emu_wire **ret,
		       struct cerr *e);
int emu_wire_gen_open(const struct emu_config *cfg, struct emu_loop *loop, struct emu_wire **ret,
		      struct cerr *e);

/* A bounded receive FIFO of whole frames, as a NIC holds frames while a
 * queue is suspended or out of buffers: at most @max_frames frames and a byte
 * budget (2 KiB a frame, at least room for two of the largest frames). The
 * storage is one ring of bytes allocated at the first push and reused, so
 * holding a frame costs a copy and no allocation.
 *
 * Threads: the datapath's thread. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct emu_fifo {
	uint8_t *buf;           /* NULL until the first push */
	size_t cap;             /* bytes */
	size_t head, tail;      /* next record to read / where to write; equal
				 * with frames in it means full */
	unsigned count;
	unsigned max_frames;
	unsigned high_water;    /* largest count seen */
};

void emu_fifo_init(struct emu_fifo *f, unsigned max_frames);
void emu_fifo_fini(struct emu_fifo *f);

/* Copy a frame in; false when the FIFO is full (by frames or bytes) or the
 * buffer cannot be allocated. */
bool emu_fifo_push(struct emu_fifo *f, const uint8_t *frame, size_t len);

/* The oldest frame, or NULL when empty; it stays until emu_fifo_pop(). */
const uint8_t *emu_fifo_peek(struct emu_fifo *f, size_t *ret_len);
void emu_fifo_pop(struct emu_fifo *f);

static inline bool emu_fifo_empty(const struct emu_fifo *f)
{
	return f->count == 0;
}

/* Bounded frame FIFO (see emu-fifo.h). Records are a 32-bit length, 4 bytes
 * of padding and the frame, rounded up to 8 bytes; a record that does not
 * fit before the end of the ring is preceded by a skip marker there. */
#include "emu-fifo.h"

#include <stdlib.h>
#include <string.h>

#include "emu-options.h"

#define REC_HDR 8u
#define SKIP_MARK UINT32_MAX
#define BYTES_PER_FRAME 2048u

static size_t rec_size(size_t len)
{
	return (REC_HDR + len + 7u) & ~(size_t)7u;
}

void emu_fifo_init(struct emu_fifo *f, unsigned max_frames)
{
	size_t cap = (size_t)max_frames * BYTES_PER_FRAME;
	size_t min = 2 * rec_size(EMU_MAX_FRAME);

	memset(f, 0, sizeof(*f));
	f->max_frames = max_frames;
	f->cap = cap < min ? min : cap;
}

void emu_fifo_fini(struct emu_fifo *f)
{
	free(f->buf);
	emu_fifo_init(f, f->max_frames);
}

static void put_len(uint8_t *at, uint32_t len)
{
	memcpy(at, &len, sizeof(len));
}

bool emu_fifo_push(struct emu_fifo *f, const uint8_t *frame, size_t len)
{
	size_t need = rec_size(len), at = f->tail;

	if (f->count >= f->max_frames || len > EMU_MAX_FRAME)
		return false;
	if (!f->buf) {
		f->buf = malloc(f->cap);
		if (!f->buf)
			return false;
	}
	if (f->count == 0) {
		f->head = f->tail = at = 0;
	} else if (f->tail > f->head) {
		/* free: [tail, cap) and [0, head) */
		if (need > f->cap - f->tail) {
			if (need > f->head)
				return false;
			put_len(f->buf + f->tail, SKIP_MARK);
			at = 0;
		}
	} else if (need > f->head - f->tail) {
		/* free: [tail, head); nothing when tail == head (full) */
		return false;
	}
	put_len(f->buf + at, (uint32_t)len);
	memcpy(f->buf + at + REC_HDR, frame, len);
	f->tail = at + need;
	if (f->tail == f->cap)
		f->tail = 0;
	f->count++;
	if (f->count > f->high_water)
		f->high_water = f->count;
	return true;
}

const uint8_t *emu_fifo_peek(struct emu_fifo *f, size_t *ret_len)
{
	uint32_t len;

	if (f->count == 0)
		return NULL;
	memcpy(&len, f->buf + f->head, sizeof(len));
	if (len == SKIP_MARK) {
		f->head = 0;
		memcpy(&len, f->buf, sizeof(len));
	}
	*ret_len = len;
	return f->buf + f->head + REC_HDR;
}

void emu_fifo_pop(struct emu_fifo *f)
{
	size_t len, need;

	if (!emu_fifo_peek(f, &len))
		return;
	need = rec_size(len);
	f->head += need;
	if (f->head == f->cap)
		f->head = 0;
	f->count--;
	if (f->count == 0)
		f->head = f->tail = 0;
}

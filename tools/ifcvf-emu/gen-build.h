/* Building gen-frame.h frames fast, for the generator: the same bytes as
 * gen_frame_build(), without running the checksum over every payload.
 *
 * The payload of frame seq is byte i = (c + 7 i) mod 256 with
 * c = (seq * 131) mod 256. As 7 is invertible mod 256 (7 * 183 = 1281 =
 * 5 * 256 + 1), that is pattern[k + i] with pattern[j] = 7 j mod 256 and
 * k = 183 c mod 256: a window of one fixed pattern, and the checksum depends
 * on c alone, so there are 256 payloads. A frame is the header (a template
 * with the sequence number and checksum filled in) and one copy out of the
 * pattern; each of the 256 checksums is computed the first time it is used.
 *
 * Threads: one builder per thread. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gen-frame.h"

struct gen_builder {
	size_t size;                       /* frame bytes, >= GEN_FRAME_HDR_LEN */
	uint8_t hdr[GEN_FRAME_HDR_LEN];    /* all but the sequence number and checksum */
	uint8_t *pattern;                  /* size - GEN_FRAME_HDR_LEN + 255 bytes */
	uint32_t csum[256];
	bool have[256];
};

/* 0, or -1 when out of memory. */
static inline int gen_builder_init(struct gen_builder *b, size_t size, const uint8_t dst[6],
				   uint32_t stream)
{
	size_t plen = size - GEN_FRAME_HDR_LEN;

	memset(b, 0, sizeof(*b));
	b->size = size;
	b->pattern = malloc(plen + 255);
	if (!b->pattern)
		return -1;
	for (size_t j = 0; j < plen + 255; j++)
		b->pattern[j] = (uint8_t)(j * 7u);
	/* the header of frame 0 with an empty payload: only the sequence
	 * number and the checksum differ from frame to frame */
	gen_frame_build(b->hdr, GEN_FRAME_HDR_LEN, dst, stream, 0);
	gen_put_be(b->hdr + GEN_FRAME_OFF_LEN, plen, 4);
	return 0;
}

static inline void gen_builder_fini(struct gen_builder *b)
{
	free(b->pattern);
	b->pattern = NULL;
}

/* Write frame @seq (b->size bytes) into @buf. */
static inline void gen_builder_build(struct gen_builder *b, uint8_t *buf, uint64_t seq)
{
	size_t plen = b->size - GEN_FRAME_HDR_LEN;
	uint8_t c = (uint8_t)(seq * 131u);
	const uint8_t *payload = b->pattern + (uint8_t)(c * 183u);

	if (!b->have[c]) {
		b->csum[c] = gen_fnv1a(payload, plen);
		b->have[c] = true;
	}
	memcpy(buf, b->hdr, GEN_FRAME_HDR_LEN);
	gen_put_be(buf + GEN_FRAME_OFF_SEQ, seq, 8);
	gen_put_be(buf + GEN_FRAME_OFF_CSUM, b->csum[c], 4);
	memcpy(buf + GEN_FRAME_HDR_LEN, payload, plen);
}

/* The generator frame of ifcvf-emu's `gen` wire, self-contained so that a
 * checker on the other side (a guest program, a test) can include this one
 * header and nothing else (C99, no emulator types).
 *
 * Layout (38 bytes of header, then the payload; every field big-endian):
 *
 *   off len  field
 *     0   6  destination MAC (the VF's --mac)
 *     6   6  source MAC (02:fc:ff:00:ss:ss, ss = stream, low 16 bits)
 *    12   2  ethertype 0x88B5 (IEEE local experimental 1)
 *    14   4  magic 0x49464347 ("IFCG")
 *    18   4  stream id (the generator's stream=N, default 0)
 *    22   8  sequence number: 0, 1, 2, ... per stream, never reused
 *    30   4  payload length in bytes (frame length - 38)
 *    34   4  checksum: FNV-1a 32-bit over the payload bytes
 *    38      payload (a pattern derived from the sequence number; only the
 *            checksum matters to a checker)
 *
 * A frame is "foreign" when it is shorter than the header or its ethertype
 * or magic differ; "corrupt" when they match but the length or the checksum
 * does not (a frame longer than 38 + payload length, e.g. padded to the
 * Ethernet minimum by someone, is corrupt too: the generator never pads).
 * There is no Ethernet FCS.
 *
 * Threads: no state. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define GEN_FRAME_ETHERTYPE 0x88b5u
#define GEN_FRAME_MAGIC 0x49464347u
#define GEN_FRAME_HDR_LEN 38u

#define GEN_FRAME_OFF_ETHERTYPE 12u
#define GEN_FRAME_OFF_MAGIC 14u
#define GEN_FRAME_OFF_STREAM 18u
#define GEN_FRAME_OFF_SEQ 22u
#define GEN_FRAME_OFF_LEN 30u
#define GEN_FRAME_OFF_CSUM 34u

#define GEN_FNV1A_INIT 0x811c9dc5u
#define GEN_FNV1A_PRIME 0x01000193u

enum gen_frame_kind {
	GEN_FRAME_OK,
	GEN_FRAME_FOREIGN,
	GEN_FRAME_CORRUPT,
};

static inline uint32_t gen_fnv1a(const uint8_t *p, size_t len)
{
	uint32_t h = GEN_FNV1A_INIT;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= GEN_FNV1A_PRIME;
	}
	return h;
}

static inline void gen_put_be(uint8_t *p, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

static inline uint64_t gen_get_be(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++)
		v = v << 8 | p[i];
	return v;
}

/* Write a whole frame of @len bytes (>= GEN_FRAME_HDR_LEN) into @buf. */
static inline void gen_frame_build(uint8_t *buf, size_t len, const uint8_t dst[6],
				   uint32_t stream, uint64_t seq)
{
	size_t plen = len - GEN_FRAME_HDR_LEN;
	uint8_t *payload = buf + GEN_FRAME_HDR_LEN;
	const uint8_t src[6] = { 0x02, 0xfc, 0xff, 0x00, (uint8_t)(stream >> 8), (uint8_t)stream };

	memcpy(buf, dst, 6);
	memcpy(buf + 6, src, 6);
	gen_put_be(buf + GEN_FRAME_OFF_ETHERTYPE, GEN_FRAME_ETHERTYPE, 2);
	gen_put_be(buf + GEN_FRAME_OFF_MAGIC, GEN_FRAME_MAGIC, 4);
	gen_put_be(buf + GEN_FRAME_OFF_STREAM, stream, 4);
	gen_put_be(buf + GEN_FRAME_OFF_SEQ, seq, 8);
	gen_put_be(buf + GEN_FRAME_OFF_LEN, plen, 4);
	for (size_t i = 0; i < plen; i++)
		payload[i] = (uint8_t)(seq * 131u + i * 7u);
	gen_put_be(buf + GEN_FRAME_OFF_CSUM, gen_fnv1a(payload, plen), 4);
}

/* Classify a frame; for GEN_FRAME_OK and GEN_FRAME_CORRUPT the stream and
 * sequence number are returned (for a corrupt frame they may be wrong too). */
static inline enum gen_frame_kind gen_frame_parse(const uint8_t *buf, size_t len,
						  uint32_t *ret_stream, uint64_t *ret_seq)
{
	uint64_t plen;

	if (len < GEN_FRAME_HDR_LEN ||
	    gen_get_be(buf + GEN_FRAME_OFF_ETHERTYPE, 2) != GEN_FRAME_ETHERTYPE ||
	    gen_get_be(buf + GEN_FRAME_OFF_MAGIC, 4) != GEN_FRAME_MAGIC)
		return GEN_FRAME_FOREIGN;
	*ret_stream = (uint32_t)gen_get_be(buf + GEN_FRAME_OFF_STREAM, 4);
	*ret_seq = gen_get_be(buf + GEN_FRAME_OFF_SEQ, 8);
	plen = gen_get_be(buf + GEN_FRAME_OFF_LEN, 4);
	if (plen != len - GEN_FRAME_HDR_LEN ||
	    gen_get_be(buf + GEN_FRAME_OFF_CSUM, 4) != gen_fnv1a(buf + GEN_FRAME_HDR_LEN, plen))
		return GEN_FRAME_CORRUPT;
	return GEN_FRAME_OK;
}

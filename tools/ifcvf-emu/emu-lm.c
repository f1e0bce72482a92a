/* IFCVF BAR4 live-migration block (ref §3): logging control and bitmap
 * range, per-queue ring-state words, the MQ register. All 32-bit. */
#include "emu-virtio.h"

#include <errno.h>
#include <string.h>

#include "ifcvf-regs.h"

uint32_t emu_lm_state_offset(enum emu_type type, unsigned q)
{
	if (type == EMU_TYPE_NET)
		return IFCVF_LM_RING_STATE_OFFSET + (q / 2) * IFCVF_LM_CFG_SIZE + (q % 2) * 4;
	return IFCVF_LM_RING_STATE_OFFSET + q * IFCVF_LM_CFG_SIZE;
}

/* Which queue's state word lives at @off, or -1. */
static int state_queue_at(const struct emu_virtio *v, uint32_t off)
{
	uint32_t rel, block, inner;
	unsigned q;

	if (off < IFCVF_LM_RING_STATE_OFFSET)
		return -1;
	rel = off - IFCVF_LM_RING_STATE_OFFSET;
	block = rel / IFCVF_LM_CFG_SIZE;
	inner = rel % IFCVF_LM_CFG_SIZE;
	if (v->type == EMU_TYPE_NET) {
		if (inner != 0 && inner != 4)
			return -1;
		q = block * 2 + inner / 4;
	} else {
		if (inner != 0)
			return -1;
		q = block;
	}
	return q < v->nvq ? (int)q : -1;
}

void emu_lm_latch(struct emu_virtio *v, unsigned q)
{
	uint32_t w = v->lm.ring_state[q];

	v->vq[q].last_avail = (uint16_t)(w & 0xffffu);
	v->vq[q].last_used = (uint16_t)(w >> 16);
}

void emu_lm_store(struct emu_virtio *v, unsigned q)
{
	v->lm.ring_state[q] = ((uint32_t)v->vq[q].last_used << 16) | v->vq[q].last_avail;
}

void emu_lm_reset(struct emu_lm *lm)
{
	bool present = lm->present;

	memset(lm, 0, sizeof(*lm));
	lm->present = present;
}

static uint32_t lm_read32(struct emu_virtio *v, uint32_t off)
{
	struct emu_lm *lm = &v->lm;
	int q;

	switch (off) {
	case IFCVF_LM_LOGGING_CTRL:
		return lm->logging_ctrl;
	case IFCVF_LM_BASE_ADDR_LOW:
		return lm->base_lo;
	case IFCVF_LM_BASE_ADDR_HIGH:
		return lm->base_hi;
	case IFCVF_LM_END_ADDR_LOW:
		return lm->end_lo;
	case IFCVF_LM_END_ADDR_HIGH:
		return lm->end_hi;
	case IFCVF_MQ_OFFSET:
		return lm->mq;
	default:
		break;
	}
	q = state_queue_at(v, off);
	if (q < 0)
		return 0;
	/* an enabled queue reports where it is now */
	if (v->vq[q].enabled)
		return ((uint32_t)v->vq[q].last_used << 16) | v->vq[q].last_avail;
	return lm->ring_state[q];
}

static void lm_write32(struct emu_virtio *v, uint32_t off, uint32_t val)
{
	struct emu_lm *lm = &v->lm;
	int q;

	switch (off) {
	case IFCVF_LM_LOGGING_CTRL:
		lm->logging_ctrl = val;
		return;
	case IFCVF_LM_BASE_ADDR_LOW:
		lm->base_lo = val;
		return;
	case IFCVF_LM_BASE_ADDR_HIGH:
		lm->base_hi = val;
		return;
	case IFCVF_LM_END_ADDR_LOW:
		lm->end_lo = val;
		return;
	case IFCVF_LM_END_ADDR_HIGH:
		lm->end_hi = val;
		return;
	case IFCVF_MQ_OFFSET:
		lm->mq = val;
		return;
	default:
		break;
	}
	q = state_queue_at(v, off);
	if (q < 0) {
		v->stats.ignored_writes++;
		return;
	}
	/* a running queue keeps its latched position; the word is what the
	 * next enable starts from (and is overwritten when it is disabled) */
	lm->ring_state[q] = val;
}

int emu_lm_read(struct emu_virtio *v, uint64_t off, void *buf, size_t len)
{
	uint8_t *out = buf;

	if ((off | len) & 3)
		return -EINVAL;
	for (size_t i = 0; i < len; i += 4) {
		uint32_t w = lm_read32(v, (uint32_t)(off + i));

		memcpy(out + i, &w, 4);
	}
	return 0;
}

int emu_lm_write(struct emu_virtio *v, uint64_t off, const void *buf, size_t len)
{
	const uint8_t *in = buf;

	if ((off | len) & 3)
		return -EINVAL;
	for (size_t i = 0; i < len; i += 4) {
		uint32_t w;

		memcpy(&w, in + i, 4);
		lm_write32(v, (uint32_t)(off + i), w);
	}
	return 0;
}

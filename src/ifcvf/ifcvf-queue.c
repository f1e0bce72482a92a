/* Queue-level verbs: programming, enable/disable, ring state in BAR4, the MQ
 * register, dirty logging and doorbells (reference §3, §5.2–§5.5). */
#include "ifcvf-hw.h"

#include <endian.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "ifcvf-io.h"
#include "io-barrier.h"

static int check_qid(struct ifcvf_hw *hw, unsigned qid, struct cerr *e)
{
	if (qid >= ifcvf_hw_max_vrings(hw))
		return cerr_set(e, EINVAL, "queue %u is out of range (the VF has %u vrings)", qid,
				ifcvf_hw_max_vrings(hw));
	return 0;
}

static int select_queue(struct ifcvf_hw *hw, unsigned qid, struct cerr *e)
{
	int r = check_qid(hw, qid, e);

	return r ? r : ifcvf_select_queue(hw, qid, e);
}

/* Writes are posted: a VF that lost one of a queue's registers would run
 * the queue on another ring, or none, unseen. The reads that check the
 * last programming of @qid (its size and ring addresses), appended to
 * @reads at *@n into @buf. */
enum { PROGRAM_READS = 7 };
static int add_program_reads(struct ifcvf_hw *hw, struct vfio_dev_read *reads, unsigned *n,
			     uint32_t buf[PROGRAM_READS], struct cerr *e)
{
	static const uint32_t off[] = { VIRTIO_COMMON_Q_DESCLO, VIRTIO_COMMON_Q_DESCLO + 4,
					VIRTIO_COMMON_Q_AVAILLO, VIRTIO_COMMON_Q_AVAILLO + 4,
					VIRTIO_COMMON_Q_USEDLO, VIRTIO_COMMON_Q_USEDLO + 4 };
	int r = ifcvf_common_read_entry(hw, VIRTIO_COMMON_Q_SIZE, &buf[0], 2, &reads[(*n)++], e);

	buf[0] = 0;
	for (unsigned i = 0; r == 0 && i < 6; i++)
		r = ifcvf_common_read_entry(hw, off[i], &buf[1 + i], 4, &reads[(*n)++], e);
	return r;
}

static int check_program_reads(unsigned qid, const struct ifcvf_vring_cfg *cfg,
			       const uint32_t buf[PROGRAM_READS], struct cerr *e)
{
	static const char *const name[] = { "desc", "avail", "used" };
	const uint64_t want[] = { cfg->desc, cfg->avail, cfg->used };
	uint16_t size = (uint16_t)le32toh(buf[0]);

	if (size != cfg->size)
		return cerr_set(e, EIO, "queue %u: the VF did not take size %u (reads %u)", qid,
				cfg->size, size);
	for (unsigned i = 0; i < 3; i++) {
		uint64_t got = (uint64_t)le32toh(buf[2 + 2 * i]) << 32 | le32toh(buf[1 + 2 * i]);

		if (got != want[i])
			return cerr_set(e, EIO, "queue %u: the VF did not take %s ring address 0x%llx "
					"(reads 0x%llx)", qid, name[i],
					(unsigned long long)want[i], (unsigned long long)got);
	}
	return 0;
}

uint32_t ifcvf_ring_state_offset(enum ifcvf_dev_type type, unsigned qid)
{
	if (type == IFCVF_DEV_NET)
		return IFCVF_LM_RING_STATE_OFFSET + (qid / 2) * IFCVF_LM_CFG_SIZE + (qid % 2) * 4;
	return IFCVF_LM_RING_STATE_OFFSET + qid * IFCVF_LM_CFG_SIZE;
}

uint32_t ifcvf_ring_state_encode(uint16_t last_avail_idx, uint16_t last_used_idx)
{
	return (uint32_t)last_used_idx << 16 | last_avail_idx;
}

void ifcvf_ring_state_decode(enum ifcvf_dev_type type, uint32_t word,
			     uint16_t *last_avail_idx, uint16_t *last_used_idx)
{
	*last_used_idx = (uint16_t)(word >> 16);
	/* a net VF drops avail entries it fetched but did not use; they are
	 * fetched again from the used index on resume */
	*last_avail_idx = type == IFCVF_DEV_NET ? *last_used_idx : (uint16_t)word;
}

int ifcvf_hw_read_ring_state(struct ifcvf_hw *hw, unsigned qid, uint16_t *last_avail_idx,
			     uint16_t *last_used_idx, struct cerr *e)
{
	uint32_t word;
	int r = check_qid(hw, qid, e);

	if (r == 0)
		r = ifcvf_lm_read32(hw, ifcvf_ring_state_offset(hw->type, qid), &word, e);
	if (r < 0)
		return cerr_prefix(e, "cannot read ring state of queue %u", qid);
	ifcvf_ring_state_decode(hw->type, word, last_avail_idx, last_used_idx);
	return 0;
}

int ifcvf_hw_write_ring_state(struct ifcvf_hw *hw, unsigned qid, uint16_t last_avail_idx,
			      uint16_t last_used_idx, struct cerr *e)
{
	int r = check_qid(hw, qid, e);

	if (r == 0)
		r = ifcvf_lm_write32(hw, ifcvf_ring_state_offset(hw->type, qid),
				     ifcvf_ring_state_encode(last_avail_idx, last_used_idx), e);
	return r < 0 ? cerr_prefix(e, "cannot write ring state of queue %u", qid) : 0;
}

int ifcvf_hw_set_mq(struct ifcvf_hw *hw, unsigned nr_enabled_vrings, struct cerr *e)
{
	uint32_t value = hw->type == IFCVF_DEV_NET ? nr_enabled_vrings / 2 : nr_enabled_vrings;

	if (!hw->lm_block)
		return 0;  /* the MQ register lives in the BAR4 block */
	if (nr_enabled_vrings == 0)
		return cerr_set(e, EINVAL, "no vring is enabled");
	return ifcvf_lm_write32(hw, IFCVF_MQ_OFFSET, value, e);
}

int ifcvf_hw_queue_program(struct ifcvf_hw *hw, unsigned qid,
			   const struct ifcvf_vring_cfg *cfg, struct cerr *e)
{
	uint64_t bit = 1ull << qid;
	uint16_t vector, notify_off;
	int r;

	if (qid >= IFCVF_MAX_VRINGS)
		return cerr_set(e, EINVAL, "queue %u is out of range", qid);
	if (cfg->size == 0 || (cfg->size & (cfg->size - 1)))
		return cerr_set(e, EINVAL, "queue %u: size %u is not a power of two", qid, cfg->size);
	/* queue_select read back first: the writes after it must not
	 * reprogram another queue (nothing to do when the last stop of
	 * @qid read it back already) */
	if ((r = select_queue(hw, qid, e)) < 0 ||
	    (r = ifcvf_common_write64(hw, VIRTIO_COMMON_Q_DESCLO, cfg->desc, e)) < 0 ||
	    (r = ifcvf_common_write64(hw, VIRTIO_COMMON_Q_AVAILLO, cfg->avail, e)) < 0 ||
	    (r = ifcvf_common_write64(hw, VIRTIO_COMMON_Q_USEDLO, cfg->used, e)) < 0 ||
	    (r = ifcvf_common_write16(hw, VIRTIO_COMMON_Q_SIZE, cfg->size, e)) < 0)
		return cerr_prefix(e, "cannot program queue %u", qid);
	/* read back by ifcvf_hw_queue_enable(), with queue_enable */
	hw->program_cfg[qid] = *cfg;
	hw->program_unchecked |= bit;
	if (hw->lm_block) {
		r = ifcvf_hw_write_ring_state(hw, qid, cfg->last_avail_idx, cfg->last_used_idx, e);
		if (r < 0)
			return r;
	}
	if ((r = ifcvf_common_write16(hw, VIRTIO_COMMON_Q_MSIX, cfg->vector, e)) < 0)
		return cerr_prefix(e, "cannot program queue %u", qid);
	/* no vector to be refused, or one the VF took for this queue before */
	if (cfg->vector != VIRTIO_MSI_NO_VECTOR &&
	    !((hw->vector_known & bit) && hw->vector_taken[qid] == cfg->vector)) {
		if ((r = ifcvf_common_read16(hw, VIRTIO_COMMON_Q_MSIX, &vector, e)) < 0)
			return cerr_prefix(e, "cannot program queue %u", qid);
		if (vector == VIRTIO_MSI_NO_VECTOR)
			return cerr_set(e, ENOSPC, "queue %u: the VF refused MSI-X vector %u", qid,
					cfg->vector);
		hw->vector_taken[qid] = cfg->vector;
		hw->vector_known |= bit;
	}
	if (hw->notify_programmed & bit)
		return 0;
	if ((r = ifcvf_common_read16(hw, VIRTIO_COMMON_Q_NOFF, &notify_off, e)) < 0)
		return cerr_prefix(e, "cannot program queue %u", qid);
	hw->notify_off[qid] = hw->caps.notify.offset +
			      (uint64_t)notify_off * hw->caps.notify_off_multiplier;
	if (hw->notify_off[qid] + 2 > (uint64_t)hw->caps.notify.offset + hw->caps.notify.length)
		return cerr_set(e, EINVAL, "queue %u: doorbell offset 0x%llx is outside the notify area",
				qid, (unsigned long long)hw->notify_off[qid]);
	hw->notify_programmed |= bit;
	return 0;
}

int ifcvf_hw_queue_enable(struct ifcvf_hw *hw, unsigned qid, struct cerr *e)
{
	bool program = hw->program_unchecked & (1ull << (qid % IFCVF_MAX_VRINGS));
	struct vfio_dev_read reads[2 + PROGRAM_READS];
	uint32_t prog[PROGRAM_READS];
	uint16_t sel, v;
	unsigned n = 0;
	int r = check_qid(hw, qid, e);

	if (r == 0)
		r = ifcvf_select_queue_post(hw, qid, e);
	if (r == 0)
		r = ifcvf_common_write16(hw, VIRTIO_COMMON_Q_ENABLE, 1, e);
	/* the writes are posted: read queue_enable back, so that the queue
	 * runs when this returns (a write the VF lost leaves it off, unseen
	 * otherwise), and in the same exchange queue_select and what
	 * ifcvf_hw_queue_program() wrote (one round trip over vfio-user) */
	if (r == 0)
		r = ifcvf_common_read_entry(hw, VIRTIO_COMMON_Q_SELECT, &sel, 2, &reads[n++], e);
	if (r == 0)
		r = ifcvf_common_read_entry(hw, VIRTIO_COMMON_Q_ENABLE, &v, 2, &reads[n++], e);
	if (r == 0 && program)
		r = add_program_reads(hw, reads, &n, prog, e);
	if (r == 0)
		r = vfio_dev_read_batch(hw->dev, reads, n, e);
	if (r == 0)
		r = ifcvf_check_selected(hw, qid, sel, e);
	if (r == 0 && program) {
		r = check_program_reads(qid, &hw->program_cfg[qid], prog, e);
		hw->program_unchecked &= ~(1ull << qid);
	}
	if (r == 0 && le16toh(v) != 1)
		r = cerr_set(e, EIO, "the VF did not take queue_enable 1 (reads %u)", le16toh(v));
	return r < 0 ? cerr_prefix(e, "cannot enable queue %u", qid) : 0;
}

/* Select queue @qid and read its 16-bit common-config register @reg. */
static int queue_read16(struct ifcvf_hw *hw, unsigned qid, unsigned reg, uint16_t *ret,
			struct cerr *e)
{
	int r = check_qid(hw, qid, e);

	return r < 0 ? r : ifcvf_queue_read16(hw, qid, reg, ret, e);
}

int ifcvf_hw_queue_max_size(struct ifcvf_hw *hw, unsigned qid, uint16_t *ret, struct cerr *e)
{
	if (queue_read16(hw, qid, VIRTIO_COMMON_Q_SIZE, ret, e) < 0)
		return cerr_prefix(e, "cannot read the size of queue %u", qid);
	return 0;
}

int ifcvf_hw_queue_enabled(struct ifcvf_hw *hw, unsigned qid, bool *ret, struct cerr *e)
{
	uint16_t v;

	if (queue_read16(hw, qid, VIRTIO_COMMON_Q_ENABLE, &v, e) < 0)
		return cerr_prefix(e, "cannot read queue %u state", qid);
	*ret = v != 0;
	return 0;
}

/* queue_enable of the selected queue @qid and, after it, its ring state */
static int read_stopped(struct ifcvf_hw *hw, unsigned qid, bool *enabled,
			uint16_t *last_avail_idx, uint16_t *last_used_idx, struct cerr *e)
{
	uint32_t off = ifcvf_ring_state_offset(hw->type, qid), word;
	uint16_t en, sel;
	struct vfio_dev_read reads[3] = {
		{ hw->caps.common.bar, (uint64_t)hw->caps.common.offset + VIRTIO_COMMON_Q_SELECT,
		  &sel, sizeof(sel) },
		{ hw->caps.common.bar, (uint64_t)hw->caps.common.offset + VIRTIO_COMMON_Q_ENABLE,
		  &en, sizeof(en) },
		{ IFCVF_LM_BAR, off, &word, sizeof(word) },
	};
	int r;

	if ((uint64_t)VIRTIO_COMMON_Q_ENABLE + 2 > hw->caps.common.length ||
	    (uint64_t)VIRTIO_COMMON_Q_SELECT + 2 > hw->caps.common.length ||
	    (uint64_t)off + 4 > hw->bar_size[IFCVF_LM_BAR])
		return cerr_set(e, EINVAL, "queue %u: its enable or ring-state register is outside its block",
				qid);
	/* queue_select too: the queue_enable 0 before was @qid's */
	r = vfio_dev_read_batch(hw->dev, reads, 3, e);
	if (r == 0)
		r = ifcvf_check_selected(hw, qid, sel, e);
	if (r < 0)
		return cerr_prefix(e, "cannot read queue %u state", qid);
	*enabled = le16toh(en) != 0;
	ifcvf_ring_state_decode(hw->type, le32toh(word), last_avail_idx, last_used_idx);
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ifcvf_hw_queue_disable(struct ifcvf_hw *hw, unsigned qid, int timeout_ms,
			   uint16_t *last_avail_idx, uint16_t *last_used_idx, struct cerr *e)
{
	long long deadline = now_ms() + timeout_ms;
	long nap_ns = 10000;
	bool enabled = true;
	int r = check_qid(hw, qid, e);

	/* writing 0 to queue_enable is an IFCVF extension; a virtio 1.x
	 * device may not take it (QEMU's marks itself broken) */
	if (r == 0 && !hw->is_ifcvf)
		return cerr_set(e, ENOTSUP,
				"queue %u cannot be stopped on its own: a virtio function that is not an IFCVF has no per-queue stop",
				qid);
	/* queue_select is read back with the first look at the stop below */
	if (r == 0)
		r = ifcvf_select_queue_post(hw, qid, e);
	if (r == 0)
		r = ifcvf_common_write16(hw, VIRTIO_COMMON_Q_ENABLE, 0, e);
	if (r < 0)
		return cerr_prefix(e, "cannot disable queue %u", qid);
	/* the VF stops taking new buffers first and updates the ring state
	 * (and, without the BAR4 block, the used index in memory, which is
	 * then all there is) afterwards, so wait for the queue to read
	 * disabled. With the block, queue_enable and the ring state are
	 * read in one exchange: read after it, the state is the stopped
	 * queue's once queue_enable reads 0 (one round trip over vfio-user
	 * instead of two) */
	for (;;) {
		if (hw->lm_block) {
			r = read_stopped(hw, qid, &enabled, last_avail_idx, last_used_idx, e);
			if (r < 0)
				return r;
			if (!enabled)
				return 0;
		} else {
			r = ifcvf_hw_queue_enabled(hw, qid, &enabled, e);
			if (r < 0)
				return r;
			if (!enabled)
				break;
		}
		if (now_ms() >= deadline)
			return cerr_set(e, ETIMEDOUT, "queue %u did not stop within %d ms", qid, timeout_ms);
		/* a VF stops in microseconds: sleep 10 us, then longer, up to 1 ms */
		ifcvf_hw_nap(hw, &(struct timespec){ .tv_nsec = nap_ns });
		nap_ns = nap_ns * 4 > 1000000 ? 1000000 : nap_ns * 4;
	}
	if (!hw->lm_block)
		return 0;
	return ifcvf_hw_read_ring_state(hw, qid, last_avail_idx, last_used_idx, e);
}

int ifcvf_hw_enable_logging(struct ifcvf_hw *hw, uint64_t log_iova, uint64_t log_size,
			    struct cerr *e)
{
	uint64_t end = log_iova + log_size;
	int r;

	if (log_size == 0 || end < log_iova)
		return cerr_set(e, EINVAL, "dirty log range 0x%llx+0x%llx is empty or wraps",
				(unsigned long long)log_iova, (unsigned long long)log_size);
	if ((r = ifcvf_lm_write32(hw, IFCVF_LM_BASE_ADDR_LOW, (uint32_t)log_iova, e)) < 0 ||
	    (r = ifcvf_lm_write32(hw, IFCVF_LM_BASE_ADDR_HIGH, (uint32_t)(log_iova >> 32), e)) < 0 ||
	    (r = ifcvf_lm_write32(hw, IFCVF_LM_END_ADDR_LOW, (uint32_t)end, e)) < 0 ||
	    (r = ifcvf_lm_write32(hw, IFCVF_LM_END_ADDR_HIGH, (uint32_t)(end >> 32), e)) < 0 ||
	    (r = ifcvf_lm_write32(hw, IFCVF_LM_LOGGING_CTRL, IFCVF_LM_ENABLE_VF, e)) < 0)
		return cerr_prefix(e, "cannot enable dirty logging");
	/* the writes are posted: read them back, so that the VF logs before
	 * the frontend is told it does, and into this log (one the VF lost
	 * would have it write unlogged, or log elsewhere); in one exchange,
	 * one round trip over vfio-user */
	{
		static const uint32_t regs[] = { IFCVF_LM_BASE_ADDR_LOW, IFCVF_LM_BASE_ADDR_HIGH,
						 IFCVF_LM_END_ADDR_LOW, IFCVF_LM_END_ADDR_HIGH,
						 IFCVF_LM_LOGGING_CTRL };
		const uint32_t want[] = { (uint32_t)log_iova, (uint32_t)(log_iova >> 32),
					  (uint32_t)end, (uint32_t)(end >> 32), IFCVF_LM_ENABLE_VF };
		enum { N = sizeof(regs) / sizeof(regs[0]) };
		struct vfio_dev_read reads[N];
		uint32_t got[N];

		for (unsigned i = 0; i < N; i++)
			reads[i] = (struct vfio_dev_read){ IFCVF_LM_BAR, regs[i], &got[i],
							   sizeof(got[i]) };
		if ((r = vfio_dev_read_batch(hw->dev, reads, N, e)) < 0) {
			cerr_prefix(e, "cannot enable dirty logging");
			goto off;
		}
		for (unsigned i = 0; i < N; i++) {
			uint32_t v = le32toh(got[i]);

			if (v != want[i]) {
				r = cerr_set(e, EIO, "cannot enable dirty logging: the VF did not "
					     "take 0x%x at register 0x%x (reads 0x%x)", want[i],
					     regs[i], v);
				goto off;
			}
		}
	}
	return 0;
off:
	/* not half on: a VF logging into a range it half took faults */
	{
		struct cerr ce = { 0 };

		(void)ifcvf_lm_write32(hw, IFCVF_LM_LOGGING_CTRL, IFCVF_LM_DISABLE, &ce);
	}
	return r;
}

int ifcvf_hw_disable_logging(struct ifcvf_hw *hw, struct cerr *e)
{
	int r = ifcvf_lm_write32(hw, IFCVF_LM_LOGGING_CTRL, IFCVF_LM_DISABLE, e);

	return r < 0 ? cerr_prefix(e, "cannot disable dirty logging") : 0;
}

int ifcvf_hw_notify_queue(struct ifcvf_hw *hw, unsigned qid, struct cerr *e)
{
	uint16_t value = (uint16_t)qid;

	if (qid >= IFCVF_MAX_VRINGS || !(hw->notify_programmed & (1ull << qid)))
		return cerr_set(e, EINVAL, "queue %u has no doorbell (not programmed)", qid);
	/* the avail entries and index the caller published reach the VF first */
	io_write_barrier();
	return vfio_dev_write_posted(hw->dev, hw->caps.notify.bar, hw->notify_off[qid], &value,
				     sizeof(value), e);
}

int ifcvf_hw_notify_area(struct ifcvf_hw *hw, unsigned qid, int *ret_fd,
			 uint64_t *ret_fd_offset, uint64_t *ret_size, struct cerr *e)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint32_t mult = hw->caps.notify_off_multiplier;
	uint64_t area_end = (uint64_t)hw->caps.notify.offset + hw->caps.notify.length;
	uint64_t off;
	int r;

	*ret_fd = -1;
	*ret_fd_offset = 0;
	*ret_size = 0;
	if (qid >= IFCVF_MAX_VRINGS || !(hw->notify_programmed & (1ull << qid)))
		return cerr_set(e, EINVAL, "vring %u has no doorbell (not programmed)", qid);
	off = hw->notify_off[qid];
	/* a multiplier of 0 puts every doorbell at one address; one below the
	 * page size (or not a multiple of it) puts two queues in one page */
	if (mult < page || mult % page)
		return cerr_set(e, ENOTSUP,
				"vring %u: the VF's notify_off_multiplier %u does not put each queue's doorbell on its own %llu-byte page",
				qid, mult, (unsigned long long)page);
	if (off % page)
		return cerr_set(e, ENOTSUP,
				"vring %u: its doorbell at 0x%llx of BAR %u is not page-aligned (notify area at 0x%x)",
				qid, (unsigned long long)off, hw->caps.notify.bar,
				hw->caps.notify.offset);
	if (off + page > area_end)
		return cerr_set(e, ENOTSUP,
				"vring %u: its doorbell page 0x%llx+0x%llx reaches past the notify area (ends at 0x%llx of BAR %u)",
				qid, (unsigned long long)off, (unsigned long long)page,
				(unsigned long long)area_end, hw->caps.notify.bar);
	r = vfio_dev_region_mmap_fd(hw->dev, hw->caps.notify.bar, off, page, ret_fd,
				    ret_fd_offset, e);
	if (r < 0)
		return cerr_prefix(e, "vring %u: no host notifier", qid);
	*ret_size = page;
	return 0;
}

#include "ifcvf-io.h"

#include <endian.h>
#include <errno.h>
#include <time.h>

#include "io-barrier.h"

/* Each block is bounds-checked against its capability length so a bad
 * offset is a clear error rather than an access elsewhere in the BAR. */
static int check(const struct ifcvf_cap_loc *loc, const char *what, uint32_t off,
		 unsigned width, struct cerr *e)
{
	if ((uint64_t)off + width > loc->length)
		return cerr_set(e, EINVAL, "%s register 0x%x is outside the %u-byte block",
				what, off, loc->length);
	return 0;
}

/* registers are little-endian, as is every host this runs on (x86-64) */
static int block_rw(struct ifcvf_hw *hw, const struct ifcvf_cap_loc *loc, const char *what,
		    uint32_t off, void *buf, unsigned width, bool write, struct cerr *e)
{
	int r = check(loc, what, off, width, e);

	if (r < 0)
		return r;
	if (write) {
		/* rings and memory set up before it (a queue enable, a status
		 * write) reach the VF before the register does */
		io_write_barrier();
		/* posted, as a PCI memory write is: over vfio-user a register
		 * write then costs no round trip (a queue's programming was a
		 * dozen of them). Every later access to the device is ordered
		 * after it, and each verb that must know the VF took its writes
		 * reads a register back (the vector, queue_enable, the status) */
		return vfio_dev_write_posted(hw->dev, loc->bar, loc->offset + off, buf, width, e);
	}
	return vfio_dev_read(hw->dev, loc->bar, loc->offset + off, buf, width, e);
}

#define COMMON_RW(hw, off, p, w, wr) block_rw(hw, &(hw)->caps.common, "common", off, p, w, wr, e)
#define DEVCFG_RD(hw, off, p, w) block_rw(hw, &(hw)->caps.device, "device config", off, p, w, false, e)

int ifcvf_common_read8(struct ifcvf_hw *hw, uint32_t off, uint8_t *v, struct cerr *e) { return COMMON_RW(hw, off, v, 1, false); }
int ifcvf_common_read16(struct ifcvf_hw *hw, uint32_t off, uint16_t *v, struct cerr *e) { return COMMON_RW(hw, off, v, 2, false); }
int ifcvf_common_read32(struct ifcvf_hw *hw, uint32_t off, uint32_t *v, struct cerr *e) { return COMMON_RW(hw, off, v, 4, false); }
int ifcvf_common_write8(struct ifcvf_hw *hw, uint32_t off, uint8_t v, struct cerr *e) { return COMMON_RW(hw, off, &v, 1, true); }
int ifcvf_common_write16(struct ifcvf_hw *hw, uint32_t off, uint16_t v, struct cerr *e) { return COMMON_RW(hw, off, &v, 2, true); }
int ifcvf_common_write32(struct ifcvf_hw *hw, uint32_t off, uint32_t v, struct cerr *e) { return COMMON_RW(hw, off, &v, 4, true); }

int ifcvf_common_write64(struct ifcvf_hw *hw, uint32_t off, uint64_t v, struct cerr *e)
{
	int r = ifcvf_common_write32(hw, off, (uint32_t)v, e);

	return r ? r : ifcvf_common_write32(hw, off + 4, (uint32_t)(v >> 32), e);
}

int ifcvf_select_queue_post(struct ifcvf_hw *hw, unsigned qid, struct cerr *e)
{
	/* read back as @qid since: a write of it again, lost or not, changes
	 * nothing */
	if (hw->selected_known && hw->selected == qid)
		return 0;
	hw->selected_known = false;
	return ifcvf_common_write16(hw, VIRTIO_COMMON_Q_SELECT, (uint16_t)qid, e);
}

int ifcvf_common_read_entry(struct ifcvf_hw *hw, uint32_t off, void *buf, unsigned width,
			    struct vfio_dev_read *ret, struct cerr *e)
{
	int r = check(&hw->caps.common, "common", off, width, e);

	if (r < 0)
		return r;
	*ret = (struct vfio_dev_read){ hw->caps.common.bar, (uint64_t)hw->caps.common.offset + off,
				       buf, width };
	return 0;
}

int ifcvf_check_selected(struct ifcvf_hw *hw, unsigned qid, uint16_t sel_le, struct cerr *e)
{
	uint16_t sel = le16toh(sel_le);

	if (sel != qid) {
		hw->selected_known = false;
		return cerr_set(e, EIO, "the VF did not take queue_select %u (reads %u)", qid, sel);
	}
	hw->selected = (uint16_t)qid;
	hw->selected_known = true;
	return 0;
}

int ifcvf_select_queue(struct ifcvf_hw *hw, unsigned qid, struct cerr *e)
{
	uint16_t sel;
	int r;

	if (hw->selected_known && hw->selected == qid)
		return 0;
	if ((r = ifcvf_select_queue_post(hw, qid, e)) < 0 ||
	    (r = ifcvf_common_read16(hw, VIRTIO_COMMON_Q_SELECT, &sel, e)) < 0)
		return r;
	return ifcvf_check_selected(hw, qid, htole16(sel), e);
}

int ifcvf_queue_read16(struct ifcvf_hw *hw, unsigned qid, uint32_t off, uint16_t *v,
		       struct cerr *e)
{
	struct vfio_dev_read reads[2];
	uint16_t sel, raw;
	int r;

	if ((r = ifcvf_select_queue_post(hw, qid, e)) < 0 ||
	    (r = ifcvf_common_read_entry(hw, VIRTIO_COMMON_Q_SELECT, &sel, 2, &reads[0], e)) < 0 ||
	    (r = ifcvf_common_read_entry(hw, off, &raw, 2, &reads[1], e)) < 0 ||
	    (r = vfio_dev_read_batch(hw->dev, reads, 2, e)) < 0 ||
	    (r = ifcvf_check_selected(hw, qid, sel, e)) < 0)
		return r;
	*v = le16toh(raw);
	return 0;
}

int ifcvf_devcfg_read8(struct ifcvf_hw *hw, uint32_t off, uint8_t *v, struct cerr *e) { return DEVCFG_RD(hw, off, v, 1); }
int ifcvf_devcfg_read16(struct ifcvf_hw *hw, uint32_t off, uint16_t *v, struct cerr *e) { return DEVCFG_RD(hw, off, v, 2); }
int ifcvf_devcfg_read32(struct ifcvf_hw *hw, uint32_t off, uint32_t *v, struct cerr *e) { return DEVCFG_RD(hw, off, v, 4); }

static int lm_check(struct ifcvf_hw *hw, uint32_t off, struct cerr *e)
{
	if (!hw->lm_block)
		return cerr_set(e, ENODEV, "the VF has no live-migration block in BAR4");
	if ((uint64_t)off + 4 > hw->bar_size[IFCVF_LM_BAR])
		return cerr_set(e, EINVAL, "live-migration register 0x%x is outside BAR4", off);
	return 0;
}

int ifcvf_lm_read32(struct ifcvf_hw *hw, uint32_t off, uint32_t *v, struct cerr *e)
{
	int r = lm_check(hw, off, e);

	return r ? r : vfio_dev_read32(hw->dev, IFCVF_LM_BAR, off, v, e);
}

int ifcvf_lm_write32(struct ifcvf_hw *hw, uint32_t off, uint32_t v, struct cerr *e)
{
	int r = lm_check(hw, off, e);

	if (r < 0)
		return r;
	/* a dirty log cleared before logging is switched on */
	io_write_barrier();
	/* posted, as block_rw()'s writes are */
	v = htole32(v);
	return vfio_dev_write_posted(hw->dev, IFCVF_LM_BAR, off, &v, sizeof(v), e);
}

void ifcvf_hw_nap(struct ifcvf_hw *hw, const struct timespec *ts)
{
	struct timespec left = *ts, t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (nanosleep(&left, &left) < 0 && errno == EINTR)
		;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	hw->waits++;
	hw->wait_ns += (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000ll + (t1.tv_nsec - t0.tv_nsec));
}

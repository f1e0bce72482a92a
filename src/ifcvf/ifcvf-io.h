/* Register accessors of the IFCVF driver: the one seam through which every
 * register of the common, device and BAR4 blocks is read or written. Private
 * to src/ifcvf. */
#pragma once

#include "ifcvf-hw.h"

int ifcvf_common_read8(struct ifcvf_hw *hw, uint32_t off, uint8_t *v, struct cerr *e);
int ifcvf_common_read16(struct ifcvf_hw *hw, uint32_t off, uint16_t *v, struct cerr *e);
int ifcvf_common_read32(struct ifcvf_hw *hw, uint32_t off, uint32_t *v, struct cerr *e);
int ifcvf_common_write8(struct ifcvf_hw *hw, uint32_t off, uint8_t v, struct cerr *e);
int ifcvf_common_write16(struct ifcvf_hw *hw, uint32_t off, uint16_t v, struct cerr *e);
int ifcvf_common_write32(struct ifcvf_hw *hw, uint32_t off, uint32_t v, struct cerr *e);
/* a 64-bit register as two 32-bit writes, low word first */
int ifcvf_common_write64(struct ifcvf_hw *hw, uint32_t off, uint64_t v, struct cerr *e);

/* queue_select = @qid, read back: the queue registers after it are @qid's
 * (a posted write the VF lost would program another queue). Nothing to do
 * when @qid was read back as selected since the last reset. */
int ifcvf_select_queue(struct ifcvf_hw *hw, unsigned qid, struct cerr *e);
/* queue_select = @qid, posted, not read back: the caller reads queue_select
 * in the batch that follows (ifcvf_check_selected()), one exchange for both;
 * nothing written when @qid is known to be selected */
int ifcvf_select_queue_post(struct ifcvf_hw *hw, unsigned qid, struct cerr *e);
/* -EIO unless queue_select read @sel_le (little-endian, as read) is @qid;
 * records what is selected */
int ifcvf_check_selected(struct ifcvf_hw *hw, unsigned qid, uint16_t sel_le, struct cerr *e);
/* a vfio_dev_read_batch() entry for common-config register @off (bounds
 * checked against the block) */
int ifcvf_common_read_entry(struct ifcvf_hw *hw, uint32_t off, void *buf, unsigned width,
			    struct vfio_dev_read *ret, struct cerr *e);
/* select queue @qid and read its register @off: queue_select and @off in
 * one exchange */
int ifcvf_queue_read16(struct ifcvf_hw *hw, unsigned qid, uint32_t off, uint16_t *v,
		       struct cerr *e);

int ifcvf_devcfg_read8(struct ifcvf_hw *hw, uint32_t off, uint8_t *v, struct cerr *e);
int ifcvf_devcfg_read16(struct ifcvf_hw *hw, uint32_t off, uint16_t *v, struct cerr *e);
int ifcvf_devcfg_read32(struct ifcvf_hw *hw, uint32_t off, uint32_t *v, struct cerr *e);

int ifcvf_lm_read32(struct ifcvf_hw *hw, uint32_t off, uint32_t *v, struct cerr *e);
int ifcvf_lm_write32(struct ifcvf_hw *hw, uint32_t off, uint32_t v, struct cerr *e);

/* Sleep @ts (again after a signal) while waiting for the VF, counted in
 * hw->waits and hw->wait_ns. */
struct timespec;
void ifcvf_hw_nap(struct ifcvf_hw *hw, const struct timespec *ts);

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
 * (a posted write the VF lost would program another queue) */
int ifcvf_select_queue(struct ifcvf_hw *hw, unsigned qid, struct cerr *e);

int ifcvf_devcfg_read8(struct ifcvf_hw *hw, uint32_t off, uint8_t *v, struct cerr *e);
int ifcvf_devcfg_read16(struct ifcvf_hw *hw, uint32_t off, uint16_t *v, struct cerr *e);
int ifcvf_devcfg_read32(struct ifcvf_hw *hw, uint32_t off, uint32_t *v, struct cerr *e);

int ifcvf_lm_read32(struct ifcvf_hw *hw, uint32_t off, uint32_t *v, struct cerr *e);
int ifcvf_lm_write32(struct ifcvf_hw *hw, uint32_t off, uint32_t v, struct cerr *e);

/* Sleep @ts (again after a signal) while waiting for the VF, counted in
 * hw->waits and hw->wait_ns. */
struct timespec;
void ifcvf_hw_nap(struct ifcvf_hw *hw, const struct timespec *ts);

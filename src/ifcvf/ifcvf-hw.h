/* The IFCVF register-level driver (reference §2–§5): identify a VF through
 * its VFIO device, find its registers, and offer the verbs the datapath and
 * live migration are made of: status, features, queue programming, ring
 * state, the MQ register, dirty logging and doorbells. Every register access,
 * BAR4 included, goes through the accessors in ifcvf-hw.c.
 *
 * Errors: 0 or -errno, with a cause in the struct cerr.
 * Threads: one thread programs the VF at a time (the helper's port owner);
 * ifcvf_hw_notify_queue() may be called concurrently from a relay thread, as
 * it only writes a doorbell. ifcvf_hw_notify_area() reads what
 * ifcvf_hw_queue_program() recorded, so it belongs to the programming
 * thread; the fd it returns stays the device's (valid until
 * vfio_dev_close()), whoever maps it. No allocation, no threads, no main loop here. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cerr.h"
#include "ifcvf-caps.h"
#include "ifcvf-devargs.h"
#include "ifcvf-ids.h"
#include "ifcvf-regs.h"
#include "vfio-dev.h"

struct ifcvf_blk_info {
	uint64_t capacity;     /* 512-byte sectors */
	uint32_t size_max;
	uint32_t seg_max;
	uint16_t cylinders;
	uint8_t heads;
	uint8_t sectors;
	uint32_t blk_size;
	uint16_t num_queues;
};

struct ifcvf_vring_cfg {
	uint64_t desc;
	uint64_t avail;
	uint64_t used;
	uint16_t size;
	uint16_t last_avail_idx;
	uint16_t last_used_idx;
	uint16_t vector;   /* MSI-X vector, normally qid + 1 */
};

struct ifcvf_hw {
	struct vfio_dev *dev;        /* not owned */
	struct ifcvf_pci_ids ids;
	enum ifcvf_dev_type type;
	bool is_ifcvf;
	struct ifcvf_caps caps;
	uint64_t bar_size[6];
	uint64_t features;           /* as the device offers them */
	uint16_t num_queues;         /* common_cfg.num_queues */
	uint16_t max_queues;         /* net: queue pairs, blk: queues; <= 32 */
	uint16_t max_vq_pairs;       /* plain net offering MQ: max_virtqueue_pairs, else 0 */
	uint32_t msix_vectors;
	bool lm_block;               /* BAR4 live-migration block present */
	bool sw_live_migration;      /* chosen mode: software relay */
	uint8_t mac[6];              /* net, when VIRTIO_NET_F_MAC */
	struct ifcvf_blk_info blk;   /* blk */
	uint64_t notify_off[IFCVF_MAX_VRINGS]; /* doorbell offset in the notify BAR */
	uint64_t notify_programmed;  /* bit per vring whose doorbell is known
				      * (queue_notify_off is read-only) */
	uint16_t vector_taken[IFCVF_MAX_VRINGS]; /* the MSI-X vector the VF last
				      * took for the vring (its table does not
				      * change): programming it again needs
				      * no read-back */
	uint64_t vector_known;       /* bit per vring with vector_taken set */
	uint16_t selected;           /* queue_select as last read back... */
	bool selected_known;         /* ...unless written since, or a reset */
	uint64_t program_unchecked;  /* bit per vring programmed but not read
				      * back yet: ifcvf_hw_queue_enable() does,
				      * in its one exchange */
	struct ifcvf_vring_cfg program_cfg[IFCVF_MAX_VRINGS]; /* what it was
				      * programmed with */
	/* naps taken waiting for the VF (a queue stop, a reset), and how long
	 * they lasted: for a caller's timing breakdown (the programming
	 * thread's, like the rest) */
	uint64_t waits;
	uint64_t wait_ns;
};

/* Identify the VF behind @dev and read its static facts; refuses a VF
 * without the BAR4 block unless @args selects software live migration. */
int ifcvf_hw_init(struct ifcvf_hw *hw, struct vfio_dev *dev,
		  const struct ifcvf_devargs *args, struct cerr *e);

/* number of vrings the datapath may use: 2 per pair (net), 1 per queue (blk) */
unsigned ifcvf_hw_max_vrings(const struct ifcvf_hw *hw);

/* device status */
int ifcvf_hw_get_status(struct ifcvf_hw *hw, uint8_t *ret, struct cerr *e);
int ifcvf_hw_add_status(struct ifcvf_hw *hw, uint8_t bits, struct cerr *e);
/* write 0 and wait (bounded by @timeout_ms) until the status reads 0 */
int ifcvf_hw_reset(struct ifcvf_hw *hw, int timeout_ms, struct cerr *e);

/* features */
int ifcvf_hw_read_features(struct ifcvf_hw *hw, uint64_t *ret, struct cerr *e);
/* write driver features, add FEATURES_OK and check the device kept it */
int ifcvf_hw_set_features(struct ifcvf_hw *hw, uint64_t features, struct cerr *e);

/* Read @len bytes of the device configuration at @off, one byte load at a
 * time as the reference driver does for blk GET_CONFIG (§2.3). */
int ifcvf_hw_read_device_config(struct ifcvf_hw *hw, uint32_t off, void *buf, uint32_t len,
				struct cerr *e);

/* config-change vector (0xFFFF = none) */
int ifcvf_hw_set_config_vector(struct ifcvf_hw *hw, uint16_t vector, struct cerr *e);

/* Program queue @qid (addresses, size, ring state when the BAR4 block is
 * there, vector) without enabling it. Works after DRIVER_OK too. The
 * writes are posted; the vector and the doorbell offset are read back the
 * first time only (a vector the VF took once for the queue it takes
 * again), so a queue programmed again costs no round trip over vfio-user:
 * ifcvf_hw_queue_enable() reads back, and so orders, all of it (queue_select,
 * size, the ring addresses and queue_enable in one exchange; a write the VF
 * lost fails the enable with -EIO). */
int ifcvf_hw_queue_program(struct ifcvf_hw *hw, unsigned qid,
			   const struct ifcvf_vring_cfg *cfg, struct cerr *e);
int ifcvf_hw_queue_enable(struct ifcvf_hw *hw, unsigned qid, struct cerr *e);
/* Largest ring size queue @qid accepts: queue_size as the VF reports it after
 * a reset, before the driver writes it. */
int ifcvf_hw_queue_max_size(struct ifcvf_hw *hw, unsigned qid, uint16_t *ret, struct cerr *e);
/* Disable queue @qid, wait up to @timeout_ms for queue_enable to read 0
 * (quiesced: what the VF used is published), then read the ring state (net:
 * both indices from the used half, §3.2). Without the BAR4 block the indices
 * are left untouched. -ENOTSUP, without touching the device, for a function
 * that is not an IFCVF (generic-virtio): virtio 1.x has no per-queue stop. */
int ifcvf_hw_queue_disable(struct ifcvf_hw *hw, unsigned qid, int timeout_ms,
			   uint16_t *last_avail_idx, uint16_t *last_used_idx, struct cerr *e);
int ifcvf_hw_queue_enabled(struct ifcvf_hw *hw, unsigned qid, bool *ret, struct cerr *e);

/* ring state word of queue @qid in BAR4 */
uint32_t ifcvf_ring_state_offset(enum ifcvf_dev_type type, unsigned qid);
uint32_t ifcvf_ring_state_encode(uint16_t last_avail_idx, uint16_t last_used_idx);
void ifcvf_ring_state_decode(enum ifcvf_dev_type type, uint32_t word,
			     uint16_t *last_avail_idx, uint16_t *last_used_idx);
int ifcvf_hw_read_ring_state(struct ifcvf_hw *hw, unsigned qid, uint16_t *last_avail_idx,
			     uint16_t *last_used_idx, struct cerr *e);
int ifcvf_hw_write_ring_state(struct ifcvf_hw *hw, unsigned qid, uint16_t last_avail_idx,
			      uint16_t last_used_idx, struct cerr *e);

/* MQ register: queue pairs (net) or queues (blk) from @nr_enabled_vrings */
int ifcvf_hw_set_mq(struct ifcvf_hw *hw, unsigned nr_enabled_vrings, struct cerr *e);

/* dirty logging into the bitmap at IOVA [log_iova, log_iova + log_size) */
int ifcvf_hw_enable_logging(struct ifcvf_hw *hw, uint64_t log_iova, uint64_t log_size,
			    struct cerr *e);
int ifcvf_hw_disable_logging(struct ifcvf_hw *hw, struct cerr *e);

/* ring queue @qid's doorbell: a 16-bit write of its index, after an I/O
 * write barrier (io-barrier.h), so what the caller stored in the rings
 * reaches the VF first; every register write here has one too */
int ifcvf_hw_notify_queue(struct ifcvf_hw *hw, unsigned qid, struct cerr *e);

/* The doorbell page of vring @qid as something a frontend can map (a
 * host notifier): *@ret_fd (owned by the device, see vfio_dev_region_mmap_fd)
 * at *@ret_fd_offset, *@ret_size bytes (one page), the doorbell at the start
 * of it. Only after ifcvf_hw_queue_program() (-EINVAL before: the doorbell
 * is not known yet). -ENOTSUP with the reason in @e when the page is not the
 * queue's alone (notify_off_multiplier below the page size or not a multiple
 * of it, or a doorbell that is not page-aligned), when the page reaches
 * past the notify capability's area (it would expose other registers), or
 * when the device cannot hand the page out (vfio_dev_region_mmap_fd()). */
int ifcvf_hw_notify_area(struct ifcvf_hw *hw, unsigned qid, int *ret_fd,
			 uint64_t *ret_fd_offset, uint64_t *ret_size, struct cerr *e);

/* feature bit name for this device type, or NULL when unknown */
const char *ifcvf_feature_name(enum ifcvf_dev_type type, unsigned bit);

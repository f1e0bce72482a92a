/* The control queue of a plain virtio net function (not an IFCVF), driven
 * by the helper for one command: VIRTIO_NET_CTRL_MQ / VQ_PAIRS_SET, which
 * tells the function how many queue pairs run (an IFCVF takes that in its
 * BAR4 MQ register instead). The frontend's own control queue is QEMU's
 * and never reaches the VF; this one is the helper's.
 *
 * The ring (16 entries) and the command buffers live in one page of a
 * memfd (a vfio-user server maps DMA by fd), DMA-mapped at the private
 * IOVA IFCVF_CTRL_VRING while the function may use it: from
 * ifcvf_ctrlq_start() (after FEATURES_OK, before DRIVER_OK) to
 * ifcvf_ctrlq_stop() (after the function was reset). The queue has no
 * interrupt: a command waits for its used entry, bounded.
 *
 * Errors: 0 or -errno with a cause. No GLib.
 * Threads: whoever programs the VF (the port owner) and nobody else. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cerr.h"
#include "ifcvf-hw.h"

#define IFCVF_CTRLQ_TIMEOUT_MS 2000

struct ifcvf_ctrlq;

/* The page and its memfd; nothing mapped for the device yet. */
int ifcvf_ctrlq_new(struct ifcvf_ctrlq **ret, struct cerr *e);
/* ifcvf_ctrlq_stop() and free; accepts NULL. */
void ifcvf_ctrlq_free(struct ifcvf_ctrlq *cq, struct vfio_dev *dev);

/* The control queue of @hw (index 2 * max_virtqueue_pairs, as MQ was
 * negotiated): ring cleared, DMA-mapped, programmed and enabled. */
int ifcvf_ctrlq_start(struct ifcvf_ctrlq *cq, struct ifcvf_hw *hw, struct cerr *e);
/* The function no longer uses the ring (it was reset): unmap it. */
void ifcvf_ctrlq_stop(struct ifcvf_ctrlq *cq, struct vfio_dev *dev);
bool ifcvf_ctrlq_running(const struct ifcvf_ctrlq *cq);

/* VQ_PAIRS_SET @pairs after DRIVER_OK; waits up to @timeout_ms for the
 * device's answer, which must be VIRTIO_NET_OK. */
int ifcvf_ctrlq_set_pairs(struct ifcvf_ctrlq *cq, struct ifcvf_hw *hw, unsigned pairs,
			  int timeout_ms, struct cerr *e);

/* The helper's control queue of a plain virtio net function (see
 * ifcvf-ctrlq.h): one split ring in one page, one command at a time. */
#include "ifcvf-ctrlq.h"

#include <errno.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ifcvf-io.h"

#define CTRLQ_PAGE 4096u
#define CTRLQ_SIZE 16u
/* offsets in the page: the ring, then the command and its answer */
#define OFF_DESC 0x000u
#define OFF_AVAIL 0x100u
#define OFF_USED 0x200u
#define OFF_HDR 0x400u
#define OFF_DATA 0x410u
#define OFF_ACK 0x420u

struct ifcvf_ctrlq {
	int fd;
	uint8_t *page;
	bool mapped;              /* DMA-mapped at IFCVF_CTRL_VRING */
	bool running;             /* programmed and enabled in the function */
	unsigned qid;
	uint16_t size;
	uint16_t avail_idx;       /* next avail index to publish */
	uint64_t doorbell;        /* offset in the notify BAR */
};

int ifcvf_ctrlq_new(struct ifcvf_ctrlq **ret, struct cerr *e)
{
	struct ifcvf_ctrlq *cq = calloc(1, sizeof(*cq));

	if (!cq)
		return cerr_set(e, ENOMEM, "out of memory");
	cq->fd = memfd_create("ifcvf-ctrlq", MFD_CLOEXEC);
	if (cq->fd < 0 || ftruncate(cq->fd, CTRLQ_PAGE) < 0) {
		int err = errno;

		if (cq->fd >= 0)
			close(cq->fd);
		free(cq);
		return cerr_set(e, err, "cannot create the control queue's memory: %s", strerror(err));
	}
	cq->page = mmap(NULL, CTRLQ_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, cq->fd, 0);
	if (cq->page == MAP_FAILED) {
		int err = errno;

		close(cq->fd);
		free(cq);
		return cerr_set(e, err, "cannot map the control queue's memory: %s", strerror(err));
	}
	*ret = cq;
	return 0;
}

void ifcvf_ctrlq_stop(struct ifcvf_ctrlq *cq, struct vfio_dev *dev)
{
	struct cerr ce = { 0 };

	if (!cq)
		return;
	cq->running = false;
	if (cq->mapped) {
		(void)vfio_dev_dma_unmap(dev, IFCVF_CTRL_VRING, CTRLQ_PAGE, &ce);
		cq->mapped = false;
	}
}

void ifcvf_ctrlq_free(struct ifcvf_ctrlq *cq, struct vfio_dev *dev)
{
	if (!cq)
		return;
	ifcvf_ctrlq_stop(cq, dev);
	munmap(cq->page, CTRLQ_PAGE);
	close(cq->fd);
	free(cq);
}

bool ifcvf_ctrlq_running(const struct ifcvf_ctrlq *cq)
{
	return cq && cq->running;
}

int ifcvf_ctrlq_start(struct ifcvf_ctrlq *cq, struct ifcvf_hw *hw, struct cerr *e)
{
	unsigned qid = 2u * hw->max_vq_pairs;
	uint16_t numq, max, noff;
	int r;

	if (hw->max_vq_pairs == 0)
		return cerr_set(e, EINVAL, "the function offers no multiqueue: it has no control queue "
				"for VQ_PAIRS_SET");
	/* with MQ negotiated the function has 2N+1 queues, the last the
	 * control queue */
	if ((r = ifcvf_common_read16(hw, VIRTIO_COMMON_NUMQ, &numq, e)) < 0)
		return cerr_prefix(e, "cannot read num_queues");
	if (numq <= qid)
		return cerr_set(e, EINVAL, "num_queues is %u with %u queue pairs negotiated: no control "
				"queue at index %u", numq, hw->max_vq_pairs, qid);
	if ((r = ifcvf_select_queue(hw, qid, e)) < 0 ||
	    (r = ifcvf_common_read16(hw, VIRTIO_COMMON_Q_SIZE, &max, e)) < 0)
		return cerr_prefix(e, "cannot read the size of the control queue %u", qid);
	if (max == 0)
		return cerr_set(e, EINVAL, "the control queue %u has size 0", qid);
	cq->qid = qid;
	cq->size = max < CTRLQ_SIZE ? max : CTRLQ_SIZE;
	if (cq->size & (cq->size - 1))
		return cerr_set(e, EINVAL, "the control queue %u: its maximum size %u is not a power "
				"of two", qid, max);
	/* a fresh ring: the function was reset, its indices are 0 */
	memset(cq->page, 0, CTRLQ_PAGE);
	cq->avail_idx = 0;
	if (!cq->mapped) {
		r = vfio_dev_dma_map(hw->dev, IFCVF_CTRL_VRING, CTRLQ_PAGE, cq->page, cq->fd, 0, e);
		if (r < 0)
			return cerr_prefix(e, "cannot DMA-map the control queue");
		cq->mapped = true;
	}
	if ((r = ifcvf_common_write16(hw, VIRTIO_COMMON_Q_SIZE, cq->size, e)) < 0 ||
	    (r = ifcvf_common_write64(hw, VIRTIO_COMMON_Q_DESCLO, IFCVF_CTRL_VRING + OFF_DESC, e)) < 0 ||
	    (r = ifcvf_common_write64(hw, VIRTIO_COMMON_Q_AVAILLO, IFCVF_CTRL_VRING + OFF_AVAIL, e)) < 0 ||
	    (r = ifcvf_common_write64(hw, VIRTIO_COMMON_Q_USEDLO, IFCVF_CTRL_VRING + OFF_USED, e)) < 0 ||
	    (r = ifcvf_common_write16(hw, VIRTIO_COMMON_Q_MSIX, VIRTIO_MSI_NO_VECTOR, e)) < 0 ||
	    (r = ifcvf_common_read16(hw, VIRTIO_COMMON_Q_NOFF, &noff, e)) < 0)
		return cerr_prefix(e, "cannot program the control queue %u", qid);
	cq->doorbell = hw->caps.notify.offset + (uint64_t)noff * hw->caps.notify_off_multiplier;
	if (cq->doorbell + 2 > (uint64_t)hw->caps.notify.offset + hw->caps.notify.length)
		return cerr_set(e, EINVAL, "the control queue %u: doorbell offset 0x%llx is outside the "
				"notify area", qid, (unsigned long long)cq->doorbell);
	r = ifcvf_common_write16(hw, VIRTIO_COMMON_Q_ENABLE, 1, e);
	if (r < 0)
		return cerr_prefix(e, "cannot enable the control queue %u", qid);
	cq->running = true;
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ifcvf_ctrlq_set_pairs(struct ifcvf_ctrlq *cq, struct ifcvf_hw *hw, unsigned pairs,
			  int timeout_ms, struct cerr *e)
{
	struct vring_desc *desc = (struct vring_desc *)(cq->page + OFF_DESC);
	struct vring_avail *avail = (struct vring_avail *)(cq->page + OFF_AVAIL);
	struct vring_used *used = (struct vring_used *)(cq->page + OFF_USED);
	uint8_t *hdr = cq->page + OFF_HDR, *ack = cq->page + OFF_ACK;
	uint16_t value = (uint16_t)cq->qid, want;
	long long deadline;
	int r;

	if (!cq->running)
		return cerr_set(e, EINVAL, "the control queue is not running");
	if (pairs < 1 || pairs > hw->max_vq_pairs)
		return cerr_set(e, ERANGE, "VQ_PAIRS_SET %u: the function has 1 to %u queue pairs",
				pairs, hw->max_vq_pairs);
	/* one command at a time, always in descriptors 0..2: the header and
	 * the pair count for the device to read, the answer for it to write */
	hdr[0] = VIRTIO_NET_CTRL_MQ;
	hdr[1] = VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET;
	cq->page[OFF_DATA] = (uint8_t)pairs;
	cq->page[OFF_DATA + 1] = (uint8_t)(pairs >> 8);
	*ack = 0xff;
	desc[0] = (struct vring_desc){ .addr = IFCVF_CTRL_VRING + OFF_HDR, .len = 2,
				       .flags = VRING_DESC_F_NEXT, .next = 1 };
	desc[1] = (struct vring_desc){ .addr = IFCVF_CTRL_VRING + OFF_DATA, .len = 2,
				       .flags = VRING_DESC_F_NEXT, .next = 2 };
	desc[2] = (struct vring_desc){ .addr = IFCVF_CTRL_VRING + OFF_ACK, .len = 1,
				       .flags = VRING_DESC_F_WRITE };
	avail->ring[cq->avail_idx % cq->size] = 0;
	want = (uint16_t)(cq->avail_idx + 1);
	/* the entry before the index, the index before the doorbell */
	__atomic_store_n(&avail->idx, want, __ATOMIC_RELEASE);
	cq->avail_idx = want;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	r = vfio_dev_write_posted(hw->dev, hw->caps.notify.bar, cq->doorbell, &value, sizeof(value), e);
	if (r < 0)
		return cerr_prefix(e, "cannot ring the control queue's doorbell");
	deadline = now_ms() + timeout_ms;
	while (__atomic_load_n(&used->idx, __ATOMIC_ACQUIRE) != want) {
		if (now_ms() >= deadline)
			return cerr_set(e, ETIMEDOUT, "the function did not answer VQ_PAIRS_SET %u on its "
					"control queue within %d ms", pairs, timeout_ms);
		nanosleep(&(struct timespec){ .tv_nsec = 200000 }, NULL);
	}
	if (__atomic_load_n(ack, __ATOMIC_ACQUIRE) != VIRTIO_NET_OK)
		return cerr_set(e, EIO, "the function refused VQ_PAIRS_SET %u (answer %u)", pairs, *ack);
	return 0;
}

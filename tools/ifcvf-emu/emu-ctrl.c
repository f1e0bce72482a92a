/* The control queue of --virtio-function with MQ negotiated (queue 2N):
 * VIRTIO_NET_CTRL_MQ / VQ_PAIRS_SET sets how many pairs run, as QEMU's
 * virtio-net does; every other command is answered VIRTIO_NET_ERR.
 * Served at the doorbell, whole, on the datapath's thread. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "emu-net.h"
#include "ifcvf-regs.h"

#define CTRL_MAX_CMD 64u   /* bytes of header and data looked at */

/* the command's readable bytes, up to @max, into @buf; -1 on a bad chain */
static long ctrl_read(struct emu_net *n, struct emu_vring *r, uint16_t head, uint8_t *buf,
		      size_t max, struct emu_fault *f)
{
	struct emu_walk *w = &n->walk;
	size_t len = 0;
	int err;

	w->n = 0;
	w->bytes = 0;
	err = emu_vring_walk(r, n->dma, head, false, w, f);
	if (err < 0)
		return err;
	for (unsigned i = 0; i < w->n && len < max; i++) {
		size_t take = w->segs[i].len < max - len ? w->segs[i].len : max - len;

		memcpy(buf + len, w->segs[i].ptr, take);
		len += take;
	}
	return (long)len;
}

/* the answer into the first writable byte; -errno when there is none */
static int ctrl_answer(struct emu_net *n, struct emu_vring *r, uint16_t head, uint8_t ack,
		       struct emu_fault *f)
{
	struct emu_walk *w = &n->walk;
	int err;

	w->n = 0;
	w->bytes = 0;
	err = emu_vring_walk(r, n->dma, head, true, w, f);
	if (err < 0)
		return err;
	if (w->n == 0 || w->segs[0].len == 0) {
		f->iova = 0;
		f->len = 0;
		snprintf(f->what, sizeof(f->what), "a control command with no buffer for the answer");
		return -EINVAL;
	}
	*w->segs[0].ptr = ack;
	return 0;
}

static uint8_t ctrl_execute(struct emu_net *n, const uint8_t *cmd, long len)
{
	unsigned pairs;

	n->ctrl_commands++;
	if (len < 4 || cmd[0] != VIRTIO_NET_CTRL_MQ || cmd[1] != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET) {
		n->ctrl_refused++;
		return VIRTIO_NET_ERR;
	}
	pairs = (unsigned)(cmd[2] | cmd[3] << 8);
	if (pairs < 1 || pairs > n->npairs) {
		fprintf(stderr, "ifcvf-emu: control queue: VQ_PAIRS_SET %u refused (1..%u)\n", pairs,
			n->npairs);
		n->ctrl_refused++;
		return VIRTIO_NET_ERR;
	}
	emu_net_set_active_pairs(n, pairs);
	return VIRTIO_NET_OK;
}

void emu_ctrl_kick(struct emu_net *n)
{
	unsigned q = (unsigned)emu_net_ctrl_queue(n);
	struct emu_vring *r = &n->q[q].ring;
	uint8_t cmd[CTRL_MAX_CMD];
	struct emu_fault f;
	bool ready;
	int avail, err;

	if (!n->client || n->orphaned || !(n->v->status & VIRTIO_STATUS_DRIVER_OK) ||
	    !n->v->vq[q].enabled)
		return;
	/* the position is the queue's (last_avail/last_used), the rest is
	 * looked up again: a command is rare */
	emu_vring_init(r, &n->v->vq[q], false);
	err = emu_vring_ready(r, n->dma, &f);
	ready = err == 0;
	avail = err < 0 ? err : emu_vring_avail(r, &f);
	for (int i = 0; i < avail; i++) {
		uint16_t head = emu_vring_head(r, 0);
		long len = ctrl_read(n, r, head, cmd, sizeof(cmd), &f);
		uint8_t ack;

		if (len < 0) {
			avail = (int)len;
			break;
		}
		ack = ctrl_execute(n, cmd, len);
		err = ctrl_answer(n, r, head, ack, &f);
		if (err < 0) {
			avail = err;
			break;
		}
		/* the helper's own ring, outside guest memory: nothing to log */
		emu_vring_push(r, head, 1, NULL);
	}
	if (ready)
		emu_vring_publish(r, NULL);
	if (avail < 0) {
		n->device_errors++;
		fprintf(stderr, "ifcvf-emu: control queue %u: device error at iova 0x%llx: %s\n", q,
			(unsigned long long)f.iova, f.what);
	}
}

void emu_ctrl_reset(struct emu_net *n)
{
	unsigned q = 2 * n->npairs;

	if (n->v->virtio_function)
		emu_vring_init(&n->q[q].ring, &n->v->vq[q], false);
}

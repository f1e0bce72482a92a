/* Net datapath of the emulated VF (see emu-net.h). */
#include "emu-net.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "emu-wire.h"
#include "gen-frame.h"
#include "ifcvf-regs.h"

/* struct virtio_net_hdr_v1 of <linux/virtio_net.h>, which cannot be
 * included next to ifcvf-regs.h (both define the virtio IDs) */
struct net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
};

#define NET_HDR_LEN sizeof(struct net_hdr)

_Static_assert(sizeof(struct net_hdr) == 12, "virtio_net_hdr_v1 is 12 bytes");

enum rx_result {
	RX_DONE,
	RX_NOBUF,     /* not enough buffers posted: wait for a kick */
	RX_TOOBIG,    /* the frame cannot fit: drop it */
	RX_FAULT,     /* the queue stopped with a device error */
};

static bool is_rx(unsigned q)
{
	return q % 2 == 0;
}

static bool served(const struct emu_net *n, unsigned q)
{
	return q < 2 * n->npairs;
}

static bool running(const struct emu_net *n, unsigned q)
{
	return n->client && !n->orphaned && (n->v->status & VIRTIO_STATUS_DRIVER_OK) &&
	       n->v->vq[q].enabled && !n->q[q].broken && q / 2 < n->active_pairs;
}

static bool has_feature(const struct emu_net *n, unsigned bit)
{
	return n->v->driver_features & (1ull << bit);
}

int emu_net_ctrl_queue(const struct emu_net *n)
{
	if (!n->v->virtio_function || !has_feature(n, VIRTIO_NET_F_CTRL_VQ) ||
	    !has_feature(n, VIRTIO_NET_F_MQ))
		return -1;
	return (int)(2 * n->npairs);
}

int emu_net_init(struct emu_net *n, const struct emu_config *cfg, struct emu_virtio *v,
		 struct emu_dma *dma, struct emu_irq *irq, struct cerr *e)
{
	unsigned qmax = cfg->queue_size_max;

	memset(n, 0, sizeof(*n));
	n->v = v;
	n->dma = dma;
	n->irq = irq;
	n->npairs = cfg->queue_pairs;
	/* an IFCVF runs every pair it has (its MQ register is not modelled) */
	n->active_pairs = v->virtio_function ? 1 : n->npairs;
	n->write_past_len = cfg->faults.write_past_len;
	/* a chain has at most qmax descriptors; a buffer spanning mappings
	 * adds segments, so leave room for a few of those */
	n->walk.max = 2 * qmax + 64;
	n->walk.segs = calloc(n->walk.max, sizeof(*n->walk.segs));
	n->chains = calloc(qmax, sizeof(*n->chains));
	n->frame = malloc(EMU_MAX_FRAME);
	if (!n->walk.segs || !n->chains || !n->frame) {
		emu_net_fini(n);
		return cerr_set(e, ENOMEM, "out of memory for the datapath");
	}
	for (unsigned q = 0; q < 2 * n->npairs; q++) {
		emu_vring_init(&n->q[q].ring, &v->vq[q], false);
		emu_fifo_init(&n->q[q].fifo, cfg->rx_fifo);
	}
	return 0;
}

void emu_net_fini(struct emu_net *n)
{
	for (unsigned q = 0; q < 2 * n->npairs; q++)
		emu_fifo_fini(&n->q[q].fifo);
	free(n->walk.segs);
	free(n->chains);
	free(n->frame);
	n->walk.segs = NULL;
	n->chains = NULL;
	n->frame = NULL;
}

/* ---- drops ---- */

/* generator frames @first..@last of @stream were dropped: list them */
static void drop_gen_range(struct emu_net *n, uint32_t stream, uint64_t first, uint64_t last)
{
	struct emu_drop_range *prev = n->ndrops ? &n->drops[n->ndrops - 1] : NULL;

	n->gen_dropped += last - first + 1;
	if (prev && prev->stream == stream && prev->last + 1 == first) {
		prev->last = last;
	} else if (n->ndrops < EMU_NET_MAX_DROP_RANGES) {
		n->drops[n->ndrops++] = (struct emu_drop_range){ stream, first, last };
	} else {
		n->drops_truncated = true;
	}
}

static void drop(struct emu_net *n, unsigned q, const uint8_t *frame, size_t len)
{
	uint32_t stream;
	uint64_t seq;

	n->q[q].st.rx_dropped++;
	if (gen_frame_parse(frame, len, &stream, &seq) == GEN_FRAME_OK)
		drop_gen_range(n, stream, seq, seq);
}

void emu_net_rx_dropped_gen(struct emu_net *n, unsigned pair, uint32_t stream, uint64_t first,
			    uint64_t count)
{
	if (pair >= n->npairs || count == 0)
		return;
	n->q[2 * pair].st.rx_dropped += count;
	drop_gen_range(n, stream, first, first + count - 1);
}

static void drop_fifo(struct emu_net *n, unsigned q)
{
	const uint8_t *frame;
	size_t len;

	while ((frame = emu_fifo_peek(&n->q[q].fifo, &len))) {
		drop(n, q, frame, len);
		emu_fifo_pop(&n->q[q].fifo);
	}
}

/* ---- errors and interrupts ---- */

static void config_interrupt(struct emu_net *n)
{
	n->v->isr |= 2;
	if (n->v->msix_config != VIRTIO_MSI_NO_VECTOR &&
	    emu_irq_trigger(n->irq, n->v->msix_config) == 0)
		n->config_irqs++;
}

static void flush(struct emu_net *n, unsigned q);

static void queue_fault(struct emu_net *n, unsigned q, int err, const struct emu_fault *f)
{
	struct emu_nq *nq = &n->q[q];

	/* one report per stop (a fault while publishing below is the same) */
	if (nq->broken)
		return;
	nq->broken = true;
	nq->pending = false;
	nq->st.errors++;
	if (err == -EFAULT)
		nq->st.dma_errors++;
	n->device_errors++;
	fprintf(stderr,
		"ifcvf-emu: queue %u: device error at iova 0x%" PRIx64 " (0x%" PRIx64
		" bytes): %s; queue %u stopped, device needs reset\n",
		q, f->iova, f->len, f->what, q);
	n->v->status |= VIRTIO_STATUS_NEEDS_RESET;
	/* what completed before the fault is still delivered */
	flush(n, q);
	config_interrupt(n);
}

/* The dirty log to write into for a queue's device writes: NULL when
 * logging is off; -1 (queue stopped) when the log is not mapped. */
static int get_log(struct emu_net *n, unsigned q, struct emu_dirty **ret)
{
	struct emu_fault f;
	int r;

	*ret = NULL;
	if (!emu_dirty_enabled(&n->v->lm))
		return 0;
	r = emu_dirty_prepare(&n->dirty, &n->v->lm, n->dma, &f.iova, &f.len);
	if (r < 0) {
		snprintf(f.what, sizeof(f.what), "the dirty log bitmap is outside the DMA maps");
		/* no log, so the fault path must not try to log either */
		n->q[q].dirty = false;
		n->q[q].unpublished = 0;
		queue_fault(n, q, r, &f);
		return -1;
	}
	*ret = &n->dirty;
	return 0;
}

static void interrupt(struct emu_net *n, unsigned q)
{
	struct emu_nq *nq = &n->q[q];
	uint16_t vector = n->v->vq[q].msix_vector;

	n->v->isr |= 1;
	if (vector != VIRTIO_MSI_NO_VECTOR && emu_irq_trigger(n->irq, vector) == 0)
		nq->st.irqs++;
	else
		nq->st.irqs_lost++;
}

/* Publish the used elements written so far and interrupt if wanted. */
static void flush(struct emu_net *n, unsigned q)
{
	struct emu_nq *nq = &n->q[q];
	struct emu_dirty *log;
	struct emu_fault f;
	int r;

	if (!nq->dirty)
		return;
	nq->dirty = false;
	nq->unpublished = 0;
	/* DMA maps only go after emu_net_before_unmap(), so this holds; but
	 * never touch a ring through a stale pointer */
	r = emu_vring_ready(&nq->ring, n->dma, &f);
	if (r < 0) {
		queue_fault(n, q, r, &f);
		return;
	}
	if (get_log(n, q, &log) < 0)
		return;
	emu_vring_publish(&nq->ring, log);
	if (emu_vring_need_interrupt(&nq->ring))
		interrupt(n, q);
	else
		nq->st.irqs_suppressed++;
}

static void flush_all(struct emu_net *n)
{
	for (unsigned q = 0; q < 2 * n->npairs; q++)
		flush(n, q);
}

static void notify(struct emu_net *n, unsigned q, bool on, struct emu_dirty *log)
{
	if (on && !n->q[q].ring.notify_on)
		n->q[q].st.notify_enables++;
	(void)emu_vring_set_notify(&n->q[q].ring, on, log);
}

/* ---- RX ---- */

/* Copy @len bytes of @src into the walk's segments from byte @at on, and
 * log what was written. */
static void scatter(struct emu_walk *w, unsigned *seg, uint64_t *seg_off, const uint8_t *src,
		    size_t len, struct emu_dirty *log)
{
	while (len) {
		struct emu_seg *s = &w->segs[*seg];
		size_t piece = s->len - *seg_off;

		if (piece > len)
			piece = len;
		memcpy(s->ptr + *seg_off, src, piece);
		if (log)
			emu_dirty_mark(log, s->iova + *seg_off, piece);
		src += piece;
		len -= piece;
		*seg_off += piece;
		if (*seg_off == s->len) {
			(*seg)++;
			*seg_off = 0;
		}
	}
}

/* --fault write-past-len: zeros over the rest of the walk's segments, from
 * where the frame ended, logged like any device write. */
static void fill_rest(struct emu_walk *w, unsigned seg, uint64_t seg_off, struct emu_dirty *log)
{
	for (; seg < w->n; seg++, seg_off = 0) {
		struct emu_seg *s = &w->segs[seg];

		memset(s->ptr + seg_off, 0, s->len - seg_off);
		if (log && s->len > seg_off)
			emu_dirty_mark(log, s->iova + seg_off, s->len - seg_off);
	}
}

static enum rx_result rx_write(struct emu_net *n, unsigned q, const uint8_t *frame, size_t len)
{
	struct emu_nq *nq = &n->q[q];
	struct emu_vring *r = &nq->ring;
	bool mrg = has_feature(n, VIRTIO_NET_F_MRG_RXBUF);
	struct net_hdr hdr;
	struct emu_walk *w = &n->walk;
	uint64_t need = NET_HDR_LEN + len, start = 0;
	struct emu_dirty *log;
	unsigned nchains = 0, seg = 0;
	uint64_t seg_off = 0;
	struct emu_fault f;
	int avail, err;

	if (nq->broken)
		return RX_FAULT;
	err = emu_vring_ready(r, n->dma, &f);
	if (err < 0)
		goto fail;
	if (get_log(n, q, &log) < 0)
		return RX_FAULT;
	/* chains known to be there: avail->idx, a line the driver keeps
	 * writing, is read again only when they do not do */
	avail = emu_vring_known(r);
	emu_vring_prefetch(r, n->dma, (unsigned)avail, true);
	w->n = 0;
	w->bytes = 0;
	while (w->bytes < need) {
		uint16_t head;

		if ((int)nchains == avail) {
			avail = emu_vring_avail(r, &f);
			if (avail < 0) {
				err = avail;
				goto fail;
			}
		}
		if ((int)nchains == avail) {
			/* out of buffers: ask for a kick, unless some just came;
			 * asked already (frames keep coming while the driver
			 * is slow): the fresh read above was all there is to do */
			if (r->armed)
				return RX_NOBUF;
			notify(n, q, true, log);
			avail = emu_vring_avail(r, &f);
			if (avail < 0) {
				err = avail;
				goto fail;
			}
			if ((int)nchains == avail)
				return RX_NOBUF;
		}
		head = emu_vring_head(r, nchains);
		err = emu_vring_walk(r, n->dma, head, true, w, &f);
		if (err == -ENOSPC)
			return RX_TOOBIG;
		if (err < 0)
			goto fail;
		n->chains[nchains].head = head;
		n->chains[nchains].end = w->bytes;
		nchains++;
		if (!mrg)
			break;
	}
	if (w->bytes < need)
		return RX_TOOBIG;

	memset(&hdr, 0, sizeof(hdr));
	hdr.num_buffers = htole16((uint16_t)(mrg ? nchains : 1));
	scatter(w, &seg, &seg_off, (const uint8_t *)&hdr, sizeof(hdr), log);
	scatter(w, &seg, &seg_off, frame, len, log);
	if (n->write_past_len)
		fill_rest(w, seg, seg_off, log);
	for (unsigned i = 0; i < nchains; i++) {
		uint64_t end = n->chains[i].end < need ? n->chains[i].end : need;

		emu_vring_push(r, n->chains[i].head, (uint32_t)(end - start), log);
		start = end;
	}
	nq->dirty = true;
	nq->unpublished += nchains;
	nq->st.chains += nchains;
	nq->st.frames++;
	nq->st.bytes += len;
	/* buffers are there: the driver need not kick for refills */
	if (r->notify_on)
		notify(n, q, false, log);
	/* a long run of frames (a wire burst, a FIFO drained) is published as
	 * it goes, so that the driver can take them and refill meanwhile */
	if (nq->unpublished >= EMU_NET_BURST)
		flush(n, q);
	return RX_DONE;
fail:
	queue_fault(n, q, err, &f);
	return RX_FAULT;
}

/* Deliver what waits in the FIFO while there are buffers for it: RX_DONE
 * when the FIFO is empty, else why it stopped (RX_NOBUF: a kick was asked
 * for; RX_FAULT). */
static enum rx_result rx_drain(struct emu_net *n, unsigned q)
{
	struct emu_nq *nq = &n->q[q];
	const uint8_t *frame;
	size_t len;

	while ((frame = emu_fifo_peek(&nq->fifo, &len))) {
		enum rx_result r = rx_write(n, q, frame, len);

		if (r == RX_TOOBIG)
			drop(n, q, frame, len);
		else if (r != RX_DONE)
			return r;
		emu_fifo_pop(&nq->fifo);
	}
	return RX_DONE;
}

/* A frame from the wire: into the ring when the queue can take it now
 * (behind what waits in the FIFO, which goes first), else into the FIFO.
 * false: the FIFO is full; the frame was neither taken nor counted. */
static bool rx_offer(struct emu_net *n, unsigned q, const uint8_t *frame, size_t len)
{
	struct emu_nq *nq = &n->q[q];

	if (running(n, q) && !nq->soft && rx_drain(n, q) == RX_DONE) {
		switch (rx_write(n, q, frame, len)) {
		case RX_DONE:
			return true;
		case RX_TOOBIG:
			drop(n, q, frame, len);
			return true;
		default:
			break;
		}
	}
	return emu_fifo_push(&nq->fifo, frame, len);
}

void emu_net_rx(struct emu_net *n, unsigned pair, const uint8_t *frame, size_t len)
{
	if (pair < n->npairs && !rx_offer(n, 2 * pair, frame, len))
		drop(n, 2 * pair, frame, len);
}

bool emu_net_rx_offer(struct emu_net *n, unsigned pair, const uint8_t *frame, size_t len)
{
	return pair >= n->npairs || rx_offer(n, 2 * pair, frame, len);
}

/* FNV-1a over what identifies a flow: IPv4/IPv6 addresses (and TCP/UDP
 * ports for IPv4), else the MAC addresses. */
static uint32_t flow_hash(const uint8_t *f, size_t len)
{
	uint16_t type = len >= 14 ? (uint16_t)(f[12] << 8 | f[13]) : 0;

	if (type == 0x0800 && len >= 34) {
		unsigned ihl = (f[14] & 0xfu) * 4;
		uint32_t h = gen_fnv1a(f + 26, 8) ^ f[23];

		if ((f[23] == 6 || f[23] == 17) && len >= 14 + ihl + 4)
			h = h * GEN_FNV1A_PRIME ^ gen_fnv1a(f + 14 + ihl, 4);
		return h;
	}
	if (type == 0x86dd && len >= 54)
		return gen_fnv1a(f + 22, 32);
	return gen_fnv1a(f, len < 12 ? len : 12);
}

void emu_net_rx_flow(struct emu_net *n, const uint8_t *frame, size_t len)
{
	unsigned pairs[EMU_MAX_QUEUE_PAIRS], count = 0;

	for (unsigned p = 0; p < n->npairs; p++)
		if (running(n, 2 * p))
			pairs[count++] = p;
	emu_net_rx(n, count ? pairs[flow_hash(frame, len) % count] : 0, frame, len);
}

/* The next frame for RX queue @q: what waits in the FIFO first, then what
 * a wire that waits for buffers (gen pps=max) has; NULL when neither. */
static const uint8_t *rx_next(struct emu_net *n, unsigned q, size_t *len, bool *from_fifo)
{
	const uint8_t *frame = emu_fifo_peek(&n->q[q].fifo, len);

	*from_fifo = frame != NULL;
	if (!frame && n->wire && n->wire->ops->rx_peek)
		frame = n->wire->ops->rx_peek(n->wire, q / 2, len);
	return frame;
}

static void rx_taken(struct emu_net *n, unsigned q, bool from_fifo)
{
	if (from_fifo)
		emu_fifo_pop(&n->q[q].fifo);
	else
		n->wire->ops->rx_pop(n->wire, q / 2);
}

/* Deliver what waits in the FIFO, then what the wire holds back. */
static void rx_burst(struct emu_net *n, unsigned q)
{
	struct emu_nq *nq = &n->q[q];

	for (unsigned done = 0; done < EMU_NET_BURST; done++) {
		size_t len;
		bool from_fifo;
		const uint8_t *frame = rx_next(n, q, &len, &from_fifo);

		if (!frame) {
			struct emu_dirty *log;
			struct emu_fault f;

			/* nothing to deliver: refills need no kick. The rings
			 * may be outside the maps (a kick before DMA_MAP, or
			 * after an unmap): the flag is written only through a
			 * mapping of now, and a frame finds out the rest */
			nq->pending = false;
			if (emu_vring_ready(&nq->ring, n->dma, &f) == 0 &&
			    get_log(n, q, &log) == 0)
				notify(n, q, false, log);
			return;
		}
		switch (rx_write(n, q, frame, len)) {
		case RX_DONE:
			rx_taken(n, q, from_fifo);
			break;
		case RX_TOOBIG:
			drop(n, q, frame, len);
			rx_taken(n, q, from_fifo);
			break;
		case RX_NOBUF:
			/* the driver was asked to kick when it posts buffers */
			nq->pending = false;
			return;
		default:
			return;
		}
	}
}

/* ---- TX ---- */

/* The frame of a TX chain, virtio header stripped, into n->frame; -1 when
 * there is none (shorter than the header, or oversize). */
static long gather(struct emu_net *n, const struct emu_walk *w)
{
	uint64_t skip = NET_HDR_LEN, len = 0;

	if (w->bytes < NET_HDR_LEN || w->bytes - NET_HDR_LEN > EMU_MAX_FRAME)
		return -1;
	for (unsigned i = 0; i < w->n; i++) {
		const struct emu_seg *s = &w->segs[i];
		uint64_t off = skip < s->len ? skip : s->len;

		skip -= off;
		memcpy(n->frame + len, s->ptr + off, s->len - off);
		len += s->len - off;
	}
	return (long)len;
}

static void tx_burst(struct emu_net *n, unsigned q)
{
	struct emu_nq *nq = &n->q[q];
	struct emu_vring *r = &nq->ring;
	struct emu_walk *w = &n->walk;
	unsigned done = 0;
	struct emu_dirty *log;
	struct emu_fault f;
	int avail, err;

	err = emu_vring_ready(r, n->dma, &f);
	if (err < 0)
		goto fail;
	if (get_log(n, q, &log) < 0)
		return;
	/* while we are at it, the driver need not kick */
	notify(n, q, false, log);
	while (done < EMU_NET_BURST) {
		avail = emu_vring_avail(r, &f);
		if (avail < 0) {
			err = avail;
			goto fail;
		}
		if (avail == 0) {
			notify(n, q, true, log);
			if (emu_vring_avail(r, &f) > 0)
				continue;
			nq->pending = false;
			return;
		}
		for (int i = 0; i < avail && done < EMU_NET_BURST; i++, done++) {
			uint16_t head = emu_vring_head(r, 0);
			long len;

			w->n = 0;
			w->bytes = 0;
			err = emu_vring_walk(r, n->dma, head, false, w, &f);
			if (err < 0)
				goto fail;
			len = gather(n, w);
			emu_vring_push(r, head, 0, log);
			nq->dirty = true;
			nq->st.chains++;
			if (len < 0) {
				nq->st.tx_bad++;
				continue;
			}
			nq->st.frames++;
			nq->st.bytes += (uint64_t)len;
			n->wire->ops->tx(n->wire, q / 2, n->frame, (size_t)len);
		}
	}
	return;
fail:
	queue_fault(n, q, err, &f);
}

/* ---- scheduling and hooks ---- */

static void schedule(struct emu_net *n, unsigned q, bool soft)
{
	struct emu_nq *nq = &n->q[q];

	if (!nq->pending)
		nq->soft = soft;
	else if (!soft)
		nq->soft = false;
	nq->pending = true;
}

bool emu_net_run(struct emu_net *n)
{
	bool more = false;

	for (unsigned q = 0; q < 2 * n->npairs; q++) {
		struct emu_nq *nq = &n->q[q];

		if (!nq->pending || !running(n, q))
			continue;
		if (nq->soft) {
			struct emu_fault f;

			/* a poll at enable: rings the client has not mapped yet
			 * are its business until it kicks */
			nq->soft = false;
			if (emu_vring_ready(&nq->ring, n->dma, &f) < 0) {
				nq->pending = false;
				continue;
			}
		}
		if (is_rx(q))
			rx_burst(n, q);
		else
			tx_burst(n, q);
		more |= nq->pending;
	}
	flush_all(n);
	return more;
}

void emu_net_kick(struct emu_net *n, unsigned q)
{
	if ((int)q == emu_net_ctrl_queue(n))
		emu_ctrl_kick(n);
	else if (served(n, q) && running(n, q))
		schedule(n, q, false);
}

/* A queue starts (again) from its latched indices, maybe at new addresses. */
/* A queue starts at the used index of its ring-state word; the used ring in
 * guest memory should show the same index. If it does not, the driver and
 * the device disagree on where the ring is (say, a stale ring state handed
 * over by a migration), and the driver would see used entries go backwards
 * or jump: a diagnostic for the migration tests, counted and said once. */
static void check_resume(struct emu_net *n, unsigned q)
{
	const struct emu_vq *vq = &n->v->vq[q];
	const volatile uint16_t *idx = emu_dma_translate(n->dma, vq->used + 2, 2, EMU_DMA_READ);

	if (!idx || *idx == vq->last_used)
		return;
	n->q[q].st.resume_mismatch++;
	fprintf(stderr, "ifcvf-emu: queue %u starts at used index %u, but the used ring in guest "
		"memory shows %u\n", q, vq->last_used, *idx);
}

static void start_queue(struct emu_net *n, unsigned q)
{
	struct emu_nq *nq = &n->q[q];

	emu_vring_init(&nq->ring, &n->v->vq[q], has_feature(n, VIRTIO_RING_F_EVENT_IDX));
	nq->broken = false;
	nq->dirty = false;
	nq->unpublished = 0;
	if (!running(n, q))
		return;
	check_resume(n, q);
	/* buffers may be waiting with no kick to come (a resumed queue) */
	schedule(n, q, true);
	if (is_rx(q) && n->wire && n->wire->ops->rx_started)
		n->wire->ops->rx_started(n->wire, q / 2);
}

void emu_net_queue_started(struct emu_net *n, unsigned q)
{
	if (served(n, q))
		start_queue(n, q);
}

void emu_net_set_active_pairs(struct emu_net *n, unsigned pairs)
{
	unsigned old = n->active_pairs;

	if (pairs < old) {
		/* what they completed is delivered; they take nothing more */
		for (unsigned q = 2 * pairs; q < 2 * old; q++) {
			flush(n, q);
			n->q[q].pending = false;
		}
	}
	n->active_pairs = pairs;
	for (unsigned q = 2 * old; q < 2 * pairs; q++)
		if (n->v->vq[q].enabled)
			start_queue(n, q);
}

void emu_net_queue_stopping(struct emu_net *n, unsigned q)
{
	if (!served(n, q))
		return;
	/* no chain is ever half done here: publish and stop */
	flush(n, q);
	n->q[q].pending = false;
}

void emu_net_driver_ok(struct emu_net *n)
{
	for (unsigned q = 0; q < 2 * n->npairs; q++)
		if (n->v->vq[q].enabled)
			start_queue(n, q);
}

void emu_net_drop_held(struct emu_net *n)
{
	for (unsigned q = 0; q < 2 * n->npairs; q++)
		drop_fifo(n, q);
}

void emu_net_reset(struct emu_net *n)
{
	for (unsigned q = 0; q < 2 * n->npairs; q++) {
		struct emu_nq *nq = &n->q[q];

		/* a plain virtio function's wire is not read while the device
		 * is down, so its frames wait rather than go */
		if (!n->v->virtio_function)
			drop_fifo(n, q);
		nq->pending = nq->soft = nq->dirty = nq->broken = false;
		nq->unpublished = 0;
		emu_vring_init(&nq->ring, &n->v->vq[q], false);
	}
	n->dirty.resolved = false;
	n->orphaned = false;
	if (n->v->virtio_function)
		n->active_pairs = 1;
	emu_ctrl_reset(n);
}

void emu_net_driver_error(struct emu_net *n, unsigned q, const char *what)
{
	n->device_errors++;
	fprintf(stderr, "ifcvf-emu: queue %u: driver error: %s; ignored\n", q, what);
}

void emu_net_client(struct emu_net *n, bool present)
{
	if (!present) {
		emu_net_before_unmap(n);
		for (unsigned q = 0; q < 2 * n->npairs; q++)
			n->q[q].pending = false;
		n->orphaned = true;
	}
	n->client = present;
}

void emu_net_hang_up(struct emu_net *n)
{
	for (unsigned q = 0; q < 2 * n->npairs; q++) {
		struct emu_nq *nq = &n->q[q];

		/* entries the frontend completed itself after taking the rings
		 * over; publishing them now would hand the driver back heads
		 * it already reused */
		nq->pending = nq->soft = nq->dirty = false;
		nq->unpublished = 0;
	}
	n->orphaned = true;
	n->client = false;
}

void emu_net_before_unmap(struct emu_net *n)
{
	if (n->client)
		flush_all(n);
}

/* ---- counters ---- */

static const char *role(const struct emu_net *n, unsigned q)
{
	return is_rx(q) ? "rx" : "tx";
}

void emu_net_print(const struct emu_net *n, FILE *out)
{
	fprintf(out,
		"ifcvf-emu: datapath: device errors %" PRIu64 ", config irqs %" PRIu64
		", log pages %" PRIu64 " (outside the log %" PRIu64 "), dropped generator "
		"frames %" PRIu64 "\n",
		n->device_errors, n->config_irqs, n->dirty.pages_marked, n->dirty.out_of_range,
		n->gen_dropped);
	for (unsigned q = 0; q < 2 * n->npairs; q++) {
		const struct emu_nq *nq = &n->q[q];
		const struct emu_vq *vq = &n->v->vq[q];

		fprintf(out,
			"ifcvf-emu: queue %u (%s %u): kicks %" PRIu64 " chains %" PRIu64
			" frames %" PRIu64 " bytes %" PRIu64 " irqs %" PRIu64 " suppressed %" PRIu64
			" rx-dropped %" PRIu64 " fifo %u (max %u) errors %" PRIu64
			" dma-errors %" PRIu64 "%s\n",
			q, role(n, q), q / 2, vq->kicks, nq->st.chains, nq->st.frames, nq->st.bytes,
			nq->st.irqs, nq->st.irqs_suppressed, nq->st.rx_dropped, nq->fifo.count,
			nq->fifo.high_water, nq->st.errors, nq->st.dma_errors,
			nq->broken ? " STOPPED" : "");
	}
}

void emu_net_json(const struct emu_net *n, FILE *out)
{
	fprintf(out, "\"active_pairs\":%u,\"ctrl_commands\":%" PRIu64 ",\"ctrl_refused\":%" PRIu64 ",",
		n->active_pairs, n->ctrl_commands, n->ctrl_refused);
	fprintf(out,
		"\"device_errors\":%" PRIu64 ",\"config_irqs\":%" PRIu64
		",\"log\":{\"pages_marked\":%" PRIu64 ",\"out_of_range\":%" PRIu64 "},\"queues\":[",
		n->device_errors, n->config_irqs, n->dirty.pages_marked, n->dirty.out_of_range);
	for (unsigned q = 0; q < 2 * n->npairs; q++) {
		const struct emu_nq *nq = &n->q[q];
		const struct emu_vq *vq = &n->v->vq[q];

		fprintf(out,
			"%s{\"index\":%u,\"role\":\"%s\",\"pair\":%u,\"enabled\":%s,\"stopped\":%s"
			",\"size\":%u,\"last_avail\":%u,\"last_used\":%u,\"kicks\":%" PRIu64
			",\"chains\":%" PRIu64 ",\"frames\":%" PRIu64 ",\"bytes\":%" PRIu64
			",\"irqs\":%" PRIu64 ",\"irqs_suppressed\":%" PRIu64 ",\"irqs_lost\":%" PRIu64
			",\"notify_enables\":%" PRIu64 ",\"resume_mismatch\":%" PRIu64
			",\"rx_dropped\":%" PRIu64
			",\"rx_fifo_depth\":%u,\"rx_fifo_max\":%u,\"tx_bad\":%" PRIu64
			",\"errors\":%" PRIu64 ",\"dma_errors\":%" PRIu64 "}",
			q ? "," : "", q, role(n, q), q / 2, vq->enabled ? "true" : "false",
			nq->broken ? "true" : "false", vq->size, vq->last_avail, vq->last_used,
			vq->kicks, nq->st.chains, nq->st.frames, nq->st.bytes, nq->st.irqs,
			nq->st.irqs_suppressed, nq->st.irqs_lost, nq->st.notify_enables,
			nq->st.resume_mismatch,
			nq->st.rx_dropped, nq->fifo.count, nq->fifo.high_water, nq->st.tx_bad,
			nq->st.errors, nq->st.dma_errors);
	}
	fprintf(out, "],\"dropped_gen\":{\"frames\":%" PRIu64 ",\"truncated\":%s,\"ranges\":[",
		n->gen_dropped, n->drops_truncated ? "true" : "false");
	for (unsigned i = 0; i < n->ndrops; i++)
		fprintf(out, "%s[%u,%" PRIu64 ",%" PRIu64 "]", i ? "," : "", n->drops[i].stream,
			n->drops[i].first, n->drops[i].last);
	fputs("]}", out);
}

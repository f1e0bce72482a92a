/* The blk datapath of the emulated VF; see emu-blk.h. */
#include "emu-blk.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "emu-bytes.h"
#include "ifcvf-regs.h"

/* virtio-blk request types and status values (virtio 1.x §5.2.6) */
#define BLK_T_IN 0u
#define BLK_T_OUT 1u
#define BLK_T_FLUSH 4u
#define BLK_T_GET_ID 8u
#define BLK_T_DISCARD 11u
#define BLK_T_WRITE_ZEROES 13u
#define BLK_S_OK 0u
#define BLK_S_IOERR 1u
#define BLK_S_UNSUPP 2u

#define SECTOR 512u
#define HDR_LEN 16u
#define DWZ_SEG_LEN 16u          /* struct virtio_blk_discard_write_zeroes */
#define DWZ_MAX_SEGS 1u          /* max_discard_seg / max_write_zeroes_seg */
#define DWZ_F_UNMAP 1u

#define BIT(n) (1ull << (n))

static bool has_feature(const struct emu_blk *b, unsigned bit)
{
	return b->v->driver_features & BIT(bit);
}

static bool running(const struct emu_blk *b, unsigned q)
{
	return q < b->nqueues && b->v->vq[q].enabled &&
	       (b->v->status & VIRTIO_STATUS_DRIVER_OK) && b->client && !b->orphaned;
}

/* xorshift64*: the random completion order, reproducible per run */
static uint64_t rnd(struct emu_blk *b)
{
	uint64_t x = b->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	b->rng = x;
	return x * 0x2545f4914f6cdd1dull;
}

static void config_interrupt(struct emu_blk *b)
{
	b->v->isr |= 2;
	if (b->v->msix_config != VIRTIO_MSI_NO_VECTOR &&
	    emu_irq_trigger(b->irq, b->v->msix_config) == 0)
		b->config_irqs++;
}

static void set_capacity(struct emu_blk *b, uint64_t sectors)
{
	b->capacity = sectors;
	emu_put32(b->v->devcfg, VIRTIO_BLK_CFG_CAPACITY, (uint32_t)sectors);
	emu_put32(b->v->devcfg, VIRTIO_BLK_CFG_CAPACITY + 4, (uint32_t)(sectors >> 32));
}

int emu_blk_init(struct emu_blk *b, const struct emu_config *cfg, struct emu_virtio *v,
		 struct emu_dma *dma, struct emu_irq *irq, struct cerr *e)
{
	unsigned qmax = cfg->queue_size_max;

	memset(b, 0, sizeof(*b));
	b->v = v;
	b->dma = dma;
	b->irq = irq;
	b->fd = -1;
	b->nqueues = cfg->blk_queues;
	b->queue_size_max = qmax;
	b->order = cfg->blk_order;
	b->no_drain = cfg->faults.blk_no_drain;
	b->rng = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull | 1;
	if (cfg->backing) {
		struct stat st;

		b->fd = open(cfg->backing, O_RDWR | O_CLOEXEC);
		if (b->fd < 0)
			return cerr_set(e, errno, "--backing %s: cannot open: %s", cfg->backing,
					strerror(errno));
		if (fstat(b->fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)SECTOR) {
			int err = errno;

			close(b->fd);
			b->fd = -1;
			return cerr_set(e, EINVAL, "--backing %s: not a regular file of at least "
					"one 512-byte sector%s%s", cfg->backing, err ? ": " : "",
					err ? strerror(err) : "");
		}
		b->file = true;
		set_capacity(b, (uint64_t)st.st_size / SECTOR);
	} else {
		b->fd = memfd_create("ifcvf-emu-disk", MFD_CLOEXEC);
		if (b->fd < 0)
			return cerr_set(e, errno, "cannot create the memory disk: %s", strerror(errno));
		if (ftruncate(b->fd, (off_t)(cfg->capacity * SECTOR)) < 0) {
			int err = errno;

			close(b->fd);
			b->fd = -1;
			return cerr_set(e, err, "cannot size the memory disk to %" PRIu64
					" sectors: %s", cfg->capacity, strerror(err));
		}
		set_capacity(b, cfg->capacity);
	}
	b->walk.max = 2 * qmax + 64;
	b->walk.segs = calloc(b->walk.max, sizeof(*b->walk.segs));
	/* the largest request seg_max x size_max allows, or 64 MiB */
	b->buf_size = (size_t)EMU_BLK_SIZE_MAX * (qmax > 2 ? qmax - 2 : 1);
	if (b->buf_size > EMU_BLK_BUF_MAX)
		b->buf_size = EMU_BLK_BUF_MAX;
	b->buf = malloc(b->buf_size);
	if (!b->walk.segs || !b->buf) {
		emu_blk_fini(b);
		return cerr_set(e, ENOMEM, "out of memory for the blk datapath");
	}
	for (unsigned q = 0; q < b->nqueues; q++) {
		b->q[q].inflight = calloc(qmax, sizeof(*b->q[q].inflight));
		if (!b->q[q].inflight) {
			emu_blk_fini(b);
			return cerr_set(e, ENOMEM, "out of memory for the blk datapath");
		}
		emu_vring_init(&b->q[q].ring, &v->vq[q], false);
	}
	return 0;
}

void emu_blk_fini(struct emu_blk *b)
{
	for (unsigned q = 0; q < b->nqueues; q++) {
		free(b->q[q].inflight);
		b->q[q].inflight = NULL;
	}
	free(b->walk.segs);
	free(b->buf);
	b->walk.segs = NULL;
	b->buf = NULL;
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
}

/* ---- rings ---- */

static int get_log(struct emu_blk *b, unsigned q, struct emu_dirty **ret);

static void interrupt(struct emu_blk *b, unsigned q)
{
	uint16_t vector = b->v->vq[q].msix_vector;

	b->v->isr |= 1;
	if (vector != VIRTIO_MSI_NO_VECTOR && emu_irq_trigger(b->irq, vector) == 0)
		b->q[q].st.irqs++;
	else
		b->q[q].st.irqs_lost++;
}

static void queue_fault(struct emu_blk *b, unsigned q, int err, const struct emu_fault *f);

static void flush(struct emu_blk *b, unsigned q)
{
	struct emu_bq *bq = &b->q[q];
	struct emu_dirty *log;
	struct emu_fault f;
	int r;

	if (!bq->dirty)
		return;
	bq->dirty = false;
	r = emu_vring_ready(&bq->ring, b->dma, &f);
	if (r < 0) {
		queue_fault(b, q, r, &f);
		return;
	}
	if (get_log(b, q, &log) < 0)
		return;
	emu_vring_publish(&bq->ring, log);
	if (emu_vring_need_interrupt(&bq->ring))
		interrupt(b, q);
	else
		bq->st.irqs_suppressed++;
}

static void flush_all(struct emu_blk *b)
{
	for (unsigned q = 0; q < b->nqueues; q++)
		flush(b, q);
}

static void queue_fault(struct emu_blk *b, unsigned q, int err, const struct emu_fault *f)
{
	struct emu_bq *bq = &b->q[q];

	if (bq->broken)
		return;
	bq->broken = true;
	bq->pending = false;
	bq->st.errors++;
	if (err == -EFAULT)
		bq->st.dma_errors++;
	b->device_errors++;
	fprintf(stderr,
		"ifcvf-emu: queue %u: device error at iova 0x%" PRIx64 " (0x%" PRIx64
		" bytes): %s; queue %u stopped, device needs reset\n",
		q, f->iova, f->len, f->what, q);
	b->v->status |= VIRTIO_STATUS_NEEDS_RESET;
	config_interrupt(b);
}

static int get_log(struct emu_blk *b, unsigned q, struct emu_dirty **ret)
{
	struct emu_fault f;
	int r;

	*ret = NULL;
	if (!emu_dirty_enabled(&b->v->lm))
		return 0;
	r = emu_dirty_prepare(&b->dirty, &b->v->lm, b->dma, &f.iova, &f.len);
	if (r < 0) {
		snprintf(f.what, sizeof(f.what), "the dirty log bitmap is outside the DMA maps");
		b->q[q].dirty = false;
		queue_fault(b, q, r, &f);
		return -1;
	}
	*ret = &b->dirty;
	return 0;
}

/* ---- requests ---- */

/* Copy between the segments [first, first+n) of the walk and b->buf. */
static void segs_to_buf(struct emu_blk *b, unsigned first, unsigned n, uint64_t skip, uint64_t len)
{
	uint64_t at = 0;

	for (unsigned i = first; i < first + n && at < len; i++) {
		const struct emu_seg *s = &b->walk.segs[i];
		uint64_t off = skip < s->len ? skip : s->len;
		uint64_t take = s->len - off;

		skip -= off;
		if (take > len - at)
			take = len - at;
		memcpy(b->buf + at, s->ptr + off, take);
		at += take;
	}
}

static void buf_to_segs(struct emu_blk *b, unsigned first, unsigned n, uint64_t len,
			struct emu_dirty *log)
{
	uint64_t at = 0;

	for (unsigned i = first; i < first + n && at < len; i++) {
		const struct emu_seg *s = &b->walk.segs[i];
		uint64_t take = s->len < len - at ? s->len : len - at;

		memcpy(s->ptr, b->buf + at, take);
		if (log)
			emu_dirty_mark(log, s->iova, take);
		at += take;
	}
}

static int disk_io(struct emu_blk *b, bool write, uint64_t sector, uint64_t len)
{
	uint64_t off = sector * SECTOR, done = 0;

	while (done < len) {
		ssize_t n = write ? pwrite(b->fd, b->buf + done, len - done, (off_t)(off + done))
				  : pread(b->fd, b->buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {  /* a backing file cut short under us: zeroes */
			if (write)
				return -EIO;
			memset(b->buf + done, 0, len - done);
			break;
		}
		done += (uint64_t)n;
	}
	return 0;
}

static bool range_ok(const struct emu_blk *b, uint64_t sector, uint64_t sectors)
{
	return sector <= b->capacity && sectors <= b->capacity - sector;
}

/* Each segment within size_max, and no more data segments than seg_max. */
static bool segs_ok(const struct emu_blk *b, unsigned first, unsigned n)
{
	unsigned seg_max = b->queue_size_max > 2 ? b->queue_size_max - 2 : 1;

	if (n > seg_max)
		return false;
	for (unsigned i = first; i < first + n; i++)
		if (b->walk.segs[i].len > EMU_BLK_SIZE_MAX)
			return false;
	return true;
}

static uint8_t do_discard_zeroes(struct emu_blk *b, unsigned q, uint32_t type, unsigned rfirst,
				 unsigned rn, uint64_t rlen)
{
	unsigned feature = type == BLK_T_DISCARD ? VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES;
	uint64_t nseg = rlen / DWZ_SEG_LEN;

	if (!has_feature(b, feature))
		return BLK_S_UNSUPP;
	if (rlen == 0 || rlen % DWZ_SEG_LEN || nseg > DWZ_MAX_SEGS || rlen > b->buf_size)
		return BLK_S_IOERR;
	segs_to_buf(b, rfirst, rn, HDR_LEN, rlen);
	for (uint64_t i = 0; i < nseg; i++) {
		const uint8_t *d = b->buf + i * DWZ_SEG_LEN;
		uint64_t sector = le64toh(*(const uint64_t *)(const void *)d);
		uint32_t num = le32toh(*(const uint32_t *)(const void *)(d + 8));
		uint32_t flags = le32toh(*(const uint32_t *)(const void *)(d + 12));

		if (!range_ok(b, sector, num) || (flags & ~DWZ_F_UNMAP) ||
		    (type == BLK_T_DISCARD && flags))
			return BLK_S_IOERR;
		/* both leave zeroes behind here: the disk is a file */
		if (num && fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				     (off_t)(sector * SECTOR), (off_t)num * SECTOR) < 0)
			return BLK_S_IOERR;
	}
	if (type == BLK_T_DISCARD)
		b->q[q].st.discards++;
	else
		b->q[q].st.write_zeroes++;
	return BLK_S_OK;
}

/* Serve the chain at @head: data moves now, the completion is recorded in
 * @req. Returns 0, or a ring fault (-errno, @f says where). */
static int serve(struct emu_blk *b, unsigned q, uint16_t head, struct emu_dirty *log,
		 struct emu_blk_req *req, struct emu_fault *f)
{
	struct emu_bq *bq = &b->q[q];
	struct emu_walk *w = &b->walk;
	unsigned rn, wn;
	uint64_t rlen, wlen, data;
	uint8_t hdr[HDR_LEN];
	uint32_t type;
	uint64_t sector;
	int r;

	memset(req, 0, sizeof(*req));
	req->head = head;
	w->n = 0;
	w->bytes = 0;
	r = emu_vring_walk(&bq->ring, b->dma, head, false, w, f);
	if (r < 0)
		return r;
	rn = w->n;
	rlen = w->bytes;
	r = emu_vring_walk(&bq->ring, b->dma, head, true, w, f);
	if (r < 0)
		return r;
	wn = w->n - rn;
	wlen = w->bytes - rlen;
	if (wlen == 0) {
		/* nowhere to say how it went: complete it with nothing written */
		bq->st.no_status++;
		return 0;
	}
	/* the status byte: the last writable byte of the chain */
	{
		const struct emu_seg *s = &w->segs[rn + wn - 1];

		req->has_status = true;
		req->status_iova = s->iova + s->len - 1;
		if (s->len == 1)
			wn--;     /* a segment of its own */
	}
	data = wlen - 1;
	req->used_len = 1;
	req->status = BLK_S_IOERR;
	if (rlen < HDR_LEN) {
		bq->st.ioerr++;
		return 0;
	}
	segs_to_buf(b, 0, rn, 0, HDR_LEN);
	memcpy(hdr, b->buf, HDR_LEN);
	type = le32toh(*(const uint32_t *)(const void *)hdr);
	sector = le64toh(*(const uint64_t *)(const void *)(hdr + 8));

	switch (type) {
	case BLK_T_IN:
		if (data % SECTOR || data > b->buf_size || !range_ok(b, sector, data / SECTOR) ||
		    !segs_ok(b, rn, wn) || rlen != HDR_LEN)
			break;
		if (disk_io(b, false, sector, data) < 0)
			break;
		buf_to_segs(b, rn, wn, data, log);
		req->used_len = (uint32_t)(data + 1);
		req->status = BLK_S_OK;
		bq->st.reads++;
		bq->st.bytes_read += data;
		break;
	case BLK_T_OUT:
		data = rlen - HDR_LEN;
		if (wlen != 1 || data % SECTOR || data > b->buf_size ||
		    !range_ok(b, sector, data / SECTOR) || !segs_ok(b, 0, rn))
			break;
		segs_to_buf(b, 0, rn, HDR_LEN, data);
		if (disk_io(b, true, sector, data) < 0)
			break;
		req->status = BLK_S_OK;
		bq->st.writes++;
		bq->st.bytes_written += data;
		break;
	case BLK_T_FLUSH:
		if (!has_feature(b, VIRTIO_BLK_F_FLUSH)) {
			req->status = BLK_S_UNSUPP;
			break;
		}
		if (b->file && fdatasync(b->fd) < 0)
			break;
		req->status = BLK_S_OK;
		bq->st.flushes++;
		break;
	case BLK_T_GET_ID: {
		uint64_t n = data < EMU_BLK_ID_LEN ? data : EMU_BLK_ID_LEN;

		memset(b->buf, 0, EMU_BLK_ID_LEN);
		snprintf((char *)b->buf, EMU_BLK_ID_LEN, "ifcvf-emu-%d", (int)getpid());
		buf_to_segs(b, rn, wn, n, log);
		req->used_len = (uint32_t)(n + 1);
		req->status = BLK_S_OK;
		bq->st.get_ids++;
		break;
	}
	case BLK_T_DISCARD:
	case BLK_T_WRITE_ZEROES:
		if (wlen != 1)
			break;
		req->status = do_discard_zeroes(b, q, type, 0, rn, rlen - HDR_LEN);
		break;
	default:
		req->status = BLK_S_UNSUPP;
		break;
	}
	if (req->status == BLK_S_IOERR)
		bq->st.ioerr++;
	else if (req->status == BLK_S_UNSUPP)
		bq->st.unsupp++;
	return 0;
}

/* Write request @i's status and used element, and take it out of flight. */
static void complete(struct emu_blk *b, unsigned q, unsigned i, struct emu_dirty *log)
{
	struct emu_bq *bq = &b->q[q];
	struct emu_blk_req req = bq->inflight[i];

	bq->inflight[i] = bq->inflight[--bq->ninflight];
	if (req.has_status) {
		uint8_t *st = emu_dma_translate(b->dma, req.status_iova, 1, EMU_DMA_WRITE);

		/* it was writable when served; a map that went since is the
		 * driver's doing and the byte is simply lost */
		if (st) {
			*st = req.status;
			if (log)
				emu_dirty_mark(log, req.status_iova, 1);
		}
	}
	for (unsigned k = 0; k < bq->ninflight; k++)
		if (bq->inflight[k].seq < req.seq) {
			bq->st.out_of_order++;
			break;
		}
	emu_vring_push_used(&bq->ring, req.head, req.used_len, log);
	bq->st.requests++;
	bq->dirty = true;
}

/* Complete requests in flight as --complete-order says; @all: every one. */
static void complete_some(struct emu_blk *b, unsigned q, bool all, struct emu_dirty *log)
{
	struct emu_bq *bq = &b->q[q];

	if (bq->ninflight == 0)
		return;
	switch (all ? EMU_BLK_ORDER_FIFO : b->order) {
	case EMU_BLK_ORDER_FIFO:
		while (bq->ninflight) {
			unsigned oldest = 0;

			for (unsigned k = 1; k < bq->ninflight; k++)
				if (bq->inflight[k].seq < bq->inflight[oldest].seq)
					oldest = k;
			complete(b, q, oldest, log);
		}
		break;
	case EMU_BLK_ORDER_REVERSE:
		while (bq->ninflight) {
			unsigned newest = 0;

			for (unsigned k = 1; k < bq->ninflight; k++)
				if (bq->inflight[k].seq > bq->inflight[newest].seq)
					newest = k;
			complete(b, q, newest, log);
		}
		break;
	case EMU_BLK_ORDER_RANDOM: {
		/* about half of them, picked at random, at least one */
		unsigned n = bq->ninflight / 2 + 1;

		while (n-- && bq->ninflight)
			complete(b, q, (unsigned)(rnd(b) % bq->ninflight), log);
		break;
	}
	}
}

static void take_burst(struct emu_blk *b, unsigned q)
{
	struct emu_bq *bq = &b->q[q];
	struct emu_vring *r = &bq->ring;
	struct emu_dirty *log = NULL;
	struct emu_fault f;
	unsigned done = 0;
	int avail, err;

	err = emu_vring_ready(r, b->dma, &f);
	if (err < 0) {
		/* the rings are not reachable: nothing can be completed */
		queue_fault(b, q, err, &f);
		return;
	}
	if (get_log(b, q, &log) < 0)
		return;
	(void)emu_vring_set_notify(r, false, log);
	while (done < EMU_BLK_BURST && bq->ninflight < r->size) {
		avail = emu_vring_avail(r, &f);
		if (avail < 0) {
			err = avail;
			goto fail;
		}
		if (avail == 0) {
			(void)emu_vring_set_notify(r, true, log);
			if (emu_vring_avail(r, &f) > 0)
				continue;
			break;
		}
		for (int i = 0; i < avail && done < EMU_BLK_BURST && bq->ninflight < r->size;
		     i++, done++) {
			struct emu_blk_req *req = &bq->inflight[bq->ninflight];

			err = serve(b, q, emu_vring_head(r, 0), log, req, &f);
			if (err < 0)
				goto fail;
			emu_vring_take(r);
			req->seq = bq->next_seq++;
			bq->ninflight++;
			if (bq->ninflight > bq->st.max_inflight)
				bq->st.max_inflight = bq->ninflight;
		}
	}
	/* --fault blk-no-drain: a disk that hangs, nothing completes */
	if (!b->no_drain)
		complete_some(b, q, false, log);
	/* more to take, or requests still in flight: another round */
	bq->pending = done == EMU_BLK_BURST || (bq->ninflight > 0 && !b->no_drain);
	return;
fail:
	/* what was served is still completed */
	complete_some(b, q, true, log);
	flush(b, q);
	queue_fault(b, q, err, &f);
}

/* ---- scheduling and hooks ---- */

bool emu_blk_run(struct emu_blk *b)
{
	bool more = false;

	for (unsigned q = 0; q < b->nqueues; q++) {
		struct emu_bq *bq = &b->q[q];

		if (!bq->pending || !running(b, q) || bq->broken)
			continue;
		if (bq->soft) {
			struct emu_fault f;

			bq->soft = false;
			if (emu_vring_ready(&bq->ring, b->dma, &f) < 0) {
				bq->pending = false;
				continue;
			}
		}
		take_burst(b, q);
		more |= bq->pending;
	}
	flush_all(b);
	return more;
}

static void schedule(struct emu_blk *b, unsigned q, bool soft)
{
	struct emu_bq *bq = &b->q[q];

	if (!bq->pending)
		bq->soft = soft;
	else if (!soft)
		bq->soft = false;
	bq->pending = true;
}

void emu_blk_kick(struct emu_blk *b, unsigned q)
{
	if (running(b, q))
		schedule(b, q, false);
}

static void drop_inflight(struct emu_blk *b, unsigned q)
{
	b->q[q].ninflight = 0;
}

static void start_queue(struct emu_blk *b, unsigned q)
{
	struct emu_bq *bq = &b->q[q];

	emu_vring_init(&bq->ring, &b->v->vq[q], has_feature(b, VIRTIO_RING_F_EVENT_IDX));
	bq->broken = false;
	bq->dirty = false;
	drop_inflight(b, q);
	if (running(b, q))
		schedule(b, q, true);
}

void emu_blk_queue_started(struct emu_blk *b, unsigned q)
{
	if (q < b->nqueues)
		start_queue(b, q);
}

/* A VF stops a queue only once every request it took is complete, so the
 * ring state it stores leaves nothing half done (last_avail == last_used). */
void emu_blk_queue_stopping(struct emu_blk *b, unsigned q)
{
	struct emu_bq *bq;
	struct emu_dirty *log;
	struct emu_fault f;

	if (q >= b->nqueues)
		return;
	bq = &b->q[q];
	/* --fault blk-no-drain: what is in flight is forgotten, undone */
	if (!b->no_drain && bq->ninflight && !bq->broken && emu_vring_ready(&bq->ring, b->dma, &f) == 0 &&
	    get_log(b, q, &log) == 0)
		complete_some(b, q, true, log);
	drop_inflight(b, q);
	flush(b, q);
	bq->pending = false;
}

void emu_blk_driver_ok(struct emu_blk *b)
{
	for (unsigned q = 0; q < b->nqueues; q++)
		if (b->v->vq[q].enabled)
			start_queue(b, q);
}

void emu_blk_reset(struct emu_blk *b)
{
	for (unsigned q = 0; q < b->nqueues; q++) {
		struct emu_bq *bq = &b->q[q];

		bq->pending = bq->soft = bq->dirty = bq->broken = false;
		drop_inflight(b, q);
		emu_vring_init(&bq->ring, &b->v->vq[q], false);
	}
	b->dirty.resolved = false;
	b->orphaned = false;
}

void emu_blk_before_unmap(struct emu_blk *b)
{
	if (!b->client)
		return;
	/* requests in flight point into memory that is about to go */
	for (unsigned q = 0; q < b->nqueues; q++) {
		struct emu_dirty *log;
		struct emu_fault f;

		if (b->q[q].ninflight && !b->q[q].broken &&
		    emu_vring_ready(&b->q[q].ring, b->dma, &f) == 0 && get_log(b, q, &log) == 0)
			complete_some(b, q, true, log);
	}
	flush_all(b);
}

void emu_blk_client(struct emu_blk *b, bool present)
{
	if (!present) {
		emu_blk_before_unmap(b);
		for (unsigned q = 0; q < b->nqueues; q++) {
			b->q[q].pending = false;
			drop_inflight(b, q);
		}
		b->orphaned = true;
	}
	b->client = present;
}

void emu_blk_hang_up(struct emu_blk *b)
{
	for (unsigned q = 0; q < b->nqueues; q++) {
		b->q[q].pending = b->q[q].soft = b->q[q].dirty = false;
		drop_inflight(b, q);
	}
	b->orphaned = true;
	b->client = false;
}

int emu_blk_resize(struct emu_blk *b, struct cerr *e)
{
	uint64_t sectors;

	if (b->file) {
		struct stat st;

		if (fstat(b->fd, &st) < 0)
			return cerr_set(e, errno, "cannot stat the backing file: %s", strerror(errno));
		sectors = (uint64_t)st.st_size / SECTOR;
	} else {
		sectors = b->capacity * 2;
		if (ftruncate(b->fd, (off_t)(sectors * SECTOR)) < 0)
			return cerr_set(e, errno, "cannot grow the memory disk to %" PRIu64
					" sectors: %s", sectors, strerror(errno));
	}
	set_capacity(b, sectors);
	b->v->config_generation++;
	b->resizes++;
	config_interrupt(b);
	return 0;
}

/* ---- counters ---- */

static const char *order_name(enum emu_blk_order o)
{
	return o == EMU_BLK_ORDER_FIFO ? "fifo" : o == EMU_BLK_ORDER_REVERSE ? "reverse" : "random";
}

void emu_blk_print(const struct emu_blk *b, FILE *out)
{
	fprintf(out, "blk: capacity %" PRIu64 " sectors, completion order %s, %" PRIu64
		" resizes, %" PRIu64 " config irqs, %" PRIu64 " device errors\n",
		b->capacity, order_name(b->order), b->resizes, b->config_irqs, b->device_errors);
	for (unsigned q = 0; q < b->nqueues; q++) {
		const struct emu_bq_stats *s = &b->q[q].st;
		const struct emu_vring *r = &b->q[q].ring;

		/* what the rings in guest memory say now, for a queue that looks stuck */
		if (r->mapped && r->dma_gen == b->dma->gen)
			fprintf(out, "  queue %u ring: avail->idx %u, used->idx %u, used->flags 0x%x, "
				"avail->flags 0x%x, in flight %u, pending %d\n", q,
				le16toh(__atomic_load_n(&r->avail->idx, __ATOMIC_ACQUIRE)),
				le16toh(r->used->idx), le16toh(r->used->flags),
				le16toh(r->avail->flags), b->q[q].ninflight, b->q[q].pending);
		fprintf(out, "  queue %u: %" PRIu64 " requests (%" PRIu64 " read, %" PRIu64
			" write, %" PRIu64 " flush, %" PRIu64 " get-id, %" PRIu64 " discard, %" PRIu64
			" write-zeroes), %" PRIu64 " ioerr, %" PRIu64 " unsupp, %" PRIu64
			" no status, %" PRIu64 " out of order, in flight max %" PRIu64 ", irqs %" PRIu64
			", errors %" PRIu64 "\n", q, s->requests, s->reads, s->writes, s->flushes,
			s->get_ids, s->discards, s->write_zeroes, s->ioerr, s->unsupp, s->no_status,
			s->out_of_order, s->max_inflight, s->irqs, s->errors);
	}
}

void emu_blk_json(const struct emu_blk *b, FILE *out)
{
	fprintf(out, "\"blk\":{\"capacity\":%" PRIu64 ",\"order\":\"%s\",\"resizes\":%" PRIu64
		",\"config_irqs\":%" PRIu64 ",\"device_errors\":%" PRIu64 ",\"queues\":[",
		b->capacity, order_name(b->order), b->resizes, b->config_irqs, b->device_errors);
	for (unsigned q = 0; q < b->nqueues; q++) {
		const struct emu_bq_stats *s = &b->q[q].st;

		fprintf(out, "%s{\"requests\":%" PRIu64 ",\"reads\":%" PRIu64 ",\"writes\":%" PRIu64
			",\"flushes\":%" PRIu64 ",\"get_ids\":%" PRIu64 ",\"discards\":%" PRIu64
			",\"write_zeroes\":%" PRIu64 ",\"bytes_read\":%" PRIu64
			",\"bytes_written\":%" PRIu64 ",\"ioerr\":%" PRIu64 ",\"unsupp\":%" PRIu64
			",\"no_status\":%" PRIu64 ",\"out_of_order\":%" PRIu64
			",\"max_inflight\":%" PRIu64 ",\"irqs\":%" PRIu64 ",\"irqs_suppressed\":%" PRIu64
			",\"irqs_lost\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"dma_errors\":%" PRIu64 "}",
			q ? "," : "", s->requests, s->reads, s->writes, s->flushes, s->get_ids,
			s->discards, s->write_zeroes, s->bytes_read, s->bytes_written, s->ioerr,
			s->unsupp, s->no_status, s->out_of_order, s->max_inflight, s->irqs,
			s->irqs_suppressed, s->irqs_lost, s->errors, s->dma_errors);
	}
	fprintf(out, "]}");
}

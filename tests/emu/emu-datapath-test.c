/* Device tests of ifcvf-emu's datapath. The test is the driver: it starts
 * the real emulator, opens it with the project's vfio-user client, programs
 * it with the project's IFCVF driver (src/ifcvf), and lays out split rings
 * of its own in a memfd that it DMA-maps at IOVA = offset (two adjacent
 * mappings, so buffers may cross from one into the other). The ring code
 * here is written independently of the emulator's. Counters come from
 * --stats-file. No result depends on a time measurement; every wait is
 * bounded. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-glib/json-glib.h>
#include <linux/virtio_ring.h>

#include "gen-frame.h"
#include "ifcvf-ctrlq.h"
#include "ifcvf-hw.h"
#include "ifcvf-io.h"
#include "test-util.h"

#define MEM_SIZE (16u << 20)
#define MEM_SPLIT (8u << 20)       /* second DMA mapping starts here */
#define MEM_FIXED (12u << 20)      /* fixed-address buffers live above this */
#define PAGE 4096u
#define WAIT_USEC (10 * G_USEC_PER_SEC)
#define HDR_LEN 12u
#define MAX_VEC 16u
#define MAX_CHAIN 20u
#define BIT(n) (G_GUINT64_CONSTANT(1) << (n))
#define VF_MAC "02:fc:00:00:00:01"

/* ---- one emulated VF, driven from here ---- */

typedef struct {
	TestEmu *emu;
	char *dir;
	char *stats_path;
	gint64 stats_seq;
	struct vfio_dev *dev;
	struct ifcvf_hw hw;
	int memfd;
	guint8 *mem;
	guint64 brk;
	guint npairs;
	guint nvec;
	int efd[MAX_VEC];
	/* extra mappings (log bitmap, mediated rings) */
	guint8 *extra[4];
	guint64 extra_iova[4];
	gsize extra_size[4];
	guint nextra;
} Vf;

#define OK(call)                                                  \
	do {                                                      \
		struct cerr e_ = { 0 };                           \
		struct cerr *e = &e_;                             \
		if ((call) < 0)                                   \
			g_error("%s: %s", #call, e_.msg);         \
	} while (0)

/* An emulator with @extra options, opened with the driver options @dargs. */
static Vf *vf_new_with(const char *const *extra, guint npairs, const struct ifcvf_devargs *dargs)
{
	g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error = NULL;
	struct cerr err = { 0 };
	Vf *vf = g_new0(Vf, 1);

	vf->npairs = npairs;
	vf->dir = g_dir_make_tmp("emu-dp-XXXXXX", &error);
	g_assert_no_error(error);
	vf->stats_path = g_build_filename(vf->dir, "stats.json", NULL);
	g_ptr_array_add(args, g_strdup("--queue-pairs"));
	g_ptr_array_add(args, g_strdup_printf("%u", npairs));
	g_ptr_array_add(args, g_strdup("--stats-file"));
	g_ptr_array_add(args, g_strdup(vf->stats_path));
	for (guint i = 0; extra && extra[i]; i++)
		g_ptr_array_add(args, g_strdup(extra[i]));
	g_ptr_array_add(args, NULL);
	vf->emu = test_emu_start((const char *const *)args->pdata);

	if (vfio_dev_open(vf->emu->address, NULL, &vf->dev, &err) < 0)
		g_error("open %s: %s", vf->emu->address, err.msg);
	if (ifcvf_hw_init(&vf->hw, vf->dev, dargs, &err) < 0)
		g_error("init: %s", err.msg);

	vf->memfd = memfd_create("guest", MFD_CLOEXEC);
	g_assert_cmpint(vf->memfd, >=, 0);
	g_assert_cmpint(ftruncate(vf->memfd, MEM_SIZE), ==, 0);
	vf->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, vf->memfd, 0);
	g_assert_true(vf->mem != MAP_FAILED);
	OK(vfio_dev_dma_map(vf->dev, 0, MEM_SPLIT, vf->mem, vf->memfd, 0, e));
	OK(vfio_dev_dma_map(vf->dev, MEM_SPLIT, MEM_SIZE - MEM_SPLIT, vf->mem + MEM_SPLIT, vf->memfd,
			    MEM_SPLIT, e));
	vf->brk = PAGE;

	vf->nvec = 2 * npairs + 2;
	g_assert_cmpuint(vf->nvec, <=, MAX_VEC);
	for (guint i = 0; i < vf->nvec; i++) {
		vf->efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		g_assert_cmpint(vf->efd[i], >=, 0);
	}
	OK(vfio_dev_set_irq_eventfds(vf->dev, VFIO_DEV_IRQ_MSIX, 0, vf->nvec, vf->efd, e));
	return vf;
}

static Vf *vf_new(const char *const *extra, guint npairs)
{
	const struct ifcvf_devargs dargs = { 0 };

	return vf_new_with(extra, npairs, &dargs);
}

/* DMA-map @size more bytes of fresh memory at @iova. */
static guint8 *vf_map_extra(Vf *vf, guint64 iova, gsize size)
{
	int fd = memfd_create("extra", MFD_CLOEXEC);
	guint8 *p;

	g_assert_cmpuint(vf->nextra, <, G_N_ELEMENTS(vf->extra));
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(ftruncate(fd, (off_t)size), ==, 0);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	g_assert_true(p != MAP_FAILED);
	OK(vfio_dev_dma_map(vf->dev, iova, size, p, fd, 0, e));
	close(fd);
	vf->extra[vf->nextra] = p;
	vf->extra_iova[vf->nextra] = iova;
	vf->extra_size[vf->nextra] = size;
	vf->nextra++;
	return p;
}

static void vf_free(Vf *vf)
{
	vfio_dev_close(vf->dev);
	test_emu_stop(vf->emu);
	for (guint i = 0; i < vf->nvec; i++)
		close(vf->efd[i]);
	for (guint i = 0; i < vf->nextra; i++)
		munmap(vf->extra[i], vf->extra_size[i]);
	munmap(vf->mem, MEM_SIZE);
	close(vf->memfd);
	unlink(vf->stats_path);
	rmdir(vf->dir);
	g_free(vf->stats_path);
	g_free(vf->dir);
	g_free(vf);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Vf, vf_free)

/* Bump allocator below MEM_FIXED: the memfd starts zeroed. */
static guint64 vf_alloc(Vf *vf, gsize size, gsize align)
{
	guint64 at = (vf->brk + align - 1) & ~(guint64)(align - 1);

	g_assert_cmpuint(at + size, <=, MEM_FIXED);
	vf->brk = at + size;
	return at;
}

static void *vf_ptr(Vf *vf, guint64 iova)
{
	for (guint i = 0; i < vf->nextra; i++)
		if (iova >= vf->extra_iova[i] && iova < vf->extra_iova[i] + vf->extra_size[i])
			return vf->extra[i] + (iova - vf->extra_iova[i]);
	g_assert_cmpuint(iova, <, MEM_SIZE);
	return vf->mem + iova;
}

/* Reset, ACK, DRIVER, features, FEATURES_OK, config vector, MQ. */
static void vf_begin(Vf *vf, guint64 features)
{
	OK(ifcvf_hw_reset(&vf->hw, 1000, e));
	OK(ifcvf_hw_add_status(&vf->hw, VIRTIO_STATUS_ACKNOWLEDGE, e));
	OK(ifcvf_hw_add_status(&vf->hw, VIRTIO_STATUS_DRIVER, e));
	OK(ifcvf_hw_set_features(&vf->hw, features | BIT(VIRTIO_F_VERSION_1), e));
	OK(ifcvf_hw_set_config_vector(&vf->hw, 0, e));
	OK(ifcvf_hw_set_mq(&vf->hw, 2 * vf->npairs, e));
}

static void vf_driver_ok(Vf *vf)
{
	OK(ifcvf_hw_add_status(&vf->hw, VIRTIO_STATUS_DRIVER_OK, e));
}

/* A register read: the emulator answers it only after it finished the
 * datapath round in which it published what we already saw, interrupts
 * included. */
static guint8 vf_sync(Vf *vf)
{
	guint8 status = 0;

	OK(ifcvf_hw_get_status(&vf->hw, &status, e));
	return status;
}

/* ---- counters (--stats-file) ---- */

static JsonNode *vf_stats(Vf *vf)
{
	gint64 deadline = g_get_monotonic_time() + WAIT_USEC;

	g_assert_cmpint(kill(vf->emu->pid, SIGUSR1), ==, 0);
	for (;;) {
		g_autofree char *text = NULL;
		g_autoptr(JsonParser) parser = json_parser_new();

		if (g_file_get_contents(vf->stats_path, &text, NULL, NULL) &&
		    json_parser_load_from_data(parser, text, -1, NULL)) {
			JsonObject *root = json_node_get_object(json_parser_get_root(parser));
			gint64 seq = json_object_get_int_member(root, "seq");

			if (seq > vf->stats_seq) {
				vf->stats_seq = seq;
				return json_parser_steal_root(parser);
			}
		}
		if (g_get_monotonic_time() > deadline)
			g_error("no new %s within 10 s of SIGUSR1", vf->stats_path);
		g_usleep(2000);
	}
}

static JsonObject *stats_queue(JsonNode *root, guint q)
{
	JsonObject *dp = json_object_get_object_member(json_node_get_object(root), "datapath");
	JsonArray *qs = json_object_get_array_member(dp, "queues");

	return json_array_get_object_element(qs, q);
}

static gint64 qstat(JsonNode *root, guint q, const char *name)
{
	return json_object_get_int_member(stats_queue(root, q), name);
}

static gint64 genstat(JsonNode *root, const char *name)
{
	JsonObject *wire = json_object_get_object_member(json_node_get_object(root), "wire");

	return json_object_get_int_member(json_object_get_object_member(wire, "gen"), name);
}

static gboolean gen_finished(JsonNode *root)
{
	JsonObject *wire = json_object_get_object_member(json_node_get_object(root), "wire");

	return json_object_get_boolean_member(json_object_get_object_member(wire, "gen"),
					      "finished");
}

/* Poll the counters until queue @q's @name reaches @want (bounded). */
static void wait_qstat(Vf *vf, guint q, const char *name, gint64 want)
{
	gint64 deadline = g_get_monotonic_time() + WAIT_USEC;

	for (;;) {
		g_autoptr(JsonNode) st = vf_stats(vf);
		gint64 v = qstat(st, q, name);

		if (v >= want)
			return;
		if (g_get_monotonic_time() > deadline)
			g_error("queue %u %s is %" G_GINT64_FORMAT ", not %" G_GINT64_FORMAT
				" within 10 s", q, name, v, want);
		g_usleep(5000);
	}
}

static gint64 dpstat(JsonNode *root, const char *name)
{
	JsonObject *dp = json_object_get_object_member(json_node_get_object(root), "datapath");

	return json_object_get_int_member(dp, name);
}

/* Poll the counters until the generator sent @want frames (bounded). */
static void wait_gen_sent(Vf *vf, gint64 want)
{
	gint64 deadline = g_get_monotonic_time() + WAIT_USEC;

	for (;;) {
		g_autoptr(JsonNode) st = vf_stats(vf);
		gint64 v = genstat(st, "sent");

		if (v >= want)
			return;
		if (g_get_monotonic_time() > deadline)
			g_error("the generator sent %" G_GINT64_FORMAT ", not %" G_GINT64_FORMAT
				" within 10 s", v, want);
		g_usleep(5000);
	}
}

static void wait_gen_finished(Vf *vf)
{
	gint64 deadline = g_get_monotonic_time() + WAIT_USEC;

	for (;;) {
		g_autoptr(JsonNode) st = vf_stats(vf);

		if (gen_finished(st))
			return;
		if (g_get_monotonic_time() > deadline)
			g_error("the generator did not finish within 10 s");
		g_usleep(5000);
	}
}

/* ---- eventfds ---- */

static guint64 efd_take(int fd)
{
	eventfd_t v = 0;

	if (eventfd_read(fd, &v) < 0)
		return 0;
	return v;
}

static void efd_wait(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	g_assert_cmpint(poll(&p, 1, WAIT_USEC / 1000), ==, 1);
	g_assert_cmpuint(efd_take(fd), >, 0);
}

/* ---- a split ring, driver side (independent of the emulator's code) ---- */

typedef struct {
	guint64 iova;
	guint32 len;
	gboolean write;
} Buf;

typedef struct {
	Vf *vf;
	guint q;
	guint16 size;
	guint64 desc_iova, avail_iova, used_iova;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	guint16 next_desc;
	guint16 avail_idx;
	guint16 used_seen;
	/* what each head's chain holds, to read RX data back */
	Buf bufs[1024][MAX_CHAIN];
	guint nbufs[1024];
} Ring;

static Ring *ring_new(Vf *vf, guint q, guint16 size)
{
	Ring *r = g_new0(Ring, 1);

	g_assert_cmpuint(size, <=, 1024);
	r->vf = vf;
	r->q = q;
	r->size = size;
	/* each part on pages of its own (the dirty-log test relies on it) */
	r->desc_iova = vf_alloc(vf, 16u * size, PAGE);
	r->avail_iova = vf_alloc(vf, 6u + 2u * size, PAGE);
	r->used_iova = vf_alloc(vf, 6u + 8u * size, PAGE);
	vf->brk = (vf->brk + PAGE - 1) & ~(guint64)(PAGE - 1);
	r->desc = vf_ptr(vf, r->desc_iova);
	r->avail = vf_ptr(vf, r->avail_iova);
	r->used = vf_ptr(vf, r->used_iova);
	return r;
}

/* Program and enable the queue, starting at ring index 0 (buffers may
 * have been posted already). */
static void ring_start(Ring *r)
{
	struct ifcvf_vring_cfg cfg = {
		.desc = r->desc_iova, .avail = r->avail_iova, .used = r->used_iova,
		.size = r->size, .vector = (guint16)(r->q + 1),
	};

	OK(ifcvf_hw_queue_program(&r->vf->hw, r->q, &cfg, e));
	OK(ifcvf_hw_queue_enable(&r->vf->hw, r->q, e));
}

static guint16 *ring_used_event(Ring *r)
{
	return &r->avail->ring[r->size];
}

static guint16 ring_avail_event(Ring *r)
{
	return __atomic_load_n((guint16 *)&r->used->ring[r->size], __ATOMIC_ACQUIRE);
}

static guint16 ring_add(Ring *r, const Buf *bufs, guint n, gboolean indirect)
{
	guint16 head = r->next_desc & (r->size - 1);

	g_assert_cmpuint(n, <=, MAX_CHAIN);
	if (indirect) {
		guint64 t = vf_alloc(r->vf, 16u * n, 16);
		struct vring_desc *table = vf_ptr(r->vf, t);

		for (guint i = 0; i < n; i++) {
			table[i].addr = bufs[i].iova;
			table[i].len = bufs[i].len;
			table[i].flags = (bufs[i].write ? VRING_DESC_F_WRITE : 0) |
					 (i + 1 < n ? VRING_DESC_F_NEXT : 0);
			table[i].next = (guint16)(i + 1);
		}
		r->desc[head].addr = t;
		r->desc[head].len = 16u * n;
		r->desc[head].flags = VRING_DESC_F_INDIRECT;
		r->desc[head].next = 0;
		r->next_desc++;
	} else {
		for (guint i = 0; i < n; i++) {
			guint16 d = r->next_desc++ & (r->size - 1);

			r->desc[d].addr = bufs[i].iova;
			r->desc[d].len = bufs[i].len;
			r->desc[d].flags = (bufs[i].write ? VRING_DESC_F_WRITE : 0) |
					   (i + 1 < n ? VRING_DESC_F_NEXT : 0);
			r->desc[d].next = r->next_desc & (r->size - 1);
		}
	}
	memcpy(r->bufs[head], bufs, n * sizeof(*bufs));
	r->nbufs[head] = n;
	r->avail->ring[r->avail_idx & (r->size - 1)] = head;
	__atomic_store_n(&r->avail->idx, ++r->avail_idx, __ATOMIC_RELEASE);
	return head;
}

static void ring_kick(Ring *r)
{
	OK(ifcvf_hw_notify_queue(&r->vf->hw, r->q, e));
}

static guint16 ring_used_idx(Ring *r)
{
	return __atomic_load_n(&r->used->idx, __ATOMIC_ACQUIRE);
}

/* Wait until @n used entries are there beyond what was taken. */
static void ring_wait(Ring *r, guint n)
{
	gint64 deadline = g_get_monotonic_time() + WAIT_USEC;
	guint spins = 0;

	while ((guint16)(ring_used_idx(r) - r->used_seen) < n) {
		if (g_get_monotonic_time() > deadline)
			g_error("queue %u: %u used entries, expected %u within 10 s", r->q,
				(guint16)(ring_used_idx(r) - r->used_seen), n);
		/* yield for a while before sleeping: the perf case polls */
		if (spins++ < 2000)
			g_thread_yield();
		else
			g_usleep(1000);
	}
}

static void ring_take(Ring *r, guint16 *ret_id, guint32 *ret_len)
{
	struct vring_used_elem *u = &r->used->ring[r->used_seen++ & (r->size - 1)];

	*ret_id = (guint16)u->id;
	*ret_len = u->len;
}

/* Copy @len bytes of chain @head's data (from its first buffer on) out. */
static void ring_read(Ring *r, guint16 head, guint8 *out, gsize len)
{
	for (guint i = 0; i < r->nbufs[head] && len; i++) {
		gsize piece = MIN(len, r->bufs[head][i].len);

		memcpy(out, vf_ptr(r->vf, r->bufs[head][i].iova), piece);
		out += piece;
		len -= piece;
	}
	g_assert_cmpuint(len, ==, 0);
}

/* Post @n RX buffers of @size bytes each. */
static void rx_post(Ring *rx, guint n, guint32 size)
{
	for (guint i = 0; i < n; i++) {
		Buf b = { vf_alloc(rx->vf, size, 64), size, TRUE };

		ring_add(rx, &b, 1, FALSE);
	}
}

static void fill(guint8 *p, gsize len, guint seed)
{
	for (gsize i = 0; i < len; i++)
		p[i] = (guint8)(seed * 17u + i * 3u + 1u);
}

/* Send @frame as a TX chain: header and frame in one buffer, or split into
 * @pieces buffers after a separate header buffer. */
static guint16 tx_send(Ring *tx, const guint8 *frame, gsize len, guint pieces, gboolean indirect)
{
	Buf bufs[MAX_CHAIN];
	guint n = 0;

	if (pieces == 0) {
		guint64 b = vf_alloc(tx->vf, HDR_LEN + len, 64);

		memset(vf_ptr(tx->vf, b), 0, HDR_LEN);
		memcpy((guint8 *)vf_ptr(tx->vf, b) + HDR_LEN, frame, len);
		bufs[n++] = (Buf){ b, (guint32)(HDR_LEN + len), FALSE };
	} else {
		guint64 h = vf_alloc(tx->vf, HDR_LEN, 16);
		gsize off = 0;

		memset(vf_ptr(tx->vf, h), 0, HDR_LEN);
		bufs[n++] = (Buf){ h, HDR_LEN, FALSE };
		for (guint i = 0; i < pieces; i++) {
			gsize piece = i + 1 < pieces ? len / pieces : len - off;
			guint64 b = vf_alloc(tx->vf, piece, 8);

			memcpy(vf_ptr(tx->vf, b), frame + off, piece);
			bufs[n++] = (Buf){ b, (guint32)piece, FALSE };
			off += piece;
		}
	}
	return ring_add(tx, bufs, n, indirect);
}

/* Take one RX entry and check it holds @frame behind a header with
 * num_buffers @nbufs, spread over @nbufs consecutive entries. */
static void rx_expect(Ring *rx, const guint8 *frame, gsize len, guint nbufs)
{
	g_autofree guint8 *got = g_malloc(HDR_LEN + len);
	gsize have = 0;

	ring_wait(rx, nbufs);
	for (guint i = 0; i < nbufs; i++) {
		guint16 id;
		guint32 ulen;

		ring_take(rx, &id, &ulen);
		g_assert_cmpuint(have + ulen, <=, HDR_LEN + len);
		ring_read(rx, id, got + have, ulen);
		have += ulen;
	}
	g_assert_cmpuint(have, ==, HDR_LEN + len);
	/* virtio_net_hdr_v1: flags, gso_type, hdr_len, gso_size, csum_start,
	 * csum_offset all 0; num_buffers */
	for (guint i = 0; i < 10; i++)
		g_assert_cmpuint(got[i], ==, 0);
	g_assert_cmpuint(got[10] | got[11] << 8, ==, nbufs);
	g_assert_cmpmem(got + HDR_LEN, len, frame, len);
}

/* ---- tests ---- */

static void test_loop(void)
{
	g_autoptr(Vf) vf = vf_new(NULL, 1);
	Ring *rx, *tx;
	guint8 frame[5][1500];
	gsize lens[5] = { 100, 60, 300, 1400, 700 };
	guint64 cross = MEM_SPLIT - 0x40;
	Buf ib[2];

	vf_begin(vf, 0);
	rx = ring_new(vf, 0, 256);
	tx = ring_new(vf, 1, 256);
	ring_start(rx);
	ring_start(tx);
	vf_driver_ok(vf);

	/* RX: four plain buffers, one through an indirect table, three more */
	rx_post(rx, 4, 2048);
	ib[0] = (Buf){ vf_alloc(vf, 8, 8), 8, TRUE };
	ib[1] = (Buf){ vf_alloc(vf, 2040, 8), 2040, TRUE };
	ring_add(rx, ib, 2, TRUE);
	rx_post(rx, 3, 2048);
	ring_kick(rx);

	for (guint i = 0; i < 5; i++)
		fill(frame[i], lens[i], i);
	/* header + frame in one descriptor */
	tx_send(tx, frame[0], lens[0], 0, FALSE);
	ring_kick(tx);
	rx_expect(rx, frame[0], lens[0], 1);
	ring_wait(tx, 1);
	{
		guint16 id;
		guint32 len;

		ring_take(tx, &id, &len);
		g_assert_cmpuint(id, ==, 0);
		g_assert_cmpuint(len, ==, 0);
	}
	vf_sync(vf);
	efd_wait(vf->efd[1]);
	efd_wait(vf->efd[2]);

	/* header, then the frame in two pieces */
	tx_send(tx, frame[1], lens[1], 2, FALSE);
	ring_kick(tx);
	rx_expect(rx, frame[1], lens[1], 1);

	/* a buffer crossing from one DMA mapping into the next */
	{
		Buf b[2] = { { vf_alloc(vf, HDR_LEN, 16), HDR_LEN, FALSE },
			     { cross, (guint32)lens[2], FALSE } };

		memset(vf_ptr(vf, b[0].iova), 0, HDR_LEN);
		memcpy(vf_ptr(vf, cross), frame[2], lens[2]);
		ring_add(tx, b, 2, FALSE);
		ring_kick(tx);
		rx_expect(rx, frame[2], lens[2], 1);
	}

	/* TX through an indirect table of four; RX into the indirect buffer
	 * (8 + 2040 bytes) next */
	tx_send(tx, frame[3], lens[3], 3, TRUE);
	ring_kick(tx);
	rx_expect(rx, frame[3], lens[3], 1);
	tx_send(tx, frame[4], lens[4], 0, FALSE);
	ring_kick(tx);
	rx_expect(rx, frame[4], lens[4], 1);
	ring_wait(tx, 4);

	/* more frames than one burst with a single kick: the queue keeps going */
	rx_post(rx, 200, 256);
	ring_kick(rx);
	for (guint i = 0; i < 200; i++) {
		guint8 f[64];

		fill(f, sizeof(f), 100 + i);
		tx_send(tx, f, sizeof(f), 0, FALSE);
	}
	ring_kick(tx);
	for (guint i = 0; i < 200; i++) {
		guint8 f[64];

		fill(f, sizeof(f), 100 + i);
		rx_expect(rx, f, sizeof(f), 1);
	}
	{
		g_autoptr(JsonNode) st = vf_stats(vf);

		g_assert_cmpint(qstat(st, 0, "frames"), ==, 205);
		g_assert_cmpint(qstat(st, 1, "frames"), ==, 205);
		g_assert_cmpint(qstat(st, 0, "rx_dropped"), ==, 0);
		g_assert_cmpint(qstat(st, 0, "errors"), ==, 0);
		g_assert_cmpint(qstat(st, 1, "errors"), ==, 0);
		g_assert_cmpint(qstat(st, 0, "bytes"), ==, 100 + 60 + 300 + 1400 + 700 + 200 * 64);
	}
	g_free(rx);
	g_free(tx);
}

static void test_mrg_rxbuf(void)
{
	g_autoptr(Vf) vf = vf_new(NULL, 1);
	guint8 big[1000], small[200];
	Ring *rx, *tx;

	fill(big, sizeof(big), 1);
	fill(small, sizeof(small), 2);

	/* with MRG_RXBUF: 12 + 1000 bytes over four 256-byte buffers */
	vf_begin(vf, BIT(VIRTIO_NET_F_MRG_RXBUF));
	rx = ring_new(vf, 0, 64);
	tx = ring_new(vf, 1, 64);
	ring_start(rx);
	ring_start(tx);
	vf_driver_ok(vf);
	rx_post(rx, 8, 256);
	ring_kick(rx);
	tx_send(tx, big, sizeof(big), 0, FALSE);
	ring_kick(tx);
	ring_wait(rx, 4);
	{
		guint32 want[4] = { 256, 256, 256, 1012 - 768 };

		for (guint i = 0; i < 4; i++) {
			struct vring_used_elem *u = &rx->used->ring[i];

			g_assert_cmpuint(u->id, ==, i);
			g_assert_cmpuint(u->len, ==, want[i]);
		}
	}
	rx_expect(rx, big, sizeof(big), 4);
	tx_send(tx, small, sizeof(small), 0, FALSE);
	ring_kick(tx);
	rx_expect(rx, small, sizeof(small), 1);
	g_free(rx);
	g_free(tx);

	/* without: a frame must fit one chain */
	vf_begin(vf, 0);
	rx = ring_new(vf, 0, 64);
	tx = ring_new(vf, 1, 64);
	ring_start(rx);
	ring_start(tx);
	vf_driver_ok(vf);
	rx_post(rx, 1, 256);
	{
		Buf b[3];

		for (guint i = 0; i < 3; i++)
			b[i] = (Buf){ vf_alloc(vf, 512, 64), 512, TRUE };
		ring_add(rx, b, 3, FALSE);
	}
	ring_kick(rx);
	tx_send(tx, big, sizeof(big), 0, FALSE);
	ring_kick(tx);
	ring_wait(tx, 1);
	vf_sync(vf);
	g_assert_cmpuint(ring_used_idx(rx), ==, 0);
	{
		g_autoptr(JsonNode) st = vf_stats(vf);

		g_assert_cmpint(qstat(st, 0, "rx_dropped"), ==, 1);
	}
	/* the small one takes the 256-byte buffer, the big one the 3x512 chain */
	tx_send(tx, small, sizeof(small), 0, FALSE);
	tx_send(tx, big, sizeof(big), 0, FALSE);
	ring_kick(tx);
	rx_expect(rx, small, sizeof(small), 1);
	rx_expect(rx, big, sizeof(big), 1);
	g_free(rx);
	g_free(tx);
}

static void send_and_wait(Vf *vf, Ring *tx, Ring *rx, guint seed)
{
	guint8 f[80];

	fill(f, sizeof(f), seed);
	tx_send(tx, f, sizeof(f), 0, FALSE);
	ring_kick(tx);
	rx_expect(rx, f, sizeof(f), 1);
	ring_wait(tx, 1);
	tx->used_seen++;
	vf_sync(vf);
}

static void test_event_idx(void)
{
	g_autoptr(Vf) vf = vf_new(NULL, 1);
	Ring *rx, *tx;
	int rx_irq;

	vf_begin(vf, BIT(VIRTIO_RING_F_EVENT_IDX));
	rx = ring_new(vf, 0, 64);
	tx = ring_new(vf, 1, 64);
	*ring_used_event(rx) = 3;    /* interrupt when used->idx passes 3 */
	ring_start(rx);
	ring_start(tx);
	vf_driver_ok(vf);
	rx_irq = vf->efd[1];
	rx_post(rx, 16, 256);
	ring_kick(rx);

	for (guint i = 1; i <= 6; i++) {
		send_and_wait(vf, tx, rx, i);
		g_assert_cmpuint(efd_take(rx_irq), ==, i == 4 ? 1 : 0);
	}
	*ring_used_event(rx) = 7;
	for (guint i = 7; i <= 9; i++) {
		send_and_wait(vf, tx, rx, i);
		g_assert_cmpuint(efd_take(rx_irq), ==, i == 8 ? 1 : 0);
	}
	/* TX went idle: it asked for a kick at the next buffer */
	g_assert_cmpuint(ring_avail_event(tx), ==, tx->avail_idx);
	{
		g_autoptr(JsonNode) st = vf_stats(vf);

		g_assert_cmpint(qstat(st, 0, "irqs"), ==, 2);
		g_assert_cmpint(qstat(st, 0, "irqs_suppressed"), ==, 7);
	}
	g_free(rx);
	g_free(tx);
}

static void test_no_interrupt(void)
{
	g_autoptr(Vf) vf = vf_new(NULL, 1);
	Ring *rx, *tx;
	guint8 f[80];
	int rx_irq;

	vf_begin(vf, 0);
	rx = ring_new(vf, 0, 64);
	tx = ring_new(vf, 1, 64);
	ring_start(rx);
	ring_start(tx);
	vf_driver_ok(vf);
	rx_irq = vf->efd[1];
	rx->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	rx_post(rx, 4, 256);
	ring_kick(rx);

	send_and_wait(vf, tx, rx, 1);
	g_assert_cmpuint(efd_take(rx_irq), ==, 0);
	/* buffers are there: the device tells the driver not to kick refills */
	g_assert_cmpuint(rx->used->flags & VRING_USED_F_NO_NOTIFY, !=, 0);
	/* TX is idle: kicks welcome */
	g_assert_cmpuint(tx->used->flags & VRING_USED_F_NO_NOTIFY, ==, 0);

	rx->avail->flags = 0;
	send_and_wait(vf, tx, rx, 2);
	g_assert_cmpuint(efd_take(rx_irq), ==, 1);
	send_and_wait(vf, tx, rx, 3);
	send_and_wait(vf, tx, rx, 4);

	/* out of buffers: the frame waits and the device asks for a kick */
	fill(f, sizeof(f), 5);
	tx_send(tx, f, sizeof(f), 0, FALSE);
	ring_kick(tx);
	ring_wait(tx, 1);
	vf_sync(vf);
	g_assert_cmpuint(ring_used_idx(rx), ==, 4);
	g_assert_cmpuint(rx->used->flags & VRING_USED_F_NO_NOTIFY, ==, 0);
	{
		g_autoptr(JsonNode) st = vf_stats(vf);

		g_assert_cmpint(qstat(st, 0, "rx_fifo_depth"), ==, 1);
		g_assert_cmpint(qstat(st, 0, "irqs_suppressed"), ==, 1);
	}
	rx_post(rx, 1, 256);
	ring_kick(rx);
	rx_expect(rx, f, sizeof(f), 1);
	vf_sync(vf);
	g_assert_cmpuint(rx->used->flags & VRING_USED_F_NO_NOTIFY, !=, 0);
	g_free(rx);
	g_free(tx);
}

static void test_bad_dma(void)
{
	g_autoptr(Vf) vf = vf_new(NULL, 2);
	Ring *r[4];
	guint8 status;
	guint8 f[90];

	vf_begin(vf, 0);
	for (guint q = 0; q < 4; q++) {
		r[q] = ring_new(vf, q, 32);
		ring_start(r[q]);
	}
	vf_driver_ok(vf);
	g_assert_cmpuint(efd_take(vf->efd[0]), ==, 0);

	/* TX of pair 0: a buffer that runs past the end of guest memory */
	{
		Buf b = { MEM_SIZE - 16, 64, FALSE };

		ring_add(r[1], &b, 1, FALSE);
		ring_kick(r[1]);
	}
	wait_qstat(vf, 1, "dma_errors", 1);
	status = vf_sync(vf);
	g_assert_cmphex(status & VIRTIO_STATUS_NEEDS_RESET, ==, VIRTIO_STATUS_NEEDS_RESET);
	efd_wait(vf->efd[0]);

	/* the queue stays stopped; pair 1 keeps working */
	fill(f, sizeof(f), 7);
	tx_send(r[1], f, sizeof(f), 0, FALSE);
	ring_kick(r[1]);
	rx_post(r[2], 4, 256);
	ring_kick(r[2]);
	tx_send(r[3], f, sizeof(f), 0, FALSE);
	ring_kick(r[3]);
	rx_expect(r[2], f, sizeof(f), 1);
	{
		g_autoptr(JsonNode) st = vf_stats(vf);

		g_assert_cmpint(qstat(st, 1, "errors"), ==, 1);
		g_assert_cmpint(qstat(st, 1, "chains"), ==, 0);
		g_assert_true(json_object_get_boolean_member(stats_queue(st, 1), "stopped"));
		g_assert_cmpint(qstat(st, 3, "errors"), ==, 0);
		g_assert_cmpint(qstat(st, 2, "frames"), ==, 1);
	}
	g_assert_cmpuint(ring_used_idx(r[1]), ==, 0);
	for (guint q = 0; q < 4; q++)
		g_free(r[q]);
}

static void test_long_chain(void)
{
	g_autoptr(Vf) vf = vf_new(NULL, 2);
	Ring *r[4];

	vf_begin(vf, BIT(VIRTIO_RING_F_INDIRECT_DESC));
	for (guint q = 0; q < 4; q++) {
		r[q] = ring_new(vf, q, 8);
		ring_start(r[q]);
	}
	vf_driver_ok(vf);

	/* TX of pair 0: descriptors 0 -> 1 -> 0 -> ... */
	{
		guint64 b = vf_alloc(vf, 64, 64);

		r[1]->desc[0] = (struct vring_desc){ b, 64, VRING_DESC_F_NEXT, 1 };
		r[1]->desc[1] = (struct vring_desc){ b, 64, VRING_DESC_F_NEXT, 0 };
		r[1]->avail->ring[0] = 0;
		__atomic_store_n(&r[1]->avail->idx, 1, __ATOMIC_RELEASE);
		ring_kick(r[1]);
	}
	/* TX of pair 1: an indirect table of 9 in a ring of 8 */
	{
		Buf b[9];

		for (guint i = 0; i < 9; i++)
			b[i] = (Buf){ vf_alloc(vf, 16, 16), 16, FALSE };
		ring_add(r[3], b, 9, TRUE);
		ring_kick(r[3]);
	}
	wait_qstat(vf, 1, "errors", 1);
	wait_qstat(vf, 3, "errors", 1);
	{
		g_autoptr(JsonNode) st = vf_stats(vf);

		g_assert_cmpint(qstat(st, 1, "dma_errors"), ==, 0);
		g_assert_cmpint(qstat(st, 3, "dma_errors"), ==, 0);
	}
	g_assert_cmphex(vf_sync(vf) & VIRTIO_STATUS_NEEDS_RESET, ==, VIRTIO_STATUS_NEEDS_RESET);

	/* after a reset the device works again: a table of 8 is fine */
	vf_begin(vf, BIT(VIRTIO_RING_F_INDIRECT_DESC));
	for (guint q = 0; q < 2; q++) {
		g_free(r[q]);
		r[q] = ring_new(vf, q, 8);
		ring_start(r[q]);
	}
	vf_driver_ok(vf);
	g_assert_cmphex(vf_sync(vf) & VIRTIO_STATUS_NEEDS_RESET, ==, 0);
	rx_post(r[0], 2, 2048);
	ring_kick(r[0]);
	{
		guint8 f[700];

		fill(f, sizeof(f), 3);
		tx_send(r[1], f, sizeof(f), 7, TRUE);
		ring_kick(r[1]);
		rx_expect(r[0], f, sizeof(f), 1);
	}
	for (guint q = 0; q < 4; q++)
		g_free(r[q]);
}

/* Check RX entries of @r hold generator frames @first.. in order. */
static void expect_gen_frames(Ring *r, guint64 first, guint count, gsize size)
{
	g_autofree guint8 *buf = g_malloc(HDR_LEN + size);
	guint8 mac[6] = { 0x02, 0xfc, 0x00, 0x00, 0x00, 0x01 };

	ring_wait(r, count);
	for (guint i = 0; i < count; i++) {
		guint16 id;
		guint32 len;
		guint32 stream = 0;
		guint64 seq = 0;

		ring_take(r, &id, &len);
		g_assert_cmpuint(len, ==, HDR_LEN + size);
		ring_read(r, id, buf, len);
		g_assert_cmpint(gen_frame_parse(buf + HDR_LEN, size, &stream, &seq), ==,
				GEN_FRAME_OK);
		g_assert_cmpmem(buf + HDR_LEN, 6, mac, 6);
		g_assert_cmpuint(stream, ==, 0);
		g_assert_cmpuint(seq, ==, first + i);
	}
}

static void test_suspend_fifo(void)
{
	const char *const args[] = { "--wire", "gen:pps=2000,count=40,size=100", "--rx-fifo", "64",
				     NULL };
	g_autoptr(Vf) vf = vf_new(args, 1);
	struct ifcvf_vring_cfg cfg;
	guint16 avail = 0, used = 0;
	guint32 word = 0;
	Ring *rx, *tx;

	vf_begin(vf, 0);
	rx = ring_new(vf, 0, 128);
	tx = ring_new(vf, 1, 128);
	rx_post(rx, 5, 256);
	ring_start(rx);
	ring_start(tx);
	vf_driver_ok(vf);     /* the generator starts */
	expect_gen_frames(rx, 0, 5, 100);

	/* suspend: the ring state says where it stopped */
	OK(ifcvf_hw_queue_disable(&vf->hw, 0, 1000, &avail, &used, e));
	g_assert_cmpuint(used, ==, 5);
	g_assert_cmpuint(avail, ==, 5);
	OK(ifcvf_lm_read32(&vf->hw, ifcvf_ring_state_offset(IFCVF_DEV_NET, 0), &word, e));
	g_assert_cmphex(word, ==, 0x00050005);
	/* buffers posted while suspended are not used */
	rx_post(rx, 64, 256);
	ring_kick(rx);
	wait_gen_finished(vf);
	vf_sync(vf);
	g_assert_cmpuint(ring_used_idx(rx), ==, 5);
	{
		g_autoptr(JsonNode) st = vf_stats(vf);

		g_assert_cmpint(qstat(st, 0, "rx_fifo_depth"), ==, 35);
		g_assert_cmpint(qstat(st, 0, "rx_dropped"), ==, 0);
		g_assert_cmpint(genstat(st, "sent"), ==, 40);
	}

	/* resume with the used ring somewhere else (as the software relay
	 * does with its mediated ring), from the latched indices */
	{
		guint8 *m = vf_map_extra(vf, IFCVF_MEDIATED_VRING, 2 * PAGE);

		rx->used_iova = IFCVF_MEDIATED_VRING;
		rx->used = (struct vring_used *)m;
		rx->used->idx = 5;
	}
	cfg = (struct ifcvf_vring_cfg){ .desc = rx->desc_iova, .avail = rx->avail_iova,
					.used = rx->used_iova, .size = rx->size,
					.last_avail_idx = avail, .last_used_idx = used, .vector = 1 };
	OK(ifcvf_hw_queue_program(&vf->hw, 0, &cfg, e));
	OK(ifcvf_hw_queue_enable(&vf->hw, 0, e));
	expect_gen_frames(rx, 5, 35, 100);
	{
		g_autoptr(JsonNode) st = vf_stats(vf);

		g_assert_cmpint(qstat(st, 0, "rx_fifo_depth"), ==, 0);
		g_assert_cmpint(qstat(st, 0, "rx_dropped"), ==, 0);
		g_assert_cmpint(qstat(st, 0, "frames"), ==, 40);
	}
	g_free(rx);
	g_free(tx);
}

static void test_fifo_overflow(void)
{
	const char *const args[] = { "--wire", "gen:pps=5000,count=40,size=64", "--rx-fifo", "8",
				     NULL };
	g_autoptr(Vf) vf = vf_new(args, 1);
	Ring *rx, *tx;

	vf_begin(vf, 0);
	rx = ring_new(vf, 0, 64);
	tx = ring_new(vf, 1, 64);
	rx_post(rx, 2, 256);
	ring_start(rx);
	ring_start(tx);
	vf_driver_ok(vf);
	wait_gen_finished(vf);
	expect_gen_frames(rx, 0, 2, 64);
	{
		g_autoptr(JsonNode) st = vf_stats(vf);
		JsonObject *dp = json_object_get_object_member(json_node_get_object(st), "datapath");
		JsonObject *dropped = json_object_get_object_member(dp, "dropped_gen");
		JsonArray *ranges = json_object_get_array_member(dropped, "ranges");
		JsonArray *range;

		g_assert_cmpint(qstat(st, 0, "rx_fifo_depth"), ==, 8);
		g_assert_cmpint(qstat(st, 0, "rx_fifo_max"), ==, 8);
		g_assert_cmpint(qstat(st, 0, "rx_dropped"), ==, 30);
		g_assert_cmpint(json_object_get_int_member(dropped, "frames"), ==, 30);
		g_assert_false(json_object_get_boolean_member(dropped, "truncated"));
		/* [stream, first, last]: every missing frame is accounted for */
		g_assert_cmpuint(json_array_get_length(ranges), ==, 1);
		range = json_array_get_array_element(ranges, 0);
		g_assert_cmpint(json_array_get_int_element(range, 0), ==, 0);
		g_assert_cmpint(json_array_get_int_element(range, 1), ==, 10);
		g_assert_cmpint(json_array_get_int_element(range, 2), ==, 39);
	}
	/* buffers come: the FIFO drains in order */
	rx_post(rx, 20, 256);
	ring_kick(rx);
	expect_gen_frames(rx, 2, 8, 64);
	g_free(rx);
	g_free(tx);
}

/* Frames still held in a receive FIFO when the emulator exits are never
 * delivered: the final counters list them as dropped, so a test can account
 * for every generator frame that went missing. */
static void test_fifo_dropped_at_exit(void)
{
	const char *const args[] = { "--wire", "gen:pps=5000,count=40,size=64", "--rx-fifo", "8",
				     NULL };
	g_autoptr(Vf) vf = vf_new(args, 1);
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autofree char *text = NULL;
	JsonObject *dropped;
	JsonArray *ranges;
	guint64 total = 0;
	Ring *rx, *tx;

	vf_begin(vf, 0);
	rx = ring_new(vf, 0, 64);
	tx = ring_new(vf, 1, 64);
	rx_post(rx, 2, 256);
	ring_start(rx);
	ring_start(tx);
	vf_driver_ok(vf);
	wait_gen_finished(vf);
	expect_gen_frames(rx, 0, 2, 64);
	{
		g_autoptr(JsonNode) st = vf_stats(vf);

		g_assert_cmpint(qstat(st, 0, "rx_fifo_depth"), ==, 8);
	}
	/* the emulator goes away with frames 2..9 still in the FIFO */
	test_emu_stop(g_steal_pointer(&vf->emu));
	g_assert_true(g_file_get_contents(vf->stats_path, &text, NULL, NULL));
	g_assert_true(json_parser_load_from_data(parser, text, -1, NULL));
	dropped = json_object_get_object_member(
		json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)),
					      "datapath"), "dropped_gen");
	g_assert_cmpint(json_object_get_int_member(dropped, "frames"), ==, 38);
	ranges = json_object_get_array_member(dropped, "ranges");
	for (guint i = 0; i < json_array_get_length(ranges); i++) {
		JsonArray *r = json_array_get_array_element(ranges, i);

		total += (guint64)(json_array_get_int_element(r, 2) - json_array_get_int_element(r, 1) + 1);
		g_assert_cmpint(json_array_get_int_element(r, 1), >=, 2);
		g_assert_cmpint(json_array_get_int_element(r, 2), <=, 39);
	}
	g_assert_cmpuint(total, ==, 38);
	g_free(rx);
	g_free(tx);
}

/* A frame that arrives while earlier ones wait in the FIFO takes the
 * buffers posted meanwhile, behind them, with no RX kick: here the driver
 * does not kick although it was asked to (the device must not depend on a
 * kick to drain what waits when frames keep coming). */
static void test_fifo_drain(void)
{
	g_autoptr(Vf) vf = vf_new(NULL, 1);
	guint8 f[3][90];
	Ring *rx, *tx;

	vf_begin(vf, 0);
	rx = ring_new(vf, 0, 64);
	tx = ring_new(vf, 1, 64);
	ring_start(rx);
	ring_start(tx);
	vf_driver_ok(vf);
	for (guint i = 0; i < 3; i++)
		fill(f[i], sizeof(f[i]), 40 + i);

	/* no RX buffers: two frames wait, the device asks for a kick */
	tx_send(tx, f[0], sizeof(f[0]), 0, FALSE);
	tx_send(tx, f[1], sizeof(f[1]), 0, FALSE);
	ring_kick(tx);
	ring_wait(tx, 2);
	tx->used_seen += 2;
	vf_sync(vf);
	g_assert_cmpuint(rx->used->flags & VRING_USED_F_NO_NOTIFY, ==, 0);
	{
		g_autoptr(JsonNode) st = vf_stats(vf);

		g_assert_cmpint(qstat(st, 0, "rx_fifo_depth"), ==, 2);
	}

	/* buffers, no kick; the next frame brings all three in, in order */
	rx_post(rx, 4, 256);
	tx_send(tx, f[2], sizeof(f[2]), 0, FALSE);
	ring_kick(tx);
	for (guint i = 0; i < 3; i++)
		rx_expect(rx, f[i], sizeof(f[i]), 1);
	vf_sync(vf);
	g_assert_cmpuint(rx->used->flags & VRING_USED_F_NO_NOTIFY, !=, 0);
	{
		g_autoptr(JsonNode) st = vf_stats(vf);

		g_assert_cmpint(qstat(st, 0, "kicks"), ==, 0);
		g_assert_cmpint(qstat(st, 0, "rx_fifo_depth"), ==, 0);
		g_assert_cmpint(qstat(st, 0, "rx_dropped"), ==, 0);
		g_assert_cmpint(qstat(st, 0, "frames"), ==, 3);
	}
	g_free(rx);
	g_free(tx);
}

/* After posting buffers from @old_avail on: kick only if the device asks
 * (EVENT_IDX: avail_event crossed; else no VRING_USED_F_NO_NOTIFY). */
static void ring_kick_if_asked(Ring *r, guint16 old_avail, gboolean event_idx)
{
	gboolean kick;

	/* our avail->idx store before the device's wish, as the device does
	 * the other way round */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (event_idx)
		kick = vring_need_event(ring_avail_event(r), r->avail_idx, old_avail);
	else
		kick = !(__atomic_load_n(&r->used->flags, __ATOMIC_RELAXED) &
			 VRING_USED_F_NO_NOTIFY);
	if (kick)
		ring_kick(r);
}

static gint64 dropped_gen_frames(JsonNode *root)
{
	JsonObject *dp = json_object_get_object_member(json_node_get_object(root), "datapath");

	return json_object_get_int_member(json_object_get_object_member(dp, "dropped_gen"),
					  "frames");
}

/* Nothing lost, nothing parked: every frame the generator sent is in the
 * ring, the FIFO never held one. */
static void expect_gen_max_clean(Vf *vf, guint64 frames)
{
	g_autoptr(JsonNode) st = vf_stats(vf);

	g_assert_cmpint(genstat(st, "sent"), ==, frames);
	g_assert_cmpint(qstat(st, 0, "frames"), ==, frames);
	g_assert_cmpint(qstat(st, 0, "rx_dropped"), ==, 0);
	g_assert_cmpint(qstat(st, 0, "rx_fifo_max"), ==, 0);
	g_assert_cmpint(dropped_gen_frames(st), ==, 0);
	g_assert_cmpint(qstat(st, 0, "errors"), ==, 0);
}

/* gen pps=max: frames only as buffers come, with contiguous sequence
 * numbers, none dropped and none in the FIFO; the driver kicks only when
 * the device asks for it, so a missed request would stall the test. A
 * suspended queue gets nothing, and resumes where it stopped. */
static void test_gen_max(void)
{
	enum { COUNT = 1000, SIZE = 100, TAKE = 24 };
	const char *const args[] = { "--wire", "gen:pps=max,count=1000,size=100", "--rx-fifo", "8",
				     NULL };
	g_autoptr(Vf) vf = vf_new(args, 1);
	gboolean suspended = FALSE;
	guint64 got = 0;
	Ring *rx, *tx;

	vf_begin(vf, 0);
	rx = ring_new(vf, 0, 64);
	tx = ring_new(vf, 1, 64);
	rx_post(rx, 64, 256);
	ring_start(rx);
	ring_start(tx);
	vf_driver_ok(vf);
	while (got < COUNT) {
		guint n = MIN(TAKE, COUNT - got);
		guint16 old;

		expect_gen_frames(rx, got, n, SIZE);
		got += n;
		if (!suspended && got >= COUNT / 2) {
			struct ifcvf_vring_cfg cfg;
			guint16 avail = 0, used = 0;

			/* suspend: what the generator sent is what the ring holds */
			suspended = TRUE;
			OK(ifcvf_hw_queue_disable(&vf->hw, 0, 1000, &avail, &used, e));
			vf_sync(vf);
			{
				g_autoptr(JsonNode) st = vf_stats(vf);

				g_assert_cmpint(genstat(st, "sent"), ==, used);
				g_assert_false(gen_finished(st));
			}
			expect_gen_max_clean(vf, used);
			/* buffers posted while suspended stay untouched */
			rx_post(rx, n, 256);
			ring_kick(rx);
			vf_sync(vf);
			expect_gen_max_clean(vf, used);
			g_assert_cmpuint(ring_used_idx(rx), ==, used);
			cfg = (struct ifcvf_vring_cfg){ .desc = rx->desc_iova,
							.avail = rx->avail_iova,
							.used = rx->used_iova, .size = rx->size,
							.last_avail_idx = avail,
							.last_used_idx = used, .vector = 1 };
			OK(ifcvf_hw_queue_program(&vf->hw, 0, &cfg, e));
			OK(ifcvf_hw_queue_enable(&vf->hw, 0, e));
			continue;
		}
		old = rx->avail_idx;
		rx_post(rx, n, 256);
		ring_kick_if_asked(rx, old, FALSE);
	}
	wait_gen_finished(vf);
	vf_sync(vf);
	/* the buffers left over stay posted */
	g_assert_cmpuint(ring_used_idx(rx), ==, (guint16)COUNT);
	expect_gen_max_clean(vf, COUNT);
	g_free(rx);
	g_free(tx);
}

/* gen pps=max with MRG_RXBUF and EVENT_IDX: 300-byte frames over three
 * 128-byte buffers each (num_buffers 3), never split across a refill. */
static void test_gen_max_mrg(void)
{
	enum { COUNT = 200, SIZE = 300, NBUFS = 3, BUF = 128 };
	const char *const args[] = { "--wire", "gen:pps=max,count=200,size=300,stream=9", NULL };
	g_autoptr(Vf) vf = vf_new(args, 1);
	guint8 got[NBUFS * BUF];
	Ring *rx, *tx;

	vf_begin(vf, BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_RING_F_EVENT_IDX));
	rx = ring_new(vf, 0, 32);
	tx = ring_new(vf, 1, 32);
	/* room for ten frames and a bit: the eleventh waits for a refill */
	rx_post(rx, 32, BUF);
	ring_start(rx);
	ring_start(tx);
	vf_driver_ok(vf);
	for (guint64 seq = 0; seq < COUNT; seq++) {
		gsize have = 0;
		guint32 stream = 0;
		guint64 s = 0;
		guint16 old;

		ring_wait(rx, NBUFS);
		for (guint i = 0; i < NBUFS; i++) {
			guint16 id;
			guint32 len;

			ring_take(rx, &id, &len);
			g_assert_cmpuint(have + len, <=, sizeof(got));
			ring_read(rx, id, got + have, len);
			have += len;
		}
		g_assert_cmpuint(have, ==, HDR_LEN + SIZE);
		g_assert_cmpuint(got[10] | got[11] << 8, ==, NBUFS);
		g_assert_cmpint(gen_frame_parse(got + HDR_LEN, SIZE, &stream, &s), ==, GEN_FRAME_OK);
		g_assert_cmpuint(stream, ==, 9);
		g_assert_cmpuint(s, ==, seq);
		old = rx->avail_idx;
		rx_post(rx, NBUFS, BUF);
		ring_kick_if_asked(rx, old, TRUE);
	}
	wait_gen_finished(vf);
	vf_sync(vf);
	g_assert_cmpuint(ring_used_idx(rx), ==, (guint16)(COUNT * NBUFS));
	expect_gen_max_clean(vf, COUNT);
	g_free(rx);
	g_free(tx);
}

static gboolean bit_set(const guint8 *log, guint64 page)
{
	return (log[page / 8] >> (page % 8)) & 1u;
}

static void test_dirty_log(void)
{
	g_autoptr(Vf) vf = vf_new(NULL, 1);
	const guint64 log_bytes = MEM_SIZE / PAGE / 8;
	const guint64 p_b0 = 0xc00, p_b1 = 0xc10, p_b2 = 0xc20;
	GHashTable *expect = g_hash_table_new(g_direct_hash, g_direct_equal);
	guint8 *log;
	Ring *rx, *tx;
	guint8 f[200];

	vf_begin(vf, 0);
	rx = ring_new(vf, 0, 16);
	tx = ring_new(vf, 1, 16);
	ring_start(rx);
	ring_start(tx);
	vf_driver_ok(vf);

	log = vf_map_extra(vf, IFCVF_LOG_BASE, PAGE);
	OK(ifcvf_hw_enable_logging(&vf->hw, IFCVF_LOG_BASE, log_bytes, e));

	/* RX buffers: one on a page, one across two pages, one never used */
	{
		Buf b0 = { p_b0 * PAGE, 2048, TRUE };
		Buf b1 = { p_b1 * PAGE + 4000, 2048, TRUE };
		Buf b2 = { p_b2 * PAGE, 2048, TRUE };

		ring_add(rx, &b0, 1, FALSE);
		ring_add(rx, &b1, 1, FALSE);
		ring_add(rx, &b2, 1, FALSE);
		ring_kick(rx);
	}
	for (guint i = 0; i < 2; i++) {
		fill(f, sizeof(f), i);
		tx_send(tx, f, sizeof(f), 1, FALSE);
		ring_kick(tx);
		rx_expect(rx, f, sizeof(f), 1);
	}
	ring_wait(tx, 2);
	vf_sync(vf);

	g_hash_table_add(expect, GSIZE_TO_POINTER(p_b0));
	g_hash_table_add(expect, GSIZE_TO_POINTER(p_b1));
	g_hash_table_add(expect, GSIZE_TO_POINTER(p_b1 + 1));
	g_hash_table_add(expect, GSIZE_TO_POINTER(rx->used_iova / PAGE));
	g_hash_table_add(expect, GSIZE_TO_POINTER(tx->used_iova / PAGE));
	for (guint64 page = 0; page < MEM_SIZE / PAGE; page++) {
		gboolean want = g_hash_table_contains(expect, GSIZE_TO_POINTER(page));

		if (bit_set(log, page) != want)
			g_error("page 0x%" G_GINT64_MODIFIER "x: log bit %d, expected %d", page,
				bit_set(log, page), want);
	}
	/* the rest of the mapped page (beyond the log) is untouched */
	for (guint64 i = log_bytes; i < PAGE; i++)
		g_assert_cmpuint(log[i], ==, 0);

	/* logging off: nothing is marked */
	OK(ifcvf_hw_disable_logging(&vf->hw, e));
	memset(log, 0, PAGE);
	fill(f, sizeof(f), 9);
	tx_send(tx, f, sizeof(f), 0, FALSE);
	ring_kick(tx);
	rx_expect(rx, f, sizeof(f), 1);
	vf_sync(vf);
	for (guint64 i = 0; i < PAGE; i++)
		g_assert_cmpuint(log[i], ==, 0);

	/* a log the device cannot reach is a device error */
	OK(ifcvf_hw_enable_logging(&vf->hw, IFCVF_LOG_BASE + 0x100000, log_bytes, e));
	tx_send(tx, f, sizeof(f), 0, FALSE);
	ring_kick(tx);
	wait_qstat(vf, 1, "dma_errors", 1);
	g_assert_cmphex(vf_sync(vf) & VIRTIO_STATUS_NEEDS_RESET, ==, VIRTIO_STATUS_NEEDS_RESET);
	g_hash_table_unref(expect);
	g_free(rx);
	g_free(tx);
}

static void test_gen_checker(void)
{
	const char *const args[] = { "--wire", "gen:pps=1000,count=50,size=128", NULL };
	g_autoptr(Vf) vf = vf_new(args, 1);
	guint8 buf[HDR_LEN + 128];
	Ring *rx, *tx;

	vf_begin(vf, 0);
	rx = ring_new(vf, 0, 128);
	tx = ring_new(vf, 1, 128);
	rx_post(rx, 64, 256);
	ring_start(rx);
	ring_start(tx);
	vf_driver_ok(vf);
	/* echo every frame back: the checker counts them */
	for (guint i = 0; i < 50; i++) {
		guint16 id;
		guint32 len;

		if (i == 32) {
			rx_post(rx, 32, 256);
			ring_kick(rx);
		}
		ring_wait(rx, 1);
		ring_take(rx, &id, &len);
		g_assert_cmpuint(len, ==, sizeof(buf));
		ring_read(rx, id, buf, len);
		tx_send(tx, buf + HDR_LEN, 128, 0, FALSE);
		ring_kick(tx);
	}
	/* one duplicate, one corrupted, one foreign */
	tx_send(tx, buf + HDR_LEN, 128, 0, FALSE);
	buf[HDR_LEN + 100] ^= 0xff;
	tx_send(tx, buf + HDR_LEN, 128, 0, FALSE);
	buf[HDR_LEN + 12] = 0x08;
	buf[HDR_LEN + 13] = 0x00;
	tx_send(tx, buf + HDR_LEN, 128, 0, FALSE);
	ring_kick(tx);
	ring_wait(tx, 53);
	vf_sync(vf);
	{
		g_autoptr(JsonNode) st = vf_stats(vf);

		g_assert_true(gen_finished(st));
		g_assert_cmpint(genstat(st, "sent"), ==, 50);
		g_assert_cmpint(genstat(st, "received"), ==, 51);
		g_assert_cmpint(genstat(st, "in_order"), ==, 50);
		g_assert_cmpint(genstat(st, "out_of_order"), ==, 0);
		g_assert_cmpint(genstat(st, "duplicates"), ==, 1);
		g_assert_cmpint(genstat(st, "corrupted"), ==, 1);
		g_assert_cmpint(genstat(st, "foreign"), ==, 1);
		g_assert_cmpint(genstat(st, "highest_seq"), ==, 49);
		g_assert_cmpint(qstat(st, 0, "rx_dropped"), ==, 0);
	}
	g_free(rx);
	g_free(tx);
}

/* Take RX entries of @r until one holds @frame (others are dropped);
 * FALSE when none is there yet. */
static gboolean rx_find(Ring *r, const guint8 *frame, gsize len)
{
	guint8 got[HDR_LEN + 2048];

	while (ring_used_idx(r) != r->used_seen) {
		guint16 id;
		guint32 ulen;

		ring_take(r, &id, &ulen);
		g_assert_cmpuint(ulen, <=, sizeof(got));
		ring_read(r, id, got, ulen);
		if (ulen == HDR_LEN + len && !memcmp(got + HDR_LEN, frame, len))
			return TRUE;
	}
	return FALSE;
}

/* Send a frame from @atx until @brx has it: the two emulators may still be
 * connecting, and frames sent before are dropped. Copies of earlier frames
 * that are still on their way are skipped. */
static void pair_exchange(Ring *atx, Ring *brx, guint seed)
{
	gint64 deadline = g_get_monotonic_time() + WAIT_USEC;
	guint8 f[120];

	fill(f, sizeof(f), seed);
	for (;;) {
		if (g_get_monotonic_time() > deadline)
			g_error("no frame crossed the pair wire within 10 s");
		tx_send(atx, f, sizeof(f), 0, FALSE);
		ring_kick(atx);
		g_usleep(20000);
		if (rx_find(brx, f, sizeof(f)))
			return;
	}
}

static void pair_bring_up(Vf *vf, Ring **rx, Ring **tx)
{
	vf_begin(vf, 0);
	*rx = ring_new(vf, 0, 256);
	*tx = ring_new(vf, 1, 256);
	ring_start(*rx);
	ring_start(*tx);
	vf_driver_ok(vf);
	rx_post(*rx, 200, 256);
	ring_kick(*rx);
}

static void test_pair(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp("emu-pair-XXXXXX", &error);
	g_autofree char *sock = g_build_filename(dir, "wire.sock", NULL);
	g_autofree char *lock = g_strconcat(sock, ".lock", NULL);
	g_autofree char *wire = g_strconcat("pair:", sock, NULL);
	const char *const args[] = { "--wire", wire, NULL };
	Vf *vf[4];
	Ring *rx[4], *tx[4];

	/* a listens (first), b connects */
	vf[0] = vf_new(args, 1);
	vf[1] = vf_new(args, 1);
	for (guint i = 0; i < 2; i++)
		pair_bring_up(vf[i], &rx[i], &tx[i]);
	pair_exchange(tx[0], rx[1], 1);
	pair_exchange(tx[1], rx[0], 2);

	/* the connector goes, c takes its place: a listens again */
	vf_free(vf[1]);
	vf[2] = vf_new(args, 1);
	pair_bring_up(vf[2], &rx[2], &tx[2]);
	pair_exchange(tx[0], rx[2], 3);
	pair_exchange(tx[2], rx[0], 4);

	/* the listener goes: c retries, and c or d listens (whoever is
	 * first), the other connects */
	vf_free(vf[0]);
	vf[3] = vf_new(args, 1);
	pair_bring_up(vf[3], &rx[3], &tx[3]);
	pair_exchange(tx[2], rx[3], 5);
	pair_exchange(tx[3], rx[2], 6);
	{
		g_autoptr(JsonNode) st = vf_stats(vf[2]);
		JsonObject *w = json_object_get_object_member(json_node_get_object(st), "wire");
		JsonObject *p = json_object_get_object_member(w, "pair");

		g_assert_true(json_object_get_boolean_member(p, "connected"));
		g_assert_cmpint(json_object_get_int_member(p, "connects"), ==, 2);
	}
	vf_free(vf[2]);
	vf_free(vf[3]);
	for (guint i = 0; i < 4; i++) {
		g_free(rx[i]);
		g_free(tx[i]);
	}
	g_assert_false(g_file_test(sock, G_FILE_TEST_EXISTS));
	unlink(lock);
	g_assert_cmpint(rmdir(dir), ==, 0);
}

/* ---- tap ---- */

static gboolean run_ok(const char *cmd)
{
	g_auto(GStrv) argv = g_strsplit(cmd, " ", -1);
	g_autofree char *out = NULL, *err = NULL;
	int r = test_run((const char *const *)argv, &out, &err);

	if (r != 0)
		g_test_message("%s: exit %d: %s", cmd, r, err);
	return r == 0;
}

static gboolean tap_usable(void)
{
	g_autofree char *ip = g_find_program_in_path("ip");
	int fd;

	if (geteuid() != 0 || !ip)
		return FALSE;
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return FALSE;
	close(fd);
	return TRUE;
}

/* An ARP request for 10.77.0.1 from the VF (10.77.0.2). */
static gsize arp_request(guint8 *f)
{
	static const guint8 mac[6] = { 0x02, 0xfc, 0x00, 0x00, 0x00, 0x01 };
	static const guint8 head[] = { 0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01 };

	memset(f, 0, 42);
	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	memcpy(f + 12, head, sizeof(head));
	memcpy(f + 22, mac, 6);
	memcpy(f + 28, (guint8[]){ 10, 77, 0, 2 }, 4);
	memcpy(f + 38, (guint8[]){ 10, 77, 0, 1 }, 4);
	return 42;
}

static void test_tap(void)
{
	g_autofree char *ns = g_strdup_printf("ifcvfemu%d", (int)getpid());
	g_autofree char *ifname = g_strdup_printf("ifemu%d", (int)getpid() % 1000000);
	g_autofree char *wire = NULL, *cmd = NULL;
	const char *args[3];
	gboolean replied = FALSE;
	gint64 deadline;
	Ring *rx, *tx;
	Vf *vf;

	if (!tap_usable()) {
		/* a wire test that did not run must not pass */
		g_test_fail_printf("needs root, ip(8) and /dev/net/tun");
		return;
	}
	wire = g_strconcat("tap:", ifname, NULL);
	args[0] = "--wire";
	args[1] = wire;
	args[2] = NULL;
	cmd = g_strdup_printf("ip netns add %s", ns);
	if (!run_ok(cmd)) {
		g_test_fail_printf("cannot create a network namespace");
		return;
	}
	vf = vf_new(args, 1);
	g_free(cmd);
	cmd = g_strdup_printf("ip link set %s netns %s", ifname, ns);
	g_assert_true(run_ok(cmd));
	g_free(cmd);
	cmd = g_strdup_printf("ip -n %s addr add 10.77.0.1/24 dev %s", ns, ifname);
	g_assert_true(run_ok(cmd));
	g_free(cmd);
	cmd = g_strdup_printf("ip -n %s link set %s up", ns, ifname);
	g_assert_true(run_ok(cmd));

	pair_bring_up(vf, &rx, &tx);
	/* ask the namespace's kernel for 10.77.0.1 until it answers; other
	 * frames (IPv6 neighbour discovery, MLD) may come first */
	deadline = g_get_monotonic_time() + WAIT_USEC;
	while (!replied) {
		guint8 f[64], got[HDR_LEN + 2048];
		gsize len = arp_request(f);
		gint64 step = g_get_monotonic_time() + 200000;

		if (g_get_monotonic_time() > deadline)
			g_error("no ARP reply from the namespace within 10 s");
		tx_send(tx, f, len, 0, FALSE);
		ring_kick(tx);
		while (!replied && g_get_monotonic_time() < step) {
			guint16 id;
			guint32 ulen;

			if (ring_used_idx(rx) == rx->used_seen) {
				g_usleep(2000);
				continue;
			}
			ring_take(rx, &id, &ulen);
			g_assert_cmpuint(ulen, <=, sizeof(got));
			ring_read(rx, id, got, ulen);
			/* ARP reply (opcode 2) from 10.77.0.1 */
			if (ulen >= HDR_LEN + 42 && got[HDR_LEN + 12] == 0x08 &&
			    got[HDR_LEN + 13] == 0x06 && got[HDR_LEN + 21] == 2 &&
			    !memcmp(got + HDR_LEN + 28, (guint8[]){ 10, 77, 0, 1 }, 4))
				replied = TRUE;
		}
	}
	{
		g_autoptr(JsonNode) st = vf_stats(vf);
		JsonObject *w = json_object_get_object_member(json_node_get_object(st), "wire");

		g_assert_cmpint(json_object_get_int_member(w, "tx_frames"), >=, 1);
		g_assert_cmpint(json_object_get_int_member(w, "rx_frames"), >=, 1);
	}
	vf_free(vf);
	g_free(rx);
	g_free(tx);
	g_free(cmd);
	cmd = g_strdup_printf("ip netns del %s", ns);
	g_assert_true(run_ok(cmd));
}

/* Frames per second through TX, the loop wire and RX, printed only (run
 * with -m perf); nothing is asserted on it. */
static void test_perf(void)
{
	enum { BATCH = 256 };
	g_autoptr(Vf) vf = vf_new(NULL, 1);
	Buf txb[BATCH], rxb[BATCH];
	guint64 frames = 0;
	gint64 start, end;
	Ring *rx, *tx;

	vf_begin(vf, BIT(VIRTIO_RING_F_EVENT_IDX));
	rx = ring_new(vf, 0, 1024);
	tx = ring_new(vf, 1, 1024);
	for (guint i = 0; i < BATCH; i++) {
		txb[i] = (Buf){ vf_alloc(vf, HDR_LEN + 64, 64), HDR_LEN + 64, FALSE };
		memset(vf_ptr(vf, txb[i].iova), 0, HDR_LEN);
		fill((guint8 *)vf_ptr(vf, txb[i].iova) + HDR_LEN, 64, i);
		rxb[i] = (Buf){ vf_alloc(vf, 2048, 64), 2048, TRUE };
	}
	ring_start(rx);
	ring_start(tx);
	vf_driver_ok(vf);
	start = g_get_monotonic_time();
	end = start + 2 * G_USEC_PER_SEC;
	while (g_get_monotonic_time() < end) {
		guint16 old = rx->avail_idx;

		for (guint i = 0; i < BATCH; i++)
			ring_add(rx, &rxb[i], 1, FALSE);
		if (vring_need_event(ring_avail_event(rx), rx->avail_idx, old))
			ring_kick(rx);
		old = tx->avail_idx;
		for (guint i = 0; i < BATCH; i++)
			ring_add(tx, &txb[i], 1, FALSE);
		if (vring_need_event(ring_avail_event(tx), tx->avail_idx, old))
			ring_kick(tx);
		ring_wait(rx, BATCH);
		rx->used_seen += BATCH;
		ring_wait(tx, BATCH);
		tx->used_seen += BATCH;
		frames += BATCH;
	}
	g_test_message("%.2f Mpps of 64-byte frames (TX -> loop -> RX, batches of %d)",
		       (double)frames / (double)(g_get_monotonic_time() - start), BATCH);
	g_test_minimized_result((double)frames, "frames in 2 s");
	g_free(rx);
	g_free(tx);
}

/* Frames per second the generator puts into RX with pps=max, 64 bytes, into
 * 2 KiB buffers with MRG_RXBUF (as DPDK's virtio PMD posts them), kicking
 * only when the device asks; printed only (run with -m perf). */
static void test_perf_gen_max(void)
{
	enum { SIZE = 1024, BATCH = 128 };
	const char *const args[] = { "--wire", "gen:pps=max,size=64", NULL };
	g_autoptr(Vf) vf = vf_new(args, 1);
	guint64 frames = 0, hdrs = 0;
	gint64 start, end;
	Ring *rx, *tx;

	vf_begin(vf, BIT(VIRTIO_NET_F_MRG_RXBUF));
	rx = ring_new(vf, 0, SIZE);
	tx = ring_new(vf, 1, SIZE);
	rx_post(rx, SIZE, 2048);
	ring_start(rx);
	ring_start(tx);
	vf_driver_ok(vf);
	start = g_get_monotonic_time();
	end = start + 2 * G_USEC_PER_SEC;
	while (g_get_monotonic_time() < end) {
		ring_wait(rx, BATCH);
		for (guint i = 0; i < BATCH; i++) {
			guint16 id;
			guint32 len;

			ring_take(rx, &id, &len);
			/* a driver reads num_buffers, at least */
			hdrs += *(volatile guint8 *)vf_ptr(vf, rx->bufs[id][0].iova + 10);
			ring_add(rx, rx->bufs[id], 1, FALSE);
		}
		if (!(__atomic_load_n(&rx->used->flags, __ATOMIC_SEQ_CST) & VRING_USED_F_NO_NOTIFY))
			ring_kick(rx);
		frames += BATCH;
	}
	g_test_message("%.2f Mpps of 64-byte generator frames (pps=max, RX, batches of %d)",
		       (double)frames / (double)(g_get_monotonic_time() - start), BATCH);
	g_assert_cmpuint(hdrs, ==, frames);
	g_test_minimized_result((double)frames, "frames in 2 s");
	g_free(rx);
	g_free(tx);
}

/* ---- --virtio-function: a plain virtio 1.x function ----
 * Opened as the helper opens one, with generic-virtio=1 (and the software
 * mode, as there is no live-migration block). */

static Vf *vf_new_virtio_function(const char *const *extra)
{
	const struct ifcvf_devargs dargs = { .sw_live_migration = true, .generic_virtio = true };

	return vf_new_with(extra, 1, &dargs);
}

/* Both queues of pair 0 on fresh rings at index 0, running. */
static void vf_bring_up(Vf *vf, Ring **rx, Ring **tx, guint16 size)
{
	vf_begin(vf, 0);
	*rx = ring_new(vf, 0, size);
	*tx = ring_new(vf, 1, size);
	ring_start(*rx);
	ring_start(*tx);
}

/* Not an IFCVF; a reset restarts the rings at index 0; queue_enable=0 is a
 * driver error that leaves the queue running. */
static void test_virtio_function_reset(void)
{
	const char *const args[] = { "--virtio-function", NULL };
	g_autoptr(Vf) vf = vf_new_virtio_function(args);
	bool enabled = false;
	Ring *rx, *tx;

	g_assert_false(vf->hw.is_ifcvf);
	g_assert_false(vf->hw.lm_block);
	g_assert_cmphex(vf->hw.ids.subsys_vendor, !=, 0x8086);
	g_assert_cmphex(vf->hw.ids.subsys_vendor, ==, 0x1af4);
	g_assert_cmphex(vf->hw.ids.subsys_device, ==, VIRTIO_ID_NET);
	g_assert_cmphex(vf->hw.caps.virtio_bar_mask, ==, 1u << 4);
	g_assert_cmpuint(vf->hw.bar_size[0], ==, 0);

	vf_bring_up(vf, &rx, &tx, 64);
	vf_driver_ok(vf);
	rx_post(rx, 16, 256);
	ring_kick(rx);
	for (guint i = 0; i < 5; i++)
		send_and_wait(vf, tx, rx, 60 + i);

	/* queue_enable=0 on the running TX queue: ignored and counted */
	OK(ifcvf_common_write16(&vf->hw, VIRTIO_COMMON_Q_SELECT, 1, e));
	OK(ifcvf_common_write16(&vf->hw, VIRTIO_COMMON_Q_ENABLE, 0, e));
	OK(ifcvf_hw_queue_enabled(&vf->hw, 1, &enabled, e));
	g_assert_true(enabled);
	send_and_wait(vf, tx, rx, 70);
	{
		g_autoptr(JsonNode) st = vf_stats(vf);

		g_assert_cmpint(dpstat(st, "device_errors"), ==, 1);
		g_assert_true(json_object_get_boolean_member(stats_queue(st, 1), "enabled"));
		g_assert_cmpint(qstat(st, 1, "last_avail"), ==, 6);
		g_assert_cmpint(qstat(st, 1, "errors"), ==, 0);
	}
	g_assert_cmphex(vf_sync(vf) & VIRTIO_STATUS_NEEDS_RESET, ==, 0);

	/* reset: fresh rings at index 0; the device takes avail entry 0 */
	g_free(rx);
	g_free(tx);
	vf_bring_up(vf, &rx, &tx, 64);
	vf_driver_ok(vf);
	rx_post(rx, 4, 256);
	ring_kick(rx);
	send_and_wait(vf, tx, rx, 80);
	g_assert_cmpuint(ring_used_idx(tx), ==, 1);
	g_assert_cmpuint(tx->used->ring[0].id, ==, 0);
	g_assert_cmpuint(ring_used_idx(rx), ==, 1);
	{
		g_autoptr(JsonNode) st = vf_stats(vf);

		for (guint q = 0; q < 2; q++) {
			g_assert_cmpint(qstat(st, q, "last_avail"), ==, 1);
			g_assert_cmpint(qstat(st, q, "last_used"), ==, 1);
			g_assert_cmpint(qstat(st, q, "errors"), ==, 0);
			g_assert_cmpint(qstat(st, q, "resume_mismatch"), ==, 0);
		}
		g_assert_cmpint(dpstat(st, "device_errors"), ==, 1);
	}
	g_free(rx);
	g_free(tx);
}

/* Several pairs: like QEMU's virtio-net-pci,mq=on, num_queues lists one
 * pair and the control queue until the driver takes MQ, and only pair 0
 * runs until VQ_PAIRS_SET on the control queue (index 2N) says otherwise;
 * what pair 1's TX holds goes once it runs. Driven with the helper's
 * control queue (ifcvf-ctrlq.h). */
static void test_virtio_function_mq(void)
{
	const char *const args[] = { "--virtio-function", NULL };
	const struct ifcvf_devargs dargs = { .sw_live_migration = true, .generic_virtio = true };
	g_autoptr(Vf) vf = vf_new_with(args, 2, &dargs);
	struct ifcvf_ctrlq *cq = NULL;
	struct cerr ce = { 0 };
	Ring *r[4];
	guint16 numq = 0;
	guint8 f[80];

	g_assert_cmpuint(vf->hw.num_queues, ==, 3);
	g_assert_cmpuint(vf->hw.max_vq_pairs, ==, 2);
	g_assert_cmpuint(vf->hw.max_queues, ==, 2);
	vf_begin(vf, BIT(VIRTIO_NET_F_MQ) | BIT(VIRTIO_NET_F_CTRL_VQ));
	OK(ifcvf_common_read16(&vf->hw, VIRTIO_COMMON_NUMQ, &numq, e));
	g_assert_cmpuint(numq, ==, 5);
	for (guint q = 0; q < 4; q++) {
		r[q] = ring_new(vf, q, 64);
		ring_start(r[q]);
	}
	OK(ifcvf_ctrlq_new(&cq, e));
	OK(ifcvf_ctrlq_start(cq, &vf->hw, e));
	vf_driver_ok(vf);
	rx_post(r[0], 8, 256);
	rx_post(r[2], 8, 256);
	ring_kick(r[0]);
	ring_kick(r[2]);
	send_and_wait(vf, r[1], r[0], 1);

	/* pair 1 does not run yet: its TX frame waits */
	fill(f, sizeof(f), 2);
	tx_send(r[3], f, sizeof(f), 0, FALSE);
	ring_kick(r[3]);
	vf_sync(vf);
	{
		g_autoptr(JsonNode) st = vf_stats(vf);

		g_assert_cmpint(dpstat(st, "active_pairs"), ==, 1);
		g_assert_cmpint(qstat(st, 3, "chains"), ==, 0);
	}
	OK(ifcvf_ctrlq_set_pairs(cq, &vf->hw, 2, IFCVF_CTRLQ_TIMEOUT_MS, e));
	rx_expect(r[2], f, sizeof(f), 1);
	ring_wait(r[3], 1);
	r[3]->used_seen++;
	send_and_wait(vf, r[3], r[2], 3);
	send_and_wait(vf, r[1], r[0], 4);

	/* back to one pair; more than the function has is refused before it
	 * reaches the function */
	OK(ifcvf_ctrlq_set_pairs(cq, &vf->hw, 1, IFCVF_CTRLQ_TIMEOUT_MS, e));
	g_assert_cmpint(ifcvf_ctrlq_set_pairs(cq, &vf->hw, 3, IFCVF_CTRLQ_TIMEOUT_MS, &ce), ==,
			-ERANGE);
	{
		g_autoptr(JsonNode) st = vf_stats(vf);

		g_assert_cmpint(dpstat(st, "active_pairs"), ==, 1);
		g_assert_cmpint(dpstat(st, "ctrl_commands"), ==, 2);
		g_assert_cmpint(dpstat(st, "ctrl_refused"), ==, 0);
		g_assert_cmpint(dpstat(st, "device_errors"), ==, 0);
	}
	/* a reset: one pair again, the ring unmapped */
	OK(ifcvf_hw_reset(&vf->hw, 1000, e));
	ifcvf_ctrlq_stop(cq, vf->dev);
	g_assert_false(ifcvf_ctrlq_running(cq));
	ifcvf_ctrlq_free(cq, vf->dev);
	for (guint q = 0; q < 4; q++)
		g_free(r[q]);
}

/* Frames the generator offers while the device is reset wait in the RX
 * FIFO and come first once RX runs again: no sequence number lost or
 * repeated. */
static void test_virtio_function_gen_reset(void)
{
	enum { BEFORE = 40, AFTER = 200, SIZE = 100 };
	const char *const args[] = { "--virtio-function", "--wire", "gen:pps=1000,size=100",
				     "--rx-fifo", "4096", NULL };
	g_autoptr(Vf) vf = vf_new_virtio_function(args);
	gint64 at_reset;
	Ring *rx, *tx;

	vf_bring_up(vf, &rx, &tx, 256);
	rx_post(rx, BEFORE, 256);
	vf_driver_ok(vf);    /* the generator starts */
	expect_gen_frames(rx, 0, BEFORE, SIZE);

	OK(ifcvf_hw_reset(&vf->hw, 1000, e));
	{
		g_autoptr(JsonNode) st = vf_stats(vf);

		at_reset = genstat(st, "sent");
	}
	/* frames keep coming while the device is down; they all wait */
	wait_gen_sent(vf, at_reset + 50);
	{
		g_autoptr(JsonNode) st = vf_stats(vf);

		g_assert_cmpint(qstat(st, 0, "rx_fifo_depth"), ==, genstat(st, "sent") - BEFORE);
		g_assert_cmpint(qstat(st, 0, "rx_dropped"), ==, 0);
	}

	g_free(rx);
	g_free(tx);
	vf_bring_up(vf, &rx, &tx, 256);
	rx_post(rx, AFTER, 256);
	vf_driver_ok(vf);
	expect_gen_frames(rx, BEFORE, AFTER, SIZE);
	vf_sync(vf);
	{
		g_autoptr(JsonNode) st = vf_stats(vf);

		g_assert_cmpint(qstat(st, 0, "frames"), ==, BEFORE + AFTER);
		g_assert_cmpint(qstat(st, 0, "rx_dropped"), ==, 0);
		g_assert_cmpint(dropped_gen_frames(st), ==, 0);
		g_assert_cmpint(qstat(st, 0, "errors"), ==, 0);
		g_assert_cmpint(dpstat(st, "device_errors"), ==, 0);
	}
	g_free(rx);
	g_free(tx);
}

/* gen pps=max across a reset: it waits for buffers, so the next frame after
 * the reset is the one after the last taken. */
static void test_virtio_function_gen_max_reset(void)
{
	enum { BEFORE = 40, COUNT = 100, SIZE = 100 };
	const char *const args[] = { "--virtio-function", "--wire", "gen:pps=max,count=100,size=100",
				     NULL };
	g_autoptr(Vf) vf = vf_new_virtio_function(args);
	Ring *rx, *tx;

	vf_bring_up(vf, &rx, &tx, 128);
	rx_post(rx, BEFORE, 256);
	vf_driver_ok(vf);
	expect_gen_frames(rx, 0, BEFORE, SIZE);
	vf_sync(vf);
	expect_gen_max_clean(vf, BEFORE);

	OK(ifcvf_hw_reset(&vf->hw, 1000, e));
	vf_sync(vf);
	expect_gen_max_clean(vf, BEFORE);

	g_free(rx);
	g_free(tx);
	vf_bring_up(vf, &rx, &tx, 128);
	rx_post(rx, COUNT - BEFORE, 256);
	vf_driver_ok(vf);
	expect_gen_frames(rx, BEFORE, COUNT - BEFORE, SIZE);
	wait_gen_finished(vf);
	vf_sync(vf);
	expect_gen_max_clean(vf, COUNT);
	g_free(rx);
	g_free(tx);
}

/* ---- host notifiers: doorbells written into a mapping ---- */

static gint64 dbstat(JsonNode *root, const char *name)
{
	JsonObject *db = json_object_get_object_member(json_node_get_object(root), "doorbell");

	return json_object_get_int_member(db, name);
}

/* A started pair of 64-entry rings with 4 RX buffers posted and kicked. */
static void pair_start(Vf *vf, Ring **ret_rx, Ring **ret_tx)
{
	vf_begin(vf, 0);
	*ret_rx = ring_new(vf, 0, 64);
	*ret_tx = ring_new(vf, 1, 64);
	ring_start(*ret_rx);
	ring_start(*ret_tx);
	vf_driver_ok(vf);
	rx_post(*ret_rx, 4, 2048);
	ring_kick(*ret_rx);
}

/* Stop the emulator's main thread only (ptrace is per thread): its
 * doorbell poller runs on, requests queue up on the socket. */
static void emu_hold(Vf *vf)
{
	int status;

	g_assert_cmpint(ptrace(PTRACE_SEIZE, vf->emu->pid, NULL, NULL), ==, 0);
	g_assert_cmpint(ptrace(PTRACE_INTERRUPT, vf->emu->pid, NULL, NULL), ==, 0);
	g_assert_cmpint(waitpid(vf->emu->pid, &status, __WALL), ==, vf->emu->pid);
	g_assert_true(WIFSTOPPED(status));
}

static void emu_release(Vf *vf)
{
	g_assert_cmpint(ptrace(PTRACE_DETACH, vf->emu->pid, NULL, NULL), ==, 0);
}

/* What a frontend does with a host notifier: map the page at the fd. */
static guint16 *map_notify_area(Vf *vf, guint q)
{
	uint64_t off = 0, size = 0;
	int fd = -1;
	void *p;

	OK(ifcvf_hw_notify_area(&vf->hw, q, &fd, &off, &size, e));
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpuint(size, ==, (guint64)sysconf(_SC_PAGESIZE));
	g_assert_cmpuint(off % size, ==, 0);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
	g_assert_true(p != MAP_FAILED);
	return p;
}

/* The guest's kick: ring and index published first, then one 16-bit store
 * of the queue index at the start of the page. */
static void kick_mapped(guint16 *doorbell, guint q)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	*(volatile guint16 *)doorbell = (guint16)q;
}

/* The project's driver path hands out each vring's doorbell page
 * (ifcvf_hw_notify_area over vfio_dev_region_mmap_fd); mapped elsewhere and
 * written there, the doorbell reaches the emulator, which fetches and
 * completes: frames flow and no doorbell came as a REGION_WRITE message. */
static void test_host_notifier(void)
{
	g_autoptr(Vf) vf = vf_new(NULL, 1);
	uint64_t off[2], size;
	guint16 *db[2];
	Ring *rx, *tx;
	int fd[2];

	vf_begin(vf, 0);
	rx = ring_new(vf, 0, 256);
	tx = ring_new(vf, 1, 256);
	ring_start(rx);
	ring_start(tx);
	vf_driver_ok(vf);
	for (guint q = 0; q < 2; q++) {
		OK(ifcvf_hw_notify_area(&vf->hw, q, &fd[q], &off[q], &size, e));
		db[q] = map_notify_area(vf, q);
	}
	/* one page each, on the same fd the device keeps */
	g_assert_cmpint(fd[0], ==, fd[1]);
	g_assert_cmpuint(off[1] - off[0], ==, size);

	rx_post(rx, 16, 2048);
	kick_mapped(db[0], 0);
	for (guint i = 0; i < 16; i++) {
		guint8 f[200];

		fill(f, sizeof(f), i);
		tx_send(tx, f, sizeof(f), 0, FALSE);
		kick_mapped(db[1], 1);
		rx_expect(rx, f, sizeof(f), 1);
	}
	ring_wait(tx, 16);
	{
		g_autoptr(JsonNode) st = vf_stats(vf);

		g_assert_cmpint(qstat(st, 1, "frames"), ==, 16);
		g_assert_cmpint(qstat(st, 0, "frames"), ==, 16);
		g_assert_cmpint(dbstat(st, "message_kicks"), ==, 0);
		/* the first RX kick and at least the first TX kick; later ones
		 * may merge or find the queue still running */
		g_assert_cmpint(dbstat(st, "mapped_kicks"), >=, 2);
	}
	for (guint q = 0; q < 2; q++)
		munmap(db[q], size);
	g_free(rx);
	g_free(tx);
}

/* A doorbell stored into the mapping before a request reaches the device
 * before that request, as a posted MMIO write does before a later one: a
 * TX chain kicked through the page and then suspended (queue_enable=0)
 * was fetched, and one kicked and then reset was sent. Each round first
 * lets the emulator's poller fall asleep (the case where it would see the
 * store only after the request); what is asserted does not depend on it. */
static void test_host_notifier_ordering(void)
{
	g_autoptr(Vf) vf = vf_new(NULL, 1);
	guint64 sent = 0;

	for (guint round = 0; round < 6; round++) {
		gboolean suspend = round % 2 == 0;
		uint16_t la = 0, lu = 0;
		guint16 *db;
		Ring *rx, *tx;
		guint8 f[100];

		pair_start(vf, &rx, &tx);
		db = map_notify_area(vf, 1);
		vf_sync(vf);
		g_usleep(60 * 1000);

		fill(f, sizeof(f), round);
		tx_send(tx, f, sizeof(f), 0, FALSE);
		kick_mapped(db, 1);
		if (suspend) {
			OK(ifcvf_hw_queue_disable(&vf->hw, 1, 1000, &la, &lu, e));
			g_assert_cmpuint(la, ==, 1);
			g_assert_cmpuint(lu, ==, 1);
		} else {
			OK(ifcvf_hw_reset(&vf->hw, 1000, e));
		}
		sent++;
		{
			g_autoptr(JsonNode) st = vf_stats(vf);

			g_assert_cmpint(qstat(st, 1, "frames"), ==, sent);
			g_assert_cmpint(dbstat(st, "message_kicks"), ==, 0);
		}
		munmap(db, (size_t)sysconf(_SC_PAGESIZE));
		g_free(rx);
		g_free(tx);
	}
}

typedef struct {
	Vf *vf;
	gboolean ok;
	char msg[256];
} ResetJob;

static gpointer reset_job(gpointer data)
{
	ResetJob *job = data;
	struct cerr err = { 0 };

	job->ok = ifcvf_hw_reset(&job->vf->hw, 5000, &err) == 0;
	g_strlcpy(job->msg, err.msg, sizeof(job->msg));
	return NULL;
}

/* The race behind the ordering test, made certain: the poller sees the
 * doorbell and signals while the emulator's main thread is held (ptrace
 * stops that one thread, the poller runs on), and the reset arrives before
 * the main thread runs again, so one epoll round hands it the poller's
 * eventfd and the request together, the eventfd first. The chain kicked
 * before the reset must still be sent before the reset is served. */
static void test_host_notifier_ordering_held(void)
{
	g_autoptr(Vf) vf = vf_new(NULL, 1);
	ResetJob job = { .vf = vf };
	GThread *t;
	guint16 *db;
	Ring *rx, *tx;
	guint8 f[100];

	pair_start(vf, &rx, &tx);
	db = map_notify_area(vf, 1);
	vf_sync(vf);
	/* back in epoll_wait: the reply's socket event is no longer queued in
	 * the epoll instance (it would come first in the held round) */
	g_usleep(50 * 1000);

	emu_hold(vf);

	fill(f, sizeof(f), 7);
	tx_send(tx, f, sizeof(f), 0, FALSE);
	kick_mapped(db, 1);
	/* the poller's longest sleep is EMU_DOORBELL_SLEEP_MAX_US (2 ms) */
	g_usleep(100 * 1000);
	t = g_thread_new("reset", reset_job, &job);
	g_usleep(100 * 1000);
	emu_release(vf);
	g_thread_join(t);
	if (!job.ok)
		g_error("reset: %s", job.msg);
	{
		g_autoptr(JsonNode) st = vf_stats(vf);

		g_assert_cmpint(dbstat(st, "poller_signals"), >=, 1);
		g_assert_cmpint(dbstat(st, "message_kicks"), ==, 0);
		g_assert_cmpint(qstat(st, 1, "frames"), ==, 1);
	}
	munmap(db, (size_t)sysconf(_SC_PAGESIZE));
	g_free(rx);
	g_free(tx);
}

/* Whether the emulator still serves a client (its --stats-file). */
static gboolean vf_connected(Vf *vf)
{
	g_autoptr(JsonNode) st = vf_stats(vf);
	JsonObject *server = json_object_get_object_member(json_node_get_object(st), "server");

	return json_object_get_boolean_member(server, "connected");
}

/* A client killed with a doorbell still pending (the helper's SIGKILL,
 * issue 18): the frontend takes the rings over from the used index in
 * guest memory and completes what lies beyond with length 0, and the
 * driver reuses those buffers, so the device must not send a chain or
 * write a used entry after the hang-up, even for a doorbell rung before it
 * (a real VF loses bus mastering with the reset at the device fd's last
 * close). The emulator's main thread is held (ptrace) while the chain is
 * posted, the doorbell rung (@data: through the mapped page, so the
 * poller's eventfd is ready first; else as a posted REGION_WRITE message
 * queued ahead of the end of stream) and the connection hung up; then it
 * runs on and must send nothing. */
static void test_hangup_stops_datapath(gconstpointer data)
{
	gboolean mapped = GPOINTER_TO_INT(data);
	const char *const message[] = { "--doorbell", "message", NULL };
	g_autoptr(Vf) vf = vf_new(mapped ? NULL : message, 1);
	gint64 deadline;
	guint16 *db = NULL;
	Ring *rx, *tx;
	guint8 f[100];
	bool readable;
	int sock;

	pair_start(vf, &rx, &tx);
	if (mapped)
		db = map_notify_area(vf, 1);
	/* the datapath works: one frame out and back */
	send_and_wait(vf, tx, rx, 1);
	/* back in epoll_wait, with the poller asleep */
	g_usleep(50 * 1000);

	emu_hold(vf);

	fill(f, sizeof(f), 2);
	tx_send(tx, f, sizeof(f), 0, FALSE);
	if (mapped) {
		kick_mapped(db, 1);
		/* the poller's longest sleep is EMU_DOORBELL_SLEEP_MAX_US (2 ms) */
		g_usleep(100 * 1000);
	} else {
		ring_kick(tx);
	}
	/* the client's end goes as a killed process's does */
	sock = vfio_dev_lost_fd(vf->dev, &readable);
	g_assert_cmpint(sock, >=, 0);
	g_assert_cmpint(shutdown(sock, SHUT_RDWR), ==, 0);
	emu_release(vf);

	deadline = g_get_monotonic_time() + WAIT_USEC;
	while (vf_connected(vf)) {
		if (g_get_monotonic_time() > deadline)
			g_error("the emulator still serves a client 10 s after it hung up");
		g_usleep(2000);
	}
	{
		g_autoptr(JsonNode) st = vf_stats(vf);

		if (mapped)
			g_assert_cmpint(dbstat(st, "poller_signals"), >=, 1);
		else
			g_assert_cmpint(dbstat(st, "message_kicks"), >=, 2);
		g_assert_cmpint(qstat(st, 1, "frames"), ==, 1);
		g_assert_cmpint(qstat(st, 0, "frames"), ==, 1);
	}
	/* nothing was published in guest memory after the hang-up */
	g_assert_cmpuint(ring_used_idx(tx), ==, 1);
	g_assert_cmpuint(ring_used_idx(rx), ==, 1);
	if (db)
		munmap(db, (size_t)sysconf(_SC_PAGESIZE));
	g_free(rx);
	g_free(tx);
}

/* Frames flow through doorbells the driver writes (ifcvf_hw_notify_queue);
 * @mapped: they went through the mapped notify area, else as messages. */
static void expect_kicks_work(Vf *vf, gboolean mapped)
{
	Ring *rx, *tx;

	vf_begin(vf, 0);
	rx = ring_new(vf, 0, 256);
	tx = ring_new(vf, 1, 256);
	ring_start(rx);
	ring_start(tx);
	vf_driver_ok(vf);
	rx_post(rx, 4, 2048);
	ring_kick(rx);
	for (guint i = 0; i < 4; i++)
		send_and_wait(vf, tx, rx, i);
	{
		g_autoptr(JsonNode) st = vf_stats(vf);

		g_assert_cmpint(qstat(st, 1, "frames"), ==, 4);
		if (mapped) {
			g_assert_cmpint(dbstat(st, "message_kicks"), ==, 0);
			g_assert_cmpint(dbstat(st, "mapped_kicks"), >=, 2);
		} else {
			g_assert_cmpint(dbstat(st, "message_kicks"), >=, 2);
			g_assert_cmpint(dbstat(st, "mapped_kicks"), ==, 0);
		}
	}
	g_free(rx);
	g_free(tx);
}

/* --doorbell message: no host notifier (the region has no MMAP flag, and
 * the reason says so); doorbells go as REGION_WRITE and work. */
static void test_host_notifier_message(void)
{
	const char *const args[] = { "--doorbell", "message", NULL };
	g_autoptr(Vf) vf = vf_new(args, 1);
	struct ifcvf_vring_cfg cfg = { .desc = 0x1000, .avail = 0x2000, .used = 0x3000,
				       .size = 64, .vector = 1 };
	struct cerr err = { 0 };
	uint64_t off = 1, size = 1;
	int fd = 0;

	OK(ifcvf_hw_queue_program(&vf->hw, 0, &cfg, e));
	g_assert_cmpint(ifcvf_hw_notify_area(&vf->hw, 0, &fd, &off, &size, &err), ==, -ENOTSUP);
	g_assert_cmpint(fd, ==, -1);
	g_assert_cmpuint(size, ==, 0);
	g_assert_nonnull(strstr(err.msg, "vring 0"));
	g_assert_nonnull(strstr(err.msg, "region 0 cannot be mapped"));
	g_assert_nonnull(strstr(err.msg, "no MMAP flag"));
	expect_kicks_work(vf, FALSE);
}

/* --fault notify-mult=4: two doorbells share a page, so none is handed out
 * (the reason names the multiplier); the driver's own doorbell writes still
 * work, through the mapped area and the poller. */
static void test_host_notifier_small_mult(void)
{
	const char *const args[] = { "--fault", "notify-mult=4", NULL };
	g_autoptr(Vf) vf = vf_new(args, 1);
	struct ifcvf_vring_cfg cfg = { .desc = 0x1000, .avail = 0x2000, .used = 0x3000,
				       .size = 64, .vector = 1 };
	struct cerr err = { 0 };
	uint64_t off = 1, size = 1;
	int fd = 0;

	g_assert_cmpuint(vf->hw.caps.notify_off_multiplier, ==, 4);
	/* not programmed yet: no doorbell known */
	g_assert_cmpint(ifcvf_hw_notify_area(&vf->hw, 0, &fd, &off, &size, &err), ==, -EINVAL);
	cerr_clear(&err);
	OK(ifcvf_hw_queue_program(&vf->hw, 0, &cfg, e));
	g_assert_cmpint(ifcvf_hw_notify_area(&vf->hw, 0, &fd, &off, &size, &err), ==, -ENOTSUP);
	g_assert_cmpint(fd, ==, -1);
	g_assert_nonnull(strstr(err.msg, "vring 0"));
	g_assert_nonnull(strstr(err.msg, "notify_off_multiplier 4"));
	g_assert_nonnull(strstr(err.msg, "own 4096-byte page"));
	expect_kicks_work(vf, TRUE);
}

/* ---- options ---- */

typedef struct {
	const char *args[6];
	const char *names;
} BadOption;

static const BadOption bad_options[] = {
	{ { "--wire", "bogus" }, "--wire" },
	{ { "--wire", "tap:" }, "--wire tap" },
	{ { "--wire", "tap:averyveryverylongname" }, "--wire tap" },
	{ { "--wire", "pair:" }, "--wire pair" },
	{ { "--wire", "gen:pps=0" }, "--wire gen:pps" },
	{ { "--wire", "gen:size=10" }, "--wire gen:size" },
	{ { "--wire", "gen:count=-1" }, "--wire gen:count" },
	{ { "--wire", "gen:pair=1" }, "--wire gen:pair=1" },
	{ { "--wire", "gen:speed=3" }, "--wire gen" },
	{ { "--wire", "gen:pps" }, "--wire gen" },
	{ { "--wire", "gen:pps=fast" }, "--wire gen:pps" },
	{ { "--wire", "gen:pps=maximum" }, "--wire gen:pps" },
	{ { "--wire", "generator" }, "--wire" },
	{ { "--rx-fifo", "0" }, "--rx-fifo" },
	{ { "--rx-fifo", "65537" }, "--rx-fifo" },
	{ { "--rx-fifo", "many" }, "--rx-fifo" },
	{ { "--stats-file", "" }, "--stats-file" },
	{ { "--type", "blk", "--wire", "loop" }, "--wire" },
	{ { "--type", "blk", "--rx-fifo", "4" }, "--rx-fifo" },
	{ { "--virtio-function", "--fault", "cap-bar=2" }, "--virtio-function" },
	{ { "--type", "blk", "--virtio-function" }, "--virtio-function" },
	{ { "--features-extra", "lots" }, "--features-extra" },
	{ { "--features-extra", "-1" }, "--features-extra" },
	{ { "--doorbell", "mmap" }, "--doorbell" },
	{ { "--fault", "notify-mult=3" }, "--fault notify-mult=3" },
	{ { "--fault", "notify-mult=8192" }, "--fault notify-mult" },
	{ { "--fault", "notify-mult=0" }, "--fault notify-mult" },
};

static void test_bad_options(void)
{
	const char *emu = test_program("IFCVF_EMU");

	for (guint i = 0; i < G_N_ELEMENTS(bad_options); i++) {
		const BadOption *b = &bad_options[i];
		const char *argv[10] = { emu, "--socket", "/nonexistent/s" };

		for (guint j = 0; j < G_N_ELEMENTS(b->args) && b->args[j]; j++)
			argv[j + 3] = b->args[j];
		test_assert_usage_error(argv, b->names);
	}
	{
		const char *argv[] = { emu, "--help", NULL };
		g_autofree char *out = NULL, *err = NULL;

		g_assert_cmpint(test_run(argv, &out, &err), ==, 0);
		g_assert_nonnull(strstr(out, "--wire KIND"));
		g_assert_nonnull(strstr(out, "tap:IFNAME"));
		g_assert_nonnull(strstr(out, "pair:PATH"));
		g_assert_nonnull(strstr(out, "gen[:OPT,...]"));
		g_assert_nonnull(strstr(out, "pps=max"));
		g_assert_nonnull(strstr(out, "--rx-fifo N"));
		g_assert_nonnull(strstr(out, "--stats-file PATH"));
		g_assert_nonnull(strstr(out, "VIRTIO_F_RING_PACKED is not offered"));
		g_assert_nonnull(strstr(out, "--doorbell mapped|message"));
		g_assert_nonnull(strstr(out, "notify-mult=N"));
	}
}

/* The device never offers packed rings. */
static void test_features(void)
{
	g_autoptr(Vf) vf = vf_new(NULL, 1);

	g_assert_cmphex(vf->hw.features & BIT(VIRTIO_F_RING_PACKED), ==, 0);
	g_assert_cmphex(vf->hw.features & BIT(VIRTIO_RING_F_EVENT_IDX), !=, 0);
	g_assert_cmphex(vf->hw.features & BIT(VIRTIO_RING_F_INDIRECT_DESC), !=, 0);
	g_assert_cmphex(vf->hw.features & BIT(VIRTIO_NET_F_MRG_RXBUF), !=, 0);
}

/* --features-extra offers more, honoured or not; the rest stays */
static void test_features_extra(void)
{
	const char *const args[] = { "--features-extra", "0x10400000000", NULL };
	g_autoptr(Vf) vf = vf_new(args, 1);

	g_assert_cmphex(vf->hw.features & BIT(VIRTIO_F_RING_PACKED), !=, 0);
	g_assert_cmphex(vf->hw.features & BIT(40), !=, 0);
	g_assert_cmphex(vf->hw.features & BIT(VIRTIO_NET_F_MRG_RXBUF), !=, 0);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	signal(SIGPIPE, SIG_IGN);
	g_test_add_func("/ifcvf-helper/emu-datapath/features", test_features);
	g_test_add_func("/ifcvf-helper/emu-datapath/features-extra", test_features_extra);
	g_test_add_func("/ifcvf-helper/emu-datapath/virtio-function/mq", test_virtio_function_mq);
	g_test_add_func("/ifcvf-helper/emu-datapath/loop", test_loop);
	g_test_add_func("/ifcvf-helper/emu-datapath/mrg-rxbuf", test_mrg_rxbuf);
	g_test_add_func("/ifcvf-helper/emu-datapath/event-idx", test_event_idx);
	g_test_add_func("/ifcvf-helper/emu-datapath/no-interrupt", test_no_interrupt);
	g_test_add_func("/ifcvf-helper/emu-datapath/bad-dma", test_bad_dma);
	g_test_add_func("/ifcvf-helper/emu-datapath/long-chain", test_long_chain);
	g_test_add_func("/ifcvf-helper/emu-datapath/suspend-fifo", test_suspend_fifo);
	g_test_add_func("/ifcvf-helper/emu-datapath/fifo-overflow", test_fifo_overflow);
	g_test_add_func("/ifcvf-helper/emu-datapath/fifo-dropped-at-exit", test_fifo_dropped_at_exit);
	g_test_add_func("/ifcvf-helper/emu-datapath/fifo-drain", test_fifo_drain);
	g_test_add_func("/ifcvf-helper/emu-datapath/gen-max", test_gen_max);
	g_test_add_func("/ifcvf-helper/emu-datapath/gen-max-mrg", test_gen_max_mrg);
	g_test_add_func("/ifcvf-helper/emu-datapath/dirty-log", test_dirty_log);
	g_test_add_func("/ifcvf-helper/emu-datapath/gen-checker", test_gen_checker);
	g_test_add_func("/ifcvf-helper/emu-datapath/pair", test_pair);
	g_test_add_func("/ifcvf-helper/emu-datapath/tap", test_tap);
	g_test_add_func("/ifcvf-helper/emu-datapath/virtio-function/reset",
			test_virtio_function_reset);
	g_test_add_func("/ifcvf-helper/emu-datapath/virtio-function/gen-reset",
			test_virtio_function_gen_reset);
	g_test_add_func("/ifcvf-helper/emu-datapath/virtio-function/gen-max-reset",
			test_virtio_function_gen_max_reset);
	g_test_add_func("/ifcvf-helper/emu-datapath/bad-options", test_bad_options);
	g_test_add_func("/ifcvf-helper/emu-datapath/host-notifier", test_host_notifier);
	g_test_add_func("/ifcvf-helper/emu-datapath/host-notifier/ordering",
			test_host_notifier_ordering);
	g_test_add_func("/ifcvf-helper/emu-datapath/host-notifier/ordering-held",
			test_host_notifier_ordering_held);
	g_test_add_data_func("/ifcvf-helper/emu-datapath/hangup-stops-datapath/mapped",
			     GINT_TO_POINTER(TRUE), test_hangup_stops_datapath);
	g_test_add_data_func("/ifcvf-helper/emu-datapath/hangup-stops-datapath/message",
			     GINT_TO_POINTER(FALSE), test_hangup_stops_datapath);
	g_test_add_func("/ifcvf-helper/emu-datapath/host-notifier/message",
			test_host_notifier_message);
	g_test_add_func("/ifcvf-helper/emu-datapath/host-notifier/small-multiplier",
			test_host_notifier_small_mult);
	/* rates only, nothing asserted: registered only when asked for (-m perf) */
	if (g_test_perf()) {
		g_test_add_func("/ifcvf-helper/emu-datapath/perf", test_perf);
		g_test_add_func("/ifcvf-helper/emu-datapath/perf-gen-max", test_perf_gen_max);
	}
	return g_test_run();
}

/* The emulated VF's blk datapath, driven as a guest driver would: the real
 * ifcvf-emu over vfio-user, programmed by the project's own driver
 * (src/ifcvf), its rings filled by the test ring driver (tests/lib) that
 * shares no code with the emulator. Requests of every type, malformed
 * ones, out-of-order completion, a queue stop that drains what is in
 * flight, dirty logging exact to the page, and a capacity change. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "ifcvf-hw.h"
#include "ifcvf-regs.h"
#include "test-util.h"
#include "vfio-dev.h"
#include "virtq-drv.h"
#include "vu-frontend.h"

#define MEM_SIZE (32u << 20)
#define PAGE 4096u
#define SECTOR 512u
#define QSIZE 256u
#define MAX_QUEUES 2u
#define WAIT_MS 10000
#define DISK_SECTORS 8192u       /* 4 MiB backing file */
#define BIT(n) (G_GUINT64_CONSTANT(1) << (n))

#define T_IN 0u
#define T_OUT 1u
#define T_FLUSH 4u
#define T_GET_ID 8u
#define T_DISCARD 11u
#define T_WRITE_ZEROES 13u
#define S_OK 0u
#define S_IOERR 1u
#define S_UNSUPP 2u

#define OK(call)                                                  \
	do {                                                      \
		struct cerr e_ = { 0 };                           \
		struct cerr *e = &e_;                             \
		if ((call) < 0)                                   \
			g_error("%s: %s", #call, e_.msg);         \
	} while (0)

typedef struct {
	TestEmu *emu;
	char *dir;
	char *backing;
	char *stats_path;
	gint64 stats_seq;
	struct vfio_dev *dev;
	struct ifcvf_hw hw;
	struct vu_guest_mem mem;
	guint nq;
	int efd[MAX_QUEUES + 1];     /* vector 0: config, q + 1: queue q */
	struct virtq_drv q[MAX_QUEUES];
} Blk;

/* One request as the driver lays it out: header, data, status byte. */
typedef struct {
	guint64 hdr, data, status;
	guint32 data_len;
	guint16 head;
} Req;

static Blk *blk_new(const char *const *extra, guint nq)
{
	g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error = NULL;
	const struct ifcvf_devargs dargs = { 0 };
	struct cerr err = { 0 };
	Blk *b = g_new0(Blk, 1);
	int fd;

	b->nq = nq;
	b->dir = g_dir_make_tmp("emu-blk-XXXXXX", &error);
	g_assert_no_error(error);
	b->backing = g_build_filename(b->dir, "disk.raw", NULL);
	b->stats_path = g_build_filename(b->dir, "stats.json", NULL);
	fd = open(b->backing, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(ftruncate(fd, (off_t)DISK_SECTORS * SECTOR), ==, 0);
	close(fd);
	for (const char *const *a = (const char *const[]){ "--type", "blk", "--backing", NULL }; *a;
	     a++)
		g_ptr_array_add(args, g_strdup(*a));
	g_ptr_array_add(args, g_strdup(b->backing));
	g_ptr_array_add(args, g_strdup("--queues"));
	g_ptr_array_add(args, g_strdup_printf("%u", nq));
	g_ptr_array_add(args, g_strdup("--stats-file"));
	g_ptr_array_add(args, g_strdup(b->stats_path));
	for (guint i = 0; extra && extra[i]; i++)
		g_ptr_array_add(args, g_strdup(extra[i]));
	g_ptr_array_add(args, NULL);
	b->emu = test_emu_start((const char *const *)args->pdata);

	if (vfio_dev_open(b->emu->address, NULL, &b->dev, &err) < 0)
		g_error("open %s: %s", b->emu->address, err.msg);
	if (ifcvf_hw_init(&b->hw, b->dev, &dargs, &err) < 0)
		g_error("init: %s", err.msg);
	g_assert_cmpint(b->hw.type, ==, IFCVF_DEV_BLK);
	if (vu_guest_mem_init(&b->mem, MEM_SIZE, &err) < 0)
		g_error("guest memory: %s", err.msg);
	OK(vfio_dev_dma_map(b->dev, 0, MEM_SIZE, b->mem.base, b->mem.fd, 0, e));
	for (guint i = 0; i <= nq; i++) {
		b->efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		g_assert_cmpint(b->efd[i], >=, 0);
	}
	OK(vfio_dev_set_irq_eventfds(b->dev, VFIO_DEV_IRQ_MSIX, 0, nq + 1, b->efd, e));
	return b;
}

static void blk_free(Blk *b)
{
	for (guint i = 0; i < b->nq; i++)
		if (b->q[i].desc)
			virtq_drv_fini(&b->q[i]);
	vfio_dev_close(b->dev);
	test_emu_stop(b->emu);
	for (guint i = 0; i <= b->nq; i++)
		close(b->efd[i]);
	vu_guest_mem_fini(&b->mem);
	g_unlink(b->backing);
	g_unlink(b->stats_path);
	g_rmdir(b->dir);
	g_free(b->backing);
	g_free(b->stats_path);
	g_free(b->dir);
	g_free(b);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Blk, blk_free)

/* Reset, features, every queue programmed and enabled, DRIVER_OK. */
static void blk_start(Blk *b, guint64 features)
{
	struct cerr err = { 0 };

	OK(ifcvf_hw_reset(&b->hw, 1000, e));
	OK(ifcvf_hw_add_status(&b->hw, VIRTIO_STATUS_ACKNOWLEDGE, e));
	OK(ifcvf_hw_add_status(&b->hw, VIRTIO_STATUS_DRIVER, e));
	OK(ifcvf_hw_set_features(&b->hw, features | BIT(VIRTIO_F_VERSION_1) |
				 BIT(VIRTIO_F_ACCESS_PLATFORM), e));
	OK(ifcvf_hw_set_config_vector(&b->hw, 0, e));
	OK(ifcvf_hw_set_mq(&b->hw, b->nq, e));
	for (guint i = 0; i < b->nq; i++) {
		struct virtq_drv *q = &b->q[i];
		struct ifcvf_vring_cfg cfg;

		if (virtq_drv_init(q, &b->mem, i, QSIZE, false, &err) < 0)
			g_error("ring %u: %s", i, err.msg);
		cfg = (struct ifcvf_vring_cfg){ .desc = q->desc_gpa, .avail = q->avail_gpa,
						.used = q->used_gpa, .size = QSIZE,
						.vector = (guint16)(i + 1) };
		OK(ifcvf_hw_queue_program(&b->hw, i, &cfg, e));
		OK(ifcvf_hw_queue_enable(&b->hw, i, e));
	}
	OK(ifcvf_hw_add_status(&b->hw, VIRTIO_STATUS_DRIVER_OK, e));
}

/* the ring driver decides whether the device wants a kick (its kick
 * eventfd is only a marker here); the kick is the VF's doorbell */
static void kick(Blk *b, guint qi)
{
	if (virtq_drv_kick(&b->q[qi]) == 1)
		OK(ifcvf_hw_notify_queue(&b->hw, qi, e));
}

/* Lay out a request: @data_len bytes of data (split into @pieces
 * descriptors, in an indirect table with @indirect). */
static Req req_add(Blk *b, guint qi, guint32 type, guint64 sector, guint32 data_len,
		   guint pieces, gboolean indirect, const guint8 *out)
{
	struct virtq_buf bufs[20];
	Req r = { 0 };
	guint8 *hdr;
	guint n = 0;
	int head;

	g_assert_cmpuint(pieces + 2, <=, G_N_ELEMENTS(bufs));
	r.hdr = vu_guest_mem_alloc(&b->mem, 16, 16);
	hdr = vu_gpa(&b->mem, r.hdr);
	*(guint32 *)hdr = GUINT32_TO_LE(type);
	*(guint32 *)(hdr + 4) = 0;
	*(guint64 *)(hdr + 8) = GUINT64_TO_LE(sector);
	r.data_len = data_len;
	bufs[n++] = (struct virtq_buf){ r.hdr, 16, false };
	if (data_len) {
		guint32 piece = data_len / pieces, at = 0;

		r.data = vu_guest_mem_alloc(&b->mem, data_len, PAGE);
		if (out)
			memcpy(vu_gpa(&b->mem, r.data), out, data_len);
		else
			memset(vu_gpa(&b->mem, r.data), 0xee, data_len);
		for (guint i = 0; i < pieces; i++) {
			guint32 len = i + 1 == pieces ? data_len - at : piece;

			bufs[n++] = (struct virtq_buf){ r.data + at, len, out == NULL };
			at += len;
		}
	}
	r.status = vu_guest_mem_alloc(&b->mem, 1, 1);
	*(guint8 *)vu_gpa(&b->mem, r.status) = 0xff;
	bufs[n++] = (struct virtq_buf){ r.status, 1, true };
	head = virtq_drv_add(&b->q[qi], &b->mem, bufs, n, indirect);
	g_assert_cmpint(head, >=, 0);
	r.head = (guint16)head;
	return r;
}

/* Reap @n used entries (bounded wait), ids and lengths in completion order. */
static void reap(Blk *b, guint qi, guint n, guint32 *ids, guint32 *lens)
{
	gint64 deadline = g_get_monotonic_time() + WAIT_MS * 1000;
	guint got = 0;

	while (got < n) {
		guint32 id, len;

		if (virtq_drv_get_used(&b->q[qi], &id, &len) == 1) {
			if (ids)
				ids[got] = id;
			if (lens)
				lens[got] = len;
			got++;
			continue;
		}
		if (g_get_monotonic_time() > deadline)
			g_error("queue %u: %u of %u requests completed within %d ms", qi, got, n,
				WAIT_MS);
		g_usleep(200);
	}
}

static guint8 status_of(Blk *b, const Req *r)
{
	return *(guint8 *)vu_gpa(&b->mem, r->status);
}

/* One request, waited for: its status. */
static guint8 one(Blk *b, guint qi, guint32 type, guint64 sector, guint32 len,
		  const guint8 *out, guint32 *ret_used_len)
{
	Req r = req_add(b, qi, type, sector, len, 1, FALSE, out);
	guint32 id, used_len;

	kick(b, qi);
	reap(b, qi, 1, &id, &used_len);
	g_assert_cmpuint(id, ==, r.head);
	if (ret_used_len)
		*ret_used_len = used_len;
	return status_of(b, &r);
}

static JsonNode *blk_stats(Blk *b)
{
	gint64 deadline = g_get_monotonic_time() + WAIT_MS * 1000;

	g_assert_cmpint(kill(b->emu->pid, SIGUSR1), ==, 0);
	for (;;) {
		g_autofree char *text = NULL;
		g_autoptr(JsonParser) parser = json_parser_new();

		if (g_file_get_contents(b->stats_path, &text, NULL, NULL) &&
		    json_parser_load_from_data(parser, text, -1, NULL)) {
			JsonObject *root = json_node_get_object(json_parser_get_root(parser));
			gint64 seq = json_object_get_int_member(root, "seq");

			if (seq > b->stats_seq) {
				b->stats_seq = seq;
				return json_parser_steal_root(parser);
			}
		}
		if (g_get_monotonic_time() > deadline)
			g_error("no new %s within 10 s of SIGUSR1", b->stats_path);
		g_usleep(2000);
	}
}

static gint64 qstat(Blk *b, guint qi, const char *name)
{
	g_autoptr(JsonNode) root = blk_stats(b);
	JsonObject *blk = json_object_get_object_member(json_node_get_object(root), "blk");
	JsonArray *qs = json_object_get_array_member(blk, "queues");

	return json_object_get_int_member(json_array_get_object_element(qs, qi), name);
}

static void fill(guint8 *p, gsize len, guint seed)
{
	for (gsize i = 0; i < len; i++)
		p[i] = (guint8)(seed * 131 + i * 7 + (i >> 9));
}

static void read_backing(Blk *b, guint64 sector, guint8 *buf, gsize len)
{
	int fd = open(b->backing, O_RDONLY | O_CLOEXEC);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(pread(fd, buf, len, (off_t)(sector * SECTOR)), ==, (gssize)len);
	close(fd);
}

/* ---- tests ---- */

/* OUT then IN over plain, split and indirect chains, on two queues: the
 * data comes back, and the backing file holds exactly what was written. */
static void test_read_write(void)
{
	g_autoptr(Blk) b = blk_new(NULL, 2);
	const guint32 len = 8 * SECTOR;

	blk_start(b, BIT(VIRTIO_BLK_F_FLUSH) | BIT(VIRTIO_BLK_F_MQ));
	for (guint round = 0; round < 6; round++) {
		guint qi = round % 2, pieces = 1 + round % 3;
		gboolean indirect = round >= 3;
		guint64 sector = 100 + round * 16;
		g_autofree guint8 *out = g_malloc(len);
		g_autofree guint8 *disk = g_malloc(len);
		guint32 used_len;
		Req r;
		guint32 id;

		fill(out, len, round);
		r = req_add(b, qi, T_OUT, sector, len, pieces, indirect, out);
		kick(b, qi);
		reap(b, qi, 1, &id, &used_len);
		g_assert_cmpuint(id, ==, r.head);
		g_assert_cmpuint(status_of(b, &r), ==, S_OK);
		g_assert_cmpuint(used_len, ==, 1);
		read_backing(b, sector, disk, len);
		g_assert_cmpmem(disk, len, out, len);

		r = req_add(b, qi, T_IN, sector, len, pieces, indirect, NULL);
		kick(b, qi);
		reap(b, qi, 1, &id, &used_len);
		g_assert_cmpuint(status_of(b, &r), ==, S_OK);
		g_assert_cmpuint(used_len, ==, len + 1);
		g_assert_cmpmem(vu_gpa(&b->mem, r.data), len, out, len);
	}
	g_assert_cmpuint(one(b, 0, T_FLUSH, 0, 0, NULL, NULL), ==, S_OK);
	g_assert_cmpint(qstat(b, 0, "writes"), ==, 3);
	g_assert_cmpint(qstat(b, 1, "reads"), ==, 3);
}

/* GET_ID, FLUSH, DISCARD and WRITE_ZEROES, negotiated or not; unknown types. */
static void test_request_types(void)
{
	const char *const extra[] = { "--features-extra", "0x6000", NULL };
	g_autoptr(Blk) b = blk_new(extra, 1);
	guint8 out[4 * SECTOR], zero[2 * SECTOR] = { 0 };
	guint32 used_len;
	Req r;
	guint32 id;

	blk_start(b, BIT(VIRTIO_BLK_F_DISCARD));
	r = req_add(b, 0, T_GET_ID, 0, 20, 1, FALSE, NULL);
	kick(b, 0);
	reap(b, 0, 1, &id, &used_len);
	g_assert_cmpuint(status_of(b, &r), ==, S_OK);
	g_assert_cmpuint(used_len, ==, 21);
	g_assert_true(g_str_has_prefix(vu_gpa(&b->mem, r.data), "ifcvf-emu-"));
	/* FLUSH and WRITE_ZEROES were not negotiated */
	g_assert_cmpuint(one(b, 0, T_FLUSH, 0, 0, NULL, NULL), ==, S_UNSUPP);
	g_assert_cmpuint(one(b, 0, 99, 0, 0, NULL, NULL), ==, S_UNSUPP);

	fill(out, sizeof(out), 9);
	g_assert_cmpuint(one(b, 0, T_OUT, 40, sizeof(out), out, NULL), ==, S_OK);
	{
		guint8 seg[16] = { 0 };

		*(guint64 *)seg = GUINT64_TO_LE(41);
		*(guint32 *)(seg + 8) = GUINT32_TO_LE(2);
		g_assert_cmpuint(one(b, 0, T_DISCARD, 0, 16, seg, NULL), ==, S_OK);
		g_assert_cmpuint(one(b, 0, T_WRITE_ZEROES, 0, 16, seg, NULL), ==, S_UNSUPP);
		/* a range past the end */
		*(guint64 *)seg = GUINT64_TO_LE(DISK_SECTORS - 1);
		g_assert_cmpuint(one(b, 0, T_DISCARD, 0, 16, seg, NULL), ==, S_IOERR);
	}
	{
		guint8 disk[4 * SECTOR];

		read_backing(b, 40, disk, sizeof(disk));
		g_assert_cmpmem(disk, SECTOR, out, SECTOR);
		g_assert_cmpmem(disk + SECTOR, 2 * SECTOR, zero, sizeof(zero));
		g_assert_cmpmem(disk + 3 * SECTOR, SECTOR, out + 3 * SECTOR, SECTOR);
	}
	g_assert_cmpint(qstat(b, 0, "discards"), ==, 1);
}

/* Requests a driver must not send: answered IOERR (or, with nowhere to
 * answer, completed with length 0), and the queue serves the next one. */
static void test_bad_requests(void)
{
	g_autoptr(Blk) b = blk_new(NULL, 1);
	guint8 out[2 * SECTOR];
	struct virtq_buf bufs[2];
	guint32 id, used_len;
	guint64 a;
	int head;

	blk_start(b, 0);
	fill(out, sizeof(out), 3);
	/* past the end, straddling the end, not whole sectors */
	g_assert_cmpuint(one(b, 0, T_IN, DISK_SECTORS, SECTOR, NULL, NULL), ==, S_IOERR);
	g_assert_cmpuint(one(b, 0, T_OUT, DISK_SECTORS - 1, 2 * SECTOR, out, NULL), ==, S_IOERR);
	g_assert_cmpuint(one(b, 0, T_OUT, 0, SECTOR + 100, out, NULL), ==, S_IOERR);
	g_assert_cmpuint(one(b, 0, T_IN, 0, 100, NULL, NULL), ==, S_IOERR);

	/* a header the device may only write, then a status byte */
	a = vu_guest_mem_alloc(&b->mem, 32, 16);
	bufs[0] = (struct virtq_buf){ a, 16, true };
	bufs[1] = (struct virtq_buf){ a + 16, 1, true };
	*(guint8 *)vu_gpa(&b->mem, a + 16) = 0xff;
	head = virtq_drv_add(&b->q[0], &b->mem, bufs, 2, FALSE);
	kick(b, 0);
	reap(b, 0, 1, &id, &used_len);
	g_assert_cmpuint(id, ==, (guint32)head);
	g_assert_cmpuint(*(guint8 *)vu_gpa(&b->mem, a + 16), ==, S_IOERR);

	/* no writable byte at all: nowhere for a status */
	bufs[0] = (struct virtq_buf){ a, 16, false };
	head = virtq_drv_add(&b->q[0], &b->mem, bufs, 1, FALSE);
	kick(b, 0);
	reap(b, 0, 1, &id, &used_len);
	g_assert_cmpuint(used_len, ==, 0);

	/* the queue still serves */
	g_assert_cmpuint(one(b, 0, T_OUT, 0, SECTOR, out, NULL), ==, S_OK);
	g_assert_cmpint(qstat(b, 0, "no_status"), ==, 1);
	g_assert_cmpint(qstat(b, 0, "errors"), ==, 0);
}

/* Many requests in flight complete in another order than posted, each
 * exactly once, with the right data. */
static void test_out_of_order(void)
{
	const char *const extra[] = { "--complete-order", "random", NULL };
	g_autoptr(Blk) b = blk_new(extra, 1);
	const guint n = 96;
	Req r[96];
	guint32 ids[96], lens[96];
	gboolean seen[QSIZE] = { FALSE };
	guint inversions = 0;

	blk_start(b, 0);
	for (guint i = 0; i < n; i++) {
		guint8 out[SECTOR];

		fill(out, sizeof(out), i);
		/* indirect: 96 chains of 3 would not fit the ring's 256 */
		r[i] = req_add(b, 0, T_OUT, i, SECTOR, 1, TRUE, out);
	}
	kick(b, 0);
	reap(b, 0, n, ids, lens);
	for (guint i = 0; i < n; i++) {
		g_assert_false(seen[ids[i]]);
		seen[ids[i]] = TRUE;
		g_assert_cmpuint(lens[i], ==, 1);
		if (i && ids[i] < ids[i - 1])
			inversions++;
	}
	for (guint i = 0; i < n; i++) {
		guint8 want[SECTOR], disk[SECTOR];

		g_assert_true(seen[r[i].head]);
		g_assert_cmpuint(status_of(b, &r[i]), ==, S_OK);
		fill(want, sizeof(want), i);
		read_backing(b, i, disk, sizeof(disk));
		g_assert_cmpmem(disk, SECTOR, want, SECTOR);
	}
	g_assert_cmpuint(inversions, >, 0);
	g_assert_cmpint(qstat(b, 0, "out_of_order"), >, 0);
}

/* --complete-order fifo: the used ring shows the posting order. */
static void test_fifo_order(void)
{
	const char *const extra[] = { "--complete-order", "fifo", NULL };
	g_autoptr(Blk) b = blk_new(extra, 1);
	guint32 ids[32];
	Req r[32];

	blk_start(b, 0);
	for (guint i = 0; i < 32; i++)
		r[i] = req_add(b, 0, T_IN, i, SECTOR, 1, FALSE, NULL);
	kick(b, 0);
	reap(b, 0, 32, ids, NULL);
	for (guint i = 0; i < 32; i++)
		g_assert_cmpuint(ids[i], ==, r[i].head);
	g_assert_cmpint(qstat(b, 0, "out_of_order"), ==, 0);
}

/* A queue stop (queue_enable=0, as the helper's GET_VRING_BASE does) first
 * completes every request the VF took: the ring state it leaves has
 * last_avail == last_used == what the used ring shows. */
static void test_stop_drains(void)
{
	const char *const extra[] = { "--complete-order", "reverse", NULL };
	g_autoptr(Blk) b = blk_new(extra, 1);
	guint16 last_avail = 0, last_used = 0;
	guint32 ids[64];

	blk_start(b, 0);
	for (guint round = 0; round < 5; round++) {
		for (guint i = 0; i < 64; i++)
			req_add(b, 0, T_IN, i, 4 * SECTOR, 2, round % 2, NULL);
		kick(b, 0);
		OK(ifcvf_hw_queue_disable(&b->hw, 0, 1000, &last_avail, &last_used, e));
		g_assert_cmpuint(last_avail, ==, last_used);
		g_assert_cmpuint(__atomic_load_n(&b->q[0].used->idx, __ATOMIC_ACQUIRE), ==,
				 last_used);
		reap(b, 0, (guint16)(last_used - b->q[0].last_used), ids, NULL);
		/* what it did not take yet is taken once the queue runs again */
		{
			struct ifcvf_vring_cfg cfg = {
				.desc = b->q[0].desc_gpa, .avail = b->q[0].avail_gpa,
				.used = b->q[0].used_gpa, .size = QSIZE, .vector = 1,
				.last_avail_idx = last_avail, .last_used_idx = last_used,
			};

			OK(ifcvf_hw_queue_program(&b->hw, 0, &cfg, e));
			OK(ifcvf_hw_queue_enable(&b->hw, 0, e));
		}
		reap(b, 0, (guint16)(b->q[0].avail_idx - b->q[0].last_used), NULL, NULL);
	}
	g_assert_cmpint(qstat(b, 0, "requests"), ==, 5 * 64);
}

static gboolean logged(const guint8 *log, guint64 page)
{
	return log[page / 8] & (1u << (page % 8));
}

/* With BAR4 logging on, every page an IN request's data and status land in
 * is logged, and no page the device only read. */
static void test_dirty_log(void)
{
	g_autoptr(Blk) b = blk_new(NULL, 1);
	const guint64 log_size = MEM_SIZE / PAGE / 8;
	guint64 log_iova;
	guint8 *log;
	Req rin, rout;
	guint32 id;
	guint8 out[PAGE];   /* a whole page: the status byte lies on the next */

	blk_start(b, 0);
	log_iova = vu_guest_mem_alloc(&b->mem, log_size, PAGE);
	log = vu_gpa(&b->mem, log_iova);
	/* page-aligned buffers so each test page is the request's alone */
	b->mem.next = (b->mem.next + PAGE - 1) & ~(guint64)(PAGE - 1);
	OK(ifcvf_hw_enable_logging(&b->hw, log_iova, log_size, e));
	fill(out, sizeof(out), 5);
	rout = req_add(b, 0, T_OUT, 0, sizeof(out), 1, FALSE, out);
	kick(b, 0);
	reap(b, 0, 1, &id, NULL);
	b->mem.next = (b->mem.next + PAGE - 1) & ~(guint64)(PAGE - 1);
	rin = req_add(b, 0, T_IN, 0, 3 * PAGE, 3, FALSE, NULL);
	kick(b, 0);
	reap(b, 0, 1, &id, NULL);
	OK(ifcvf_hw_disable_logging(&b->hw, e));
	for (guint64 p = rin.data / PAGE; p < (rin.data + 3 * PAGE) / PAGE; p++)
		g_assert_true(logged(log, p));
	g_assert_true(logged(log, rin.status / PAGE));
	g_assert_true(logged(log, rout.status / PAGE));
	g_assert_true(logged(log, b->q[0].used_gpa / PAGE));
	/* the OUT data page was only read (its status lies on another page) */
	g_assert_cmpuint(rout.data / PAGE, !=, rout.status / PAGE);
	g_assert_false(logged(log, rout.data / PAGE));
	g_assert_false(logged(log, b->q[0].desc_gpa / PAGE));
}

/* SIGUSR2 after the backing file grew: the new capacity in the config
 * space, a config interrupt, a new config generation. */
static void test_capacity_change(void)
{
	g_autoptr(Blk) b = blk_new(NULL, 1);
	guint64 cap = 0;
	struct pollfd p;
	guint8 out[SECTOR];

	blk_start(b, 0);
	OK(ifcvf_hw_read_device_config(&b->hw, VIRTIO_BLK_CFG_CAPACITY, &cap, 8, e));
	g_assert_cmpuint(GUINT64_FROM_LE(cap), ==, DISK_SECTORS);
	g_assert_cmpint(truncate(b->backing, (off_t)2 * DISK_SECTORS * SECTOR), ==, 0);
	g_assert_cmpint(kill(b->emu->pid, SIGUSR2), ==, 0);
	p = (struct pollfd){ .fd = b->efd[0], .events = POLLIN };
	g_assert_cmpint(poll(&p, 1, WAIT_MS), ==, 1);
	OK(ifcvf_hw_read_device_config(&b->hw, VIRTIO_BLK_CFG_CAPACITY, &cap, 8, e));
	g_assert_cmpuint(GUINT64_FROM_LE(cap), ==, 2 * DISK_SECTORS);
	/* and the new sectors are there */
	fill(out, sizeof(out), 77);
	g_assert_cmpuint(one(b, 0, T_OUT, 2 * DISK_SECTORS - 1, SECTOR, out, NULL), ==, S_OK);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/emu-blk/read-write", test_read_write);
	g_test_add_func("/emu-blk/request-types", test_request_types);
	g_test_add_func("/emu-blk/bad-requests", test_bad_requests);
	g_test_add_func("/emu-blk/out-of-order", test_out_of_order);
	g_test_add_func("/emu-blk/fifo-order", test_fifo_order);
	g_test_add_func("/emu-blk/stop-drains", test_stop_drains);
	g_test_add_func("/emu-blk/dirty-log", test_dirty_log);
	g_test_add_func("/emu-blk/capacity-change", test_capacity_change);
	return g_test_run();
}

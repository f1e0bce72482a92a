/* A blk VF resized while requests are in flight (issue 14): ifcvf-emu
 * serving a backing file, `ifcvf-helper run`, and the test frontend of
 * tests/lib acting as QEMU's vhost-user-blk-pci and as the guest.
 *
 * Two driver threads, one per vring, write batches of 4 KiB blocks past
 * the disk's old end, as `dd` did in guest-blk, and reap completions the
 * way a guest driver does: only after the call eventfd fires (interrupts
 * re-enabled and the used ring looked at again before sleeping). Meanwhile the main thread grows the
 * backing file, sends SIGUSR2 (the VF raises its config interrupt), and
 * answers each config-change notice on the backend channel with
 * GET_CONFIG, as QEMU's main loop does. Every request must complete once,
 * with status OK, and every completion must be signalled; a vring that
 * waits WAIT_CALL_S for a signal fails the test and says whether the VF
 * never took the requests (a lost kick) or completed them unsignalled (a
 * lost interrupt). Bounded waits only guard against a hang. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "datapath-util.h"
#include "virtq-drv.h"
#include "vu-frontend.h"

#define F_VERSION_1 32
#define F_PROTOCOL 30
#define F_EVENT_IDX 29
#define F_BLK_MQ 12
#define VU_GET_CONFIG 24u
#define VU_PF_CONFIG 9

#define NQ 2u
#define QSIZE 128u
#define BATCH 16u
#define BLOCK 4096u
#define RESIZES 40u
#define GROW (64u * 1024u)       /* bytes the file grows per resize */
#define WAIT_CALL_S 10           /* a lost interrupt, not a slow machine */
#define WAIT_S 30

typedef struct Rig Rig;

typedef struct {
	Rig *r;
	unsigned index;
	unsigned depth;              /* requests per batch */
	struct virtq_drv q;
	GThread *thread;
	guint64 requests;            /* completed and checked (atomic) */
	guint64 calls;               /* call eventfd signals taken */
	char *failure;               /* NULL while all is well */
} Queue;

struct Rig {
	char *dir;
	char *backing;
	TestEmu *emu;
	DpProc *helper;
	struct vu_guest_mem mem;
	struct vu_frontend fe;
	Queue q[NQ];
	uint64_t capacity;           /* sectors the frontend last read (atomic) */
	int stop;                    /* atomic */
	GMutex mem_lock;             /* the bump allocator is shared */
};

/* GET_CONFIG of the capacity, as QEMU's config-change handler sends it */
static uint64_t get_capacity(Rig *r)
{
	struct {
		uint32_t offset, size, flags;
		uint8_t region[8];
	} __attribute__((packed)) q = { 0, 8, 0, { 0 } }, a;
	struct cerr ce = { 0 };
	uint64_t sectors = 0;

	if (vu_frontend_request(&r->fe, VU_GET_CONFIG, &q, sizeof(q), NULL, 0, &a, sizeof(a),
				&ce) < 0)
		g_error("GET_CONFIG: %s", ce.msg);
	for (unsigned i = 0; i < 8; i++)
		sectors |= (uint64_t)a.region[i] << (8 * i);
	return sectors;
}

static uint16_t avail_event_of(const struct virtq_drv *q)
{
	uint16_t v;

	memcpy(&v, (const uint8_t *)q->used + 4 + 8u * q->size, sizeof(v));
	return v;
}

/* What the rings show, for a failure message. */
static char *ring_view(Queue *qu, guint done, const char *what)
{
	struct virtq_drv *q = &qu->q;

	return g_strdup_printf("vring %u: %s (avail->idx %u, used->idx %u, reaped up to %u, "
			       "used_event %u, avail_event %u, %" G_GUINT64_FORMAT " kicks sent, %u of %u "
			       "requests of this batch reaped, %" G_GUINT64_FORMAT " before)", qu->index, what,
			       __atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE),
			       __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE), q->last_used,
			       q->avail->ring[q->size], avail_event_of(q),
			       q->kicks, done, qu->depth, qu->requests);
}

static gpointer driver_main(gpointer opaque)
{
	Queue *qu = opaque;
	Rig *r = qu->r;
	struct virtq_drv *q = &qu->q;
	uint64_t hdr_gpa[BATCH], data_gpa[BATCH], st_gpa[BATCH];
	guint round = 0;

	g_mutex_lock(&r->mem_lock);
	for (unsigned i = 0; i < BATCH; i++) {
		hdr_gpa[i] = vu_guest_mem_alloc(&r->mem, 16, 16);
		data_gpa[i] = vu_guest_mem_alloc(&r->mem, BLOCK, BLOCK);
		st_gpa[i] = vu_guest_mem_alloc(&r->mem, 1, 1);
		g_assert_true(hdr_gpa[i] && data_gpa[i] && st_gpa[i]);
	}
	g_mutex_unlock(&r->mem_lock);

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		/* the newest 64 KiB of the disk: written only since it grew */
		uint64_t end = __atomic_load_n(&r->capacity, __ATOMIC_ACQUIRE);
		uint64_t first = end - GROW / 512;
		int head_of[QSIZE];
		guint done = 0;

		memset(head_of, -1, sizeof(head_of));
		for (unsigned i = 0; i < qu->depth; i++) {
			uint8_t *h = vu_gpa(&r->mem, hdr_gpa[i]);
			uint64_t sector = first + (qu->index * BATCH + i) % (GROW / BLOCK) * (BLOCK / 512);
			struct virtq_buf bufs[3] = { { hdr_gpa[i], 16, false },
						     { data_gpa[i], BLOCK, false },
						     { st_gpa[i], 1, true } };
			uint32_t type = 1;    /* OUT */
			int head;

			memset(h, 0, 16);
			memcpy(h, &type, 4);
			memcpy(h + 8, &sector, 8);
			memset(vu_gpa(&r->mem, data_gpa[i]), (int)(round + i), BLOCK);
			*(uint8_t *)vu_gpa(&r->mem, st_gpa[i]) = 0xff;
			head = virtq_drv_add(q, &r->mem, bufs, 3, false);
			g_assert_cmpint(head, >=, 0);
			head_of[head] = (int)i;
		}
		/* the guest sleeps with interrupts on, as virtblk does */
		virtq_drv_enable_interrupts(q);
		if (virtq_drv_kick(q) < 0)
			qu->failure = ring_view(qu, 0, "the kick failed");
		while (!qu->failure && done < qu->depth) {
			uint32_t id, len;

			if (virtq_drv_get_used(q, &id, &len) == 1) {
				if (id >= QSIZE || head_of[id] < 0) {
					qu->failure = g_strdup_printf("vring %u: used id %u is no request "
								      "of this batch, or came twice",
								      qu->index, id);
					break;
				}
				if (*(uint8_t *)vu_gpa(&r->mem, st_gpa[head_of[id]]) != 0)
					qu->failure = g_strdup_printf(
						"vring %u: a write past the old end got status %u",
						qu->index,
						*(uint8_t *)vu_gpa(&r->mem, st_gpa[head_of[id]]));
				head_of[id] = -1;
				done++;
				__atomic_fetch_add(&qu->requests, 1, __ATOMIC_RELEASE);
				continue;
			}
			/* nothing more used: rearm, look again, then sleep */
			virtq_drv_enable_interrupts(q);
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			if (__atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE) != q->last_used)
				continue;
			if (virtq_drv_wait_call(q, WAIT_CALL_S * 1000) == 1) {
				qu->calls++;
				continue;
			}
			qu->failure = ring_view(qu, done,
				__atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE) != q->last_used
				? "completions published but never signalled (a lost interrupt)"
				: "requests never completed (a lost kick)");
		}
		if (qu->failure)
			break;
		round++;
	}
	return NULL;
}

static void grow_and_notify(Rig *r, guint i)
{
	struct stat st;
	gint64 end = g_get_monotonic_time() + WAIT_S * G_TIME_SPAN_SECOND;
	uint64_t sectors;

	g_assert_cmpint(stat(r->backing, &st), ==, 0);
	g_assert_cmpint(truncate(r->backing, st.st_size + GROW), ==, 0);
	g_assert_cmpint(kill(r->emu->pid, SIGUSR2), ==, 0);
	/* QEMU's main loop: the notice, then GET_CONFIG at once, while the
	 * vrings run */
	while (vu_frontend_config_changes(&r->fe) < i) {
		if (g_get_monotonic_time() > end)
			g_error("config-change notice %u did not reach the frontend (helper log: %s)",
				i, dp_proc_log(r->helper));
		g_usleep(200);
	}
	sectors = get_capacity(r);
	g_assert_cmpuint(sectors, ==, (uint64_t)(st.st_size + GROW) / 512);
	__atomic_store_n(&r->capacity, sectors, __ATOMIC_RELEASE);
}

static void test_resize_inflight(void)
{
	Rig r = { 0 };
	g_autofree char *emu_stats = NULL;
	g_autofree char *spec = NULL;
	g_autofree char *sock = NULL;
	g_autofree char *log = NULL;
	g_autoptr(GError) error = NULL;
	struct cerr ce = { 0 };
	guint64 total = 0, calls = 0;
	int fd, status;

	r.dir = g_dir_make_tmp("ifcvf-blkresize-XXXXXX", &error);
	g_assert_no_error(error);
	g_mutex_init(&r.mem_lock);
	r.backing = g_build_filename(r.dir, "disk.raw", NULL);
	fd = open(r.backing, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(ftruncate(fd, 1 << 20), ==, 0);
	close(fd);
	emu_stats = g_build_filename(r.dir, "emu.json", NULL);
	r.emu = test_emu_start((const char *const[]){ "--type", "blk", "--queues", "2",
						      "--backing", r.backing, "--complete-order",
						      "random", "--stats-file", emu_stats, NULL });
	sock = g_build_filename(r.dir, "vhost.sock", NULL);
	spec = g_strdup_printf("device=%s,socket=%s", r.emu->address, sock);
	r.helper = dp_helper_start(r.dir, (const char *const[]){ spec, NULL });

	/* QEMU's vhost-user-blk-pci: the backend channel for config changes and
	 * host notifiers (refused: no page-per-vq), EVENT_IDX when offered */
	if (vu_guest_mem_init(&r.mem, 8u << 20, &ce) < 0 ||
	    vu_frontend_connect(&r.fe, sock, WAIT_S * 1000, &ce) < 0 ||
	    vu_frontend_handshake(&r.fe, 1ull << VU_PROTOCOL_F_MQ | 1ull << VU_PROTOCOL_F_REPLY_ACK |
					 1ull << VU_PROTOCOL_F_BACKEND_REQ |
					 1ull << VU_PROTOCOL_F_BACKEND_SEND_FD |
					 1ull << VU_PROTOCOL_F_HOST_NOTIFIER | 1ull << VU_PF_CONFIG,
				  &ce) < 0 ||
	    vu_frontend_set_features(&r.fe, (1ull << F_VERSION_1 | 1ull << F_PROTOCOL |
					     1ull << F_EVENT_IDX | 1ull << F_BLK_MQ) & r.fe.features,
				     &ce) < 0 ||
	    vu_frontend_set_backend_req(&r.fe, 0, &ce) < 0 ||
	    vu_frontend_serve_backend(&r.fe, VU_NOTIFIER_REFUSE, &ce) < 0 ||
	    vu_frontend_set_mem_table(&r.fe, &r.mem, &ce) < 0)
		g_error("frontend: %s", ce.msg);
	for (unsigned i = 0; i < NQ; i++) {
		r.q[i].r = &r;
		r.q[i].index = i;
		/* one request at a time (dd with fsync: every completion is the
		 * one interrupt that wakes the guest), and a batch in flight */
		r.q[i].depth = i == 0 ? 1 : BATCH;
		/* the emulated blk VF offers no EVENT_IDX: flags, as in guest-blk */
		if (virtq_drv_init(&r.q[i].q, &r.mem, i, QSIZE,
				   (r.fe.features & (1ull << F_EVENT_IDX)) != 0, &ce) < 0 ||
		    vu_frontend_setup_vring(&r.fe, &r.q[i].q, &ce) < 0)
			g_error("vring %u: %s", i, ce.msg);
	}
	for (unsigned i = 0; i < NQ; i++)
		if (vu_frontend_set_vring_enable(&r.fe, i, true, &ce) < 0)
			g_error("enable vring %u: %s", i, ce.msg);
	dp_proc_wait_log(r.helper, "2 of 2 vrings enabled", 0, WAIT_S);
	r.capacity = get_capacity(&r);
	g_assert_cmpuint(r.capacity, ==, 2048);

	for (unsigned i = 0; i < NQ; i++)
		r.q[i].thread = g_thread_new("blk-driver", driver_main, &r.q[i]);
	for (guint i = 1; i <= RESIZES; i++) {
		gboolean failed = FALSE;

		for (unsigned k = 0; k < NQ; k++)
			failed |= r.q[k].failure != NULL;
		if (failed)
			break;
		grow_and_notify(&r, i);
		/* a batch on each vring around each change, not all changes at once */
		for (unsigned k = 0; k < NQ; k++) {
			guint64 want = __atomic_load_n(&r.q[k].requests, __ATOMIC_ACQUIRE) + r.q[k].depth;
			gint64 end = g_get_monotonic_time() + (WAIT_CALL_S + 5) * G_TIME_SPAN_SECOND;

			while (!r.q[k].failure &&
			       __atomic_load_n(&r.q[k].requests, __ATOMIC_ACQUIRE) < want &&
			       g_get_monotonic_time() < end)
				g_usleep(100);
		}
	}
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < NQ; i++) {
		g_thread_join(r.q[i].thread);
		if (r.q[i].failure)
			g_error("%s (emulator: %s)", r.q[i].failure,
				(kill(r.emu->pid, SIGUSR1), g_usleep(300000),
				 g_file_get_contents(emu_stats, &log, NULL, NULL) ? log : "?"));
		g_test_message("vring %u: %" G_GUINT64_FORMAT " writes, %" G_GUINT64_FORMAT
			       " interrupts", i, r.q[i].requests, r.q[i].calls);
		total += r.q[i].requests;
		calls += r.q[i].calls;
		g_assert_cmpuint(r.q[i].requests, >, 0);
	}
	g_assert_cmpuint(vu_frontend_config_changes(&r.fe), ==, RESIZES);
	g_test_message("%u resizes, %" G_GUINT64_FORMAT " writes past the old end, %"
		       G_GUINT64_FORMAT " interrupts", RESIZES, total, calls);

	vu_frontend_close(&r.fe);
	for (unsigned i = 0; i < NQ; i++)
		virtq_drv_fini(&r.q[i].q);
	vu_guest_mem_fini(&r.mem);
	status = dp_proc_stop(r.helper, WAIT_S);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	dp_proc_free(r.helper);
	test_emu_stop(r.emu);
	(void)unlink(r.backing);
	g_free(r.backing);
	for (const char *const *f = (const char *const[]){ "helper.log", "emu.json", "emu.json.tmp",
							   "vhost.sock", NULL }; *f; f++) {
		g_autofree char *path = g_build_filename(r.dir, *f, NULL);

		(void)unlink(path);
	}
	(void)rmdir(r.dir);
	g_free(r.dir);
	g_mutex_clear(&r.mem_lock);
}

/* ---- seg_max and the frontend's ring ---- */

#define F_INDIRECT_DESC 28
#define F_BLK_SEG_MAX 2
#define CFG_SEG_MAX 12u
#define CFG_SIZE_MAX 8u
#define RING_DEFAULT 128u        /* QEMU's vhost-user-blk-pci queue-size */

/* GET_CONFIG of the first 16 bytes: capacity, size_max, seg_max */
static void get_limits(struct vu_frontend *fe, uint32_t *size_max, uint32_t *seg_max)
{
	struct {
		uint32_t offset, size, flags;
		uint8_t region[16];
	} __attribute__((packed)) q = { 0, 16, 0, { 0 } }, a;
	struct cerr ce = { 0 };

	if (vu_frontend_request(fe, VU_GET_CONFIG, &q, sizeof(q), NULL, 0, &a, sizeof(a), &ce) < 0)
		g_error("GET_CONFIG: %s", ce.msg);
	memcpy(size_max, a.region + CFG_SIZE_MAX, 4);
	memcpy(seg_max, a.region + CFG_SEG_MAX, 4);
}

/* QEMU reads the disk's configuration when the device is created, before
 * any ring exists, and the guest's driver (Linux virtio_blk) builds
 * requests of up to seg_max segments. Without indirect descriptors each
 * segment takes a descriptor of the ring, plus the header's and the status
 * byte's: a request of seg_max segments must fit the ring QEMU gives the
 * disk by default, or the driver can never add it (Linux warns once in
 * virtqueue_add_split() and retries forever: the guest's I/O hangs with
 * the rings idle, the guest-blk hang). The test writes such a request and
 * sees it served; a frontend with a smaller ring is refused, saying why. */
static void test_seg_max(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp("ifcvf-blkseg-XXXXXX", &error);
	g_autoptr(TestEmu) emu = test_emu_start((const char *const[]){
		"--type", "blk", "--capacity", "65536", NULL });
	g_autofree char *sock = g_build_filename(dir, "vhost.sock", NULL);
	g_autofree char *spec = g_strdup_printf("device=%s,socket=%s", emu->address, sock);
	struct vu_guest_mem mem = { 0 };
	struct virtq_drv q;
	struct vu_frontend fe;
	struct cerr ce = { 0 };
	uint32_t size_max = 0, seg_max = 0, id, len;
	struct virtq_buf *bufs;
	uint64_t st;
	DpProc *helper;
	gsize off;
	int head, status;

	g_assert_no_error(error);
	helper = dp_helper_start(dir, (const char *const[]){ spec, NULL });
	if (vu_guest_mem_init(&mem, 16u << 20, &ce) < 0 ||
	    vu_frontend_connect(&fe, sock, WAIT_S * 1000, &ce) < 0 ||
	    vu_frontend_handshake(&fe, 1ull << VU_PROTOCOL_F_REPLY_ACK | 1ull << VU_PF_CONFIG, &ce) < 0)
		g_error("frontend: %s", ce.msg);
	get_limits(&fe, &size_max, &seg_max);
	g_test_message("seg_max %u, size_max %u, indirect descriptors %s", seg_max, size_max,
		       fe.features & (1ull << F_INDIRECT_DESC) ? "offered" : "not offered");
	g_assert_cmpuint(seg_max, >, 0);
	if (vu_frontend_set_features(&fe, 1ull << F_VERSION_1 | 1ull << F_PROTOCOL, &ce) < 0 ||
	    vu_frontend_set_mem_table(&fe, &mem, &ce) < 0 ||
	    virtq_drv_init(&q, &mem, 0, RING_DEFAULT, false, &ce) < 0 ||
	    vu_frontend_setup_vring(&fe, &q, &ce) < 0 ||
	    vu_frontend_set_vring_enable(&fe, 0, true, &ce) < 0)
		g_error("frontend: %s", ce.msg);
	dp_proc_wait_log(helper, "running: 1 of 1 vrings enabled", 0, WAIT_S);

	/* a write of seg_max sectors, one segment each, as the driver may build */
	bufs = g_new0(struct virtq_buf, seg_max + 2);
	bufs[0] = (struct virtq_buf){ vu_guest_mem_alloc(&mem, 16, 16), 16, false };
	memset(vu_gpa(&mem, bufs[0].gpa), 0, 16);
	*(uint32_t *)vu_gpa(&mem, bufs[0].gpa) = 1;    /* OUT at sector 0 */
	for (uint32_t i = 1; i <= seg_max; i++) {
		bufs[i] = (struct virtq_buf){ vu_guest_mem_alloc(&mem, 512, 512), 512, false };
		g_assert_cmpuint(bufs[i].gpa, !=, 0);
	}
	st = vu_guest_mem_alloc(&mem, 1, 1);
	*(uint8_t *)vu_gpa(&mem, st) = 0xff;
	bufs[seg_max + 1] = (struct virtq_buf){ st, 1, true };
	head = virtq_drv_add(&q, &mem, bufs, seg_max + 2, false);
	if (head < 0)
		g_error("a write of %u segments, which the disk's seg_max allows, does not fit a %u-entry "
			"ring without indirect descriptors (%s): the guest could never submit it",
			seg_max, RING_DEFAULT, g_strerror(-head));
	virtq_drv_kick(&q);
	while (virtq_drv_get_used(&q, &id, &len) == 0)
		if (virtq_drv_wait_call(&q, WAIT_S * 1000) != 1)
			g_error("the write of %u segments never completed", seg_max);
	g_assert_cmpint((int)id, ==, head);
	g_assert_cmpuint(*(uint8_t *)vu_gpa(&mem, st), ==, 0);

	vu_frontend_close(&fe);
	virtq_drv_fini(&q);
	off = dp_proc_wait_log(helper, "waiting: the frontend disconnected", 0, WAIT_S);

	/* a ring too small for seg_max, without indirect descriptors: refused,
	 * saying what to set, instead of a guest that hangs later */
	if (vu_frontend_connect(&fe, sock, WAIT_S * 1000, &ce) < 0 ||
	    vu_frontend_handshake(&fe, 1ull << VU_PROTOCOL_F_REPLY_ACK | 1ull << VU_PF_CONFIG, &ce) < 0 ||
	    vu_frontend_set_features(&fe, 1ull << F_VERSION_1 | 1ull << F_PROTOCOL |
					  1ull << F_BLK_SEG_MAX, &ce) < 0 ||
	    vu_frontend_set_mem_table(&fe, &mem, &ce) < 0 ||
	    virtq_drv_init(&q, &mem, 0, RING_DEFAULT / 2, false, &ce) < 0 ||
	    vu_frontend_setup_vring(&fe, &q, &ce) < 0)
		g_error("frontend: %s", ce.msg);
	(void)vu_frontend_set_vring_enable(&fe, 0, true, &ce);
	dp_proc_wait_log(helper, "vring 0: 64 entries cannot hold a request of the disk's seg_max 126 "
			 "segments plus its header and status without indirect descriptors: give "
			 "the disk a queue size of at least 128", off, WAIT_S);
	vu_frontend_close(&fe);
	virtq_drv_fini(&q);
	vu_guest_mem_fini(&mem);
	g_free(bufs);
	status = dp_proc_stop(helper, WAIT_S);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	dp_proc_free(helper);
	for (const char *const *f = (const char *const[]){ "helper.log", "vhost.sock", NULL }; *f; f++) {
		g_autofree char *path = g_build_filename(dir, *f, NULL);

		(void)unlink(path);
	}
	(void)rmdir(dir);
}

/* ---- client mode: the frontend goes and comes back ---- */

#define CLIENT_REQS 32u
#define CLIENT_SESSIONS 3u

typedef struct {
	struct vu_guest_mem mem;
	struct virtq_drv q;
	uint64_t st_gpa[QSIZE];       /* status byte of the request at each head */
	int request_of[QSIZE];        /* request number at each head, -1: none */
	gboolean *done;               /* per request number: completed */
	guint completed;
} ClientGuest;

/* QEMU's vhost-user-blk-pci on a server socket, the helper connected to
 * it: negotiate, and set up vring 0 on the guest memory and rings it had
 * before (they outlive the connection, as the guest's do) */
static void client_setup(struct vu_frontend *fe, ClientGuest *g)
{
	struct cerr ce = { 0 };

	if (vu_frontend_handshake(fe, 1ull << VU_PROTOCOL_F_REPLY_ACK |
				      1ull << VU_PROTOCOL_F_BACKEND_REQ | 1ull << VU_PF_CONFIG, &ce) < 0 ||
	    vu_frontend_set_features(fe, 1ull << F_VERSION_1 | 1ull << F_PROTOCOL, &ce) < 0 ||
	    vu_frontend_set_backend_req(fe, 0, &ce) < 0 ||
	    vu_frontend_serve_backend(fe, VU_NOTIFIER_REFUSE, &ce) < 0 ||
	    vu_frontend_set_mem_table(fe, &g->mem, &ce) < 0 ||
	    vu_frontend_setup_vring(fe, &g->q, &ce) < 0 ||
	    vu_frontend_set_vring_enable(fe, 0, true, &ce) < 0)
		g_error("frontend: %s", ce.msg);
}

/* @n writes of one 4 KiB block each, request numbers from @first (block
 * @first + i holds byte i), published and kicked */
static void client_submit(ClientGuest *g, guint first, guint n)
{
	for (guint i = first; i < first + n; i++) {
		uint64_t hdr = vu_guest_mem_alloc(&g->mem, 16, 16);
		uint64_t data = vu_guest_mem_alloc(&g->mem, BLOCK, BLOCK);
		uint64_t st = vu_guest_mem_alloc(&g->mem, 1, 1);
		struct virtq_buf bufs[3] = { { hdr, 16, false }, { data, BLOCK, false },
					     { st, 1, true } };
		uint8_t *h = vu_gpa(&g->mem, hdr);
		uint64_t sector = (uint64_t)i * (BLOCK / 512);
		uint32_t type = 1;    /* OUT */
		int head;

		g_assert_true(hdr && data && st);
		memset(h, 0, 16);
		memcpy(h, &type, 4);
		memcpy(h + 8, &sector, 8);
		memset(vu_gpa(&g->mem, data), (int)(i & 0xff), BLOCK);
		*(uint8_t *)vu_gpa(&g->mem, st) = 0xff;
		head = virtq_drv_add(&g->q, &g->mem, bufs, 3, false);
		g_assert_cmpint(head, >=, 0);
		g_assert_cmpint(g->request_of[head], ==, -1);
		g->request_of[head] = (int)i;
		g->st_gpa[head] = st;
	}
	virtq_drv_kick(&g->q);
}

/* Reap what the VF completed: each entry a request in flight, never one
 * completed before, its status OK. */
static guint client_reap(ClientGuest *g)
{
	guint n = 0;
	uint32_t id, len;

	while (virtq_drv_get_used(&g->q, &id, &len) == 1) {
		int req = id < QSIZE ? g->request_of[id] : -1;

		if (req < 0)
			g_error("used entry with id %u, which is no request in flight", id);
		if (g->done[req])
			g_error("request %d completed twice", req);
		g_assert_cmpuint(*(uint8_t *)vu_gpa(&g->mem, g->st_gpa[id]), ==, 0);
		g->done[req] = TRUE;
		g->request_of[id] = -1;
		g->completed++;
		n++;
	}
	return n;
}

/* The emulator's count of writes it served. */
static guint64 emu_writes(TestEmu *emu, const char *stats_file)
{
	gint64 end = g_get_monotonic_time() + WAIT_S * G_TIME_SPAN_SECOND;
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autofree char *text = NULL;
	JsonArray *queues;
	guint64 writes = 0;

	(void)unlink(stats_file);
	g_assert_cmpint(kill(emu->pid, SIGUSR1), ==, 0);
	while (!g_file_get_contents(stats_file, &text, NULL, NULL)) {
		if (g_get_monotonic_time() > end)
			g_error("ifcvf-emu wrote no %s after SIGUSR1", stats_file);
		g_usleep(10000);
	}
	g_assert_true(json_parser_load_from_data(parser, text, -1, NULL));
	queues = json_object_get_array_member(
		json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)),
					      "blk"), "queues");
	for (guint i = 0; i < json_array_get_length(queues); i++)
		writes += json_object_get_int_member(json_array_get_object_element(queues, i),
						     "writes");
	return writes;
}

/* The helper in client mode (QEMU server=on): the frontend closes its
 * connection as soon as the first of a batch of writes completed (out of
 * order), the rest still in the VF or not taken yet, and listens again,
 * CLIENT_SESSIONS times; the helper connects again by itself and the
 * disk resumes on the same rings. Every write completes exactly once across
 * the connections, none is lost, and the VF served each exactly once. */
static void test_client_reconnect(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp("ifcvf-blkclient-XXXXXX", &error);
	g_autofree char *stats = g_build_filename(dir, "emu.json", NULL);
	g_autoptr(TestEmu) emu = test_emu_start((const char *const[]){
		"--type", "blk", "--capacity", "65536", "--complete-order", "random",
		"--stats-file", stats, NULL });
	g_autofree char *sock = g_build_filename(dir, "vhost.sock", NULL);
	g_autofree char *spec = g_strdup_printf("device=%s,socket=%s,client", emu->address, sock);
	guint total = CLIENT_SESSIONS * CLIENT_REQS + BATCH;
	ClientGuest g = { 0 };
	struct vu_frontend fe;
	struct cerr ce = { 0 };
	DpProc *helper;
	gsize off;
	int status;

	g_assert_no_error(error);
	g.done = g_new0(gboolean, total);
	memset(g.request_of, -1, sizeof(g.request_of));
	if (vu_guest_mem_init(&g.mem, 8u << 20, &ce) < 0 ||
	    virtq_drv_init(&g.q, &g.mem, 0, QSIZE, false, &ce) < 0)
		g_error("guest: %s", ce.msg);
	helper = dp_helper_start(dir, (const char *const[]){ spec, NULL });
	off = dp_proc_log_size(helper);

	for (guint s = 0; s < CLIENT_SESSIONS; s++) {
		guint before = g.completed;

		/* the helper retries on its own (every second) until we listen */
		if (vu_frontend_accept(&fe, sock, WAIT_S * 1000, &ce) < 0)
			g_error("session %u: %s (helper log: %s)", s, ce.msg, dp_proc_log(helper));
		client_setup(&fe, &g);
		off = dp_proc_wait_log(helper, "running: 1 of 1 vrings enabled", off, WAIT_S);
		client_submit(&g, s * CLIENT_REQS, CLIENT_REQS);
		/* the first completions: the rest are in flight or not taken yet */
		while (client_reap(&g) == 0)
			if (virtq_drv_wait_call(&g.q, WAIT_S * 1000) != 1)
				g_error("session %u: no write completed", s);
		/* gone without a word (no GET_VRING_BASE) */
		vu_frontend_close(&fe);
		off = dp_proc_wait_log(helper, "waiting: the frontend disconnected", off, WAIT_S);
		client_reap(&g);
		g_test_message("session %u: %u of %u writes completed before the frontend came back",
			       s, g.completed - before, CLIENT_REQS);
	}

	/* back once more: what was left and a last batch complete */
	if (vu_frontend_accept(&fe, sock, WAIT_S * 1000, &ce) < 0)
		g_error("last session: %s", ce.msg);
	client_setup(&fe, &g);
	off = dp_proc_wait_log(helper, "running: 1 of 1 vrings enabled", off, WAIT_S);
	client_submit(&g, CLIENT_SESSIONS * CLIENT_REQS, BATCH);
	while (g.completed < total) {
		if (client_reap(&g) == 0 && virtq_drv_wait_call(&g.q, WAIT_S * 1000) != 1) {
			for (guint i = 0; i < total; i++)
				if (!g.done[i])
					g_error("%u of %u writes completed; write %u never (lost)",
						g.completed, total, i);
		}
	}
	g_assert_cmpuint(__atomic_load_n(&g.q.used->idx, __ATOMIC_ACQUIRE), ==, total);
	/* each write reached the disk once: none repeated after a reconnect */
	g_assert_cmpuint(emu_writes(emu, stats), ==, total);

	vu_frontend_close(&fe);
	status = dp_proc_stop(helper, WAIT_S);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	dp_proc_free(helper);
	virtq_drv_fini(&g.q);
	vu_guest_mem_fini(&g.mem);
	g_free(g.done);
	for (const char *const *f = (const char *const[]){ "helper.log", "emu.json", "emu.json.tmp",
							   "vhost.sock", NULL }; *f; f++) {
		g_autofree char *path = g_build_filename(dir, *f, NULL);

		(void)unlink(path);
	}
	(void)rmdir(dir);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/datapath/blk/resize-inflight", test_resize_inflight);
	g_test_add_func("/datapath/blk/seg-max", test_seg_max);
	g_test_add_func("/datapath/blk/client-reconnect", test_client_reconnect);
	return g_test_run();
}

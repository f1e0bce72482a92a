/* Which device features reach the frontend and the VF, with real
 * processes: ifcvf-emu offering, on top of its own, features the helper
 * does not carry end to end (--features-extra), ifcvf-helper run, and the
 * test frontend of tests/lib. Such a feature is neither offered on the
 * vhost-user socket (GET_FEATURES) nor written to the VF (the emulator's
 * driver_features while the port runs), for an IFCVF net, an IFCVF blk
 * and a plain virtio net function. */
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "datapath-util.h"
#include "virtq-drv.h"
#include "vu-frontend.h"

#define BIT(n) (1ull << (n))
#define MEM_SIZE (8u << 20)
/* what QEMU gives a vhost-user-blk-pci disk by default: a blk port refuses
 * a ring that cannot hold a request of its seg_max (port_blk_seg_max()) */
#define QSIZE 128u
#define WAIT_S 30

/* virtio feature bits, from the virtio specification */
enum {
	F_NET_CTRL_GUEST_OFFLOADS = 2,
	F_NET_GSO = 6,
	F_NET_STATUS = 16,
	F_NET_CTRL_VQ = 17,
	F_NET_CTRL_RX = 18,
	F_NET_CTRL_VLAN = 19,
	F_NET_GUEST_ANNOUNCE = 21,
	F_NET_MQ = 22,
	F_NET_CTRL_MAC_ADDR = 23,
	F_NET_HASH_REPORT = 57,
	F_NET_RSS = 60,
	F_BLK_CONFIG_WCE = 11,
	F_BLK_MQ = 12,
	F_BLK_LIFETIME = 15,
	F_NOTIFY_ON_EMPTY = 24,
	F_LOG_ALL = 26,
	F_PROTOCOL = 30,
	F_VERSION_1 = 32,
	F_ACCESS_PLATFORM = 33,
	F_RING_PACKED = 34,
	F_IN_ORDER = 35,
	F_SR_IOV = 37,
	F_NOTIFICATION_DATA = 38,
	F_RING_RESET = 40,
};

/* offered by any device, carried by none of the helper's paths */
#define COMMON_UNSUPPORTED                                                                       \
	(BIT(F_RING_PACKED) | BIT(F_IN_ORDER) | BIT(F_NOTIFICATION_DATA) | BIT(F_RING_RESET) |   \
	 BIT(F_SR_IOV) | BIT(F_NOTIFY_ON_EMPTY))

typedef struct {
	const char *name;
	const char *const *emu_args;
	const char *port_options;   /* NULL: none */
	gboolean blk;
	guint64 extra;              /* what the emulator offers on top */
	guint64 frontend_ok;        /* of @extra, what the frontend may see (QEMU emulates it) */
	guint64 vf_never;           /* never written to the VF, offered or not */
} Kind;

static const char *const ifcvf_net_args[] = { "--type", "net", "--queue-pairs", "2", NULL };
static const char *const ifcvf_blk_args[] = { "--type", "blk", "--queues", "2", NULL };
static const char *const plain_net_args[] = { "--type", "net", "--virtio-function", NULL };

static const Kind kinds[] = {
	{ "ifcvf-net", ifcvf_net_args, NULL, FALSE,
	  COMMON_UNSUPPORTED | BIT(F_NET_CTRL_GUEST_OFFLOADS) | BIT(F_NET_GSO) |
		  BIT(F_NET_CTRL_RX) | BIT(F_NET_CTRL_VLAN) | BIT(F_NET_GUEST_ANNOUNCE) |
		  BIT(F_NET_CTRL_MAC_ADDR) | BIT(F_NET_HASH_REPORT) | BIT(F_NET_RSS),
	  BIT(F_NET_GUEST_ANNOUNCE), 0 },
	{ "ifcvf-blk", ifcvf_blk_args, NULL, TRUE,
	  COMMON_UNSUPPORTED | BIT(F_BLK_CONFIG_WCE) | BIT(F_BLK_LIFETIME), 0, 0 },
	/* one pair: its control queue is nobody's business */
	{ "plain-net", plain_net_args, "generic-virtio=1,sw-live-migration=1", FALSE,
	  COMMON_UNSUPPORTED | BIT(F_NET_CTRL_RX) | BIT(F_NET_CTRL_VLAN) |
		  BIT(F_NET_GUEST_ANNOUNCE) | BIT(F_NET_CTRL_MAC_ADDR) | BIT(F_NET_RSS),
	  BIT(F_NET_GUEST_ANNOUNCE), BIT(F_NET_CTRL_VQ) },
};

typedef struct {
	char *dir;
	char *sock;
	char *stats;
	TestEmu *emu;
	DpProc *helper;
	struct vu_guest_mem mem;
	struct vu_frontend fe;
	gboolean fe_open;
	struct virtq_drv q[8];
	unsigned nq;
} Rig;

static void check(int r, const struct cerr *ce, const char *what)
{
	if (r < 0)
		g_error("%s: %s", what, ce->msg);
}

static Rig *rig_start(const char *const *emu_args, guint64 extra, const char *port_options)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *spec = NULL;
	const char *specs[2] = { NULL, NULL };
	Rig *r = g_new0(Rig, 1);

	r->dir = g_dir_make_tmp("ifcvf-feat-XXXXXX", &error);
	g_assert_no_error(error);
	r->sock = g_build_filename(r->dir, "vu.sock", NULL);
	r->stats = g_build_filename(r->dir, "stats.json", NULL);
	for (guint i = 0; emu_args[i]; i++)
		g_ptr_array_add(args, g_strdup(emu_args[i]));
	g_ptr_array_add(args, g_strdup("--stats-file"));
	g_ptr_array_add(args, g_strdup(r->stats));
	if (extra) {
		g_ptr_array_add(args, g_strdup("--features-extra"));
		g_ptr_array_add(args, g_strdup_printf("0x%llx", (unsigned long long)extra));
	}
	g_ptr_array_add(args, NULL);
	r->emu = test_emu_start((const char *const *)args->pdata);
	spec = g_strdup_printf("device=%s,socket=%s%s%s", r->emu->address, r->sock,
			       port_options ? "," : "", port_options ? port_options : "");
	specs[0] = spec;
	r->helper = dp_helper_start(r->dir, specs);
	return r;
}

static void rig_stop(Rig *r)
{
	int status;

	for (unsigned i = 0; i < r->nq; i++)
		virtq_drv_fini(&r->q[i]);
	if (r->fe_open)
		vu_frontend_close(&r->fe);
	if (r->mem.base)
		vu_guest_mem_fini(&r->mem);
	status = dp_proc_stop(r->helper, 30);
	{
		g_autofree char *log = dp_proc_log(r->helper);

		g_test_message("helper log:\n%s", log);
	}
	g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	(void)unlink(r->helper->log_path);
	dp_proc_free(r->helper);
	test_emu_stop(r->emu);
	(void)unlink(r->stats);
	(void)unlink(r->sock);
	g_assert_cmpint(rmdir(r->dir), ==, 0);
	g_free(r->dir);
	g_free(r->sock);
	g_free(r->stats);
	g_free(r);
}

/* connect, handshake (REPLY_ACK, MQ), guest memory and @nq vrings laid out */
static void rig_connect(Rig *r, unsigned nq)
{
	struct cerr ce = { 0 };

	check(vu_guest_mem_init(&r->mem, MEM_SIZE, &ce), &ce, "guest memory");
	check(vu_frontend_connect(&r->fe, r->sock, 10000, &ce), &ce, "connect");
	r->fe_open = TRUE;
	check(vu_frontend_handshake(&r->fe, BIT(VU_PROTOCOL_F_REPLY_ACK) | BIT(VU_PROTOCOL_F_MQ),
				    &ce), &ce, "handshake");
	g_assert_true(r->fe.reply_ack);
	g_assert_cmpuint(nq, <=, G_N_ELEMENTS(r->q));
	for (unsigned i = 0; i < nq; i++)
		check(virtq_drv_init(&r->q[i], &r->mem, i, QSIZE, FALSE, &ce), &ce, "vring");
	r->nq = nq;
}

/* SET_FEATURES, SET_MEM_TABLE, every vring set up and enabled; returns
 * once the helper reports the port running with all of them */
static void rig_run(Rig *r, guint64 features)
{
	g_autofree char *running = g_strdup_printf("running: %u of %u vrings enabled", r->nq, r->nq);
	struct cerr ce = { 0 };

	check(vu_frontend_set_features(&r->fe, features, &ce), &ce, "SET_FEATURES");
	check(vu_frontend_set_mem_table(&r->fe, &r->mem, &ce), &ce, "SET_MEM_TABLE");
	for (unsigned i = 0; i < r->nq; i++)
		check(vu_frontend_setup_vring(&r->fe, &r->q[i], &ce), &ce, "setup vring");
	for (unsigned i = 0; i < r->nq; i++)
		check(vu_frontend_set_vring_enable(&r->fe, i, true, &ce), &ce, "SET_VRING_ENABLE");
	dp_proc_wait_log(r->helper, running, 0, WAIT_S);
}

/* the emulator's counters (SIGUSR1, then its --stats-file) */
static JsonParser *rig_emu_json(Rig *r)
{
	gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	JsonParser *parser = json_parser_new();
	g_autoptr(GError) error = NULL;

	(void)unlink(r->stats);
	g_assert_cmpint(kill(r->emu->pid, SIGUSR1), ==, 0);
	while (!g_file_test(r->stats, G_FILE_TEST_EXISTS)) {
		if (g_get_monotonic_time() > deadline)
			g_error("ifcvf-emu wrote no %s within 10 s of SIGUSR1", r->stats);
		g_usleep(10 * 1000);
	}
	json_parser_load_from_file(parser, r->stats, &error);
	g_assert_no_error(error);
	return parser;
}

static guint64 rig_driver_features(Rig *r)
{
	g_autoptr(JsonParser) parser = rig_emu_json(r);
	JsonObject *dev = json_object_get_object_member(
		json_node_get_object(json_parser_get_root(parser)), "device");

	return (guint64)json_object_get_int_member(dev, "driver_features");
}

/* The frontend takes everything it is offered (but logging); neither it
 * nor the VF gets a bit the helper does not carry. */
static void test_not_passed(gconstpointer data)
{
	const Kind *k = data;
	Rig *r = rig_start(k->emu_args, k->extra, k->port_options);
	guint64 offered, written, bad_offered, bad_written;

	rig_connect(r, k->blk ? 1 : 2);
	offered = r->fe.features;
	g_test_message("%s: offered to the frontend 0x%llx", k->name, (unsigned long long)offered);
	g_assert_cmphex(offered & BIT(F_VERSION_1), !=, 0);
	g_assert_cmphex(offered & BIT(F_ACCESS_PLATFORM), ==, 0);
	rig_run(r, offered & ~BIT(F_LOG_ALL));
	written = rig_driver_features(r);
	g_test_message("%s: written to the VF 0x%llx", k->name, (unsigned long long)written);
	bad_offered = offered & k->extra & ~k->frontend_ok;
	bad_written = written & (k->extra | k->vf_never);
	if (bad_offered || bad_written)
		g_error("%s: features the helper does not support: offered to the frontend 0x%llx, "
			"written to the VF 0x%llx", k->name, (unsigned long long)bad_offered,
			(unsigned long long)bad_written);
	/* what it does carry still goes through */
	g_assert_cmphex(written & BIT(F_VERSION_1), !=, 0);
	g_assert_cmphex(written & BIT(F_ACCESS_PLATFORM), !=, 0);
	if (!k->blk)
		g_assert_cmphex(written & BIT(5) /* MAC */, !=, 0);
	rig_stop(r);
}

/* ---- multiqueue on a plain virtio net function ---- */

#define NET_HDR 12u
#define FRAME_LEN 60u
#define F_NET_MAC 5
#define F_NET_MRG_RXBUF 15

static guint64 rig_emu_datapath_int(Rig *r, const char *member)
{
	g_autoptr(JsonParser) parser = rig_emu_json(r);
	JsonObject *dp = json_object_get_object_member(
		json_node_get_object(json_parser_get_root(parser)), "datapath");

	return (guint64)json_object_get_int_member(dp, member);
}

/* One frame out of TX of @pair and back into RX of the same pair (the
 * emulator's loop wire): both directions of that pair run. */
static void pair_loop(Rig *r, unsigned pair, guint8 tag)
{
	struct virtq_drv *rx = &r->q[2 * pair], *tx = &r->q[2 * pair + 1];
	uint64_t rx_gpa = vu_guest_mem_alloc(&r->mem, 2048, 64);
	uint64_t tx_gpa = vu_guest_mem_alloc(&r->mem, NET_HDR + FRAME_LEN, 64);
	struct virtq_buf rb = { .gpa = rx_gpa, .len = 2048, .device_writes = true };
	struct virtq_buf tb = { .gpa = tx_gpa, .len = NET_HDR + FRAME_LEN };
	guint8 *frame = vu_gpa(&r->mem, tx_gpa), *got = vu_gpa(&r->mem, rx_gpa);
	gint64 deadline = g_get_monotonic_time() + WAIT_S * G_USEC_PER_SEC;
	uint32_t id, len;
	gboolean tx_done = FALSE;

	g_assert_cmpuint(rx_gpa, !=, 0);
	g_assert_cmpuint(tx_gpa, !=, 0);
	memset(frame, 0, NET_HDR);
	memset(frame + NET_HDR, 0xff, 6);                    /* broadcast */
	memcpy(frame + NET_HDR + 6, (guint8[]){ 0x02, 0, 0, 0, 0, tag }, 6);
	frame[NET_HDR + 12] = 0x88;                          /* local experimental */
	frame[NET_HDR + 13] = 0xb5;
	memset(frame + NET_HDR + 14, tag, FRAME_LEN - 14);
	g_assert_cmpint(virtq_drv_add(rx, &r->mem, &rb, 1, false), >=, 0);
	g_assert_cmpint(virtq_drv_kick(rx), >=, 0);
	g_assert_cmpint(virtq_drv_add(tx, &r->mem, &tb, 1, false), >=, 0);
	g_assert_cmpint(virtq_drv_kick(tx), >=, 0);
	for (;;) {
		if (!tx_done && virtq_drv_get_used(tx, &id, &len) == 1)
			tx_done = TRUE;
		if (tx_done && virtq_drv_get_used(rx, &id, &len) == 1)
			break;
		if (g_get_monotonic_time() > deadline) {
			g_autofree char *log = dp_proc_log(r->helper);

			g_test_message("helper log:\n%s", log);
			g_error("pair %u: %s within %d s", pair,
				tx_done ? "the frame sent came back on no RX buffer"
					: "the frame posted on TX was never taken", WAIT_S);
		}
		g_usleep(1000);
	}
	g_assert_cmpuint(len, ==, NET_HDR + FRAME_LEN);
	g_assert_cmpmem(got + NET_HDR, FRAME_LEN, frame + NET_HDR, FRAME_LEN);
}

/* A plain function offering MQ (2 pairs): the port serves both pairs, the
 * helper tells the function through its control queue (VQ_PAIRS_SET), and
 * traffic runs on both pairs, both ways. Without it, the function runs
 * pair 0 only, as a virtio-net device does until told otherwise. */
static void test_plain_mq(gconstpointer data)
{
	const gboolean frontend_mq = GPOINTER_TO_INT(data);
	static const char *const args[] = { "--type", "net", "--virtio-function", "--queue-pairs",
					    "2", NULL };
	Rig *r = rig_start(args, 0, "generic-virtio=1,sw-live-migration=1,queue-pairs=2");
	/* virtio-user without cq runs its pairs without MQ */
	const guint64 want = BIT(F_VERSION_1) | BIT(F_PROTOCOL) | BIT(F_NET_STATUS) |
			     BIT(F_NET_MAC) | BIT(F_NET_MRG_RXBUF) |
			     (frontend_mq ? BIT(F_NET_MQ) | BIT(F_NET_CTRL_VQ) : 0);
	struct cerr ce = { 0 };
	uint64_t pairs = 0;
	gsize off;

	rig_connect(r, 4);
	check(vu_frontend_get_queue_num(&r->fe, &pairs, &ce), &ce, "GET_QUEUE_NUM");
	g_assert_cmpuint(pairs, ==, 2);
	g_assert_cmphex(r->fe.features & want, ==, want);
	rig_run(r, want);
	g_assert_cmpuint(rig_emu_datapath_int(r, "active_pairs"), ==, 2);
	pair_loop(r, 0, 0xa0);
	pair_loop(r, 1, 0xa1);

	/* the frontend turns pair 1 off (a plain function restarts with the
	 * rest), then on again at run time */
	off = dp_proc_log_size(r->helper);
	check(vu_frontend_set_vring_enable(&r->fe, 2, false, &ce), &ce, "disable vring 2");
	check(vu_frontend_set_vring_enable(&r->fe, 3, false, &ce), &ce, "disable vring 3");
	off = dp_proc_wait_log(r->helper, "running: 2 of 4 vrings enabled", off, WAIT_S);
	g_assert_cmpuint(rig_emu_datapath_int(r, "active_pairs"), ==, 1);
	pair_loop(r, 0, 0xb0);
	check(vu_frontend_set_vring_enable(&r->fe, 2, true, &ce), &ce, "enable vring 2");
	check(vu_frontend_set_vring_enable(&r->fe, 3, true, &ce), &ce, "enable vring 3");
	dp_proc_wait_log(r->helper, "running: 4 of 4 vrings enabled", off, WAIT_S);
	g_assert_cmpuint(rig_emu_datapath_int(r, "active_pairs"), ==, 2);
	pair_loop(r, 1, 0xb1);
	pair_loop(r, 0, 0xb2);
	g_assert_cmpuint(rig_emu_datapath_int(r, "device_errors"), ==, 0);
	g_assert_cmpuint(rig_emu_datapath_int(r, "ctrl_refused"), ==, 0);
	rig_stop(r);
}

/* A frontend asking for more pairs than the port serves (queue-pairs=1 on
 * a function with 2) is told why in one line of the helper's log, naming
 * both numbers; nothing else fails. */
static void test_too_many_pairs(void)
{
	static const char *const args[] = { "--type", "net", "--virtio-function", "--queue-pairs",
					    "2", NULL };
	static const char *const line =
		"failed: the frontend set up 4 vrings, but the port offers 2 (1 queue pairs)";
	Rig *r = rig_start(args, 0, "generic-virtio=1,sw-live-migration=1,queue-pairs=1");
	const guint64 want = BIT(F_VERSION_1) | BIT(F_PROTOCOL) | BIT(F_NET_MAC);
	struct cerr ce = { 0 };
	uint64_t pairs = 0;

	rig_connect(r, 4);
	check(vu_frontend_get_queue_num(&r->fe, &pairs, &ce), &ce, "GET_QUEUE_NUM");
	g_assert_cmpuint(pairs, ==, 1);
	g_assert_cmphex(r->fe.features & BIT(F_NET_MQ), ==, 0);
	check(vu_frontend_set_features(&r->fe, want, &ce), &ce, "SET_FEATURES");
	check(vu_frontend_set_mem_table(&r->fe, &r->mem, &ce), &ce, "SET_MEM_TABLE");
	for (unsigned i = 0; i < r->nq; i++)
		check(vu_frontend_setup_vring(&r->fe, &r->q[i], &ce), &ce, "setup vring");
	for (unsigned i = 0; i < r->nq; i++)
		check(vu_frontend_set_vring_enable(&r->fe, i, true, &ce), &ce, "SET_VRING_ENABLE");
	dp_proc_wait_log(r->helper, line, 0, WAIT_S);
	{
		g_autofree char *log = dp_proc_log(r->helper);
		const char *first = strstr(log, "failed");

		g_assert_nonnull(first);
		g_assert_null(strstr(first + 1, "failed"));
	}
	rig_stop(r);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	for (guint i = 0; i < G_N_ELEMENTS(kinds); i++) {
		g_autofree char *path = g_strdup_printf("/datapath/features/not-passed/%s",
							kinds[i].name);

		g_test_add_data_func(path, &kinds[i], test_not_passed);
	}
	g_test_add_data_func("/datapath/features/plain-mq", GINT_TO_POINTER(TRUE), test_plain_mq);
	g_test_add_data_func("/datapath/features/plain-mq-frontend-without-mq", GINT_TO_POINTER(FALSE),
			     test_plain_mq);
	g_test_add_func("/datapath/features/too-many-pairs", test_too_many_pairs);
	return g_test_run();
}

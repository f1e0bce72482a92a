/* The port state machine against a real ifcvf-emu, driven by a fake
 * frontend (memfd guest memory, rings laid out in it, eventfds): what
 * testpmd cannot send, such as rings outside guest memory, overlapping
 * memory regions, ring sizes that are not a power of two, and a callfd
 * replaced while the port runs (re-bound without a device reset). */
#include <errno.h>
#include <json-glib/json-glib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>
#include <string.h>

#include "datapath-util.h"
#include "ifcvf-regs.h"
#include "port.h"

#define MEM_SIZE (4u << 20)
#define RING_STRIDE 0x40000u

typedef struct {
	int memfd;
	uint8_t *mem;
	struct port_mem table;
	unsigned nr;
	struct port_vring vr[8];
	uint16_t base_avail[8], base_used[8];
	guint set_base_calls[8];
} Fake;

static Fake fake;

static int f_features(int conn, uint64_t *ret)
{
	*ret = 1ull << VIRTIO_F_VERSION_1;
	return 0;
}

static int f_protocol(int conn, uint64_t *ret)
{
	*ret = 0;
	return 0;
}

static unsigned f_num(int conn)
{
	return fake.nr;
}

static int f_mem(int conn, struct port_mem *ret, struct cerr *e)
{
	*ret = fake.table;
	return 0;
}

static int f_vring(int conn, unsigned qid, struct port_vring *ret)
{
	if (qid >= fake.nr)
		return -1;
	*ret = fake.vr[qid];
	return 0;
}

static int f_get_base(int conn, unsigned qid, uint16_t *avail, uint16_t *used)
{
	*avail = fake.base_avail[qid];
	*used = fake.base_used[qid];
	return 0;
}

static int f_set_base(int conn, unsigned qid, uint16_t avail, uint16_t used)
{
	fake.base_avail[qid] = avail;
	fake.base_used[qid] = used;
	fake.set_base_calls[qid]++;
	return 0;
}

static const struct port_frontend_ops fake_ops = {
	.get_features = f_features,
	.get_protocol_features = f_protocol,
	.num_vrings = f_num,
	.get_mem = f_mem,
	.get_vring = f_vring,
	.get_vring_base = f_get_base,
	.set_vring_base = f_set_base,
};

static void fake_init(unsigned nr, uint16_t size)
{
	memset(&fake, 0, sizeof(fake));
	fake.memfd = memfd_create("guest", MFD_CLOEXEC);
	g_assert_cmpint(fake.memfd, >=, 0);
	g_assert_cmpint(ftruncate(fake.memfd, MEM_SIZE), ==, 0);
	fake.mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fake.memfd, 0);
	g_assert_true(fake.mem != MAP_FAILED);
	fake.table.n = 1;
	fake.table.r[0] = (struct port_mem_region){ .gpa = 0, .size = MEM_SIZE,
						    .hva = (uint64_t)(uintptr_t)fake.mem,
						    .fd = fake.memfd };
	fake.nr = nr;
	for (unsigned q = 0; q < 8; q++) {
		uint64_t base = (uint64_t)(uintptr_t)fake.mem + q * RING_STRIDE;

		fake.vr[q] = (struct port_vring){ .desc = base, .avail = base + 0x8000,
						  .used = base + 0x10000, .size = size,
						  .kickfd = eventfd(0, EFD_CLOEXEC),
						  .callfd = eventfd(0, EFD_CLOEXEC) };
	}
}

static void fake_clear(void)
{
	for (unsigned q = 0; q < 8; q++) {
		close(fake.vr[q].kickfd);
		close(fake.vr[q].callfd);
	}
	munmap(fake.mem, MEM_SIZE);
	close(fake.memfd);
}

typedef struct {
	char *stats;
	TestEmu *emu;
	struct port_events *events;
	struct port *port;
} PortRig;

/* a port on an ifcvf-emu, with @no_lm one without the BAR4 block */
static PortRig *port_rig_open(unsigned queue_pairs_cap, gboolean no_lm)
{
	g_autoptr(GError) error = NULL;
	PortRig *r = g_new0(PortRig, 1);
	g_autofree char *dir = g_dir_make_tmp("ifcvf-port-XXXXXX", &error);
	const char *args[] = { "--type", "net", "--queue-pairs", "4", "--stats-file", NULL,
			       no_lm ? "--no-lm" : NULL, NULL };
	struct port_config cfg = { .queue_pairs = queue_pairs_cap, .sw_live_migration = no_lm };
	struct cerr ce = { 0 };

	r->stats = g_build_filename(dir, "stats.json", NULL);
	args[5] = r->stats;
	r->emu = test_emu_start(args);
	g_assert_cmpint(port_events_new(&r->events, &ce), ==, 0);
	cfg.device = r->emu->address;
	cfg.socket = (char *)"/nonexistent/unused.sock";
	if (port_open(0, &cfg, &fake_ops, r->events, &r->port, &ce) < 0)
		g_error("port_open: %s", ce.msg);
	port_listening(r->port);
	g_assert_cmpint(port_connect(r->port, 7), ==, 0);
	g_assert_cmpint(port_connect(r->port, 8), ==, -EBUSY);
	return r;
}

static PortRig *port_rig_new(unsigned queue_pairs_cap)
{
	return port_rig_open(queue_pairs_cap, FALSE);
}

static void port_rig_free(PortRig *r)
{
	g_autofree char *dir = g_path_get_dirname(r->stats);

	port_close(r->port);
	port_events_free(r->events);
	test_emu_stop(r->emu);
	(void)unlink(r->stats);
	(void)rmdir(dir);
	g_free(r->stats);
	g_free(r);
}

static struct port_info info(PortRig *r)
{
	struct port_info i;

	port_get_info(r->port, &i);
	return i;
}

static guint64 emu_resets(PortRig *r)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	DpEmuStats e;

	dp_emu_stats(r->emu, r->stats, &e);
	g_assert_true(json_parser_load_from_file(parser, r->stats, NULL));
	return (guint64)json_object_get_int_member(
		json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)),
					      "device"), "resets");
}

static void assert_emu(PortRig *r, guint enabled, guint64 dma_maps)
{
	DpEmuStats e;

	dp_emu_stats(r->emu, r->stats, &e);
	g_assert_cmpuint(e.enabled, ==, enabled);
	g_assert_cmpuint(e.dma_maps, ==, dma_maps);
}

/* The guest's rings of vring @qid stand at @idx: the avail and used index
 * (the word after each ring's flags). */
static void guest_ring_at(unsigned qid, uint16_t idx)
{
	*(uint16_t *)(uintptr_t)(fake.vr[qid].avail + 2) = idx;
	*(uint16_t *)(uintptr_t)(fake.vr[qid].used + 2) = idx;
}

static void test_lifecycle(void)
{
	PortRig *r;
	guint64 resets;

	fake_init(4, 256);
	r = port_rig_new(0);
	fake.base_avail[0] = fake.base_used[0] = 17;
	guest_ring_at(0, 17);

	/* a net port waits for its first queue pair, its frontend connected */
	port_vring_state(r->port, 0, true);
	g_assert_cmpint(info(r).state, ==, PORT_STATE_CONNECTED);
	port_vring_state(r->port, 1, true);
	g_assert_cmpint(info(r).state, ==, PORT_STATE_RUNNING);
	g_assert_cmphex(info(r).enabled_vrings, ==, 0x3);
	assert_emu(r, 2, 1);
	resets = emu_resets(r);

	/* a new callfd: DPDK reports disable then enable; no device reset */
	close(fake.vr[1].callfd);
	fake.vr[1].callfd = eventfd(0, EFD_CLOEXEC);
	port_vring_state(r->port, 1, false);
	g_assert_cmphex(info(r).enabled_vrings, ==, 0x1);
	g_assert_cmpuint(fake.set_base_calls[1], ==, 1);
	port_vring_state(r->port, 1, true);
	port_vring_state(r->port, 2, true);
	port_vring_state(r->port, 3, true);
	g_assert_cmpint(info(r).state, ==, PORT_STATE_RUNNING);
	g_assert_cmphex(info(r).enabled_vrings, ==, 0xf);
	assert_emu(r, 4, 1);
	g_assert_cmpuint(emu_resets(r), ==, resets);

	/* GET_VRING_BASE: stop, ring state handed back for every vring */
	port_device_stop(r->port, "test stop");
	g_assert_cmpint(info(r).state, ==, PORT_STATE_STOPPED);
	for (unsigned q = 0; q < 4; q++)
		g_assert_cmpuint(fake.set_base_calls[q], >=, 1);
	/* the VF resumes where it was: 17 went in, 17 came back (net: used) */
	g_assert_cmpuint(fake.base_used[0], ==, 17);
	g_assert_cmpuint(fake.base_avail[0], ==, 17);
	assert_emu(r, 0, 0);

	/* the frontend starts again */
	g_assert_cmpint(port_device_ready(r->port), ==, 0);
	g_assert_cmpint(info(r).state, ==, PORT_STATE_RUNNING);
	assert_emu(r, 4, 1);
	port_disconnect(r->port, 7);
	g_assert_cmpint(info(r).state, ==, PORT_STATE_WAITING);
	assert_emu(r, 0, 0);
	g_assert_cmpuint(info(r).errors, ==, 0);
	g_assert_cmpuint(info(r).starts, ==, 2);
	port_rig_free(r);
	fake_clear();
}

/* A frontend's ring state that lags the used ring in guest memory (entries
 * completed while no backend ran): the VF (with BAR4) is programmed at the
 * guest's index, never at one the guest's used ring contradicts, and that
 * index is what the stop hands back. */
static void test_resume_guest_index(void)
{
	PortRig *r;

	fake_init(2, 256);
	r = port_rig_new(0);
	/* RX, with no frame to receive: the VF stays where it starts */
	fake.base_avail[0] = fake.base_used[0] = 17;
	guest_ring_at(0, 20);
	port_vring_state(r->port, 0, true);
	port_vring_state(r->port, 1, true);
	g_assert_cmpint(info(r).state, ==, PORT_STATE_RUNNING);
	port_device_stop(r->port, "test stop");
	g_assert_cmpuint(fake.base_used[0], ==, 20);
	g_assert_cmpuint(fake.base_avail[0], ==, 20);
	port_disconnect(r->port, 7);
	port_rig_free(r);
	fake_clear();
}

/* the emulator's count of queues started at a used index the used ring in
 * guest memory contradicts */
static guint64 emu_resume_mismatches(PortRig *r)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonArray *qs;
	guint64 sum = 0;
	DpEmuStats e;

	dp_emu_stats(r->emu, r->stats, &e);
	g_assert_true(json_parser_load_from_file(parser, r->stats, NULL));
	qs = json_object_get_array_member(
		json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)),
					      "datapath"), "queues");
	for (guint i = 0; i < json_array_get_length(qs); i++)
		sum += (guint64)json_object_get_int_member(json_array_get_object_element(qs, i),
							   "resume_mismatch");
	return sum;
}

/* An IFCVF without ring-state registers: a vring enabled again at run time
 * whose ring the guest moved meanwhile (the VF stopped at 0, the guest's
 * used ring shows 5) must not resume at the VF's own 0: the device restarts,
 * reset and translated. */
static void test_no_lm_runtime_enable(void)
{
	PortRig *r;

	fake_init(2, 256);
	r = port_rig_open(0, TRUE);
	port_vring_state(r->port, 0, true);
	port_vring_state(r->port, 1, true);
	g_assert_cmpint(info(r).state, ==, PORT_STATE_RUNNING);
	port_vring_state(r->port, 1, false);
	g_assert_cmpuint(fake.base_used[1], ==, 0);
	fake.base_avail[1] = fake.base_used[1] = 5;
	guest_ring_at(1, 5);
	port_vring_state(r->port, 1, true);
	g_assert_cmpint(info(r).state, ==, PORT_STATE_RUNNING);
	g_assert_cmphex(info(r).enabled_vrings, ==, 0x3);
	g_assert_cmpuint(emu_resume_mismatches(r), ==, 0);
	port_device_stop(r->port, "test stop");
	g_assert_cmpuint(fake.base_used[1], ==, 5);
	g_assert_cmpuint(info(r).errors, ==, 0);
	port_disconnect(r->port, 7);
	port_rig_free(r);
	fake_clear();
}

typedef struct {
	const char *name;
	void (*spoil)(void);
	const char *reason;
} Refusal;

static void spoil_pow2(void) { fake.vr[0].size = 100; }
static void spoil_too_big(void) { fake.vr[1].size = 2048; }
static void spoil_used(void) { fake.vr[1].used = (uint64_t)(uintptr_t)fake.mem + MEM_SIZE - 8; }
static void spoil_desc(void) { fake.vr[0].desc = 0x1000; }
static void spoil_used_align(void) { fake.vr[1].used += 2; }
static void spoil_overlap(void)
{
	fake.table.n = 2;
	fake.table.r[1] = fake.table.r[0];
	fake.table.r[1].gpa = MEM_SIZE - 0x1000;
}
static void spoil_count(void) { fake.nr = 6; }

static const Refusal refusals[] = {
	{ "not-power-of-two", spoil_pow2, "failed: vring 0: size 100 is not a power of two" },
	{ "above-max", spoil_too_big, "failed: vring 1: size 2048 is above the VF maximum 1024" },
	{ "used-outside", spoil_used, "failed: vring 1: the used ring (0x806 bytes) is outside guest memory" },
	{ "used-misaligned", spoil_used_align, "failed: vring 1: the used ring at GPA 0x50002 is not 4-byte aligned" },
	{ "desc-outside", spoil_desc, "failed: vring 0: the descriptor table (0x1000 bytes) is outside guest memory" },
	{ "overlap", spoil_overlap, "failed: memory regions 0 (GPA 0x0+0x400000) and 1 (GPA 0x3ff000+0x400000) overlap" },
	{ "too-many-vrings", spoil_count, "failed: the frontend set up 6 vrings, but the port offers 4 (2 queue pairs)" },
};

static void test_refusal(gconstpointer data)
{
	const Refusal *c = data;
	struct port_event ev = { 0 };
	g_autofree char *got = NULL;
	PortRig *r;

	fake_init(2, 256);
	r = port_rig_new(2);
	c->spoil();
	port_vring_state(r->port, 0, true);
	port_vring_state(r->port, 1, true);
	g_assert_cmpint(info(r).state, ==, PORT_STATE_FAILED);
	while (port_events_pop(r->events, &ev))
		;
	got = g_strdup_printf("%s: %s", port_state_to_string(ev.state), ev.reason);
	g_assert_cmpstr(got, ==, c->reason);
	/* everything unwound; no retry until the frontend starts over */
	assert_emu(r, 0, 0);
	g_assert_cmpint(port_device_ready(r->port), ==, -1);
	port_rig_free(r);
	fake_clear();
}

/* a vring enabled at run time with a bad ring fails the port, unwound */
static void test_runtime_refusal(void)
{
	PortRig *r;

	fake_init(4, 256);
	r = port_rig_new(0);
	port_vring_state(r->port, 0, true);
	port_vring_state(r->port, 1, true);
	g_assert_cmpint(info(r).state, ==, PORT_STATE_RUNNING);
	fake.vr[2].size = 48;
	port_vring_state(r->port, 2, true);
	g_assert_cmpint(info(r).state, ==, PORT_STATE_FAILED);
	g_assert_cmpstr(info(r).reason, ==, "vring 2: size 48 is not a power of two");
	assert_emu(r, 0, 0);
	/* the frontend stops and fixes its ring: it gets a working port */
	port_device_stop(r->port, "restart");
	fake.vr[2].size = 64;
	g_assert_cmpint(port_device_ready(r->port), ==, 0);
	g_assert_cmphex(info(r).enabled_vrings, ==, 0x7);
	port_rig_free(r);
	fake_clear();
}

/* GET_CONFIG of a blk port is answered from the VF's device config */
static void test_blk_config(void)
{
	const char *args[] = { "--type", "blk", "--capacity", "4096", NULL };
	g_autoptr(TestEmu) emu = test_emu_start(args);
	struct port_config cfg = { .device = emu->address, .socket = (char *)"/unused.sock" };
	struct port *p = NULL;
	struct cerr ce = { 0 };
	uint8_t buf[96];
	uint64_t capacity = 0;

	if (port_open(0, &cfg, &fake_ops, NULL, &p, &ce) < 0)
		g_error("port_open: %s", ce.msg);
	g_assert_cmpint(port_read_config(p, 0, buf, sizeof(buf), &ce), ==, 0);
	for (unsigned i = 0; i < 8; i++)
		capacity |= (uint64_t)buf[i] << (8 * i);
	g_assert_cmpuint(capacity, ==, 4096);
	g_assert_cmpint(port_read_config(p, 0xf0, buf, 0x20, &ce), ==, -EINVAL);
	g_assert_nonnull(strstr(ce.msg, "outside"));
	/* blk offers CONFIG; net does not */
	g_assert_cmphex(port_protocol_features(p) & (1u << 9), !=, 0);
	port_close(p);
}

/* Live-migration mode and state through the port API (the D-Bus module's
 * view): the mode is chosen between migrations only; sw relays the RX
 * vrings of net (every vring of blk) and goes back to direct; hw without a
 * log is refused, so the frontend does not migrate unlogged. */
static void test_lm_mode(void)
{
	const uint64_t log_all = 1ull << 26;
	struct cerr ce = { 0 };
	PortRig *r;

	fake_init(4, 256);
	r = port_rig_new(0);
	g_assert_cmpint(info(r).lm_mode, ==, PORT_LM_MODE_HW);
	port_vring_state(r->port, 0, true);
	port_vring_state(r->port, 1, true);
	port_vring_state(r->port, 2, true);
	port_vring_state(r->port, 3, true);
	g_assert_cmphex(info(r).enabled_vrings, ==, 0xf);

	/* hw, but the frontend sent no log */
	g_assert_cmpint(port_log_all(r->port, log_all, &ce), ==, -ENOENT);
	g_assert_nonnull(strstr(ce.msg, "sent no log"));
	g_assert_cmpint(info(r).lm_state, ==, PORT_LM_DIRECT);

	g_assert_cmpint(port_set_lm_mode(r->port, PORT_LM_MODE_SW, &ce), ==, 0);
	g_assert_cmpint(info(r).lm_mode, ==, PORT_LM_MODE_SW);
	g_assert_cmpint(port_log_all(r->port, log_all, &ce), ==, 0);
	g_assert_cmpint(info(r).lm_state, ==, PORT_LM_RELAYING_SW);
	g_assert_cmphex(info(r).relayed_vrings, ==, 0x5);
	g_assert_cmphex(info(r).enabled_vrings, ==, 0xf);
	g_assert_cmpint(port_set_lm_mode(r->port, PORT_LM_MODE_HW, &ce), ==, -EBUSY);
	/* on/on: nothing twice */
	g_assert_cmpint(port_log_all(r->port, log_all, &ce), ==, 0);
	g_assert_cmpuint(info(r).switchovers, ==, 1);
	assert_emu(r, 4, 3);

	/* a vring turned off and on while relayed is relayed again */
	port_vring_state(r->port, 2, false);
	g_assert_cmphex(info(r).relayed_vrings, ==, 0x1);
	port_vring_state(r->port, 2, true);
	g_assert_cmphex(info(r).relayed_vrings, ==, 0x5);

	g_assert_cmpint(port_log_all(r->port, 0, &ce), ==, 0);
	g_assert_cmpint(info(r).lm_state, ==, PORT_LM_DIRECT);
	g_assert_cmphex(info(r).relayed_vrings, ==, 0);
	g_assert_cmpuint(info(r).rollbacks, ==, 1);
	/* direct again; the two mediated rings stay mapped, spares for the
	 * next switch */
	assert_emu(r, 4, 3);
	g_assert_cmpint(port_set_lm_mode(r->port, PORT_LM_MODE_HW, &ce), ==, 0);
	g_assert_cmpuint(info(r).errors, ==, 1);
	port_rig_free(r);
	fake_clear();
}

/* blk relays every vring; a VF without BAR4 has sw only */
static void test_lm_blk_no_lm(void)
{
	const char *args[] = { "--type", "blk", "--queues", "2", "--no-lm", NULL };
	g_autoptr(TestEmu) emu = test_emu_start(args);
	struct port_config cfg = { .device = emu->address, .socket = (char *)"/unused.sock",
				   .sw_live_migration = true };
	struct port_info i;
	struct port *p = NULL;
	struct cerr ce = { 0 };

	fake_init(2, 128);
	if (port_open(0, &cfg, &fake_ops, NULL, &p, &ce) < 0)
		g_error("port_open: %s", ce.msg);
	g_assert_cmpint(port_set_lm_mode(p, PORT_LM_MODE_HW, &ce), ==, -ENOTSUP);
	g_assert_cmpint(port_connect(p, 3), ==, 0);
	port_vring_state(p, 0, true);
	port_vring_state(p, 1, true);
	g_assert_cmpint(port_log_all(p, 1ull << 26, &ce), ==, 0);
	port_get_info(p, &i);
	g_assert_cmpint(i.lm_mode, ==, PORT_LM_MODE_SW);
	g_assert_cmpint(i.lm_state, ==, PORT_LM_RELAYING_SW);
	g_assert_cmphex(i.relayed_vrings, ==, 0x3);
	/* GET_VRING_BASE while relaying: back to direct, state handed back */
	port_device_stop(p, "test stop");
	port_get_info(p, &i);
	g_assert_cmpint(i.state, ==, PORT_STATE_STOPPED);
	g_assert_cmpint(i.lm_state, ==, PORT_LM_DIRECT);
	g_assert_cmpuint(fake.set_base_calls[0], ==, 1);
	g_assert_cmpuint(fake.set_base_calls[1], ==, 1);
	/* started again while the frontend still logs: relayed from the start */
	g_assert_cmpint(port_device_ready(p), ==, 0);
	port_get_info(p, &i);
	g_assert_cmpint(i.lm_state, ==, PORT_LM_RELAYING_SW);
	g_assert_cmphex(i.relayed_vrings, ==, 0x3);
	g_assert_cmpint(port_log_all(p, 0, &ce), ==, 0);
	port_get_info(p, &i);
	g_assert_cmpint(i.lm_state, ==, PORT_LM_DIRECT);
	g_assert_cmpuint(i.switchovers, ==, 2);
	g_assert_cmpuint(i.rollbacks, ==, 1);
	g_assert_cmpuint(i.errors, ==, 0);
	port_close(p);
	fake_clear();
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/datapath/port/lifecycle", test_lifecycle);
	for (guint i = 0; i < G_N_ELEMENTS(refusals); i++) {
		g_autofree char *path = g_strdup_printf("/datapath/port/refuse/%s", refusals[i].name);

		g_test_add_data_func(path, &refusals[i], test_refusal);
	}
	g_test_add_func("/datapath/port/runtime-refusal", test_runtime_refusal);
	g_test_add_func("/datapath/port/resume-guest-index", test_resume_guest_index);
	g_test_add_func("/datapath/port/no-lm-runtime-enable", test_no_lm_runtime_enable);
	g_test_add_func("/datapath/port/blk-config", test_blk_config);
	g_test_add_func("/datapath/port/lm-mode", test_lm_mode);
	g_test_add_func("/datapath/port/lm-blk-no-lm", test_lm_blk_no_lm);
	return g_test_run();
}

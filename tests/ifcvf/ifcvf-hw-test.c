/* The IFCVF driver's verbs against a real ifcvf-emu over vfio-user: the
 * start sequence (reset, ACK, DRIVER, features, FEATURES_OK, queues,
 * DRIVER_OK), queue programming after DRIVER_OK, ring state through BAR4,
 * the MQ register, logging registers and doorbells. */
#include <errno.h>
#include <string.h>

#include "ifcvf-hw.h"
#include "ifcvf-io.h"
#include "test-util.h"

typedef struct {
	TestEmu *emu;
	struct vfio_dev *dev;
	struct ifcvf_hw hw;
	guint fds_before;
} Fixture;

static void fixture_open(Fixture *f, const char *const *emu_args, gboolean sw_lm)
{
	struct ifcvf_devargs args = { .sw_live_migration = sw_lm };
	struct cerr e = { 0 };

	f->fds_before = test_count_fds();
	f->emu = test_emu_start(emu_args);
	if (vfio_dev_open(f->emu->address, NULL, &f->dev, &e) < 0)
		g_error("open %s: %s", f->emu->address, e.msg);
	if (ifcvf_hw_init(&f->hw, f->dev, &args, &e) < 0)
		g_error("init: %s", e.msg);
}

static void fixture_close(Fixture *f)
{
	vfio_dev_close(f->dev);
	test_emu_stop(f->emu);
	g_assert_cmpuint(test_count_fds(), ==, f->fds_before);
}

#define OK(call)                                                  \
	do {                                                      \
		struct cerr e_ = { 0 };                           \
		struct cerr *e = &e_;                             \
		if ((call) < 0)                                   \
			g_error("%s: %s", #call, e_.msg);         \
	} while (0)

static void test_start_sequence(void)
{
	const char *args[] = { "--type", "net", "--queue-pairs", "2", NULL };
	struct ifcvf_vring_cfg q = {
		.desc = 0x10000, .avail = 0x11000, .used = 0x12000, .size = 256,
		.last_avail_idx = 7, .last_used_idx = 5, .vector = 1,
	};
	uint16_t avail = 0, used = 0;
	uint8_t status = 0xff;
	uint64_t features = 0;
	bool enabled = false;
	Fixture f;

	fixture_open(&f, args, FALSE);
	g_assert_true(f.hw.lm_block);
	g_assert_cmpuint(ifcvf_hw_max_vrings(&f.hw), ==, 4);

	OK(ifcvf_hw_reset(&f.hw, 1000, e));
	OK(ifcvf_hw_get_status(&f.hw, &status, e));
	g_assert_cmphex(status, ==, 0);
	OK(ifcvf_hw_add_status(&f.hw, VIRTIO_STATUS_ACKNOWLEDGE, e));
	OK(ifcvf_hw_add_status(&f.hw, VIRTIO_STATUS_DRIVER, e));
	OK(ifcvf_hw_read_features(&f.hw, &features, e));
	g_assert_cmphex(features, ==, f.hw.features);
	g_assert_true(features & (1ull << VIRTIO_F_VERSION_1));
	OK(ifcvf_hw_set_features(&f.hw, features & ~(1ull << VIRTIO_F_ACCESS_PLATFORM), e));
	OK(ifcvf_hw_set_config_vector(&f.hw, 0, e));
	OK(ifcvf_hw_set_mq(&f.hw, 2, e));
	OK(ifcvf_hw_queue_program(&f.hw, 0, &q, e));
	OK(ifcvf_hw_queue_enable(&f.hw, 0, e));
	OK(ifcvf_hw_add_status(&f.hw, VIRTIO_STATUS_DRIVER_OK, e));
	OK(ifcvf_hw_get_status(&f.hw, &status, e));
	g_assert_cmphex(status, ==, 0x0f);
	OK(ifcvf_hw_queue_enabled(&f.hw, 0, &enabled, e));
	g_assert_true(enabled);

	/* queue 1 programmed and enabled after DRIVER_OK (reference §5.5) */
	q.vector = 2;
	q.last_avail_idx = q.last_used_idx = 0;
	OK(ifcvf_hw_queue_program(&f.hw, 1, &q, e));
	OK(ifcvf_hw_queue_enable(&f.hw, 1, e));
	OK(ifcvf_hw_notify_queue(&f.hw, 1, e));

	/* the ring state written at programming time is there when disabled;
	 * net reports both indices from the used half */
	OK(ifcvf_hw_queue_disable(&f.hw, 0, 100, &avail, &used, e));
	g_assert_cmpuint(used, ==, 5);
	g_assert_cmpuint(avail, ==, 5);
	OK(ifcvf_hw_queue_enabled(&f.hw, 0, &enabled, e));
	g_assert_false(enabled);

	OK(ifcvf_hw_enable_logging(&f.hw, IFCVF_LOG_BASE, 0x2000, e));
	{
		struct cerr e = { 0 };
		uint32_t v = 0;

		g_assert_cmpint(ifcvf_lm_read32(&f.hw, IFCVF_LM_LOGGING_CTRL, &v, &e), ==, 0);
		g_assert_cmphex(v, ==, IFCVF_LM_ENABLE_VF);
		g_assert_cmpint(ifcvf_lm_read32(&f.hw, IFCVF_LM_BASE_ADDR_HIGH, &v, &e), ==, 0);
		g_assert_cmphex(v, ==, (uint32_t)(IFCVF_LOG_BASE >> 32));
		g_assert_cmpint(ifcvf_lm_read32(&f.hw, IFCVF_LM_END_ADDR_LOW, &v, &e), ==, 0);
		g_assert_cmphex(v, ==, 0x2000);
		g_assert_cmpint(ifcvf_lm_read32(&f.hw, IFCVF_MQ_OFFSET, &v, &e), ==, 0);
		g_assert_cmpuint(v, ==, 1);
	}
	OK(ifcvf_hw_disable_logging(&f.hw, e));

	OK(ifcvf_hw_reset(&f.hw, 1000, e));
	OK(ifcvf_hw_get_status(&f.hw, &status, e));
	g_assert_cmphex(status, ==, 0);
	fixture_close(&f);
}

static void test_refusals(void)
{
	const char *args[] = { "--type", "net", "--queue-pairs", "1", NULL };
	struct ifcvf_vring_cfg q = { .desc = 0x1000, .avail = 0x2000, .used = 0x3000, .size = 256, .vector = 1 };
	struct cerr e = { 0 };
	uint16_t a, u;
	Fixture f;

	fixture_open(&f, args, FALSE);
	/* features the VF does not offer: FEATURES_OK does not stick */
	g_assert_cmpint(ifcvf_hw_add_status(&f.hw, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, &e), ==, 0);
	g_assert_cmpint(ifcvf_hw_set_features(&f.hw, 1ull << 63, &e), ==, -EINVAL);
	g_assert_nonnull(strstr(e.msg, "FEATURES_OK"));
	/* out-of-range queue, bad size, vector past the MSI-X table */
	g_assert_cmpint(ifcvf_hw_queue_program(&f.hw, 2, &q, &e), ==, -EINVAL);
	g_assert_nonnull(strstr(e.msg, "queue 2 is out of range"));
	q.size = 100;
	g_assert_cmpint(ifcvf_hw_queue_program(&f.hw, 0, &q, &e), ==, -EINVAL);
	g_assert_nonnull(strstr(e.msg, "power of two"));
	q.size = 256;
	q.vector = 200;
	g_assert_cmpint(ifcvf_hw_queue_program(&f.hw, 0, &q, &e), ==, -ENOSPC);
	g_assert_cmpint(ifcvf_hw_set_config_vector(&f.hw, 200, &e), ==, -ENOSPC);
	/* a doorbell for a queue that was never programmed */
	g_assert_cmpint(ifcvf_hw_notify_queue(&f.hw, 1, &e), ==, -EINVAL);
	g_assert_cmpint(ifcvf_hw_read_ring_state(&f.hw, 5, &a, &u, &e), ==, -EINVAL);
	fixture_close(&f);
}

static void test_blk_ring_state(void)
{
	const char *args[] = { "--type", "blk", "--queues", "2", NULL };
	struct ifcvf_vring_cfg q = {
		.desc = 0x1000, .avail = 0x2000, .used = 0x3000, .size = 128,
		.last_avail_idx = 9, .last_used_idx = 4, .vector = 2,
	};
	uint16_t avail = 0, used = 0;
	Fixture f;

	fixture_open(&f, args, FALSE);
	g_assert_cmpuint(f.hw.type, ==, IFCVF_DEV_BLK);
	OK(ifcvf_hw_queue_program(&f.hw, 1, &q, e));
	OK(ifcvf_hw_queue_enable(&f.hw, 1, e));
	OK(ifcvf_hw_queue_disable(&f.hw, 1, 100, &avail, &used, e));
	/* blk keeps both halves */
	g_assert_cmpuint(avail, ==, 9);
	g_assert_cmpuint(used, ==, 4);
	fixture_close(&f);
}

static void test_no_lm_block(void)
{
	const char *args[] = { "--type", "net", "--no-lm", NULL };
	struct ifcvf_vring_cfg q = { .desc = 0x1000, .avail = 0x2000, .used = 0x3000, .size = 64, .vector = 1 };
	struct cerr e = { 0 };
	uint16_t avail = 1234, used = 4321;
	Fixture f;

	fixture_open(&f, args, TRUE);
	g_assert_false(f.hw.lm_block);
	/* without BAR4 the MQ register and ring state are skipped... */
	g_assert_cmpint(ifcvf_hw_set_mq(&f.hw, 2, &e), ==, 0);
	g_assert_cmpint(ifcvf_hw_queue_program(&f.hw, 0, &q, &e), ==, 0);
	g_assert_cmpint(ifcvf_hw_queue_enable(&f.hw, 0, &e), ==, 0);
	g_assert_cmpint(ifcvf_hw_queue_disable(&f.hw, 0, 100, &avail, &used, &e), ==, 0);
	g_assert_cmpuint(avail, ==, 1234);
	g_assert_cmpuint(used, ==, 4321);
	/* ...and logging is refused with the reason */
	g_assert_cmpint(ifcvf_hw_enable_logging(&f.hw, IFCVF_LOG_BASE, 4096, &e), ==, -ENODEV);
	g_assert_nonnull(strstr(e.msg, "no live-migration block"));
	fixture_close(&f);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ifcvf-helper/ifcvf-hw/start-sequence", test_start_sequence);
	g_test_add_func("/ifcvf-helper/ifcvf-hw/refusals", test_refusals);
	g_test_add_func("/ifcvf-helper/ifcvf-hw/blk-ring-state", test_blk_ring_state);
	g_test_add_func("/ifcvf-helper/ifcvf-hw/no-lm-block", test_no_lm_block);
	return g_test_run();
}

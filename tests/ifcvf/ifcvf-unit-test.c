/* Unit tests of the IFCVF driver's pure parts: capability walk on crafted
 * config spaces, ID matching, per-VF options, ring-state packing. */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "ifcvf-caps.h"
#include "ifcvf-devargs.h"
#include "ifcvf-hw.h"
#include "ifcvf-ids.h"

typedef struct {
	uint8_t cfg[PCI_CFG_SPACE_SIZE];
	uint64_t bar[6];
} Cfg;

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void vendor_cap(Cfg *c, uint8_t pos, uint8_t next, uint8_t type, uint8_t bar,
		       uint32_t off, uint32_t len)
{
	uint8_t *p = c->cfg + pos;

	p[0] = PCI_CAP_ID_VNDR;
	p[1] = next;
	p[2] = type == VIRTIO_PCI_CAP_NOTIFY_CFG ? 20 : 16;
	p[3] = type;
	p[4] = bar;
	put32(p + 8, off);
	put32(p + 12, len);
	if (type == VIRTIO_PCI_CAP_NOTIFY_CFG)
		put32(p + 16, 4);
}

/* A well-formed IFCVF-like config space: MSI-X at 0x40, then common,
 * notify, ISR and device caps in BAR0 (16 KiB); BAR4 exists. */
static void good_cfg(Cfg *c)
{
	memset(c, 0, sizeof(*c));
	put16(c->cfg + PCI_CFG_STATUS, PCI_STATUS_CAP_LIST);
	c->cfg[PCI_CFG_CAP_PTR] = 0x40;
	c->cfg[0x40] = PCI_CAP_ID_MSIX;
	c->cfg[0x41] = 0x50;
	put16(c->cfg + 0x42, 9);        /* 10 entries */
	put32(c->cfg + 0x44, 0x1 | 0);  /* BAR1 offset 0 */
	vendor_cap(c, 0x50, 0x60, VIRTIO_PCI_CAP_COMMON_CFG, 0, 0x0000, 0x38);
	vendor_cap(c, 0x60, 0x78, VIRTIO_PCI_CAP_NOTIFY_CFG, 0, 0x3000, 0x100);
	vendor_cap(c, 0x78, 0x88, VIRTIO_PCI_CAP_ISR_CFG, 0, 0x1000, 1);
	vendor_cap(c, 0x88, 0x00, VIRTIO_PCI_CAP_DEVICE_CFG, 0, 0x2000, 0x60);
	c->bar[0] = 0x4000;
	c->bar[1] = 0x1000;
	c->bar[4] = 0x1000;
}

static void test_caps_good(void)
{
	struct ifcvf_caps caps;
	struct cerr e = { 0 };
	Cfg c;

	good_cfg(&c);
	g_assert_cmpint(ifcvf_caps_parse(c.cfg, c.bar, &caps, &e), ==, 0);
	g_assert_true(caps.common.present && caps.notify.present && caps.isr.present &&
		      caps.device.present);
	g_assert_cmpuint(caps.notify.offset, ==, 0x3000);
	g_assert_cmpuint(caps.notify_off_multiplier, ==, 4);
	g_assert_cmpuint(caps.device.length, ==, 0x60);
	g_assert_true(caps.has_msix);
	g_assert_cmpuint(caps.msix_table_size, ==, 10);
	g_assert_cmpuint(caps.msix_table_bar, ==, 1);
	g_assert_cmpuint(caps.virtio_bar_mask, ==, 1);
}

static void expect_fail(Cfg *c, int err, const char *needle)
{
	struct ifcvf_caps caps;
	struct cerr e = { 0 };

	g_assert_cmpint(ifcvf_caps_parse(c->cfg, c->bar, &caps, &e), ==, -err);
	g_assert_cmpint(e.code, ==, err);
	if (!strstr(e.msg, needle))
		g_error("message '%s' does not mention '%s'", e.msg, needle);
}

static void test_caps_outside_bar(void)
{
	Cfg c;

	good_cfg(&c);
	/* device config runs 1 byte past the 16 KiB BAR */
	vendor_cap(&c, 0x88, 0x00, VIRTIO_PCI_CAP_DEVICE_CFG, 0, 0x3fa1, 0x60);
	expect_fail(&c, EINVAL, "outside BAR 0");

	good_cfg(&c);
	vendor_cap(&c, 0x50, 0x60, VIRTIO_PCI_CAP_COMMON_CFG, 2, 0, 0x38);  /* BAR2 absent */
	expect_fail(&c, EINVAL, "outside BAR 2");

	good_cfg(&c);
	vendor_cap(&c, 0x50, 0x60, VIRTIO_PCI_CAP_COMMON_CFG, 7, 0, 0x38);
	expect_fail(&c, EINVAL, "BAR 7");

	good_cfg(&c);
	vendor_cap(&c, 0x50, 0x60, VIRTIO_PCI_CAP_COMMON_CFG, 0, 0xfffffff0u, 0x38);
	expect_fail(&c, EINVAL, "overflows");
}

static void test_caps_loop(void)
{
	Cfg c;

	good_cfg(&c);
	c.cfg[0x89] = 0x60;   /* device cap points back at notify */
	expect_fail(&c, ELOOP, "loops");

	good_cfg(&c);
	c.cfg[0x41] = 0x40;   /* a capability pointing at itself */
	expect_fail(&c, ELOOP, "loops");
}

static void test_caps_bad_pointer(void)
{
	Cfg c;

	good_cfg(&c);
	c.cfg[PCI_CFG_CAP_PTR] = 0x10;  /* inside the standard header */
	expect_fail(&c, EINVAL, "capability pointer 0x10");

	good_cfg(&c);
	c.cfg[0x89] = 0xfe;   /* past the end */
	expect_fail(&c, EINVAL, "capability pointer 0xfe");

	good_cfg(&c);
	/* a vendor cap whose 16 bytes do not fit before the end */
	c.cfg[0xf8] = PCI_CAP_ID_VNDR;
	c.cfg[0xf8 + VIRTIO_PCI_CAP_CFG_TYPE] = VIRTIO_PCI_CAP_COMMON_CFG;
	c.cfg[0x89] = 0xf8;
	expect_fail(&c, EINVAL, "past the end of config space");

	good_cfg(&c);
	put16(c.cfg + PCI_CFG_STATUS, 0);
	expect_fail(&c, ENODEV, "no capability list");
}

static void test_caps_missing(void)
{
	static const struct {
		uint8_t skip_pos;
		const char *needle;
	} cases[] = {
		{ 0x50, "no common configuration" },
		{ 0x60, "no notify" },
		{ 0x78, "no ISR" },
		{ 0x88, "no device configuration" },
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		Cfg c;

		good_cfg(&c);
		/* turn the capability into a non-virtio one, keeping the chain */
		c.cfg[cases[i].skip_pos] = 0x05;
		expect_fail(&c, ENODEV, cases[i].needle);
	}
}

static void test_caps_bar4_claimed(void)
{
	struct ifcvf_caps caps;
	struct cerr e = { 0 };
	Cfg c;

	/* QEMU's virtio-net-pci keeps its virtio capabilities in BAR4 */
	good_cfg(&c);
	c.bar[4] = 0x4000;
	vendor_cap(&c, 0x50, 0x60, VIRTIO_PCI_CAP_COMMON_CFG, 4, 0x0000, 0x38);
	vendor_cap(&c, 0x60, 0x78, VIRTIO_PCI_CAP_NOTIFY_CFG, 4, 0x3000, 0x100);
	vendor_cap(&c, 0x78, 0x88, VIRTIO_PCI_CAP_ISR_CFG, 4, 0x1000, 1);
	vendor_cap(&c, 0x88, 0x00, VIRTIO_PCI_CAP_DEVICE_CFG, 4, 0x2000, 0x60);
	g_assert_cmpint(ifcvf_caps_parse(c.cfg, c.bar, &caps, &e), ==, 0);
	g_assert_cmpuint(caps.virtio_bar_mask, ==, 1u << 4);
}

static void test_ids(void)
{
	static const struct {
		struct ifcvf_pci_ids ids;
		gboolean generic;
		int err;
		enum ifcvf_dev_type type;
		gboolean is_ifcvf;
	} cases[] = {
		{ { 0x1af4, 0x1041, 0x8086, 0x001a }, FALSE, 0, IFCVF_DEV_NET, TRUE },
		{ { 0x1af4, 0x1000, 0x8086, 0x0001 }, FALSE, 0, IFCVF_DEV_NET, TRUE },
		{ { 0x1af4, 0x1001, 0x8086, 0x0002 }, FALSE, 0, IFCVF_DEV_BLK, TRUE },
		{ { 0x1af4, 0x1042, 0x8086, 0x0002 }, FALSE, 0, IFCVF_DEV_BLK, TRUE },
		{ { 0x1af4, 0x1042, 0x8086, 0x0000 }, FALSE, 0, IFCVF_DEV_BLK, TRUE },
		{ { 0x8086, 0x1041, 0x8086, 0x001a }, FALSE, ENODEV, 0, FALSE },  /* vendor */
		{ { 0x1af4, 0x1043, 0x8086, 0x001a }, FALSE, ENODEV, 0, FALSE },  /* device */
		{ { 0x1af4, 0x1041, 0x1af4, 0x0001 }, FALSE, ENODEV, 0, FALSE },  /* QEMU's */
		{ { 0x1af4, 0x1041, 0x8086, 0x0002 }, FALSE, ENODEV, 0, FALSE },  /* subsystem */
		{ { 0x1af4, 0x1041, 0x1af4, 0x0001 }, TRUE, 0, IFCVF_DEV_NET, FALSE },
		{ { 0x1af4, 0x1000, 0x1af4, 0x0001 }, TRUE, ENODEV, 0, FALSE },   /* legacy */
		{ { 0x1af4, 0x1043, 0x1af4, 0x0001 }, TRUE, ENODEV, 0, FALSE },   /* console */
		{ { 0x1af4, 0x1080, 0x8086, 0x001a }, TRUE, ENODEV, 0, FALSE },
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		enum ifcvf_dev_type type = IFCVF_DEV_BLK;
		gboolean ok_ifcvf;
		bool is_ifcvf = false;
		struct cerr e = { 0 };
		int r = ifcvf_ids_match(&cases[i].ids, cases[i].generic, &type, &is_ifcvf, &e);

		g_test_message("case %u: %s", i, e.msg);
		g_assert_cmpint(r, ==, -cases[i].err);
		if (r == 0) {
			ok_ifcvf = is_ifcvf;
			g_assert_cmpint(type, ==, cases[i].type);
			g_assert_cmpint(ok_ifcvf, ==, cases[i].is_ifcvf);
		} else {
			g_assert_cmpstr(e.msg, !=, "");
		}
	}
}

static void test_devargs(void)
{
	struct ifcvf_devargs a;
	struct cerr e = { 0 };

	g_assert_cmpint(ifcvf_devargs_parse(NULL, &a, &e), ==, 0);
	g_assert_false(a.sw_live_migration);
	g_assert_cmpint(ifcvf_devargs_parse("sw-live-migration=1", &a, &e), ==, 0);
	g_assert_true(a.sw_live_migration);
	g_assert_cmpint(ifcvf_devargs_parse("sw-live-migration=0x1,generic-virtio=1", &a, &e), ==, 0);
	g_assert_true(a.sw_live_migration && a.generic_virtio);
	g_assert_cmpint(ifcvf_devargs_parse("sw-live-migration=0", &a, &e), ==, 0);
	g_assert_false(a.sw_live_migration);

	g_assert_cmpint(ifcvf_devargs_parse("sw-live-migration=2", &a, &e), ==, -EINVAL);
	g_assert_nonnull(strstr(e.msg, "sw-live-migration"));
	g_assert_cmpint(ifcvf_devargs_parse("sw-live-migration=yes", &a, &e), ==, -EINVAL);
	g_assert_cmpint(ifcvf_devargs_parse("sw-live-migration=", &a, &e), ==, -EINVAL);
	g_assert_cmpint(ifcvf_devargs_parse("sw-live-migration", &a, &e), ==, -EINVAL);
	g_assert_nonnull(strstr(e.msg, "KEY=VALUE"));
	g_assert_cmpint(ifcvf_devargs_parse("vdpa=1", &a, &e), ==, -EINVAL);
	g_assert_nonnull(strstr(e.msg, "unknown option 'vdpa'"));
	g_assert_cmpint(ifcvf_devargs_parse("sw-live-migration=1,", &a, &e), ==, -EINVAL);
	g_assert_cmpint(ifcvf_devargs_parse("sw-live-migration=-1", &a, &e), ==, -EINVAL);
}

static void test_ring_state(void)
{
	uint16_t avail, used;

	g_assert_cmpuint(ifcvf_ring_state_offset(IFCVF_DEV_NET, 0), ==, 0x20);
	g_assert_cmpuint(ifcvf_ring_state_offset(IFCVF_DEV_NET, 1), ==, 0x24);
	g_assert_cmpuint(ifcvf_ring_state_offset(IFCVF_DEV_NET, 2), ==, 0x60);
	g_assert_cmpuint(ifcvf_ring_state_offset(IFCVF_DEV_NET, 7), ==, 0x20 + 3 * 0x40 + 4);
	g_assert_cmpuint(ifcvf_ring_state_offset(IFCVF_DEV_BLK, 1), ==, 0x60);
	g_assert_cmpuint(ifcvf_ring_state_offset(IFCVF_DEV_BLK, 3), ==, 0x20 + 3 * 0x40);
	/* the MQ register sits where no ring state word is */
	for (unsigned q = 0; q < 64; q++)
		g_assert_cmpuint(ifcvf_ring_state_offset(IFCVF_DEV_NET, q), !=, IFCVF_MQ_OFFSET);

	g_assert_cmphex(ifcvf_ring_state_encode(0x1234, 0xabcd), ==, 0xabcd1234);
	ifcvf_ring_state_decode(IFCVF_DEV_BLK, 0xabcd1234, &avail, &used);
	g_assert_cmphex(avail, ==, 0x1234);
	g_assert_cmphex(used, ==, 0xabcd);
	/* net resumes from the used index: in-flight avail entries are re-fetched */
	ifcvf_ring_state_decode(IFCVF_DEV_NET, 0xabcd1234, &avail, &used);
	g_assert_cmphex(avail, ==, 0xabcd);
	g_assert_cmphex(used, ==, 0xabcd);
}

static void test_feature_names(void)
{
	g_assert_cmpstr(ifcvf_feature_name(IFCVF_DEV_NET, 5), ==, "NET_MAC");
	g_assert_cmpstr(ifcvf_feature_name(IFCVF_DEV_BLK, 5), ==, "BLK_RO");
	g_assert_cmpstr(ifcvf_feature_name(IFCVF_DEV_NET, 32), ==, "VERSION_1");
	g_assert_cmpstr(ifcvf_feature_name(IFCVF_DEV_NET, 33), ==, "IOMMU_PLATFORM");
	g_assert_null(ifcvf_feature_name(IFCVF_DEV_NET, 63));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ifcvf-helper/ifcvf/caps/good", test_caps_good);
	g_test_add_func("/ifcvf-helper/ifcvf/caps/outside-bar", test_caps_outside_bar);
	g_test_add_func("/ifcvf-helper/ifcvf/caps/loop", test_caps_loop);
	g_test_add_func("/ifcvf-helper/ifcvf/caps/bad-pointer", test_caps_bad_pointer);
	g_test_add_func("/ifcvf-helper/ifcvf/caps/missing", test_caps_missing);
	g_test_add_func("/ifcvf-helper/ifcvf/caps/bar4-claimed", test_caps_bar4_claimed);
	g_test_add_func("/ifcvf-helper/ifcvf/ids", test_ids);
	g_test_add_func("/ifcvf-helper/ifcvf/devargs", test_devargs);
	g_test_add_func("/ifcvf-helper/ifcvf/ring-state", test_ring_state);
	g_test_add_func("/ifcvf-helper/ifcvf/feature-names", test_feature_names);
	return g_test_run();
}

/* Unit tests of src/vfio's pure parts: device addresses, the sysfs group
 * lookup on a fake tree, kernel open without /dev/vfio, the vfio_irq_set
 * argument, region-info capability chains and the VERSION JSON. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "test-util.h"
#include "vfio-dev-private.h"
#include "vfio-kernel.h"
#include "vfio-user-caps.h"

/* A message names what failed, is lower case and has no trailing stop. */
static void assert_message(const struct cerr *e, const char *want1, const char *want2)
{
	size_t n = strlen(e->msg);

	g_assert_cmpuint(n, >, 0);
	g_assert_cmpint(e->msg[n - 1], !=, '.');
	g_assert_false(g_ascii_isupper(e->msg[0]));
	if (want1 && !strstr(e->msg, want1))
		g_error("message \"%s\" lacks \"%s\"", e->msg, want1);
	if (want2 && !strstr(e->msg, want2))
		g_error("message \"%s\" lacks \"%s\"", e->msg, want2);
}

/* ---- addresses ---- */

static void test_address_good(void)
{
	g_autofree char *longest = g_strnfill(VFIO_DEV_SUN_PATH_MAX, 'x');
	g_autofree char *addr = g_strconcat("vfio-user:", longest, NULL);
	struct vfio_address a;
	struct cerr e = { 0 };

	g_assert_cmpint(vfio_address_parse("pci:0000:af:00.3", &a, &e), ==, 0);
	g_assert_cmpint(a.transport, ==, VFIO_TRANSPORT_KERNEL);
	g_assert_cmpstr(a.bdf, ==, "0000:af:00.3");

	g_assert_cmpint(vfio_address_parse("pci:ABCD:EF:1f.7", &a, &e), ==, 0);
	g_assert_cmpstr(a.bdf, ==, "abcd:ef:1f.7");

	g_assert_cmpint(vfio_address_parse("vfio-user:/run/x/vf0.sock", &a, &e), ==, 0);
	g_assert_cmpint(a.transport, ==, VFIO_TRANSPORT_USER);
	g_assert_cmpstr(a.path, ==, "/run/x/vf0.sock");

	g_assert_cmpint(vfio_address_parse(addr, &a, &e), ==, 0);
	g_assert_cmpstr(a.path, ==, longest);
}

static void test_address_bad(void)
{
	g_autofree char *toolong = g_strnfill(VFIO_DEV_SUN_PATH_MAX + 1, 'x');
	g_autofree char *addr_long = g_strconcat("vfio-user:", toolong, NULL);
	const struct {
		const char *address;
		const char *cause;
	} cases[] = {
		{ "", "expected pci:DDDD:BB:DD.F or vfio-user:PATH" },
		{ "0000:af:00.3", "expected pci:" },
		{ "PCI:0000:af:00.3", "expected pci:" },
		{ "pci:", "expected pci:DDDD:BB:DD.F" },
		{ "pci:0000:af:00", "expected pci:DDDD:BB:DD.F" },
		{ "pci:000:af:00.3", "expected pci:DDDD:BB:DD.F" },
		{ "pci:0000:af:00.3 ", "expected pci:DDDD:BB:DD.F" },
		{ "pci:0000-af:00.3", "expected pci:DDDD:BB:DD.F" },
		{ "pci:0000:ag:00.3", "hex digits" },
		{ "pci:0000:af:-1.3", "hex digits" },
		{ "pci:0000:af:20.0", "device number 0x20 is larger than 0x1f" },
		{ "pci:0000:af:00.8", "function number 8 is larger than 7" },
		{ "vfio-user:", "socket path is empty" },
		{ addr_long, "more than the 107" },
		{ "tcp:1.2.3.4", "expected pci:DDDD:BB:DD.F or vfio-user:PATH" },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct vfio_address a;
		struct cerr e = { 0 };
		struct vfio_dev *dev = (void *)1;
		g_autofree char *quoted = g_strdup_printf("\"%.40s", cases[i].address);

		g_test_message("address \"%s\"", cases[i].address);
		g_assert_cmpint(vfio_address_parse(cases[i].address, &a, &e), ==, -EINVAL);
		g_assert_cmpint(e.code, ==, EINVAL);
		assert_message(&e, quoted, cases[i].cause);

		/* the public entry refuses it the same way and leaves *ret NULL */
		cerr_clear(&e);
		g_assert_cmpint(vfio_dev_open(cases[i].address, NULL, &dev, &e), ==, -EINVAL);
		g_assert_null(dev);
		assert_message(&e, quoted, cases[i].cause);
	}
}

/* ---- fake sysfs ---- */

typedef struct {
	char *root;
} FakeSys;

static char *fake_device_dir(FakeSys *f, const char *bdf)
{
	char *dir = g_build_filename(f->root, "bus/pci/devices", bdf, NULL);

	g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
	return dir;
}

static void fake_link(const char *dir, const char *name, const char *target)
{
	g_autofree char *path = g_build_filename(dir, name, NULL);

	g_assert_cmpint(symlink(target, path), ==, 0);
}

static void fake_setup(FakeSys *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	f->root = g_dir_make_tmp("vfio-sysfs-XXXXXX", &error);
	g_assert_no_error(error);
}

static void rm_rf(const char *path)
{
	g_autofree char *quoted = g_shell_quote(path);
	g_autofree char *cmd = g_strdup_printf("rm -rf %s", quoted);

	g_assert_true(g_spawn_command_line_sync(cmd, NULL, NULL, NULL, NULL));
}

static void fake_teardown(FakeSys *f, gconstpointer data)
{
	rm_rf(f->root);
	g_free(f->root);
}

static void test_sysfs_group(FakeSys *f, gconstpointer data)
{
	g_autofree char *dir = fake_device_dir(f, "0000:af:00.3");
	struct cerr e = { 0 };
	unsigned group = 0;

	fake_link(dir, "driver", "../../../../bus/pci/drivers/vfio-pci");
	fake_link(dir, "iommu_group", "../../../../kernel/iommu_groups/42");
	g_assert_cmpint(vfio_kernel_iommu_group(f->root, "0000:af:00.3", &group, &e), ==, 0);
	g_assert_cmpuint(group, ==, 42);
}

static void test_sysfs_other_driver(FakeSys *f, gconstpointer data)
{
	g_autofree char *dir = fake_device_dir(f, "0000:af:00.3");
	struct cerr e = { 0 };
	unsigned group = 0;

	fake_link(dir, "driver", "../../../../bus/pci/drivers/ifcvf");
	fake_link(dir, "iommu_group", "../../../../kernel/iommu_groups/42");
	g_assert_cmpint(vfio_kernel_iommu_group(f->root, "0000:af:00.3", &group, &e), ==, -EBUSY);
	assert_message(&e, "bound to ifcvf", "not vfio-pci");
}

static void test_sysfs_no_driver(FakeSys *f, gconstpointer data)
{
	g_autofree char *dir = fake_device_dir(f, "0000:af:00.3");
	struct cerr e = { 0 };
	unsigned group = 0;

	fake_link(dir, "iommu_group", "../../../../kernel/iommu_groups/42");
	g_assert_cmpint(vfio_kernel_iommu_group(f->root, "0000:af:00.3", &group, &e), ==, -ENODEV);
	assert_message(&e, "not bound to any driver", "vfio-pci");
}

static void test_sysfs_no_group(FakeSys *f, gconstpointer data)
{
	g_autofree char *dir = fake_device_dir(f, "0000:af:00.3");
	struct cerr e = { 0 };
	unsigned group = 0;

	fake_link(dir, "driver", "../../../../bus/pci/drivers/vfio-pci");
	g_assert_cmpint(vfio_kernel_iommu_group(f->root, "0000:af:00.3", &group, &e), ==, -ENODEV);
	assert_message(&e, "no IOMMU group", NULL);
}

static void test_sysfs_bad_group(FakeSys *f, gconstpointer data)
{
	g_autofree char *dir = fake_device_dir(f, "0000:af:00.3");
	struct cerr e = { 0 };
	unsigned group = 0;

	fake_link(dir, "driver", "../../../../bus/pci/drivers/vfio-pci");
	fake_link(dir, "iommu_group", "../../../../kernel/iommu_groups/4x");
	g_assert_cmpint(vfio_kernel_iommu_group(f->root, "0000:af:00.3", &group, &e), ==, -EINVAL);
	assert_message(&e, "\"4x\"", "not a group number");
}

static void test_sysfs_missing_device(FakeSys *f, gconstpointer data)
{
	struct cerr e = { 0 };
	unsigned group = 0;

	g_assert_cmpint(vfio_kernel_iommu_group(f->root, "0000:af:00.3", &group, &e), ==, -ENODEV);
	assert_message(&e, "no such PCI device", "0000:af:00.3");
}

/* The kernel transport through the public API with a fake sysfs and a
 * /dev/vfio that is missing or not VFIO: clear errors, no fd left open. */
static void test_kernel_open_no_vfio(FakeSys *f, gconstpointer data)
{
	g_autofree char *dir = fake_device_dir(f, "0000:af:00.3");
	g_autofree char *devdir = g_build_filename(f->root, "dev-vfio", NULL);
	g_autofree char *fake_node = g_build_filename(devdir, "vfio", NULL);
	g_autofree char *driver_link = g_build_filename(dir, "driver", NULL);
	struct vfio_dev *dev = NULL;
	struct cerr e = { 0 };
	guint fds;

	fake_link(dir, "driver", "../../../../bus/pci/drivers/vfio-pci");
	fake_link(dir, "iommu_group", "../../../../kernel/iommu_groups/7");
	g_setenv(VFIO_KERNEL_SYSFS_ENV, f->root, TRUE);
	g_setenv(VFIO_KERNEL_DEV_DIR_ENV, devdir, TRUE);

	/* no /dev/vfio at all */
	fds = test_count_fds();
	g_assert_cmpint(vfio_dev_open("pci:0000:af:00.3", NULL, &dev, &e), ==, -ENOENT);
	g_assert_null(dev);
	assert_message(&e, "pci:0000:af:00.3: ", "does not exist");
	g_assert_true(g_str_has_prefix(e.msg, "pci:0000:af:00.3: "));
	g_assert_cmpuint(test_count_fds(), ==, fds);

	/* a "vfio" node that is a plain file: the first ioctl fails */
	g_assert_cmpint(g_mkdir_with_parents(devdir, 0755), ==, 0);
	g_assert_true(g_file_set_contents(fake_node, "", 0, NULL));
	cerr_clear(&e);
	g_assert_cmpint(vfio_dev_open("pci:0000:af:00.3", NULL, &dev, &e), ==, -ENOTTY);
	g_assert_null(dev);
	assert_message(&e, "pci:0000:af:00.3: ", "VFIO_GET_API_VERSION");
	g_assert_cmpuint(test_count_fds(), ==, fds);

	/* bound to another driver: refused before anything is opened */
	g_assert_cmpint(unlink(driver_link), ==, 0);
	fake_link(dir, "driver", "../../../../bus/pci/drivers/virtio-pci");
	cerr_clear(&e);
	g_assert_cmpint(vfio_dev_open("pci:0000:af:00.3", NULL, &dev, &e), ==, -EBUSY);
	assert_message(&e, "pci:0000:af:00.3: ", "bound to virtio-pci");
	g_assert_cmpuint(test_count_fds(), ==, fds);

	g_unsetenv(VFIO_KERNEL_SYSFS_ENV);
	g_unsetenv(VFIO_KERNEL_DEV_DIR_ENV);
}

/* ---- vfio_irq_set ---- */

struct irq_head {
	guint32 argsz, flags, index, start, count;
};

static struct irq_head read_head(const void *buf)
{
	struct irq_head h;

	memcpy(&h, buf, sizeof(h));
	return h;
}

static void test_irq_set_build(void)
{
	const int fds[3] = { 10, -1, 12 };
	guint8 buf[64];
	struct irq_head h;
	gint32 v[3];

	/* kernel: fds inline after the 20-byte head */
	g_assert_cmpint(vfio_irq_set_build(buf, sizeof(buf), 2, 1, 3, fds, TRUE), ==, 32);
	h = read_head(buf);
	g_assert_cmpuint(h.argsz, ==, 32);
	g_assert_cmpuint(h.flags, ==, 0x24);
	g_assert_cmpuint(h.index, ==, 2);
	g_assert_cmpuint(h.start, ==, 1);
	g_assert_cmpuint(h.count, ==, 3);
	memcpy(v, buf + 20, sizeof(v));
	g_assert_cmpint(v[0], ==, 10);
	g_assert_cmpint(v[1], ==, -1);
	g_assert_cmpint(v[2], ==, 12);

	/* vfio-user: the head alone, fds travel as SCM_RIGHTS */
	g_assert_cmpint(vfio_irq_set_build(buf, sizeof(buf), 2, 4, 1, fds, FALSE), ==, 20);
	h = read_head(buf);
	g_assert_cmpuint(h.argsz, ==, 20);
	g_assert_cmpuint(h.flags, ==, 0x24);
	g_assert_cmpuint(h.start, ==, 4);
	g_assert_cmpuint(h.count, ==, 1);

	/* unbind everything: DATA_NONE|TRIGGER, start 0, count 0 */
	g_assert_cmpint(vfio_irq_set_build(buf, sizeof(buf), 2, 0, 0, NULL, TRUE), ==, 20);
	h = read_head(buf);
	g_assert_cmpuint(h.flags, ==, 0x21);
	g_assert_cmpuint(h.count, ==, 0);

	/* refusals */
	g_assert_cmpint(vfio_irq_set_build(buf, sizeof(buf), 2, 0, 0, fds, TRUE), ==, -EINVAL);
	g_assert_cmpint(vfio_irq_set_build(buf, sizeof(buf), 2, 0, 3, NULL, TRUE), ==, -EINVAL);
	g_assert_cmpint(vfio_irq_set_build(buf, 31, 2, 1, 3, fds, TRUE), ==, -ENOSPC);
	g_assert_cmpint(vfio_irq_set_build(buf, 19, 2, 0, 0, NULL, FALSE), ==, -ENOSPC);
	g_assert_cmpint(vfio_irq_set_build(buf, sizeof(buf), 2, G_MAXUINT32, 2, fds, FALSE), ==,
			-EINVAL);
}

/* ---- region info ---- */

typedef struct {
	guint8 b[256];
	size_t len;
} Info;

static void put32(Info *in, size_t off, guint32 v)
{
	memcpy(in->b + off, &v, sizeof(v));
	if (off + sizeof(v) > in->len)
		in->len = off + sizeof(v);
}

static void put64(Info *in, size_t off, guint64 v)
{
	memcpy(in->b + off, &v, sizeof(v));
	if (off + sizeof(v) > in->len)
		in->len = off + sizeof(v);
}

/* head: flags, index, cap_offset, size 0x4000, offset 0x10000000000 */
static void info_head(Info *in, guint32 flags, guint32 cap_offset)
{
	memset(in, 0, sizeof(*in));
	put32(in, 4, flags);
	put32(in, 8, 4);
	put32(in, 12, cap_offset);
	put64(in, 16, 0x4000);
	put64(in, 24, 0x40000000000ull);
}

/* sparse cap at @off: id 1, version 1, @next, @nr areas */
static void sparse_cap(Info *in, size_t off, guint32 next, guint32 nr)
{
	put32(in, off, 1 | (1u << 16));
	put32(in, off + 4, next);
	put32(in, off + 8, nr);
	put32(in, off + 12, 0);
	for (guint32 i = 0; i < nr && off + 16 + 16 * i + 16 <= sizeof(in->b); i++) {
		put64(in, off + 16 + 16 * i, 0x1000ull * 2 * i);
		put64(in, off + 24 + 16 * i, 0x1000);
	}
}

static void info_finish(Info *in)
{
	put32(in, 0, (guint32)in->len);
}

static void test_region_info_sparse(void)
{
	struct vfio_region_desc d;
	struct cerr e = { 0 };
	Info in;

	info_head(&in, 0xf, 32);
	/* an unknown cap (id 2) first, then the sparse cap */
	put32(&in, 32, 2 | (1u << 16));
	put32(&in, 36, 48);
	put32(&in, 40, 0x1234);
	put32(&in, 44, 0);
	sparse_cap(&in, 48, 0, 2);
	info_finish(&in);
	g_assert_cmpint(vfio_region_info_parse(in.b, in.len, &d, &e), ==, 0);
	g_assert_cmpuint(d.argsz, ==, in.len);
	g_assert_cmpuint(d.flags, ==, 0xf);
	g_assert_cmpuint(d.index, ==, 4);
	g_assert_cmpuint(d.size, ==, 0x4000);
	g_assert_cmpuint(d.offset, ==, 0x40000000000ull);
	g_assert_true(d.sparse);
	g_assert_cmpuint(d.nr_areas, ==, 2);
	g_assert_cmpuint(d.areas[0].offset, ==, 0);
	g_assert_cmpuint(d.areas[0].size, ==, 0x1000);
	g_assert_cmpuint(d.areas[1].offset, ==, 0x2000);
	g_assert_cmpuint(d.areas[1].size, ==, 0x1000);
}

static void test_region_info_no_caps(void)
{
	struct vfio_region_desc d;
	struct cerr e = { 0 };
	Info in;

	/* no CAPS flag: a cap_offset is ignored */
	info_head(&in, 0x7, 99);
	info_finish(&in);
	g_assert_cmpint(vfio_region_info_parse(in.b, in.len, &d, &e), ==, 0);
	g_assert_false(d.sparse);

	/* the kernel's "caps did not fit": CAPS with cap_offset 0 */
	info_head(&in, 0xf, 0);
	info_finish(&in);
	g_assert_cmpint(vfio_region_info_parse(in.b, in.len, &d, &e), ==, 0);
	g_assert_false(d.sparse);
	g_assert_cmpuint(d.nr_areas, ==, 0);
}

static void test_region_info_many_areas(void)
{
	struct vfio_region_desc d;
	struct cerr e = { 0 };
	Info in;

	/* 6 areas of 0x1000 every 0x2000 would need a 0xc000 region */
	info_head(&in, 0xf, 32);
	put64(&in, 16, 0x10000);
	sparse_cap(&in, 32, 0, 6);
	info_finish(&in);
	g_assert_cmpint(vfio_region_info_parse(in.b, in.len, &d, &e), ==, 0);
	g_assert_cmpuint(d.nr_areas, ==, VFIO_DEV_MAX_AREAS);
	g_assert_cmpuint(d.areas[3].offset, ==, 0x6000);
}

static void expect_bad_info(Info *in, const char *cause)
{
	struct vfio_region_desc d;
	struct cerr e = { 0 };

	g_assert_cmpint(vfio_region_info_parse(in->b, in->len, &d, &e), ==, -EPROTO);
	assert_message(&e, cause, NULL);
}

static void test_region_info_bad(void)
{
	Info in;

	/* shorter than the head */
	info_head(&in, 0x7, 0);
	in.len = 31;
	expect_bad_info(&in, "shorter than the 32-byte head");

	/* cap offset past the end */
	info_head(&in, 0xf, 200);
	info_finish(&in);
	expect_bad_info(&in, "capability at offset 200 lies outside the 32-byte reply");

	/* cap offset inside the head */
	info_head(&in, 0xf, 8);
	sparse_cap(&in, 32, 0, 1);
	info_finish(&in);
	expect_bad_info(&in, "capability at offset 8 lies outside");

	/* a cap header cut off by the end */
	info_head(&in, 0xf, 32);
	put32(&in, 32, 2);
	in.len = 36;
	expect_bad_info(&in, "lies outside the 36-byte reply");

	/* next pointing at itself */
	info_head(&in, 0xf, 32);
	sparse_cap(&in, 32, 32, 1);
	info_finish(&in);
	expect_bad_info(&in, "capability chain loops");

	/* a two-cap cycle */
	info_head(&in, 0xf, 32);
	put32(&in, 32, 2);
	put32(&in, 36, 48);
	sparse_cap(&in, 48, 32, 1);
	info_finish(&in);
	expect_bad_info(&in, "capability chain loops");

	/* nr_areas larger than the buffer holds */
	info_head(&in, 0xf, 32);
	sparse_cap(&in, 32, 0, 2);
	info_finish(&in);
	put32(&in, 40, 60);
	expect_bad_info(&in, "claims 60 areas, more than fit");

	/* more areas than any device has, whatever the reply's size: the
	 * count is refused before it sizes a walk */
	put32(&in, 40, 65);
	expect_bad_info(&in, "claims 65 areas, more than the 64 supported");
	put32(&in, 40, 0x10000001);
	expect_bad_info(&in, "claims 268435457 areas, more than the 64 supported");

	/* the sparse cap itself cut off */
	info_head(&in, 0xf, 32);
	sparse_cap(&in, 32, 0, 0);
	info_finish(&in);
	in.len = 44;
	put32(&in, 0, 44);
	expect_bad_info(&in, "cut off");

	/* an area outside the region */
	info_head(&in, 0xf, 32);
	sparse_cap(&in, 32, 0, 1);
	put64(&in, 48, 0x3800);
	info_finish(&in);
	expect_bad_info(&in, "lies outside the region of size 0x4000");
}

/* ---- VERSION JSON ---- */

static void test_caps_parse(void)
{
	struct vfu_caps c;
	struct cerr e = { 0 };

	/* libvfio-user's reply, with a nested object and odd spacing */
	g_assert_cmpint(vfu_caps_parse("{ \"capabilities\": { \"max_msg_fds\": 8, "
				       "\"max_data_xfer_size\": 1048576, \"migration\": { \"pgsize\": 4096 } } }",
				       &c, &e), ==, 0);
	g_assert_cmpuint(c.max_msg_fds, ==, 8);
	g_assert_cmpuint(c.max_data_xfer_size, ==, 1048576);
	g_assert_cmpuint(c.pgsizes, ==, 4096);
	g_assert_cmpuint(c.max_dma_maps, ==, 65535);

	/* defaults; unknown keys of every type skipped */
	g_assert_cmpint(vfu_caps_parse("{}", &c, &e), ==, 0);
	g_assert_cmpuint(c.max_msg_fds, ==, 1);
	g_assert_cmpint(vfu_caps_parse("{\"x\":[1,-2.5e3,true,false,null,\"a\\\"\\u00e9\",{}],"
				       "\"capabilities\":{\"pgsizes\":2101248,\"twin_socket\":"
				       "{\"supported\":false},\"max_dma_maps\":7}}\n",
				       &c, &e), ==, 0);
	g_assert_cmpuint(c.pgsizes, ==, 2101248);
	g_assert_cmpuint(c.max_dma_maps, ==, 7);
}

static void test_caps_roundtrip(void)
{
	const struct vfu_caps in = { 8, 1048576, 4096, 65535 };
	struct vfu_caps out;
	struct cerr e = { 0 };
	char buf[256];

	g_assert_cmpint(vfu_caps_format(&in, buf, sizeof(buf)), >, 0);
	g_assert_cmpint(vfu_caps_parse(buf, &out, &e), ==, 0);
	g_assert_cmpuint(out.max_msg_fds, ==, in.max_msg_fds);
	g_assert_cmpuint(out.max_data_xfer_size, ==, in.max_data_xfer_size);
	g_assert_cmpuint(out.pgsizes, ==, in.pgsizes);
	g_assert_cmpuint(out.max_dma_maps, ==, in.max_dma_maps);
	g_assert_cmpint(vfu_caps_format(&in, buf, 20), ==, -ENOSPC);
}

static void test_caps_bad(void)
{
	g_autoptr(GString) deep = g_string_new("{\"x\":");
	const char *cases[] = {
		"",
		"[]",
		"{\"capabilities\":{\"max_msg_fds\":-1}}",
		"{\"capabilities\":{\"max_msg_fds\":1.5}}",
		"{\"capabilities\":{\"max_msg_fds\":2000}}",
		"{\"capabilities\":{\"max_data_xfer_size\":0}}",
		"{\"capabilities\":{\"pgsizes\":99999999999999999999999}}",
		"{\"capabilities\":{\"max_msg_fds\":\"8\"}}",
		"{\"capabilities\":[]}",
		"{\"capabilities\":{}} x",
		"{\"capabilities\":{},}",
		"{\"a\":\"unterminated}",
		"{\"a\":\"bad \\q escape\"}",
		"{\"a\":tru}",
		"{\"a\":01}",
		"{\"a\" 1}",
		"{'a':1}",
		NULL,
	};
	struct vfu_caps c;

	for (int i = 0; i < 100; i++)
		g_string_append(deep, "[");
	cases[G_N_ELEMENTS(cases) - 1] = deep->str;
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct cerr e = { 0 };

		g_test_message("json %.60s", cases[i]);
		g_assert_cmpint(vfu_caps_parse(cases[i], &c, &e), ==, -EINVAL);
		assert_message(&e, "capabilities JSON", NULL);
	}
}

/* A server's reply that is not what the spec allows: EINVAL (as
 * libvfio-user answers a client's bad JSON) with the key and the cause. */
static void test_caps_hostile(void)
{
	static const struct {
		const char *json;
		const char *cause;
	} cases[] = {
		{ "{garbage", "expected a string at byte 1" },
		{ "{\"capabilities\":{\"max_msg_fds\":-1}}",
		  "max_msg_fds is not a non-negative integer" },
		{ "{\"capabilities\":{\"max_msg_fds\":-9223372036854775808}}",
		  "max_msg_fds is not a non-negative integer" },
		{ "{\"capabilities\":{\"max_msg_fds\":1025}}", "max_msg_fds 1025 is out of range 0..1024" },
		{ "{\"capabilities\":{\"max_msg_fds\":4294967297}}",
		  "max_msg_fds 4294967297 is out of range" },
		{ "{\"capabilities\":{\"max_msg_fds\":true}}", "max_msg_fds is not a number" },
		{ "{\"capabilities\":{\"max_msg_fds\":null}}", "max_msg_fds is not a number" },
		{ "{\"capabilities\":{\"max_msg_fds\":[8]}}", "max_msg_fds is not a number" },
		{ "{\"capabilities\":{\"max_data_xfer_size\":\"1M\"}}",
		  "max_data_xfer_size is not a number" },
		{ "{\"capabilities\":{\"pgsizes\":0}}", "pgsizes 0 is out of range" },
		{ "{\"capabilities\":{\"pgsizes\":512}}", "pgsizes 0x200 offers a page size below 4096" },
		{ "{\"capabilities\":{\"pgsizes\":4097}}", "pgsizes 0x1001 offers a page size below 4096" },
		{ "{\"capabilities\":{\"max_dma_maps\":0}}", "max_dma_maps 0 is out of range" },
		{ "{\"capabilities\":{\"max_msg_fds\":8,\"max_msg_fds\":64}}",
		  "max_msg_fds appears twice" },
		{ "{\"capabilities\":{},\"capabilities\":{\"max_msg_fds\":64}}",
		  "capabilities appears twice" },
		{ "{\"capabilities\":\"all\"}", "capabilities is not an object" },
		{ "{\"capabilities\":{\"migration\":7}}", "migration is not an object" },
		{ "{\"capabilities\":{\"migration\":{\"pgsize\":\"4k\"}}}",
		  "migration.pgsize is not a number" },
		{ "{\"capabilities\":{\"twin_socket\":1}}", "twin_socket is not an object" },
		{ "{\"capabilities\":{\"twin_socket\":{\"supported\":\"yes\"}}}",
		  "twin_socket.supported is not true or false" },
		{ "{\"capabilities\":{\"write_multiple\":1}}", "write_multiple is not true or false" },
	};
	struct vfu_caps c;

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct cerr e = { 0 };

		g_test_message("json %s", cases[i].json);
		g_assert_cmpint(vfu_caps_parse(cases[i].json, &c, &e), ==, -EINVAL);
		g_assert_cmpint(e.code, ==, EINVAL);
		assert_message(&e, "capabilities JSON", cases[i].cause);
	}

	/* what the spec allows stays accepted */
	{
		struct cerr e = { 0 };

		g_assert_cmpint(vfu_caps_parse("{\"capabilities\":{\"max_msg_fds\":0,"
					       "\"migration\":{\"pgsize\":4096,\"max_bitmap_size\":268435456},"
					       "\"twin_socket\":{\"supported\":false},\"write_multiple\":true,"
					       "\"pgsizes\":2101248,\"future_key\":{\"a\":[1]}}}",
					       &c, &e), ==, 0);
		g_assert_cmpuint(c.max_msg_fds, ==, 0);
		g_assert_cmpuint(c.pgsizes, ==, 2101248);
		g_assert_false(c.twin_socket);
	}
	/* a client's proposal may carry twin_socket: parsed, the server decides
	 * (the client refuses it in a reply, see the vfio-user-faults test) */
	{
		struct cerr e = { 0 };

		g_assert_cmpint(vfu_caps_parse("{\"capabilities\":{\"twin_socket\":"
					       "{\"supported\":true,\"fd_index\":0}}}", &c, &e), ==, 0);
		g_assert_true(c.twin_socket);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/vfio/address/good", test_address_good);
	g_test_add_func("/vfio/address/bad", test_address_bad);
	g_test_add("/vfio/kernel/sysfs-group", FakeSys, NULL, fake_setup, test_sysfs_group,
		   fake_teardown);
	g_test_add("/vfio/kernel/sysfs-other-driver", FakeSys, NULL, fake_setup,
		   test_sysfs_other_driver, fake_teardown);
	g_test_add("/vfio/kernel/sysfs-no-driver", FakeSys, NULL, fake_setup,
		   test_sysfs_no_driver, fake_teardown);
	g_test_add("/vfio/kernel/sysfs-no-group", FakeSys, NULL, fake_setup, test_sysfs_no_group,
		   fake_teardown);
	g_test_add("/vfio/kernel/sysfs-bad-group", FakeSys, NULL, fake_setup,
		   test_sysfs_bad_group, fake_teardown);
	g_test_add("/vfio/kernel/sysfs-missing-device", FakeSys, NULL, fake_setup,
		   test_sysfs_missing_device, fake_teardown);
	g_test_add("/vfio/kernel/open-without-vfio", FakeSys, NULL, fake_setup,
		   test_kernel_open_no_vfio, fake_teardown);
	g_test_add_func("/vfio/irq-set/build", test_irq_set_build);
	g_test_add_func("/vfio/region-info/sparse", test_region_info_sparse);
	g_test_add_func("/vfio/region-info/no-caps", test_region_info_no_caps);
	g_test_add_func("/vfio/region-info/many-areas", test_region_info_many_areas);
	g_test_add_func("/vfio/region-info/bad", test_region_info_bad);
	g_test_add_func("/vfio/caps-json/parse", test_caps_parse);
	g_test_add_func("/vfio/caps-json/roundtrip", test_caps_roundtrip);
	g_test_add_func("/vfio/caps-json/bad", test_caps_bad);
	g_test_add_func("/vfio/caps-json/hostile", test_caps_hostile);
	return g_test_run();
}

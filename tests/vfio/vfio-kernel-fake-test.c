/* The kernel VFIO transport against a fake kernel, in the test process.
 *
 * The program is linked with -Wl,--wrap=ioctl,--wrap=pwrite64 (meson builds
 * with 64-bit file offsets, so pwrite is pwrite64): every ioctl of src/vfio
 * lands in __wrap_ioctl below, which answers for a fake container,
 * group and device told apart by inode (plain files in a temporary
 * /dev/vfio, pointed at with IFCVF_VFIO_DEV_DIR, and a fake sysfs with
 * IFCVF_SYSFS_ROOT). The device fd is a file that holds the regions at the
 * offsets the fake reports, so config space reads and writes are real
 * pread/pwrite on it. What the transport asked for is recorded and checked:
 * the order of container/group/device setup, bus mastering switched on at
 * open and off at close, DMA map/unmap arguments, the SET_IRQS payload,
 * reset, and one clear message for each refusal, with no fd left open.
 *
 * The real kernel is exercised by the kernel-vfio suite (tests/kernel-vfio). */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <linux/vfio.h>
#include <stdarg.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test-util.h"
#include "vfio-dev.h"
#include "vfio-kernel.h"

#define BDF "0000:af:00.3"
#define ADDR "pci:" BDF
#define GROUP 7
#define CFG_OFFSET 0x10000ull    /* where the config region sits in the device file */
#define BAR0_OFFSET 0x0ull
#define BAR0_SIZE 0x1000ull
#define MSIX_COUNT 4u
/* with the mmap knob: BAR2 offers a sparse-mmap area (its upper half, as
 * vfio-pci leaves out an MSI-X table), BAR4 is mappable whole */
#define BAR2_OFFSET 0x20000ull
#define BAR2_SIZE 0x4000ull
#define BAR2_AREA_OFF 0x2000ull
#define BAR2_AREA_SIZE 0x2000ull
#define BAR4_OFFSET 0x30000ull
#define BAR4_SIZE 0x2000ull
#define DEVICE_FILE_SIZE (BAR4_OFFSET + BAR4_SIZE)

int __real_ioctl(int fd, unsigned long request, ...);
int __wrap_ioctl(int fd, unsigned long request, ...);
ssize_t __real_pwrite64(int fd, const void *buf, size_t n, off_t off);
ssize_t __wrap_pwrite64(int fd, const void *buf, size_t n, off_t off);

/* ---- the fake kernel ---- */

typedef struct {
	char *root;              /* temporary tree */
	char *devdir;            /* fake /dev/vfio */
	char *device_file;
	ino_t container_ino, group_ino, device_ino;
	/* knobs */
	gboolean not_viable;
	int fail_set_iommu;      /* errno, or 0 */
	int fail_map;            /* errno, or 0 */
	gboolean master_sticks;  /* FALSE: the command register drops bus mastering */
	guint64 unmap_short;     /* bytes unmap reports fewer than asked */
	gboolean lost_irqs;      /* the device has the request and error interrupts */
	gboolean mmap_bars;      /* BAR2 (sparse) and BAR4 (whole) are mappable */
	int notice_fd[VFIO_PCI_NUM_IRQS];   /* eventfd bound per index, or -1 */
	/* what the transport did */
	GString *calls;
	int device_fd;
	struct vfio_iommu_type1_dma_map last_map;
	struct vfio_iommu_type1_dma_unmap last_unmap;
	guint8 last_irqs[256];
	gsize last_irqs_len;
	guint resets;
} Fake;

static Fake *fake;

static ino_t ino_of(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

static void note(const char *what)
{
	g_string_append_printf(fake->calls, "%s%s", fake->calls->len ? " " : "", what);
}

static int container_ioctl(unsigned long request, void *arg)
{
	switch (request) {
	case VFIO_GET_API_VERSION:
		note("api");
		return VFIO_API_VERSION;
	case VFIO_CHECK_EXTENSION:
		return (uintptr_t)arg == VFIO_TYPE1v2_IOMMU;
	case VFIO_SET_IOMMU:
		note("set-iommu");
		g_assert_cmpuint((uintptr_t)arg, ==, VFIO_TYPE1v2_IOMMU);
		if (fake->fail_set_iommu) {
			errno = fake->fail_set_iommu;
			return -1;
		}
		return 0;
	case VFIO_IOMMU_MAP_DMA:
		note("map");
		memcpy(&fake->last_map, arg, sizeof(fake->last_map));
		if (fake->fail_map) {
			errno = fake->fail_map;
			return -1;
		}
		return 0;
	case VFIO_IOMMU_UNMAP_DMA: {
		struct vfio_iommu_type1_dma_unmap *u = arg;

		note("unmap");
		memcpy(&fake->last_unmap, u, sizeof(*u));
		u->size -= fake->unmap_short;
		return 0;
	}
	default:
		errno = ENOTTY;
		return -1;
	}
}

static int group_ioctl(unsigned long request, void *arg)
{
	switch (request) {
	case VFIO_GROUP_GET_STATUS: {
		struct vfio_group_status *s = arg;

		note("status");
		s->flags = fake->not_viable ? 0 : VFIO_GROUP_FLAGS_VIABLE;
		return 0;
	}
	case VFIO_GROUP_SET_CONTAINER:
		note("set-container");
		g_assert_cmpuint(ino_of(*(int *)arg), ==, fake->container_ino);
		return 0;
	case VFIO_GROUP_GET_DEVICE_FD:
		note("get-device");
		g_assert_cmpstr(arg, ==, BDF);
		fake->device_fd = open(fake->device_file, O_RDWR | O_CLOEXEC);
		return fake->device_fd;
	default:
		errno = ENOTTY;
		return -1;
	}
}

static int device_ioctl(unsigned long request, void *arg)
{
	switch (request) {
	case VFIO_DEVICE_GET_INFO: {
		struct vfio_device_info *i = arg;

		i->flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
		i->num_regions = VFIO_PCI_NUM_REGIONS;
		i->num_irqs = VFIO_PCI_NUM_IRQS;
		return 0;
	}
	case VFIO_DEVICE_GET_REGION_INFO: {
		struct vfio_region_info *r = arg;

		r->flags = 0;
		r->cap_offset = 0;
		r->size = 0;
		r->offset = (uint64_t)r->index << 20;
		if (r->index == VFIO_PCI_BAR0_REGION_INDEX) {
			r->offset = BAR0_OFFSET;
			r->size = BAR0_SIZE;
			r->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
		} else if (r->index == VFIO_PCI_CONFIG_REGION_INDEX) {
			r->offset = CFG_OFFSET;
			r->size = 256;
			r->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
		} else if (r->index == VFIO_PCI_VGA_REGION_INDEX) {
			errno = EINVAL;
			return -1;
		} else if (fake->mmap_bars && r->index == VFIO_PCI_BAR2_REGION_INDEX) {
			struct vfio_region_info_cap_sparse_mmap *cap;
			gsize need = sizeof(*r) + sizeof(*cap) + sizeof(cap->areas[0]);

			r->offset = BAR2_OFFSET;
			r->size = BAR2_SIZE;
			r->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
				   VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS;
			/* as the kernel: too small, and argsz says what it needs */
			if (r->argsz < need) {
				r->argsz = (guint32)need;
				return 0;
			}
			r->cap_offset = sizeof(*r);
			cap = (void *)((char *)r + sizeof(*r));
			cap->header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
			cap->header.version = 1;
			cap->header.next = 0;
			cap->nr_areas = 1;
			cap->areas[0].offset = BAR2_AREA_OFF;
			cap->areas[0].size = BAR2_AREA_SIZE;
		} else if (fake->mmap_bars && r->index == VFIO_PCI_BAR4_REGION_INDEX) {
			r->offset = BAR4_OFFSET;
			r->size = BAR4_SIZE;
			r->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
				   VFIO_REGION_INFO_FLAG_MMAP;
		}
		return 0;
	}
	case VFIO_DEVICE_GET_IRQ_INFO: {
		struct vfio_irq_info *i = arg;

		i->flags = VFIO_IRQ_INFO_EVENTFD;
		i->count = i->index == VFIO_PCI_MSIX_IRQ_INDEX ? MSIX_COUNT : 0;
		if (fake->lost_irqs && (i->index == VFIO_PCI_REQ_IRQ_INDEX ||
					i->index == VFIO_PCI_ERR_IRQ_INDEX))
			i->count = 1;
		return 0;
	}
	case VFIO_DEVICE_SET_IRQS: {
		struct vfio_irq_set *s = arg;

		note("set-irqs");
		g_assert_cmpuint(s->argsz, <=, sizeof(fake->last_irqs));
		memcpy(fake->last_irqs, s, s->argsz);
		fake->last_irqs_len = s->argsz;
		if (s->index == VFIO_PCI_REQ_IRQ_INDEX || s->index == VFIO_PCI_ERR_IRQ_INDEX) {
			int32_t fd = -1;

			if (s->flags & VFIO_IRQ_SET_DATA_EVENTFD) {
				g_assert_cmpuint(s->start, ==, 0);
				g_assert_cmpuint(s->count, ==, 1);
				memcpy(&fd, s->data, sizeof(fd));
			} else {
				g_assert_cmpuint(s->count, ==, 0);
			}
			fake->notice_fd[s->index] = fd;
			note(s->index == VFIO_PCI_REQ_IRQ_INDEX ? (fd >= 0 ? "bind-req" : "unbind-req")
								: (fd >= 0 ? "bind-err" : "unbind-err"));
		}
		return 0;
	}
	case VFIO_DEVICE_RESET:
		note("reset");
		fake->resets++;
		return 0;
	default:
		errno = ENOTTY;
		return -1;
	}
}

int __wrap_ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;
	ino_t ino;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	ino = fake ? ino_of(fd) : 0;
	if (fake && ino && ino == fake->container_ino)
		return container_ioctl(request, arg);
	if (fake && ino && ino == fake->group_ino)
		return group_ioctl(request, arg);
	if (fake && ino && ino == fake->device_ino)
		return device_ioctl(request, arg);
	return __real_ioctl(fd, request, arg);
}

/* A command register that does not keep bus mastering, when asked to. */
ssize_t __wrap_pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	if (fake && !fake->master_sticks && ino_of(fd) == fake->device_ino &&
	    off == (off_t)(CFG_OFFSET + 4) && n == 2) {
		guint16 cmd;

		memcpy(&cmd, buf, sizeof(cmd));
		cmd = GUINT16_TO_LE(GUINT16_FROM_LE(cmd) & ~0x4u);
		return __real_pwrite64(fd, &cmd, sizeof(cmd), off);
	}
	return __real_pwrite64(fd, buf, n, off);
}

static guint16 command_register(void)
{
	guint16 cmd = 0;
	int fd = open(fake->device_file, O_RDONLY | O_CLOEXEC);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(pread(fd, &cmd, sizeof(cmd), CFG_OFFSET + 4), ==, sizeof(cmd));
	close(fd);
	return GUINT16_FROM_LE(cmd);
}

static void set_command_register(guint16 v)
{
	guint16 cmd = GUINT16_TO_LE(v);
	int fd = open(fake->device_file, O_WRONLY | O_CLOEXEC);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(__real_pwrite64(fd, &cmd, sizeof(cmd), CFG_OFFSET + 4), ==, sizeof(cmd));
	close(fd);
}

static ino_t make_file(const char *path, gsize size)
{
	struct stat st;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(ftruncate(fd, (off_t)size), ==, 0);
	g_assert_cmpint(fstat(fd, &st), ==, 0);
	close(fd);
	return st.st_ino;
}

static void fake_setup(Fake *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *devices = NULL, *dir = NULL, *link = NULL, *group_link = NULL;
	g_autofree char *container = NULL, *group = NULL;
	guint8 ids[4] = { 0xf4, 0x1a, 0x41, 0x10 };   /* 1af4:1041 */
	int fd;

	memset(f, 0, sizeof(*f));
	f->root = g_dir_make_tmp("vfio-kernel-fake-XXXXXX", &error);
	g_assert_no_error(error);
	dir = g_build_filename(f->root, "sys/bus/pci/devices", BDF, NULL);
	g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
	link = g_build_filename(dir, "driver", NULL);
	g_assert_cmpint(symlink("../../../../bus/pci/drivers/vfio-pci", link), ==, 0);
	group_link = g_build_filename(dir, "iommu_group", NULL);
	g_assert_cmpint(symlink("../../../../kernel/iommu_groups/7", group_link), ==, 0);
	f->devdir = g_build_filename(f->root, "dev-vfio", NULL);
	g_assert_cmpint(g_mkdir_with_parents(f->devdir, 0755), ==, 0);
	container = g_build_filename(f->devdir, "vfio", NULL);
	group = g_strdup_printf("%s/%d", f->devdir, GROUP);
	f->device_file = g_build_filename(f->root, "device", NULL);
	f->container_ino = make_file(container, 0);
	f->group_ino = make_file(group, 0);
	f->device_ino = make_file(f->device_file, DEVICE_FILE_SIZE);
	fd = open(f->device_file, O_WRONLY | O_CLOEXEC);
	g_assert_cmpint(__real_pwrite64(fd, ids, sizeof(ids), CFG_OFFSET), ==, sizeof(ids));
	close(fd);
	devices = g_build_filename(f->root, "sys", NULL);
	g_setenv(VFIO_KERNEL_SYSFS_ENV, devices, TRUE);
	g_setenv(VFIO_KERNEL_DEV_DIR_ENV, f->devdir, TRUE);
	f->calls = g_string_new(NULL);
	f->master_sticks = TRUE;
	f->device_fd = -1;
	for (unsigned i = 0; i < VFIO_PCI_NUM_IRQS; i++)
		f->notice_fd[i] = -1;
	fake = f;
}

static void fake_teardown(Fake *f, gconstpointer data)
{
	g_autofree char *quoted = g_shell_quote(f->root);
	g_autofree char *cmd = g_strdup_printf("rm -rf %s", quoted);

	fake = NULL;
	g_unsetenv(VFIO_KERNEL_SYSFS_ENV);
	g_unsetenv(VFIO_KERNEL_DEV_DIR_ENV);
	g_assert_true(g_spawn_command_line_sync(cmd, NULL, NULL, NULL, NULL));
	g_string_free(f->calls, TRUE);
	g_free(f->root);
	g_free(f->devdir);
	g_free(f->device_file);
}

static void assert_message(const struct cerr *e, const char *want1, const char *want2)
{
	size_t n = strlen(e->msg);

	g_assert_cmpuint(n, >, 0);
	g_assert_cmpint(e->msg[n - 1], !=, '.');
	g_assert_true(g_str_has_prefix(e->msg, ADDR ": "));
	if (want1 && !strstr(e->msg, want1))
		g_error("message \"%s\" lacks \"%s\"", e->msg, want1);
	if (want2 && !strstr(e->msg, want2))
		g_error("message \"%s\" lacks \"%s\"", e->msg, want2);
}

/* ---- cases ---- */

/* Open: container, group (viable), IOMMU, device; bus mastering and memory
 * decoding on; close turns bus mastering off and leaves no fd open. */
static void test_open_close(Fake *f, gconstpointer data)
{
	guint fds = test_count_fds();
	struct vfio_dev *dev = NULL;
	struct cerr e = { 0 };
	guint16 vendor = 0;

	g_assert_cmphex(command_register(), ==, 0);
	g_assert_cmpint(vfio_dev_open(ADDR, NULL, &dev, &e), ==, 0);
	g_assert_cmpstr(f->calls->str, ==, "api status set-container set-iommu get-device");
	g_assert_cmphex(command_register(), ==, 0x6);
	g_assert_cmpint(vfio_dev_read16(dev, VFIO_DEV_REGION_CONFIG, 0, &vendor, &e), ==, 0);
	g_assert_cmphex(vendor, ==, 0x1af4);
	vfio_dev_close(dev);
	g_assert_cmphex(command_register(), ==, 0x2);
	g_assert_cmpuint(test_count_fds(), ==, fds);
}

/* A device already mastering is left as it was, at open and at close. */
static void test_master_already_on(Fake *f, gconstpointer data)
{
	struct vfio_dev *dev = NULL;
	struct cerr e = { 0 };

	set_command_register(0x0406);
	g_assert_cmpint(vfio_dev_open(ADDR, NULL, &dev, &e), ==, 0);
	g_assert_cmphex(command_register(), ==, 0x0406);
	vfio_dev_close(dev);
	g_assert_cmphex(command_register(), ==, 0x0406);
}

/* A device that does not keep bus mastering would never reach memory. */
static void test_master_refused(Fake *f, gconstpointer data)
{
	guint fds = test_count_fds();
	struct vfio_dev *dev = NULL;
	struct cerr e = { 0 };

	f->master_sticks = FALSE;
	g_assert_cmpint(vfio_dev_open(ADDR, NULL, &dev, &e), ==, -EIO);
	g_assert_null(dev);
	assert_message(&e, "bus mastering", "command 0x0002");
	g_assert_cmpuint(test_count_fds(), ==, fds);
}

static void test_not_viable(Fake *f, gconstpointer data)
{
	guint fds = test_count_fds();
	struct vfio_dev *dev = NULL;
	struct cerr e = { 0 };

	f->not_viable = TRUE;
	g_assert_cmpint(vfio_dev_open(ADDR, NULL, &dev, &e), ==, -EBUSY);
	g_assert_null(dev);
	assert_message(&e, "group 7 is not viable", "bound to vfio-pci or to no driver");
	g_assert_cmpstr(f->calls->str, ==, "api status");
	g_assert_cmpuint(test_count_fds(), ==, fds);
	g_assert_cmphex(command_register(), ==, 0);
}

static void test_set_iommu_fails(Fake *f, gconstpointer data)
{
	guint fds = test_count_fds();
	struct vfio_dev *dev = NULL;
	struct cerr e = { 0 };

	f->fail_set_iommu = EPERM;
	g_assert_cmpint(vfio_dev_open(ADDR, NULL, &dev, &e), ==, -EPERM);
	assert_message(&e, "VFIO_SET_IOMMU", "group 7");
	g_assert_cmpuint(test_count_fds(), ==, fds);
}

/* The group node as the kernel makes it (0600, root's) opened by someone
 * else: the permission is named. As root, the open runs as nobody. */
static void test_no_permission(Fake *f, gconstpointer data)
{
	g_autofree char *group = g_strdup_printf("%s/%d", f->devdir, GROUP);
	g_autofree char *container = g_build_filename(f->devdir, "vfio", NULL);
	guint fds = test_count_fds();
	struct vfio_dev *dev = NULL;
	gboolean as_root = geteuid() == 0;
	struct cerr e = { 0 };
	int r;

	g_assert_cmpint(chmod(f->root, 0755), ==, 0);
	g_assert_cmpint(chmod(container, 0666), ==, 0);
	g_assert_cmpint(chmod(group, as_root ? 0600 : 0), ==, 0);
	if (as_root)
		g_assert_cmpint(seteuid(65534), ==, 0);
	r = vfio_dev_open(ADDR, NULL, &dev, &e);
	if (as_root)
		g_assert_cmpint(seteuid(0), ==, 0);
	g_assert_cmpint(r, ==, -EACCES);
	g_assert_null(dev);
	assert_message(&e, "permission denied opening", group);
	g_assert_cmpuint(test_count_fds(), ==, fds);
}

static void test_dma(Fake *f, gconstpointer data)
{
	static char buf[8192];
	struct vfio_dev *dev = NULL;
	struct cerr e = { 0 };

	g_assert_cmpint(vfio_dev_open(ADDR, NULL, &dev, &e), ==, 0);
	g_assert_cmpint(vfio_dev_dma_map(dev, 0x100000, sizeof(buf), buf, -1, 0, &e), ==, 0);
	g_assert_cmphex(f->last_map.iova, ==, 0x100000);
	g_assert_cmphex(f->last_map.size, ==, sizeof(buf));
	g_assert_cmphex(f->last_map.vaddr, ==, (uintptr_t)buf);
	g_assert_cmphex(f->last_map.flags, ==, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
	g_assert_cmpuint(f->last_map.argsz, ==, sizeof(f->last_map));
	g_assert_cmpint(vfio_dev_dma_unmap(dev, 0x100000, sizeof(buf), &e), ==, 0);
	g_assert_cmphex(f->last_unmap.iova, ==, 0x100000);
	g_assert_cmphex(f->last_unmap.size, ==, sizeof(buf));

	/* the kernel refuses a mapping: the range and the cause are named */
	f->fail_map = EINVAL;
	g_assert_cmpint(vfio_dev_dma_map(dev, 0x200000, 4096, buf, -1, 0, &e), ==, -EINVAL);
	assert_message(&e, "VFIO_IOMMU_MAP_DMA of iova 0x200000 size 0x1000", NULL);

	/* an unmap that drops less than asked is an error */
	f->unmap_short = 4096;
	cerr_clear(&e);
	g_assert_cmpint(vfio_dev_dma_unmap(dev, 0x100000, sizeof(buf), &e), ==, -EINVAL);
	assert_message(&e, "unmapped 0x1000 bytes", NULL);
	vfio_dev_close(dev);
}

/* MSI-X through VFIO_DEVICE_SET_IRQS: eventfds inline after the head;
 * close unbinds the index (DATA_NONE, count 0) before anything else goes. */
static void test_irqs_and_reset(Fake *f, gconstpointer data)
{
	const int fds[3] = { 11, -1, 13 };
	const struct vfio_irq_set *s = (const void *)f->last_irqs;
	struct vfio_dev *dev = NULL;
	struct cerr e = { 0 };
	uint32_t count = 0;
	int32_t got[3];

	g_assert_cmpint(vfio_dev_open(ADDR, NULL, &dev, &e), ==, 0);
	g_assert_cmpint(vfio_dev_irq_count(dev, VFIO_DEV_IRQ_MSIX, &count, &e), ==, 0);
	g_assert_cmpuint(count, ==, MSIX_COUNT);
	g_assert_cmpint(vfio_dev_set_irq_eventfds(dev, VFIO_DEV_IRQ_MSIX, 1, 3, fds, &e), ==, 0);
	g_assert_cmpuint(f->last_irqs_len, ==, sizeof(*s) + sizeof(got));
	g_assert_cmphex(s->flags, ==, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER);
	g_assert_cmpuint(s->index, ==, VFIO_PCI_MSIX_IRQ_INDEX);
	g_assert_cmpuint(s->start, ==, 1);
	g_assert_cmpuint(s->count, ==, 3);
	memcpy(got, s->data, sizeof(got));
	g_assert_cmpint(got[0], ==, 11);
	g_assert_cmpint(got[1], ==, -1);
	g_assert_cmpint(got[2], ==, 13);

	g_assert_cmpint(vfio_dev_reset(dev, &e), ==, 0);
	g_assert_cmpuint(f->resets, ==, 1);

	g_string_truncate(f->calls, 0);
	vfio_dev_close(dev);
	g_assert_cmpstr(f->calls->str, ==, "set-irqs");
	g_assert_cmphex(s->flags, ==, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER);
	g_assert_cmpuint(s->index, ==, VFIO_PCI_MSIX_IRQ_INDEX);
	g_assert_cmpuint(s->count, ==, 0);
	g_assert_cmphex(command_register(), ==, 0x2);
}

static gboolean readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* Hot removal and AER (issue 18): the request and error interrupts are bound
 * to eventfds at open, the lost fd turns readable when either fires and the
 * reason names which; close unbinds both and leaves no fd open. */
static void test_lost_irqs(Fake *f, gconstpointer data)
{
	gboolean req = GPOINTER_TO_INT(data);
	guint fds = test_count_fds();
	struct vfio_dev *dev = NULL;
	struct cerr e = { 0 };
	bool rd = false;
	char why[128];
	int fd;

	f->lost_irqs = TRUE;
	g_assert_cmpint(vfio_dev_open(ADDR, NULL, &dev, &e), ==, 0);
	g_assert_nonnull(strstr(f->calls->str, "set-irqs bind-req set-irqs bind-err"));
	g_assert_cmpint(f->notice_fd[VFIO_PCI_REQ_IRQ_INDEX], >=, 0);
	g_assert_cmpint(f->notice_fd[VFIO_PCI_ERR_IRQ_INDEX], >=, 0);
	fd = vfio_dev_lost_fd(dev, &rd);
	g_assert_cmpint(fd, >=, 0);
	g_assert_true(rd);
	g_assert_false(readable(fd));

	/* what the kernel does: signal the bound eventfd */
	g_assert_cmpint(eventfd_write(f->notice_fd[req ? VFIO_PCI_REQ_IRQ_INDEX
						       : VFIO_PCI_ERR_IRQ_INDEX], 1), ==, 0);
	g_assert_true(readable(fd));
	vfio_dev_lost_reason(dev, why, sizeof(why));
	g_assert_cmpstr(why, ==, req ? "device removed (request interrupt)"
				     : "device failed (error interrupt)");

	g_string_truncate(f->calls, 0);
	vfio_dev_close(dev);
	g_assert_cmpstr(f->calls->str, ==, "set-irqs unbind-req set-irqs unbind-err");
	g_assert_cmpuint(test_count_fds(), ==, fds);
}

/* A kernel without either interrupt: no lost fd, the device works. */
static void test_no_lost_irqs(Fake *f, gconstpointer data)
{
	struct vfio_dev *dev = NULL;
	struct cerr e = { 0 };
	bool rd = true;

	g_assert_cmpint(vfio_dev_open(ADDR, NULL, &dev, &e), ==, 0);
	g_assert_cmpint(vfio_dev_lost_fd(dev, &rd), ==, -1);
	g_assert_null(strstr(f->calls->str, "bind-"));
	vfio_dev_close(dev);
}

/* Released, the same function is taken again, as often as asked. */
static void test_take_again(Fake *f, gconstpointer data)
{
	guint fds = test_count_fds();

	for (int i = 0; i < 3; i++) {
		struct vfio_dev *dev = NULL;
		struct cerr e = { 0 };

		g_assert_cmpint(vfio_dev_open(ADDR, NULL, &dev, &e), ==, 0);
		g_assert_cmphex(command_register(), ==, 0x6);
		vfio_dev_close(dev);
		g_assert_cmphex(command_register(), ==, 0x2);
	}
	g_assert_cmpuint(test_count_fds(), ==, fds);
}

/* Host notifier areas through the kernel transport: the device fd (a dup
 * the device keeps, same file) at the region's offset + the offset, only
 * for a region with the MMAP flag and a range inside one of its sparse-mmap
 * areas (or anywhere, without the capability); every other case a clear
 * -ENOTSUP or -EINVAL; nothing left open after close. */
static void test_mmap_fd(Fake *f, gconstpointer data)
{
	guint fds = test_count_fds();
	struct vfio_dev *dev = NULL;
	struct cerr e = { 0 };
	uint64_t off = 0;
	guint32 v = 0;
	int fd = -1;
	void *p;

	f->mmap_bars = TRUE;
	g_assert_cmpint(vfio_dev_open(ADDR, NULL, &dev, &e), ==, 0);
	g_assert_cmpuint(vfio_dev_region(dev, 2)->n_maps, ==, 1);

	/* the second page of BAR2's area */
	g_assert_cmpint(vfio_dev_region_mmap_fd(dev, 2, BAR2_AREA_OFF + 0x1000, 0x1000, &fd, &off,
						&e), ==, 0);
	g_assert_cmpuint(ino_of(fd), ==, f->device_ino);
	g_assert_cmphex(off, ==, BAR2_OFFSET + BAR2_AREA_OFF + 0x1000);
	/* a peer's mapping and the device's are the same bytes */
	p = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
	g_assert_true(p != MAP_FAILED);
	*(volatile guint32 *)((char *)p + 4) = 0x5eedf00d;
	g_assert_cmpint(vfio_dev_read32(dev, 2, BAR2_AREA_OFF + 0x1004, &v, &e), ==, 0);
	g_assert_cmphex(v, ==, 0x5eedf00d);
	munmap(p, 0x1000);

	/* BAR4: no sparse capability, the whole region is the area */
	g_assert_cmpint(vfio_dev_region_mmap_fd(dev, 4, 0x1000, 0x1000, &fd, &off, &e), ==, 0);
	g_assert_cmpuint(ino_of(fd), ==, f->device_ino);
	g_assert_cmphex(off, ==, BAR4_OFFSET + 0x1000);

	/* below the sparse area (where vfio-pci keeps the MSI-X table) */
	g_assert_cmpint(vfio_dev_region_mmap_fd(dev, 2, 0x1000, 0x1000, &fd, &off, &e), ==,
			-ENOTSUP);
	g_assert_cmpint(fd, ==, -1);
	assert_message(&e, "range 0x1000+0x1000 of region 2",
		       "lies in none of its 1 mappable (sparse-mmap) areas");
	/* straddling its start */
	cerr_clear(&e);
	g_assert_cmpint(vfio_dev_region_mmap_fd(dev, 2, 0x1800, 0x1000, &fd, &off, &e), ==,
			-ENOTSUP);
	/* a region without the MMAP flag */
	cerr_clear(&e);
	g_assert_cmpint(vfio_dev_region_mmap_fd(dev, 0, 0, 0x1000, &fd, &off, &e), ==, -ENOTSUP);
	assert_message(&e, "region 0 cannot be mapped", "no MMAP flag");
	/* outside the region, an absent region, no such region */
	cerr_clear(&e);
	g_assert_cmpint(vfio_dev_region_mmap_fd(dev, 2, BAR2_SIZE, 0x1000, &fd, &off, &e), ==,
			-EINVAL);
	assert_message(&e, "is not inside region 2 (size 0x4000)", NULL);
	cerr_clear(&e);
	g_assert_cmpint(vfio_dev_region_mmap_fd(dev, 1, 0, 0x1000, &fd, &off, &e), ==, -EINVAL);
	cerr_clear(&e);
	g_assert_cmpint(vfio_dev_region_mmap_fd(dev, 99, 0, 0x1000, &fd, &off, &e), ==, -EINVAL);
	assert_message(&e, "no region 99", NULL);
	vfio_dev_close(dev);
	g_assert_cmpuint(test_count_fds(), ==, fds);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fake, NULL, fake_setup, fn, fake_teardown)
	ADD("/vfio/kernel-fake/open-close", test_open_close);
	ADD("/vfio/kernel-fake/master-already-on", test_master_already_on);
	ADD("/vfio/kernel-fake/master-refused", test_master_refused);
	ADD("/vfio/kernel-fake/not-viable", test_not_viable);
	ADD("/vfio/kernel-fake/set-iommu-fails", test_set_iommu_fails);
	ADD("/vfio/kernel-fake/no-permission", test_no_permission);
	ADD("/vfio/kernel-fake/dma", test_dma);
	ADD("/vfio/kernel-fake/irqs-and-reset", test_irqs_and_reset);
	g_test_add("/vfio/kernel-fake/lost/request-irq", Fake, GINT_TO_POINTER(TRUE), fake_setup,
		   test_lost_irqs, fake_teardown);
	g_test_add("/vfio/kernel-fake/lost/error-irq", Fake, GINT_TO_POINTER(FALSE), fake_setup,
		   test_lost_irqs, fake_teardown);
	ADD("/vfio/kernel-fake/lost/none", test_no_lost_irqs);
	ADD("/vfio/kernel-fake/take-again", test_take_again);
	ADD("/vfio/kernel-fake/mmap-fd", test_mmap_fd);
#undef ADD
	return g_test_run();
}

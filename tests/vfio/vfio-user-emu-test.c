/* The vfio-user transport against a real ifcvf-emu process: open, regions,
 * config space, MSI-X eventfds, DMA map/unmap of a memfd, reset, close, and
 * no fd left behind. */
#include <errno.h>
#include <glib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test-util.h"
#include "vfio-dev.h"

#define DMA_SIZE 0x10000u
#define DMA_IOVA 0x100000000ull

static void test_emu_device(void)
{
	g_autoptr(TestEmu) emu = test_emu_start(NULL);
	guint fds = test_count_fds();
	const struct vfio_region *cfg;
	struct vfio_dev *dev = NULL;
	struct cerr e = { 0 };
	guint32 nvec = 0;
	guint16 vendor = 0, command = 0;
	guint8 space[256];
	int efd[3], memfd;
	void *mem;

	if (vfio_dev_open(emu->address, NULL, &dev, &e) < 0)
		g_error("%s", e.msg);
	g_assert_cmpint(vfio_dev_transport(dev), ==, VFIO_TRANSPORT_USER);
	g_assert_cmpuint(vfio_dev_num_regions(dev), ==, 9);

	cfg = vfio_dev_region(dev, VFIO_DEV_REGION_CONFIG);
	g_assert_nonnull(cfg);
	g_assert_cmpuint(cfg->size, ==, 256);
	g_assert_cmpint(vfio_dev_read16(dev, VFIO_DEV_REGION_CONFIG, 0, &vendor, &e), ==, 0);
	g_assert_cmphex(vendor, ==, 0x1af4);
	g_assert_cmpint(vfio_dev_read(dev, VFIO_DEV_REGION_CONFIG, 0, space, sizeof(space), &e), ==, 0);
	g_assert_cmphex(space[0] | space[1] << 8, ==, 0x1af4);

	/* a config write and its read-back (Command: memory space + bus master) */
	g_assert_cmpint(vfio_dev_write16(dev, VFIO_DEV_REGION_CONFIG, 4, 0x6, &e), ==, 0);
	g_assert_cmpint(vfio_dev_read16(dev, VFIO_DEV_REGION_CONFIG, 4, &command, &e), ==, 0);
	g_assert_cmphex(command & 0x6, ==, 0x6);

	/* out of range names the device */
	g_assert_cmpint(vfio_dev_read16(dev, VFIO_DEV_REGION_CONFIG, 255, &vendor, &e), ==, -EINVAL);
	g_assert_true(g_str_has_prefix(e.msg, emu->address));

	g_assert_cmpint(vfio_dev_irq_count(dev, VFIO_DEV_IRQ_MSIX, &nvec, &e), ==, 0);
	g_assert_cmpuint(nvec, >=, 3);
	for (unsigned i = 0; i < G_N_ELEMENTS(efd); i++) {
		efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		g_assert_cmpint(efd[i], >=, 0);
	}
	if (vfio_dev_set_irq_eventfds(dev, VFIO_DEV_IRQ_MSIX, 0, G_N_ELEMENTS(efd), efd, &e) < 0)
		g_error("%s", e.msg);
	if (vfio_dev_disable_irqs(dev, VFIO_DEV_IRQ_MSIX, &e) < 0)
		g_error("%s", e.msg);

	memfd = memfd_create("guest", MFD_CLOEXEC);
	g_assert_cmpint(memfd, >=, 0);
	g_assert_cmpint(ftruncate(memfd, DMA_SIZE), ==, 0);
	mem = mmap(NULL, DMA_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	g_assert_true(mem != MAP_FAILED);
	if (vfio_dev_dma_map(dev, DMA_IOVA, DMA_SIZE, mem, memfd, 0, &e) < 0)
		g_error("%s", e.msg);
	if (vfio_dev_dma_unmap(dev, DMA_IOVA, DMA_SIZE, &e) < 0)
		g_error("%s", e.msg);

	if (vfio_dev_reset(dev, &e) < 0)
		g_error("%s", e.msg);
	vfio_dev_close(dev);

	munmap(mem, DMA_SIZE);
	close(memfd);
	for (unsigned i = 0; i < G_N_ELEMENTS(efd); i++)
		close(efd[i]);
	g_assert_cmpuint(test_count_fds(), ==, fds);
}

/* Close with vectors bound and memory mapped: close undoes both, and the
 * emulator takes the next client. */
static void test_emu_close_undoes(void)
{
	g_autoptr(TestEmu) emu = test_emu_start(NULL);
	guint fds = test_count_fds();
	struct vfio_dev *dev = NULL;
	struct cerr e = { 0 };
	int efd, memfd;
	void *mem;

	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	memfd = memfd_create("guest", MFD_CLOEXEC);
	g_assert_cmpint(ftruncate(memfd, DMA_SIZE), ==, 0);
	mem = mmap(NULL, DMA_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	g_assert_true(mem != MAP_FAILED);

	for (int round = 0; round < 2; round++) {
		if (vfio_dev_open(emu->address, NULL, &dev, &e) < 0)
			g_error("%s", e.msg);
		if (vfio_dev_set_irq_eventfds(dev, VFIO_DEV_IRQ_MSIX, 1, 1, &efd, &e) < 0)
			g_error("%s", e.msg);
		/* the same iova both rounds: round 1 must have been unmapped */
		if (vfio_dev_dma_map(dev, DMA_IOVA, DMA_SIZE, mem, memfd, 0, &e) < 0)
			g_error("%s", e.msg);
		vfio_dev_close(dev);
	}
	munmap(mem, DMA_SIZE);
	close(memfd);
	close(efd);
	g_assert_cmpuint(test_count_fds(), ==, fds);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/vfio-user/emu/device", test_emu_device);
	g_test_add_func("/vfio-user/emu/close-undoes", test_emu_close_undoes);
	return g_test_run();
}

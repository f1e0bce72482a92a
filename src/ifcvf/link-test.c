/* Built and linked with nothing but src/ifcvf, src/vfio and libc: proves the
 * driver layer stays free of GLib and DPDK. Running it probes one device. */
#include <stdio.h>

#include "ifcvf-hw.h"

int main(int argc, char **argv)
{
	struct ifcvf_devargs args = { .sw_live_migration = true };
	struct vfio_dev *dev = NULL;
	struct ifcvf_hw hw;
	struct cerr e = { 0 };

	if (argc != 2) {
		fprintf(stderr, "usage: %s DEVICE\n", argv[0]);
		return 2;
	}
	if (vfio_dev_open(argv[1], NULL, &dev, &e) < 0 || ifcvf_hw_init(&hw, dev, &args, &e) < 0) {
		fprintf(stderr, "%s: %s\n", argv[1], e.msg);
		vfio_dev_close(dev);
		return 1;
	}
	printf("%s: %s, %u queues\n", argv[1], ifcvf_dev_type_name(hw.type), hw.max_queues);
	vfio_dev_close(dev);
	return 0;
}

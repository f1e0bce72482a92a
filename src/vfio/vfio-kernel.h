/* Kernel VFIO transport pieces that unit tests can reach without /dev/vfio.
 *
 * The transport looks for sysfs under $IFCVF_SYSFS_ROOT (default /sys) and
 * for the VFIO character devices under $IFCVF_VFIO_DEV_DIR (default
 * /dev/vfio), read when a device is opened, so tests can point both at a
 * fake tree. Pure functions; any thread. */
#pragma once

#include "cerr.h"

#define VFIO_KERNEL_SYSFS_ENV "IFCVF_SYSFS_ROOT"
#define VFIO_KERNEL_DEV_DIR_ENV "IFCVF_VFIO_DEV_DIR"

/* The IOMMU group of PCI device @bdf ("dddd:bb:dd.f") from
 * @sysfs_root/bus/pci/devices/@bdf/iommu_group, after checking that the
 * device's driver link names vfio-pci. Errors: -ENODEV (no such device, no
 * driver, no IOMMU group), -EBUSY (bound to another driver), -EINVAL. */
int vfio_kernel_iommu_group(const char *sysfs_root, const char *bdf, unsigned *ret_group,
			    struct cerr *e);

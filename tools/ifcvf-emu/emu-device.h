/* The whole emulated VF: layout, config space, virtio registers and BAR4,
 * plus what a connected client lends it (DMA mappings, interrupt eventfds).
 * Routes vfio-user region indices to the right model.
 *
 * Device state outlives a client; emu_device_client_gone() drops only what
 * the client lent (vfio-user spec).
 *
 * Threads: owned by the main loop, which serves the vfio-user client and
 * runs the datapath (emu-net.h) between rounds. The doorbell poller
 * (emu-doorbell.h) only reads the mapped doorbell words and wakes the main
 * loop; every kick reaches the model on the main thread. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cerr.h"
#include "emu-dma.h"
#include "emu-doorbell.h"
#include "emu-irq.h"
#include "emu-layout.h"
#include "emu-blk.h"
#include "emu-net.h"
#include "emu-options.h"
#include "emu-pci.h"
#include "emu-virtio.h"

/* vfio-user region and irq indices (linux/vfio.h) */
#define EMU_REGION_CONFIG 7u
#define EMU_NUM_REGIONS 9u
#define EMU_IRQ_MSIX 2u
#define EMU_NUM_IRQS 5u

struct emu_device {
	const struct emu_config *cfg;
	struct emu_layout layout;
	struct emu_pci pci;
	struct emu_virtio virtio;
	struct emu_dma dma;
	struct emu_irq irq;
	struct emu_net net;          /* net only (virtio.net points here) */
	struct emu_doorbell doorbell; /* mapped notify area and its poller */
	struct emu_blk blk;          /* blk only (virtio.blk points here) */
};

int emu_device_init(struct emu_device *dev, const struct emu_config *cfg, struct cerr *e);
void emu_device_fini(struct emu_device *dev);

/* Deliver every doorbell stored into the mapped notify area since the
 * last call (main thread; before each request and when the poller
 * signals), then arm or park the poller by whether a queue is enabled.
 * Returns how many were delivered. */
unsigned emu_device_doorbells(struct emu_device *dev);

/* The region whose sparse area the client may map: *@ret_fd (owned by the
 * device), the area's offset and size within the region. false: none
 * (--doorbell message, or @region is not the virtio BAR). */
bool emu_device_region_mmap(const struct emu_device *dev, unsigned region, int *ret_fd,
			    uint64_t *ret_area_off, uint64_t *ret_area_size);

/* Region size (0: not implemented). */
uint64_t emu_device_region_size(const struct emu_device *dev, unsigned region);

/* Bounds-checked region access; -EINVAL with a message on a bad index, an
 * out-of-range access or a BAR4 access that is not 32-bit. */
int emu_device_region_read(struct emu_device *dev, unsigned region, uint64_t off, void *buf,
			   size_t len, struct cerr *e);
int emu_device_region_write(struct emu_device *dev, unsigned region, uint64_t off,
			    const void *buf, size_t len, struct cerr *e);

/* vfio-user DEVICE_RESET. */
void emu_device_reset(struct emu_device *dev);

/* The device configuration changed (SIGUSR2, for tests): a new config
 * generation, ISR bit 1 and the config vector, whether or not a byte moved. */
void emu_device_config_changed(struct emu_device *dev);

/* A client connected: the datapath may run. */
void emu_device_client_new(struct emu_device *dev);

/* The client's socket hung up (it closed, or its process died): the
 * datapath stops at once, before any doorbell still pending is taken; see
 * emu_net_hang_up(). emu_device_client_gone() follows when the server
 * drops the connection. */
void emu_device_client_hung_up(struct emu_device *dev);

/* The client disconnected: unmap its DMA, close its eventfds. */
void emu_device_client_gone(struct emu_device *dev);

/* DMA_MAP: @fd is consumed (emu_dma_add()). With --fault dma-map-log, a
 * map at the IOVA the BAR4 log base registers hold is refused. */
int emu_device_dma_map(struct emu_device *dev, uint64_t iova, uint64_t size, uint32_t prot,
		       int fd, uint64_t fd_offset, struct cerr *e);

/* DMA_UNMAP: the device finishes its writes before a mapping goes. */
int emu_device_dma_unmap(struct emu_device *dev, uint64_t iova, uint64_t size, bool all,
			 struct cerr *e);

/* Counters of the device model, datapath and wire (SIGUSR1, exit): text
 * lines, and JSON object members ("\"type\":...,\"device\":{...},...") for
 * --stats-file. */
void emu_device_print_stats(const struct emu_device *dev, FILE *out);
void emu_device_json(const struct emu_device *dev, FILE *out);

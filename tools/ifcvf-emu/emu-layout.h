/* Where everything of the emulated VF lives: which BAR holds what, BAR sizes,
 * offsets of the virtio structures, the MSI-X table and PBA, and where each
 * capability sits in config space. Computed once from the command line; the
 * config-space builder (emu-pci.c), the register models (emu-virtio.c,
 * emu-lm.c) and the region router (emu-device.c) all read it.
 *
 * Default layout (no --fault):
 *   BAR0  32-bit mem  virtio: common cfg 0x0000 (0x38), ISR 0x1000 (4),
 *                     device cfg 0x2000 (net 0x10, blk 0x100),
 *                     notify 0x3000, multiplier 0x1000 (one page per queue,
 *                     so each doorbell can be mapped as a host notifier;
 *                     --fault notify-mult=N changes it), with --doorbell
 *                     mapped a sparse-mmap area (emu-doorbell.h)
 *   BAR1  32-bit mem  MSI-X table 0x000 (16 bytes x vrings+1), PBA 0x800
 *   BAR4  64-bit mem  IFCVF live-migration block, 0x1000 (not with --no-lm)
 *   config space: MSI-X cap 0x40, COMMON 0x50, NOTIFY 0x60, ISR 0x78,
 *                 DEVICE 0x88
 *
 * Threads: read-only after emu_layout_compute(). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cerr.h"
#include "emu-options.h"

#define EMU_NUM_BARS 6u

#define EMU_COMMON_OFF 0x0000u
#define EMU_ISR_OFF 0x1000u
#define EMU_ISR_LEN 4u
#define EMU_DEVICE_OFF 0x2000u
#define EMU_DEVICE_WINDOW 0x100u   /* bytes modelled; the cap may say less */
#define EMU_NET_DEVICE_LEN 0x10u
#define EMU_BLK_DEVICE_LEN 0x100u
#define EMU_NOTIFY_OFF 0x3000u
#define EMU_NOTIFY_MULT 0x1000u

#define EMU_MSIX_BAR_SIZE 0x1000u
#define EMU_MSIX_TABLE_OFF 0x000u
#define EMU_MSIX_PBA_OFF 0x800u
#define EMU_MSIX_ENTRY_SIZE 16u
#define EMU_MSIX_MAX_ENTRIES (EMU_MAX_VRINGS + 1u)

#define EMU_LM_BAR_SIZE 0x1000u

/* config-space positions of the capabilities */
#define EMU_CAP_MSIX_POS 0x40u
#define EMU_CAP_COMMON_POS 0x50u
#define EMU_CAP_NOTIFY_POS 0x60u
#define EMU_CAP_ISR_POS 0x78u
#define EMU_CAP_DEVICE_POS 0x88u

enum emu_bar_kind {
	EMU_BAR_NONE,
	EMU_BAR_VIRTIO,
	EMU_BAR_MSIX,
	EMU_BAR_LM,
};

struct emu_bar {
	enum emu_bar_kind kind;
	uint64_t size;            /* a power of two, 0 when absent */
	bool is64;                /* 64-bit BAR: the next slot is its upper half */
};

struct emu_layout {
	enum emu_type type;
	unsigned nvq;             /* virtqueues the device really has */
	unsigned msix_entries;    /* nvq + 1: config vector + one per queue */
	struct emu_bar bar[EMU_NUM_BARS];
	unsigned virtio_bar;      /* where the virtio structures are served */
	unsigned cap_bar;         /* what the virtio caps say (differs with cap-bar=6+) */
	unsigned msix_bar;
	int lm_bar;               /* -1 without a live-migration block */
	uint32_t notify_mult;     /* notify_off_multiplier: doorbell q at q * this */
	uint32_t notify_len;      /* nvq doorbells, notify_mult apart (at least
				   * 2 bytes for the last one) */
	uint32_t device_cap_len;
};

int emu_layout_compute(const struct emu_config *cfg, struct emu_layout *l, struct cerr *e);

/* The region index serving @kind, or -1. */
int emu_layout_bar_of(const struct emu_layout *l, enum emu_bar_kind kind);

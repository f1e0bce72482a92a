/* PCI side of the emulated VF: the 256-byte config space (IDs, BAR sizing,
 * the capability chain) and the MSI-X table and PBA it points at.
 *
 * Config space is a byte array plus a per-byte write mask: writes change only
 * writable bits (command, cache line, interrupt line, BAR address bits, MSI-X
 * enable/function-mask), so BAR sizing (write all-ones, read back the size
 * mask) falls out of the mask.
 *
 * MSI-X: as under kernel VFIO, the client binds vectors to eventfds with
 * SET_IRQS and that binding is what delivers an interrupt (emu-irq.c). The
 * table and the enable/mask bits are plain storage the device does not
 * consult; the PBA reads as zeros.
 *
 * Threads: owned by the thread serving the vfio-user client. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "cerr.h"
#include "emu-layout.h"
#include "emu-options.h"

struct emu_pci {
	const struct emu_layout *layout;
	uint8_t cfg[256];
	uint8_t wmask[256];
	uint8_t msix_table[EMU_MSIX_MAX_ENTRIES * EMU_MSIX_ENTRY_SIZE];
};

void emu_pci_init(struct emu_pci *p, const struct emu_config *cfg,
		  const struct emu_layout *layout);

/* Config space access (region 7); the caller checked off+len <= 256. */
void emu_pci_cfg_read(const struct emu_pci *p, uint32_t off, void *buf, size_t len);
void emu_pci_cfg_write(struct emu_pci *p, uint32_t off, const void *buf, size_t len);

/* MSI-X BAR access; the caller checked the range against the BAR size. */
void emu_pci_msix_read(const struct emu_pci *p, uint64_t off, void *buf, size_t len);
void emu_pci_msix_write(struct emu_pci *p, uint64_t off, const void *buf, size_t len);

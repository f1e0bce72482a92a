/* PCI capability walk of a virtio VF (reference §2.1): finds the four virtio
 * vendor capabilities, the notify multiplier and the MSI-X capability in a
 * copy of configuration space, and checks each against its BAR. A pure
 * function over bytes, so crafted config spaces can test it.
 *
 * Threads: no state; callable from anywhere. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cerr.h"
#include "ifcvf-regs.h"

struct ifcvf_cap_loc {
	bool present;
	uint8_t pos;       /* offset of the capability in config space */
	uint8_t bar;
	uint32_t offset;   /* within the BAR */
	uint32_t length;
};

struct ifcvf_caps {
	struct ifcvf_cap_loc common;
	struct ifcvf_cap_loc notify;
	struct ifcvf_cap_loc isr;
	struct ifcvf_cap_loc device;
	uint32_t notify_off_multiplier;
	/* BARs that some virtio vendor capability points into */
	uint8_t virtio_bar_mask;
	bool has_msix;
	uint16_t msix_table_size;  /* entries */
	uint8_t msix_table_bar;
	uint32_t msix_table_offset;
};

/* Walk @cfg (PCI_CFG_SPACE_SIZE bytes). @bar_size[i] is 0 for an absent BAR.
 * Fails when the list loops or runs outside config space, when a virtio
 * capability points outside its BAR, or when one of the four is missing. */
int ifcvf_caps_parse(const uint8_t *cfg, const uint64_t bar_size[6],
		     struct ifcvf_caps *ret, struct cerr *e);

const char *ifcvf_cap_type_name(unsigned cfg_type);

/* Which functions this driver takes (reference §1.1): IFCVF IDs, or with
 * generic-virtio=1 any modern virtio-net/blk function. Pure functions.
 *
 * Threads: no state. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cerr.h"

enum ifcvf_dev_type {
	IFCVF_DEV_NET = 0,
	IFCVF_DEV_BLK = 1,
};

struct ifcvf_pci_ids {
	uint16_t vendor;
	uint16_t device;
	uint16_t subsys_vendor;
	uint16_t subsys_device;
};

/* Decide whether @ids is a function we drive and what it is. *ret_is_ifcvf
 * says whether it is an Intel IFCVF (only those have the BAR4 block). */
int ifcvf_ids_match(const struct ifcvf_pci_ids *ids, bool generic_virtio,
		    enum ifcvf_dev_type *ret_type, bool *ret_is_ifcvf, struct cerr *e);

const char *ifcvf_dev_type_name(enum ifcvf_dev_type type);

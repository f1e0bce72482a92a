/* Per-VF options, written as KEY=VALUE[,KEY=VALUE...]:
 *   sw-live-migration=0|1  software-assisted live migration (default 0)
 *   generic-virtio=0|1     accept a modern virtio function that is not an IFCVF
 * Values parse like the reference driver's (strtoul base 0), but must be 0 or 1.
 *
 * Threads: no state. */
#pragma once

#include <stdbool.h>

#include "cerr.h"

struct ifcvf_devargs {
	bool sw_live_migration;
	bool generic_virtio;
};

/* Parse @s (NULL or "" gives the defaults). Unknown keys, missing values and
 * values other than 0/1 are errors naming the key. */
int ifcvf_devargs_parse(const char *s, struct ifcvf_devargs *ret, struct cerr *e);

/* Apply one KEY=VALUE pair to @args; -ENOENT for a key that is not ours. */
int ifcvf_devargs_apply(struct ifcvf_devargs *args, const char *key, const char *value,
			struct cerr *e);

/* The probe's report of a VF as JSON (what `ifcvf-helper probe` prints).
 *
 * Threads: main thread. */
#pragma once

#include <json-glib/json-glib.h>

#include "ifcvf-hw.h"

JsonNode *ifcvf_probe_to_json(const char *address, const struct ifcvf_hw *hw);

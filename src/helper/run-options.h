/* Parsing of `ifcvf-helper run --port KEY=VALUE,...` into struct
 * port_config:
 *   device=ADDR            pci:DDDD:BB:DD.F or vfio-user:PATH (required)
 *   socket=PATH            vhost-user socket (required)
 *   client[=0|1]           connect to PATH (the frontend listens)
 *   sw-live-migration=0|1  software-assisted live migration
 *   queue-pairs=N          offer at most N queue pairs (blk: queues), 1..32
 * Errors name the key and value at fault.
 *
 * Threads: no state. */
#pragma once

#include <glib.h>

#include "port.h"

gboolean ifcvf_port_config_parse(const char *spec, struct port_config *ret, GError **error);
void ifcvf_port_config_clear(struct port_config *cfg);

/* No two ports may share a device or a socket. */
gboolean ifcvf_port_configs_check(const struct port_config *cfgs, guint n, GError **error);

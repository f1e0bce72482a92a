/* Parsing of `ifcvf-helper run --port KEY=VALUE,...` into struct
 * port_config:
 *   device=ADDR            pci:DDDD:BB:DD.F or vfio-user:PATH (required)
 *   socket=PATH            vhost-user socket (required)
 *   client[=0|1]           connect to PATH (the frontend listens)
 *   sw-live-migration=0|1  software-assisted live migration
 *   generic-virtio=0|1     accept a modern virtio function that is not an IFCVF
 *   queue-pairs=N          offer at most N queue pairs (blk: queues), 1..32
 * Errors name the key and value at fault.
 *
 * `--libvirt-uri URI`: a libvirt connection URI (qemu:///system,
 * qemu+unix:///system?socket=PATH...), checked for its syntax only; whether
 * libvirtd answers there is found out at run time.
 *
 * `--libvirt-connect WHEN`: at-migration (default) or at-start, when a
 * helper with --libvirt-uri loads libvirt and connects (run-cmd.c).
 *
 * Threads: no state. */
#pragma once

#include <glib.h>

#include "port.h"

gboolean ifcvf_port_config_parse(const char *spec, struct port_config *ret, GError **error);
void ifcvf_port_config_clear(struct port_config *cfg);

/* No two ports may share a device or a socket. */
gboolean ifcvf_port_configs_check(const struct port_config *cfgs, guint n, GError **error);

/* @uri is a non-empty URI with a scheme (qemu:///system). */
gboolean ifcvf_libvirt_uri_check(const char *uri, GError **error);

enum ifcvf_libvirt_connect {
	/* when the first port starts dirty logging (a migration out): an
	 * idle helper maps no libvirt */
	IFCVF_LIBVIRT_CONNECT_AT_MIGRATION,
	/* before the sockets listen: a destination hears its domain start */
	IFCVF_LIBVIRT_CONNECT_AT_START,
};

/* "at-migration" or "at-start"; @error names the value otherwise. */
gboolean ifcvf_libvirt_connect_parse(const char *when, enum ifcvf_libvirt_connect *ret,
				     GError **error);

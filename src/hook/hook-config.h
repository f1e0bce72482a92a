/* What a VM gets, read from the domain XML libvirt hands a qemu hook: its
 * UUID and name, and one HookPort per <interface type='vhostuser'> or
 * <disk type='vhostuser'> that has
 * a VF. The VF of an interface comes from the domain's <metadata> (project
 * namespace HOOK_XMLNS, wins) or from the host port map, a GKeyFile with one
 * group per vhost-user socket path:
 *
 *   <metadata>
 *     <ifcvf:ports xmlns:ifcvf="http://ifcvf-helper.org/xmlns/1">
 *       <ifcvf:port socket="/run/vm1/net0.sock" device="pci:0000:af:00.3"
 *                   lm="hw" queue-pairs="2"/>
 *     </ifcvf:ports>
 *   </metadata>
 *
 *   [/run/vm1/net0.sock]          (ports.conf)
 *   device=pci:0000:af:00.3
 *   lm=sw
 *   queue-pairs=2
 *
 * Interfaces with neither are not ours and are skipped. Errors name the
 * object at fault (socket, attribute) and the cause.
 *
 * Threads: no state. */
#pragma once

#include <glib.h>

#define HOOK_XMLNS "http://ifcvf-helper.org/xmlns/1"
/* sizeof(sockaddr_un.sun_path) - 1 */
#define HOOK_SOCKET_PATH_MAX 107

typedef struct {
	char *socket;       /* the interface's <source path> */
	char *device;       /* pci:... or vfio-user:... */
	gboolean client;    /* QEMU listens (<source mode='server'>): the helper connects */
	gboolean sw_lm;     /* lm="sw" */
	guint queue_pairs;  /* 0: all the VF has */
	/* the interface has <driver page_per_vq='on'/>: QEMU can map the VF's
	 * doorbell pages (host notifiers); without it every kick goes through
	 * the helper's relay */
	gboolean page_per_vq;
} HookPort;

typedef struct {
	char *uuid;
	char *name;
	GPtrArray *ports;   /* of HookPort */
} HookVm;

/* Parse @xml (@len bytes). @port_map may be NULL (no host port map).
 * Returns NULL with @error on malformed XML or a bad port entry. */
HookVm *hook_vm_parse(const char *xml, gsize len, GKeyFile *port_map, GError **error);
void hook_vm_free(HookVm *vm);
/* Only the <uuid> of @xml (what `release` needs): the ports are not read. */
char *hook_vm_uuid(const char *xml, gsize len, GError **error);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HookVm, hook_vm_free)

/* Load the host port map at @path; a missing file gives an empty map. */
GKeyFile *hook_port_map_load(const char *path, GError **error);

/* "device=...,socket=...[,client][,sw-live-migration=1][,queue-pairs=N]" */
char *hook_port_to_spec(const HookPort *port);

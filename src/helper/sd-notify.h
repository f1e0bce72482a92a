/* systemd's notification socket and file-descriptor store, without
 * libsystemd: the sd_notify(3) datagram over $NOTIFY_SOCKET (with fds as
 * SCM_RIGHTS, for FDSTORE=1) and the sd_listen_fds(3) convention
 * ($LISTEN_PID, $LISTEN_FDS, $LISTEN_FDNAMES, fds from 3) by which a
 * restarted service gets its stored fds back.
 *
 * A unit keeps stored fds only with FileDescriptorStoreMax= > 0, across
 * its automatic restarts (Restart=), and drops them when it stops for
 * good. Threads: any; ifcvf_sd_listen_fds_take() changes the environment,
 * so call it at start, before other threads run.
 *
 * Not used by the ports yet (issue 18): a VF whose fds outlive a crashed
 * helper in the store keeps running (neither the kernel's reset on the
 * device fd's last close nor the emulator's on the socket's hang-up
 * happens), while QEMU, seeing the vhost-user socket close, stops vhost
 * and completes the guest's TX entries itself (link down drops them):
 * the VF and QEMU would then both work the same rings. Adopting needs a
 * helper that stops the VF before QEMU takes over, which a crashed one
 * cannot do. */
#pragma once

#include <glib.h>

#define IFCVF_SD_LISTEN_FDS_START 3

/* Send @state ("READY=1", "FDSTORE=1\nFDNAME=x", ...) with @n_fds fds to
 * $NOTIFY_SOCKET (a path, or "@name" for an abstract socket). 1: sent;
 * 0: no $NOTIFY_SOCKET (not a systemd service); -errno with @error set. */
int ifcvf_sd_notify(const char *state, const int *fds, guint n_fds, GError **error);

/* The fds systemd passed to this process (name -> fd, GINT_TO_POINTER),
 * marked close-on-exec, and the variables unset so that no child takes
 * them. An fd without a name is named "unknown" (the last such one wins).
 * Empty when none were passed or they were for another process
 * ($LISTEN_PID). Malformed variables: NULL with @error, the variables
 * unset and no fd touched. */
GHashTable *ifcvf_sd_listen_fds_take(GError **error);

/* The backend channel of each frontend connection (the vhost-user "backend
 * request" socket a frontend hands over with SET_BACKEND_REQ_FD, called
 * SET_SLAVE_REQ_FD in DPDK 22.11), kept by the helper to send config-change
 * notices itself, never waiting on the frontend.
 *
 * DPDK's rte_vhost_slave_config_change() writes with a blocking sendmsg (and
 * may wait for a reply): a frontend that stops reading its channel would
 * hold the sending thread, a port's config relay, forever, and with it the
 * port that joins that thread under its lock on DPDK's one vhost-events
 * thread, and so every port. Here a notice is one non-blocking sendmsg. When
 * the channel is full the notice is dropped and said (rate-limited): the
 * frontend has unread notices queued already, and any of them makes it read
 * the configuration again, so it misses no change.
 *
 * Why writing to DPDK's channel behind its back is safe (DPDK 22.11, with
 * what the helper negotiates):
 * - the helper is its only writer: DPDK writes to it for IOTLB misses (only
 *   with VIRTIO_F_IOMMU_PLATFORM negotiated, which the helper never offers
 *   to a frontend, port/vhost-features.c), for host notifiers (only on vDPA
 *   devices, which the helper does not register) and for config changes
 *   (only through rte_vhost_slave_config_change(), no longer called);
 * - nothing is read from it: no notice asks for a reply (NEED_REPLY unset)
 *   and DPDK reads it only after a send of its own that asked for one;
 * - a notice is a 12-byte header without payload, written by one sendmsg:
 *   on a stream socket it goes whole or not at all (one buffer), and a
 *   short write, which would break the stream, closes the channel instead;
 * - the helper's copy is a dup(): DPDK closing its own (a second
 *   SET_BACKEND_REQ_FD, RESET_OWNER, a disconnect) never leaves the helper
 *   with a number reused by something else, and the copy is dropped on the
 *   same events (backend_channel_set(), backend_channel_clear()).
 *
 * Threads: backend_channel_set() and backend_channel_clear() run on DPDK's
 * vhost-events thread (message hooks, connection callbacks);
 * backend_channel_config_changed() on any thread (a port's config relay).
 * One lock, held only around a non-blocking send. */
#pragma once

#include <glib.h>

/* Connection @conn (a DPDK vid) handed over @fd as its backend channel: keep
 * a copy (replacing any earlier one) and name the owner @label ("port 0")
 * in log lines. FALSE with a warning when @fd is not a socket. */
gboolean backend_channel_set(int conn, int fd, const char *label);
/* Drop @conn's channel (the frontend reset or went away). */
void backend_channel_clear(int conn);
/* Tell @conn's frontend its device configuration changed; never blocks.
 * 0 when sent; -EAGAIN when the channel is full (dropped, logged at most
 * every BACKEND_CHANNEL_WARN_SECONDS with a count); -ENOTCONN without a
 * channel; another -errno when the channel broke (closed, logged). */
int backend_channel_config_changed(int conn);

#define BACKEND_CHANNEL_WARN_SECONDS 10

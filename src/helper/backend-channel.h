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
 * It also hands each vring's doorbell page to the frontend as a host
 * notifier (VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG, which DPDK 22.11
 * sends only for a vDPA device and has no public call for), and takes it
 * back (the same message with VHOST_USER_VRING_NOFD_MASK). Those messages
 * ask for a reply (REPLY_ACK), so that the helper knows which path a
 * vring's kicks take, and are sent by one worker thread, never by the
 * caller: the port asks while DPDK handles a message the frontend may be
 * waiting on (SET_STATUS, SET_FEATURES, GET_VRING_BASE), and a frontend
 * reads its backend channel only when it is not waiting on us (QEMU reads
 * it from its main loop). Every write waits at most
 * BACKEND_CHANNEL_SEND_TIMEOUT_MS for room, every reply at most
 * BACKEND_CHANNEL_REPLY_TIMEOUT_MS; a frontend that misses either, closes
 * the channel or answers out of step gets no more host notifiers on this
 * channel (a late reply would be taken for the next one's) and its vrings'
 * kicks stay on the relay.
 *
 * Why writing to DPDK's channel behind its back is safe (DPDK 22.11
 * lib/vhost/vhost_user.c, with what the helper negotiates):
 * - the helper is its only writer: DPDK writes to it for IOTLB misses (only
 *   with VIRTIO_F_IOMMU_PLATFORM negotiated, which the helper never offers
 *   to a frontend, port/vhost-features.c), for host notifiers (only from
 *   rte_vhost_host_notifier_ctrl(), which returns -ENODEV on a device with
 *   no vDPA device attached, and the helper attaches none) and for config
 *   changes (only through rte_vhost_slave_config_change(), not called);
 *   negotiating HOST_NOTIFIER and SLAVE_SEND_FD changes nothing else in
 *   DPDK (it only checks them in rte_vhost_host_notifier_ctrl());
 * - the helper is its only reader: DPDK reads it only for the reply to a
 *   send of its own that asked for one (process_slave_message_reply()),
 *   and it sends none (above); here only the worker reads, and only the
 *   reply to the one request it has outstanding;
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
 * backend_channel_config_changed() and backend_channel_host_notifier() on
 * any thread (a port's config relay; a port's state machine). Host-notifier
 * messages go out on a worker thread, started when a request comes and
 * gone once none is left; it calls the requester's done callback. One lock,
 * held only around a non-blocking send and the request queue. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

/* Connection @conn (a DPDK vid) handed over @fd as its backend channel: keep
 * a copy (replacing any earlier one) and name the owner @label ("port 0")
 * in log lines. FALSE with a warning when @fd is not a socket. */
gboolean backend_channel_set(int conn, int fd, const char *label);
/* Drop @conn's channel (the frontend reset or went away): its queued
 * host-notifier requests are dropped without a result, one under way is
 * cut short. */
void backend_channel_clear(int conn);
/* Tell @conn's frontend its device configuration changed; never blocks.
 * 0 when sent; -EAGAIN when the channel is full (dropped, logged at most
 * every BACKEND_CHANNEL_WARN_SECONDS with a count); -ENOTCONN without a
 * channel; another -errno when the channel broke (closed, logged). */
int backend_channel_config_changed(int conn);

#define BACKEND_CHANNEL_WARN_SECONDS 10

/* The result of one host-notifier request, on the worker thread: @on is
 * true when vring @qid's kicks now go to the page handed over (the
 * frontend accepted it), false when they go to its kickfd (a removal done,
 * or an install refused or never answered). Never called after
 * backend_channel_clear(@conn) returned. */
typedef void (*backend_channel_notifier_done)(void *opaque, int conn, unsigned qid, bool on);

/* Queue a host-notifier message for vring @qid of @conn: install @fd (the
 * callee keeps a dup) at @offset, @size bytes, or remove (@fd < 0). Never
 * waits. @poke_fd >= 0: an eventfd (dup kept) signalled once a removal is
 * done, for a kick the guest wrote to the page before the frontend took it
 * away. @done reports the result (also when the request cannot be sent:
 * no channel, an earlier timeout). */
void backend_channel_host_notifier(int conn, unsigned qid, int fd, uint64_t offset,
				   uint64_t size, int poke_fd, backend_channel_notifier_done done,
				   void *opaque);

/* The helper stops (every socket unregistered: DPDK calls no
 * destroy_connection then): every channel and request dropped, one under
 * way cut short, the worker joined. No result is delivered after it
 * returned. */
void backend_channel_shutdown(void);

#define BACKEND_CHANNEL_SEND_TIMEOUT_MS 1000
#define BACKEND_CHANNEL_REPLY_TIMEOUT_MS 2000

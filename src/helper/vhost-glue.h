/* The one place that talks to DPDK's vhost library (public API only, see
 * DESIGN.md): registers each port's socket with the features it offers,
 * turns vhost callbacks and message hooks into port events, and implements
 * struct port_frontend_ops over rte_vhost_*.
 *
 * Message hooks (rte_vhost_extern_callback_register) cover what the
 * callbacks do not: DPDK calls new_device only once every vring the
 * frontend set up is ready, which never happens while a guest uses fewer
 * queue pairs than it set up; so the port starts from vring_state_changed
 * as soon as its first queue pair is ready, and the hooks stop it on
 * GET_VRING_BASE (before DPDK answers from the ring state the port hands
 * back), RESET_OWNER, SET_STATUS and a new memory table. GET_QUEUE_NUM is
 * answered with the port's queue count (22.11 has no API to cap it).
 *
 * Live migration follows SET_FEATURES after DPDK applied it (the
 * features_changed callback comes before, and only once new_device ran, so
 * rte_vhost_log_write() would still be a no-op there), and SET_LOG_BASE on
 * both sides (DPDK unmaps the old log in between). The log itself is
 * written through rte_vhost_log_write() (GPA based). A post hook's error
 * reaches the frontend only in a REPLY_ACK (SET_FEATURES with LOG_ALL, as
 * QEMU sends it): DPDK 22.11 has sent SET_LOG_BASE's reply, empty, before
 * the post hook runs, and without REPLY_ACK an error drops the connection;
 * so a new log the port cannot use fails the port instead (port/port-lm.c).
 *
 * The sentinel (sentinel.h) gets a copy of each connection a port accepts
 * (new_connection, on the vhost thread; found by its socket's name, as DPDK
 * gives no fd) and lets it go when DPDK closes it (destroy_connection) or
 * the port's socket is unregistered (which closes the connections without
 * destroy_connection): ifcvf_vhost_remove_port() drops them first.
 *
 * Threads: ifcvf_vhost_add_ports/remove_port run on the main thread;
 * the callbacks run on DPDK's vhost threads (and on the main thread inside
 * rte_vhost_driver_unregister) and only call into port.h. */
#pragma once

#include <glib.h>

#include "port.h"

extern const struct port_frontend_ops ifcvf_vhost_frontend_ops;

/* Make @ports known to the callbacks (before any socket starts). */
void ifcvf_vhost_set_ports(struct port **ports, unsigned n);

/* Register and start @p's socket. */
gboolean ifcvf_vhost_add_port(struct port *p, GError **error);

/* Unregister @p's socket (closes its connection; the sentinel's copy is
 * dropped first). */
void ifcvf_vhost_remove_port(struct port *p);

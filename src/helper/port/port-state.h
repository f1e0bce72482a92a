/* The states of a port (one VF behind one vhost-user socket).
 *
 *   probed  --socket listening-->  waiting  --frontend connects-->  connected
 *   connected --frontend ready-->  running
 *   connected --no memory table after PORT_MEM_TABLE_WAIT_MS--> connected,
 *             with the reason (guest memory not shared)
 *   running --frontend stops the device (GET_VRING_BASE, reset)--> stopped
 *   stopped --frontend ready again--> running
 *   connected/stopped --bring-up refused--> failed (with a reason)
 *   running --queue change refused--> failed
 *   running --a queue that does not stop (the VF is reset), or dirty
 *             logging that cannot go on with a new log--> failed
 *   any --the helper shuts down (port_shutdown)--> stopped
 *   any connected state --frontend disconnects--> waiting
 *   failed  --frontend stops the device--> stopped
 *   any --the device hangs up (port_device_lost)--> failed ("device lost")
 *   failed (device lost) --the device is back (port_device_reattach)-->
 *             waiting / stopped, then running when the frontend is ready
 *
 * While running, live migration has its own state (port-lm.c):
 *
 *   direct --VHOST_F_LOG_ALL set, hw mode--> logging-hw   (the VF logs)
 *   direct --VHOST_F_LOG_ALL set, sw mode--> relaying-sw  (the helper relays
 *                                                          and logs)
 *   logging-hw/relaying-sw --LOG_ALL cleared (cancelled)--> direct
 *   any --the datapath stops (GET_VRING_BASE...)--> direct
 *
 * Threads: no state here. */
#pragma once

enum port_state {
	PORT_STATE_PROBED,
	PORT_STATE_WAITING,
	PORT_STATE_CONNECTED,  /* a frontend is connected, no vring runs yet */
	PORT_STATE_RUNNING,
	PORT_STATE_STOPPED,
	PORT_STATE_FAILED,
	PORT_STATE_LAST
};

/* how a live migration is carried out */
enum port_lm_mode {
	PORT_LM_MODE_HW,     /* the VF's dirty logging (BAR4) */
	PORT_LM_MODE_SW,     /* the helper relays used rings and logs */
	PORT_LM_MODE_LAST
};

/* what is in force right now */
enum port_lm_state {
	PORT_LM_DIRECT,        /* the VF writes the guest's rings; nothing logged */
	PORT_LM_LOGGING_HW,
	PORT_LM_RELAYING_SW,
	PORT_LM_LAST
};

const char *port_state_to_string(enum port_state state);
/* "hw", "sw" */
const char *port_lm_mode_to_string(enum port_lm_mode mode);
/* "direct", "logging-hw", "relaying-sw" */
const char *port_lm_state_to_string(enum port_lm_state state);

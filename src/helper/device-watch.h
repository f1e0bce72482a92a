/* Watches each port's device for a hang-up (device-watch.c): a device that
 * goes away (vfio-user: its socket hangs up; kernel VFIO: its request or
 * error interrupt fires) fails its port at once with the reason, and a worker thread
 * re-attaches it with back-off (100 ms doubling to 5 s) until it is back.
 *
 * Threads: new/free on the main thread, whose main context runs the fd
 * watches; one worker thread (`ifcvf-dev-N`) per port whose device was lost,
 * joined on the main thread when it is done or at free. */
#pragma once

#include <glib.h>

#include "port.h"

typedef struct IfcvfDeviceWatch IfcvfDeviceWatch;

#define IFCVF_REATTACH_FIRST_MS 100u
#define IFCVF_REATTACH_MAX_MS 5000u

/* Watch @ports (not owned; they outlive the watch). */
IfcvfDeviceWatch *ifcvf_device_watch_new(struct port **ports, guint n_ports);
/* Stop watching; a worker in a re-attach attempt is waited for (bounded by
 * the device's request timeout). Accepts NULL. */
void ifcvf_device_watch_free(IfcvfDeviceWatch *w);

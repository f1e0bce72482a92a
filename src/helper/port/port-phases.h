/* A timing breakdown of one switch or stop of a port, for its log line:
 * the time between marks, by phase name, with what the VF's transport
 * spent in it (round trips and their time, posted writes) and the naps
 * taken waiting for the VF. A phase named again adds to the first one.
 *
 * Threads: one per port, under its ctl (port.h). No allocation. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ifcvf-hw.h"

#define PORT_PHASES_MAX 14

struct port_phase {
	const char *name;
	uint64_t ns, round_trips, round_trip_ns, posted, wait_ns;
};

struct port_phases {
	struct vfio_dev *dev;    /* NULL: not begun, marks do nothing */
	struct ifcvf_hw *hw;
	uint64_t at_ns, round_trips, round_trip_ns, posted, wait_ns;  /* at the last mark */
	unsigned n;
	struct port_phase ph[PORT_PHASES_MAX];
};

void port_phases_begin(struct port_phases *ph, struct vfio_dev *dev, struct ifcvf_hw *hw);
/* close the phase that ran since the last mark (or the beginning) as @name */
void port_phase(struct port_phases *ph, const char *name);
/* "queue stop 95 us (2 rt+2 posted 80 us), DMA map 40 us (1 rt+0 posted
 * 38 us), ...; 9 round trips + 12 posted writes 310 us, naps 0 us": per
 * phase its time, its messages and their time (send to reply; a posted
 * write's send); then stops marking */
void port_phases_format(struct port_phases *ph, char *buf, size_t len);

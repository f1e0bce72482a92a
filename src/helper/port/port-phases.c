#include "port-phases.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void take(struct port_phases *ph, uint64_t *at, uint64_t *rt, uint64_t *rt_ns,
		 uint64_t *posted, uint64_t *wait_ns)
{
	struct vfio_dev_counters c;

	vfio_dev_counters(ph->dev, &c);
	*at = now_ns();
	*rt = c.round_trips;
	/* a posted write's send counts with the round trips' time: both are
	 * time spent on the channel */
	*rt_ns = c.round_trip_ns + c.posted_ns;
	*posted = c.posted;
	*wait_ns = ph->hw->wait_ns;
}

void port_phases_begin(struct port_phases *ph, struct vfio_dev *dev, struct ifcvf_hw *hw)
{
	memset(ph, 0, sizeof(*ph));
	if (!dev)
		return;
	ph->dev = dev;
	ph->hw = hw;
	take(ph, &ph->at_ns, &ph->round_trips, &ph->round_trip_ns, &ph->posted, &ph->wait_ns);
}

void port_phase(struct port_phases *ph, const char *name)
{
	uint64_t at, rt, rt_ns, posted, wait_ns;
	struct port_phase *p = NULL;

	if (!ph->dev)
		return;
	take(ph, &at, &rt, &rt_ns, &posted, &wait_ns);
	for (unsigned i = 0; i < ph->n && !p; i++)
		if (!strcmp(ph->ph[i].name, name))
			p = &ph->ph[i];
	if (!p && ph->n < PORT_PHASES_MAX) {
		p = &ph->ph[ph->n++];
		p->name = name;
	}
	if (p) {
		p->ns += at - ph->at_ns;
		p->round_trips += rt - ph->round_trips;
		p->round_trip_ns += rt_ns - ph->round_trip_ns;
		p->posted += posted - ph->posted;
		p->wait_ns += wait_ns - ph->wait_ns;
	}
	ph->at_ns = at;
	ph->round_trips = rt;
	ph->round_trip_ns = rt_ns;
	ph->posted = posted;
	ph->wait_ns = wait_ns;
}

void port_phases_format(struct port_phases *ph, char *buf, size_t len)
{
	uint64_t rt = 0, rt_ns = 0, posted = 0, wait_ns = 0;
	size_t at = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < ph->n && at < len; i++) {
		const struct port_phase *p = &ph->ph[i];
		int w;

		char naps[32] = "";

		if (p->wait_ns)
			snprintf(naps, sizeof(naps), ", naps %llu us", (unsigned long long)(p->wait_ns / 1000));
		if (p->round_trips || p->posted || p->wait_ns)
			w = snprintf(buf + at, len - at, "%s%s %llu us (%llu rt+%llu posted %llu us%s)",
				     i ? ", " : "", p->name, (unsigned long long)(p->ns / 1000),
				     (unsigned long long)p->round_trips, (unsigned long long)p->posted,
				     (unsigned long long)(p->round_trip_ns / 1000), naps);
		else
			w = snprintf(buf + at, len - at, "%s%s %llu us", i ? ", " : "", p->name,
				     (unsigned long long)(p->ns / 1000));
		at += w > 0 ? (size_t)w : 0;
		rt += p->round_trips;
		rt_ns += p->round_trip_ns;
		posted += p->posted;
		wait_ns += p->wait_ns;
	}
	if (at < len)
		snprintf(buf + at, len - at, "; %llu round trips + %llu posted writes %llu us, naps %llu us",
			 (unsigned long long)rt, (unsigned long long)posted,
			 (unsigned long long)(rt_ns / 1000), (unsigned long long)(wait_ns / 1000));
	ph->dev = NULL;
}

/* Migration phase rules. See migration-phase.h; pure. */
#include "migration-phase.h"

#include <glib.h>

#define P(x) (1u << IFCVF_BUS_MIGRATION_##x)
#define ANY ((1u << IFCVF_BUS_MIGRATION_LAST) - 1)
/* a migration out is under way here */
#define OUTGOING (P(SETUP) | P(ITERATING) | P(STOP_AND_COPY))

struct rule {
	enum migration_signal signal;
	unsigned from;               /* phases the rule applies to */
	IfcvfBusMigrationPhase to;
};

/* first match wins; no match: the phase stays */
static const struct rule rules[] = {
	/* vhost-user */
	{ MIGRATION_SIGNAL_LOG_STARTED, ANY & ~P(STOP_AND_COPY), IFCVF_BUS_MIGRATION_ITERATING },
	{ MIGRATION_SIGNAL_LOG_CANCELLED, OUTGOING, IFCVF_BUS_MIGRATION_CANCELLED },
	{ MIGRATION_SIGNAL_VF_STOPPED_LOGGING, P(SETUP) | P(ITERATING),
	  IFCVF_BUS_MIGRATION_STOP_AND_COPY },
	{ MIGRATION_SIGNAL_VF_RUNNING, P(STOP_AND_COPY), IFCVF_BUS_MIGRATION_CANCELLED },
	{ MIGRATION_SIGNAL_VF_RUNNING, P(INCOMING), IFCVF_BUS_MIGRATION_RESUMED },
	{ MIGRATION_SIGNAL_FRONTEND_GONE, P(STOP_AND_COPY), IFCVF_BUS_MIGRATION_COMPLETED },
	{ MIGRATION_SIGNAL_FRONTEND_GONE, P(SETUP) | P(ITERATING) | P(INCOMING),
	  IFCVF_BUS_MIGRATION_CANCELLED },

	/* libvirt */
	{ MIGRATION_SIGNAL_LV_ITERATION, P(NONE) | P(SETUP) | P(RESUMED),
	  IFCVF_BUS_MIGRATION_ITERATING },
	{ MIGRATION_SIGNAL_LV_SUSPENDED_MIGRATED, P(NONE) | P(SETUP) | P(ITERATING) | P(RESUMED),
	  IFCVF_BUS_MIGRATION_STOP_AND_COPY },
	{ MIGRATION_SIGNAL_LV_RESUMED, P(STOP_AND_COPY), IFCVF_BUS_MIGRATION_CANCELLED },
	{ MIGRATION_SIGNAL_LV_RESUMED_MIGRATED, P(STOP_AND_COPY), IFCVF_BUS_MIGRATION_CANCELLED },
	{ MIGRATION_SIGNAL_LV_RESUMED_MIGRATED, P(NONE) | P(INCOMING), IFCVF_BUS_MIGRATION_RESUMED },
	{ MIGRATION_SIGNAL_LV_STARTED_MIGRATED, ANY, IFCVF_BUS_MIGRATION_INCOMING },
	{ MIGRATION_SIGNAL_LV_STOPPED_MIGRATED, ANY, IFCVF_BUS_MIGRATION_COMPLETED },
	{ MIGRATION_SIGNAL_LV_STOPPED, OUTGOING | P(INCOMING), IFCVF_BUS_MIGRATION_CANCELLED },
	{ MIGRATION_SIGNAL_LV_JOB_OUT_COMPLETED, ANY, IFCVF_BUS_MIGRATION_COMPLETED },
	{ MIGRATION_SIGNAL_LV_JOB_IN_COMPLETED, P(NONE) | P(INCOMING), IFCVF_BUS_MIGRATION_RESUMED },

	/* libvirt read again after a reconnect */
	{ MIGRATION_SIGNAL_LV_NOW_GONE, OUTGOING, IFCVF_BUS_MIGRATION_COMPLETED },
	{ MIGRATION_SIGNAL_LV_NOW_GONE, P(INCOMING), IFCVF_BUS_MIGRATION_CANCELLED },
	{ MIGRATION_SIGNAL_LV_NOW_RUNNING, OUTGOING, IFCVF_BUS_MIGRATION_CANCELLED },
	{ MIGRATION_SIGNAL_LV_NOW_RUNNING, P(INCOMING), IFCVF_BUS_MIGRATION_RESUMED },
};

IfcvfBusMigrationPhase migration_phase_next(IfcvfBusMigrationPhase phase,
					    enum migration_signal signal)
{
	if ((unsigned)phase >= IFCVF_BUS_MIGRATION_LAST)
		return phase;
	for (gsize i = 0; i < G_N_ELEMENTS(rules); i++) {
		if (rules[i].signal == signal && (rules[i].from & (1u << phase)))
			return rules[i].to;
	}
	return phase;
}

const char *migration_signal_to_string(enum migration_signal signal)
{
	static const char *const names[] = {
		[MIGRATION_SIGNAL_LOG_STARTED] = "log-started",
		[MIGRATION_SIGNAL_LOG_CANCELLED] = "log-cancelled",
		[MIGRATION_SIGNAL_VF_STOPPED_LOGGING] = "vf-stopped-logging",
		[MIGRATION_SIGNAL_VF_RUNNING] = "vf-running",
		[MIGRATION_SIGNAL_FRONTEND_GONE] = "frontend-gone",
		[MIGRATION_SIGNAL_LV_ITERATION] = "libvirt-iteration",
		[MIGRATION_SIGNAL_LV_SUSPENDED_MIGRATED] = "libvirt-suspended-migrated",
		[MIGRATION_SIGNAL_LV_RESUMED] = "libvirt-resumed",
		[MIGRATION_SIGNAL_LV_RESUMED_MIGRATED] = "libvirt-resumed-migrated",
		[MIGRATION_SIGNAL_LV_STARTED_MIGRATED] = "libvirt-started-migrated",
		[MIGRATION_SIGNAL_LV_STOPPED_MIGRATED] = "libvirt-stopped-migrated",
		[MIGRATION_SIGNAL_LV_STOPPED] = "libvirt-stopped",
		[MIGRATION_SIGNAL_LV_JOB_OUT_COMPLETED] = "libvirt-job-completed-out",
		[MIGRATION_SIGNAL_LV_JOB_IN_COMPLETED] = "libvirt-job-completed-in",
		[MIGRATION_SIGNAL_LV_NOW_GONE] = "libvirt-now-gone",
		[MIGRATION_SIGNAL_LV_NOW_RUNNING] = "libvirt-now-running",
	};
	G_STATIC_ASSERT(G_N_ELEMENTS(names) == MIGRATION_SIGNAL_LAST);

	return (unsigned)signal < G_N_ELEMENTS(names) ? names[signal] : "?";
}

gboolean migration_view_signal(enum migration_domain_view view, enum migration_signal *ret)
{
	static const enum migration_signal signals[] = {
		[MIGRATION_VIEW_GONE] = MIGRATION_SIGNAL_LV_NOW_GONE,
		[MIGRATION_VIEW_RUNNING] = MIGRATION_SIGNAL_LV_NOW_RUNNING,
		[MIGRATION_VIEW_OUT_RUNNING] = MIGRATION_SIGNAL_LV_ITERATION,
		[MIGRATION_VIEW_OUT_PAUSED] = MIGRATION_SIGNAL_LV_SUSPENDED_MIGRATED,
		[MIGRATION_VIEW_IN] = MIGRATION_SIGNAL_LV_STARTED_MIGRATED,
		[MIGRATION_VIEW_OTHER] = MIGRATION_SIGNAL_LAST,
	};
	G_STATIC_ASSERT(G_N_ELEMENTS(signals) == MIGRATION_VIEW_LAST);

	if ((unsigned)view >= G_N_ELEMENTS(signals) || signals[view] == MIGRATION_SIGNAL_LAST)
		return FALSE;
	*ret = signals[view];
	return TRUE;
}

const char *migration_view_to_string(enum migration_domain_view view)
{
	static const char *const names[] = {
		[MIGRATION_VIEW_GONE] = "gone",
		[MIGRATION_VIEW_RUNNING] = "running",
		[MIGRATION_VIEW_OUT_RUNNING] = "running, migrating out",
		[MIGRATION_VIEW_OUT_PAUSED] = "paused, migrating out",
		[MIGRATION_VIEW_IN] = "migrating in",
		[MIGRATION_VIEW_OTHER] = "other",
	};
	G_STATIC_ASSERT(G_N_ELEMENTS(names) == MIGRATION_VIEW_LAST);

	return (unsigned)view < G_N_ELEMENTS(names) ? names[view] : "?";
}

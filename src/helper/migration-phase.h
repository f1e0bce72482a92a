/* The live-migration phase the helper publishes (Domain.MigrationPhase),
 * worked out from two sources that each see part of a migration:
 *
 *   vhost-user (every port, always there): QEMU sets VHOST_F_LOG_ALL when
 *   it starts copying memory, stops the VF with GET_VRING_BASE when it
 *   pauses the guest for the last copy, clears LOG_ALL with the VF still
 *   running when the migration is cancelled, restarts the VF when it fails
 *   after the pause, and goes away when the guest has left.
 *
 *   libvirt (when the helper has a connection, libvirt-watch.h): lifecycle
 *   events of the domain (STARTED_MIGRATED on the destination,
 *   SUSPENDED_MIGRATED on the source, RESUMED after a failed migration,
 *   STOPPED_MIGRATED, RESUMED_MIGRATED), MIGRATION_ITERATION and
 *   JOB_COMPLETED. Only libvirt tells a destination that a guest is
 *   coming. A source helper connects only at its first LOG_ALL (run
 *   --libvirt-connect at-migration): what libvirt said before then
 *   (MIGRATION_ITERATION 1 comes with LOG_ALL) is lost, and LOG_ALL
 *   itself gives iterating; a destination's connects at start.
 *
 * The rules (migration_phase_next(), one table in migration-phase.c):
 *
 *   iterating      LOG_ALL set, or a MIGRATION_ITERATION event when no
 *                  migration is under way here (libvirt may speak first)
 *   stop-and-copy  the VF stopped while logging, or SUSPENDED_MIGRATED,
 *                  from iterating (or from none/resumed: a side that missed
 *                  the start)
 *   completed      STOPPED_MIGRATED or JOB_COMPLETED (migration out), from
 *                  any phase; the frontend leaving after stop-and-copy
 *                  (all a plain QEMU shows)
 *   cancelled      LOG_ALL cleared with the VF running, the VF restarted
 *                  or any RESUMED after stop-and-copy, the frontend leaving
 *                  or the domain stopping (not migrated) during a migration
 *                  on either side
 *   incoming       STARTED_MIGRATED, from any phase
 *   resumed        RESUMED_MIGRATED or the VF starting while incoming;
 *                  RESUMED_MIGRATED or JOB_COMPLETED (migration in) also
 *                  from none (a destination helper that missed the start)
 *
 * After libvirtd was away, the domain's state read again stands for the
 * events missed (migration_view_signal()): gone completes a migration out
 * and cancels one in; running with no job cancels a migration out and
 * resumes one in; a migration job still under way is iterating,
 * stop-and-copy or incoming as its events would say.
 *
 * The two sources are not ordered with respect to each other (each is
 * ordered in itself), and both often report the same step. So a signal
 * never moves a migration backwards: a late MIGRATION_ITERATION after the
 * pause (libvirt sends the last one then), or after the migration ended,
 * changes nothing; the same step reported twice leaves the phase as it is,
 * and the bus sends nothing for an unchanged value. A new migration starts
 * with LOG_ALL (source) or STARTED_MIGRATED (destination). "setup" is never
 * published: neither source gives a signal before dirty logging starts.
 *
 * Threads: no state; pure functions. */
#pragma once

#include <glib.h>

#include "ifcvf-bus-names.h"

enum migration_signal {
	/* vhost-user, any port */
	MIGRATION_SIGNAL_LOG_STARTED,         /* VHOST_F_LOG_ALL set: the port logs */
	MIGRATION_SIGNAL_LOG_CANCELLED,       /* LOG_ALL cleared while the VF runs */
	MIGRATION_SIGNAL_VF_STOPPED_LOGGING,  /* GET_VRING_BASE while logging */
	MIGRATION_SIGNAL_VF_RUNNING,          /* the VF started, not logging */
	MIGRATION_SIGNAL_FRONTEND_GONE,       /* the frontend disconnected */
	/* libvirt, this domain */
	MIGRATION_SIGNAL_LV_ITERATION,        /* MIGRATION_ITERATION */
	MIGRATION_SIGNAL_LV_SUSPENDED_MIGRATED,
	MIGRATION_SIGNAL_LV_RESUMED,          /* RESUMED, any other detail */
	MIGRATION_SIGNAL_LV_RESUMED_MIGRATED,
	MIGRATION_SIGNAL_LV_STARTED_MIGRATED,
	MIGRATION_SIGNAL_LV_STOPPED_MIGRATED,
	MIGRATION_SIGNAL_LV_STOPPED,          /* STOPPED, any other detail */
	MIGRATION_SIGNAL_LV_JOB_OUT_COMPLETED, /* JOB_COMPLETED of a migration out */
	MIGRATION_SIGNAL_LV_JOB_IN_COMPLETED,  /* JOB_COMPLETED of a migration in */
	/* libvirt, read again after a reconnect (events missed meanwhile) */
	MIGRATION_SIGNAL_LV_NOW_GONE,         /* the domain is gone or shut off */
	MIGRATION_SIGNAL_LV_NOW_RUNNING,      /* running, no migration job */
	MIGRATION_SIGNAL_LAST
};

/* What a fresh read of the domain in libvirt shows: libvirt-watch.c reads
 * it after each reconnect, since the events of the outage are lost. */
enum migration_domain_view {
	MIGRATION_VIEW_GONE,         /* not on this host (any more), or shut off */
	MIGRATION_VIEW_RUNNING,      /* running, no migration job */
	MIGRATION_VIEW_OUT_RUNNING,  /* a migration out under way, guest running */
	MIGRATION_VIEW_OUT_PAUSED,   /* a migration out under way, guest paused */
	MIGRATION_VIEW_IN,           /* a migration in under way */
	MIGRATION_VIEW_OTHER,        /* anything else (paused by a user, ...) */
	MIGRATION_VIEW_LAST
};

/* The signal @view stands for; FALSE when it says nothing of a migration.
 * A migration out under way is iterating (running) or stop-and-copy
 * (paused); one in is incoming; running with no job ends a migration that
 * was under way here (cancelled on the source, resumed on the destination);
 * gone ends it too (completed on the source, cancelled on the
 * destination). */
gboolean migration_view_signal(enum migration_domain_view view, enum migration_signal *ret);

/* "gone", "running", "migrating-out-running"... for logs */
const char *migration_view_to_string(enum migration_domain_view view);

/* The phase after @signal when the phase is @phase (may be @phase). */
IfcvfBusMigrationPhase migration_phase_next(IfcvfBusMigrationPhase phase,
					    enum migration_signal signal);

/* "log-started", "lv-suspended-migrated"... for logs and tests */
const char *migration_signal_to_string(enum migration_signal signal);

/* migration_phase_next(): the rules one by one, then whole migrations as
 * the two sources report them, in the orders seen (and possible) when
 * libvirt's events and vhost-user's arrive interleaved. */
#include <glib.h>

#include "migration-phase.h"

#define NONE IFCVF_BUS_MIGRATION_NONE
#define SETUP IFCVF_BUS_MIGRATION_SETUP
#define ITER IFCVF_BUS_MIGRATION_ITERATING
#define STOP IFCVF_BUS_MIGRATION_STOP_AND_COPY
#define DONE IFCVF_BUS_MIGRATION_COMPLETED
#define CANC IFCVF_BUS_MIGRATION_CANCELLED
#define INC IFCVF_BUS_MIGRATION_INCOMING
#define RES IFCVF_BUS_MIGRATION_RESUMED

#define LOG_ON MIGRATION_SIGNAL_LOG_STARTED
#define LOG_OFF MIGRATION_SIGNAL_LOG_CANCELLED
#define VF_STOP MIGRATION_SIGNAL_VF_STOPPED_LOGGING
#define VF_RUN MIGRATION_SIGNAL_VF_RUNNING
#define FE_GONE MIGRATION_SIGNAL_FRONTEND_GONE
#define LV_ITER MIGRATION_SIGNAL_LV_ITERATION
#define LV_SUSP MIGRATION_SIGNAL_LV_SUSPENDED_MIGRATED
#define LV_RES MIGRATION_SIGNAL_LV_RESUMED
#define LV_RES_MIG MIGRATION_SIGNAL_LV_RESUMED_MIGRATED
#define LV_START_MIG MIGRATION_SIGNAL_LV_STARTED_MIGRATED
#define LV_STOP_MIG MIGRATION_SIGNAL_LV_STOPPED_MIGRATED
#define LV_STOP MIGRATION_SIGNAL_LV_STOPPED
#define LV_JOB_OUT MIGRATION_SIGNAL_LV_JOB_OUT_COMPLETED
#define LV_JOB_IN MIGRATION_SIGNAL_LV_JOB_IN_COMPLETED
#define LV_GONE MIGRATION_SIGNAL_LV_NOW_GONE
#define LV_RUNNING MIGRATION_SIGNAL_LV_NOW_RUNNING

static const char *name(IfcvfBusMigrationPhase p)
{
	return ifcvf_bus_migration_phase_to_string(p);
}

/* ---- (phase, signal) → phase ---- */

static const struct {
	IfcvfBusMigrationPhase from;
	enum migration_signal signal;
	IfcvfBusMigrationPhase to;
} table[] = {
	/* dirty logging starts a migration out, from anywhere but the pause */
	{ NONE, LOG_ON, ITER }, { DONE, LOG_ON, ITER }, { CANC, LOG_ON, ITER },
	{ RES, LOG_ON, ITER }, { INC, LOG_ON, ITER }, { ITER, LOG_ON, ITER },
	{ STOP, LOG_ON, STOP },
	/* logging cleared with the VF running: cancelled, if one was going */
	{ ITER, LOG_OFF, CANC }, { SETUP, LOG_OFF, CANC }, { STOP, LOG_OFF, CANC },
	{ NONE, LOG_OFF, NONE }, { DONE, LOG_OFF, DONE }, { RES, LOG_OFF, RES },
	/* the VF stopped while logging: the pause */
	{ ITER, VF_STOP, STOP }, { SETUP, VF_STOP, STOP }, { STOP, VF_STOP, STOP },
	{ DONE, VF_STOP, DONE }, { CANC, VF_STOP, CANC },
	/* the VF (re)started: after the pause it runs here again; a
	 * destination's guest arrived */
	{ STOP, VF_RUN, CANC }, { INC, VF_RUN, RES }, { ITER, VF_RUN, ITER },
	{ NONE, VF_RUN, NONE }, { RES, VF_RUN, RES }, { DONE, VF_RUN, DONE },
	/* the frontend left: after the pause the guest went (all a plain
	 * QEMU shows); before it, the migration is over without the guest */
	{ STOP, FE_GONE, DONE }, { ITER, FE_GONE, CANC }, { INC, FE_GONE, CANC },
	{ NONE, FE_GONE, NONE }, { RES, FE_GONE, RES }, { DONE, FE_GONE, DONE },
	{ CANC, FE_GONE, CANC },
	/* libvirt's iterations: start a migration only when none is going;
	 * the last one comes after the pause */
	{ NONE, LV_ITER, ITER }, { RES, LV_ITER, ITER }, { ITER, LV_ITER, ITER },
	{ STOP, LV_ITER, STOP }, { DONE, LV_ITER, DONE }, { CANC, LV_ITER, CANC },
	{ INC, LV_ITER, INC },
	/* the source paused for the last copy */
	{ ITER, LV_SUSP, STOP }, { NONE, LV_SUSP, STOP }, { STOP, LV_SUSP, STOP },
	{ DONE, LV_SUSP, DONE }, { CANC, LV_SUSP, CANC }, { INC, LV_SUSP, INC },
	/* resumed after the pause: the migration failed, the guest runs here */
	{ STOP, LV_RES, CANC }, { ITER, LV_RES, ITER }, { NONE, LV_RES, NONE },
	{ STOP, LV_RES_MIG, CANC }, { INC, LV_RES_MIG, RES }, { NONE, LV_RES_MIG, RES },
	{ RES, LV_RES_MIG, RES }, { DONE, LV_RES_MIG, DONE }, { ITER, LV_RES_MIG, ITER },
	/* a guest is coming */
	{ NONE, LV_START_MIG, INC }, { DONE, LV_START_MIG, INC }, { CANC, LV_START_MIG, INC },
	/* libvirt says the guest left by migration: authoritative */
	{ STOP, LV_STOP_MIG, DONE }, { ITER, LV_STOP_MIG, DONE }, { NONE, LV_STOP_MIG, DONE },
	{ DONE, LV_STOP_MIG, DONE }, { CANC, LV_STOP_MIG, DONE },
	{ STOP, LV_JOB_OUT, DONE }, { DONE, LV_JOB_OUT, DONE }, { ITER, LV_JOB_OUT, DONE },
	/* stopped otherwise during a migration: it did not complete */
	{ ITER, LV_STOP, CANC }, { STOP, LV_STOP, CANC }, { INC, LV_STOP, CANC },
	{ NONE, LV_STOP, NONE }, { DONE, LV_STOP, DONE }, { RES, LV_STOP, RES },
	/* a migration in finished */
	{ INC, LV_JOB_IN, RES }, { NONE, LV_JOB_IN, RES }, { RES, LV_JOB_IN, RES },
	{ DONE, LV_JOB_IN, DONE },
	/* read again after libvirtd was away: gone ends a migration out as
	 * completed and one in as cancelled; running with no job the other
	 * way round; outside a migration neither says anything */
	{ ITER, LV_GONE, DONE }, { STOP, LV_GONE, DONE }, { INC, LV_GONE, CANC },
	{ NONE, LV_GONE, NONE }, { DONE, LV_GONE, DONE }, { CANC, LV_GONE, CANC },
	{ RES, LV_GONE, RES },
	{ ITER, LV_RUNNING, CANC }, { STOP, LV_RUNNING, CANC }, { INC, LV_RUNNING, RES },
	{ NONE, LV_RUNNING, NONE }, { DONE, LV_RUNNING, DONE }, { CANC, LV_RUNNING, CANC },
	{ RES, LV_RUNNING, RES },
};

static void test_table(void)
{
	for (gsize i = 0; i < G_N_ELEMENTS(table); i++) {
		IfcvfBusMigrationPhase got = migration_phase_next(table[i].from, table[i].signal);

		if (got != table[i].to)
			g_error("%s + %s: got %s, expected %s", name(table[i].from),
				migration_signal_to_string(table[i].signal), name(got),
				name(table[i].to));
	}
}

/* every pair gives a phase; the signals have distinct names */
static void test_total(void)
{
	g_autoptr(GHashTable) names = g_hash_table_new(g_str_hash, g_str_equal);

	for (int s = 0; s < MIGRATION_SIGNAL_LAST; s++) {
		const char *n = migration_signal_to_string(s);

		g_assert_cmpstr(n, !=, "?");
		g_assert_false(g_hash_table_contains(names, n));
		g_hash_table_add(names, (gpointer)n);
		for (int p = 0; p < IFCVF_BUS_MIGRATION_LAST; p++)
			g_assert_cmpint(migration_phase_next(p, s), <, IFCVF_BUS_MIGRATION_LAST);
		/* a phase out of range is left alone */
		g_assert_cmpint(migration_phase_next(IFCVF_BUS_MIGRATION_LAST, s), ==,
				IFCVF_BUS_MIGRATION_LAST);
	}
	g_assert_cmpstr(migration_signal_to_string(MIGRATION_SIGNAL_LAST), ==, "?");
	/* "setup" is never reached */
	for (int s = 0; s < MIGRATION_SIGNAL_LAST; s++)
		for (int p = 0; p < IFCVF_BUS_MIGRATION_LAST; p++)
			if (p != SETUP)
				g_assert_cmpint(migration_phase_next(p, s), !=, SETUP);
}

/* ---- libvirtd restarted: the domain read again ---- */

static const struct {
	const char *what;
	IfcvfBusMigrationPhase from;
	enum migration_domain_view view;
	IfcvfBusMigrationPhase to;
} reconnects[] = {
	{ "source: the guest left while libvirtd was down", ITER, MIGRATION_VIEW_GONE, DONE },
	{ "source: left after the pause", STOP, MIGRATION_VIEW_GONE, DONE },
	{ "source: libvirt gave up the migration on restart", ITER, MIGRATION_VIEW_RUNNING, CANC },
	{ "source: resumed after the pause", STOP, MIGRATION_VIEW_RUNNING, CANC },
	{ "source: still paused for migration", ITER, MIGRATION_VIEW_OUT_PAUSED, STOP },
	{ "source: a migration started meanwhile", NONE, MIGRATION_VIEW_OUT_RUNNING, ITER },
	{ "source: still iterating", ITER, MIGRATION_VIEW_OUT_RUNNING, ITER },
	{ "destination: the guest arrived meanwhile", INC, MIGRATION_VIEW_RUNNING, RES },
	{ "destination: the migration failed meanwhile", INC, MIGRATION_VIEW_GONE, CANC },
	{ "destination: a guest is coming", NONE, MIGRATION_VIEW_IN, INC },
	{ "no migration, running", NONE, MIGRATION_VIEW_RUNNING, NONE },
	{ "no migration, gone", NONE, MIGRATION_VIEW_GONE, NONE },
	{ "after a migration in, running", RES, MIGRATION_VIEW_RUNNING, RES },
	{ "paused by a user during a migration", ITER, MIGRATION_VIEW_OTHER, ITER },
};

static void test_reconnect(void)
{
	for (gsize i = 0; i < G_N_ELEMENTS(reconnects); i++) {
		IfcvfBusMigrationPhase got = reconnects[i].from;
		enum migration_signal signal;

		if (migration_view_signal(reconnects[i].view, &signal))
			got = migration_phase_next(got, signal);
		if (got != reconnects[i].to)
			g_error("%s (%s, domain %s): got %s, expected %s", reconnects[i].what,
				name(reconnects[i].from),
				migration_view_to_string(reconnects[i].view), name(got),
				name(reconnects[i].to));
	}
	for (int v = 0; v < MIGRATION_VIEW_LAST; v++)
		g_assert_cmpstr(migration_view_to_string(v), !=, "?");
	g_assert_false(migration_view_signal(MIGRATION_VIEW_OTHER, &(enum migration_signal){ 0 }));
	g_assert_false(migration_view_signal(MIGRATION_VIEW_LAST, &(enum migration_signal){ 0 }));
}

/* ---- whole migrations: the phases a client sees ---- */

#define END (-1)

typedef struct {
	const char *what;
	IfcvfBusMigrationPhase start;
	int signals[16];
	const char *published;   /* the changes, space-separated */
} Scenario;

static const Scenario scenarios[] = {
	{ "source, libvirt and vhost-user as seen with libvirt 9.0 and QEMU 7.2", NONE,
	  { LOG_ON, LV_ITER, LV_ITER, LV_SUSP, VF_STOP, LV_ITER, LV_STOP_MIG, LV_JOB_OUT, FE_GONE,
	    END },
	  "iterating stop-and-copy completed" },
	{ "source, libvirt first", NONE,
	  { LV_ITER, LOG_ON, VF_STOP, LV_SUSP, LV_ITER, FE_GONE, LV_STOP_MIG, LV_JOB_OUT, END },
	  "iterating stop-and-copy completed" },
	{ "source, vhost-user alone (plain QEMU, libvirtd down)", NONE,
	  { LOG_ON, VF_STOP, FE_GONE, END },
	  "iterating stop-and-copy completed" },
	{ "cancelled while iterating; a late iteration event", NONE,
	  { LOG_ON, LV_ITER, LOG_OFF, LV_ITER, END },
	  "iterating cancelled" },
	{ "failed after the pause", NONE,
	  { LOG_ON, LV_ITER, LV_SUSP, VF_STOP, LV_RES_MIG, LOG_OFF, VF_RUN, END },
	  "iterating stop-and-copy cancelled" },
	{ "failed after the pause, vhost-user first", NONE,
	  { LOG_ON, VF_STOP, VF_RUN, LV_SUSP, LV_RES, END },
	  "iterating stop-and-copy cancelled" },
	{ "retried after a cancel", CANC,
	  { LOG_ON, LV_ITER, VF_STOP, LV_SUSP, LV_STOP_MIG, END },
	  "iterating stop-and-copy completed" },
	{ "destination", NONE,
	  { LV_START_MIG, VF_RUN, LV_RES_MIG, END },
	  "incoming resumed" },
	{ "destination, libvirt's resume first", NONE,
	  { LV_START_MIG, LV_RES_MIG, VF_RUN, LV_JOB_IN, END },
	  "incoming resumed" },
	{ "destination of a cancelled migration", NONE,
	  { LV_START_MIG, LV_STOP, FE_GONE, END },
	  "incoming cancelled" },
	{ "the guest comes back to its old source", DONE,
	  { FE_GONE, LV_START_MIG, VF_RUN, LV_RES_MIG, END },
	  "incoming resumed" },
	{ "and leaves again", RES,
	  { LOG_ON, LV_ITER, LV_SUSP, VF_STOP, LV_STOP_MIG, FE_GONE, END },
	  "iterating stop-and-copy completed" },
};

static void test_scenario(gconstpointer data)
{
	const Scenario *sc = data;
	IfcvfBusMigrationPhase phase = sc->start;
	g_autoptr(GString) seen = g_string_new(NULL);

	for (guint i = 0; sc->signals[i] != END; i++) {
		IfcvfBusMigrationPhase next = migration_phase_next(phase, sc->signals[i]);

		if (next != phase)
			g_string_append_printf(seen, "%s%s", seen->len ? " " : "", name(next));
		phase = next;
	}
	g_assert_cmpstr(seen->str, ==, sc->published);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ifcvf-helper/migration-phase/table", test_table);
	g_test_add_func("/ifcvf-helper/migration-phase/total", test_total);
	g_test_add_func("/ifcvf-helper/migration-phase/reconnect", test_reconnect);
	for (gsize i = 0; i < G_N_ELEMENTS(scenarios); i++) {
		g_autofree char *path = g_strdup_printf("/ifcvf-helper/migration-phase/scenario/%zu", i);

		g_test_add_data_func(path, &scenarios[i], test_scenario);
	}
	return g_test_run();
}

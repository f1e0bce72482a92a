/* Fault sweeps (issue 13) over a bring-up, a switchover to the software
 * relay (LOG_ALL) and a GET_VRING_BASE, on port 0 of a two-port helper
 * (fault-rig.h):
 *
 * /fault/device/{fail,drop}: port 0's emulator answers vfio-user message N
 *   with an error, or closes the connection there (ifcvf-emu --fault
 *   fail-at=N, drop-at=N), for every N the scenario's messages get in a
 *   fault-free run;
 * /fault/device/delay: the reply to the first message of each phase comes
 *   after the helper's request timeout (delay-ms, delay-at);
 * /fault/device/hw: port 0 in hardware logging mode, the device dropped at
 *   each message of the bring-up, each message of the switchover refused;
 * /fault/alloc: malloc/calloc/realloc failing at each call the helper's own
 *   code and DPDK make through the scenario (alloc-fail.c, preloaded);
 * /fault/frontend: the frontend closes its socket at vhost-user message N,
 *   for every message of the scenario.
 *
 * At each point: the scenario runs on (every step may be refused); port 0's
 * state lines are running, waiting or stopped, or failed with a reason that
 * names the cause; while LOG_ALL is on, every page a frame through the VF
 * wrote is in the dirty log; GET_VRING_BASE, when answered, gives the used
 * index in guest memory; the helper lives, port 1 keeps running and never
 * fails; a fresh frontend then gets a working port; and the helper's fds,
 * threads and mappings and the VF's DMA maps are what they were before. */
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "alloc-fail.h"
#include "fault-rig.h"

#define WAIT_S 30

typedef struct {
	guint64 at[PHASE_COUNT + 1];   /* messages counted when each phase starts; [COUNT]: end */
} Marks;

static const char *const phase_names[] = { "bring-up", "switchover", "GET_VRING_BASE" };

typedef struct {
	guint points;
	guint running, failed, other;
	GHashTable *reasons;   /* distinct failure reasons seen */
} Tally;

static void tally_init(Tally *t)
{
	memset(t, 0, sizeof(*t));
	t->reasons = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
}

static void tally_report(Tally *t, const char *sweep)
{
	GHashTableIter it;
	gpointer key;

	g_test_message("%s: %u points: port last running %u, failed %u, neither (frontend gone "
		       "first) %u", sweep,
		       t->points, t->running, t->failed, t->other);
	g_hash_table_iter_init(&it, t->reasons);
	while (g_hash_table_iter_next(&it, &key, NULL))
		g_test_message("%s: reason seen: %s", sweep, (const char *)key);
	g_hash_table_destroy(t->reasons);
}

/* Every state line of port 0 since @from: a known state; a failure names
 * one of @causes. Counts how the point ended. */
static void check_states(FaultRig *r, gsize from, const char *const *causes, const char *point,
			 Tally *t)
{
	g_autofree char *log = dp_proc_log(r->helper);
	g_auto(GStrv) lines = g_strsplit(log + MIN(from, strlen(log)), "\n", -1);
	const char *last = NULL;

	for (guint i = 0; lines[i]; i++) {
		const char *p = strstr(lines[i], "port 0 ("), *s;

		if (strstr(lines[i], "port 1 (") && strstr(lines[i], "): failed"))
			g_error("%s: the other port failed: %s", point, lines[i]);
		if (!p || !(s = strstr(p, "): ")))
			continue;
		s += 3;
		if (g_str_has_prefix(s, "failed: ")) {
			gboolean named = FALSE;

			for (guint k = 0; causes[k]; k++)
				named |= strstr(s, causes[k]) != NULL;
			if (!named)
				g_error("%s: the port failed without naming the cause: %s", point, s);
			g_hash_table_add(t->reasons, g_strdup(s + 8));
		} else if (!g_str_has_prefix(s, "running: ")) {
			/* connected, stopped, waiting: on the way, not an end */
			continue;
		}
		last = s;
	}
	t->points++;
	if (last && g_str_has_prefix(last, "failed: "))
		t->failed++;
	else if (last && g_str_has_prefix(last, "running: "))
		t->running++;
	else
		t->other++;
}

/* The scenario on port 0, each step allowed to be refused: returns the
 * number of steps that were. */
static guint scenario(FaultRig *r, FaultGuest *g, gsize off, Marks *marks)
{
	const char *const up[] = { "running: 2 of 2", "failed", NULL };
	g_autofree char *state = NULL;
	struct cerr ce = { 0 };
	uint32_t base[2];
	guint refused = 0;

	if (marks)
		marks->at[PHASE_BRINGUP] = fault_rig_emu_messages(r, 0);
	if (fault_guest_bringup(g, r, &ce) < 0) {
		g_test_message("bring-up: %s", ce.msg);
		return 1;
	}
	state = fault_rig_wait_state(r, 0, off, up, WAIT_S);
	g_assert_nonnull(state);
	if (marks)
		marks->at[PHASE_SWITCH] = fault_rig_emu_messages(r, 0);
	cerr_clear(&ce);
	if (fault_guest_log_all(g, TRUE, &ce) < 0) {
		g_test_message("LOG_ALL: %s", ce.msg);
		refused++;
		if (g->fe.sock < 0 || !strstr(ce.msg, "the backend refused"))
			return refused;
		/* refused and told: QEMU aborts the migration and takes
		 * LOG_ALL back; nothing more needs logging */
		cerr_clear(&ce);
		if (fault_guest_log_all(g, FALSE, &ce) < 0)
			return refused + 1;
	}
	/* a frame while logging: logged when the VF wrote it (the port may
	 * have failed: then no frame comes, which is not checked) */
	g_free(state);
	state = fault_rig_wait_state(r, 0, off, up, WAIT_S);
	if (!fault_guest_frame(g, g_str_has_prefix(state, "running") ? WAIT_S * 1000 : 200) &&
	    g_str_has_prefix(state, "running")) {
		g_autofree char *now = fault_rig_wait_state(r, 0, off, up, 1);

		if (g_str_has_prefix(now, "running"))
			g_error("a running port passed no frame while logging");
	}
	if (marks)
		marks->at[PHASE_STOP] = fault_rig_emu_messages(r, 0);
	cerr_clear(&ce);
	if (fault_guest_stop(g, base, &ce) < 0) {
		g_test_message("GET_VRING_BASE: %s", ce.msg);
		return refused + 1;
	}
	/* where the VF stopped is what the guest's used rings say */
	g_assert_cmpuint(base[0], ==, __atomic_load_n(&g->q[0].used->idx, __ATOMIC_ACQUIRE));
	g_assert_cmpuint(base[1], ==, __atomic_load_n(&g->q[1].used->idx, __ATOMIC_ACQUIRE));
	if (marks)
		marks->at[PHASE_COUNT] = fault_rig_emu_messages(r, 0);
	return refused;
}

/* A fault-free run: where each phase's messages start on port 0's emulator
 * (restarted, so counted from the helper's re-attach). */
static void count_marks(FaultRig *r, Marks *m)
{
	FaultGuest g;
	gsize off;

	fault_rig_restart_emu_traced(r);
	off = dp_proc_log_size(r->helper);
	fault_guest_init(&g);
	g_assert_cmpuint(scenario(r, &g, off, m), ==, 0);
	fault_guest_fini(&g);
	fault_rig_check_clean(r, "fault-free run");
	for (guint p = 0; p < PHASE_COUNT; p++)
		g_test_message("%s: vfio-user messages %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT,
			       phase_names[p], m->at[p] + 1, m->at[p + 1]);
}

static void device_point(FaultRig *r, const char *fault, const char *const *causes, Tally *t)
{
	FaultGuest g;
	gsize off;

	g_test_message("point: %s", fault);
	fault_rig_restart_emu(r, fault);
	off = dp_proc_log_size(r->helper);
	fault_guest_init(&g);
	(void)scenario(r, &g, off, NULL);
	fault_guest_fini(&g);
	fault_rig_wait_gone(r, off, fault);
	check_states(r, off, causes, fault, t);
	fault_rig_fresh_frontend(r);
	fault_rig_check_clean(r, fault);
}

static const char *const any_cause[] = { "", NULL };
static const char *const fail_causes[] = { "Input/output error", NULL };
static const char *const drop_causes[] = { "device lost", "hung up", "Connection reset",
					   "closed the connection", "is lost", "Broken pipe",
					   "unusable after an earlier failure", NULL };
static const char *const delay_causes[] = { "no reply within", "device lost", "is lost",
					    "unusable", NULL };

static void test_device_sweep(gconstpointer data)
{
	const char *kind = data;
	const char *const *causes = g_str_equal(kind, "fail-at") ? fail_causes : drop_causes;
	g_autoptr(FaultRig) r = fault_rig_new();
	Tally t;
	Marks m;

	g_autoptr(GArray) posted = NULL;
	guint n_posted = 0;

	tally_init(&t);
	count_marks(r, &m);
	posted = fault_rig_emu_posted(r);
	g_assert_cmpuint(posted->len, >, m.at[PHASE_COUNT]);
	for (guint64 n = m.at[PHASE_BRINGUP] + 1; n <= m.at[PHASE_COUNT]; n++) {
		g_autofree char *fault = g_strdup_printf("%s=%" G_GUINT64_FORMAT, kind, n);
		/* an error to a posted write reaches nobody: the helper sees
		 * only what the write did not do (read back), any reason */
		gboolean silent = g_str_equal(kind, "fail-at") &&
				  g_array_index(posted, gboolean, n);

		/* FAULT_ONLY=KIND=N: that point alone, to look into one */
		if (g_getenv("FAULT_ONLY") && !g_str_equal(g_getenv("FAULT_ONLY"), fault))
			continue;
		n_posted += silent;
		device_point(r, fault, silent ? any_cause : causes, &t);
	}
	if (n_posted)
		g_test_message("%s: %u of the points were posted writes, refused unseen", kind,
			       n_posted);
	tally_report(&t, kind);
}

/* Hardware logging (port 0 without sw-live-migration: the VF logs): the
 * device dropped at each message of a bring-up (LOG_ALL then comes while
 * the port is failed, and the port starts again when the device is back),
 * and each message of the switchover refused. */
static void test_device_hw(void)
{
	g_autoptr(FaultRig) r = fault_rig_new_hw();
	g_autoptr(GArray) posted = NULL;
	Tally t;
	Marks m;

	tally_init(&t);
	count_marks(r, &m);
	posted = fault_rig_emu_posted(r);
	for (guint64 n = m.at[PHASE_BRINGUP] + 1; n <= m.at[PHASE_STOP]; n++) {
		gboolean drop = n <= m.at[PHASE_SWITCH];
		g_autofree char *fault = g_strdup_printf("%s=%" G_GUINT64_FORMAT,
							 drop ? "drop-at" : "fail-at", n);
		gboolean silent = !drop && g_array_index(posted, gboolean, n);

		if (g_getenv("FAULT_ONLY") && !g_str_equal(g_getenv("FAULT_ONLY"), fault))
			continue;
		device_point(r, fault, drop ? drop_causes : silent ? any_cause : fail_causes, &t);
	}
	tally_report(&t, "hw");
}

static void test_device_delay(void)
{
	g_autoptr(FaultRig) r = fault_rig_new();
	Tally t;
	Marks m;

	tally_init(&t);
	count_marks(r, &m);
	for (guint p = 0; p < PHASE_COUNT; p++) {
		/* past the helper's request timeout (VFIO_DEV_DEFAULT_TIMEOUT_MS) */
		g_autofree char *fault = g_strdup_printf("delay-ms=6000,delay-at=%" G_GUINT64_FORMAT,
							 m.at[p] + 1);

		device_point(r, fault, delay_causes, &t);
	}
	tally_report(&t, "delay");
}

static const char *const frontend_causes[] = { "frontend", NULL };

static void test_frontend_sweep(void)
{
	g_autoptr(FaultRig) r = fault_rig_new();
	FaultGuest g;
	unsigned total;
	Tally t;

	tally_init(&t);
	fault_guest_init(&g);
	g_assert_cmpuint(scenario(r, &g, dp_proc_log_size(r->helper), NULL), ==, 0);
	total = g.fe.sent;
	fault_guest_fini(&g);
	fault_rig_check_clean(r, "fault-free run");
	g_test_message("the scenario sends %u vhost-user messages", total);
	for (unsigned n = 1; n <= total; n++) {
		g_autofree char *point = g_strdup_printf("frontend closes at message %u", n);
		gsize off = dp_proc_log_size(r->helper);

		fault_guest_init(&g);
		g.fe.close_at = n;
		(void)scenario(r, &g, off, NULL);
		fault_guest_fini(&g);
		fault_rig_wait_gone(r, off, point);
		check_states(r, off, frontend_causes, point, &t);
		fault_rig_fresh_frontend(r);
		fault_rig_check_clean(r, point);
	}
	tally_report(&t, "frontend");
}

/* ---- allocations failing in the helper ---- */

static const char *const alloc_causes[] = { "memory", "Cannot allocate", NULL };

static void test_alloc_sweep(void)
{
	g_autofree char *dir = g_dir_make_tmp("ifcvf-alloc-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "ctl", NULL);
	const char *shim = test_program("ALLOC_FAIL_SHIM");
	struct alloc_fault_ctl *ctl;
	g_autoptr(FaultRig) r = NULL;
	guint64 total, step;
	FaultGuest g;
	Tally t;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(ftruncate(fd, 4096), ==, 0);
	ctl = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	g_assert_true(ctl != MAP_FAILED);
	close(fd);
	r = fault_rig_new_preloaded(shim, path);
	tally_init(&t);

	/* fault-free: how many calls the scenario makes */
	fault_guest_init(&g);
	atomic_store(&ctl->fail_at, 0);
	atomic_store(&ctl->calls, 0);
	atomic_store(&ctl->pid, r->helper->pid);
	g_assert_cmpuint(scenario(r, &g, dp_proc_log_size(r->helper), NULL), ==, 0);
	fault_guest_fini(&g);
	atomic_store(&ctl->pid, 0);
	total = atomic_load(&ctl->calls);
	g_test_message("the scenario makes %" G_GUINT64_FORMAT " allocations outside GLib", total);
	g_assert_cmpuint(total, >, 0);
	fault_rig_check_clean(r, "fault-free run");
	/* every call when they are few, else a spread of them (FAULT_ALLOC_STEP) */
	step = g_getenv("FAULT_ALLOC_STEP") ? g_ascii_strtoull(g_getenv("FAULT_ALLOC_STEP"), NULL, 10)
					    : MAX(1, total / 150);
	for (guint64 n = 1; n <= total; n += step) {
		g_autofree char *point = g_strdup_printf("allocation %" G_GUINT64_FORMAT " fails", n);
		gsize off = dp_proc_log_size(r->helper);

		g_test_message("point: %s", point);
		fault_guest_init(&g);
		atomic_store(&ctl->failed, 0);
		atomic_store(&ctl->fail_at, n);
		atomic_store(&ctl->calls, 0);
		atomic_store(&ctl->pid, r->helper->pid);
		(void)scenario(r, &g, off, NULL);
		fault_guest_fini(&g);
		fault_rig_wait_gone(r, off, point);
		atomic_store(&ctl->pid, 0);
		check_states(r, off, alloc_causes, point, &t);
		fault_rig_fresh_frontend(r);
		fault_rig_check_clean(r, point);
	}
	tally_report(&t, "alloc");
	munmap(ctl, 4096);
	(void)unlink(path);
	(void)rmdir(dir);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_data_func("/fault/device/fail", "fail-at", test_device_sweep);
	g_test_add_data_func("/fault/device/drop", "drop-at", test_device_sweep);
	g_test_add_func("/fault/device/delay", test_device_delay);
	g_test_add_func("/fault/device/hw", test_device_hw);
	g_test_add_func("/fault/frontend", test_frontend_sweep);
	g_test_add_func("/fault/alloc", test_alloc_sweep);
	return g_test_run();
}

/* Footprint of ifcvf-helper against the least a DPDK vhost-user backend
 * costs (bench/min-vhost: the helper's EAL arguments and N vhost-user
 * sockets, nothing else), with 1 and 8 ports, in one invocation, for the
 * helper run by hand (`--bus none`) and as the hook starts it (with
 * `--libvirt-uri qemu:///system --uuid U` too; idle, so libvirt is loaded
 * only by a helper that connects at start):
 *   RSS, PSS and private dirty
 *                 /proc/PID/smaps_rollup, a second after ready (idle)
 *   threads       /proc/PID/status
 *   objects       shared objects mapped (distinct .so paths in
 *                 /proc/PID/maps), of which DPDK drivers (pmds-*)
 *   children      the helper's child processes (its sentinel) and their
 *                 RSS, PSS and private dirty, summed: per VM they cost too
 *   start         from fork to the last vhost-user socket appearing
 *                 (the helper binds and listens on it in one step)
 * The helper runs `run --bus none` with one ifcvf-emu per port (started
 * before the clock). Each figure is measured REPEATS times (default 3):
 * median and min-max. Not a test: nothing passes or fails on these numbers.
 *
 * usage: footprint EMU HELPER MIN-VHOST [REPEATS] [--maps]
 *   --maps: also list the shared objects the helper maps (1 port, as the
 *           hook starts it)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-proc.h"

#define MAX_PORTS 8
#define MAX_REPEATS 20

enum fig { F_RSS, F_PSS, F_DIRTY, F_THREADS, F_OBJECTS, F_PMDS, F_KIDS, F_KID_RSS, F_KID_PSS,
	   F_KID_DIRTY, F_START_US, FIGS };

static const char *const fig_name[FIGS] = { "RSS kB", "PSS kB", "private dirty kB", "threads",
					     "shared objects", "of which DPDK drivers",
					     "child processes", "children's RSS kB",
					     "children's PSS kB", "children's priv. dirty kB",
					     "start to ready us" };

/* the hook's arguments (hook-helper.c), for the helper as it starts it */
#define HOOK_URI "qemu:///system"
#define HOOK_UUID "0a1b2c3d-4e5f-4061-8293-a4b5c6d7e8f9"

static void die(const char *what)
{
	fprintf(stderr, "footprint: %s: %s\n", what, strerror(errno));
	exit(1);
}

static long long field(const char *path, const char *key)
{
	char line[512];
	long long v = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		die(path);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key))) {
			v = strtoll(line + strlen(key), NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* distinct shared objects in /proc/PID/maps, and how many are DPDK drivers */
static void objects(pid_t pid, long long *n, long long *pmds, bool list)
{
	char path[64], line[1024], seen[512][256];
	unsigned count = 0, drivers = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "r");
	if (!f)
		die(path);
	while (fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '/');
		bool dup = false;

		if (!p || !strstr(p, ".so"))
			continue;
		p[strcspn(p, "\n")] = '\0';
		for (unsigned i = 0; i < count && !dup; i++)
			dup = !strcmp(seen[i], p);
		if (dup || count == 512)
			continue;
		snprintf(seen[count++], sizeof(seen[0]), "%s", p);
		if (strstr(p, "/pmds-"))
			drivers++;
		if (list)
			printf("    %s\n", p);
	}
	fclose(f);
	*n = count;
	*pmds = drivers;
}

/* wait until every socket in @socks exists (polled every 100 us, 20 s at
 * most); returns the time it was seen, or -1 (said on stderr): the caller
 * cleans up and exits */
static long long wait_sockets(char socks[][128], unsigned n, pid_t pid)
{
	for (long long end = bench_now_ns() + 20000000000LL; bench_now_ns() < end;) {
		unsigned ready = 0;
		struct stat st;

		for (unsigned i = 0; i < n; i++)
			ready += stat(socks[i], &st) == 0 && S_ISSOCK(st.st_mode);
		if (ready == n)
			return bench_now_ns();
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			fprintf(stderr, "footprint: the program to listen on %s exited before it did\n",
				socks[0]);
			return -1;
		}
		usleep(100);
	}
	fprintf(stderr, "footprint: the sockets did not appear within 20 s\n");
	return -1;
}

/* the helper's log on stderr, when it did not come up */
static void show_log(const char *log)
{
	char buf[4096];
	size_t n;
	FILE *f = fopen(log, "r");

	if (!f)
		return;
	fprintf(stderr, "footprint: %s:\n", log);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(f);
}

/* the children of @pid (its sentinel): how many, and their memory summed */
static void children(pid_t pid, long long *v)
{
	char path[64];
	FILE *f;
	int kid;

	v[F_KIDS] = v[F_KID_RSS] = v[F_KID_PSS] = v[F_KID_DIRTY] = 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	if (!(f = fopen(path, "r")))
		die(path);
	while (fscanf(f, "%d", &kid) == 1) {
		snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", kid);
		v[F_KIDS]++;
		v[F_KID_RSS] += field(path, "Rss:");
		v[F_KID_PSS] += field(path, "Pss:");
		v[F_KID_DIRTY] += field(path, "Private_Dirty:");
	}
	fclose(f);
}

static void measure(pid_t pid, long long t0, long long ready, long long *v, bool list)
{
	char path[64];

	v[F_START_US] = (ready - t0) / 1000;
	usleep(1000 * 1000);   /* idle */
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	v[F_RSS] = field(path, "Rss:");
	v[F_PSS] = field(path, "Pss:");
	v[F_DIRTY] = field(path, "Private_Dirty:");
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	v[F_THREADS] = field(path, "Threads:");
	objects(pid, &v[F_OBJECTS], &v[F_PMDS], list);
	children(pid, v);
}

/* @hook: with the arguments the hook adds (--libvirt-uri, --uuid) */
static void run_helper(const char *emu, const char *helper, unsigned ports, bool hook, long long *v,
		       bool list)
{
	char dir[] = "/tmp/ifcvf-bench-fp-XXXXXX", vf[MAX_PORTS][128], vu[MAX_PORTS][128];
	char port_arg[MAX_PORTS][300], log[160];
	char *argv[8 + 2 * MAX_PORTS + 1];
	pid_t emus[MAX_PORTS], h;
	unsigned a = 0;
	long long t0, ready;

	if (!mkdtemp(dir))
		die("mkdtemp");
	snprintf(log, sizeof(log), "%s/helper.log", dir);
	for (unsigned i = 0; i < ports; i++) {
		snprintf(vf[i], sizeof(vf[i]), "%s/vf%u.sock", dir, i);
		snprintf(vu[i], sizeof(vu[i]), "%s/vu%u.sock", dir, i);
		snprintf(port_arg[i], sizeof(port_arg[i]), "device=vfio-user:%s,socket=%s", vf[i], vu[i]);
		emus[i] = bench_spawn((char *[]){ (char *)emu, "--socket", vf[i], NULL }, NULL);
	}
	for (unsigned i = 0; i < ports; i++)
		bench_wait_socket(vf[i], emus[i]);
	argv[a++] = (char *)helper;
	argv[a++] = "run";
	argv[a++] = "--bus";
	argv[a++] = "none";
	if (hook) {
		argv[a++] = "--uuid";
		argv[a++] = HOOK_UUID;
		argv[a++] = "--libvirt-uri";
		argv[a++] = HOOK_URI;
	}
	for (unsigned i = 0; i < ports; i++) {
		argv[a++] = "--port";
		argv[a++] = port_arg[i];
	}
	argv[a] = NULL;
	t0 = bench_now_ns();
	h = bench_spawn(argv, log);
	ready = wait_sockets(vu, ports, h);
	if (ready >= 0)
		measure(h, t0, ready, v, list);
	else
		show_log(log);
	bench_stop(h);
	for (unsigned i = 0; i < ports; i++) {
		bench_stop(emus[i]);
		unlink(vf[i]);
		unlink(vu[i]);
	}
	unlink(log);
	rmdir(dir);
	if (ready < 0)
		exit(1);
}

static void run_min(const char *min, unsigned ports, long long *v)
{
	char dir[] = "/tmp/ifcvf-bench-fp-XXXXXX", vu[MAX_PORTS][128];
	char *argv[2 + MAX_PORTS];
	long long t0, ready;
	pid_t pid;

	if (!mkdtemp(dir))
		die("mkdtemp");
	argv[0] = (char *)min;
	for (unsigned i = 0; i < ports; i++) {
		snprintf(vu[i], sizeof(vu[i]), "%s/vu%u.sock", dir, i);
		argv[1 + i] = vu[i];
	}
	argv[1 + ports] = NULL;
	t0 = bench_now_ns();
	pid = bench_spawn(argv, NULL);
	ready = wait_sockets(vu, ports, pid);
	if (ready >= 0)
		measure(pid, t0, ready, v, false);
	bench_stop(pid);
	for (unsigned i = 0; i < ports; i++)
		unlink(vu[i]);
	rmdir(dir);
	if (ready < 0)
		exit(1);
}

/* "median (min-max)" of @v[0..n) */
static void spread(long long *v, unsigned n, char *buf, size_t len)
{
	qsort(v, n, sizeof(*v), bench_cmp_ll);
	snprintf(buf, len, "%lld (%lld-%lld)", v[n / 2], v[0], v[n - 1]);
}

static void print_table(const char *title, unsigned ports, unsigned reps,
			long long ours[][FIGS], long long anchor[][FIGS])
{
	printf("footprint, %u port%s, %s, %u repeats: median (min-max)\n", ports,
	       ports > 1 ? "s" : "", title, reps);
	printf("  %-28s %-28s %-28s %s\n", "figure", "ifcvf-helper", "min-vhost (EAL+vhost)",
	       "ratio of medians");
	for (unsigned f = 0; f < FIGS; f++) {
		long long o[MAX_REPEATS], m[MAX_REPEATS];
		char so[64], sm[64];

		for (unsigned k = 0; k < reps; k++) {
			o[k] = ours[k][f];
			m[k] = anchor[k][f];
		}
		spread(o, reps, so, sizeof(so));
		spread(m, reps, sm, sizeof(sm));
		if (m[reps / 2] > 0)
			printf("  %-28s %-28s %-28s %.2f\n", fig_name[f], so, sm,
			       (double)o[reps / 2] / (double)m[reps / 2]);
		else
			printf("  %-28s %-28s %-28s -\n", fig_name[f], so, sm);
	}
}

int main(int argc, char **argv)
{
	static const unsigned port_counts[] = { 1, 8 };
	long long ours[MAX_REPEATS][FIGS], hook[MAX_REPEATS][FIGS], anchor[MAX_REPEATS][FIGS];
	unsigned reps = 3;
	bool list = false;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 4; i < argc; i++) {
		if (!strcmp(argv[i], "--maps"))
			list = true;
		else
			reps = (unsigned)strtoul(argv[i], NULL, 0);
	}
	if (argc < 4 || reps < 1 || reps > MAX_REPEATS) {
		fprintf(stderr, "usage: %s EMU HELPER MIN-VHOST [REPEATS<=20] [--maps]\n", argv[0]);
		return 2;
	}
	for (unsigned pc = 0; pc < 2; pc++) {
		unsigned ports = port_counts[pc];

		if (list && ports == 1)
			printf("shared objects ifcvf-helper maps with 1 port, as the hook starts it:\n");
		/* alternate, so that a busy moment hits all alike */
		for (unsigned k = 0; k < reps; k++) {
			run_helper(argv[1], argv[2], ports, false, ours[k], false);
			run_helper(argv[1], argv[2], ports, true, hook[k],
				   list && ports == 1 && k == 0);
			run_min(argv[3], ports, anchor[k]);
		}
		print_table("--bus none", ports, reps, ours, anchor);
		print_table("as the hook starts it (--libvirt-uri " HOOK_URI ")", ports, reps, hook,
			    anchor);
	}
	return 0;
}

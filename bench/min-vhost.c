/* The footprint anchor for bench/footprint: the least a DPDK vhost-user
 * backend costs. DPDK's EAL started with the arguments ifcvf-helper gives it
 * (src/helper/eal.c: no hugepages, 128 MB, no PCI, no shared config, no
 * telemetry, lcore 0 on the CPUs of the current affinity, vhost and EAL
 * logs at warning), then one vhost-user socket registered and started per
 * argument, and nothing else until SIGINT or SIGTERM.
 *
 * usage: min-vhost SOCKET...
 */
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_vhost.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

/* "0@(a,b,...)", as the helper builds it */
static void lcores_arg(char *buf, size_t len)
{
	cpu_set_t set;
	size_t off;

	off = (size_t)snprintf(buf, len, "0@(");
	if (sched_getaffinity(0, sizeof(set), &set) < 0) {
		snprintf(buf, len, "0@0");
		return;
	}
	for (int cpu = 0; cpu < CPU_SETSIZE && off + 8 < len; cpu++)
		if (CPU_ISSET(cpu, &set))
			off += (size_t)snprintf(buf + off, len - off, "%s%d", buf[off - 1] == '(' ? "" : ",", cpu);
	snprintf(buf + off, len - off, ")");
}

int main(int argc, char **argv)
{
	char prefix[64], lcores[512];

	if (argc < 2) {
		fprintf(stderr, "usage: %s SOCKET...\n", argv[0]);
		return 2;
	}
	snprintf(prefix, sizeof(prefix), "min-vhost-%d", (int)getpid());
	lcores_arg(lcores, sizeof(lcores));
	{
		char *eal_argv[] = {
			"min-vhost", "--no-huge", "-m", "128", "--no-pci", "--no-shconf",
			"--no-telemetry", "--file-prefix", prefix, "--lcores", lcores,
			"--log-level", "lib.vhost.*:warning", "--log-level", "lib.eal:warning", NULL,
		};

		if (rte_eal_init((int)(sizeof(eal_argv) / sizeof(eal_argv[0])) - 1, eal_argv) < 0) {
			fprintf(stderr, "min-vhost: rte_eal_init failed\n");
			return 1;
		}
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	for (int i = 1; i < argc; i++)
		if (rte_vhost_driver_register(argv[i], 0) < 0 || rte_vhost_driver_start(argv[i]) < 0) {
			fprintf(stderr, "min-vhost: cannot serve vhost-user on %s\n", argv[i]);
			return 1;
		}
	/* sleep(), not pause(): a signal just before it costs a second at most */
	while (!stop)
		sleep(1);
	for (int i = 1; i < argc; i++) {
		(void)rte_vhost_driver_unregister(argv[i]);
		unlink(argv[i]);
	}
	(void)rte_eal_cleanup();
	return 0;
}

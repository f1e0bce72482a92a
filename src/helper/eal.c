#include "eal.h"

#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>

#include "helper-error.h"

static char *runtime_dir;

/* "0@(a,b,...)": lcore 0 on every CPU of the current affinity */
static char *lcores_arg(void)
{
	GString *s = g_string_new("0@(");
	cpu_set_t set;
	gboolean first = TRUE;

	if (sched_getaffinity(0, sizeof(set), &set) < 0) {
		g_string_free(s, TRUE);
		return g_strdup("0@0");
	}
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		g_string_append_printf(s, first ? "%d" : ",%d", cpu);
		first = FALSE;
	}
	g_string_append_c(s, ')');
	return g_string_free(s, FALSE);
}

gboolean ifcvf_eal_init(gboolean verbose, GError **error)
{
	g_autofree char *prefix = g_strdup_printf("ifcvf-helper-%d", (int)getpid());
	g_autofree char *lcores = lcores_arg();
	/* rte_eal_init() permutes argv; keep our own copy of the pointers */
	char *argv[] = {
		"ifcvf-helper", "--no-huge", "-m", "128", "--no-pci", "--no-shconf",
		"--no-telemetry", "--file-prefix", prefix, "--lcores", lcores,
		"--log-level", verbose ? "lib.vhost.*:info" : "lib.vhost.*:warning",
		"--log-level", verbose ? "lib.eal:info" : "lib.eal:warning",
		NULL,
	};
	int argc = (int)G_N_ELEMENTS(argv) - 1;

	(void)rte_openlog_stream(stderr);
	if (rte_eal_init(argc, argv) < 0) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_FAILED,
			    "cannot start DPDK's EAL: %s", rte_strerror(rte_errno));
		return FALSE;
	}
	runtime_dir = g_strdup(rte_eal_get_runtime_dir());
	g_debug("EAL: TSC at %" G_GUINT64_FORMAT " Hz", (guint64)rte_get_tsc_hz());
	return TRUE;
}

void ifcvf_eal_cleanup(void)
{
	(void)rte_eal_cleanup();
	/* with --no-shconf nothing is left inside; drop the empty directory */
	if (runtime_dir)
		(void)rmdir(runtime_dir);
	g_clear_pointer(&runtime_dir, g_free);
}

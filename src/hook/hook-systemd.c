/* The helper as a transient systemd unit (see hook-systemd.h). */
#include "hook-systemd.h"

#include "helper-error.h"
#include "hook-spawn.h"

/* systemd-run returns once the helper is exec'd (Type=exec) */
#define SYSTEMD_RUN_MS 30000
#define SYSTEMCTL_SHOW_MS 10000
/* systemctl stop returns once the unit is gone: after TimeoutStopSec at worst */
#define SYSTEMCTL_STOP_MS ((HOOK_SYSTEMD_STOP_SEC + 15) * 1000)

gboolean hook_systemd_booted(void)
{
	return g_file_test("/run/systemd/system", G_FILE_TEST_IS_DIR);
}

char *hook_systemd_unit_name(const char *uuid)
{
	return g_strdup_printf("ifcvf-helper-%s.service", uuid);
}

GStrv hook_systemd_run_argv(const HookSystemd *sd, const char *unit, const char *description,
			    const char *const *command)
{
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();
	g_autofree char *unit_arg = g_strconcat("--unit=", unit, NULL);
	g_autofree char *desc_arg = g_strconcat("--description=", description, NULL);
	g_autofree char *stop_arg = g_strdup_printf("--property=TimeoutStopSec=%d",
						    HOOK_SYSTEMD_STOP_SEC);

	g_strv_builder_add_many(b, sd->systemd_run, unit_arg, desc_arg,
				"--quiet", "--no-ask-password",
				/* started = exec'd; the hook itself waits until it serves */
				"--property=Type=exec",
				/* SIGTERM to the helper, SIGKILL to all that is left */
				"--property=KillMode=mixed", stop_arg,
				/* a crash restarts it at once (`systemctl stop` does not),
				 * but not forever: the same limits as hook-supervise.h */
				"--property=Restart=on-failure",
				"--property=RestartSec=" G_STRINGIFY(HOOK_SYSTEMD_RESTART_MS) "ms",
				"--property=StartLimitIntervalSec=" G_STRINGIFY(HOOK_SYSTEMD_LIMIT_SEC),
				"--property=StartLimitBurst=" G_STRINGIFY(HOOK_SYSTEMD_LIMIT_BURST),
				/* a failed helper leaves no unit behind that blocks the name */
				"--collect",
				"--", NULL);
	g_strv_builder_addv(b, (const char **)command);
	return g_strv_builder_end(b);
}

gboolean hook_systemd_main_pid(const HookSystemd *sd, const char *unit, pid_t *ret_pid,
			       GError **error)
{
	const char *argv[] = { sd->systemctl, "show", "--property=MainPID", "--value", unit, NULL };
	g_autofree char *out = NULL;
	guint64 pid = 0;

	if (!hook_run_bounded(argv, SYSTEMCTL_SHOW_MS, &out, error))
		return FALSE;
	g_strstrip(out);
	if (!g_ascii_string_to_unsigned(out, 10, 0, G_MAXINT, &pid, NULL)) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_FAILED,
			    "systemctl show %s: MainPID '%s' is not a pid", unit, out);
		return FALSE;
	}
	*ret_pid = (pid_t)pid;
	return TRUE;
}

gboolean hook_systemd_start(const HookSystemd *sd, const char *unit, const char *description,
			    const char *const *command, pid_t *ret_pid, GError **error)
{
	g_auto(GStrv) argv = hook_systemd_run_argv(sd, unit, description, command);

	if (!hook_run_bounded((const char *const *)argv, SYSTEMD_RUN_MS, NULL, error))
		return FALSE;
	return hook_systemd_main_pid(sd, unit, ret_pid, error);
}

gboolean hook_systemd_stop(const HookSystemd *sd, const char *unit, GError **error)
{
	const char *argv[] = { sd->systemctl, "stop", "--no-ask-password", unit, NULL };

	return hook_run_bounded(argv, SYSTEMCTL_STOP_MS, NULL, error);
}

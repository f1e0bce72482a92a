/* `ifcvf-helper hook supervise ARGS-FILE`: what the hook's detached
 * process runs when systemd does not supervise the helper. It runs
 * `ifcvf-helper hook exec ARGS-FILE` (which takes the VF locks and becomes
 * `run`) as its child and restarts it when it dies of a signal or exits
 * non-zero: after 100 ms, doubling up to 5 s for each quick failure, back
 * to 100 ms once a run lasted 30 s; at most 5 starts within 30 s (the
 * start limit, as the systemd unit's StartLimitBurst/IntervalSec), then it
 * gives up and exits 1. Each restart is logged as
 * "restart N after <cause>". SIGTERM, SIGINT or SIGHUP is passed to the
 * child; the supervisor exits with it and restarts nothing. The child gets
 * SIGKILL should the supervisor die (PR_SET_PDEATHSIG): a SIGKILLed
 * supervisor leaves no helper. The VF locks belong to the child alone, so
 * a restarted `hook exec` takes them again once the kernel released the
 * dead helper's.
 *
 * The environment variable HOOK_SUPERVISE_LIMITS_ENV
 * ("stable-ms=N,burst=N,interval-ms=N", any subset) changes the run length
 * that resets the back-off and the start limit: for a soak test that kills
 * the helper every few seconds and measures each restart from 100 ms, not
 * for production (systemd's unit has fixed limits too).
 *
 * Plain C, no GLib main loop: it lives as long as the VM. Threads: one. */
#pragma once

#define HOOK_SUPERVISE_BACKOFF_MIN_MS 100
#define HOOK_SUPERVISE_BACKOFF_MAX_MS 5000
/* a run this long resets the back-off */
#define HOOK_SUPERVISE_STABLE_MS 30000
/* the start limit: this many starts within the interval */
#define HOOK_SUPERVISE_LIMIT_BURST 5
#define HOOK_SUPERVISE_LIMIT_INTERVAL_MS 30000
/* the largest burst HOOK_SUPERVISE_LIMITS_ENV may set */
#define HOOK_SUPERVISE_LIMIT_BURST_MAX 1024
#define HOOK_SUPERVISE_LIMITS_ENV "IFCVF_HELPER_SUPERVISE_LIMITS"

/* @self: the ifcvf-helper binary (an absolute path). Returns the exit status. */
int hook_supervise_main(const char *self, const char *args_path);

/* The restarting parent of a detached helper (see hook-supervise.h). */
#include "hook-supervise.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char stamp[64] = "";
	struct timespec now;
	struct tm tm;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &now);
	if (gmtime_r(&now.tv_sec, &tm))
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ ", &tm);
	fprintf(stderr, "%sifcvf-helper hook supervise: ", stamp);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void describe(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(buf, len, "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
}

static pid_t start(const char *self, const char *args_path, const sigset_t *old_mask)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	/* the helper goes with the supervisor, even a SIGKILLed one */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);
	sigprocmask(SIG_SETMASK, old_mask, NULL);
	execl(self, self, "hook", "exec", args_path, (char *)NULL);
	fprintf(stderr, "ifcvf-helper hook supervise: cannot execute %s: %s\n", self,
		strerror(errno));
	_exit(127);
}

/* Wait up to @ms (forever when < 0) for a signal in @set; 0 when none came. */
static int wait_signal(const sigset_t *set, long long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
	int sig;

	do
		sig = ms < 0 ? sigwaitinfo(set, NULL) : sigtimedwait(set, NULL, &ts);
	while (sig < 0 && errno == EINTR);
	return sig < 0 ? 0 : sig;
}

struct limits {
	long long stable_ms, interval_ms;
	unsigned int burst;
};

/* HOOK_SUPERVISE_LIMITS_ENV over the defaults; a bad value is named and
 * the defaults stay. */
static void read_limits(struct limits *l)
{
	const char *env = getenv(HOOK_SUPERVISE_LIMITS_ENV);
	char buf[128], *save = NULL;

	l->stable_ms = HOOK_SUPERVISE_STABLE_MS;
	l->interval_ms = HOOK_SUPERVISE_LIMIT_INTERVAL_MS;
	l->burst = HOOK_SUPERVISE_LIMIT_BURST;
	if (!env || !*env)
		return;
	snprintf(buf, sizeof(buf), "%s", env);
	for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '='), *end = NULL;
		long long v = eq ? strtoll(eq + 1, &end, 10) : -1;

		if (!eq || end == eq + 1 || *end || v < 0) {
			say("%s: '%s' is not KEY=NUMBER; ignored", HOOK_SUPERVISE_LIMITS_ENV, kv);
			continue;
		}
		*eq = '\0';
		if (!strcmp(kv, "stable-ms"))
			l->stable_ms = v;
		else if (!strcmp(kv, "interval-ms"))
			l->interval_ms = v;
		else if (!strcmp(kv, "burst") && v >= 1 && v <= HOOK_SUPERVISE_LIMIT_BURST_MAX)
			l->burst = (unsigned int)v;
		else
			say("%s: %s=%lld is not a known key or out of range; ignored",
			    HOOK_SUPERVISE_LIMITS_ENV, kv, v);
	}
	say("limits from %s: a run of %lld ms resets the back-off, at most %u starts within %lld ms",
	    HOOK_SUPERVISE_LIMITS_ENV, l->stable_ms, l->burst, l->interval_ms);
}

int hook_supervise_main(const char *self, const char *args_path)
{
	long long starts[HOOK_SUPERVISE_LIMIT_BURST_MAX] = { 0 };
	long long delay = HOOK_SUPERVISE_BACKOFF_MIN_MS;
	struct limits lim;
	unsigned int restarts = 0;
	int stop_sig = 0;
	sigset_t set, old_mask;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, &old_mask);
	read_limits(&lim);
	for (unsigned int n = 0;; n++) {
		long long started = now_ms();
		char cause[96];
		int status = 0;
		pid_t pid, got;

		starts[n % lim.burst] = started;
		pid = start(self, args_path, &old_mask);
		if (pid < 0) {
			say("cannot start the helper: fork: %s", strerror(errno));
			return 1;
		}
		for (;;) {
			int sig = wait_signal(&set, -1);

			if (sig && sig != SIGCHLD) {
				stop_sig = sig;
				(void)kill(pid, SIGTERM);
				continue;
			}
			do
				got = waitpid(pid, &status, WNOHANG);
			while (got < 0 && errno == EINTR);
			if (got == pid)
				break;
		}
		if (stop_sig)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			return 0;
		describe(status, cause, sizeof(cause));
		if (now_ms() - started >= lim.stable_ms)
			delay = HOOK_SUPERVISE_BACKOFF_MIN_MS;
		/* the oldest of the last BURST starts: within the interval, the limit is hit */
		if (n + 1 >= lim.burst && now_ms() - starts[(n + 1) % lim.burst] < lim.interval_ms) {
			say("the helper failed (%s) after %u starts within %lld s: start limit hit, "
			    "not restarting it", cause, lim.burst, lim.interval_ms / 1000);
			return 1;
		}
		/* a SIGTERM during the back-off: stop here */
		stop_sig = wait_signal(&set, delay);
		while (stop_sig == SIGCHLD)
			stop_sig = wait_signal(&set, delay);
		if (stop_sig)
			return 0;
		restarts++;
		say("restart %u after %s", restarts, cause);
		delay = delay * 2 > HOOK_SUPERVISE_BACKOFF_MAX_MS ? HOOK_SUPERVISE_BACKOFF_MAX_MS :
								    delay * 2;
	}
}

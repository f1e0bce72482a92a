/* The restarting parent of a detached helper (see hook-supervise.h). */
#include "hook-supervise.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
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

int hook_supervise_main(const char *self, const char *args_path)
{
	long long starts[HOOK_SUPERVISE_LIMIT_BURST] = { 0 };
	long long delay = HOOK_SUPERVISE_BACKOFF_MIN_MS;
	unsigned int restarts = 0;
	int stop_sig = 0;
	sigset_t set, old_mask;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, &old_mask);
	for (unsigned int n = 0;; n++) {
		long long started = now_ms();
		char cause[96];
		int status = 0;
		pid_t pid, got;

		starts[n % HOOK_SUPERVISE_LIMIT_BURST] = started;
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
		if (now_ms() - started >= HOOK_SUPERVISE_STABLE_MS)
			delay = HOOK_SUPERVISE_BACKOFF_MIN_MS;
		/* the oldest of the last BURST starts: within the interval, the limit is hit */
		if (n + 1 >= HOOK_SUPERVISE_LIMIT_BURST &&
		    now_ms() - starts[(n + 1) % HOOK_SUPERVISE_LIMIT_BURST] <
			    HOOK_SUPERVISE_LIMIT_INTERVAL_MS) {
			say("the helper failed (%s) after %d starts within %d s: start limit hit, "
			    "not restarting it", cause, HOOK_SUPERVISE_LIMIT_BURST,
			    HOOK_SUPERVISE_LIMIT_INTERVAL_MS / 1000);
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

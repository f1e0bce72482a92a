/* Interrupting a call stuck on a client (see emu-stall.h). */
#include "emu-stall.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

static pthread_t main_thread, watchdog_thread;
static bool running;
static atomic_bool stopping;
/* odd while the main thread is inside a marked call */
static atomic_uint_fast64_t seq;
static atomic_bool interrupted;

static int stall_signal(void)
{
	return SIGRTMIN + 1;
}

static void on_signal(int sig)
{
	(void)sig;
	/* nothing: being delivered is what makes the call return EINTR */
}

static void *watchdog(void *arg)
{
	const struct timespec tick = { .tv_sec = EMU_STALL_TICK_MS / 1000,
				       .tv_nsec = (EMU_STALL_TICK_MS % 1000) * 1000000L };
	uint_fast64_t last = 0;

	(void)arg;
	while (!atomic_load(&stopping)) {
		uint_fast64_t now;

		nanosleep(&tick, NULL);
		now = atomic_load(&seq);
		if ((now & 1) && now == last) {
			atomic_store(&interrupted, true);
			pthread_kill(main_thread, stall_signal());
		}
		last = now;
	}
	return NULL;
}

int emu_stall_start(struct cerr *e)
{
	struct sigaction sa;
	sigset_t set;
	int r;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* no SA_RESTART: the interrupted write must come back */
	if (sigaction(stall_signal(), &sa, NULL) < 0)
		return cerr_set(e, errno, "cannot install the stall handler: %s", strerror(errno));
	sigemptyset(&set);
	sigaddset(&set, stall_signal());
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	main_thread = pthread_self();
	atomic_store(&stopping, false);
	r = pthread_create(&watchdog_thread, NULL, watchdog, NULL);
	if (r)
		return cerr_set(e, r, "cannot start the stall watchdog: %s", strerror(r));
	running = true;
	return 0;
}

void emu_stall_stop(void)
{
	if (!running)
		return;
	atomic_store(&stopping, true);
	/* cut its sleep short (it has the signal unblocked too) */
	pthread_kill(watchdog_thread, stall_signal());
	pthread_join(watchdog_thread, NULL);
	running = false;
}

void emu_stall_enter(void)
{
	atomic_fetch_add(&seq, 1);
}

void emu_stall_leave(void)
{
	atomic_fetch_add(&seq, 1);
}

bool emu_stall_take(void)
{
	return atomic_exchange(&interrupted, false);
}

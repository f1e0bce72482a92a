/* Mapped doorbells and their adaptive poller (see emu-doorbell.h). */
#include "emu-doorbell.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint16_t *word(struct emu_doorbell *db, unsigned q)
{
	return (uint16_t *)(db->map + db->notify_off + (size_t)q * db->mult);
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/* Poller: is any doorbell word not idle? Plain atomic loads, no writes. */
static bool any_rung(struct emu_doorbell *db)
{
	for (unsigned q = 0; q < db->nvq; q++)
		if (__atomic_load_n(word(db, q), __ATOMIC_ACQUIRE) != EMU_DOORBELL_IDLE)
			return true;
	return false;
}

static void stat_inc(uint64_t *v)
{
	__atomic_fetch_add(v, 1, __ATOMIC_RELAXED);
}

/* Poller: wait while no queue is enabled (bounded, to see `stop`). */
static void park(struct emu_doorbell *db)
{
	struct timespec until;

	pthread_mutex_lock(&db->lock);
	while (!__atomic_load_n(&db->armed, __ATOMIC_ACQUIRE) &&
	       !__atomic_load_n(&db->stop, __ATOMIC_ACQUIRE)) {
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += EMU_DOORBELL_PARK_MS / 1000;
		stat_inc(&db->stats.parks);
		(void)pthread_cond_timedwait(&db->cond, &db->lock, &until);
	}
	pthread_mutex_unlock(&db->lock);
}

static void nap(struct emu_doorbell *db, unsigned us)
{
	struct timespec ts = { .tv_nsec = (long)us * 1000 };

	stat_inc(&db->stats.sleeps);
	(void)nanosleep(&ts, NULL);
}

static void *poller_main(void *opaque)
{
	struct emu_doorbell *db = opaque;
	uint64_t last = 0;        /* when a doorbell was last seen */
	unsigned sleep_us = EMU_DOORBELL_NAP_US;

	/* naps of tens of µs mean nothing with the default 50 µs slack */
	(void)prctl(PR_SET_TIMERSLACK, 5000UL, 0, 0, 0);
	while (!__atomic_load_n(&db->stop, __ATOMIC_ACQUIRE)) {
		uint64_t now, idle;

		if (!__atomic_load_n(&db->armed, __ATOMIC_ACQUIRE)) {
			park(db);
			/* a queue was just enabled: its first kick is near */
			last = now_ns();
			continue;
		}
		/* a word left rung while the main thread has not drained yet
		 * (pending) is not new activity: no second signal, no spin */
		if (!__atomic_load_n(&db->pending, __ATOMIC_ACQUIRE) && any_rung(db) &&
		    !__atomic_exchange_n(&db->pending, 1, __ATOMIC_ACQ_REL)) {
			uint64_t one = 1;

			stat_inc(&db->stats.signals);
			if (write(db->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
				fprintf(stderr, "ifcvf-emu: doorbell poller: eventfd write: %s\n",
					strerror(errno));
			last = now_ns();
			sleep_us = EMU_DOORBELL_NAP_US;
			continue;
		}
		now = now_ns();
		idle = now > last ? now - last : 0;
		if (idle < EMU_DOORBELL_SPIN_US * 1000ull) {
			for (int i = 0; i < 32; i++)
				cpu_relax();
		} else if (idle < EMU_DOORBELL_WARM_MS * 1000000ull) {
			nap(db, EMU_DOORBELL_NAP_US);
		} else {
			nap(db, sleep_us);
			sleep_us = sleep_us * 2 < EMU_DOORBELL_SLEEP_MAX_US ? sleep_us * 2
									  : EMU_DOORBELL_SLEEP_MAX_US;
		}
	}
	return NULL;
}

int emu_doorbell_init(struct emu_doorbell *db, const struct emu_layout *l, bool mapped,
		      struct cerr *e)
{
	const struct emu_bar *bar = &l->bar[l->virtio_bar];
	int r;

	memset(db, 0, sizeof(*db));
	db->memfd = -1;
	db->efd = -1;
	db->nvq = l->nvq;
	db->mult = l->notify_mult;
	db->notify_off = EMU_NOTIFY_OFF;
	db->notify_len = l->notify_len;
	db->map_len = (size_t)bar->size;
	db->sync_ready = true;
	pthread_mutex_init(&db->lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&db->cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	if (!mapped)
		return 0;
	db->memfd = memfd_create("ifcvf-emu-notify", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (db->memfd < 0)
		return cerr_set(e, errno, "doorbells: memfd_create: %s", strerror(errno));
	/* the client maps it only when it cannot shrink (SIGBUS), and it must
	 * not grow under our own mapping either */
	if (ftruncate(db->memfd, (off_t)db->map_len) < 0 ||
	    fcntl(db->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		r = cerr_set(e, errno, "doorbells: cannot size and seal the memfd: %s",
			     strerror(errno));
		goto fail;
	}
	db->map = mmap(NULL, db->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, db->memfd, 0);
	if (db->map == MAP_FAILED) {
		db->map = NULL;
		r = cerr_set(e, errno, "doorbells: cannot map the memfd: %s", strerror(errno));
		goto fail;
	}
	for (unsigned q = 0; q < db->nvq; q++)
		__atomic_store_n(word(db, q), EMU_DOORBELL_IDLE, __ATOMIC_RELAXED);
	db->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (db->efd < 0) {
		r = cerr_set(e, errno, "doorbells: eventfd: %s", strerror(errno));
		goto fail;
	}
	/* signals go to the main thread's signalfd, never to the poller: it
	 * starts with every signal blocked, whatever main() blocks later */
	{
		sigset_t all, old;

		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		r = pthread_create(&db->thread, NULL, poller_main, db);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (r) {
		r = cerr_set(e, r, "doorbells: cannot start the poller: %s", strerror(r));
		goto fail;
	}
	db->started = true;
	db->enabled = true;
	return 0;
fail:
	emu_doorbell_fini(db);
	return r;
}

void emu_doorbell_fini(struct emu_doorbell *db)
{
	if (db->started) {
		pthread_mutex_lock(&db->lock);
		__atomic_store_n(&db->stop, 1, __ATOMIC_RELEASE);
		pthread_cond_broadcast(&db->cond);
		pthread_mutex_unlock(&db->lock);
		pthread_join(db->thread, NULL);
		db->started = false;
	}
	if (db->map)
		munmap(db->map, db->map_len);
	db->map = NULL;
	if (db->memfd >= 0)
		close(db->memfd);
	db->memfd = -1;
	if (db->efd >= 0)
		close(db->efd);
	db->efd = -1;
	db->enabled = false;
	if (db->sync_ready) {
		pthread_cond_destroy(&db->cond);
		pthread_mutex_destroy(&db->lock);
	}
	db->sync_ready = false;
}

void emu_doorbell_arm(struct emu_doorbell *db, bool armed)
{
	if (!db->enabled || __atomic_load_n(&db->armed, __ATOMIC_RELAXED) == (int)armed)
		return;
	pthread_mutex_lock(&db->lock);
	__atomic_store_n(&db->armed, armed ? 1 : 0, __ATOMIC_RELEASE);
	if (armed)
		pthread_cond_signal(&db->cond);
	pthread_mutex_unlock(&db->lock);
}

unsigned emu_doorbell_drain(struct emu_doorbell *db,
			    void (*kick)(void *opaque, unsigned q, uint16_t value), void *opaque)
{
	unsigned n = 0;

	if (!db->enabled)
		return 0;
	/* clear first: a store after the exchange below is signalled again */
	__atomic_store_n(&db->pending, 0, __ATOMIC_SEQ_CST);
	for (unsigned q = 0; q < db->nvq; q++) {
		uint16_t v = __atomic_exchange_n(word(db, q), (uint16_t)EMU_DOORBELL_IDLE,
						 __ATOMIC_SEQ_CST);

		if (v == EMU_DOORBELL_IDLE)
			continue;
		db->stats.kicks++;
		n++;
		kick(opaque, q, v);
	}
	return n;
}

void emu_doorbell_ack(struct emu_doorbell *db)
{
	uint64_t v;

	if (db->efd >= 0)
		(void)read(db->efd, &v, sizeof(v));
}

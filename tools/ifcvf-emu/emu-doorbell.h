/* The notify area as a hardware VF has it (--doorbell mapped): the virtio
 * BAR is backed by a memfd sealed against shrinking and growing, whose
 * notify area a client maps (vfio-user sparse mmap, vfu-server.c) and
 * writes doorbells into with plain stores, and a poller thread watches the
 * doorbell words, as the VF's doorbell logic would. REGION_WRITE of a
 * doorbell keeps working (emu-virtio.c) for clients that do not map.
 *
 * A doorbell word reads EMU_DOORBELL_IDLE until a driver stores its queue
 * index into it; the main thread takes the value back out with an atomic
 * exchange (emu_doorbell_drain()), so each store is seen once and stores that
 * come before the exchange merge into one kick, as doorbells may.
 *
 * The poller is adaptive, by the time since it last saw a doorbell: for
 * EMU_DOORBELL_SPIN_US it spins (a stream of kicks costs no wake-up), until
 * EMU_DOORBELL_WARM_MS it naps EMU_DOORBELL_NAP_US between looks (traffic
 * that pauses is answered within tens of µs), and after that it sleeps,
 * from EMU_DOORBELL_NAP_US doubling up to EMU_DOORBELL_SLEEP_MAX_US (the
 * bound on how late an idle VF sees its first doorbell, and what makes an
 * idle VF cost well under 1% of a core); while no queue is enabled it does
 * not look at all (waits on a condition variable, woken by
 * emu_doorbell_arm(), with a timeout).
 *
 * Threads (who owns what):
 *  - the main thread (serves the client, runs the datapath) owns the device
 *    model and every field here but those marked "poller"/"shared": it
 *    starts and joins the poller, arms it, and is the only consumer of
 *    doorbell words, so every kick reaches the device model on the main
 *    thread, between two requests, never concurrently with one;
 *  - the poller only reads doorbell words and, when one is not idle, raises
 *    `pending` and writes the eventfd the main loop watches; it never
 *    touches device state, so a doorbell it sees cannot race a queue
 *    enable, disable, reset or suspend: those are requests the main thread
 *    serves, and it drains the doorbells before serving each request (a
 *    store the client made before sending the request is seen before the
 *    request, as PCIe orders a posted doorbell write before a later one);
 *  - the client (another process) only stores into doorbell words; so may a
 *    process it handed the fd to (a host notifier), even after it left, as
 *    anyone holding a mapping of a real BAR can. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cerr.h"
#include "emu-layout.h"

#define EMU_DOORBELL_IDLE 0xffffu
#define EMU_DOORBELL_SPIN_US 100u
#define EMU_DOORBELL_WARM_MS 20u
#define EMU_DOORBELL_NAP_US 50u
#define EMU_DOORBELL_SLEEP_MAX_US 2000u
/* while disarmed the poller still wakes this often, to see `stop` */
#define EMU_DOORBELL_PARK_MS 1000u

struct emu_doorbell_stats {
	uint64_t kicks;       /* main: doorbells taken from the mapping */
	uint64_t signals;     /* poller (shared, atomic): eventfd writes */
	uint64_t sleeps;      /* poller (shared, atomic): nanosleeps */
	uint64_t parks;       /* poller (shared, atomic): waits while disarmed */
};

struct emu_doorbell {
	bool enabled;             /* --doorbell mapped and the memfd is set up */
	int memfd;                /* the virtio BAR's backing file, -1 */
	uint8_t *map;             /* its mapping in this process */
	size_t map_len;           /* the BAR's size */
	uint32_t notify_off;      /* notify area in the BAR */
	uint32_t notify_len;
	uint32_t mult;
	unsigned nvq;
	int efd;                  /* eventfd: the poller saw a doorbell */
	pthread_t thread;
	bool started;
	bool sync_ready;          /* lock and cond initialised */
	/* shared, accessed atomically */
	int pending;              /* signalled, not yet drained */
	int stop;
	int armed;                /* some queue is enabled: look at the words */
	pthread_mutex_t lock;     /* with cond: parks the disarmed poller */
	pthread_cond_t cond;
	struct emu_doorbell_stats stats;
};

/* With @mapped, create the sealed memfd for the virtio BAR of @l, mark
 * every doorbell idle and start the poller (disarmed); without, only fill
 * @db so that the other calls do nothing. */
int emu_doorbell_init(struct emu_doorbell *db, const struct emu_layout *l, bool mapped,
		      struct cerr *e);
/* Stop and join the poller, unmap, close. */
void emu_doorbell_fini(struct emu_doorbell *db);

/* Main thread: let the poller look at the words (some queue is enabled) or
 * park it (none is). */
void emu_doorbell_arm(struct emu_doorbell *db, bool armed);

/* Main thread: take every doorbell stored since the last drain and call
 * @kick(@opaque, queue, value) for each, in queue order. Returns how many. */
unsigned emu_doorbell_drain(struct emu_doorbell *db,
			    void (*kick)(void *opaque, unsigned q, uint16_t value), void *opaque);

/* Main thread: the eventfd fired; read it so that it can fire again. */
void emu_doorbell_ack(struct emu_doorbell *db);

/* A watchdog for the one call a client can make block whatever we do: the
 * write that raises an MSI-X vector. Its eventfd is made non-blocking at
 * SET_IRQS (emu-irq.c), but O_NONBLOCK belongs to the open file the client
 * shares with us, so the client can clear it again and saturate the
 * counter; no per-call non-blocking write exists for an eventfd
 * (RWF_NOWAIT is refused, and it cannot be reopened through /proc).
 *
 * So the main thread marks such a call (emu_stall_enter/leave, two atomic
 * stores, no system call), and a watchdog thread that finds it inside the
 * same call on two ticks in a row (at most 2 × EMU_STALL_TICK_MS) sends it a
 * signal whose handler does nothing and is installed without SA_RESTART:
 * the call returns EINTR. The caller treats that as a client that blocks
 * interrupts on purpose (emu_stall_take) and drops it; signals (SIGTERM)
 * are handled again right after.
 *
 * Threads: enter/leave/take on the main thread; the watchdog thread only
 * reads the mark and signals the main thread. */
#pragma once

#include <stdbool.h>

#include "cerr.h"

#define EMU_STALL_TICK_MS 200

/* Install the handler and start the watchdog for the calling thread. */
int emu_stall_start(struct cerr *e);

/* Stop and join the watchdog (woken at once; at worst one tick). */
void emu_stall_stop(void);

void emu_stall_enter(void);
void emu_stall_leave(void);

/* Whether a marked call was interrupted since the last call (cleared). */
bool emu_stall_take(void);

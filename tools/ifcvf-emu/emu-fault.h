/* --fault fail-at=N, drop-at=N, delay-ms=M[,delay-at=N]: a schedule of
 * faults on the vfio-user conversation, for the helper's fault sweeps
 * (tests/fault). Messages are counted from 1 over every client since the
 * emulator started, as the "messages" counter of --stats-file counts them,
 * so a fault-free run tells a test which index each request of a sequence
 * gets.
 *
 * Threads: parsed by main() before anything runs; read by the thread that
 * serves the connection. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cerr.h"

struct emu_fault_schedule {
	uint64_t fail_at;   /* answer this message with an error (EIO); 0: never */
	uint64_t drop_at;   /* close the connection at this message, unanswered */
	unsigned delay_ms;  /* replies this late; 0: none */
	uint64_t delay_at;  /* only this message's reply; 0: every reply */
};

enum emu_fault_action {
	EMU_FAULT_NONE,
	EMU_FAULT_FAIL,
	EMU_FAULT_DROP,
};

/* Parse one schedule KIND into @s. Returns 1 when @kind is a schedule
 * kind, 0 when it is not (another --fault), -EINVAL with @e when it is
 * one but its value is bad. */
int emu_fault_schedule_parse(const char *kind, struct emu_fault_schedule *s, struct cerr *e);

/* What to do with message @index (1-based); sleeps first when its reply is
 * to be late, after a line on stderr (the reply is the first thing the
 * client would see). The caller says which request it failed. */
enum emu_fault_action emu_fault_schedule_take(const struct emu_fault_schedule *s, uint64_t index);

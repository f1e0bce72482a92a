/* cerr: an error carrier for the plain-C layers (src/vfio, src/ifcvf, the relay
 * core, ifcvf-emu). Those layers return 0 or a negative errno and, when the
 * caller passes a struct cerr, also say in words what failed. GLib code turns
 * the message into a GError at its first caller (helper-error.h).
 *
 * Threads: a struct cerr belongs to the caller that passed it; nothing here is
 * shared. */
#pragma once

#include <stdarg.h>
#include <stddef.h>

#define CERR_MSG_MAX 512

struct cerr {
	int code;                 /* positive errno, 0 when nothing failed */
	char msg[CERR_MSG_MAX];   /* lower-case, no trailing full stop */
};

/* Record an error and return -code, so callers can write
 * `return cerr_set(e, EINVAL, "...")`. @e may be NULL. */
int cerr_set(struct cerr *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Put "prefix: " in front of the message already recorded; returns -code. */
int cerr_prefix(struct cerr *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void cerr_clear(struct cerr *e);

#include "cerr.h"

#include <stdio.h>
#include <errno.h>
#include <string.h>

int cerr_set(struct cerr *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (code <= 0)
		code = EIO;
	if (e) {
		e->code = code;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	return -code;
}

int cerr_prefix(struct cerr *e, const char *fmt, ...)
{
	char prefix[CERR_MSG_MAX];
	char joined[2 * CERR_MSG_MAX + 2];
	va_list ap;

	if (!e)
		return -EIO;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	/* join in a buffer large enough for both, then cut to size */
	snprintf(joined, sizeof(joined), "%s: %s", prefix, e->msg);
	memcpy(e->msg, joined, sizeof(e->msg) - 1);
	e->msg[sizeof(e->msg) - 1] = '\0';
	return -(e->code > 0 ? e->code : EIO);
}

void cerr_clear(struct cerr *e)
{
	if (e) {
		e->code = 0;
		e->msg[0] = '\0';
	}
}

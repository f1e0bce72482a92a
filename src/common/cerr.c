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
	char old[CERR_MSG_MAX];
	va_list ap;

	if (!e)
		return -EIO;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	snprintf(e->msg, sizeof(e->msg), "%s: %s", prefix, old);
	return -(e->code > 0 ? e->code : EIO);
}

void cerr_clear(struct cerr *e)
{
	if (e) {
		e->code = 0;
		e->msg[0] = '\0';
	}
}

/* The helper's one GError domain, and the bridge from the plain-C layers'
 * struct cerr into it.
 *
 * Threads: any. */
#pragma once

#include <glib.h>

#include "cerr.h"

/* How `ifcvf-helper run` begins its last log line when it exits for a
 * cause (after any counter summary); the hook shows what follows as the
 * reason a helper exited at start. */
#define IFCVF_HELPER_EXIT_PREFIX "ifcvf-helper run: exiting: "

#define IFCVF_HELPER_ERROR (ifcvf_helper_error_quark())
GQuark ifcvf_helper_error_quark(void);

typedef enum {
	IFCVF_HELPER_ERROR_FAILED,        /* anything else */
	IFCVF_HELPER_ERROR_INVALID_ARGS,  /* bad address, option or value */
	IFCVF_HELPER_ERROR_NOT_SUPPORTED, /* the device cannot do what was asked */
	IFCVF_HELPER_ERROR_DEVICE,        /* the device or its transport failed */
} IfcvfHelperError;

/* Set @error from @ce, prefixed with @object (the thing that failed, e.g. a
 * device address). Returns FALSE so callers can `return`. */
gboolean ifcvf_helper_error_from_cerr(GError **error, const char *object, const struct cerr *ce);

/* Set @error (IFCVF_HELPER_ERROR_FAILED) from a printf format. Returns FALSE
 * so callers can `return ifcvf_helper_fail(...)`. */
gboolean ifcvf_helper_fail(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

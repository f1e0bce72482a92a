/* The errors of the helper's D-Bus API. Each code has a D-Bus name
 * org.ifcvf.Helper1.Error.<Name>, registered with GDBus on first use of
 * IFCVF_BUS_ERROR, so a client that uses IFCVF_BUS_ERROR gets the same codes
 * back from a remote call.
 *
 * Threads: any. */
#pragma once

#include <gio/gio.h>

#define IFCVF_BUS_ERROR (ifcvf_bus_error_quark())
GQuark ifcvf_bus_error_quark(void);

typedef enum {
	IFCVF_BUS_ERROR_FAILED,        /* Failed: anything else */
	IFCVF_BUS_ERROR_INVALID_ARGS,  /* InvalidArgs: a value the call cannot take */
	IFCVF_BUS_ERROR_UNKNOWN_MODE,  /* UnknownMode: not "hw" or "sw" */
	IFCVF_BUS_ERROR_UNKNOWN_PORT,  /* UnknownPort: no port at that object path */
	IFCVF_BUS_ERROR_NOT_SUPPORTED, /* NotSupported: the VF cannot do it */
	IFCVF_BUS_ERROR_BUSY,          /* Busy: not now, e.g. during a migration */
	IFCVF_BUS_ERROR_SHUTTING_DOWN, /* ShuttingDown: the helper is stopping */
	IFCVF_BUS_ERROR_ACCESS_DENIED, /* AccessDenied: the caller may not change state */
	IFCVF_BUS_ERROR_LAST
} IfcvfBusError;

/* Make @error one of IFCVF_BUS_ERROR's codes (a GIO error of the same
 * meaning keeps it, anything else becomes FAILED), keeping the message. */
void ifcvf_bus_error_convert(GError **error);

#include "helper-error.h"

#include <errno.h>

G_DEFINE_QUARK(ifcvf-helper-error-quark, ifcvf_helper_error)

gboolean ifcvf_helper_error_from_cerr(GError **error, const char *object, const struct cerr *ce)
{
	IfcvfHelperError code = IFCVF_HELPER_ERROR_DEVICE;

	if (ce->code == EINVAL)
		code = IFCVF_HELPER_ERROR_INVALID_ARGS;
	else if (ce->code == ENOTSUP)
		code = IFCVF_HELPER_ERROR_NOT_SUPPORTED;
	/* the vfio layer already names the device; avoid saying it twice */
	if (object && !g_str_has_prefix(ce->msg, object))
		g_set_error(error, IFCVF_HELPER_ERROR, code, "%s: %s", object, ce->msg);
	else
		g_set_error_literal(error, IFCVF_HELPER_ERROR, code, ce->msg);
	return FALSE;
}

gboolean ifcvf_helper_fail(GError **error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_propagate_error(error, g_error_new_valist(IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_FAILED,
						    fmt, ap));
	va_end(ap);
	return FALSE;
}

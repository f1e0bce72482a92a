#define G_LOG_DOMAIN "IfcvfBus"

#include "ifcvf-bus-error.h"

static const GDBusErrorEntry error_entries[] = {
	{ IFCVF_BUS_ERROR_FAILED, "org.ifcvf.Helper1.Error.Failed" },
	{ IFCVF_BUS_ERROR_INVALID_ARGS, "org.ifcvf.Helper1.Error.InvalidArgs" },
	{ IFCVF_BUS_ERROR_UNKNOWN_MODE, "org.ifcvf.Helper1.Error.UnknownMode" },
	{ IFCVF_BUS_ERROR_UNKNOWN_PORT, "org.ifcvf.Helper1.Error.UnknownPort" },
	{ IFCVF_BUS_ERROR_NOT_SUPPORTED, "org.ifcvf.Helper1.Error.NotSupported" },
	{ IFCVF_BUS_ERROR_BUSY, "org.ifcvf.Helper1.Error.Busy" },
	{ IFCVF_BUS_ERROR_SHUTTING_DOWN, "org.ifcvf.Helper1.Error.ShuttingDown" },
	{ IFCVF_BUS_ERROR_ACCESS_DENIED, "org.ifcvf.Helper1.Error.AccessDenied" },
};
G_STATIC_ASSERT(G_N_ELEMENTS(error_entries) == IFCVF_BUS_ERROR_LAST);

GQuark ifcvf_bus_error_quark(void)
{
	static gsize quark;

	g_dbus_error_register_error_domain("ifcvf-bus-error-quark", &quark, error_entries,
					   G_N_ELEMENTS(error_entries));
	return (GQuark)quark;
}

void ifcvf_bus_error_convert(GError **error)
{
	GError *e;
	int code = IFCVF_BUS_ERROR_FAILED;

	if (!error || !*error)
		return;
	e = *error;
	if (e->domain == IFCVF_BUS_ERROR)
		return;
	if (e->domain == G_IO_ERROR) {
		switch (e->code) {
		case G_IO_ERROR_INVALID_ARGUMENT:
			code = IFCVF_BUS_ERROR_INVALID_ARGS;
			break;
		case G_IO_ERROR_NOT_SUPPORTED:
			code = IFCVF_BUS_ERROR_NOT_SUPPORTED;
			break;
		case G_IO_ERROR_BUSY:
			code = IFCVF_BUS_ERROR_BUSY;
			break;
		default:
			break;
		}
	}
	e->domain = IFCVF_BUS_ERROR;
	e->code = code;
}

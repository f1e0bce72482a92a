/* src/dbus without a bus: names, UUIDs, string tables, error names, and
 * what ifcvf_bus_new() and ifcvf_bus_add_port() refuse. */
#include <gio/gio.h>
#include <string.h>

#include "ifcvf-bus.h"

#define UUID "0a1b2c3d-4e5f-4061-8293-a4b5c6d7e8f9"

static void test_uuid(void)
{
	static const struct {
		const char *in;
		const char *canonical; /* NULL: refused */
	} cases[] = {
		{ "0A1B2C3D-4E5F-4061-8293-A4B5C6D7E8F9", "0a1b2c3d-4e5f-4061-8293-a4b5c6d7e8f9" },
		{ "0a1b2c3d4e5f40618293a4b5c6d7e8f9", "0a1b2c3d-4e5f-4061-8293-a4b5c6d7e8f9" },
		{ "0a1b2c3d-4e5f-4061-8293-a4b5c6d7e8f", NULL },   /* short */
		{ "0a1b2c3d-4e5f-4061-8293-a4b5c6d7e8f90", NULL }, /* long */
		{ "0a1b2c3d4-e5f-4061-8293-a4b5c6d7e8f9", NULL },  /* dash misplaced */
		{ "0a1b2c3d-4e5f-4061-8293-a4b5c6d7e8g9", NULL },  /* not hex */
		{ "0a1b2c3d_4e5f_4061_8293_a4b5c6d7e8f9", NULL },
		{ "", NULL },
		{ "../../../../org.freedesktop.DBus", NULL },
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree char *canonical = NULL;
		g_autofree char *hex = NULL;
		g_autofree char *name = NULL;
		gboolean ok = ifcvf_bus_uuid_parse(cases[i].in, &canonical, &hex, &error);

		if (!cases[i].canonical) {
			g_assert_false(ok);
			g_assert_error(error, IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_INVALID_ARGS);
			g_assert_null(ifcvf_bus_name_for_uuid(cases[i].in, NULL));
			continue;
		}
		g_assert_no_error(error);
		g_assert_cmpstr(canonical, ==, cases[i].canonical);
		g_assert_cmpuint(strlen(hex), ==, 32);
		name = ifcvf_bus_name_for_uuid(cases[i].in, &error);
		g_assert_no_error(error);
		g_assert_cmpstr(name, ==, "org.ifcvf.Helper1.Vm_0a1b2c3d4e5f40618293a4b5c6d7e8f9");
		g_assert_true(g_dbus_is_name(name));
		g_assert_false(g_dbus_is_unique_name(name));
	}
}

static void test_port_paths(void)
{
	static const char *const bad[] = {
		"/org/ifcvf/Helper1/port", "/org/ifcvf/Helper1/port/", "/org/ifcvf/Helper1/port/01",
		"/org/ifcvf/Helper1/port/x", "/org/ifcvf/Helper1/port/1/2",
		"/org/ifcvf/Helper1/port/4294967296", "/org/ifcvf/Helper1/ports/1", NULL,
	};
	guint index = 99;

	for (guint n = 0; n < 5000; n += 997) {
		g_autofree char *path = ifcvf_bus_port_path(n);

		g_assert_true(g_variant_is_object_path(path));
		g_assert_true(ifcvf_bus_port_index_from_path(path, &index));
		g_assert_cmpuint(index, ==, n);
	}
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++)
		g_assert_false(ifcvf_bus_port_index_from_path(bad[i], &index));
}

static void test_tables(void)
{
	static const char *const states[] = { "probed", "waiting", "connected", "running",
					      "logging-hw", "relaying-sw", "stopped", "failed" };
	static const char *const phases[] = { "none", "setup", "iterating", "stop-and-copy",
					      "completed", "cancelled", "incoming", "resumed" };

	G_STATIC_ASSERT(G_N_ELEMENTS(states) == IFCVF_BUS_PORT_STATE_LAST);
	G_STATIC_ASSERT(G_N_ELEMENTS(phases) == IFCVF_BUS_MIGRATION_LAST);
	for (guint i = 0; i < G_N_ELEMENTS(states); i++) {
		IfcvfBusPortState s;

		g_assert_cmpstr(ifcvf_bus_port_state_to_string(i), ==, states[i]);
		g_assert_true(ifcvf_bus_port_state_from_string(states[i], &s));
		g_assert_cmpint(s, ==, i);
	}
	for (guint i = 0; i < G_N_ELEMENTS(phases); i++) {
		IfcvfBusMigrationPhase p;

		g_assert_cmpstr(ifcvf_bus_migration_phase_to_string(i), ==, phases[i]);
		g_assert_true(ifcvf_bus_migration_phase_from_string(phases[i], &p));
		g_assert_cmpint(p, ==, i);
	}
	g_assert_null(ifcvf_bus_port_state_to_string(IFCVF_BUS_PORT_STATE_LAST));
	g_assert_null(ifcvf_bus_migration_phase_to_string(IFCVF_BUS_MIGRATION_LAST));
	g_assert_cmpstr(ifcvf_bus_lm_mode_to_string(IFCVF_BUS_LM_MODE_SW), ==, "sw");
	g_assert_cmpstr(ifcvf_bus_device_type_to_string(IFCVF_BUS_DEVICE_BLK), ==, "blk");
	for (guint i = 0; i < 4; i++) {
		static const char *const junk[] = { "HW", "", "hw ", NULL };
		IfcvfBusLmMode m;

		g_assert_false(ifcvf_bus_lm_mode_from_string(junk[i], &m));
	}
}

static void test_error_names(void)
{
	static const char *const names[] = { "Failed", "InvalidArgs", "UnknownMode", "UnknownPort",
					     "NotSupported", "Busy", "ShuttingDown",
					     "AccessDenied" };

	G_STATIC_ASSERT(G_N_ELEMENTS(names) == IFCVF_BUS_ERROR_LAST);
	for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
		g_autoptr(GError) error = g_error_new_literal(IFCVF_BUS_ERROR, i, "x");
		g_autofree char *encoded = g_dbus_error_encode_gerror(error);
		g_autofree char *want = g_strconcat("org.ifcvf.Helper1.Error.", names[i], NULL);
		g_autoptr(GError) back = g_dbus_error_new_for_dbus_error(want, "x");

		g_assert_cmpstr(encoded, ==, want);
		g_assert_error(back, IFCVF_BUS_ERROR, (int)i);
	}
}

static void test_error_convert(void)
{
	g_autoptr(GError) busy = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_BUSY, "busy");
	g_autoptr(GError) other = g_error_new_literal(G_FILE_ERROR, G_FILE_ERROR_NOENT, "gone");
	g_autoptr(GError) ours = g_error_new_literal(IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_UNKNOWN_MODE, "m");

	ifcvf_bus_error_convert(&busy);
	ifcvf_bus_error_convert(&other);
	ifcvf_bus_error_convert(&ours);
	ifcvf_bus_error_convert(NULL);
	g_assert_error(busy, IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_BUSY);
	g_assert_error(other, IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_FAILED);
	g_assert_cmpstr(other->message, ==, "gone");
	g_assert_error(ours, IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_UNKNOWN_MODE);
}

static void test_new_refuses(void)
{
	static const struct {
		const char *bus, *name, *uuid;
	} bad[] = {
		{ "session", "vm", "not-a-uuid" },
		{ "session", "vm", "0a1b2c3d-4e5f-4061-8293-a4b5c6d7e8f" },
		{ "session", "", UUID },
		{ "session", "\xff\xfe", UUID },
		{ "foo:bar=baz", "vm", UUID },
		{ "nonsense", "vm", UUID },
		{ "unix:", "vm", UUID },
	};
	g_autofree char *long_name = g_strnfill(1025, 'a');
	g_autoptr(GError) error = NULL;
	g_autoptr(IfcvfBus) bus = NULL;

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) e = NULL;

		g_test_message("case %u", i);
		g_assert_null(ifcvf_bus_new(bad[i].bus, bad[i].name, bad[i].uuid, &e));
		g_assert_error(e, IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_INVALID_ARGS);
		g_test_message("refused as expected: %s", e->message);
	}
	g_assert_null(ifcvf_bus_new("session", long_name, UUID, &error));
	g_assert_error(error, IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_INVALID_ARGS);
	g_clear_error(&error);

	bus = ifcvf_bus_new("unix:path=/nonexistent", "vm", UUID, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(ifcvf_bus_get_name(bus), ==,
			"org.ifcvf.Helper1.Vm_0a1b2c3d4e5f40618293a4b5c6d7e8f9");
	g_assert_false(ifcvf_bus_is_owned(bus));
}

static void test_add_port_refuses(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(IfcvfBus) bus = ifcvf_bus_new("unix:path=/nonexistent", "vm", UUID,
						&error);
	IfcvfBusPort *port;

	g_assert_no_error(error);
	port = ifcvf_bus_add_port(bus, 3, "pci:0000:af:00.3", "/run/vhost.sock",
				  IFCVF_BUS_DEVICE_NET, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(ifcvf_bus_port_get_index(port), ==, 3);
	g_assert_true(ifcvf_bus_port_get_bus(port) == bus);

	g_assert_null(ifcvf_bus_add_port(bus, 3, "pci:0000:af:00.4", "/run/v2.sock",
					 IFCVF_BUS_DEVICE_NET, &error));
	g_assert_error(error, IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_INVALID_ARGS);
	g_clear_error(&error);
	g_assert_null(ifcvf_bus_add_port(bus, 4, "pci:\xff", "/run/v2.sock", IFCVF_BUS_DEVICE_NET,
					 &error));
	g_assert_error(error, IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_INVALID_ARGS);
	g_clear_error(&error);
	g_assert_null(ifcvf_bus_add_port(bus, 4, "pci:x", "/run/v2.sock", IFCVF_BUS_DEVICE_LAST,
					 &error));
	g_assert_error(error, IFCVF_BUS_ERROR, IFCVF_BUS_ERROR_INVALID_ARGS);
}

/* a connection that cannot be made is reported through the callback */
static void name_cb(IfcvfBus *bus, gboolean owned, const GError *error, gpointer user_data)
{
	g_assert_false(owned);
	g_assert_nonnull(error);
	g_test_message("name callback: %s", error->message);
	*(gboolean *)user_data = TRUE;
}

static void test_start_unreachable(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(IfcvfBus) bus = ifcvf_bus_new("unix:path=/nonexistent/bus", "vm", UUID,
						&error);
	gboolean called = FALSE;

	g_assert_no_error(error);
	ifcvf_bus_start(bus, name_cb, &called);
	while (!called)
		g_main_context_iteration(NULL, TRUE);
}

/* freeing while the connect is in flight calls nothing afterwards */
static void test_free_while_connecting(void)
{
	g_autoptr(GError) error = NULL;
	IfcvfBus *bus = ifcvf_bus_new("unix:path=/nonexistent/bus", "vm", UUID, &error);
	gboolean called = FALSE;

	g_assert_no_error(error);
	ifcvf_bus_start(bus, name_cb, &called);
	ifcvf_bus_free(bus);
	for (guint i = 0; i < 100; i++)
		g_main_context_iteration(NULL, FALSE);
	g_usleep(50 * 1000);
	while (g_main_context_iteration(NULL, FALSE))
		;
	g_assert_false(called);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ifcvf-helper/dbus-unit/uuid", test_uuid);
	g_test_add_func("/ifcvf-helper/dbus-unit/port-paths", test_port_paths);
	g_test_add_func("/ifcvf-helper/dbus-unit/string-tables", test_tables);
	g_test_add_func("/ifcvf-helper/dbus-unit/error-names", test_error_names);
	g_test_add_func("/ifcvf-helper/dbus-unit/error-convert", test_error_convert);
	g_test_add_func("/ifcvf-helper/dbus-unit/new-refuses", test_new_refuses);
	g_test_add_func("/ifcvf-helper/dbus-unit/add-port-refuses", test_add_port_refuses);
	g_test_add_func("/ifcvf-helper/dbus-unit/start-unreachable", test_start_unreachable);
	g_test_add_func("/ifcvf-helper/dbus-unit/free-while-connecting", test_free_while_connecting);
	return g_test_run();
}

/* The bus objects through the tools people use (busctl, gdbus) and against
 * the interface XML: what a live helper introspects to is what the
 * installed XML says, and the XML documents everything it declares. */
#include <gio/gio.h>
#include <string.h>

#include "dbus-test-util.h"

#define PORT0 "/org/ifcvf/Helper1/port/0"

typedef struct {
	GTestDBus *dbus;
	const char *address;
	char *address_arg;   /* --address=... */
	TestHost *host;
} Fixture;

static void setup(Fixture *fx, gconstpointer data)
{
	fx->dbus = g_test_dbus_new(G_TEST_DBUS_NONE);
	g_test_dbus_up(fx->dbus);
	fx->address = g_test_dbus_get_bus_address(fx->dbus);
	fx->address_arg = g_strconcat("--address=", fx->address, NULL);
	fx->host = test_host_start(fx->address, NULL);
}

static void teardown(Fixture *fx, gconstpointer data)
{
	g_assert_cmpint(test_host_finish(fx->host), ==, 0);
	test_host_free(fx->host);
	g_free(fx->address_arg);
	g_test_dbus_down(fx->dbus);
	g_object_unref(fx->dbus);
}

/* Run a tool; returns its status, output in @ret_out (stderr appended). */
static int run_tool(char **ret_out, const char *first, ...) G_GNUC_NULL_TERMINATED;
static int run_tool(char **ret_out, const char *first, ...)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autofree char *out = NULL;
	g_autofree char *err = NULL;
	va_list ap;
	int status;

	va_start(ap, first);
	for (const char *a = first; a; a = va_arg(ap, const char *))
		g_ptr_array_add(argv, (gpointer)a);
	va_end(ap);
	g_ptr_array_add(argv, NULL);
	status = test_run((const char *const *)argv->pdata, &out, &err);
	g_test_message("%s ...: status %d\nstdout:\n%s\nstderr:\n%s", first, status, out, err);
	*ret_out = g_strconcat(out, err, NULL);
	return status;
}

static void assert_has(const char *text, const char *want)
{
	if (!strstr(text, want))
		g_error("'%s' not found in:\n%s", want, text);
}

/* busctl prints columns padded with spaces; squeeze them to one */
static char *squeeze(const char *text)
{
	g_autoptr(GRegex) re = g_regex_new(" +", 0, 0, NULL);

	return g_regex_replace_literal(re, text, -1, 0, " ", 0, NULL);
}

static void test_busctl(Fixture *fx, gconstpointer data)
{
	g_autofree char *busctl = g_find_program_in_path("busctl");
	g_autofree char *out = NULL;
	g_autofree char *flat = NULL;

	if (!busctl) {
		/* the check did not run: that is a failure, not a pass */
		g_test_fail_printf("busctl is not installed (Debian package systemd, scripts/deps.sh)");
		return;
	}
	g_assert_cmpint(run_tool(&out, "busctl", fx->address_arg, "introspect", TEST_BUS_NAME,
				 PORT0, NULL), ==, 0);
	flat = squeeze(out);
	assert_has(flat, "org.ifcvf.Helper1.Port interface - - -");
	assert_has(flat, ".GetStats method - a{st} -");
	assert_has(flat, ".SetLiveMigrationMode method s - -");
	assert_has(flat, ".Device property s \"vfio-user:/run/test/vf0.sock\" const");
	assert_has(flat, ".State property s \"waiting\" emits-change");
	assert_has(flat, ".DeviceFeatures property t 5100273696 emits-change");
	assert_has(flat, ".GuestAnnounce property b false emits-change");
	g_clear_pointer(&out, g_free);

	g_assert_cmpint(run_tool(&out, "busctl", fx->address_arg, "tree", "--list", TEST_BUS_NAME,
				 NULL), ==, 0);
	assert_has(out, "/org/ifcvf/Helper1\n");
	assert_has(out, "/org/ifcvf/Helper1/port/0\n");
	assert_has(out, "/org/ifcvf/Helper1/port/1\n");
	g_clear_pointer(&out, g_free);

	g_assert_cmpint(run_tool(&out, "busctl", fx->address_arg, "get-property", TEST_BUS_NAME,
				 "/org/ifcvf/Helper1", "org.ifcvf.Helper1.Domain", "Name", "Uuid",
				 "MigrationPhase", NULL), ==, 0);
	g_assert_cmpstr(out, ==, "s \"test-vm\"\ns \"" TEST_UUID "\"\ns \"none\"\n");
	g_clear_pointer(&out, g_free);

	g_assert_cmpint(run_tool(&out, "busctl", fx->address_arg, "call", TEST_BUS_NAME, PORT0,
				 "org.ifcvf.Helper1.Port", "GetStats", NULL), ==, 0);
	g_assert_cmpstr(out, ==,
			"a{st} 3 \"kicks-relayed\" 0 \"config-interrupts\" 0 \"pages-logged\" 0\n");
	g_clear_pointer(&out, g_free);

	g_assert_cmpint(run_tool(&out, "busctl", fx->address_arg, "call", TEST_BUS_NAME, PORT0,
				 "org.ifcvf.Helper1.Port", "SetLiveMigrationMode", "s", "sw", NULL),
			==, 0);
	g_clear_pointer(&out, g_free);
	g_assert_cmpint(run_tool(&out, "busctl", fx->address_arg, "--json=short", "get-property",
				 TEST_BUS_NAME, PORT0, "org.ifcvf.Helper1.Port", "LiveMigrationMode",
				 NULL), ==, 0);
	g_assert_cmpstr(out, ==, "{\"type\":\"s\",\"data\":\"sw\"}\n");
	g_clear_pointer(&out, g_free);

	g_assert_cmpint(run_tool(&out, "busctl", fx->address_arg, "call", TEST_BUS_NAME, PORT0,
				 "org.ifcvf.Helper1.Port", "SetLiveMigrationMode", "s", "fast", NULL),
			!=, 0);
	assert_has(out, "unknown live-migration mode 'fast'");
}

static void test_gdbus(Fixture *fx, gconstpointer data)
{
	g_autofree char *out = NULL;

	g_assert_cmpint(run_tool(&out, "gdbus", "introspect", "--address", fx->address, "--dest",
				 TEST_BUS_NAME, "--object-path", "/org/ifcvf/Helper1", "--recurse",
				 NULL), ==, 0);
	assert_has(out, "interface org.ifcvf.Helper1.Domain {");
	assert_has(out, "interface org.freedesktop.DBus.ObjectManager {");
	assert_has(out, "readonly s MigrationPhase = 'none';");
	assert_has(out, "readonly ao Ports = ['/org/ifcvf/Helper1/port/0', '/org/ifcvf/Helper1/port/1'];");
	assert_has(out, "node /org/ifcvf/Helper1/port/1 {");
	assert_has(out, "SetLiveMigrationMode(in  s mode);");
	assert_has(out, "readonly s LiveMigrationMode = 'hw';");
	g_clear_pointer(&out, g_free);

	g_assert_cmpint(run_tool(&out, "gdbus", "call", "--address", fx->address, "--dest",
				 TEST_BUS_NAME, "--object-path", "/org/ifcvf/Helper1/port/5", "--method",
				 "org.ifcvf.Helper1.Port.GetStats", NULL), !=, 0);
	assert_has(out, "org.ifcvf.Helper1.Error.UnknownPort");
	g_clear_pointer(&out, g_free);
	g_assert_cmpint(run_tool(&out, "gdbus", "call", "--address", fx->address, "--dest",
				 TEST_BUS_NAME, "--object-path", PORT0, "--method",
				 "org.ifcvf.Helper1.Port.SetLiveMigrationMode", "HW", NULL), !=, 0);
	assert_has(out, "org.ifcvf.Helper1.Error.UnknownMode");
}

static GDBusNodeInfo *live_node(Fixture *fx, const char *path)
{
	g_autoptr(GDBusConnection) c = test_bus_connect(fx->address);
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = test_call(c, path, "org.freedesktop.DBus.Introspectable",
					      "Introspect", NULL, &error);
	const char *xml;
	GDBusNodeInfo *info;

	g_assert_no_error(error);
	g_variant_get(reply, "(&s)", &xml);
	info = g_dbus_node_info_new_for_xml(xml, &error);
	g_assert_no_error(error);
	(void)g_dbus_connection_close_sync(c, NULL, NULL);
	return info;
}

static void test_xml_matches_live(Fixture *fx, gconstpointer data)
{
	g_autoptr(GDBusNodeInfo) domain_xml = test_interface_xml("org.ifcvf.Helper1.Domain.xml");
	g_autoptr(GDBusNodeInfo) port_xml = test_interface_xml("org.ifcvf.Helper1.Port.xml");
	g_autoptr(GDBusNodeInfo) root = live_node(fx, "/org/ifcvf/Helper1");
	g_autoptr(GDBusNodeInfo) port = live_node(fx, PORT0);

	g_assert_nonnull(domain_xml->interfaces[0]);
	g_assert_null(domain_xml->interfaces[1]);
	g_assert_null(port_xml->interfaces[1]);
	test_assert_same_interface(domain_xml->interfaces[0],
			      g_dbus_node_info_lookup_interface(root, "org.ifcvf.Helper1.Domain"));
	test_assert_same_interface(port_xml->interfaces[0],
			      g_dbus_node_info_lookup_interface(port, "org.ifcvf.Helper1.Port"));
	g_assert_nonnull(g_dbus_node_info_lookup_interface(root, "org.freedesktop.DBus.ObjectManager"));
}

/* The doc comment gdbus-codegen reads precedes each element: "Name:", then
 * "@arg:" for each argument, then text. */
static void check_documented(const char *file)
{
	g_autofree char *path = g_test_build_filename(G_TEST_DIST, "..", "data", "dbus-interfaces",
						      file, NULL);
	g_autofree char *text = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GDBusNodeInfo) node = NULL;
	GDBusInterfaceInfo *iface;
	guint checked = 0;

	g_file_get_contents(path, &text, NULL, &error);
	g_assert_no_error(error);
	node = g_dbus_node_info_new_for_xml(text, &error);
	g_assert_no_error(error);
	iface = node->interfaces[0];

	for (guint kind = 0; kind < 3; kind++) {
		for (guint i = 0;; i++) {
			const char *name;
			GDBusArgInfo **args = NULL;
			g_autofree char *tag = NULL;
			g_autofree char *comment = NULL;
			g_autofree char *heading = NULL;
			const char *at, *open, *close;

			if (kind == 0) {
				if (i > 0)
					break;
				name = iface->name;
				tag = g_strdup_printf("<interface name=\"%s\"", name);
			} else if (kind == 1) {
				if (!iface->methods || !iface->methods[i])
					break;
				name = iface->methods[i]->name;
				args = iface->methods[i]->in_args;
				tag = g_strdup_printf("<method name=\"%s\"", name);
			} else {
				if (!iface->properties || !iface->properties[i])
					break;
				name = iface->properties[i]->name;
				tag = g_strdup_printf("<property name=\"%s\"", name);
			}
			at = strstr(text, tag);
			g_assert_nonnull(at);
			close = g_strrstr_len(text, at - text, "-->");
			open = close ? g_strrstr_len(text, close - text, "<!--") : NULL;
			if (!open || strspn(close + 3, " \t\n") != (gsize)(at - close - 3))
				g_error("%s: %s has no doc comment right before it", file, name);
			comment = g_strndup(open + 4, close - open - 4);
			heading = g_strdup_printf("%s:", name);
			if (strncmp(g_strchug(comment), heading, strlen(heading)) != 0)
				g_error("%s: the comment before %s does not start with '%s'", file, name,
					heading);
			if (strlen(comment) < strlen(heading) + 20)
				g_error("%s: %s is not described", file, name);
			for (guint a = 0; args && args[a]; a++) {
				g_autofree char *want = g_strdup_printf("@%s:", args[a]->name);

				if (!strstr(comment, want))
					g_error("%s: argument %s of %s is not described", file,
						args[a]->name, name);
			}
			for (guint a = 0; kind == 1 && iface->methods[i]->out_args &&
					  iface->methods[i]->out_args[a]; a++) {
				g_autofree char *want = g_strdup_printf(
					"@%s:", iface->methods[i]->out_args[a]->name);

				if (!strstr(comment, want))
					g_error("%s: result %s of %s is not described", file,
						iface->methods[i]->out_args[a]->name, name);
			}
			checked++;
		}
	}
	g_test_message("%s: %u elements documented", file, checked);
	g_assert_cmpuint(checked, >, 2);
}

static void test_xml_documented(void)
{
	check_documented("org.ifcvf.Helper1.Domain.xml");
	check_documented("org.ifcvf.Helper1.Port.xml");
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add("/ifcvf-helper/dbus-tools/busctl", Fixture, NULL, setup, test_busctl, teardown);
	g_test_add("/ifcvf-helper/dbus-tools/gdbus", Fixture, NULL, setup, test_gdbus, teardown);
	g_test_add("/ifcvf-helper/dbus-tools/xml-matches-live", Fixture, NULL, setup,
		   test_xml_matches_live, teardown);
	g_test_add_func("/ifcvf-helper/dbus-tools/xml-documented", test_xml_documented);
	return g_test_run();
}

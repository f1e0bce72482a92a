/* Shared by the D-Bus tests: a private bus (GTestDBus, or a dbus-daemon with
 * a config of the test's), a bus-host process driven over its stdin, and a
 * few D-Bus call shortcuts.
 *
 * Threads: test main thread only; waits iterate the default main context,
 * so signal subscriptions of the test are served meanwhile. */
#pragma once

#include <gio/gio.h>

#include "test-util.h"

#define TEST_UUID      "0a1b2c3d-4e5f-4061-8293-a4b5c6d7e8f9"
#define TEST_BUS_NAME  "org.ifcvf.Helper1.Vm_0a1b2c3d4e5f40618293a4b5c6d7e8f9"

/* A private bus: the start functions return once the bus answers a client
 * (GetId), so a client started next finds it; they fail the test when it
 * does not within 10 s. */
typedef struct {
	GSubprocess *proc;
	char *address;
} TestDaemon;

/* dbus-daemon with @config (a file the test wrote); its address is read
 * from --print-address. */
TestDaemon *test_daemon_start(const char *config);
/* dbus-broker (through tests/dbus/broker-launch) with @config, listening on
 * the unix socket @socket_path; its log (and broker-launch's complaints) go
 * to the file @log_path, or to the test's stderr when NULL. Needs root. */
TestDaemon *test_broker_start(const char *config, const char *socket_path, const char *log_path);
/* SIGTERM, and wait (bounded) until it exited; for dbus-broker, until the
 * broker too is gone and its last log messages were written. */
void test_daemon_stop(TestDaemon *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TestDaemon, test_daemon_stop)

typedef struct {
	GSubprocess *proc;
	GOutputStream *in;
	GDataInputStream *out;
} TestHost;

/* Spawn bus-host on @address for VM "test-vm"/TEST_UUID with @extra
 * arguments (NULL-terminated, may be NULL; later --name/--uuid win). */
TestHost *test_host_spawn(const char *address, const char *const *extra);
/* Any process with stdin and stdout piped, to use with test_host_expect(). */
TestHost *test_proc_spawn(const char *const *argv);
/* Wait (bounded) until it exits; its exit status, -1 for a signal. */
int test_proc_wait(TestHost *proc);
/* Spawn and wait until it owns its name. */
TestHost *test_host_start(const char *address, const char *const *extra);
/* Read the host's output until a line starting with @prefix; returns that
 * line. Fails the test on EOF or after 10 s. */
char *test_host_expect(TestHost *host, const char *prefix);
/* Send a command line and wait for its "ok". */
void test_host_command(TestHost *host, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* Close its stdin (it exits) and return its exit status; bounded. */
int test_host_finish(TestHost *host);
void test_host_free(TestHost *host);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TestHost, test_host_free)

/* A private message-bus connection to @address. */
GDBusConnection *test_bus_connect(const char *address);

/* Call and return the reply, or NULL with @error; 10 s timeout. */
GVariant *test_call(GDBusConnection *c, const char *path, const char *iface,
		    const char *method, GVariant *args, GError **error);
/* Properties.Get of @prop; fails the test on error. */
GVariant *test_get_property(GDBusConnection *c, const char *path, const char *iface,
			    const char *prop);
/* The D-Bus error name of @error ("" when it has none). */
char *test_error_name(const GError *error);

/* Iterate the default main context until @cond(@data) or *@flag holds;
 * fail the test after 10 s. */
void test_wait_until(gboolean (*cond)(gconstpointer data), gconstpointer data);
void test_wait_for(const gboolean *flag);
/* Iterate the default main context for @ms milliseconds. */
void test_spin(guint ms);

/* data/dbus-interfaces/@file, parsed. */
GDBusNodeInfo *test_interface_xml(const char *file);
/* Fail the test unless @got has the methods (names, arguments), properties
 * (type, access, annotations) and signals of @want, in any order, and no
 * others. */
void test_assert_same_interface(GDBusInterfaceInfo *want, GDBusInterfaceInfo *got);

/* Paths of the programs under test (set by meson at compile time). */
const char *test_bus_host_path(void);
const char *test_ifcvfctl_path(void);
const char *test_broker_launch_path(void);
const char *test_fake_polkit_path(void);

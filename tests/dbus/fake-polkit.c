/* fake-polkit --bus ADDRESS --answer yes|no|never: stands in for polkitd in
 * the D-Bus tests. Owns org.freedesktop.PolicyKit1 on ADDRESS and answers
 * every CheckAuthorization with @answer, without a challenge, or never
 * answers (the question stays unanswered until the fake exits). Prints "owned" once
 * the name is owned and, for each question, "check ACTION SUBJECT-KIND
 * SUBJECT FLAGS" (SUBJECT: the bus name, or pid:uid for a process). Exits 0
 * when stdin closes, 3 when the name cannot be owned. */
#define G_LOG_DOMAIN "FakePolkit"

#include <gio/gio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char introspection[] =
	"<node><interface name='org.freedesktop.PolicyKit1.Authority'>"
	"<method name='CheckAuthorization'>"
	"<arg type='(sa{sv})' name='subject' direction='in'/>"
	"<arg type='s' name='action_id' direction='in'/>"
	"<arg type='a{ss}' name='details' direction='in'/>"
	"<arg type='u' name='flags' direction='in'/>"
	"<arg type='s' name='cancellation_id' direction='in'/>"
	"<arg type='(bba{ss})' name='result' direction='out'/>"
	"</method></interface></node>";

typedef struct {
	gboolean answer;
	gboolean never;
	GPtrArray *unanswered;   /* GDBusMethodInvocation * */
	GMainLoop *loop;
	int status;
} Fake;

static void method_call(GDBusConnection *c, const char *sender, const char *path,
			const char *iface, const char *method, GVariant *params,
			GDBusMethodInvocation *invocation, gpointer user_data)
{
	Fake *fake = user_data;
	g_autoptr(GVariant) subject_details = NULL;
	g_autofree char *subject = NULL;
	const char *kind, *action, *cancel_id;
	guint32 flags;
	guint32 pid = 0;
	gint32 uid = -1;
	const char *name = NULL;

	g_variant_get(params, "((&s@a{sv})&s@a{ss}u&s)", &kind, &subject_details, &action, NULL,
		      &flags, &cancel_id);
	if (g_variant_lookup(subject_details, "name", "&s", &name))
		subject = g_strdup(name);
	else {
		(void)g_variant_lookup(subject_details, "pid", "u", &pid);
		(void)g_variant_lookup(subject_details, "uid", "i", &uid);
		subject = g_strdup_printf("%u:%d", pid, uid);
	}
	printf("check %s %s %s %u\n", action, kind, subject, flags);
	fflush(stdout);
	if (fake->never) {
		g_ptr_array_add(fake->unanswered, invocation);
		return;
	}
	g_dbus_method_invocation_return_value(invocation,
		g_variant_new("((bb@a{ss}))", fake->answer, FALSE,
			      g_variant_new_array(G_VARIANT_TYPE("{ss}"), NULL, 0)));
}

static const GDBusInterfaceVTable vtable = { .method_call = method_call };

static void acquired_cb(GDBusConnection *c, const char *name, gpointer user_data)
{
	printf("owned\n");
	fflush(stdout);
}

static void lost_cb(GDBusConnection *c, const char *name, gpointer user_data)
{
	Fake *fake = user_data;

	fprintf(stderr, "fake-polkit: could not own %s\n", name);
	fake->status = 3;
	g_main_loop_quit(fake->loop);
}

static gboolean stdin_cb(GIOChannel *ch, GIOCondition cond, gpointer user_data)
{
	Fake *fake = user_data;
	char buf[256];

	/* anything but data (EOF, an error) ends the fake */
	if (read(0, buf, sizeof(buf)) <= 0) {
		g_main_loop_quit(fake->loop);
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

int main(int argc, char **argv)
{
	g_autofree char *bus = NULL;
	g_autofree char *answer = NULL;
	const GOptionEntry entries[] = {
		{ "bus", 0, 0, G_OPTION_ARG_STRING, &bus, "bus address", "ADDRESS" },
		{ "answer", 0, 0, G_OPTION_ARG_STRING, &answer, "yes or no", "ANSWER" },
		{ NULL }
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("- a polkit stand-in for tests");
	g_autoptr(GError) error = NULL;
	g_autoptr(GDBusConnection) c = NULL;
	g_autoptr(GDBusNodeInfo) info = NULL;
	g_autoptr(GIOChannel) in = NULL;
	Fake fake = { 0 };

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &error) || !bus ||
	    (g_strcmp0(answer, "yes") != 0 && g_strcmp0(answer, "no") != 0 &&
	     g_strcmp0(answer, "never") != 0)) {
		fprintf(stderr, "fake-polkit: --bus ADDRESS --answer yes|no|never\n");
		return 2;
	}
	fake.answer = strcmp(answer, "yes") == 0;
	fake.never = strcmp(answer, "never") == 0;
	fake.unanswered = g_ptr_array_new_with_free_func(g_object_unref);
	fake.loop = g_main_loop_new(NULL, FALSE);
	c = g_dbus_connection_new_for_address_sync(bus,
		G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
		G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL, NULL, &error);
	if (!c)
		g_error("cannot connect to %s: %s", bus, error->message);
	info = g_dbus_node_info_new_for_xml(introspection, &error);
	g_assert_no_error(error);
	if (!g_dbus_connection_register_object(c, "/org/freedesktop/PolicyKit1/Authority",
					       info->interfaces[0], &vtable, &fake, NULL, &error))
		g_error("cannot export the authority: %s", error->message);
	g_bus_own_name_on_connection(c, "org.freedesktop.PolicyKit1",
				     G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE, acquired_cb, lost_cb,
				     &fake, NULL);
	in = g_io_channel_unix_new(0);
	g_io_add_watch(in, G_IO_IN | G_IO_HUP | G_IO_ERR, stdin_cb, &fake);
	g_main_loop_run(fake.loop);
	g_main_loop_unref(fake.loop);
	g_ptr_array_unref(fake.unanswered);
	return fake.status;
}

/* ifcvfctl's shared pieces: exit codes (as the codes of CTL_ERROR), the
 * connection, finding a VM's helper and reading its state.
 *
 * Threads: main thread only. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

typedef enum {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAILED = 1,     /* the helper (or the bus) reported a failure */
	CTL_EXIT_USAGE = 2,      /* bad command line */
	CTL_EXIT_NO_HELPER = 3,  /* no helper serves that VM */
	CTL_EXIT_NO_BUS = 4,     /* the bus cannot be reached */
	CTL_EXIT_DENIED = 5,     /* the bus policy or the helper refused the caller */
} CtlExit;

/* codes are CtlExit values */
#define CTL_ERROR (ctl_error_quark())
GQuark ctl_error_quark(void);

typedef struct {
	GDBusConnection *connection;
	char *bus;                   /* as given: system, session or an address */
	gboolean json;
} Ctl;

/* One port as read from the helper. */
typedef struct {
	guint index;
	char *path;
	GVariant *props;             /* a{sv} of org.ifcvf.Helper1.Port */
} CtlPort;

/* One helper as read from the bus. */
typedef struct {
	char *bus_name;
	char *owner;                 /* unique name */
	GVariant *domain;            /* a{sv} of org.ifcvf.Helper1.Domain */
	GPtrArray *ports;            /* CtlPort *, ascending index */
} CtlHelper;

void ctl_helper_free(CtlHelper *helper);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CtlHelper, ctl_helper_free)

/* ctl-bus.c */
gboolean ctl_connect(Ctl *ctl, GError **error);
/* Bus names of every helper on the bus, sorted. */
GStrv ctl_list_helpers(Ctl *ctl, GError **error);
/* The bus name serving @vm (a UUID in either form, or a VM name). */
char *ctl_resolve_vm(Ctl *ctl, const char *vm, GError **error);
/* Read a helper's Domain and ports. */
CtlHelper *ctl_helper_load(Ctl *ctl, const char *bus_name, GError **error);
/* A port of @helper by index, or NULL. */
CtlPort *ctl_helper_find_port(CtlHelper *helper, guint index);
/* Parse a PORT argument (a decimal index). */
gboolean ctl_parse_port(const char *s, guint *ret_index, GError **error);
/* Rewrite @error from a call to a helper into CTL_ERROR with a message
 * for people, prefixed with @what. */
void ctl_error_from_call(GError **error, const char *what);
/* The same for a call that changes a port: an AccessDenied (from the bus or
 * the helper) says what the caller needs, with CTL_EXIT_DENIED. */
void ctl_error_from_change(GError **error, const char *what);

/* Property accessors for a{sv} (fallbacks when absent). */
const char *ctl_prop_str(GVariant *props, const char *name);
guint64 ctl_prop_uint(GVariant *props, const char *name);
gboolean ctl_prop_bool(GVariant *props, const char *name);

/* ctl-json.c */
JsonNode *ctl_json_from_props(GVariant *props);
JsonNode *ctl_json_from_variant(GVariant *value);
char *ctl_json_key(const char *property);
void ctl_json_print(JsonNode *node, gboolean pretty);

/* ctl-show.c, ctl-watch.c, ctl-set.c: the commands */
gboolean ctl_cmd_list(Ctl *ctl, char **args, GError **error);
gboolean ctl_cmd_status(Ctl *ctl, char **args, GError **error);
gboolean ctl_cmd_stats(Ctl *ctl, char **args, GError **error);
gboolean ctl_cmd_watch(Ctl *ctl, char **args, GError **error);
gboolean ctl_cmd_set_lm_mode(Ctl *ctl, char **args, GError **error);

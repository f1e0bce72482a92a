#include "run-options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "helper-error.h"
#include "ifcvf-regs.h"

#define KNOWN_KEYS "device, socket, client, sw-live-migration, generic-virtio, queue-pairs"

static gboolean parse_bool(const char *spec, const char *key, const char *value, bool *ret,
			   GError **error)
{
	if (!value || g_str_equal(value, "1")) {
		*ret = true;
		return TRUE;
	}
	if (g_str_equal(value, "0")) {
		*ret = false;
		return TRUE;
	}
	g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
		    "--port '%s': %s='%s' must be 0 or 1", spec, key, value);
	return FALSE;
}

static gboolean parse_queues(const char *spec, const char *value, unsigned *ret, GError **error)
{
	char *end = NULL;
	unsigned long v;

	errno = 0;
	v = value && *value ? strtoul(value, &end, 10) : 0;
	if (!value || !*value || *end || errno || v < 1 || v > IFCVF_MAX_QUEUES) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
			    "--port '%s': queue-pairs='%s' is not a number from 1 to %u", spec,
			    value ? value : "", IFCVF_MAX_QUEUES);
		return FALSE;
	}
	*ret = (unsigned)v;
	return TRUE;
}

static gboolean parse_pair(const char *spec, const char *item, struct port_config *cfg,
			   GHashTable *seen, GError **error)
{
	g_auto(GStrv) kv = g_strsplit(item, "=", 2);
	const char *key = kv[0];
	const char *value = key ? kv[1] : NULL;

	if (!key || !*key) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
			    "--port '%s': empty key", spec);
		return FALSE;
	}
	if (g_hash_table_contains(seen, key)) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
			    "--port '%s': %s is given twice", spec, key);
		return FALSE;
	}
	g_hash_table_add(seen, g_strdup(key));
	if (g_str_equal(key, "client"))
		return parse_bool(spec, key, value, &cfg->client, error);
	if (!value) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
			    "--port '%s': %s needs a value (%s=...)", spec, key, key);
		return FALSE;
	}
	if (g_str_equal(key, "device") || g_str_equal(key, "socket")) {
		char **field = g_str_equal(key, "device") ? &cfg->device : &cfg->socket;

		if (!*value) {
			g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
				    "--port '%s': %s is empty", spec, key);
			return FALSE;
		}
		*field = g_strdup(value);
		return TRUE;
	}
	if (g_str_equal(key, "sw-live-migration"))
		return parse_bool(spec, key, value, &cfg->sw_live_migration, error);
	if (g_str_equal(key, "generic-virtio"))
		return parse_bool(spec, key, value, &cfg->generic_virtio, error);
	if (g_str_equal(key, "queue-pairs"))
		return parse_queues(spec, value, &cfg->queue_pairs, error);
	g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
		    "--port '%s': unknown key '%s' (known: " KNOWN_KEYS ")", spec, key);
	return FALSE;
}

gboolean ifcvf_port_config_parse(const char *spec, struct port_config *ret, GError **error)
{
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_auto(GStrv) items = g_strsplit(spec, ",", -1);
	struct port_config cfg = { 0 };

	for (guint i = 0; items[i]; i++) {
		if (!parse_pair(spec, items[i], &cfg, seen, error)) {
			ifcvf_port_config_clear(&cfg);
			return FALSE;
		}
	}
	if (!cfg.device || !cfg.socket) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
			    "--port '%s': %s= is missing", spec, !cfg.device ? "device" : "socket");
		ifcvf_port_config_clear(&cfg);
		return FALSE;
	}
	if (!g_str_has_prefix(cfg.device, "pci:") && !g_str_has_prefix(cfg.device, "vfio-user:")) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
			    "--port '%s': device='%s' is neither pci:DDDD:BB:DD.F nor vfio-user:PATH",
			    spec, cfg.device);
		ifcvf_port_config_clear(&cfg);
		return FALSE;
	}
	*ret = cfg;
	return TRUE;
}

void ifcvf_port_config_clear(struct port_config *cfg)
{
	g_clear_pointer(&cfg->device, g_free);
	g_clear_pointer(&cfg->socket, g_free);
}

gboolean ifcvf_port_configs_check(const struct port_config *cfgs, guint n, GError **error)
{
	for (guint i = 0; i < n; i++) {
		for (guint j = 0; j < i; j++) {
			const char *what = g_str_equal(cfgs[i].device, cfgs[j].device) ? "device"
					   : g_str_equal(cfgs[i].socket, cfgs[j].socket) ? "socket"
					   : NULL;

			if (what) {
				g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
					    "ports %u and %u use the same %s (%s)", j, i, what,
					    g_str_equal(what, "device") ? cfgs[i].device : cfgs[i].socket);
				return FALSE;
			}
		}
	}
	return TRUE;
}

gboolean ifcvf_libvirt_uri_check(const char *uri, GError **error)
{
	g_autoptr(GError) local = NULL;

	if (!*uri) {
		g_set_error_literal(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
				    "--libvirt-uri is empty");
		return FALSE;
	}
	if (!g_uri_is_valid(uri, G_URI_FLAGS_NONE, &local)) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
			    "--libvirt-uri '%s' is not a URI: %s", uri, local->message);
		return FALSE;
	}
	return TRUE;
}

gboolean ifcvf_libvirt_connect_parse(const char *when, enum ifcvf_libvirt_connect *ret,
				     GError **error)
{
	if (g_str_equal(when, "at-migration")) {
		*ret = IFCVF_LIBVIRT_CONNECT_AT_MIGRATION;
		return TRUE;
	}
	if (g_str_equal(when, "at-start")) {
		*ret = IFCVF_LIBVIRT_CONNECT_AT_START;
		return TRUE;
	}
	g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
		    "--libvirt-connect '%s' is neither at-migration nor at-start", when);
	return FALSE;
}

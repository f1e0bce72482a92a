/* Domain XML and host port map → HookVm (see hook-config.h). */
#include "hook-config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "helper-error.h"

#define LM_VALUES "'hw' or 'sw'"

static void hook_port_free(gpointer data)
{
	HookPort *p = data;

	g_free(p->socket);
	g_free(p->device);
	g_free(p);
}

void hook_vm_free(HookVm *vm)
{
	if (!vm)
		return;
	g_free(vm->uuid);
	g_free(vm->name);
	if (vm->ports)
		g_ptr_array_unref(vm->ports);
	g_free(vm);
}

static gboolean is_element(const xmlNode *n, const char *name, const char *ns)
{
	if (n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, name) != 0)
		return FALSE;
	if (!ns)
		return n->ns == NULL;
	return n->ns && n->ns->href && strcmp((const char *)n->ns->href, ns) == 0;
}

static xmlNode *first_child(const xmlNode *parent, const char *name)
{
	for (xmlNode *c = parent->children; c; c = c->next)
		if (is_element(c, name, NULL))
			return c;
	return NULL;
}

/* The element's text, trimmed; NULL when absent or empty. */
static char *child_text(const xmlNode *parent, const char *name)
{
	xmlNode *n = first_child(parent, name);
	xmlChar *s;
	char *ret;

	if (!n || !(s = xmlNodeGetContent(n)))
		return NULL;
	ret = g_strstrip(g_strdup((const char *)s));
	xmlFree(s);
	if (!*ret)
		g_clear_pointer(&ret, g_free);
	return ret;
}

static char *attr(const xmlNode *n, const char *name)
{
	xmlChar *s = xmlGetNoNsProp(n, (const xmlChar *)name);
	char *ret = s ? g_strdup((const char *)s) : NULL;

	xmlFree(s);
	return ret;
}

static gboolean parse_lm(const char *where, const char *value, gboolean *ret, GError **error)
{
	if (!value || g_str_equal(value, "hw")) {
		*ret = FALSE;
		return TRUE;
	}
	if (g_str_equal(value, "sw")) {
		*ret = TRUE;
		return TRUE;
	}
	g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
		    "%s: lm='%s' must be " LM_VALUES, where, value);
	return FALSE;
}

static gboolean parse_queue_pairs(const char *where, const char *value, guint *ret,
				  GError **error)
{
	char *end = NULL;
	unsigned long v;

	if (!value) {
		*ret = 0;
		return TRUE;
	}
	errno = 0;
	v = strtoul(value, &end, 10);
	if (!*value || *end || errno || v < 1 || v > 32) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
			    "%s: queue-pairs='%s' is not a number from 1 to 32", where, value);
		return FALSE;
	}
	*ret = (guint)v;
	return TRUE;
}

static gboolean check_device(const char *where, const char *device, GError **error)
{
	if (!device || !*device) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
			    "%s: no device given", where);
		return FALSE;
	}
	if (!g_str_has_prefix(device, "pci:") && !g_str_has_prefix(device, "vfio-user:")) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
			    "%s: device '%s' is neither pci:DDDD:BB:DD.F nor vfio-user:PATH", where,
			    device);
		return FALSE;
	}
	if (strpbrk(device, ",")) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
			    "%s: device '%s' contains ','", where, device);
		return FALSE;
	}
	return TRUE;
}

/* One <ifcvf:port> → a HookPort with socket, device, lm, queue pairs. */
static HookPort *port_from_metadata(const xmlNode *n, GError **error)
{
	g_autofree char *socket = attr(n, "socket");
	g_autofree char *device = attr(n, "device");
	g_autofree char *lm = attr(n, "lm");
	g_autofree char *qp = attr(n, "queue-pairs");
	g_autofree char *where = NULL;
	HookPort p = { 0 };

	if (!socket || !*socket) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
			    "domain metadata: <ifcvf:port> without a socket attribute");
		return NULL;
	}
	where = g_strdup_printf("domain metadata, port '%s'", socket);
	if (!check_device(where, device, error) || !parse_lm(where, lm, &p.sw_lm, error) ||
	    !parse_queue_pairs(where, qp, &p.queue_pairs, error))
		return NULL;
	p.socket = g_steal_pointer(&socket);
	p.device = g_steal_pointer(&device);
	return g_memdup2(&p, sizeof(p));
}

/* The metadata's ports keyed by socket path. */
static GHashTable *read_metadata(const xmlNode *domain, GError **error)
{
	g_autoptr(GHashTable) ports = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
							     hook_port_free);
	xmlNode *md = first_child(domain, "metadata");

	for (xmlNode *c = md ? md->children : NULL; c; c = c->next) {
		if (!is_element(c, "ports", HOOK_XMLNS))
			continue;
		for (xmlNode *n = c->children; n; n = n->next) {
			HookPort *p;

			if (!is_element(n, "port", HOOK_XMLNS))
				continue;
			if (!(p = port_from_metadata(n, error)))
				return NULL;
			if (g_hash_table_contains(ports, p->socket)) {
				g_set_error(error, IFCVF_HELPER_ERROR,
					    IFCVF_HELPER_ERROR_INVALID_ARGS,
					    "domain metadata: socket '%s' is named twice", p->socket);
				hook_port_free(p);
				return NULL;
			}
			g_hash_table_insert(ports, p->socket, p);
		}
	}
	return g_steal_pointer(&ports);
}

static HookPort *port_from_map(GKeyFile *map, const char *socket, GError **error)
{
	g_autofree char *where = g_strdup_printf("port map, socket '%s'", socket);
	g_autofree char *device = g_key_file_get_string(map, socket, "device", NULL);
	g_autofree char *lm = g_key_file_get_string(map, socket, "lm", NULL);
	g_autofree char *qp = g_key_file_get_string(map, socket, "queue-pairs", NULL);
	HookPort p = { 0 };

	if (!check_device(where, device, error) || !parse_lm(where, lm, &p.sw_lm, error) ||
	    !parse_queue_pairs(where, qp, &p.queue_pairs, error))
		return NULL;
	p.socket = g_strdup(socket);
	p.device = g_steal_pointer(&device);
	return g_memdup2(&p, sizeof(p));
}

/* A vhost-user device of the domain: <interface type='vhostuser'> (net;
 * mode='server' makes QEMU the vhost-user server) or <disk type='vhostuser'>
 * (blk, libvirt >= 7.1; QEMU always connects). */
static gboolean is_vhostuser_device(const xmlNode *c)
{
	g_autofree char *type = NULL;

	if (!is_element(c, "interface", NULL) && !is_element(c, "disk", NULL))
		return FALSE;
	type = attr(c, "type");
	return type && g_str_equal(type, "vhostuser");
}

/* Match every vhostuser interface and disk to a metadata entry or a port
 * map group. */
static gboolean read_interfaces(HookVm *vm, const xmlNode *domain, GHashTable *metadata,
				GKeyFile *map, GError **error)
{
	xmlNode *devices = first_child(domain, "devices");
	g_autoptr(GHashTable) used = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	GHashTableIter it;
	gpointer key;

	for (xmlNode *c = devices ? devices->children : NULL; c; c = c->next) {
		g_autofree char *path = NULL;
		g_autofree char *mode = NULL;
		xmlNode *src;
		HookPort *p;

		if (!is_vhostuser_device(c) || !(src = first_child(c, "source")))
			continue;
		path = attr(src, "path");
		mode = attr(src, "mode");
		if (!path)
			continue;
		if (g_hash_table_contains(used, path)) {
			g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
				    "domain XML: socket '%s' is used by two devices", path);
			return FALSE;
		}
		g_hash_table_add(used, g_strdup(path));
		if (g_hash_table_steal_extended(metadata, path, NULL, (gpointer *)&p)) {
			/* owned by vm->ports now */
		} else if (map && g_key_file_has_group(map, path)) {
			if (!(p = port_from_map(map, path, error)))
				return FALSE;
		} else {
			continue;
		}
		p->client = mode && g_str_equal(mode, "server");
		{
			xmlNode *drv = first_child(c, "driver");
			g_autofree char *ppv = drv ? attr(drv, "page_per_vq") : NULL;

			p->page_per_vq = ppv && g_str_equal(ppv, "on");
		}
		g_ptr_array_add(vm->ports, p);
	}
	g_hash_table_iter_init(&it, metadata);
	if (g_hash_table_iter_next(&it, &key, NULL)) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
			    "domain metadata: port '%s' matches no <interface type='vhostuser'> "
			    "or <disk type='vhostuser'> source path", (const char *)key);
		return FALSE;
	}
	return TRUE;
}

static void silence_libxml(void *ctx, const char *msg, ...)
{
}

/* The document with a <domain> root; NULL with @error. */
static xmlDoc *read_domain(const char *xml, gsize len, xmlNode **ret_root, GError **error)
{
	xmlDoc *doc;
	xmlNode *root;

	xmlSetGenericErrorFunc(NULL, silence_libxml);
	if (len > G_MAXINT) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
			    "domain XML: too large");
		return NULL;
	}
	doc = xmlReadMemory(xml, (int)len, "domain.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc) {
		const xmlError *e = xmlGetLastError();
		g_autofree char *msg = g_strstrip(g_strdup(e && e->message ? e->message : "?"));

		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
			    "domain XML: malformed at line %d: %s", e ? e->line : 0, msg);
		return NULL;
	}
	root = xmlDocGetRootElement(doc);
	if (!root || !is_element(root, "domain", NULL)) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
			    "domain XML: the root element is not <domain>");
		xmlFreeDoc(doc);
		return NULL;
	}
	*ret_root = root;
	return doc;
}

/* <uuid>, checked: it names files, a systemd unit and a D-Bus name */
static char *read_uuid(const xmlNode *domain, GError **error)
{
	g_autofree char *uuid = child_text(domain, "uuid");

	if (!uuid) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
			    "domain XML: no <uuid>");
		return NULL;
	}
	if (!g_uuid_string_is_valid(uuid)) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
			    "domain XML: <uuid> '%s' is not a UUID", uuid);
		return NULL;
	}
	return g_steal_pointer(&uuid);
}

HookVm *hook_vm_parse(const char *xml, gsize len, GKeyFile *port_map, GError **error)
{
	g_autoptr(HookVm) vm = g_new0(HookVm, 1);
	g_autoptr(GHashTable) metadata = NULL;
	xmlNode *root = NULL;
	xmlDoc *doc = read_domain(xml, len, &root, error);
	gboolean ok = FALSE;

	if (!doc)
		return NULL;
	if (!(vm->uuid = read_uuid(root, error)))
		goto out;
	vm->name = child_text(root, "name");
	if (!vm->name) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
			    "domain XML: no <name>");
		goto out;
	}
	vm->ports = g_ptr_array_new_with_free_func(hook_port_free);
	if (!(metadata = read_metadata(root, error)))
		goto out;
	ok = read_interfaces(vm, root, metadata, port_map, error);
out:
	xmlFreeDoc(doc);
	return ok ? g_steal_pointer(&vm) : NULL;
}

char *hook_vm_uuid(const char *xml, gsize len, GError **error)
{
	xmlNode *root = NULL;
	xmlDoc *doc = read_domain(xml, len, &root, error);
	char *uuid;

	if (!doc)
		return NULL;
	uuid = read_uuid(root, error);
	xmlFreeDoc(doc);
	return uuid;
}

GKeyFile *hook_port_map_load(const char *path, GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) local = NULL;

	if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &local) &&
	    !g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS,
			    "port map %s: %s", path, local->message);
		return NULL;
	}
	return g_steal_pointer(&kf);
}

char *hook_port_to_spec(const HookPort *port)
{
	GString *s = g_string_new(NULL);

	g_string_append_printf(s, "device=%s,socket=%s", port->device, port->socket);
	if (port->client)
		g_string_append(s, ",client");
	if (port->sw_lm)
		g_string_append(s, ",sw-live-migration=1");
	if (port->queue_pairs)
		g_string_append_printf(s, ",queue-pairs=%u", port->queue_pairs);
	return g_string_free(s, FALSE);
}

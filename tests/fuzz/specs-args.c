/* Fuzz target 7a: `run`'s arguments: `--port` specs (up to four), then
 * `--devargs`, then `--libvirt-uri`, NUL-separated, through
 * ifcvf_port_config_parse(), ifcvf_port_configs_check(), vfio_address_parse(),
 * ifcvf_devargs_parse() and ifcvf_libvirt_uri_check(). (The D-Bus method
 * arguments are dbus-args.c's: a bus round trip is a thousand times slower.)
 *
 * Oracles: no crash, leak or sanitizer report; a spec accepted reads back
 * the same from the spec made of it; devargs accepted read back the same. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "ifcvf-devargs.h"
#include "run-options.h"
#include "vfio-dev-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "specs-args fuzz: %s: %s\n", what, detail);
	abort();
}

static char *spec_of(const struct port_config *c)
{
	return g_strdup_printf("device=%s,socket=%s,client=%d,sw-live-migration=%d,"
			       "generic-virtio=%d%s%.0u", c->device, c->socket, c->client,
			       c->sw_live_migration, c->generic_virtio,
			       c->queue_pairs ? ",queue-pairs=" : "", c->queue_pairs);
}

static void specs(const uint8_t *data, size_t size)
{
	struct port_config cfgs[4] = { 0 };
	guint n = 0;
	/* the pieces, NUL-separated: up to 4 specs, then devargs, then a URI */
	const char *pieces[6] = { 0 };
	g_autofree char *raw = g_malloc(size + 1);
	size_t k = 0, start = 0;

	memcpy(raw, data, size);
	raw[size] = '\0';
	for (size_t i = 0; i <= size && k < 6; i++)
		if (i == size || raw[i] == '\0') {
			pieces[k++] = raw + start;
			start = i + 1;
		}
	for (guint i = 0; i < 4 && pieces[i]; i++) {
		g_autoptr(GError) error = NULL;
		struct port_config again = { 0 };
		g_autofree char *spec = NULL;
		struct vfio_address addr;
		struct cerr e;

		if (!ifcvf_port_config_parse(pieces[i], &cfgs[n], &error)) {
			if (!error)
				fail("--port refused without an error", pieces[i]);
			continue;
		}
		if (!cfgs[n].device || !*cfgs[n].device || !cfgs[n].socket || !*cfgs[n].socket ||
		    cfgs[n].queue_pairs > 32)
			fail("--port accepted without a device, a socket or sane queue pairs",
			     pieces[i]);
		(void)vfio_address_parse(cfgs[n].device, &addr, &e);
		/* a spec made of what was read, if it holds no ',', reads the same */
		spec = spec_of(&cfgs[n]);
		if (!strchr(cfgs[n].device, ',') && !strchr(cfgs[n].socket, ',')) {
			if (!ifcvf_port_config_parse(spec, &again, &error))
				fail("--port refuses a spec made of an accepted one", spec);
			if (strcmp(again.device, cfgs[n].device) || strcmp(again.socket, cfgs[n].socket) ||
			    again.client != cfgs[n].client ||
			    again.sw_live_migration != cfgs[n].sw_live_migration ||
			    again.generic_virtio != cfgs[n].generic_virtio ||
			    again.queue_pairs != cfgs[n].queue_pairs)
				fail("--port reads another port back", spec);
			ifcvf_port_config_clear(&again);
		}
		n++;
	}
	(void)ifcvf_port_configs_check(cfgs, n, NULL);
	for (guint i = 0; i < n; i++)
		ifcvf_port_config_clear(&cfgs[i]);
	if (pieces[4]) {
		struct ifcvf_devargs a, b;
		struct cerr e;

		if (ifcvf_devargs_parse(pieces[4], &a, &e) == 0) {
			g_autofree char *again = g_strdup_printf("sw-live-migration=%d,generic-virtio=%d",
								 a.sw_live_migration, a.generic_virtio);

			if (ifcvf_devargs_parse(again, &b, &e) < 0 ||
			    b.sw_live_migration != a.sw_live_migration ||
			    b.generic_virtio != a.generic_virtio)
				fail("--devargs reads back otherwise", again);
		}
	}
	if (pieces[5])
		(void)ifcvf_libvirt_uri_check(pieces[5], NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	specs(data, size);
	return 0;
}

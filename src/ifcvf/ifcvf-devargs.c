#include "ifcvf-devargs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int parse_bool(const char *key, const char *value, bool *ret, struct cerr *e)
{
	unsigned long v;
	char *end;

	if (!value || !*value)
		return cerr_set(e, EINVAL, "option %s needs a value (0 or 1)", key);
	errno = 0;
	v = strtoul(value, &end, 0);
	if (errno || *end || (v != 0 && v != 1) || value[0] == '-')
		return cerr_set(e, EINVAL, "option %s: '%s' is not 0 or 1", key, value);
	*ret = v == 1;
	return 0;
}

int ifcvf_devargs_apply(struct ifcvf_devargs *args, const char *key, const char *value,
			struct cerr *e)
{
	if (strcmp(key, "sw-live-migration") == 0)
		return parse_bool(key, value, &args->sw_live_migration, e);
	if (strcmp(key, "generic-virtio") == 0)
		return parse_bool(key, value, &args->generic_virtio, e);
	return cerr_set(e, ENOENT, "unknown option '%s'", key);
}

int ifcvf_devargs_parse(const char *s, struct ifcvf_devargs *ret, struct cerr *e)
{
	struct ifcvf_devargs args = { 0 };
	char *copy, *save = NULL;
	int r = 0;

	if (!s || !*s) {
		*ret = args;
		return 0;
	}
	copy = strdup(s);
	if (!copy)
		return cerr_set(e, ENOMEM, "out of memory");
	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');

		if (!eq) {
			r = cerr_set(e, EINVAL, "option '%s' is not KEY=VALUE", item);
			break;
		}
		*eq = '\0';
		r = ifcvf_devargs_apply(&args, item, eq + 1, e);
		if (r < 0) {
			if (r == -ENOENT)
				r = cerr_set(e, EINVAL, "unknown option '%s'", item);
			break;
		}
	}
	free(copy);
	if (r == 0 && s[strlen(s) - 1] == ',')
		r = cerr_set(e, EINVAL, "options '%s' end with a stray comma", s);
	if (r == 0)
		*ret = args;
	return r;
}

/* libvirt.so.0 opened at first use. See libvirt-dl.h. */
#include "libvirt-dl.h"

#include <dlfcn.h>

#include "helper-error.h"

static IfcvfLibvirtDl table;
static void *handle;           /* never closed: see the header */
static char *failure;          /* why it could not be loaded; set once */

/* NULL with ret_failure when the library or one of its functions is not
 * there; dlclose()s what it opened then */
static const IfcvfLibvirtDl *load(char **ret_failure)
{
	IfcvfLibvirtDl t = { 0 };
	const char *missing = NULL;
	void *h;

	h = dlopen(IFCVF_LIBVIRT_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		*ret_failure = g_strdup_printf("cannot load %s: %s", IFCVF_LIBVIRT_SONAME,
					       dlerror());
		return NULL;
	}
	(void)dlerror();
#define IFCVF_LIBVIRT_LOOKUP(name)                                                    \
	if (!missing && !(t.name = (__typeof__(t.name))dlsym(h, #name)))              \
		missing = #name;
	IFCVF_LIBVIRT_FUNCTIONS(IFCVF_LIBVIRT_LOOKUP)
#undef IFCVF_LIBVIRT_LOOKUP
	if (missing) {
		const char *why = dlerror();

		*ret_failure = g_strdup_printf("cannot use %s: it has no %s (%s)",
					       IFCVF_LIBVIRT_SONAME, missing,
					       why ? why : "a null symbol");
		dlclose(h);
		return NULL;
	}
	handle = h;
	table = t;
	return &table;
}

const IfcvfLibvirtDl *ifcvf_libvirt_dl(GError **error)
{
	static gsize done;
	static const IfcvfLibvirtDl *lv;

	if (g_once_init_enter(&done)) {
		lv = load(&failure);
		g_once_init_leave(&done, 1);
	}
	if (!lv)
		g_set_error_literal(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_FAILED, failure);
	return lv;
}

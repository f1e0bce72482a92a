/* libvirt.so.0, opened with dlopen() the first time the libvirt watch
 * (libvirt-watch.c, `run --libvirt-uri`) needs it: a helper without
 * --libvirt-uri never maps libvirt nor the ~35 libraries it pulls in
 * (gnutls, krb5, curl, ssh...: 6.9 MB of RSS). The headers give the
 * types; the functions come from dlsym(), one typed pointer each, all
 * looked up at once so that a library without one of them fails at start,
 * naming it, and never in the middle of a migration.
 *
 * The library stays loaded for the rest of the process once found:
 * libvirt registers its event loop once per process (it cannot be taken
 * back), a re-read thread of the watch may outlive the watch, and Debian's
 * libvirt.so.0 is linked -z nodelete, so dlclose() would unmap nothing.
 * A library that lacks a function is closed again at once.
 *
 * Threads: ifcvf_libvirt_dl() may be called from any thread (a GOnce);
 * the table it returns is read-only and lives until exit. */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#define IFCVF_LIBVIRT_SONAME "libvirt.so.0"

/* Every libvirt function the helper calls, in the order they are looked
 * up. */
#define IFCVF_LIBVIRT_FUNCTIONS(X)                                            \
	X(virInitialize)                                                      \
	X(virEventRegisterDefaultImpl)                                        \
	X(virEventRunDefaultImpl)                                             \
	X(virEventAddTimeout)                                                 \
	X(virEventUpdateTimeout)                                              \
	X(virEventRemoveTimeout)                                              \
	X(virSetErrorFunc)                                                    \
	X(virGetLastErrorMessage)                                             \
	X(virGetLastErrorCode)                                                \
	X(virConnectOpenReadOnly)                                             \
	X(virConnectRef)                                                      \
	X(virConnectClose)                                                    \
	X(virConnectSetKeepAlive)                                             \
	X(virConnectRegisterCloseCallback)                                    \
	X(virConnectUnregisterCloseCallback)                                  \
	X(virConnectDomainEventRegisterAny)                                   \
	X(virConnectDomainEventDeregisterAny)                                 \
	X(virDomainLookupByUUIDString)                                        \
	X(virDomainGetUUIDString)                                             \
	X(virDomainGetState)                                                  \
	X(virDomainGetJobStats)                                               \
	X(virDomainFree)                                                      \
	X(virTypedParamsGetInt)                                               \
	X(virTypedParamsFree)

/* One member per function, named as the function, of its own type:
 * lv->virConnectClose(conn). */
typedef struct {
#define IFCVF_LIBVIRT_MEMBER(name) __typeof__(name) *name;
	IFCVF_LIBVIRT_FUNCTIONS(IFCVF_LIBVIRT_MEMBER)
#undef IFCVF_LIBVIRT_MEMBER
} IfcvfLibvirtDl;

/* The table, loading IFCVF_LIBVIRT_SONAME on the first call; NULL with
 * @error naming the library, the function missing if one is, and what
 * dlerror() said. A failure is remembered: every later call gives it
 * again. */
const IfcvfLibvirtDl *ifcvf_libvirt_dl(GError **error);

/* A raw vfio-user client connection for the emulator's tests, which speak
 * the wire format themselves (what each test sends is its own). */
#pragma once

#include <glib.h>

typedef struct {
	int fd;
	guint16 next_id;
} Client;

/* Connect to the UNIX socket @path; fails the test when nobody listens. */
Client *client_connect(const char *path);
void client_free(Client *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Client, client_free)

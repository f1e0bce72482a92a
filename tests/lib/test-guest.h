/* A net guest of the tests' own: guest memory, an RX and a TX ring and a
 * vhost-user connection (vu-frontend.h, virtq-drv.h), for tests that drive
 * a real helper the way QEMU would. Every failure ends the test (g_error)
 * naming the step that failed.
 *
 * Threads: a TestGuest belongs to the thread that made it. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "virtq-drv.h"
#include "vu-frontend.h"

typedef struct {
	struct vu_guest_mem mem;
	struct virtq_drv rx, tx;
	struct vu_frontend fe;
	gboolean open;     /* fe is connected */
	uint64_t features; /* what SET_FEATURES sent last */
} TestGuest;

/* g_error() "@what: <cause>" when @r < 0 */
void test_guest_check(int r, const struct cerr *ce, const char *what);

/* Connect to @socket (10 s at most), negotiate @protocol, send @features,
 * map 8 MiB of guest memory and set up both 256-entry vrings, not enabled. */
TestGuest *test_guest_setup(const char *socket, uint64_t protocol, uint64_t features);

/* Enable both vrings. */
void test_guest_enable(TestGuest *g);

/* test_guest_setup() with REPLY_ACK (so every request is done when it
 * returns) and LOG_SHMFD, then test_guest_enable(). */
TestGuest *test_guest_start(const char *socket, uint64_t features);

/* Close the connection (if open) and free the rings and the memory. */
void test_guest_free(TestGuest *g);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TestGuest, test_guest_free)

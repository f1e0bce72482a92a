/* The event relay threads: events become callbacks, removal is final once
 * it returns, a closed caller fd does not matter, and stopping joins the
 * thread and leaves no fd behind. */
#include <sys/eventfd.h>
#include <unistd.h>

#include "config-relay.h"
#include "event-relay.h"
#include "kick-relay.h"
#include "test-util.h"

typedef struct {
	GMutex lock;
	GCond cond;
	guint count[EVENT_RELAY_MAX_KEYS];
	guint total;
} Counter;

static void count_cb(void *opaque, unsigned key)
{
	Counter *c = opaque;

	g_mutex_lock(&c->lock);
	c->count[key]++;
	c->total++;
	g_cond_broadcast(&c->cond);
	g_mutex_unlock(&c->lock);
}

static void count_cfg(void *opaque)
{
	count_cb(opaque, 0);
}

static void wait_total(Counter *c, guint total)
{
	gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

	g_mutex_lock(&c->lock);
	while (c->total < total)
		if (!g_cond_wait_until(&c->cond, &c->lock, deadline))
			g_error("relay delivered %u of %u events within 10 s", c->total, total);
	g_mutex_unlock(&c->lock);
}

static void kick(int fd)
{
	uint64_t one = 1;

	g_assert_cmpint(write(fd, &one, sizeof(one)), ==, sizeof(one));
}

static void test_kick_relay(void)
{
	guint fds_before = test_count_fds();
	struct kick_relay *k = NULL;
	struct cerr ce = { 0 };
	Counter c = { 0 };
	int a = eventfd(0, EFD_CLOEXEC), b = eventfd(0, EFD_CLOEXEC);

	g_assert_cmpint(kick_relay_new("test-kick", count_cb, &c, &k, &ce), ==, 0);
	g_assert_cmpint(kick_relay_add(k, 0, a, &ce), ==, 0);
	g_assert_cmpint(kick_relay_add(k, 5, b, &ce), ==, 0);
	kick(a);
	wait_total(&c, 1);
	kick(b);
	wait_total(&c, 2);
	g_assert_cmpuint(c.count[0], ==, 1);
	g_assert_cmpuint(c.count[5], ==, 1);

	/* the relay keeps its own dup: the caller may close its fd (DPDK does) */
	close(a);
	kick_relay_remove(k, 5);
	kick(b);
	g_usleep(50 * 1000);
	g_assert_cmpuint(c.count[5], ==, 1);
	/* re-added under the same key: the pending kick is relayed */
	g_assert_cmpint(kick_relay_add(k, 5, b, &ce), ==, 0);
	wait_total(&c, 3);
	g_assert_cmpint(kick_relay_add(k, EVENT_RELAY_MAX_KEYS, b, &ce), ==, -EINVAL);
	g_assert_cmpint(kick_relay_add(k, 1, -1, &ce), ==, -EBADF);
	kick_relay_free(k);
	close(b);
	g_assert_cmpuint(test_count_fds(), ==, fds_before);
}

static void test_config_relay(void)
{
	guint fds_before = test_count_fds();
	struct config_relay *cr = NULL;
	struct cerr ce = { 0 };
	Counter c = { 0 };

	g_assert_cmpint(config_relay_new("test-cfg", count_cfg, &c, &cr, &ce), ==, 0);
	kick(config_relay_fd(cr));
	wait_total(&c, 1);
	kick(config_relay_fd(cr));
	wait_total(&c, 2);
	config_relay_free(cr);
	config_relay_free(NULL);
	g_assert_cmpuint(test_count_fds(), ==, fds_before);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/relay/kick", test_kick_relay);
	g_test_add_func("/relay/config", test_config_relay);
	return g_test_run();
}

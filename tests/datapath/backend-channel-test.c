/* backend-channel.h on a socket pair: a notice is one 12-byte
 * CONFIG_CHANGE message; a peer that does not read fills the channel and
 * further notices are dropped at once, never waited for; a peer that reads
 * again gets notices again; a peer that went away ends the channel. */
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend-channel.h"

#define CONN 3

static void test_notices(void)
{
	int sv[2], small = 1;
	uint32_t hdr[3];
	guint sent = 0, dropped = 0;

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
	g_assert_cmpint(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), ==, 0);
	g_assert_cmpint(backend_channel_config_changed(CONN), ==, -ENOTCONN);
	g_assert_true(backend_channel_set(CONN, sv[1], "port 9"));
	/* the helper keeps its own copy */
	close(sv[1]);

	g_assert_cmpint(backend_channel_config_changed(CONN), ==, 0);
	g_assert_cmpint(recv(sv[0], hdr, sizeof(hdr), MSG_DONTWAIT), ==, (ssize_t)sizeof(hdr));
	g_assert_cmpuint(hdr[0], ==, 2);   /* CONFIG_CHANGE_MSG */
	g_assert_cmpuint(hdr[1], ==, 1);   /* version 1, no reply wanted */
	g_assert_cmpuint(hdr[2], ==, 0);

	/* nobody reads: full, then dropped, and the caller never waits */
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING,
			      "port 9: config-change notice dropped*");
	for (guint i = 0; i < 1000; i++) {
		int r = backend_channel_config_changed(CONN);

		g_assert_true(r == 0 || r == -EAGAIN);
		if (r == 0)
			sent++;
		else
			dropped++;
	}
	g_test_assert_expected_messages();
	g_assert_cmpuint(sent, >, 0);
	g_assert_cmpuint(dropped, >, 0);
	/* whole messages only */
	for (guint i = 0; i < sent; i++)
		g_assert_cmpint(recv(sv[0], hdr, sizeof(hdr), MSG_DONTWAIT), ==, (ssize_t)sizeof(hdr));
	g_assert_cmpint(recv(sv[0], hdr, sizeof(hdr), MSG_DONTWAIT), ==, -1);

	/* read again: notices again */
	g_assert_cmpint(backend_channel_config_changed(CONN), ==, 0);
	g_assert_cmpint(recv(sv[0], hdr, sizeof(hdr), MSG_DONTWAIT), ==, (ssize_t)sizeof(hdr));

	/* the frontend went away: the channel ends, said once */
	close(sv[0]);
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING,
			      "port 9: the backend channel broke*");
	g_assert_cmpint(backend_channel_config_changed(CONN), ==, -EPIPE);
	g_test_assert_expected_messages();
	g_assert_cmpint(backend_channel_config_changed(CONN), ==, -ENOTCONN);
	backend_channel_clear(CONN);
}

static void test_not_a_socket(void)
{
	int p[2];

	g_assert_cmpint(pipe(p), ==, 0);
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "port 9: *not a socket*");
	g_assert_false(backend_channel_set(CONN, p[1], "port 9"));
	g_test_assert_expected_messages();
	g_assert_cmpint(backend_channel_config_changed(CONN), ==, -ENOTCONN);
	close(p[0]);
	close(p[1]);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/backend-channel/notices", test_notices);
	g_test_add_func("/backend-channel/not-a-socket", test_not_a_socket);
	return g_test_run();
}

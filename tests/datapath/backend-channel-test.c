/* backend-channel.h on a socket pair: a notice is one 12-byte
 * CONFIG_CHANGE message; a peer that does not read fills the channel and
 * further notices are dropped at once, never waited for; a peer that reads
 * again gets notices again; a peer that went away ends the channel.
 * Host notifiers: the message carries the fd, offset and size and asks for
 * a reply; the result (accepted, refused) reaches the requester; a peer
 * that never answers or closes its end gets no more of them, and the
 * requester hears "not on" for each, never waiting itself. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <stdint.h>
#include <sys/eventfd.h>
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

/* ---- host notifiers ---- */

typedef struct {
	GMutex lock;
	GCond cond;
	guint results;
	guint64 on;       /* bit per vring: last result */
	int conn;
} Results;

static void on_done(void *opaque, int conn, unsigned qid, bool on)
{
	Results *res = opaque;

	g_mutex_lock(&res->lock);
	g_assert_cmpint(conn, ==, res->conn);
	if (on)
		res->on |= 1ull << qid;
	else
		res->on &= ~(1ull << qid);
	res->results++;
	g_cond_broadcast(&res->cond);
	g_mutex_unlock(&res->lock);
}

/* Wait (bounded: a hang guard) for @n results in all. */
static void wait_results(Results *res, guint n)
{
	gint64 end = g_get_monotonic_time() + 20 * G_TIME_SPAN_SECOND;

	g_mutex_lock(&res->lock);
	while (res->results < n)
		if (!g_cond_wait_until(&res->cond, &res->lock, end))
			g_error("%u host-notifier results came, %u expected", res->results, n);
	g_mutex_unlock(&res->lock);
}

/* One host-notifier message off @sock: its vring, NOFD, size, offset, and
 * the fd it carried (-1: none); bounded. */
static void read_area(int sock, guint *qid, gboolean *nofd, guint64 *size, guint64 *off,
		      int *fd)
{
	struct {
		uint32_t request, flags, size;
		uint64_t u64, area_size, area_offset;
	} __attribute__((packed)) m;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	struct pollfd pf = { .fd = sock, .events = POLLIN };
	struct cmsghdr *cm;

	g_assert_cmpint(poll(&pf, 1, 10000), ==, 1);
	g_assert_cmpint(recvmsg(sock, &mh, MSG_CMSG_CLOEXEC), ==, (ssize_t)sizeof(m));
	g_assert_cmpuint(m.request, ==, 3);        /* VRING_HOST_NOTIFIER_MSG */
	g_assert_cmpuint(m.flags, ==, 1 | 1 << 3);  /* version 1, NEED_REPLY */
	g_assert_cmpuint(m.size, ==, 24);
	*qid = m.u64 & 0xff;
	*nofd = (m.u64 & (1ull << 8)) != 0;
	*size = m.area_size;
	*off = m.area_offset;
	*fd = -1;
	cm = CMSG_FIRSTHDR(&mh);
	if (cm && cm->cmsg_type == SCM_RIGHTS)
		memcpy(fd, CMSG_DATA(cm), sizeof(int));
}

static void reply(int sock, guint64 status)
{
	struct {
		uint32_t request, flags, size;
		uint64_t u64;
	} __attribute__((packed)) m = { 3, 1 | 1 << 2, 8, status };

	g_assert_cmpint(send(sock, &m, sizeof(m), 0), ==, (ssize_t)sizeof(m));
}

static void test_host_notifier(void)
{
	Results res = { .conn = CONN };
	int sv[2], page, poke, got;
	guint qid;
	gboolean nofd;
	guint64 size, off;
	eventfd_t v;

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
	g_assert_true(backend_channel_set(CONN, sv[1], "port 9"));
	close(sv[1]);
	page = eventfd(0, EFD_CLOEXEC);   /* any fd: it travels, nobody maps it */
	poke = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	/* accepted: the fd, offset and size arrive; the requester hears "on" */
	backend_channel_host_notifier(CONN, 1, page, 0x3000, 4096, -1, on_done, &res);
	read_area(sv[0], &qid, &nofd, &size, &off, &got);
	g_assert_cmpuint(qid, ==, 1);
	g_assert_false(nofd);
	g_assert_cmpuint(size, ==, 4096);
	g_assert_cmphex(off, ==, 0x3000);
	g_assert_cmpint(got, >=, 0);
	close(got);
	reply(sv[0], 0);
	wait_results(&res, 1);
	g_assert_cmphex(res.on, ==, 0x2);

	/* removed: no fd, NOFD set; the poke fd is signalled once done */
	backend_channel_host_notifier(CONN, 1, -1, 0, 0, poke, on_done, &res);
	read_area(sv[0], &qid, &nofd, &size, &off, &got);
	g_assert_cmpuint(qid, ==, 1);
	g_assert_true(nofd);
	g_assert_cmpint(got, ==, -1);
	reply(sv[0], 0);
	wait_results(&res, 2);
	g_assert_cmphex(res.on, ==, 0);
	g_assert_cmpint(eventfd_read(poke, &v), ==, 0);

	/* refused (QEMU without page-per-vq=on): "off", said once */
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE,
			      "port 9: the frontend refused the host notifier of vring 0*page-per-vq=on*");
	backend_channel_host_notifier(CONN, 0, page, 0, 4096, -1, on_done, &res);
	read_area(sv[0], &qid, &nofd, &size, &off, &got);
	close(got);
	reply(sv[0], 1);
	wait_results(&res, 3);
	g_test_assert_expected_messages();
	g_assert_cmphex(res.on, ==, 0);

	/* never answered: given up after the reply timeout; the next request
	 * fails at once, without a message on the channel */
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING,
			      "port 9: host notifiers given up*did not read*");
	backend_channel_host_notifier(CONN, 2, page, 0, 4096, -1, on_done, &res);
	backend_channel_host_notifier(CONN, 3, page, 0, 4096, -1, on_done, &res);
	wait_results(&res, 5);
	g_test_assert_expected_messages();
	g_assert_cmphex(res.on, ==, 0);
	read_area(sv[0], &qid, &nofd, &size, &off, &got);
	g_assert_cmpuint(qid, ==, 2);
	close(got);
	{
		char b;

		g_assert_cmpint(recv(sv[0], &b, 1, MSG_DONTWAIT), ==, -1);
	}
	/* config-change notices still go */
	g_assert_cmpint(backend_channel_config_changed(CONN), ==, 0);
	backend_channel_clear(CONN);
	close(sv[0]);

	/* a frontend that closed its end: given up, "off" */
	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
	g_assert_true(backend_channel_set(CONN, sv[1], "port 9"));
	close(sv[1]);
	close(sv[0]);
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING,
			      "port 9: host notifiers given up*closed its backend channel*");
	backend_channel_host_notifier(CONN, 0, page, 0, 4096, -1, on_done, &res);
	wait_results(&res, 6);
	g_test_assert_expected_messages();
	g_assert_cmphex(res.on, ==, 0);
	backend_channel_clear(CONN);

	/* no channel at all: "off" at once */
	backend_channel_host_notifier(CONN, 0, page, 0, 4096, -1, on_done, &res);
	wait_results(&res, 7);
	backend_channel_clear(CONN);
	close(page);
	close(poke);
}

/* A frontend that goes away while a request waits for its answer: the
 * request is cut short and its result never delivered after
 * backend_channel_clear() returned. */
static void test_host_notifier_clear(void)
{
	Results res = { .conn = CONN };
	int sv[2], page = eventfd(0, EFD_CLOEXEC), got;
	guint qid;
	gboolean nofd;
	guint64 size, off;

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
	g_assert_true(backend_channel_set(CONN, sv[1], "port 9"));
	close(sv[1]);
	backend_channel_host_notifier(CONN, 0, page, 0, 4096, -1, on_done, &res);
	backend_channel_host_notifier(CONN, 1, page, 0, 4096, -1, on_done, &res);
	read_area(sv[0], &qid, &nofd, &size, &off, &got);
	close(got);
	backend_channel_clear(CONN);
	/* neither the one under way nor the queued one answers any more */
	g_assert_cmpuint(res.results, ==, 0);
	close(sv[0]);
	close(page);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/backend-channel/host-notifier", test_host_notifier);
	g_test_add_func("/backend-channel/host-notifier-clear", test_host_notifier_clear);
	g_test_add_func("/backend-channel/notices", test_notices);
	g_test_add_func("/backend-channel/not-a-socket", test_not_a_socket);
	return g_test_run();
}

/* A net guest of the tests' own (test-guest.h). */
#include "test-guest.h"

void test_guest_check(int r, const struct cerr *ce, const char *what)
{
	if (r < 0)
		g_error("%s: %s", what, ce->msg);
}

TestGuest *test_guest_setup(const char *socket, uint64_t protocol, uint64_t features)
{
	TestGuest *g = g_new0(TestGuest, 1);
	struct cerr ce = { 0 };

	g->fe.log_fd = -1;
	test_guest_check(vu_guest_mem_init(&g->mem, 8u << 20, &ce), &ce, "guest memory");
	test_guest_check(virtq_drv_init(&g->rx, &g->mem, 0, 256, false, &ce), &ce, "RX ring");
	test_guest_check(virtq_drv_init(&g->tx, &g->mem, 1, 256, false, &ce), &ce, "TX ring");
	test_guest_check(vu_frontend_connect(&g->fe, socket, 10000, &ce), &ce, "connect");
	g->open = TRUE;
	test_guest_check(vu_frontend_handshake(&g->fe, protocol, &ce), &ce, "handshake");
	g->features = features;
	test_guest_check(vu_frontend_set_features(&g->fe, features, &ce), &ce, "SET_FEATURES");
	test_guest_check(vu_frontend_set_mem_table(&g->fe, &g->mem, &ce), &ce, "SET_MEM_TABLE");
	test_guest_check(vu_frontend_setup_vring(&g->fe, &g->rx, &ce), &ce, "RX vring");
	test_guest_check(vu_frontend_setup_vring(&g->fe, &g->tx, &ce), &ce, "TX vring");
	return g;
}

void test_guest_enable(TestGuest *g)
{
	struct cerr ce = { 0 };

	test_guest_check(vu_frontend_set_vring_enable(&g->fe, 0, true, &ce), &ce, "enable RX");
	test_guest_check(vu_frontend_set_vring_enable(&g->fe, 1, true, &ce), &ce, "enable TX");
}

TestGuest *test_guest_start(const char *socket, uint64_t features)
{
	TestGuest *g = test_guest_setup(socket, 1ull << VU_PROTOCOL_F_REPLY_ACK |
						1ull << VU_PROTOCOL_F_LOG_SHMFD, features);

	g_assert_true(g->fe.reply_ack);
	test_guest_enable(g);
	return g;
}

void test_guest_free(TestGuest *g)
{
	if (g->open)
		vu_frontend_close(&g->fe);
	virtq_drv_fini(&g->rx);
	virtq_drv_fini(&g->tx);
	vu_guest_mem_fini(&g->mem);
	g_free(g);
}

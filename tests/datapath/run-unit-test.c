/* Pure pieces of `ifcvf-helper run`: --port parsing, the features a port
 * offers, the memory table checks and translation, the event hand-off. */
#include <string.h>

#include "helper-error.h"
#include "ifcvf-regs.h"
#include "port-events.h"
#include "port-mem.h"
#include "run-options.h"
#include "vhost-features.h"

#define BIT(n) (1ull << (n))

static void test_parse_full(void)
{
	g_autoptr(GError) error = NULL;
	struct port_config cfg;

	g_assert_true(ifcvf_port_config_parse(
		"device=vfio-user:/run/vf0.sock,socket=/run/vm.sock,client,sw-live-migration=1,queue-pairs=2",
		&cfg, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(cfg.device, ==, "vfio-user:/run/vf0.sock");
	g_assert_cmpstr(cfg.socket, ==, "/run/vm.sock");
	g_assert_true(cfg.client);
	g_assert_true(cfg.sw_live_migration);
	g_assert_cmpuint(cfg.queue_pairs, ==, 2);
	ifcvf_port_config_clear(&cfg);

	g_assert_true(ifcvf_port_config_parse("socket=/s,device=pci:0000:af:00.3,client=0", &cfg,
					      &error));
	g_assert_false(cfg.client);
	g_assert_false(cfg.sw_live_migration);
	g_assert_cmpuint(cfg.queue_pairs, ==, 0);
	ifcvf_port_config_clear(&cfg);
}

static void test_parse_errors(void)
{
	static const char *const bad[][2] = {
		{ "", "device= is missing" },
		{ "device=pci:x,socket=/s,queue-pairs=33", "queue-pairs='33' is not a number from 1 to 32" },
		{ "device=pci:x,socket=/s,queue-pairs=-1", "queue-pairs='-1'" },
		{ "device=pci:x,socket=/s,queue-pairs=", "queue-pairs=''" },
		{ "device=pci:x,socket=", "socket is empty" },
		{ "device=pci:x,socket=/s,,", "empty key" },
		{ "device=pci:x,socket=/s,=1", "empty key" },
		{ "device=pci:x,socket=/s,client,client", "client is given twice" },
	};

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		struct port_config cfg = { 0 };

		g_assert_false(ifcvf_port_config_parse(bad[i][0], &cfg, &error));
		g_assert_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_INVALID_ARGS);
		if (!strstr(error->message, bad[i][1]))
			g_error("'%s': '%s' does not say '%s'", bad[i][0], error->message, bad[i][1]);
		g_assert_null(cfg.device);
	}
}

static void test_configs_check(void)
{
	struct port_config cfgs[] = {
		{ .device = (char *)"vfio-user:/a", .socket = (char *)"/s1" },
		{ .device = (char *)"vfio-user:/a", .socket = (char *)"/s2" },
	};
	g_autoptr(GError) error = NULL;

	g_assert_false(ifcvf_port_configs_check(cfgs, 2, &error));
	g_assert_nonnull(strstr(error->message, "same device (vfio-user:/a)"));
	g_clear_error(&error);
	cfgs[1].device = (char *)"vfio-user:/b";
	g_assert_true(ifcvf_port_configs_check(cfgs, 2, &error));
}

static void test_features(void)
{
	uint64_t vf = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_ACCESS_PLATFORM) |
		      BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_NET_F_MQ) |
		      BIT(VIRTIO_NET_F_CTRL_VQ) | BIT(VIRTIO_RING_F_EVENT_IDX);
	/* offered by the VF, carried by no path of the helper */
	uint64_t bad = BIT(VIRTIO_F_RING_PACKED) | BIT(VIRTIO_F_IN_ORDER) |
		       BIT(VIRTIO_F_NOTIFICATION_DATA) | BIT(40) /* RING_RESET */ |
		       BIT(VIRTIO_F_SR_IOV) | BIT(VIRTIO_F_NOTIFY_ON_EMPTY);
	uint64_t net_bad = bad | BIT(VIRTIO_NET_F_CTRL_RX) | BIT(VIRTIO_NET_F_CTRL_VLAN) |
			   BIT(VIRTIO_NET_F_CTRL_MAC_ADDR) | BIT(VIRTIO_NET_F_GUEST_ANNOUNCE) |
			   BIT(60) /* RSS */;
	uint64_t blk_vf = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_BLK_F_MQ) | BIT(VIRTIO_BLK_F_FLUSH);
	uint64_t blk_bad = bad | BIT(VIRTIO_BLK_F_CONFIG_WCE) | BIT(15) /* LIFETIME */;
	const uint64_t emulated = 0x44230000ull; /* STATUS CTRL_VQ ANNOUNCE LOG_ALL PROTOCOL */

	for (int ifcvf = 0; ifcvf <= 1; ifcvf++) {
		uint64_t net = ifcvf_vhost_offered_features(IFCVF_DEV_NET, ifcvf, vf | net_bad, 4);
		uint64_t net1 = ifcvf_vhost_offered_features(IFCVF_DEV_NET, ifcvf, vf | net_bad, 1);
		uint64_t blk = ifcvf_vhost_offered_features(IFCVF_DEV_BLK, ifcvf, blk_vf | blk_bad, 2);
		uint64_t to_vf = ifcvf_vhost_vf_features(IFCVF_DEV_NET, ifcvf, 4, net | net_bad,
							 vf | net_bad);
		uint64_t to_vf1 = ifcvf_vhost_vf_features(IFCVF_DEV_NET, ifcvf, 1, net1 | net_bad,
							  vf | net_bad);

		/* reference §4.1: the VF's bits without IOMMU_PLATFORM, plus
		 * 0x44230000; nothing unsupported */
		g_assert_cmphex(net, ==, (vf & ~BIT(VIRTIO_F_ACCESS_PLATFORM)) | emulated);
		g_assert_cmphex(net1 & BIT(VIRTIO_NET_F_MQ), ==, 0);
		/* blk: PROTOCOL_FEATURES, and LOG_ALL only for an IFCVF */
		g_assert_cmphex(blk, ==, blk_vf | (ifcvf ? 0x44000000ull : 0x40000000ull));
		g_assert_cmphex(ifcvf_vhost_vf_features(IFCVF_DEV_BLK, ifcvf, 2, blk | blk_bad,
							blk_vf | blk_bad), ==, blk_vf);
		/* what reaches the VF: only bits it offers itself, the
		 * supported ones, IOMMU_PLATFORM included when it offers it
		 * (the helper programs IOVAs) */
		g_assert_cmphex(to_vf, ==, vf);
		g_assert_cmphex(ifcvf_vhost_vf_features(IFCVF_DEV_NET, ifcvf, 4, net,
							vf & ~BIT(VIRTIO_F_ACCESS_PLATFORM)), ==,
				vf & ~BIT(VIRTIO_F_ACCESS_PLATFORM));
		/* one pair: a plain function's control queue stays unused
		 * (nobody would serve it); an IFCVF's is what it always was */
		g_assert_cmphex(to_vf1, ==, vf & ~BIT(VIRTIO_NET_F_MQ) &
						 ~(ifcvf ? 0 : BIT(VIRTIO_NET_F_CTRL_VQ)));
		/* several pairs, the frontend without MQ: a plain function
		 * still gets MQ (the helper runs its pairs), an IFCVF not */
		g_assert_cmphex(ifcvf_vhost_vf_features(IFCVF_DEV_NET, ifcvf, 4,
							net & ~BIT(VIRTIO_NET_F_MQ) &
							~BIT(VIRTIO_NET_F_CTRL_VQ), vf),
				==, vf & ~(ifcvf ? BIT(VIRTIO_NET_F_MQ) | BIT(VIRTIO_NET_F_CTRL_VQ) : 0));
	}
	/* MQ, LOG_SHMFD, REPLY_ACK, BACKEND_REQ, BACKEND_SEND_FD, HOST_NOTIFIER,
	 * STATUS; blk also CONFIG */
	for (int ifcvf = 0; ifcvf <= 1; ifcvf++)
		g_assert_cmphex(ifcvf_vhost_protocol_features(IFCVF_DEV_NET, ifcvf), ==, 0x10c2bull);
	g_assert_cmphex(ifcvf_vhost_protocol_features(IFCVF_DEV_BLK, true), ==, 0x10e2bull);
	/* a plain blk function cannot migrate without losing requests in
	 * flight: no log support offered, so QEMU blocks the migration */
	g_assert_false(ifcvf_vhost_migratable(IFCVF_DEV_BLK, false));
	g_assert_cmphex(ifcvf_vhost_protocol_features(IFCVF_DEV_BLK, false), ==,
			0x10e2bull & ~BIT(VHOST_USER_PF_LOG_SHMFD));
	g_assert_cmphex(ifcvf_vhost_offered_features(IFCVF_DEV_BLK, false,
						     BIT(VIRTIO_F_VERSION_1), 1) &
			BIT(VHOST_F_LOG_ALL), ==, 0);
	g_assert_true(ifcvf_vhost_migratable(IFCVF_DEV_BLK, true));
	g_assert_true(ifcvf_vhost_migratable(IFCVF_DEV_NET, false));
}

static void test_mem(void)
{
	struct port_mem m = { .n = 2 };
	struct cerr ce = { 0 };
	uint64_t gpa = 0;

	m.r[0] = (struct port_mem_region){ .gpa = 0, .size = 0xa0000, .hva = 0x7f0000000000, .fd = 5 };
	m.r[1] = (struct port_mem_region){ .gpa = 0x100000, .size = 0x100000, .hva = 0x7f1000000000,
					   .fd = 5, .fd_offset = 0x100000 };
	g_assert_cmpint(port_mem_check(&m, &ce), ==, 0);
	g_assert_cmpint(port_mem_hva_to_gpa(&m, 0x7f1000000010, 0x100, &gpa), ==, 0);
	g_assert_cmphex(gpa, ==, 0x100010);
	g_assert_cmpint(port_mem_hva_to_gpa(&m, 0x7f0000000000, 0xa0000, &gpa), ==, 0);
	g_assert_cmphex(gpa, ==, 0);
	/* crossing the end of a region, or outside every one */
	g_assert_cmpint(port_mem_hva_to_gpa(&m, 0x7f000009ff00, 0x200, &gpa), ==, -ERANGE);
	g_assert_cmpint(port_mem_hva_to_gpa(&m, 0x1000, 16, &gpa), ==, -ERANGE);
	g_assert_cmpint(port_mem_hva_to_gpa(&m, UINT64_MAX - 4, 16, &gpa), ==, -ERANGE);

	m.r[1].gpa = 0x9f000;
	g_assert_cmpint(port_mem_check(&m, &ce), ==, -EINVAL);
	g_assert_nonnull(strstr(ce.msg, "overlap"));
	m.r[1].gpa = 0x100000;
	m.r[1].size = 0;
	g_assert_cmpint(port_mem_check(&m, &ce), ==, -EINVAL);
	g_assert_nonnull(strstr(ce.msg, "empty or wraps"));
	m.n = 0;
	g_assert_cmpint(port_mem_check(&m, &ce), ==, -EINVAL);
}

static void test_events(void)
{
	struct port_events *q = NULL;
	struct port_event ev = { .port = 1, .state = PORT_STATE_FAILED }, out;
	struct cerr ce = { 0 };

	g_assert_cmpint(port_events_new(&q, &ce), ==, 0);
	g_assert_false(port_events_pop(q, &out));
	g_strlcpy(ev.reason, "vring 0: size 3 is not a power of two", sizeof(ev.reason));
	port_events_push(q, &ev);
	ev.state = PORT_STATE_STOPPED;
	port_events_push(q, &ev);
	g_assert_true(port_events_pop(q, &out));
	g_assert_cmpint(out.state, ==, PORT_STATE_FAILED);
	g_assert_cmpstr(out.reason, ==, "vring 0: size 3 is not a power of two");
	g_assert_true(port_events_pop(q, &out));
	g_assert_cmpint(out.state, ==, PORT_STATE_STOPPED);
	g_assert_false(port_events_pop(q, &out));
	/* a stalled main loop loses the oldest events, never blocks */
	for (guint i = 0; i < 1000; i++) {
		ev.port = i;
		port_events_push(q, &ev);
	}
	g_assert_true(port_events_pop(q, &out));
	g_assert_cmpuint(out.port, ==, 1000 - 256);
	g_assert_cmpstr(port_state_to_string(PORT_STATE_RUNNING), ==, "running");
	port_events_free(q);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/run/options/full", test_parse_full);
	g_test_add_func("/run/options/errors", test_parse_errors);
	g_test_add_func("/run/options/duplicates", test_configs_check);
	g_test_add_func("/run/features", test_features);
	g_test_add_func("/run/mem", test_mem);
	g_test_add_func("/run/events", test_events);
	return g_test_run();
}

#include "vhost-glue.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <rte_version.h>
#include <rte_vhost.h>

#include "backend-channel.h"
#include "helper-error.h"
#include "sentinel.h"

/* vhost-user message header and the payloads read here (vhost-user
 * specification, "Message Specification") */
#define VU_MAX_CONFIG_SIZE 256u
#define VU_CONFIG_HDR_SIZE 12u

struct vu_msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
	union {
		uint64_t u64;
		struct {
			uint64_t mmap_size;
			uint64_t mmap_offset;
		} log;
		struct {
			uint32_t index;
			uint32_t num;
		} state;
		struct {
			uint32_t offset;
			uint32_t size;
			uint32_t flags;
			uint8_t region[VU_MAX_CONFIG_SIZE];
		} config;
	} payload;
} __attribute__((packed));

/* What the message hooks receive is DPDK's message context: the message,
 * then the fds that came with it (struct vhu_msg_context, lib/vhost/
 * vhost_user.h, internal to DPDK). The fds follow the largest payload DPDK
 * parses, its crypto session parameters: 12 + 632 bytes in 22.11. */
#if RTE_VERSION < RTE_VERSION_NUM(22, 11, 0, 0) || RTE_VERSION >= RTE_VERSION_NUM(22, 12, 0, 0)
#error "check struct vhu_msg_context in DPDK's lib/vhost/vhost_user.h and set DPDK_MSG_FDS_OFFSET"
#endif
#define DPDK_MSG_FDS_OFFSET 644u
#define DPDK_MSG_MAX_FDS 8u

struct dpdk_msg_fds {
	int fds[DPDK_MSG_MAX_FDS];
	int fd_num;
} __attribute__((packed));

/* The fd message @msg carried when it carried exactly one, else -1. */
static int msg_one_fd(const void *msg)
{
	struct dpdk_msg_fds f;

	memcpy(&f, (const char *)msg + DPDK_MSG_FDS_OFFSET, sizeof(f));
	return f.fd_num == 1 ? f.fds[0] : -1;
}

enum {
	VU_SET_FEATURES = 2,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_GET_VRING_BASE = 11,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_BACKEND_REQ_FD = 21,
	VU_GET_CONFIG = 24,
	VU_SET_STATUS = 39,
};

static struct port **ports;
static unsigned n_ports;

void ifcvf_vhost_set_ports(struct port **list, unsigned n)
{
	ports = list;
	n_ports = n;
}

static struct port *port_by_conn(int vid)
{
	for (unsigned i = 0; i < n_ports; i++)
		if (ports[i] && port_has_conn(ports[i], vid))
			return ports[i];
	return NULL;
}

/* ---- struct port_frontend_ops over rte_vhost ---- */

static int fe_get_features(int vid, uint64_t *ret)
{
	return rte_vhost_get_negotiated_features(vid, ret);
}

static int fe_get_protocol_features(int vid, uint64_t *ret)
{
	return rte_vhost_get_negotiated_protocol_features(vid, ret);
}

static unsigned fe_num_vrings(int vid)
{
	return rte_vhost_get_vring_num(vid);
}

static int fe_get_mem(int vid, struct port_mem *ret, struct cerr *e)
{
	struct rte_vhost_memory *mem = NULL;
	int r = 0;

	if (rte_vhost_get_mem_table(vid, &mem) < 0 || !mem)
		return cerr_set(e, ENOENT, "the frontend has sent no memory table");
	if (mem->nregions > PORT_MEM_MAX_REGIONS) {
		r = cerr_set(e, E2BIG, "the memory table has %u regions, at most %u are supported",
			     mem->nregions, PORT_MEM_MAX_REGIONS);
		goto out;
	}
	ret->n = mem->nregions;
	for (unsigned i = 0; i < mem->nregions; i++) {
		const struct rte_vhost_mem_region *m = &mem->regions[i];

		r = port_mem_region_from_mapping(i, m->guest_phys_addr, m->size, m->host_user_addr,
						 (uint64_t)(uintptr_t)m->mmap_addr, m->mmap_size,
						 m->fd, &ret->r[i], e);
		if (r < 0)
			goto out;
	}
out:
	free(mem);
	return r;
}

static int fe_get_vring(int vid, unsigned qid, struct port_vring *ret)
{
	struct rte_vhost_vring vr;

	if (qid > UINT16_MAX || rte_vhost_get_vhost_vring(vid, (uint16_t)qid, &vr) < 0)
		return -1;
	*ret = (struct port_vring){
		.desc = (uint64_t)(uintptr_t)vr.desc,
		.avail = (uint64_t)(uintptr_t)vr.avail,
		.used = (uint64_t)(uintptr_t)vr.used,
		.size = vr.size,
		.kickfd = vr.kickfd,
		.callfd = vr.callfd,
	};
	return 0;
}

static int fe_get_vring_base(int vid, unsigned qid, uint16_t *avail, uint16_t *used)
{
	return rte_vhost_get_vring_base(vid, (uint16_t)qid, avail, used);
}

static int fe_set_vring_base(int vid, unsigned qid, uint16_t avail, uint16_t used)
{
	return rte_vhost_set_vring_base(vid, (uint16_t)qid, avail, used);
}

static void fe_config_changed(int vid)
{
	/* never rte_vhost_slave_config_change(): it blocks while the frontend
	 * does not read, and the port joins this thread under its lock
	 * (backend-channel.h) */
	(void)backend_channel_config_changed(vid);
}

static int fe_get_log_base(int vid, uint64_t *hva, uint64_t *size)
{
	return rte_vhost_get_log_base(vid, hva, size);
}

static void fe_log_write(int vid, uint64_t gpa, uint64_t len)
{
	/* GPA based, a no-op unless the frontend negotiated LOG_ALL */
	rte_vhost_log_write(vid, gpa, len);
}

/* The log is a bitmap of guest pages shared with the frontend, which reads
 * and clears it while we write: every update is an atomic OR, as DPDK's own
 * log writes are. The base is read on every call, since SET_LOG_BASE may
 * replace the log while a relay runs (DPDK's rte_vhost_log_write does the
 * same). Meaningful only while LOG_ALL is on: the caller checks. */
static void fe_log_word(int vid, uint64_t word, uint64_t bits)
{
	uint64_t base = 0, size = 0, off = word * 8;

	if (rte_vhost_get_log_base(vid, &base, &size) < 0 || !base || off >= size)
		return;
	/* a 64-bit OR is the bitmap's bytes in order only on little endian */
	if (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && !(base & 7) && off + 8 <= size) {
		__atomic_fetch_or((uint64_t *)(uintptr_t)(base + off), bits, __ATOMIC_RELAXED);
		return;
	}
	/* unaligned log or its last partial word: a byte at a time (the
	 * bitmap is little-endian: page word*64+i is bit i%8 of byte i/8) */
	for (unsigned i = 0; i < 8 && off + i < size; i++) {
		uint8_t b = (uint8_t)(bits >> (8 * i));

		if (b)
			__atomic_fetch_or((uint8_t *)(uintptr_t)(base + off + i), b, __ATOMIC_RELAXED);
	}
}

static void fe_host_notifier_done(void *opaque, int vid, unsigned qid, bool on)
{
	port_host_notifier_done(opaque, vid, qid, on);
}

/* DPDK has no call for this outside vDPA: the helper sends it on the
 * backend channel itself (backend-channel.h says why that is safe) */
static void fe_host_notifier(int vid, struct port *p, unsigned qid, int fd, uint64_t offset,
			     uint64_t size, int poke_fd)
{
	backend_channel_host_notifier(vid, qid, fd, offset, size, poke_fd, fe_host_notifier_done, p);
}

const struct port_frontend_ops ifcvf_vhost_frontend_ops = {
	.get_features = fe_get_features,
	.get_protocol_features = fe_get_protocol_features,
	.num_vrings = fe_num_vrings,
	.get_mem = fe_get_mem,
	.get_vring = fe_get_vring,
	.get_vring_base = fe_get_vring_base,
	.set_vring_base = fe_set_vring_base,
	.config_changed = fe_config_changed,
	.get_log_base = fe_get_log_base,
	.log_write = fe_log_write,
	.log_word = fe_log_word,
	.host_notifier = fe_host_notifier,
};

/* ---- message hooks ---- */

/* DPDK answers GET_CONFIG only for its vDPA drivers; a blk port answers
 * from the VF's device configuration (reference §2.3). */
static enum rte_vhost_msg_result get_config(struct port *p, struct vu_msg *m)
{
	uint32_t size = m->payload.config.size;
	struct cerr ce = { 0 };

	if (port_hw(p)->type != IFCVF_DEV_BLK)
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	if (m->size < VU_CONFIG_HDR_SIZE || size > VU_MAX_CONFIG_SIZE ||
	    port_read_config(p, m->payload.config.offset, m->payload.config.region, size, &ce) < 0) {
		g_warning("port %u: GET_CONFIG offset %u size %u refused: %s", port_index(p),
			  m->payload.config.offset, size, ce.msg[0] ? ce.msg : "bad message");
		/* an empty reply tells the frontend it failed */
		m->size = 0;
		return RTE_VHOST_MSG_RESULT_REPLY;
	}
	m->size = VU_CONFIG_HDR_SIZE + size;
	return RTE_VHOST_MSG_RESULT_REPLY;
}

static enum rte_vhost_msg_result pre_msg(int vid, void *msg)
{
	struct vu_msg *m = msg;
	struct port *p = port_by_conn(vid);

	if (!p)
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	switch (m->request) {
	case VU_GET_VRING_BASE: {
		char why[64];

		/* stop the VF and hand back its ring state before DPDK
		 * answers with it */
		g_snprintf(why, sizeof(why), "the frontend stopped the device with "
			   "GET_VRING_BASE for vring %u", m->payload.state.index);
		port_device_stop(p, why);
		break;
	}
	case VU_RESET_OWNER:
		port_device_stop(p, "the frontend reset the connection");
		/* DPDK closes its backend channel too */
		backend_channel_clear(vid);
		break;
	case VU_SET_MEM_TABLE:
		port_mem_table_changing(p);
		break;
	case VU_SET_LOG_BASE:
		/* DPDK unmaps the old log: stop writing to it first; the
		 * new log's fd, which DPDK closes once mapped, is kept */
		port_log_base_changing(p, msg_one_fd(m), m->payload.log.mmap_size,
				       m->payload.log.mmap_offset);
		break;
	case VU_GET_QUEUE_NUM:
		m->payload.u64 = port_queue_num(p);
		m->size = sizeof(m->payload.u64);
		return RTE_VHOST_MSG_RESULT_REPLY;
	case VU_GET_CONFIG:
		return get_config(p, m);
	default:
		break;
	}
	return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
}

static enum rte_vhost_msg_result post_msg(int vid, void *msg)
{
	const struct vu_msg *m = msg;
	struct port *p = port_by_conn(vid);

	if (!p)
		return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
	switch (m->request) {
	case VU_SET_FEATURES: {
		struct cerr ce = { 0 };

		/* after DPDK took the features, so rte_vhost_log_write() logs;
		 * before it acknowledges them, so the frontend learns that
		 * logging failed (REPLY_ACK) instead of migrating unlogged */
		if (port_log_all(p, m->payload.u64, &ce) < 0) {
			g_warning("port %u: cannot do what SET_FEATURES 0x%" G_GINT64_MODIFIER "x asks: %s",
				  port_index(p), (guint64)m->payload.u64, ce.msg);
			return RTE_VHOST_MSG_RESULT_ERR;
		}
		break;
	}
	case VU_SET_LOG_BASE:
		port_log_base_changed(p);
		break;
	case VU_SET_MEM_TABLE:
		port_mem_table_changed(p);
		break;
	case VU_SET_STATUS:
		port_frontend_status(p, (uint8_t)m->payload.u64);
		break;
	case VU_SET_BACKEND_REQ_FD: {
		/* DPDK took the fd (and closed an earlier one): keep a copy */
		int fd = msg_one_fd(msg);
		char label[16];

		g_snprintf(label, sizeof(label), "port %u", port_index(p));
		if (fd < 0)
			g_warning("%s: no fd found with SET_BACKEND_REQ_FD; config-change notices "
				  "will not reach the frontend", label);
		else
			(void)backend_channel_set(vid, fd, label);
		break;
	}
	default:
		break;
	}
	return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
}

static const struct rte_vhost_user_extern_ops hooks = {
	.pre_msg_handle = pre_msg,
	.post_msg_handle = post_msg,
};

/* ---- callbacks ---- */

/* A frontend that is refused may reconnect at once, over and over (QEMU
 * does, while a first QEMU still holds the socket): say it once per
 * REFUSAL_WARN_SECONDS with a count, not once per attempt. Only DPDK's
 * connection thread calls this. */
#define REFUSAL_WARN_SECONDS 10

static void warn_refused(const struct port *p, const char *path)
{
	static gint64 last;
	static unsigned quiet;
	gint64 now = g_get_monotonic_time();

	if (last && now - last < REFUSAL_WARN_SECONDS * G_TIME_SPAN_SECOND) {
		quiet++;
		return;
	}
	if (quiet)
		g_warning("port %u: refusing a second frontend on %s "
			  "(%u more refused in the last %d s)",
			  port_index(p), path, quiet, REFUSAL_WARN_SECONDS);
	else
		g_warning("port %u: refusing a second frontend on %s", port_index(p), path);
	last = now;
	quiet = 0;
}

/* Hand the new connection to the sentinel (sentinel.h), named by DPDK's
 * vid and its port: dropped when DPDK closes it (destroy_connection comes
 * after its close) and, as unregistering closes a socket's connections
 * without destroy_connection, before a port's socket is unregistered. */
static void hold_connection(struct port *p, int vid)
{
	const struct port_config *cfg = port_config(p);
	char name[64];
	int r;

	g_snprintf(name, sizeof(name), "port %u", port_index(p));
	r = sentinel_hold_conn(name, cfg->socket, cfg->client, vid, p);
	if (r < 0)
		g_warning("port %u: the sentinel cannot hold the connection on %s (%s): if the "
			  "helper dies, the frontend may see it close before the VF stopped",
			  port_index(p), cfg->socket, g_strerror(-r));
}

static int on_new_connection(int vid)
{
	char path[PATH_MAX];
	int r;

	if (rte_vhost_get_ifname(vid, path, sizeof(path)) < 0)
		return -1;
	for (unsigned i = 0; i < n_ports; i++) {
		struct port *p = ports[i];

		if (!p || strcmp(port_config(p)->socket, path) != 0)
			continue;
		r = port_connect(p, vid);
		if (r == -ESHUTDOWN)
			return -1;
		if (r < 0) {
			warn_refused(p, path);
			return -1;
		}
		if (rte_vhost_extern_callback_register(vid, &hooks, p) < 0) {
			g_warning("port %u: cannot hook vhost-user messages", port_index(p));
			port_disconnect(p, vid);
			return -1;
		}
		hold_connection(p, vid);
		return 0;
	}
	return -1;
}

static void on_destroy_connection(int vid)
{
	struct port *p = port_by_conn(vid);

	/* DPDK closed its fd already: the frontend sees the close once the
	 * sentinel's copy goes too */
	sentinel_drop_conn(vid);
	backend_channel_clear(vid);
	if (p)
		port_disconnect(p, vid);
}

static int on_new_device(int vid)
{
	struct port *p = port_by_conn(vid);

	return p ? port_device_ready(p) : -1;
}

static void on_destroy_device(int vid)
{
	struct port *p = port_by_conn(vid);

	/* GET_VRING_BASE and RESET_OWNER stopped the device in pre_msg, and
	 * the helper's own shutdown stops it before unregistering: what is
	 * left running here is a connection that broke under it */
	if (p)
		port_device_stop(p, "the frontend closed its connection");
}

static int on_vring_state_changed(int vid, uint16_t queue_id, int enable)
{
	struct port *p = port_by_conn(vid);

	if (p)
		port_vring_state(p, queue_id, enable != 0);
	return 0;
}

static int on_features_changed(int vid, uint64_t features)
{
	struct port *p = port_by_conn(vid);

	if (p)
		port_features_changed(p, features);
	return 0;
}

static const struct rte_vhost_device_ops device_ops = {
	.new_device = on_new_device,
	.destroy_device = on_destroy_device,
	.vring_state_changed = on_vring_state_changed,
	.features_changed = on_features_changed,
	.new_connection = on_new_connection,
	.destroy_connection = on_destroy_connection,
};

/* ---- registration ---- */

/* DPDK says why only in its own log: name the usual cause */
static const char *listen_failure(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
		return "listen: a file that is not a socket is in its place";
	return "listen (is the path usable?)";
}

/* What stands at a server socket's path before we listen there. DPDK's
 * unregister after a failed listen unlinks the path whatever it is (a file
 * of someone's, another process's live socket), so the helper looks first:
 * anything but a socket nobody listens on makes it refuse without calling
 * DPDK; such a stale socket (a helper that died) is removed. NULL: go on. */
static const char *server_path_taken(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return NULL;
	if (!S_ISSOCK(st.st_mode))
		return "listen: a file that is not a socket is in its place";
	if (strlen(path) >= sizeof(sa.sun_path))
		return NULL;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return NULL;
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (r < 0 && errno == ECONNREFUSED) {
		close(fd);
		(void)unlink(path);
		return NULL;
	}
	close(fd);
	/* connected, or its backlog is full (EAGAIN): somebody listens */
	if (r == 0 || errno == EAGAIN)
		return "listen: another process listens on it";
	return NULL;
}

gboolean ifcvf_vhost_add_port(struct port *p, GError **error)
{
	const struct port_config *cfg = port_config(p);
	uint64_t flags = cfg->client ? RTE_VHOST_USER_CLIENT : 0;
	const char *what;

	if (!cfg->client && (what = server_path_taken(cfg->socket))) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_FAILED,
			    "vhost-user socket %s: cannot %s", cfg->socket, what);
		return FALSE;
	}
	if (rte_vhost_driver_register(cfg->socket, flags) < 0) {
		g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_FAILED,
			    "cannot register vhost-user socket %s", cfg->socket);
		return FALSE;
	}
	if (rte_vhost_driver_set_features(cfg->socket, port_offered_features(p)) < 0)
		what = "set its features";
	else if (rte_vhost_driver_set_protocol_features(cfg->socket, port_protocol_features(p)) < 0)
		what = "set its protocol features";
	else if (rte_vhost_driver_callback_register(cfg->socket, &device_ops) < 0)
		what = "register its callbacks";
	else if (rte_vhost_driver_start(cfg->socket) < 0)
		what = cfg->client ? "start connecting" : listen_failure(cfg->socket);
	else
		return TRUE;
	(void)rte_vhost_driver_unregister(cfg->socket);
	g_set_error(error, IFCVF_HELPER_ERROR, IFCVF_HELPER_ERROR_FAILED,
		    "vhost-user socket %s: cannot %s", cfg->socket, what);
	return FALSE;
}

void ifcvf_vhost_remove_port(struct port *p)
{
	sentinel_drop_group(p);
	(void)rte_vhost_driver_unregister(port_config(p)->socket);
}

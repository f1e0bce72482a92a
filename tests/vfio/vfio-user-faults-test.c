/* The vfio-user client against servers run in a thread of this test: a
 * misbehaving one for each fault the client must survive (right errno, a
 * message naming the device and the cause, no fd left open, no hang), and a
 * scripted well-behaved one for the parts of the protocol ifcvf-emu may not
 * exercise (argsz retry with a sparse-mmap cap and a region fd, DMA_READ and
 * DMA_WRITE between a request and its reply, SET_IRQS chunking). */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "test-util.h"
#include "vfio-dev.h"
#include "vfio-user-wire.h"

#define BAR0_SIZE 0x4000u
#define MSIX_VECTORS 8u
/* a REGION_READ of config at this offset makes the server run its DMA script */
#define DMA_TRIGGER_OFFSET 0x40u

typedef enum {
	FAULT_NONE,
	FAULT_CLOSE_MID_REPLY,
	FAULT_WRONG_COMMAND,
	FAULT_WRONG_ID,
	FAULT_SHORT_PAYLOAD,
	FAULT_OVERSIZED,
	FAULT_ERROR_REPLY,
	FAULT_TOO_MANY_FDS,
	FAULT_FDS_OVER_WIRE_LIMIT,
	FAULT_NO_REPLY,
	FAULT_BAD_MAJOR,
	FAULT_BAD_JSON,
	FAULT_HUGE_REGIONS,
	FAULT_HUGE_IRQS,
	FAULT_17_REGIONS,
} Fault;

typedef struct {
	guint32 flags, index, start, count, nfds;
} IrqRecord;

typedef struct {
	/* where it listens */
	char *dir;
	char *path;
	char *address;
	int listen_fd;
	GThread *thread;

	/* behaviour, set before the client connects */
	Fault fault;
	guint fault_command;
	int fault_index;          /* region/irq index the fault is for; -1: any */
	guint max_msg_fds;        /* 0: leave the key out (default 1) */
	guint64 max_xfer;         /* 0: leave the key out */
	gboolean no_mmap;         /* BAR0 without MMAP, so posted writes are real */
	gboolean dma_script;
	gboolean unsealed;        /* BAR0's memfd without F_SEAL_SHRINK */
	int offer_fd;             /* -1: offer bar_fd with BAR0; else this one */

	/* the device */
	int bar_fd;
	guint8 *bar;
	guint8 *bar_view;         /* what REGION_READ/WRITE of BAR0 touch */
	guint8 config[256];
	guint16 next_id;

	/* what happened; read after the thread is joined */
	guint region0_info_calls;
	guint region_reads;
	guint region_writes;
	guint posted_writes;
	guint dma_maps;
	guint dma_unmaps;
	guint resets;
	guint64 fd_map_peek;      /* first 8 bytes of an fd-backed DMA_MAP */
	GArray *irqs;
	GString *dma_log;         /* DMA script results */
	GString *problems;        /* protocol violations by the client */
} Server;

/* the VERSION reply's JSON for FAULT_BAD_JSON */
static const char *fault_json;

/* ---- server plumbing ---- */

static void send_reply(int conn, const struct vfu_msg *m, const void *payload, size_t len,
		       const int *fds, unsigned nfds)
{
	struct vfu_hdr h = { .msg_id = m->hdr.msg_id, .command = m->hdr.command,
			     .flags = VFU_FLAG_TYPE_REPLY };

	vfu_send(conn, &h, payload, len, fds, nfds, NULL);
}

static void send_error(int conn, const struct vfu_msg *m, int err)
{
	struct vfu_hdr h = { .msg_id = m->hdr.msg_id, .command = m->hdr.command,
			     .flags = VFU_FLAG_TYPE_REPLY | VFU_FLAG_ERROR, .error = (guint32)err };

	vfu_send(conn, &h, NULL, 0, NULL, 0, NULL);
}

/* A raw header, for lies about msg_size. */
static void send_raw(int conn, const struct vfu_msg *m, guint32 msg_size, const void *body,
		     size_t len)
{
	struct vfu_hdr h = { .msg_id = m->hdr.msg_id, .command = m->hdr.command,
			     .msg_size = msg_size, .flags = VFU_FLAG_TYPE_REPLY };

	g_assert_cmpint(send(conn, &h, sizeof(h), MSG_NOSIGNAL), ==, sizeof(h));
	if (len)
		g_assert_cmpint(send(conn, body, len, MSG_NOSIGNAL), ==, (gssize)len);
}

static guint32 payload32(const struct vfu_msg *m, size_t off)
{
	guint32 v = 0;

	if (m->payload_len >= off + sizeof(v))
		memcpy(&v, m->payload + off, sizeof(v));
	return v;
}

/* The region or irq index a request is about, or -1. */
static int request_index(const struct vfu_msg *m)
{
	switch (m->hdr.command) {
	case VFU_CMD_DEVICE_GET_REGION_INFO:
	case VFU_CMD_DEVICE_GET_IRQ_INFO:
	case VFU_CMD_DEVICE_SET_IRQS:
	case VFU_CMD_REGION_READ:
	case VFU_CMD_REGION_WRITE:
		return (int)payload32(m, 8);
	default:
		return -1;
	}
}

/* ---- the normal device ---- */

static void reply_version(Server *s, int conn, const struct vfu_msg *m, guint16 major,
			  const char *json)
{
	g_autoptr(GString) caps = g_string_new("{\"capabilities\":{");
	g_autoptr(GByteArray) p = g_byte_array_new();
	struct vfu_version v = { .major = major, .minor = 0 };

	if (!json) {
		if (s->max_msg_fds)
			g_string_append_printf(caps, "\"max_msg_fds\":%u,", s->max_msg_fds);
		if (s->max_xfer)
			g_string_append_printf(caps, "\"max_data_xfer_size\":%" G_GUINT64_FORMAT ",",
					       s->max_xfer);
		g_string_append(caps, "\"migration\":{\"pgsize\":4096}}}");
		json = caps->str;
	}
	if (payload32(m, 0) != 0x20000)
		g_string_append(s->problems, "VERSION did not propose 0.2; ");
	g_byte_array_append(p, (const guint8 *)&v, sizeof(v));
	g_byte_array_append(p, (const guint8 *)json, (guint)strlen(json) + 1);
	send_reply(conn, m, p->data, p->len, NULL, 0);
}

static void reply_region_info(Server *s, int conn, const struct vfu_msg *m, unsigned nfds)
{
	guint32 index = payload32(m, 8), argsz = payload32(m, 0);
	struct vfu_region_info info = { .argsz = sizeof(info), .index = index };
	guint8 buf[80];
	struct {
		guint16 id, version;
		guint32 next, nr_areas, reserved;
		guint64 area[4];
	} __attribute__((packed)) cap = { 1, 1, 0, 2, 0, { 0, 0x1000, 0x2000, 0x1000 } };
	int fd = s->offer_fd >= 0 ? s->offer_fd : s->bar_fd;
	int fds[2] = { fd, fd };

	G_STATIC_ASSERT(sizeof(info) + sizeof(cap) == sizeof(buf));
	if (index == 0) {
		s->region0_info_calls++;
		info.size = BAR0_SIZE;
		info.flags = VFIO_DEV_REGION_READ | VFIO_DEV_REGION_WRITE;
		if (!s->no_mmap) {
			info.flags |= VFIO_DEV_REGION_MMAP;
			info.argsz = sizeof(buf);
			/* like libvfio-user: caps and fd only when they fit */
			if (argsz >= sizeof(buf)) {
				info.flags |= 0x8;
				info.cap_offset = sizeof(info);
				memcpy(buf, &info, sizeof(info));
				memcpy(buf + sizeof(info), &cap, sizeof(cap));
				send_reply(conn, m, buf, sizeof(buf), fds, nfds ? nfds : 1);
				return;
			}
		}
	} else if (index == VFIO_DEV_REGION_CONFIG) {
		info.size = sizeof(s->config);
		info.flags = VFIO_DEV_REGION_READ | VFIO_DEV_REGION_WRITE;
	}
	send_reply(conn, m, &info, sizeof(info), fds, nfds);
}

static guint8 *region_mem(Server *s, guint32 region, guint64 off, guint32 count)
{
	if (region == 0 && off <= BAR0_SIZE && count <= BAR0_SIZE - off)
		return s->bar_view + off;
	if (region == VFIO_DEV_REGION_CONFIG && off <= sizeof(s->config) &&
	    count <= sizeof(s->config) - off)
		return s->config + off;
	return NULL;
}

/* Send one DMA command to the client and check its answer; returns the
 * reply's errno (0 on success) or -1 if the answer was malformed. */
static int server_dma(Server *s, int conn, guint16 cmd, guint64 addr, void *data,
		      guint64 count)
{
	g_autoptr(GByteArray) p = g_byte_array_new();
	struct vfu_dma_access a = { .address = addr, .count = count };
	struct vfu_hdr h = { .msg_id = s->next_id++, .command = cmd,
			     .flags = VFU_FLAG_TYPE_COMMAND };
	struct vfu_msg r = VFU_MSG_INIT;
	int ret = -1;

	g_byte_array_append(p, (const guint8 *)&a, sizeof(a));
	if (cmd == VFU_CMD_DMA_WRITE)
		g_byte_array_append(p, data, (guint)count);
	if (vfu_send(conn, &h, p->data, p->len, NULL, 0, NULL) < 0)
		return -1;
	if (vfu_recv(conn, &r, VFU_MAX_MSG_SIZE, 5000, NULL) < 0)
		return -1;
	if ((r.hdr.flags & VFU_FLAG_TYPE_MASK) != VFU_FLAG_TYPE_REPLY ||
	    r.hdr.msg_id != h.msg_id || r.hdr.command != cmd) {
		ret = -1;
	} else if (r.hdr.flags & VFU_FLAG_ERROR) {
		ret = (int)r.hdr.error;
	} else {
		struct vfu_dma_access ra;
		size_t want = sizeof(ra) + (cmd == VFU_CMD_DMA_READ ? count : 0);

		if (r.payload_len == want) {
			memcpy(&ra, r.payload, sizeof(ra));
			if (ra.address == addr && ra.count == count) {
				if (cmd == VFU_CMD_DMA_READ)
					memcpy(data, r.payload + sizeof(ra), count);
				ret = 0;
			}
		}
	}
	vfu_msg_clear(&r);
	return ret;
}

/* Between a REGION_READ and its reply: write into message-based and
 * fd-backed maps, read back, and poke outside every map. */
static void run_dma_script(Server *s, int conn)
{
	char buf[16] = { 0 };

	g_string_append_printf(s->dma_log, "write-msg:%d ",
			       server_dma(s, conn, VFU_CMD_DMA_WRITE, 0x200010, "hello", 5));
	g_string_append_printf(s->dma_log, "write-fd:%d ",
			       server_dma(s, conn, VFU_CMD_DMA_WRITE, 0x101000, "world", 5));
	g_string_append_printf(s->dma_log, "read-fd:%d:",
			       server_dma(s, conn, VFU_CMD_DMA_READ, 0x100000, buf, 8));
	g_string_append_len(s->dma_log, buf, 8);
	g_string_append_printf(s->dma_log, " read-msg:%d:",
			       server_dma(s, conn, VFU_CMD_DMA_READ, 0x200010, buf, 5));
	g_string_append_len(s->dma_log, buf, 5);
	/* straddles the end of the 0x1000-byte message-based map */
	g_string_append_printf(s->dma_log, " read-out:%d",
			       server_dma(s, conn, VFU_CMD_DMA_READ, 0x200ff8, buf, 16));
	g_string_append_printf(s->dma_log, " write-out:%d",
			       server_dma(s, conn, VFU_CMD_DMA_WRITE, 0x300000, "x", 1));
}

static void handle_normal(Server *s, int conn, const struct vfu_msg *m)
{
	switch (m->hdr.command) {
	case VFU_CMD_VERSION:
		reply_version(s, conn, m, 0, NULL);
		break;
	case VFU_CMD_DEVICE_GET_INFO: {
		struct vfu_device_info info = { sizeof(info), 0x3, 9, 5 };

		send_reply(conn, m, &info, sizeof(info), NULL, 0);
		break;
	}
	case VFU_CMD_DEVICE_GET_REGION_INFO:
		reply_region_info(s, conn, m, 0);
		break;
	case VFU_CMD_DEVICE_GET_IRQ_INFO: {
		struct vfu_irq_info info = { sizeof(info), 1, payload32(m, 8), 0 };

		info.count = info.index == 2 ? MSIX_VECTORS : info.index < 5 ? 1 : 0;
		send_reply(conn, m, &info, sizeof(info), NULL, 0);
		break;
	}
	case VFU_CMD_DEVICE_SET_IRQS: {
		IrqRecord rec;
		struct vfu_irq_set set;

		memcpy(&set, m->payload, sizeof(set));
		rec = (IrqRecord){ set.flags, set.index, set.start, set.count, m->nfds };
		g_array_append_val(s->irqs, rec);
		/* tell the client which vector each fd became */
		for (unsigned i = 0; i < m->nfds; i++) {
			guint64 v = set.start + i + 1;

			g_assert_cmpint(write(m->fds[i], &v, sizeof(v)), ==, sizeof(v));
		}
		send_reply(conn, m, NULL, 0, NULL, 0);
		break;
	}
	case VFU_CMD_REGION_READ: {
		struct vfu_region_access a;
		g_autofree guint8 *p = NULL;
		guint8 *mem;

		memcpy(&a, m->payload, sizeof(a));
		s->region_reads++;
		mem = region_mem(s, a.region, a.offset, a.count);
		if (!mem) {
			send_error(conn, m, EINVAL);
			break;
		}
		if (s->dma_script && a.region == VFIO_DEV_REGION_CONFIG &&
		    a.offset == DMA_TRIGGER_OFFSET)
			run_dma_script(s, conn);
		p = g_malloc(sizeof(a) + a.count);
		memcpy(p, &a, sizeof(a));
		memcpy(p + sizeof(a), mem, a.count);
		send_reply(conn, m, p, sizeof(a) + a.count, NULL, 0);
		break;
	}
	case VFU_CMD_REGION_WRITE: {
		struct vfu_region_access a;
		guint8 *mem;

		memcpy(&a, m->payload, sizeof(a));
		s->region_writes++;
		mem = region_mem(s, a.region, a.offset, a.count);
		if (m->hdr.flags & VFU_FLAG_NO_REPLY)
			s->posted_writes++;
		if (mem && m->payload_len == sizeof(a) + a.count)
			memcpy(mem, m->payload + sizeof(a), a.count);
		if (!(m->hdr.flags & VFU_FLAG_NO_REPLY)) {
			if (mem)
				send_reply(conn, m, &a, sizeof(a), NULL, 0);
			else
				send_error(conn, m, EINVAL);
		}
		break;
	}
	case VFU_CMD_DMA_MAP: {
		struct vfu_dma_map d;

		memcpy(&d, m->payload, sizeof(d));
		s->dma_maps++;
		if (m->nfds == 1) {
			void *p = mmap(NULL, d.size, PROT_READ, MAP_SHARED, m->fds[0],
				       (off_t)d.offset);

			g_assert_true(p != MAP_FAILED);
			memcpy(&s->fd_map_peek, p, sizeof(s->fd_map_peek));
			munmap(p, d.size);
		}
		send_reply(conn, m, NULL, 0, NULL, 0);
		break;
	}
	case VFU_CMD_DMA_UNMAP:
		s->dma_unmaps++;
		send_reply(conn, m, m->payload, m->payload_len, NULL, 0);
		break;
	case VFU_CMD_DEVICE_RESET:
		s->resets++;
		send_reply(conn, m, NULL, 0, NULL, 0);
		break;
	default:
		send_error(conn, m, ENOSYS);
		break;
	}
}

/* Misbehave instead of answering @m; FALSE closes the connection. */
static gboolean handle_fault(Server *s, int conn, const struct vfu_msg *m)
{
	switch (s->fault) {
	case FAULT_CLOSE_MID_REPLY: {
		guint8 part[10] = { 0 };

		send_raw(conn, m, VFU_HDR_SIZE + 80, part, sizeof(part));
		return FALSE;
	}
	case FAULT_WRONG_COMMAND: {
		struct vfu_hdr h = { .msg_id = m->hdr.msg_id, .command = VFU_CMD_DEVICE_GET_IRQ_INFO,
				     .flags = VFU_FLAG_TYPE_REPLY };
		struct vfu_device_info info = { sizeof(info), 0x3, 9, 5 };

		vfu_send(conn, &h, &info, sizeof(info), NULL, 0, NULL);
		return TRUE;
	}
	case FAULT_WRONG_ID: {
		struct vfu_hdr h = { .msg_id = (guint16)(m->hdr.msg_id + 7),
				     .command = m->hdr.command, .flags = VFU_FLAG_TYPE_REPLY };
		struct vfu_device_info info = { sizeof(info), 0x3, 9, 5 };

		vfu_send(conn, &h, &info, sizeof(info), NULL, 0, NULL);
		return TRUE;
	}
	case FAULT_SHORT_PAYLOAD: {
		guint8 half[8] = { 8 };

		send_reply(conn, m, half, sizeof(half), NULL, 0);
		return TRUE;
	}
	case FAULT_OVERSIZED:
		send_raw(conn, m, VFU_MAX_MSG_SIZE + 4096, NULL, 0);
		return TRUE;
	case FAULT_ERROR_REPLY:
		send_error(conn, m, EINVAL);
		return TRUE;
	case FAULT_TOO_MANY_FDS:
		reply_region_info(s, conn, m, 2);
		return TRUE;
	case FAULT_FDS_OVER_WIRE_LIMIT: {
		struct vfu_device_info info = { sizeof(info), 0x3, 9, 5 };
		int fds[VFU_MAX_MSG_FDS + 1];

		for (unsigned i = 0; i < G_N_ELEMENTS(fds); i++)
			fds[i] = s->bar_fd;
		send_reply(conn, m, &info, sizeof(info), fds, G_N_ELEMENTS(fds));
		return TRUE;
	}
	case FAULT_NO_REPLY:
		return TRUE;
	case FAULT_BAD_MAJOR:
		reply_version(s, conn, m, 1, "{}");
		return TRUE;
	case FAULT_BAD_JSON:
		reply_version(s, conn, m, 0, fault_json);
		return TRUE;
	case FAULT_HUGE_REGIONS:
	case FAULT_HUGE_IRQS:
	case FAULT_17_REGIONS: {
		struct vfu_device_info info = { sizeof(info), 0x3, 9, 5 };

		if (s->fault == FAULT_HUGE_REGIONS)
			info.num_regions = 0x80000000u;
		else if (s->fault == FAULT_HUGE_IRQS)
			info.num_irqs = 0x80000000u;
		else
			info.num_regions = 17;
		send_reply(conn, m, &info, sizeof(info), NULL, 0);
		return TRUE;
	}
	case FAULT_NONE:
	default:
		handle_normal(s, conn, m);
		return TRUE;
	}
}

static gpointer server_thread(gpointer data)
{
	Server *s = data;
	struct pollfd p = { .fd = s->listen_fd, .events = POLLIN };
	int conn;

	/* bounded waits only: a test that goes wrong must not hang */
	if (poll(&p, 1, 10000) != 1)
		return NULL;
	conn = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0)
		return NULL;
	for (;;) {
		struct vfu_msg m = VFU_MSG_INIT;
		gboolean go_on = TRUE;

		if (vfu_recv(conn, &m, VFU_MAX_MSG_SIZE, 10000, NULL) < 0)
			break;
		if ((m.hdr.flags & VFU_FLAG_TYPE_MASK) != VFU_FLAG_TYPE_COMMAND)
			g_string_append_printf(s->problems, "non-command from the client; ");
		if (s->fault != FAULT_NONE && m.hdr.command == s->fault_command &&
		    (s->fault_index < 0 || request_index(&m) == s->fault_index))
			go_on = handle_fault(s, conn, &m);
		else
			handle_normal(s, conn, &m);
		vfu_msg_clear(&m);
		if (!go_on)
			break;
	}
	close(conn);
	return NULL;
}

static Server *server_new(void)
{
	g_autoptr(GError) error = NULL;
	Server *s = g_new0(Server, 1);

	s->dir = g_dir_make_tmp("vfio-user-test-XXXXXX", &error);
	g_assert_no_error(error);
	s->path = g_build_filename(s->dir, "dev.sock", NULL);
	s->address = g_strconcat("vfio-user:", s->path, NULL);
	s->listen_fd = -1;
	s->fault_index = -1;
	s->next_id = 1;
	s->irqs = g_array_new(FALSE, TRUE, sizeof(IrqRecord));
	s->dma_log = g_string_new("");
	s->problems = g_string_new("");

	s->offer_fd = -1;
	/* sealed in server_listen() unless the test wants it otherwise */
	s->bar_fd = memfd_create("bar0", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	g_assert_cmpint(s->bar_fd, >=, 0);
	g_assert_cmpint(ftruncate(s->bar_fd, BAR0_SIZE), ==, 0);
	s->bar = mmap(NULL, BAR0_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, s->bar_fd, 0);
	g_assert_true(s->bar != MAP_FAILED);
	s->bar_view = s->bar;
	for (unsigned i = 0; i < BAR0_SIZE; i++)
		s->bar[i] = (guint8)(i * 7);
	*(guint32 *)(s->bar + 0x10) = 0x11223344;
	*(guint32 *)(s->bar + 0x1004) = 0xaabbccdd;
	/* virtio-net VF IDs */
	s->config[0] = 0xf4;
	s->config[1] = 0x1a;
	s->config[2] = 0x41;
	s->config[3] = 0x10;
	for (unsigned i = 4; i < sizeof(s->config); i++)
		s->config[i] = (guint8)i;
	return s;
}

static void server_listen(Server *s, gboolean listening)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	/* what a careful server does: the client may map it, and a shrink
	 * would make the client's accesses fault */
	if (!s->unsealed)
		g_assert_cmpint(fcntl(s->bar_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), ==, 0);
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	g_assert_cmpint(s->listen_fd, >=, 0);
	g_strlcpy(sa.sun_path, s->path, sizeof(sa.sun_path));
	g_assert_cmpint(bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
	if (listening) {
		g_assert_cmpint(listen(s->listen_fd, 1), ==, 0);
		s->thread = g_thread_new("vfio-user-server", server_thread, s);
	}
}

/* Join the server thread (the client has closed by now). */
static void server_join(Server *s)
{
	if (s->thread)
		g_thread_join(s->thread);
	s->thread = NULL;
}

static void server_free(Server *s)
{
	server_join(s);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->bar_view != s->bar)
		g_free(s->bar_view);
	munmap(s->bar, BAR0_SIZE);
	close(s->bar_fd);
	if (s->offer_fd >= 0)
		close(s->offer_fd);
	g_unlink(s->path);
	g_rmdir(s->dir);
	g_array_unref(s->irqs);
	g_string_free(s->dma_log, TRUE);
	g_string_free(s->problems, TRUE);
	g_free(s->dir);
	g_free(s->path);
	g_free(s->address);
	g_free(s);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Server, server_free)

/* ---- checks ---- */

static void assert_error(const struct cerr *e, int r, int code, const char *address,
			 const char *cause)
{
	size_t n = strlen(e->msg);

	g_test_message("error: %s", e->msg);
	g_assert_cmpint(r, ==, -code);
	g_assert_cmpint(e->code, ==, code);
	if (!g_str_has_prefix(e->msg, address) || strncmp(e->msg + strlen(address), ": ", 2))
		g_error("message \"%s\" does not start with \"%s: \"", e->msg, address);
	if (cause && !strstr(e->msg, cause))
		g_error("message \"%s\" lacks \"%s\"", e->msg, cause);
	g_assert_cmpint(e->msg[n - 1], !=, '.');
}

/* Open against a server with @fault on @command (@index), expect @code. */
static void check_open_fault(Fault fault, guint command, int index, int code,
			     const char *cause)
{
	guint fds = test_count_fds();
	struct vfio_dev_options opts = { .timeout_ms = 500 };
	struct vfio_dev *dev = (void *)1;
	struct cerr e = { 0 };
	gint64 start;
	int r;

	{
		g_autoptr(Server) s = server_new();

		s->fault = fault;
		s->fault_command = command;
		s->fault_index = index;
		server_listen(s, TRUE);
		start = g_get_monotonic_time();
		r = vfio_dev_open(s->address, &opts, &dev, &e);
		g_assert_cmpint(g_get_monotonic_time() - start, <, 3 * G_USEC_PER_SEC);
		g_assert_null(dev);
		assert_error(&e, r, code, s->address, cause);
		server_join(s);
	}
	g_assert_cmpuint(test_count_fds(), ==, fds);
}

/* ---- faults ---- */

static void test_socket_missing(void)
{
	guint fds = test_count_fds();
	g_autoptr(Server) s = server_new();
	struct vfio_dev *dev = NULL;
	struct cerr e = { 0 };
	int r;

	r = vfio_dev_open(s->address, NULL, &dev, &e);
	g_assert_null(dev);
	assert_error(&e, r, ENOENT, s->address, "the socket does not exist");
	server_free(g_steal_pointer(&s));
	g_assert_cmpuint(test_count_fds(), ==, fds);
}

static void test_socket_refuses(void)
{
	guint fds = test_count_fds();
	g_autoptr(Server) s = server_new();
	struct vfio_dev *dev = NULL;
	struct cerr e = { 0 };
	int r;

	server_listen(s, FALSE);   /* bound, not listening */
	r = vfio_dev_open(s->address, NULL, &dev, &e);
	g_assert_null(dev);
	assert_error(&e, r, ECONNREFUSED, s->address, "nothing listens on the socket");
	server_free(g_steal_pointer(&s));
	g_assert_cmpuint(test_count_fds(), ==, fds);
}

static void test_close_mid_reply(void)
{
	check_open_fault(FAULT_CLOSE_MID_REPLY, VFU_CMD_DEVICE_GET_REGION_INFO, 0, ECONNRESET,
			 "DEVICE_GET_REGION_INFO for region 0: the peer closed the connection in the middle of a message");
}

static void test_wrong_command(void)
{
	check_open_fault(FAULT_WRONG_COMMAND, VFU_CMD_DEVICE_GET_INFO, -1, EPROTO,
			 "DEVICE_GET_INFO: the server replied to DEVICE_GET_IRQ_INFO");
}

static void test_wrong_id(void)
{
	check_open_fault(FAULT_WRONG_ID, VFU_CMD_DEVICE_GET_INFO, -1, EPROTO,
			 "instead of DEVICE_GET_INFO (message id");
}

static void test_short_payload(void)
{
	check_open_fault(FAULT_SHORT_PAYLOAD, VFU_CMD_DEVICE_GET_INFO, -1, EPROTO,
			 "DEVICE_GET_INFO: the reply's payload of 8 bytes is shorter than the 16 expected");
}

static void test_oversized(void)
{
	check_open_fault(FAULT_OVERSIZED, VFU_CMD_DEVICE_GET_REGION_INFO, 7, EMSGSIZE,
			 "DEVICE_GET_REGION_INFO for region 7: DEVICE_GET_REGION_INFO message of");
}

static void test_error_reply(void)
{
	g_autoptr(Server) s = server_new();
	g_autofree char *want = g_strdup_printf(
		"%s: DEVICE_GET_REGION_INFO for region 4: server replied with error: Invalid argument",
		s->address);
	guint fds = test_count_fds();
	struct vfio_dev *dev = NULL;
	struct cerr e = { 0 };

	s->fault = FAULT_ERROR_REPLY;
	s->fault_command = VFU_CMD_DEVICE_GET_REGION_INFO;
	s->fault_index = 4;
	server_listen(s, TRUE);
	g_assert_cmpint(vfio_dev_open(s->address, NULL, &dev, &e), ==, -EINVAL);
	g_assert_cmpstr(e.msg, ==, want);
	server_join(s);
	close(s->listen_fd);
	s->listen_fd = -1;
	g_assert_cmpuint(test_count_fds(), ==, fds);
}

static void test_too_many_fds(void)
{
	/* more fds than the command allows, and more than any message may carry */
	check_open_fault(FAULT_TOO_MANY_FDS, VFU_CMD_DEVICE_GET_REGION_INFO, 0, EPROTO,
			 "DEVICE_GET_REGION_INFO for region 0: the reply carried 2 fds, at most 1 expected");
	check_open_fault(FAULT_FDS_OVER_WIRE_LIMIT, VFU_CMD_DEVICE_GET_INFO, -1, EPROTO,
			 "DEVICE_GET_INFO: DEVICE_GET_INFO message carried more than 8 fds");
}

static void test_bad_version(void)
{
	check_open_fault(FAULT_BAD_MAJOR, VFU_CMD_VERSION, -1, EPROTO,
			 "VERSION: the server speaks protocol 1.0, not 0.x");
	static const struct {
		const char *json;
		const char *cause;
	} bad[] = {
		{ "{\"capabilities\":{\"max_msg_fds\":-1}}",
		  "VERSION: capabilities JSON: max_msg_fds is not a non-negative integer" },
		{ "{garbage", "VERSION: capabilities JSON: expected a string at byte 1" },
		{ "{\"capabilities\":{\"max_msg_fds\":100000}}",
		  "VERSION: capabilities JSON: max_msg_fds 100000 is out of range 0..1024" },
		{ "{\"capabilities\":{\"max_data_xfer_size\":\"big\"}}",
		  "VERSION: capabilities JSON: max_data_xfer_size is not a number" },
		{ "{\"capabilities\":{\"twin_socket\":{\"supported\":true,\"fd_index\":0}}}",
		  "VERSION: capabilities JSON: twin_socket is supported in the reply, but the client did not propose it" },
	};

	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		fault_json = bad[i].json;
		check_open_fault(FAULT_BAD_JSON, VFU_CMD_VERSION, -1, EINVAL, bad[i].cause);
	}
}

/* Counts from DEVICE_GET_INFO are bounded before anything is sized by
 * them: a PCI function has 9 regions and 5 irq indexes. */
static void test_huge_counts(void)
{
	check_open_fault(FAULT_HUGE_REGIONS, VFU_CMD_DEVICE_GET_INFO, -1, EPROTO,
			 "DEVICE_GET_INFO: the server reports 2147483648 regions, more than the 16 a PCI function may have");
	check_open_fault(FAULT_HUGE_IRQS, VFU_CMD_DEVICE_GET_INFO, -1, EPROTO,
			 "DEVICE_GET_INFO: the server reports 2147483648 irq indexes, more than the 16 a PCI function may have");
	check_open_fault(FAULT_17_REGIONS, VFU_CMD_DEVICE_GET_INFO, -1, EPROTO,
			 "DEVICE_GET_INFO: the server reports 17 regions, more than the 16");
}

static void test_no_reply_at_open(void)
{
	check_open_fault(FAULT_NO_REPLY, VFU_CMD_DEVICE_GET_REGION_INFO, 2, ETIMEDOUT,
			 "DEVICE_GET_REGION_INFO for region 2: no reply within 500 ms");
}

/* A server that goes silent after open: the read times out, the device is
 * then unusable at once, and close does not wait again. */
static void test_no_reply(void)
{
	guint fds = test_count_fds();
	struct vfio_dev_options opts = { .timeout_ms = 300 };
	struct vfio_dev *dev = NULL;
	struct cerr e = { 0 };
	guint32 v;
	gint64 start;
	int r;

	{
		g_autoptr(Server) s = server_new();

		s->fault = FAULT_NO_REPLY;
		s->fault_command = VFU_CMD_REGION_READ;
		server_listen(s, TRUE);
		g_assert_cmpint(vfio_dev_open(s->address, &opts, &dev, &e), ==, 0);

		start = g_get_monotonic_time();
		r = vfio_dev_read32(dev, VFIO_DEV_REGION_CONFIG, 0, &v, &e);
		assert_error(&e, r, ETIMEDOUT, s->address,
			     "REGION_READ of 4 bytes at 0x0 in region 7: no reply within 300 ms");
		g_assert_cmpint(g_get_monotonic_time() - start, >=, 250 * 1000);

		cerr_clear(&e);
		r = vfio_dev_read32(dev, VFIO_DEV_REGION_CONFIG, 0, &v, &e);
		assert_error(&e, r, ENOTCONN, s->address, "unusable after an earlier failure");

		start = g_get_monotonic_time();
		vfio_dev_close(dev);
		g_assert_cmpint(g_get_monotonic_time() - start, <, 200 * 1000);
		server_join(s);
	}
	g_assert_cmpuint(test_count_fds(), ==, fds);
}

/* ---- a well-behaved scripted server ---- */

static void test_region_mmap(void)
{
	guint fds = test_count_fds();
	g_autoptr(Server) s = server_new();
	const struct vfio_region *reg;
	struct vfio_dev *dev = NULL;
	struct cerr e = { 0 };
	guint8 cfg[256];
	guint32 v;
	guint16 vendor;
	guint reads;

	server_listen(s, TRUE);
	g_assert_cmpint(vfio_dev_open(s->address, NULL, &dev, &e), ==, 0);
	g_assert_cmpint(vfio_dev_transport(dev), ==, VFIO_TRANSPORT_USER);
	g_assert_cmpstr(vfio_dev_address(dev), ==, s->address);
	g_assert_cmpuint(vfio_dev_num_regions(dev), ==, 9);
	g_assert_cmpuint(vfio_dev_num_irqs(dev), ==, 5);

	/* asked with 32 bytes, told 80, asked again: caps and fd came */
	reg = vfio_dev_region(dev, 0);
	g_assert_nonnull(reg);
	g_assert_cmpuint(reg->size, ==, BAR0_SIZE);
	g_assert_true(reg->flags & VFIO_DEV_REGION_MMAP);
	g_assert_cmpuint(reg->n_maps, ==, 2);
	g_assert_cmpuint(reg->maps[0].offset, ==, 0);
	g_assert_cmpuint(reg->maps[0].size, ==, 0x1000);
	g_assert_cmpuint(reg->maps[1].offset, ==, 0x2000);
	g_assert_cmpuint(reg->maps[1].size, ==, 0x1000);
	g_assert_null(vfio_dev_region(dev, 9));
	g_assert_cmpuint(vfio_dev_region(dev, 1)->size, ==, 0);

	/* inside an area: a load from the shared memory, no message */
	reads = s->region_reads;
	g_assert_cmpint(vfio_dev_read32(dev, 0, 0x10, &v, &e), ==, 0);
	g_assert_cmphex(v, ==, 0x11223344);
	g_assert_cmpuint(s->region_reads, ==, reads);
	g_assert_cmpint(vfio_dev_write32(dev, 0, 0x2008, 0xfeedbeef, &e), ==, 0);
	g_assert_cmphex(*(guint32 *)(s->bar + 0x2008), ==, 0xfeedbeef);

	/* outside the areas, or unaligned: REGION_READ */
	g_assert_cmpint(vfio_dev_read32(dev, 0, 0x1004, &v, &e), ==, 0);
	g_assert_cmphex(v, ==, 0xaabbccdd);
	g_assert_cmpint(vfio_dev_read32(dev, 0, 0x11, &v, &e), ==, 0);
	g_assert_cmphex(v, ==, 0x8c112233);

	/* config space */
	g_assert_cmpint(vfio_dev_read16(dev, VFIO_DEV_REGION_CONFIG, 0, &vendor, &e), ==, 0);
	g_assert_cmphex(vendor, ==, 0x1af4);
	g_assert_cmpint(vfio_dev_read(dev, VFIO_DEV_REGION_CONFIG, 0, cfg, sizeof(cfg), &e), ==, 0);
	g_assert_cmpmem(cfg, sizeof(cfg), s->config, sizeof(s->config));

	/* with an area mapped, a write stays posted, and an access to the
	 * mapped area is ordered after it: one round trip first, done by the
	 * server by then; none when nothing is pending */
	{
		struct vfio_dev_counters c0, c1, c2;

		g_assert_cmpint(vfio_dev_write_posted(dev, VFIO_DEV_REGION_CONFIG, 0x80, "\x5a", 1,
						      &e), ==, 0);
		vfio_dev_counters(dev, &c0);
		g_assert_cmpint(vfio_dev_write32(dev, 0, 0x2008, 0x0badf00d, &e), ==, 0);
		vfio_dev_counters(dev, &c1);
		g_assert_cmpint(s->config[0x80], ==, 0x5a);
		g_assert_cmpuint(c1.round_trips, ==, c0.round_trips + 1);
		g_assert_cmpint(vfio_dev_write32(dev, 0, 0x2008, 0xfeedbeef, &e), ==, 0);
		vfio_dev_counters(dev, &c2);
		g_assert_cmpuint(c2.round_trips, ==, c1.round_trips);
	}

	/* range checks name the device and the access */
	{
		int r = vfio_dev_read32(dev, 0, BAR0_SIZE - 2, &v, &e);

		assert_error(&e, r, EINVAL, s->address,
			     "read of 4 bytes at 0x3ffe is outside region 0 (size 0x4000)");
		r = vfio_dev_read32(dev, 1, 0, &v, &e);
		assert_error(&e, r, EINVAL, s->address, "region 1: the device does not implement it");
		r = vfio_dev_read32(dev, 12, 0, &v, &e);
		assert_error(&e, r, EINVAL, s->address, "no such region");
	}

	g_assert_cmpint(vfio_dev_reset(dev, &e), ==, 0);
	vfio_dev_close(dev);
	server_join(s);
	g_assert_cmpuint(s->region0_info_calls, ==, 2);
	g_assert_cmpuint(s->resets, ==, 1);
	g_assert_cmpuint(s->posted_writes, ==, 1);
	g_assert_cmpstr(s->problems->str, ==, "");
	server_free(g_steal_pointer(&s));
	g_assert_cmpuint(test_count_fds(), ==, fds);
}

/* ---- region fds a server can pull from under the client ---- */

/* A fd shorter than the areas it is offered for: refused at open, naming
 * the region and the area (a load from the missing page would SIGBUS). */
static void test_region_fd_short(void)
{
	guint fds = test_count_fds();
	struct vfio_dev *dev = (void *)1;
	struct cerr e = { 0 };
	int r;

	{
		g_autoptr(Server) s = server_new();

		/* sealed, but 0x2000 bytes: area 1 (0x2000..0x3000) is past its end */
		s->offer_fd = memfd_create("bar0-short", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		g_assert_cmpint(s->offer_fd, >=, 0);
		g_assert_cmpint(ftruncate(s->offer_fd, 0x2000), ==, 0);
		g_assert_cmpint(fcntl(s->offer_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), ==, 0);
		server_listen(s, TRUE);
		r = vfio_dev_open(s->address, NULL, &dev, &e);
		g_assert_null(dev);
		assert_error(&e, r, EPROTO, s->address,
			     "region 0 area 1 ends at 0x3000 but the region fd holds only 0x2000 bytes");
		server_join(s);
	}
	g_assert_cmpuint(test_count_fds(), ==, fds);
}

/* In a subprocess: a SIGBUS there fails the test instead of ending it. */
static void region_fd_unsealed_child(void)
{
	g_autoptr(Server) s = server_new();
	struct vfio_dev *dev = NULL;
	struct cerr e = { 0 };
	guint reads;
	guint32 v;

	s->unsealed = TRUE;
	server_listen(s, TRUE);
	g_assert_cmpint(vfio_dev_open(s->address, NULL, &dev, &e), ==, 0);

	/* the server shrinks the memfd it offered (nothing stops it) and
	 * keeps serving BAR0 from a copy */
	s->bar_view = g_memdup2(s->bar, BAR0_SIZE);
	g_assert_cmpint(ftruncate(s->bar_fd, 0), ==, 0);

	/* offset 0x10 lies in sparse area 0: were it mapped, this faults */
	reads = s->region_reads;
	g_assert_cmpint(vfio_dev_read32(dev, 0, 0x10, &v, &e), ==, 0);
	g_assert_cmphex(v, ==, 0x11223344);
	g_assert_cmpint(vfio_dev_write32(dev, 0, 0x2008, 0xfeedbeef, &e), ==, 0);
	g_assert_cmphex(*(guint32 *)(s->bar_view + 0x2008), ==, 0xfeedbeef);
	g_assert_cmpuint(s->region_reads, ==, reads + 1);
	g_assert_cmpuint(vfio_dev_region(dev, 0)->n_maps, ==, 0);
	/* nor is it handed to a peer, which would face the same SIGBUS */
	{
		uint64_t off = 1;
		int fd = 0;

		cerr_clear(&e);
		g_assert_cmpint(vfio_dev_region_mmap_fd(dev, 0, 0x2000, 0x1000, &fd, &off, &e), ==,
				-ENOTSUP);
		g_assert_cmpint(fd, ==, -1);
		assert_error(&e, -ENOTSUP, ENOTSUP, s->address,
			     "region 0 cannot be mapped: the server's region fd is not sealed against shrinking (F_SEAL_SHRINK)");
	}
	vfio_dev_close(dev);
	server_join(s);
	g_assert_cmpstr(s->problems->str, ==, "");
}

/* A fd without F_SEAL_SHRINK is never mapped: BAR0 goes through messages,
 * one line says so, and a shrink afterwards harms nothing. */
static void test_region_fd_unsealed(void)
{
	if (g_test_subprocess()) {
		region_fd_unsealed_child();
		return;
	}
	g_test_trap_subprocess(NULL, 20 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
	g_test_trap_assert_passed();
	g_test_trap_assert_stderr("*vfio-user:*/dev.sock: region 0: the server's region fd is not "
				  "sealed against shrinking (F_SEAL_SHRINK); it is accessed through "
				  "messages, not mapped\n*");
	/* once, at open */
	g_test_trap_assert_stderr_unmatched("*not mapped*not mapped*");
}

static void region_fd_not_memfd_child(void)
{
	g_autoptr(Server) s = server_new();
	g_autoptr(GError) error = NULL;
	g_autofree char *path = NULL;
	struct vfio_dev *dev = NULL;
	struct cerr e = { 0 };
	guint32 v;

	/* a plain file of the right size: it cannot be sealed */
	s->offer_fd = g_file_open_tmp("vfio-user-bar-XXXXXX", &path, &error);
	g_assert_no_error(error);
	g_assert_cmpint(g_unlink(path), ==, 0);
	g_assert_cmpint(ftruncate(s->offer_fd, BAR0_SIZE), ==, 0);
	server_listen(s, TRUE);
	g_assert_cmpint(vfio_dev_open(s->address, NULL, &dev, &e), ==, 0);
	g_assert_cmpuint(vfio_dev_region(dev, 0)->n_maps, ==, 0);
	g_assert_cmpint(vfio_dev_read32(dev, 0, 0x10, &v, &e), ==, 0);
	g_assert_cmphex(v, ==, 0x11223344);
	vfio_dev_close(dev);
	server_join(s);
}

/* A fd that takes no seals at all (not a memfd) is not mapped either. */
static void test_region_fd_not_memfd(void)
{
	if (g_test_subprocess()) {
		region_fd_not_memfd_child();
		return;
	}
	g_test_trap_subprocess(NULL, 20 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
	g_test_trap_assert_passed();
	g_test_trap_assert_stderr("*vfio-user:*/dev.sock: region 0: the server's region fd takes no "
				  "seals (not a memfd); it is accessed through messages, not mapped\n*");
}

/* The normal path: a sealed memfd is mapped, and the server can no longer
 * shrink it (the kernel refuses), so the client's mapping stays good. */
static void test_region_fd_sealed(void)
{
	guint fds = test_count_fds();
	g_autoptr(Server) s = server_new();
	struct vfio_dev *dev = NULL;
	struct cerr e = { 0 };
	guint reads;
	guint32 v;

	server_listen(s, TRUE);
	g_assert_cmpint(vfio_dev_open(s->address, NULL, &dev, &e), ==, 0);
	g_assert_cmpuint(vfio_dev_region(dev, 0)->n_maps, ==, 2);
	g_assert_cmpint(ftruncate(s->bar_fd, 0), ==, -1);
	g_assert_cmpint(errno, ==, EPERM);
	reads = s->region_reads;
	g_assert_cmpint(vfio_dev_read32(dev, 0, 0x10, &v, &e), ==, 0);
	g_assert_cmphex(v, ==, 0x11223344);
	g_assert_cmpuint(s->region_reads, ==, reads);

	/* a page of a sparse area handed to a peer (a host notifier): the
	 * server's fd, kept by the device, at the area's place in it */
	{
		struct stat a, b;
		uint64_t off = 0;
		int fd = -1;
		void *p;

		g_assert_cmpint(vfio_dev_region_mmap_fd(dev, 0, 0x2000, 0x1000, &fd, &off, &e), ==, 0);
		g_assert_cmpint(fstat(fd, &a), ==, 0);
		g_assert_cmpint(fstat(s->bar_fd, &b), ==, 0);
		g_assert_cmpuint(a.st_ino, ==, b.st_ino);
		g_assert_cmphex(off, ==, 0x2000);
		p = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
		g_assert_true(p != MAP_FAILED);
		*(volatile guint32 *)((char *)p + 0x40) = 0xd00dfeed;
		g_assert_cmphex(*(guint32 *)(s->bar + 0x2040), ==, 0xd00dfeed);
		munmap(p, 0x1000);
		/* between the two areas */
		g_assert_cmpint(vfio_dev_region_mmap_fd(dev, 0, 0x1000, 0x1000, &fd, &off, &e), ==,
				-ENOTSUP);
		assert_error(&e, -ENOTSUP, ENOTSUP, s->address,
			     "range 0x1000+0x1000 of region 0 lies in none of its 2 mappable (sparse-mmap) areas");
		/* the config region: not mappable */
		cerr_clear(&e);
		g_assert_cmpint(vfio_dev_region_mmap_fd(dev, VFIO_DEV_REGION_CONFIG, 0, 0x100, &fd,
							&off, &e), ==, -ENOTSUP);
		assert_error(&e, -ENOTSUP, ENOTSUP, s->address,
			     "region 7 cannot be mapped: the device does not offer it for mmap (no MMAP flag)");
	}
	vfio_dev_close(dev);
	server_join(s);
	server_free(g_steal_pointer(&s));
	/* the kept region fd went with the device */
	g_assert_cmpuint(test_count_fds(), ==, fds);
}

/* Posted writes without mapped areas go out with No_reply; REGION_READ and
 * WRITE split at the server's max_data_xfer_size. */
static void test_posted_and_split(void)
{
	guint fds = test_count_fds();
	g_autoptr(Server) s = server_new();
	struct vfio_dev *dev = NULL;
	struct cerr e = { 0 };
	guint8 cfg[256], pattern[200];
	guint32 v;

	s->no_mmap = TRUE;
	s->max_xfer = 64;
	server_listen(s, TRUE);
	g_assert_cmpint(vfio_dev_open(s->address, NULL, &dev, &e), ==, 0);
	g_assert_cmpuint(vfio_dev_region(dev, 0)->n_maps, ==, 0);

	g_assert_cmpint(vfio_dev_write_posted(dev, 0, 0x100, "\x01\x02\x03\x04", 4, &e), ==, 0);
	g_assert_cmpint(vfio_dev_read32(dev, 0, 0x100, &v, &e), ==, 0);
	g_assert_cmphex(v, ==, 0x04030201);

	g_assert_cmpint(vfio_dev_read(dev, VFIO_DEV_REGION_CONFIG, 0, cfg, sizeof(cfg), &e), ==, 0);
	g_assert_cmpmem(cfg, sizeof(cfg), s->config, sizeof(s->config));
	for (unsigned i = 0; i < sizeof(pattern); i++)
		pattern[i] = (guint8)(0xff - i);
	g_assert_cmpint(vfio_dev_write(dev, 0, 0x200, pattern, sizeof(pattern), &e), ==, 0);
	g_assert_cmpmem(s->bar + 0x200, sizeof(pattern), pattern, sizeof(pattern));

	vfio_dev_close(dev);
	server_join(s);
	g_assert_cmpuint(s->posted_writes, ==, 1);
	/* 1 read of 4, 4 of 64 for config; 1 posted and 4 writes of <= 64 */
	g_assert_cmpuint(s->region_reads, ==, 5);
	g_assert_cmpuint(s->region_writes, ==, 5);
	server_free(g_steal_pointer(&s));
	g_assert_cmpuint(test_count_fds(), ==, fds);
}

static void test_dma_between(void)
{
	guint fds = test_count_fds();
	g_autoptr(Server) s = server_new();
	struct vfio_dev *dev = NULL;
	struct cerr e = { 0 };
	guint8 *fdmem, *msgmem;
	int memfd;
	guint32 v;
	int r;

	memfd = memfd_create("dma", MFD_CLOEXEC);
	g_assert_cmpint(ftruncate(memfd, 0x3000), ==, 0);
	fdmem = mmap(NULL, 0x3000, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	g_assert_true(fdmem != MAP_FAILED);
	memcpy(fdmem + 0x1000, "fd-start", 8);
	msgmem = g_malloc0(0x1000);

	s->dma_script = TRUE;
	server_listen(s, TRUE);
	g_assert_cmpint(vfio_dev_open(s->address, NULL, &dev, &e), ==, 0);
	/* 0x2000 bytes from offset 0x1000 of the memfd, and plain memory */
	g_assert_cmpint(vfio_dev_dma_map(dev, 0x100000, 0x2000, fdmem + 0x1000, memfd, 0x1000, &e),
			==, 0);
	g_assert_cmpint(vfio_dev_dma_map(dev, 0x200000, 0x1000, msgmem, -1, 0, &e), ==, 0);

	r = vfio_dev_dma_map(dev, 0x100800, 0x1000, msgmem, -1, 0, &e);
	assert_error(&e, r, EEXIST, s->address, "overlaps the mapping at iova 0x100000");
	r = vfio_dev_dma_map(dev, 0x400000, 0x1000, fdmem, memfd, 0x10, &e);
	assert_error(&e, r, EINVAL, s->address, "not aligned to the server's page size 4096");
	r = vfio_dev_dma_unmap(dev, 0x200000, 0x800, &e);
	assert_error(&e, r, EINVAL, s->address, "DMA_UNMAP of iova 0x200000 size 0x800: no such mapping");

	/* the server DMAs while this read waits for its reply */
	g_assert_cmpint(vfio_dev_read32(dev, VFIO_DEV_REGION_CONFIG, DMA_TRIGGER_OFFSET, &v, &e),
			==, 0);
	g_assert_cmphex(v, ==, 0x43424140);
	g_assert_cmpmem(msgmem + 0x10, 5, "hello", 5);
	g_assert_cmpmem(fdmem + 0x2000, 5, "world", 5);

	g_assert_cmpint(vfio_dev_dma_unmap(dev, 0x200000, 0x1000, &e), ==, 0);
	/* the fd-backed one is left for close to unmap */
	vfio_dev_close(dev);
	server_join(s);
	g_assert_cmpuint(s->dma_maps, ==, 2);
	g_assert_cmpuint(s->dma_unmaps, ==, 2);
	g_assert_cmpmem(&s->fd_map_peek, 8, "fd-start", 8);
	g_assert_cmpstr(s->dma_log->str, ==,
			"write-msg:0 write-fd:0 read-fd:0:fd-start read-msg:0:hello read-out:14 write-out:14");
	g_assert_cmpstr(s->problems->str, ==, "");
	server_free(g_steal_pointer(&s));
	munmap(fdmem, 0x3000);
	close(memfd);
	g_free(msgmem);
	g_assert_cmpuint(test_count_fds(), ==, fds);
}

static void assert_irq(const IrqRecord *r, guint32 flags, guint32 start, guint32 count,
		       guint32 nfds)
{
	g_assert_cmphex(r->flags, ==, flags);
	g_assert_cmpuint(r->index, ==, VFIO_DEV_IRQ_MSIX);
	g_assert_cmpuint(r->start, ==, start);
	g_assert_cmpuint(r->count, ==, count);
	g_assert_cmpuint(r->nfds, ==, nfds);
}

static void test_irq_chunking(void)
{
	guint fds = test_count_fds();
	g_autoptr(Server) s = server_new();
	struct vfio_dev *dev = NULL;
	struct cerr e = { 0 };
	int efd[5], some[4];
	guint32 count;
	int r;

	for (unsigned i = 0; i < G_N_ELEMENTS(efd); i++)
		efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->max_msg_fds = 2;
	server_listen(s, TRUE);
	g_assert_cmpint(vfio_dev_open(s->address, NULL, &dev, &e), ==, 0);
	g_assert_cmpint(vfio_dev_irq_count(dev, VFIO_DEV_IRQ_MSIX, &count, &e), ==, 0);
	g_assert_cmpuint(count, ==, MSIX_VECTORS);
	g_assert_cmpint(vfio_dev_irq_count(dev, 7, &count, &e), ==, 0);
	g_assert_cmpuint(count, ==, 0);

	/* 5 vectors, 2 fds per message: 2 + 2 + 1 */
	g_assert_cmpint(vfio_dev_set_irq_eventfds(dev, VFIO_DEV_IRQ_MSIX, 0, 5, efd, &e), ==, 0);
	for (unsigned i = 0; i < G_N_ELEMENTS(efd); i++) {
		guint64 v = 0;

		g_assert_cmpint(read(efd[i], &v, sizeof(v)), ==, sizeof(v));
		g_assert_cmpuint(v, ==, i + 1);
	}

	/* fds and holes from vector 3: a run of -1 goes without fds */
	some[0] = efd[0];
	some[1] = -1;
	some[2] = -1;
	some[3] = efd[1];
	g_assert_cmpint(vfio_dev_set_irq_eventfds(dev, VFIO_DEV_IRQ_MSIX, 3, 4, some, &e), ==, 0);
	g_assert_cmpint(vfio_dev_disable_irqs(dev, VFIO_DEV_IRQ_MSIX, &e), ==, 0);

	r = vfio_dev_set_irq_eventfds(dev, 9, 0, 1, efd, &e);
	assert_error(&e, r, EINVAL, s->address, "irq index 9 does not exist");

	/* left bound: close unbinds */
	g_assert_cmpint(vfio_dev_set_irq_eventfds(dev, VFIO_DEV_IRQ_MSIX, 0, 1, efd, &e), ==, 0);
	vfio_dev_close(dev);
	server_join(s);

	g_assert_cmpuint(s->irqs->len, ==, 9);
	assert_irq(&g_array_index(s->irqs, IrqRecord, 0), 0x24, 0, 2, 2);
	assert_irq(&g_array_index(s->irqs, IrqRecord, 1), 0x24, 2, 2, 2);
	assert_irq(&g_array_index(s->irqs, IrqRecord, 2), 0x24, 4, 1, 1);
	assert_irq(&g_array_index(s->irqs, IrqRecord, 3), 0x24, 3, 1, 1);
	assert_irq(&g_array_index(s->irqs, IrqRecord, 4), 0x24, 4, 2, 0);
	assert_irq(&g_array_index(s->irqs, IrqRecord, 5), 0x24, 6, 1, 1);
	assert_irq(&g_array_index(s->irqs, IrqRecord, 6), 0x21, 0, 0, 0);
	assert_irq(&g_array_index(s->irqs, IrqRecord, 7), 0x24, 0, 1, 1);
	assert_irq(&g_array_index(s->irqs, IrqRecord, 8), 0x21, 0, 0, 0);
	server_free(g_steal_pointer(&s));
	for (unsigned i = 0; i < G_N_ELEMENTS(efd); i++)
		close(efd[i]);
	g_assert_cmpuint(test_count_fds(), ==, fds);
}

/* Two threads reading at once: the socket is shared, the replies are not. */
typedef struct {
	struct vfio_dev *dev;
	guint16 want;
	unsigned offset;
} Reader;

static gpointer reader_thread(gpointer data)
{
	Reader *rd = data;

	for (int i = 0; i < 200; i++) {
		struct cerr e = { 0 };
		guint16 v = 0;

		if (vfio_dev_read16(rd->dev, VFIO_DEV_REGION_CONFIG, rd->offset, &v, &e) < 0 ||
		    v != rd->want)
			return GINT_TO_POINTER(1);
	}
	return NULL;
}

static void test_threads(void)
{
	guint fds = test_count_fds();
	g_autoptr(Server) s = server_new();
	struct vfio_dev *dev = NULL;
	struct cerr e = { 0 };
	Reader a, b;
	GThread *ta, *tb;

	server_listen(s, TRUE);
	g_assert_cmpint(vfio_dev_open(s->address, NULL, &dev, &e), ==, 0);
	a = (Reader){ dev, 0x1af4, 0 };
	b = (Reader){ dev, 0x1041, 2 };
	ta = g_thread_new("reader-a", reader_thread, &a);
	tb = g_thread_new("reader-b", reader_thread, &b);
	g_assert_null(g_thread_join(ta));
	g_assert_null(g_thread_join(tb));
	vfio_dev_close(dev);
	server_free(g_steal_pointer(&s));
	g_assert_cmpuint(test_count_fds(), ==, fds);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/vfio-user/fault/socket-missing", test_socket_missing);
	g_test_add_func("/vfio-user/fault/socket-refuses", test_socket_refuses);
	g_test_add_func("/vfio-user/fault/close-mid-reply", test_close_mid_reply);
	g_test_add_func("/vfio-user/fault/wrong-command", test_wrong_command);
	g_test_add_func("/vfio-user/fault/wrong-id", test_wrong_id);
	g_test_add_func("/vfio-user/fault/short-payload", test_short_payload);
	g_test_add_func("/vfio-user/fault/oversized", test_oversized);
	g_test_add_func("/vfio-user/fault/error-reply", test_error_reply);
	g_test_add_func("/vfio-user/fault/too-many-fds", test_too_many_fds);
	g_test_add_func("/vfio-user/fault/bad-version", test_bad_version);
	g_test_add_func("/vfio-user/fault/huge-counts", test_huge_counts);
	g_test_add_func("/vfio-user/fault/no-reply-at-open", test_no_reply_at_open);
	g_test_add_func("/vfio-user/fault/no-reply", test_no_reply);
	g_test_add_func("/vfio-user/scripted/region-mmap", test_region_mmap);
	g_test_add_func("/vfio-user/region-fd/short", test_region_fd_short);
	g_test_add_func("/vfio-user/region-fd/unsealed", test_region_fd_unsealed);
	g_test_add_func("/vfio-user/region-fd/not-memfd", test_region_fd_not_memfd);
	g_test_add_func("/vfio-user/region-fd/sealed", test_region_fd_sealed);
	g_test_add_func("/vfio-user/scripted/posted-and-split", test_posted_and_split);
	g_test_add_func("/vfio-user/scripted/dma-between", test_dma_between);
	g_test_add_func("/vfio-user/scripted/irq-chunking", test_irq_chunking);
	g_test_add_func("/vfio-user/scripted/threads", test_threads);
	return g_test_run();
}

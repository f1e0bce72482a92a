/* Fuzz target emu-server: ifcvf-emu's vfio-user server (vfu-server.c) fed a
 * whole client conversation, so that what one message leaves behind (DMA
 * maps, interrupt eventfds, device status, queues enabled, doorbells) is
 * what the next one meets. The server runs in this process on one end of a
 * socketpair, exactly as the emulator's loop drives it: one
 * vfu_conn_serve() per message, the datapath's bursts (emu_net_run) between
 * messages, and a connection the server gives up ends the conversation,
 * which then drops what the client lent (vfu_conn_close). Every input gets
 * a fresh device and must leave no fd, mapping or allocation behind.
 *
 * Input: one byte choosing the emulator's command line (emu-fuzz.c), then
 * records until the input ends:
 *   op < 0xf0: a vfio-user command, op = command number (op & 0x1f);
 *      u8 flags: bits 0-1 fd kind (0 none, 1 memfd, 2 eventfd, 3 a pipe),
 *      bits 2-4 fd count, bit 5 No_reply, bit 6 a reply-type header (the
 *      server must ignore it), bit 7 no datapath burst afterwards;
 *      u16 msg_id; u16 payload length; the payload. A memfd attached to a
 *      well-formed DMA_MAP is as large as offset + size asks (up to
 *      FZ_MEMFD_MAX), else one page; it stays "guest memory" (below).
 *   0xf0: guest memory write: u8 memfd index (modulo those created), u32
 *      offset (modulo the memfd's size), u16 length, the bytes.
 *   0xf1: the configuration changed (ifcvf-emu's SIGUSR2).
 *   0xf2: a frame from the wire: u8 pair, u16 length, the bytes.
 *   0xf3: raw bytes on the socket (u16 length, the bytes), then the client
 *      closes its sending side: framing errors, truncated messages.
 *   other: the client disconnects (vfu_conn_close), then connects again
 *      with the device as it is (a new helper on the same emulator).
 * Replies are read and dropped after every message.
 *
 * Recording seeds: with IFCVF_EMU_RECORD=DIR, ifcvf-emu writes what each
 * client sends in this format (vfu-record.h), e.g.
 *   IFCVF_EMU_RECORD=/tmp/rec meson test -C build emu-model port
 * then fuzz-emu-server -merge=1 corpus/emu-server /tmp/rec keeps what adds
 * coverage. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "emu-fuzz.h"
#include "vfu-server.h"
#include "vfio-user-proto.h"

#define FZ_MAX_MEMFDS 16u
#define FZ_MEMFD_MAX (16ull << 20)
#define FZ_MAX_RECORDS 512u
#define FZ_RUN_ROUNDS 32u

struct conv {
	struct fz_emu emu;
	struct vfu_server_stats stats;
	struct vfu_conn conn;
	bool connected;
	int client;                      /* our end, -1: none */
	int memfd[FZ_MAX_MEMFDS];
	uint64_t memfd_size[FZ_MAX_MEMFDS];
	unsigned nmem;
};

static int new_memfd(struct conv *cv, uint64_t size)
{
	int fd;

	size = (size + 4095) & ~4095ull;
	if (size == 0 || size > FZ_MEMFD_MAX)
		size = 4096;
	fd = fz_memfd("fz-guest", size);
	if (cv->nmem < FZ_MAX_MEMFDS) {
		cv->memfd[cv->nmem] = dup(fd);
		cv->memfd_size[cv->nmem++] = size;
	}
	return fd;
}

static int new_fd(struct conv *cv, unsigned kind, uint64_t memfd_size)
{
	int p[2];

	switch (kind) {
	case 1:
		return new_memfd(cv, memfd_size);
	case 2:
		return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	default:
		if (pipe2(p, O_CLOEXEC) < 0)
			abort();
		close(p[1]);
		return p[0];
	}
}

static void connect_client(struct conv *cv)
{
	struct cerr e = { 0 };
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (vfu_conn_open(&cv->conn, sv[1], &cv->emu.dev, &cv->stats, false, &e) < 0)
		abort();
	cv->client = sv[0];
	cv->connected = true;
}

static void disconnect_client(struct conv *cv)
{
	if (!cv->connected)
		return;
	close(cv->client);
	cv->client = -1;
	vfu_conn_close(&cv->conn);
	cv->connected = false;
}

/* read and drop whatever the server sent */
static void drain(struct conv *cv)
{
	static uint8_t buf[65536];

	while (recv(cv->client, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

static void run_datapath(struct conv *cv)
{
	if (!cv->emu.dev.virtio.net)
		return;
	for (unsigned i = 0; i < FZ_RUN_ROUNDS && emu_net_run(&cv->emu.dev.net); i++)
		;
}

/* serve one message; false when the server dropped the client */
static bool serve(struct conv *cv)
{
	struct cerr e = { 0 };

	if (vfu_conn_serve(&cv->conn, &e) < 0) {
		disconnect_client(cv);
		return false;
	}
	drain(cv);
	return true;
}

static void send_command(struct conv *cv, unsigned op, struct fz_in *in)
{
	uint8_t flags = fz_u8(in);
	uint16_t id = fz_u16(in);
	uint16_t len = fz_u16(in);
	uint8_t *payload = malloc(len ? len : 1);
	unsigned kind = flags & 3, nfds = kind ? ((flags >> 2) & 7) + 1 : 0;
	struct vfu_hdr h = {
		.msg_id = id,
		.command = (uint16_t)(op & 0x1f),
		.msg_size = (uint32_t)(sizeof(h) + len),
		.flags = (flags & 0x20 ? VFU_FLAG_NO_REPLY : 0) |
			 (flags & 0x40 ? VFU_FLAG_TYPE_REPLY : VFU_FLAG_TYPE_COMMAND),
	};
	struct iovec iov[2] = { { &h, sizeof(h) }, { payload, len } };
	char cbuf[CMSG_SPACE(sizeof(int) * 8)];
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	uint64_t memfd_size = 4096;
	int fds[8];
	ssize_t n;

	if (!payload)
		abort();
	fz_bytes(in, payload, len);
	if (h.command == VFU_CMD_DMA_MAP && len == sizeof(struct vfu_dma_map)) {
		struct vfu_dma_map d;

		memcpy(&d, payload, sizeof(d));
		if (d.offset <= FZ_MEMFD_MAX && d.size <= FZ_MEMFD_MAX - d.offset)
			memfd_size = d.offset + d.size;
	}
	for (unsigned i = 0; i < nfds; i++)
		fds[i] = new_fd(cv, kind, memfd_size);
	if (nfds) {
		struct cmsghdr *cm;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	n = sendmsg(cv->client, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	free(payload);
	if (n != (ssize_t)(sizeof(h) + len)) {
		/* cannot happen with these sizes; a partial message would
		 * leave the server waiting for the rest */
		disconnect_client(cv);
		return;
	}
	if (serve(cv) && !(flags & 0x80))
		run_datapath(cv);
}

static void write_memory(struct conv *cv, struct fz_in *in)
{
	unsigned i = fz_u8(in);
	uint32_t off = fz_u32(in);
	uint16_t len = fz_u16(in);
	uint8_t buf[65536];
	uint64_t size;

	len = (uint16_t)fz_bytes(in, buf, len);
	if (!cv->nmem)
		return;
	i %= cv->nmem;
	size = cv->memfd_size[i];
	off %= size;
	if (len > size - off)
		len = (uint16_t)(size - off);
	if (pwrite(cv->memfd[i], buf, len, off) != len)
		abort();
}

static void send_raw(struct conv *cv, struct fz_in *in)
{
	uint16_t len = fz_u16(in);
	uint8_t buf[65536];

	len = (uint16_t)fz_bytes(in, buf, len);
	if (send(cv->client, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) != len) {
		disconnect_client(cv);
		return;
	}
	shutdown(cv->client, SHUT_WR);
	/* the server reads on until it gives up: end of stream at the latest */
	for (unsigned i = 0; i < FZ_MAX_RECORDS && cv->connected; i++)
		serve(cv);
	disconnect_client(cv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct conv cv;   /* large: the whole register file */
	struct fz_in in = { data, size };

	fz_leaks_baseline();
	memset(&cv.stats, 0, sizeof(cv.stats));
	cv.nmem = 0;
	fz_emu_open(&cv.emu, fz_u8(&in));
	connect_client(&cv);
	for (unsigned rec = 0; rec < FZ_MAX_RECORDS && !fz_empty(&in); rec++) {
		uint8_t op = fz_u8(&in);

		if (!cv.connected && op != 0xf0 && op != 0xf1 && op != 0xf2)
			connect_client(&cv);
		if (op < 0xf0) {
			send_command(&cv, op, &in);
		} else if (op == 0xf0) {
			write_memory(&cv, &in);
		} else if (op == 0xf1) {
			emu_device_config_changed(&cv.emu.dev);
		} else if (op == 0xf2) {
			uint8_t pair = fz_u8(&in);
			uint16_t len = fz_u16(&in);
			uint8_t frame[65536];

			len = (uint16_t)fz_bytes(&in, frame, len);
			if (cv.emu.dev.virtio.net) {
				emu_net_rx(&cv.emu.dev.net, pair % cv.emu.cfg->queue_pairs, frame,
					   len);
				run_datapath(&cv);
			}
		} else if (op == 0xf3) {
			send_raw(&cv, &in);
		} else {
			disconnect_client(&cv);
		}
	}
	disconnect_client(&cv);
	fz_emu_close(&cv.emu);
	for (unsigned i = 0; i < cv.nmem; i++) {
		fz_memfd_check_unmapped("emu-server", cv.memfd[i]);
		close(cv.memfd[i]);
	}
	fz_leaks_check("emu-server");
	return 0;
}

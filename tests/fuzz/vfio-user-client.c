/* Fuzz target 1: the vfio-user client of src/vfio against a server the input
 * plays. The real client (vfio_dev_open("vfio-user:PATH") and the calls the
 * helper makes) connects to a UNIX socket of this process; a server thread
 * reads each request and answers it from the input's script: replies (to
 * the request, or with any id and command), error replies, server-sent
 * commands (DMA_READ/DMA_WRITE into the client's DMA map, or anything),
 * with 0, 1 or 2 fds attached (a sealed or unsealed memfd, an eventfd), or
 * a hang-up. VERSION reply JSON, region info with capability chains and
 * sparse areas, IRQ info all come from the script's payloads.
 *
 * Input: 4 bytes for the client's calls (offsets, which calls), then chunks
 *   ctl u8 | command u16 | id u16 | error u8 | memfd pages u8 | len u16 | payload
 * ctl bits 0-1: 0 reply to the request read, 1 a server command (then the
 * next chunk), 2 hang up, 3 a reply with the chunk's id and command; bit 2
 * error flag; bits 3-4 fd: 0 none, 1 memfd sealed against shrinking, 2
 * memfd unsealed, 3 eventfd; bit 5 No_reply on a command; bit 6 a second
 * fd; bit 7 an unknown message type. The script's end hangs up.
 *
 * The server runs in the client's own thread: the client waits for every
 * answer in poll() (vfio-user-wire.c), which this program wraps (the link
 * option --wrap=poll): before the client's poll the server reads what the
 * client sent and answers it from the script. So there is no thread to
 * start and no wakeup between two threads per message; the conversation is
 * the one a server thread would have had, as the server only ever answers
 * what it has read.
 *
 * Oracles: no crash, sanitizer report or hang (the client's own timeout is
 * 300 ms: a deadlock shows as slowness); after the device is closed no fd
 * the client received is left open. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vfio-dev.h"
#include "vfio-user-wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define CHUNK_HEAD 9u

static char sock_dir[64];
static char sock_path[96];
static int listen_fd = -1;

/* the input's server: its script and its connection; main thread only */
static struct server {
	const uint8_t *p;
	size_t n;
	bool active;       /* an input is being played */
	bool accepted;     /* one connection per input, as the client makes */
	int conn;          /* -1: none, or hung up */
} srv = { .conn = -1 };

static void cleanup(void)
{
	if (listen_fd >= 0)
		close(listen_fd);
	unlink(sock_path);
	rmdir(sock_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	(void)argc;
	(void)argv;
	snprintf(sock_dir, sizeof(sock_dir), "/tmp/fuzz-vu.XXXXXX");
	if (!mkdtemp(sock_dir))
		abort();
	snprintf(sock_path, sizeof(sock_path), "%s/s", sock_dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(listen_fd, 4) < 0)
		abort();
	atexit(cleanup);
	return 0;
}

static int make_fd(unsigned kind, unsigned pages)
{
	int fd;

	if (kind == 3)
		return eventfd(0, EFD_CLOEXEC);
	fd = memfd_create("fuzz-region", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)pages * 4096) < 0 ||
	    (kind == 1 && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL) < 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send the script's chunks for one request; false: hang up. */
static bool answer(struct server *s, int conn, const struct vfu_hdr *req)
{
	while (s->n >= CHUNK_HEAD) {
		const uint8_t *h = s->p;
		unsigned ctl = h[0], kind = ctl & 3, fdkind = (ctl >> 3) & 3;
		size_t len = (size_t)(h[7] | h[8] << 8);
		struct vfu_hdr out = { 0 };
		int fds[2] = { -1, -1 };
		unsigned nfds = 0;
		struct cerr e;

		s->p += CHUNK_HEAD;
		s->n -= CHUNK_HEAD;
		if (len > s->n)
			len = s->n;
		if (kind == 2)
			return false;
		out.command = kind == 0 ? req->command : (uint16_t)(h[1] | h[2] << 8);
		out.msg_id = kind == 0 ? req->msg_id : (uint16_t)(h[3] | h[4] << 8);
		out.flags = kind == 1 ? VFU_FLAG_TYPE_COMMAND : VFU_FLAG_TYPE_REPLY;
		if (ctl & 0x80)
			out.flags = 2 + (h[5] & 7);
		if (ctl & 4) {
			out.flags |= VFU_FLAG_ERROR;
			out.error = h[5];
		}
		if (kind == 1 && (ctl & 0x20))
			out.flags |= VFU_FLAG_NO_REPLY;
		if (fdkind) {
			fds[nfds] = make_fd(fdkind, h[6] & 15);
			nfds += fds[nfds] >= 0;
			if (ctl & 0x40) {
				fds[nfds] = make_fd(3, 0);
				nfds += fds[nfds] >= 0;
			}
		}
		(void)vfu_send(conn, &out, s->p, len, fds, nfds, &e);
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		s->p += len;
		s->n -= len;
		if (kind != 1)
			return true;
	}
	return false;
}

static void hang_up(struct server *s)
{
	if (s->conn >= 0)
		close(s->conn);
	s->conn = -1;
}

int __real_poll(struct pollfd *fds, nfds_t nfds, int timeout);
int __wrap_poll(struct pollfd *fds, nfds_t nfds, int timeout);

/* Everything the client sent so far, read and answered; a hang-up closes
 * the connection. Whole messages only: the client's sendmsg() calls all
 * returned before it polls. */
static void serve(struct server *s)
{
	if (!s->accepted) {
		s->conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (s->conn < 0)
			return;   /* not connected yet */
		s->accepted = true;
	}
	while (s->conn >= 0) {
		struct pollfd pfd = { .fd = s->conn, .events = POLLIN };
		struct vfu_msg m = VFU_MSG_INIT;
		struct cerr e;
		bool go_on;

		if (__real_poll(&pfd, 1, 0) != 1)
			return;
		/* the rest of a message cannot come while the client waits in
		 * poll: a short bound, so a cut message is a hang-up, not a stall */
		if (vfu_recv(s->conn, &m, VFU_MAX_MSG_SIZE, 10, &e) < 0) {
			hang_up(s);
			return;
		}
		/* the client's answers to our commands, and posted writes, want nothing */
		if ((m.hdr.flags & VFU_FLAG_TYPE_MASK) != VFU_FLAG_TYPE_COMMAND ||
		    (m.hdr.flags & VFU_FLAG_NO_REPLY)) {
			vfu_msg_clear(&m);
			continue;
		}
		go_on = answer(s, s->conn, &m.hdr);
		vfu_msg_clear(&m);
		if (!go_on)
			hang_up(s);
	}
}

/* every poll of this program: the client's waits, and the server's own
 * reads (vfu_recv) which must not serve again */
int __wrap_poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	static bool serving;

	if (srv.active && !serving) {
		serving = true;
		serve(&srv);
		serving = false;
	}
	return __real_poll(fds, nfds, timeout);
}

/* fds open in [from, from + 64): an input opens a few at a time (the
 * client's socket and eventfds, a region's fds, the server's end) */
static unsigned open_fds_from(int from)
{
	unsigned n = 0;

	for (int fd = from; fd < from + 64; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/* The calls the helper makes on a device, in its order: DMA map (served by
 * DMA_READ/DMA_WRITE, no fd), MSI-X count and binding, config and BAR
 * accesses (direct in a mapped area, messages elsewhere), a posted
 * doorbell, the host-notifier fd, reset, unmap. */
static void drive(struct vfio_dev *dev, const uint8_t *ops, uint8_t *dma)
{
	struct cerr e;
	uint32_t count = 0, v32 = 0;
	uint16_t v16 = 0;
	uint8_t buf[64];
	int efd[2] = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC) };
	unsigned bar = ops[0] & 1 ? VFIO_DEV_REGION_BAR4 : VFIO_DEV_REGION_BAR0;
	uint64_t off = (uint64_t)ops[1] << 4 | (ops[0] >> 4);
	int fd;
	uint64_t fd_off;

	(void)vfio_dev_dma_map(dev, 0x100000, 0x2000, dma, -1, 0, &e);
	(void)vfio_dev_irq_count(dev, VFIO_DEV_IRQ_MSIX, &count, &e);
	if (efd[0] >= 0 && efd[1] >= 0)
		(void)vfio_dev_set_irq_eventfds(dev, VFIO_DEV_IRQ_MSIX, ops[2] & 3, 2, efd, &e);
	(void)vfio_dev_read16(dev, VFIO_DEV_REGION_CONFIG, ops[3] & 0xfe, &v16, &e);
	(void)vfio_dev_read32(dev, bar, off & ~3ull, &v32, &e);
	(void)vfio_dev_read(dev, bar, off, buf, 1 + (ops[2] >> 2) % sizeof(buf), &e);
	(void)vfio_dev_write32(dev, bar, off & ~3ull, v32 ^ 1, &e);
	(void)vfio_dev_write_posted(dev, bar, off & ~1ull, &v16, sizeof(v16), &e);
	if (vfio_dev_region_mmap_fd(dev, bar, off & ~0xfffull, 4096, &fd, &fd_off, &e) == 0 &&
	    fcntl(fd, F_GETFD) < 0)
		abort();   /* a host-notifier fd the device does not hold */
	if (ops[2] & 0x80)
		(void)vfio_dev_reset(dev, &e);
	if (ops[2] & 0x40)
		(void)vfio_dev_disable_irqs(dev, VFIO_DEV_IRQ_MSIX, &e);
	if (ops[3] & 1)
		(void)vfio_dev_dma_unmap(dev, 0x100000, 0x2000, &e);
	for (int i = 0; i < 2; i++)
		if (efd[i] >= 0)
			close(efd[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t dma[0x2000];
	char address[160];
	struct vfio_dev_options opts = { .timeout_ms = 300 };
	struct vfio_dev *dev = NULL;
	struct cerr e;
	int base, stale;
	unsigned before;

	if (size < 4)
		return 0;
	base = dup(2);
	close(base);
	before = open_fds_from(base);
	srv = (struct server){ .p = data + 4, .n = size - 4, .active = true, .conn = -1 };
	snprintf(address, sizeof(address), "vfio-user:%s", sock_path);
	if (vfio_dev_open(address, &opts, &dev, &e) == 0) {
		drive(dev, data, dma);
		vfio_dev_close(dev);
	}
	/* the client is gone: so is the server's end, and a connection the
	 * client made but never waited on */
	srv.active = false;
	hang_up(&srv);
	while ((stale = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close(stale);
	if (open_fds_from(base) != before) {
		fprintf(stderr, "vfio-user client fuzz: an fd is left open after close\n");
		abort();
	}
	return 0;
}

/* --wire tap:IFNAME: a Linux TAP device (IFF_TAP | IFF_NO_PI) is the other
 * end, so the kernel's network stack is the peer. The device is created, or
 * attached when it exists; its link state and addresses are left to whoever
 * set it up (moving it to another network namespace keeps our fd working).
 * Frames the VF sends are written to it (dropped and counted when the
 * kernel does not take them); frames read from it go to RX of the pair a
 * flow hash picks among the running ones. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "emu-net.h"
#include "emu-wire.h"

/* frames read per readiness event, so the other fds get their turn */
#define TAP_RX_BURST 64u

struct tap_wire {
	struct emu_wire base;
	int fd;
	struct emu_watch watch;
	uint8_t *buf;
};

static void tap_tx(struct emu_wire *w, unsigned pair, const uint8_t *frame, size_t len)
{
	struct tap_wire *t = (struct tap_wire *)w;

	(void)pair;
	if (write(t->fd, frame, len) != (ssize_t)len) {
		w->st.tx_dropped++;
		return;
	}
	w->st.tx_frames++;
	w->st.tx_bytes += len;
}

static void tap_readable(void *opaque, uint32_t events)
{
	struct tap_wire *t = opaque;

	(void)events;
	for (unsigned i = 0; i < TAP_RX_BURST; i++) {
		ssize_t n = read(t->fd, t->buf, EMU_MAX_FRAME);

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				t->base.st.rx_errors++;
			return;
		}
		t->base.st.rx_frames++;
		t->base.st.rx_bytes += (uint64_t)n;
		emu_net_rx_flow(t->base.net, t->buf, (size_t)n);
	}
}

static void tap_close(struct emu_wire *w)
{
	struct tap_wire *t = (struct tap_wire *)w;

	emu_loop_del(w->loop, &t->watch);
	if (t->fd >= 0)
		close(t->fd);
	free(t->buf);
	free(t);
}

static const struct emu_wire_ops tap_ops = {
	.tx = tap_tx,
	.close = tap_close,
};

int emu_wire_tap_open(const struct emu_config *cfg, struct emu_loop *loop, struct emu_wire **ret,
		      struct cerr *e)
{
	struct tap_wire *t = calloc(1, sizeof(*t));
	struct ifreq ifr;
	int r;

	if (!t)
		return cerr_set(e, ENOMEM, "out of memory for the wire");
	t->base.ops = &tap_ops;
	t->base.kind = "tap";
	t->base.loop = loop;
	t->watch.fd = -1;
	t->buf = malloc(EMU_MAX_FRAME);
	t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (!t->buf || t->fd < 0) {
		r = cerr_set(e, t->buf ? errno : ENOMEM, "--wire tap:%s: cannot open /dev/net/tun: %s",
			     cfg->wire.ifname, t->buf ? strerror(errno) : "out of memory");
		goto fail;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	/* at most EMU_IFNAME_MAX (IFNAMSIZ - 1) bytes, checked with the options */
	memcpy(ifr.ifr_name, cfg->wire.ifname, strlen(cfg->wire.ifname));
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
		r = cerr_set(e, errno, "--wire tap:%s: cannot create or attach the TAP device: %s",
			     cfg->wire.ifname, strerror(errno));
		goto fail;
	}
	r = emu_loop_add(loop, &t->watch, t->fd, EPOLLIN, tap_readable, t);
	if (r < 0) {
		r = cerr_set(e, -r, "--wire tap:%s: cannot watch the TAP fd", cfg->wire.ifname);
		goto fail;
	}
	*ret = &t->base;
	return 0;
fail:
	tap_close(&t->base);
	return r;
}

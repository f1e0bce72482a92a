/* --wire loop: a frame sent on TX of pair k arrives on RX of pair k, as
 * through a loopback plug. It goes through the RX FIFO like any received
 * frame, so when RX has no buffers and the FIFO is full it is dropped. */
#include <errno.h>
#include <stdlib.h>

#include "emu-net.h"
#include "emu-wire.h"

static void loop_tx(struct emu_wire *w, unsigned pair, const uint8_t *frame, size_t len)
{
	w->st.tx_frames++;
	w->st.tx_bytes += len;
	w->st.rx_frames++;
	w->st.rx_bytes += len;
	emu_net_rx(w->net, pair, frame, len);
}

static void loop_close(struct emu_wire *w)
{
	free(w);
}

static const struct emu_wire_ops loop_ops = {
	.tx = loop_tx,
	.close = loop_close,
};

int emu_wire_loop_open(const struct emu_config *cfg, struct emu_wire **ret, struct cerr *e)
{
	struct emu_wire *w = calloc(1, sizeof(*w));

	(void)cfg;
	if (!w)
		return cerr_set(e, ENOMEM, "out of memory for the wire");
	w->ops = &loop_ops;
	w->kind = "loop";
	*ret = w;
	return 0;
}

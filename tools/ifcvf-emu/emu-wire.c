/* Wire selection and the counters every wire has (see emu-wire.h). */
#include "emu-wire.h"

#include <inttypes.h>

int emu_wire_open(const struct emu_config *cfg, struct emu_net *net, struct emu_loop *loop,
		  struct emu_wire **ret, struct cerr *e)
{
	struct emu_wire *w = NULL;
	int r;

	switch (cfg->wire.kind) {
	case EMU_WIRE_TAP:
		r = emu_wire_tap_open(cfg, loop, &w, e);
		break;
	case EMU_WIRE_PAIR:
		r = emu_wire_pair_open(cfg, loop, &w, e);
		break;
	case EMU_WIRE_GEN:
		r = emu_wire_gen_open(cfg, loop, &w, e);
		break;
	default:
		r = emu_wire_loop_open(cfg, &w, e);
		break;
	}
	if (r < 0)
		return r;
	w->net = net;
	w->loop = loop;
	*ret = w;
	return 0;
}

void emu_wire_close(struct emu_wire *w)
{
	if (w)
		w->ops->close(w);
}

void emu_wire_print(const struct emu_wire *w, FILE *out)
{
	fprintf(out,
		"ifcvf-emu: wire %s: to the wire %" PRIu64 " frames %" PRIu64 " bytes (dropped %" PRIu64
		"), from the wire %" PRIu64 " frames %" PRIu64 " bytes (errors %" PRIu64 ")\n",
		w->kind, w->st.tx_frames, w->st.tx_bytes, w->st.tx_dropped, w->st.rx_frames,
		w->st.rx_bytes, w->st.rx_errors);
	if (w->ops->print)
		w->ops->print(w, out);
}

void emu_wire_json(const struct emu_wire *w, FILE *out)
{
	fprintf(out,
		",\"wire\":{\"kind\":\"%s\",\"tx_frames\":%" PRIu64 ",\"tx_bytes\":%" PRIu64
		",\"tx_dropped\":%" PRIu64 ",\"rx_frames\":%" PRIu64 ",\"rx_bytes\":%" PRIu64
		",\"rx_errors\":%" PRIu64,
		w->kind, w->st.tx_frames, w->st.tx_bytes, w->st.tx_dropped, w->st.rx_frames,
		w->st.rx_bytes, w->st.rx_errors);
	if (w->ops->json)
		w->ops->json(w, out);
	fputs("}", out);
}

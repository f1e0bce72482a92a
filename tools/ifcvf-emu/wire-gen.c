/* --wire gen: a generator and checker of gen-frame.h frames.
 *
 * Generator: once RX of the chosen pair first runs, frames with sequence
 * numbers 0, 1, 2, ... go into that RX queue, until count frames were sent:
 *
 *  - at a rate (pps=N): a timerfd ticks every max(1/pps, GEN_TICK_NS); each
 *    tick hands over what is due since the start, at most two milliseconds'
 *    worth (GEN_MIN_BATCH at least) at a time, so a stalled loop catches up
 *    gradually. Frames the ring cannot take wait in the queue's FIFO; once
 *    that is full too, the frame and the rest of that tick's frames are
 *    dropped (they arrived together) and listed by sequence number, without
 *    building them.
 *  - as fast as the queue takes them (pps=max): no timer; the datapath pulls
 *    frames through rx_peek()/rx_pop() while the ring has buffers, and waits
 *    for a kick when it has none. Nothing is dropped for lack of buffers and
 *    nothing waits in the FIFO.
 *
 * Frames are built by gen-build.h (one copy, no checksum pass per frame).
 *
 * Checker: every frame the VF transmits is classified: foreign (not of the
 * format, or another stream), corrupt (length or checksum wrong), or
 * received, and then in order (above every sequence number seen so far),
 * out of order (below, not seen before), duplicate (seen before) or stale
 * (too far below to tell; the window is GEN_WINDOW numbers). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "emu-net.h"
#include "emu-wire.h"
#include "gen-build.h"
#include "gen-frame.h"

#define GEN_MIN_BATCH 1024u
#define GEN_WINDOW 65536u
#define NSEC 1000000000ull
/* shortest tick: at the highest rate a tick carries 1000 frames, which the
 * ring and the FIFO absorb while the driver takes the previous ones */
#define GEN_TICK_NS 100000ull

struct gen_wire {
	struct emu_wire base;
	struct emu_gen_config cfg;
	struct gen_builder builder;
	int timer_fd;
	struct emu_watch timer_watch;
	bool started;
	bool finished;
	bool built;               /* pps=max: buf holds frame `sent` */
	struct timespec t0;
	uint64_t sent;            /* handed over (taken or dropped) */
	uint8_t *buf;
	/* checker */
	uint64_t received, in_order, out_of_order, duplicates, stale, corrupted, foreign;
	bool any;
	uint64_t highest;
	uint64_t window[GEN_WINDOW / 64];
};

static struct gen_wire *gen_of(struct emu_wire *w)
{
	return (struct gen_wire *)w;
}

static uint64_t elapsed_ns(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - t0->tv_sec) * NSEC + (uint64_t)now.tv_nsec -
	       (uint64_t)t0->tv_nsec;
}

/* @n more frames were handed over */
static void gen_sent(struct gen_wire *g, uint64_t n)
{
	g->sent += n;
	g->base.st.rx_frames += n;
	g->base.st.rx_bytes += n * g->cfg.size;
	if (g->cfg.count && g->sent >= g->cfg.count && !g->finished) {
		struct itimerspec off = { { 0, 0 }, { 0, 0 } };

		g->finished = true;
		if (!g->cfg.max)
			(void)timerfd_settime(g->timer_fd, 0, &off, NULL);
	}
}

static void gen_send_due(struct gen_wire *g)
{
	uint64_t ns = elapsed_ns(&g->t0);
	/* the first frame goes at once, then one every 1/pps */
	uint64_t due = (uint64_t)((unsigned __int128)ns * g->cfg.pps / NSEC) + 1;
	uint64_t batch, max_batch = g->cfg.pps / 500;

	if (max_batch < GEN_MIN_BATCH)
		max_batch = GEN_MIN_BATCH;
	if (g->cfg.count && due > g->cfg.count)
		due = g->cfg.count;
	if (due <= g->sent)
		return;
	batch = due - g->sent < max_batch ? due - g->sent : max_batch;
	while (batch) {
		gen_builder_build(&g->builder, g->buf, g->sent);
		if (!emu_net_rx_offer(g->base.net, g->cfg.pair, g->buf, g->cfg.size)) {
			/* no room: this frame and the rest of the tick's (they
			 * arrived together) are lost */
			emu_net_rx_dropped_gen(g->base.net, g->cfg.pair, g->cfg.stream, g->sent,
					       batch);
			gen_sent(g, batch);
			return;
		}
		gen_sent(g, 1);
		batch--;
	}
}

static void gen_tick(void *opaque, uint32_t events)
{
	struct gen_wire *g = opaque;
	uint64_t ticks;

	(void)events;
	if (read(g->timer_fd, &ticks, sizeof(ticks)) != sizeof(ticks))
		return;
	if (!g->finished)
		gen_send_due(g);
}

static void gen_rx_started(struct emu_wire *w, unsigned pair)
{
	struct gen_wire *g = gen_of(w);
	uint64_t period;
	struct itimerspec its;

	if (g->started || pair != g->cfg.pair)
		return;
	g->started = true;
	clock_gettime(CLOCK_MONOTONIC, &g->t0);
	/* pps=max: the datapath pulls (the queue is pending from its start) */
	if (g->cfg.max)
		return;
	period = NSEC / g->cfg.pps;
	if (period < GEN_TICK_NS)
		period = GEN_TICK_NS;
	its.it_interval.tv_sec = (time_t)(period / NSEC);
	its.it_interval.tv_nsec = (long)(period % NSEC);
	its.it_value = its.it_interval;
	if (timerfd_settime(g->timer_fd, 0, &its, NULL) < 0)
		fprintf(stderr, "ifcvf-emu: generator: timerfd_settime: %s\n", strerror(errno));
	gen_send_due(g);
}

static const uint8_t *gen_rx_peek(struct emu_wire *w, unsigned pair, size_t *len)
{
	struct gen_wire *g = gen_of(w);

	if (!g->cfg.max || !g->started || g->finished || pair != g->cfg.pair)
		return NULL;
	if (!g->built) {
		gen_builder_build(&g->builder, g->buf, g->sent);
		g->built = true;
	}
	*len = g->cfg.size;
	return g->buf;
}

static void gen_rx_pop(struct emu_wire *w, unsigned pair)
{
	struct gen_wire *g = gen_of(w);

	(void)pair;
	g->built = false;
	gen_sent(g, 1);
}

static bool window_test_set(struct gen_wire *g, uint64_t seq)
{
	uint64_t *word = &g->window[(seq % GEN_WINDOW) / 64], bit = 1ull << (seq % 64);
	bool was = *word & bit;

	*word |= bit;
	return was;
}

static void window_advance(struct gen_wire *g, uint64_t to)
{
	if (to - g->highest >= GEN_WINDOW) {
		memset(g->window, 0, sizeof(g->window));
		return;
	}
	for (uint64_t s = g->highest + 1; s <= to; s++)
		g->window[(s % GEN_WINDOW) / 64] &= ~(1ull << (s % 64));
}

static void gen_tx(struct emu_wire *w, unsigned pair, const uint8_t *frame, size_t len)
{
	struct gen_wire *g = gen_of(w);
	uint32_t stream;
	uint64_t seq;

	(void)pair;
	w->st.tx_frames++;
	w->st.tx_bytes += len;
	switch (gen_frame_parse(frame, len, &stream, &seq)) {
	case GEN_FRAME_FOREIGN:
		g->foreign++;
		return;
	case GEN_FRAME_CORRUPT:
		g->corrupted++;
		return;
	default:
		break;
	}
	if (stream != g->cfg.stream) {
		g->foreign++;
		return;
	}
	g->received++;
	if (!g->any || seq > g->highest) {
		if (g->any)
			window_advance(g, seq);
		else
			memset(g->window, 0, sizeof(g->window));
		g->any = true;
		g->highest = seq;
		window_test_set(g, seq);
		g->in_order++;
	} else if (g->highest - seq >= GEN_WINDOW) {
		g->stale++;
	} else if (window_test_set(g, seq)) {
		g->duplicates++;
	} else {
		g->out_of_order++;
	}
}

static void gen_print(const struct emu_wire *w, FILE *out)
{
	const struct gen_wire *g = (const struct gen_wire *)w;

	fprintf(out,
		"ifcvf-emu: generator: sent %" PRIu64 "%s%s; checker: received %" PRIu64
		" (in order %" PRIu64 ", out of order %" PRIu64 ", duplicates %" PRIu64
		", stale %" PRIu64 "), corrupted %" PRIu64 ", foreign %" PRIu64 "\n",
		g->sent, g->cfg.max ? " (as fast as RX takes them)" : "",
		g->finished ? " (done)" : g->started ? "" : " (not started)", g->received,
		g->in_order, g->out_of_order, g->duplicates, g->stale, g->corrupted, g->foreign);
}

static void gen_json(const struct emu_wire *w, FILE *out)
{
	const struct gen_wire *g = (const struct gen_wire *)w;

	fprintf(out,
		",\"gen\":{\"started\":%s,\"finished\":%s,\"max\":%s,\"pps\":%" PRIu64
		",\"size\":%u,\"pair\":%u,\"stream\":%u,\"sent\":%" PRIu64 ",\"received\":%" PRIu64
		",\"in_order\":%" PRIu64 ",\"out_of_order\":%" PRIu64 ",\"duplicates\":%" PRIu64
		",\"stale\":%" PRIu64 ",\"corrupted\":%" PRIu64 ",\"foreign\":%" PRIu64
		",\"highest_seq\":%" PRId64 "}",
		g->started ? "true" : "false", g->finished ? "true" : "false",
		g->cfg.max ? "true" : "false", g->cfg.max ? 0 : g->cfg.pps, g->cfg.size,
		g->cfg.pair, g->cfg.stream, g->sent, g->received, g->in_order, g->out_of_order,
		g->duplicates, g->stale, g->corrupted, g->foreign,
		g->any ? (int64_t)g->highest : (int64_t)-1);
}

static void gen_close(struct emu_wire *w)
{
	struct gen_wire *g = gen_of(w);

	emu_loop_del(w->loop, &g->timer_watch);
	if (g->timer_fd >= 0)
		close(g->timer_fd);
	gen_builder_fini(&g->builder);
	free(g->buf);
	free(g);
}

static const struct emu_wire_ops gen_ops = {
	.tx = gen_tx,
	.rx_started = gen_rx_started,
	.rx_peek = gen_rx_peek,
	.rx_pop = gen_rx_pop,
	.print = gen_print,
	.json = gen_json,
	.close = gen_close,
};

int emu_wire_gen_open(const struct emu_config *cfg, struct emu_loop *loop, struct emu_wire **ret,
		      struct cerr *e)
{
	struct gen_wire *g = calloc(1, sizeof(*g));
	int r;

	if (!g)
		return cerr_set(e, ENOMEM, "out of memory for the generator");
	g->base.ops = &gen_ops;
	g->base.kind = "gen";
	g->base.loop = loop;
	g->cfg = cfg->wire.gen;
	g->timer_watch.fd = -1;
	g->buf = malloc(g->cfg.size);
	g->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (!g->buf || gen_builder_init(&g->builder, g->cfg.size, cfg->mac, g->cfg.stream) < 0) {
		gen_close(&g->base);
		return cerr_set(e, ENOMEM, "generator: out of memory");
	}
	if (g->timer_fd < 0) {
		r = cerr_set(e, errno, "generator: timerfd_create: %s", strerror(errno));
		gen_close(&g->base);
		return r;
	}
	r = emu_loop_add(loop, &g->timer_watch, g->timer_fd, EPOLLIN, gen_tick, g);
	if (r < 0) {
		gen_close(&g->base);
		return cerr_set(e, -r, "generator: cannot watch the timer: %s", strerror(-r));
	}
	*ret = &g->base;
	return 0;
}

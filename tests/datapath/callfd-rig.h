/* A rig for interrupt and traffic tests on one vhost-user port: ifcvf-emu
 * (1 or 2 queue pairs, loop wire: what pair k sends comes back on pair k),
 * `ifcvf-helper run` with one port on it, and the test frontend of
 * tests/lib as the guest, every vring enabled and the port running; the
 * guest learns about completions only from its callfds (interrupts on, no
 * EVENT_IDX). Every wait is bounded and only guards against a hang. Used by
 * the mq-irq and device-lost tests; single-threaded, like the tests. */
#pragma once

#include <glib.h>

#include "datapath-util.h"
#include "virtq-drv.h"
#include "vu-frontend.h"

#define CALLFD_RIG_MAX_PAIRS 2u

typedef struct {
	unsigned pairs;          /* 1..CALLFD_RIG_MAX_PAIRS */
	unsigned vrings;         /* 2 * pairs */
	char pairs_arg[4];
	const char *emu_args[7]; /* what the emulator runs with (restarts too) */
	char *dir;
	char *socket;
	TestEmu *emu;
	DpProc *helper;
	struct vu_guest_mem mem;
	struct vu_frontend fe;
	gboolean fe_open;
	struct virtq_drv q[2 * CALLFD_RIG_MAX_PAIRS];
	uint64_t bufs;           /* one BUF slot per (vring, head) */
} Rig;

/* The emulator, the helper with one @pairs-pair port, and the frontend
 * with every vring enabled and the port running; @prefix names the test's
 * directory. With @status (protocol feature STATUS, as QEMU) the port
 * starts once DRIVER_OK comes, with every vring bound at once; without, it
 * starts as soon as pair 0 is enabled, and pair 1 is bound when it is
 * enabled later. */
Rig *rig_new(const char *prefix, unsigned pairs, gboolean status);
/* rig_new() whose frontend also negotiates host notifiers (BACKEND_REQ,
 * BACKEND_SEND_FD, HOST_NOTIFIER), hands over a backend channel and serves
 * it as @mode says; kicks then go to a doorbell page once one is mapped. */
Rig *rig_new_notifier(const char *prefix, unsigned pairs, gboolean status,
		      enum vu_notifier_mode mode);
/* The frontend closed, the helper stopped (it must exit 0), all freed. */
void rig_free(Rig *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Rig, rig_free)

/* Stop the helper (it must exit 0) and return its whole log. */
char *rig_stop_helper(Rig *r);
/* 1 if @callfd was signalled (and reads it), 0 if not; no waiting. */
int rig_virq_pending(int callfd);
/* One buffer on RX of @pair. */
void rig_post_rx(Rig *r, unsigned pair);
/* One frame on TX of @pair: header and a broadcast frame carrying @tag. */
void rig_send_frame(Rig *r, unsigned pair, guint8 tag);
/* vring @qi's callfd must fire (bounded wait), and then its one used entry
 * is there: for RX the frame sent with @tag on this pair, whole. */
void rig_expect_call(Rig *r, unsigned qi, guint8 tag);

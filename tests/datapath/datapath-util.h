/* Real processes for the datapath tests: ifcvf-helper run, dpdk-testpmd
 * (net_virtio_user, interactive over a pipe) and the emulator's counters.
 * Every process dies with the test (PR_SET_PDEATHSIG), every wait is
 * bounded and fails the test when it runs out.
 *
 * Threads: test main thread only. */
#pragma once

#include <glib.h>

#include "test-util.h"

typedef struct {
	char *name;
	GPid pid;
	int stdin_fd;     /* -1 when not piped */
	char *log_path;   /* stdout and stderr */
	/* the log's size when spawned: processes spawned one after another
	 * with the same name append to one log, and what each writes starts
	 * here */
	gsize log_start;
	int status;       /* wait status once reaped */
	gboolean reaped;
} DpProc;

/* Spawn @argv with stdout+stderr to DIR/NAME.log. */
DpProc *dp_proc_spawn(const char *dir, const char *name, const char *const *argv,
		      gboolean pipe_stdin);
/* The whole log so far. */
char *dp_proc_log(DpProc *p);
/* Wait until @needle appears in the log at or after @from; returns the
 * offset just past it. Fails when the process exits or @timeout_s passes. */
gsize dp_proc_wait_log(DpProc *p, const char *needle, gsize from, guint timeout_s);
gsize dp_proc_log_size(DpProc *p);
void dp_proc_send(DpProc *p, const char *line);
gboolean dp_proc_alive(DpProc *p);
/* Wait for exit within @timeout_s (SIGKILL and fail after); returns the
 * wait status. */
int dp_proc_wait_exit(DpProc *p, guint timeout_s);
/* SIGTERM, then dp_proc_wait_exit(). */
int dp_proc_stop(DpProc *p, guint timeout_s);
void dp_proc_free(DpProc *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DpProc, dp_proc_free)

/* ifcvf-helper run --bus none with one --port per spec; waits until every
 * port listens (or, in client mode, connects). */
DpProc *dp_helper_start(const char *dir, const char *const *port_specs);

/* dpdk-testpmd -i with one net_virtio_user port on @vdev_args
 * ("path=...,queues=N,...") and @nq rx/tx queues; @prefix names its EAL
 * files. With @wait_prompt, waits for its prompt. */
DpProc *dp_testpmd_start(const char *dir, const char *prefix, const char *vdev_args, guint nq,
			 gboolean wait_prompt);
/* "show port stats all" -> RX-packets and TX-packets of port 0 */
void dp_testpmd_port_stats(DpProc *tp, guint64 *rx, guint64 *tx);
/* "stop" -> TX-dropped of the accumulated forward statistics */
guint64 dp_testpmd_stop_fwd(DpProc *tp);
/* "quit" and wait for a clean exit */
void dp_testpmd_quit(DpProc *tp);

/* Emulator counters, summed over the queues. */
typedef struct {
	guint64 tx_frames;   /* frames the VF took from TX rings */
	guint64 rx_frames;   /* frames the VF wrote into RX rings */
	guint64 rx_dropped;
	guint64 rx_fifo;     /* frames held for RX right now */
	guint64 errors;      /* queue errors, DMA errors, device errors */
	guint64 kicks;
	guint enabled;       /* queues enabled */
	guint64 dma_maps;    /* DMA maps held now */
} DpEmuStats;

/* The device lost (issue 18): SIGKILL @emu (no goodbye on its socket, as
 * a crash) and reap it. */
void dp_emu_kill(TestEmu *emu);
/* A new emulator on @emu's socket path (it renames its socket into place
 * over the old one), with @argv extra arguments; test_emu_stop() stops it. */
void dp_emu_restart(TestEmu *emu, const char *const *argv);
/* Entries in /proc/@pid/fd right now. */
guint dp_count_fds(GPid pid);

/* SIGUSR1 to the emulator, then read @stats_file. */
void dp_emu_stats(TestEmu *emu, const char *stats_file, DpEmuStats *ret);

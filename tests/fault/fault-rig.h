/* The rig of the fault sweeps (suite 'fault'): one `ifcvf-helper run` with
 * two ports, each on its own ifcvf-emu (loop wire, software live
 * migration): port 0 takes the faults, port 1 is the bystander that must
 * keep running. The guest is the test frontend of tests/lib with one queue
 * pair, a dirty log and a frame through the loop to see the datapath work.
 * A fault point restarts port 0's emulator with a --fault schedule (the
 * helper re-attaches it), or closes the frontend at a message, and then
 * checks what a user would notice: the port's state and reason in the
 * helper's log, the logged pages, a fresh frontend getting a working port,
 * and the helper's fds, threads, mappings and the VF's DMA maps against
 * their count before.
 *
 * Every wait is bounded (a hang guard, never a pass/fail criterion).
 * Threads: the test's main thread only. */
#pragma once

#include <glib.h>

#include "datapath-util.h"
#include "virtq-drv.h"
#include "vu-frontend.h"

typedef struct {
	char *dir;
	char *sock[2];
	char *stats[2];
	TestEmu *emu[2];
	char **faults;           /* port 0's emulator's --fault arguments */
	DpProc *helper;
	/* the bystander's frontend, running all along */
	struct vu_guest_mem by_mem;
	struct virtq_drv by_q[2];
	struct vu_frontend by_fe;
	/* what the helper holds with no frontend on port 0 */
	guint fds, threads, maps;
	/* the VF's DMA maps port 0 keeps after a stop: its spare mediated
	 * rings (sw mode), ready for the next bring-up until the port closes */
	guint64 dma;
} FaultRig;

/* The guest of port 0 for one point. */
typedef struct {
	struct vu_guest_mem mem;
	struct virtq_drv q[2];    /* RX, TX */
	struct vu_frontend fe;
	gboolean open;
	gboolean logging;
	uint64_t bufs;
	uint8_t tag;
} FaultGuest;

/* Phases of the scenario the sweeps cut (bring-up, switchover to the
 * relay, GET_VRING_BASE), as message indices of each side. */
typedef enum {
	PHASE_BRINGUP,
	PHASE_SWITCH,
	PHASE_STOP,
	PHASE_COUNT,
} FaultPhase;

FaultRig *fault_rig_new(void);
/* The same with port 0 in hardware live-migration mode (the VF logs). */
FaultRig *fault_rig_new_hw(void);
/* The same with the helper running @shim preloaded (LD_PRELOAD), given
 * @ctl_file (alloc-fail.h); nothing else gets it. */
FaultRig *fault_rig_new_preloaded(const char *shim, const char *ctl_file);
void fault_rig_free(FaultRig *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FaultRig, fault_rig_free)

/* vfio-user messages port 0's emulator has counted so far. */
guint64 fault_rig_emu_messages(FaultRig *r, guint port);
/* DMA maps port 0's emulator holds now. */
guint64 fault_rig_emu_dma_maps(FaultRig *r, guint port);
/* Restart port 0's emulator with @fault (NULL: none) and wait until the
 * helper has it again. */
void fault_rig_restart_emu(FaultRig *r, const char *fault);
/* The same without a fault, its requests traced (--verbose); then
 * fault_rig_emu_posted() says, by message index (from 1), which were
 * posted (No_reply): a server's error to those is never sent, so the
 * helper cannot know of it, as a PCI write that is lost. */
void fault_rig_restart_emu_traced(FaultRig *r);
GArray *fault_rig_emu_posted(FaultRig *r);

void fault_guest_init(FaultGuest *g);
void fault_guest_fini(FaultGuest *g);
/* The steps of a scenario; each returns 0 or the frontend's -errno, with
 * the message in @ce, and never fails the test by itself. */
int fault_guest_bringup(FaultGuest *g, FaultRig *r, struct cerr *ce);
int fault_guest_log_all(FaultGuest *g, gboolean on, struct cerr *ce);
int fault_guest_stop(FaultGuest *g, uint32_t base[2], struct cerr *ce);
/* One frame through the loop: TRUE when it came back within the hang
 * guard; while logging, every page it was written to and the used ring
 * must be in the dirty log (fails the test otherwise). */
gboolean fault_guest_frame(FaultGuest *g, guint wait_ms);

/* The last state line of port @port in the helper's log at or after
 * @from ("running: ...", "failed: ..."), waiting up to @timeout_s for one
 * of @states (a NULL-terminated list of prefixes); NULL when none came. */
char *fault_rig_wait_state(FaultRig *r, guint port, gsize from, const char *const *states,
			   guint timeout_s);
/* The helper saw port 0's frontend go (its state line since @from). A
 * frontend that connects before then is refused (one frontend a port;
 * DPDK may take a new connection before it sees the old one close), and
 * retries, as QEMU's reconnect does; the test's frontend does not. */
void fault_rig_wait_gone(FaultRig *r, gsize from, const char *point);
/* A fresh frontend on port 0 gets a working port; then closed. */
void fault_rig_fresh_frontend(FaultRig *r);
/* The helper alive, the bystander running and answering, no fd, thread,
 * mapping or DMA map more than before. */
void fault_rig_check_clean(FaultRig *r, const char *point);

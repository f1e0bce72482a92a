/* The sentinel: a small child of `ifcvf-helper run` that outlives a helper
 * that dies (SIGKILL, a crash) by a few milliseconds, so that the frontend
 * sees its vhost-user connection close only after the VF has stopped.
 *
 * Why: with host notifiers on kernel VFIO the frontend maps the VF's
 * doorbell page from the VFIO device fd itself; that mapping keeps the
 * device open when the helper dies, so the kernel does not reset the VF.
 * QEMU, seeing the connection close, completes the guest's pending TX
 * entries from the used ring while the VF, still enabled, goes on fetching
 * them (and guest kicks still reach it through the page): duplicate frames.
 * Without host notifiers the order in which the dying helper's fds close
 * (the device's reset, the vhost-user sockets) is not controlled either.
 *
 * So the helper hands the sentinel, over a SOCK_SEQPACKET socket pair, a dup
 * of each kernel VFIO device fd (with where device_status and the PCI
 * command register are in it) and a dup of each vhost-user connection it
 * accepts, and tells it when it closes one itself. When the socket pair
 * reaches EOF without a "quit" (the helper died), the sentinel writes
 * device_status 0 to every VF it holds and waits for the reset to read
 * back, clears Bus Master, tries VFIO_DEVICE_RESET, waits (bounded) until
 * the helper process has fully exited (every other fd of it closed: a
 * vfio-user socket hangs up first), then closes the connection dups and
 * exits, with one line on stderr (the helper's log). On a clean stop the
 * helper stops its VFs itself, sends "quit" and reaps the sentinel.
 *
 * It is forked for every helper, whatever its devices: over vfio-user it
 * holds only the connections, which then close after the device's socket;
 * one path for every kind of port, tested in ordinary CI on the emulator.
 *
 * Plain C, errno returns. Threads: sentinel_start() and sentinel_stop() on
 * the main thread, sentinel_start() while the process has ONE thread and
 * opened nothing of the helper yet (it forks without exec). The hold/drop
 * calls come from any thread (DPDK's vhost threads, the main thread), under
 * one mutex; they are no-ops (0, id 0) when no sentinel runs (unit tests,
 * a fork that failed). The sentinel process itself has one thread and owns
 * every fd it was sent; the helper keeps owning its own fds. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

/* Fork the sentinel. 0, or -errno (the helper then runs without one). */
int sentinel_start(void);

/* The running sentinel's pid, or 0. */
pid_t sentinel_pid(void);

/* Hand over a kernel VFIO device for @name: a dup of @fd is sent, with
 * @status_off, the fd offset of the virtio common config's device_status,
 * and @command_off, the fd offset of the PCI command register. *@ret_id
 * names it for sentinel_drop() (0 when none runs). */
int sentinel_hold_vf(const char *name, int fd, uint64_t status_off, uint64_t command_off,
		     uint32_t *ret_id);

/* Hand over the vhost-user connection just made on socket @path for @name:
 * DPDK's API gives no connection fd, so it is found among this process's
 * fds: a connected socket (not listening) whose own name (server, the
 * helper listens on @path) or peer name (@client) is @path and that is not
 * held already. The caller names it by @key (DPDK's vid) and @group (its
 * port) for the drops below. 1 when held, 0 when no sentinel runs; -ENOENT
 * when there is none, -EEXIST when several match, -ENOSPC when the table
 * is full. */
int sentinel_hold_conn(const char *name, const char *path, int client, int key,
		       const void *group);

/* The helper closes what @id (a VF) names itself: the sentinel closes its
 * dup without touching it. 0 is ignored. */
void sentinel_drop(uint32_t id);

/* The same for the connection held under @key, or for every connection
 * held under @group (unregistering a socket closes its connections). */
void sentinel_drop_conn(int key);
void sentinel_drop_group(const void *group);

/* Clean stop: "quit" (the sentinel closes everything, resets nothing) and
 * reap it, SIGKILL after a bounded wait. Nothing is left running. */
void sentinel_stop(void);

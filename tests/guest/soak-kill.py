#!/usr/bin/env python3
"""soak-kill.py SUPERVISOR_PID EMU_PID STATS_FILE KILLS OUT_JSON

The kill loop of guest-soak-test.sh: KILLS times, SIGKILL the helper (the
supervisor's child), then wait for the supervisor's new helper and for
traffic both ways through the VF: the emulator's RX queue delivered frames
to the guest and its generator's checker received frames the guest sent.
The emulator's counters come from its --stats-file, rewritten on SIGUSR1.
Per kill it records the time from the kill to traffic in both directions,
and, once traffic flows again, the new helper's fds, threads and mappings
(/proc) and the emulator's DMA map count. Writes them to OUT_JSON; exits 1
(with one line saying why) when a helper does not come back or traffic
does not resume within 30 s."""
import json
import os
import signal
import sys
import time

sup, emu, stats_path, kills, out_path = (int(sys.argv[1]), int(sys.argv[2]), sys.argv[3],
                                         int(sys.argv[4]), sys.argv[5])
POLL = 0.02
RESUME_LIMIT = 30.0
last_seq = -1


def stats():
    """The emulator's counters, fresh (a seq above the last one read)."""
    global last_seq
    os.kill(emu, signal.SIGUSR1)
    end = time.monotonic() + 5
    while time.monotonic() < end:
        try:
            with open(stats_path) as f:
                s = json.load(f)
            if s["seq"] > last_seq:
                last_seq = s["seq"]
                return s
        except (OSError, ValueError):
            pass
        time.sleep(0.005)
    raise SystemExit(f"ifcvf-emu (pid {emu}) wrote no counters within 5 s")


def flow(s):
    q = s["datapath"]["queues"]
    return (sum(x["frames"] for x in q if x["role"] == "rx"),
            s["wire"]["gen"]["received"])


def helper_pid():
    try:
        with open(f"/proc/{sup}/task/{sup}/children") as f:
            kids = f.read().split()
        return int(kids[0]) if kids else None
    except OSError:
        return None


def resources(pid):
    def count(path):
        return len(os.listdir(path))
    with open(f"/proc/{pid}/maps") as f:
        lines = f.read().splitlines()
    # mappings of a file or device (6th field a path): guest memory, VF regions, libraries
    files = sum(1 for l in lines if len(l.split(None, 5)) == 6 and l.split(None, 5)[5].startswith("/"))
    return {"fds": count(f"/proc/{pid}/fd"), "threads": count(f"/proc/{pid}/task"),
            "maps": len(lines), "file_maps": files}


def wait_traffic(deadline, clients_before):
    """Until a new client connected and both directions moved frames."""
    base = None
    while time.monotonic() < deadline:
        s = stats()
        if s["server"]["clients"] > clients_before:
            if base is None:
                base = flow(s)
            else:
                rx, tx = flow(s)
                if rx > base[0] and tx > base[1]:
                    return True
        time.sleep(POLL)
    return False


def fail(msg, result):
    result["error"] = msg
    json.dump(result, open(out_path, "w"))
    print(msg)
    sys.exit(1)


result = {"kills": []}
# traffic before the first kill
if not wait_traffic(time.monotonic() + 120, -1):
    fail("no traffic both ways through the VF before the first kill", result)
for k in range(1, kills + 1):
    old = helper_pid()
    if old is None:
        fail(f"kill {k}: the supervisor (pid {sup}) has no helper", result)
    clients = stats()["server"]["clients"]
    t0 = time.monotonic()
    os.kill(old, signal.SIGKILL)
    if not wait_traffic(t0 + RESUME_LIMIT, clients):
        fail(f"kill {k}: traffic both ways did not resume within {RESUME_LIMIT:.0f} s "
             f"(helper now {helper_pid()})", result)
    dt = time.monotonic() - t0
    new = helper_pid()
    # a moment of traffic before counting and the next kill
    time.sleep(1.0)
    entry = {"kill": k, "old_pid": old, "new_pid": new, "seconds": round(dt, 3),
             "dma_maps": stats()["device"]["dma_maps"]}
    if new:
        try:
            entry.update(resources(new))
            if k in (1, kills):
                with open(f"/proc/{new}/maps") as f, open(f"{out_path}.maps{k}", "w") as o:
                    o.write(f.read())
        except OSError:
            pass
    result["kills"].append(entry)
    print(f"kill {k}: helper {old} -> {new}, traffic both ways after {dt:.3f} s, "
          f"fds {entry.get('fds')} threads {entry.get('threads')} maps {entry.get('maps')} "
          f"(of files {entry.get('file_maps')}) "
          f"dma maps {entry['dma_maps']}", flush=True)
json.dump(result, open(out_path, "w"))

#!/usr/bin/env python3
"""emu-traffic.py EMU_PID STATS_FILE SECONDS

Waits until frames move both ways through an emulated VF: its RX queues
delivered frames to the guest and its generator's checker received frames
the guest sent, both counted from now on (counters read fresh from the
emulator's --stats-file, rewritten on SIGUSR1). Prints how long it took;
exits 1 when SECONDS pass first."""
import json
import os
import signal
import sys
import time

emu, path, limit = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
last_seq = -1


def stats():
    global last_seq
    os.kill(emu, signal.SIGUSR1)
    end = time.monotonic() + 5
    while time.monotonic() < end:
        try:
            with open(path) as f:
                s = json.load(f)
            if s["seq"] > last_seq:
                last_seq = s["seq"]
                return s
        except (OSError, ValueError):
            pass
        time.sleep(0.005)
    raise SystemExit(f"ifcvf-emu (pid {emu}) wrote no counters within 5 s")


def flow(s):
    return (sum(q["frames"] for q in s["datapath"]["queues"] if q["role"] == "rx"),
            s["wire"]["gen"]["received"])


t0 = time.monotonic()
base = flow(stats())
while time.monotonic() - t0 < limit:
    rx, tx = flow(stats())
    if rx > base[0] and tx > base[1]:
        print(f"traffic both ways after {time.monotonic() - t0:.3f} s")
        sys.exit(0)
    time.sleep(0.02)
print(f"no traffic both ways within {limit:.0f} s (rx {rx - base[0]}, tx {tx - base[1]} frames)")
sys.exit(1)

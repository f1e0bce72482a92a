#!/usr/bin/env python3
"""duplex-verdict.py frames CONSOLE EMU_STATS_JSON...
duplex-verdict.py dmesg CONSOLE

The verdicts of a run of duplex-guest.sh, printed, exit 0 when good:
 frames: the guest's gen-check (RX: emulator -> guest) saw no duplicate,
   out-of-order or corrupt frame; each emulator's checker (TX: guest ->
   emulator; one stats file per emulator that served the VF) received
   frames and none out of order, duplicated, stale or corrupt; no queue of
   any emulator resumed at an index the guest's used ring contradicts.
   Frames lost during an outage are allowed.
 dmesg: the guest printed its kernel log and it has no error: NETDEV
   WATCHDOG (a TX queue stalled 5 s), virtio errors (a used ring the driver
   cannot accept: "id N out of range", "is not a head!"), warnings, oopses."""
import json
import re
import sys

mode, console_path = sys.argv[1], sys.argv[2]
console = open(console_path, errors="replace").read()

if mode == "dmesg":
    log = re.findall(r"^DMESG (.*)$", console, re.M)
    if not log:
        print("the guest printed no kernel log")
        sys.exit(1)
    bad = re.compile(r"NETDEV WATCHDOG|transmit queue \d+ timed out|"
                     r"virtio.*([Ee]rror|[Ff]ail|[Bb]ad|[Bb]roken|[Ii]nvalid|out of range|"
                     r"is not a head|[Uu]nexpected|too many|[Ww]rong)|"
                     r"Call Trace|BUG:|Oops|WARNING:|Kernel panic")
    errors = [l for l in log if bad.search(l)]
    for l in errors[:20]:
        print(l)
    sys.exit(1 if errors else 0)

ok = True
finals = re.findall(r"^GENCHECK-FINAL (.*)$", console, re.M)
if not finals:
    print("RX: the guest printed no GENCHECK-FINAL")
    sys.exit(1)
rx = dict(kv.split("=") for kv in finals[-1].split())
print("RX (emulator -> guest): " + " ".join(f"{k}={rx[k]}" for k in
      ("received", "missing", "duplicates", "out_of_order", "corrupt", "socket_drops")))
ok &= rx["received"] != "0" and rx["duplicates"] == "0" and rx["out_of_order"] == "0" \
    and rx["corrupt"] == "0"
sent = re.findall(r"^GENSEND-FINAL (.*)$", console, re.M)
print(f"TX: the guest sent {'; '.join(sent) if sent else '?'}")
for path in sys.argv[3:]:
    st = json.load(open(path))
    g = st["wire"]["gen"]
    mism = sum(q["resume_mismatch"] for q in st["datapath"]["queues"])
    print(f"TX (guest -> emulator {path.rsplit('/', 1)[-1]}): received={g['received']} "
          f"out_of_order={g['out_of_order']} duplicates={g['duplicates']} stale={g['stale']} "
          f"corrupted={g['corrupted']} foreign={g['foreign']} highest={g['highest_seq']}; "
          f"queues resumed at an index the guest's used ring contradicts: {mism}")
    ok &= g["received"] > 0 and g["out_of_order"] == 0 and g["duplicates"] == 0 \
        and g["stale"] == 0 and g["corrupted"] == 0 and mism == 0
sys.exit(0 if ok else 1)

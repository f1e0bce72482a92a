#!/usr/bin/env python3
# Seeds for tests/fuzz/relay.c (python3 seed-relay.py DIR, then fuzz-relay
# -merge=1 corpus/relay DIR): plausible rings: chains (some indirect) in the
# descriptor table, their heads in the avail ring, a script that publishes,
# relays both ways and uses entries
import random, struct, os, sys
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for n in range(100):
    r = random.Random(n)
    lg = r.randrange(0, 9)
    q = 1 << lg
    flags = r.randrange(16)
    shift = r.randrange(65536) if flags & 8 else 0
    last = r.choice([0, 0, r.randrange(65536)])
    steps = []
    for _ in range(r.randrange(4, 20)):
        op = r.choice([0, 4, 2, 5, 6, 0, 4, 2, 5, 3, 1])
        steps.append(bytes([op, r.randrange(256), r.randrange(256), r.randrange(1, 4)]))
    hdr = bytes([lg, flags]) + struct.pack('<HH', shift, last) + bytes([len(steps)])
    used = bytearray(4 + 8 * q + 2)
    struct.pack_into('<HH', used, 0, 0, last)
    desc = bytearray(16 * q)
    rest = bytearray()
    i = 0
    heads = []
    while i < q:
        head = i
        ln = min(r.randrange(1, 4), q - i)
        if r.random() < 0.2 and ln == 1:
            t = 0x3000 + len(rest)
            struct.pack_into('<QIHH', desc, 16 * i, t, 32, 4, 0)
            for k in range(2):
                rest += struct.pack('<QIHH', 0x3000 + r.randrange(0x5000), r.randrange(1, 2048),
                                    (1 if k == 0 else 0) | (2 if k else 0), k + 1)
            i += 1
        else:
            for k in range(ln):
                fl = (1 if k < ln - 1 else 0) | (2 if r.random() < 0.6 else 0)
                struct.pack_into('<QIHH', desc, 16 * i, 0x3000 + r.randrange(0x5000),
                                 r.randrange(1, 4096), fl, i + 1 if k < ln - 1 else 0)
                i += 1
        heads.append(head)
    avail = bytearray(4 + 2 * q + 2)
    for k in range(q):
        struct.pack_into('<H', avail, 4 + 2 * k, heads[k % len(heads)])
    struct.pack_into('<HH', avail, 0, 0, (last + shift) & 0xffff)
    gused = bytearray(4 + 8 * q + 2)
    struct.pack_into('<HH', gused, 0, 0, (last + shift) & 0xffff)
    data = hdr + b''.join(steps) + bytes(used) + bytes(desc) + bytes(avail) + bytes(gused) + bytes(rest)
    open(os.path.join(out, 'g%03d' % n), 'wb').write(data)

#!/usr/bin/env python3
"""Seeds for the emu-datapath fuzz target (input format: emu-datapath.c).

The rings live in guest memory, which no vfio-user conversation carries, so
these are laid out the way the test frontend's driver (tests/lib/virtq-drv.c)
lays them out: split rings, TX chains of a virtio_net_hdr_v1 and a frame, RX
buffers posted writable; variants with indirect tables, MRG_RXBUF, EVENT_IDX,
the dirty log on, and guest memory partly outside the DMA maps.

usage: make-emu-datapath-seeds.py DIR"""
import struct
import sys

RX_DESC, RX_AVAIL, RX_USED = 0x0000, 0x1000, 0x2000
TX_DESC, TX_AVAIL, TX_USED = 0x4000, 0x5000, 0x6000
INDIRECT = 0x8000
TX_BUF, RX_BUF = 0x10000, 0x20000
F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4
# feature choice bits (emu-datapath.c's wanted[])
MRG, IND, EVIDX, V1 = 1 << 0, 1 << 1, 1 << 2, 1 << 3


def desc(addr, length, flags=0, nxt=0):
    return struct.pack('<QIHH', addr, length, flags, nxt)


def mem(off, data):
    return bytes([0]) + struct.pack('<IH', off, len(data)) + data


def kick(q):
    return bytes([1, q])


def frame(n, seq):
    eth = bytes.fromhex('02fc00000001' '02fc00000002' '0800')
    body = bytes((seq + i) & 0xff for i in range(n - len(eth)))
    return eth + body


def seed(features, maps, ops, size=16, variant=0, log_map=None):
    out = bytes([variant]) + struct.pack('<I', features)
    out += bytes([len(maps)])
    for first, pages, iova, prot in maps:
        out += bytes([first, pages, iova, prot])
    # first page bytes of the unused maps (read, then ignored)
    out += bytes(8 - len(maps))
    for d, a, u in ((RX_DESC, RX_AVAIL, RX_USED), (TX_DESC, TX_AVAIL, TX_USED)):
        out += struct.pack('<HIIIB', size, d, a, u, 1)
    if log_map is not None:
        out += bytes([8, log_map])
    return out + b''.join(ops)


def avail(base, heads, used_event=None, size=16):
    ring = struct.pack('<HH', 0, len(heads)) + b''.join(struct.pack('<H', h) for h in heads)
    ops = [mem(base, ring)]
    if used_event is not None:
        ops.append(mem(base + 4 + 2 * size, struct.pack('<H', used_event)))
    return ops


def rx_post(n, buf_len):
    ops = [mem(RX_DESC, b''.join(desc(RX_BUF + i * 0x800, buf_len, F_WRITE) for i in range(n)))]
    return ops + avail(RX_AVAIL, list(range(n)))


def tx_send(frames, indirect=False):
    ops, descs, heads = [], b'', []
    addr = TX_BUF
    for i, f in enumerate(frames):
        pkt = bytes(12) + f
        ops.append(mem(addr, pkt))
        if indirect:
            table = desc(addr, 12, F_NEXT, 1) + desc(addr + 12, len(f))
            ops.append(mem(INDIRECT + i * 32, table))
            descs += desc(INDIRECT + i * 32, 32, F_INDIRECT)
            heads.append(i)
        else:
            descs += desc(addr, 12, F_NEXT, 2 * i + 1) + desc(addr + 12, len(f))
            heads.append(2 * i)
        addr += 0x800
    ops.append(mem(TX_DESC, descs))
    return ops + avail(TX_AVAIL, heads) + [kick(1)]


WHOLE = [(0, 64, 0xff, 3)]
seeds = {
    'tx-rx-loop': seed(V1, WHOLE, rx_post(4, 0x800) + tx_send([frame(60, 1), frame(200, 2)])),
    'tx-indirect': seed(V1 | IND, WHOLE, rx_post(4, 0x800) +
                        tx_send([frame(60, 3), frame(1000, 4)], indirect=True)),
    'rx-mrg-rxbuf': seed(V1 | MRG, WHOLE, rx_post(8, 128) + tx_send([frame(600, 5)])),
    'event-idx': seed(V1 | EVIDX, WHOLE,
                      rx_post(4, 0x800) + avail(TX_AVAIL, [], used_event=0) +
                      tx_send([frame(60, 6)])),
    'rx-wire-frames': seed(V1 | MRG | EVIDX, WHOLE, rx_post(4, 256) +
                           [bytes([2, 0]) + struct.pack('<H', 300) + frame(300, 7), bytes([3])]),
    'dirty-log': seed(V1 | MRG, WHOLE + [(48, 16, 0xc0, 3)],
                      rx_post(4, 0x800) + tx_send([frame(60, 8)]), log_map=1),
    'partly-unmapped': seed(V1, [(0, 32, 0xff, 3)],
                            rx_post(4, 0x800) + tx_send([frame(60, 9)])),
    'unmap-while-running': seed(V1, WHOLE, rx_post(4, 0x800) + tx_send([frame(60, 10)]) +
                                [bytes([4, 0]), kick(0), bytes([5, 0]), kick(1)]),
}
for name, data in seeds.items():
    with open(f'{sys.argv[1]}/{name}', 'wb') as f:
        f.write(data)

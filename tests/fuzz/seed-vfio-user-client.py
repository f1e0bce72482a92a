#!/usr/bin/env python3
# Seeds for tests/fuzz/vfio-user-client.c from recorded ones: each recording
# of ifcvf-emu's replies (IFCVF_EMU_RECORD_REPLIES=IN, then a device-suite
# run) with its BAR0 or BAR4 region info replaced by one with a sparse-mmap
# capability of two areas, first too short for the client's buffer (it asks
# again with the argsz given), then whole with a memfd (sealed, sealed and
# short, unsealed) or an eventfd attached, which the emulator never sends.
#   seed-vfio-user-client.py IN OUT; fuzz-vfio-user-client -merge=1 corpus/vfio-user-client OUT
import glob, os, struct, sys

src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)


def chunks(d):
    i, cs = 4, []
    while i + 9 <= len(d):
        ln = d[i + 7] | d[i + 8] << 8
        cs.append(bytes(d[i:i + 9 + ln]))
        i += 9 + ln
    return d[:4], cs


def chunk(ctl, cmd, mid, err, pages, payload):
    return bytes([ctl]) + struct.pack('<HHBBH', cmd, mid, err, pages, len(payload)) + payload


n = 0
for f in sorted(glob.glob(os.path.join(src, '*'))):
    hdr, cs = chunks(open(f, 'rb').read())
    for k, c in enumerate(cs):
        if (c[1] | c[2] << 8) != 5 or len(c) < 9 + 32:
            continue
        idx = struct.unpack_from('<I', c, 9 + 8)[0]
        if idx not in (0, 4):
            continue
        caps = (struct.pack('<HHI', 1, 1, 0) + struct.pack('<II', 2, 0) +
                struct.pack('<QQ', 0, 0x1000) + struct.pack('<QQ', 0x2000, 0x1000))
        head = struct.pack('<IIIIQQ', 32 + len(caps), 0xf, idx, 32, 0x4000, 0)
        for fdk, pages in [(1, 4), (1, 2), (2, 4), (3, 0)]:
            new = cs[:k] + [chunk(0, 5, 0, 0, 0, head), chunk(fdk << 3, 5, 0, 0, pages, head + caps)] + cs[k + 1:]
            open(os.path.join(out, 'sparse%03d' % n), 'wb').write(hdr + b''.join(new))
            n += 1
        break

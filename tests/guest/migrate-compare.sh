# Sourced by the guest migration tests (after guest-lib.sh; needs $qmp):
# compare_memory I SRC DST DST_PID DEVICE QUEUES
# After migration I completed, the paused source's guest memory and the
# destination's, loaded but not yet running (started with -S), should be the
# same page for page. What the VF writes (the used rings, and the buffers of
# vring 0's descriptor table the device may write: a net VF's receive
# buffers, a blk VF's IN data and status bytes) reaches the migration stream
# only through the dirty log; what the guest CPU writes, through QEMU's own
# dirty tracking. QEMU 7.2 under TCG with a vhost-user device (DPDK's
# net_vhost as well as this helper) now and then does not send pages the
# guest CPU wrote (kernel data, per-CPU areas), and the guest then oopses:
# the finding of issue 4. A lost page that holds part of a vring or of a
# buffer the VF writes is counted against us (ours_lost); any other lost
# page is reported and written into the destination's memory (its memfd,
# where the offset is the guest physical address) from the source's before
# the guest runs (cpu_pages_lost), so the checks that follow judge this
# project, not that QEMU defect. DEVICE: a word of the virtio device's name
# in QEMU (virtio-net, blk); QUEUES: its vrings to read.
ours_lost=0
cpu_pages_lost=0
compare_memory() {
	local i=$1 s=$2 d=$3 dpid=$4 dev=$5 nq=$6 st rings q path out
	for _ in $(seq 100); do
		st=$("$qmp" "$workdir/qmp-$d.sock" query-status 2>/dev/null)
		case "$st" in *'"inmigrate"'*|'') sleep 0.1 ;; *) break ;; esac
	done
	# the vrings where the destination's device has them (QEMU's view)
	path=$("$qmp" "$workdir/qmp-$d.sock" x-query-virtio |
		python3 -c 'import json,sys; print([d["path"] for d in json.load(sys.stdin) if sys.argv[1] in d["name"]][0])' "$dev")
	rings=
	for q in $(seq 0 $((nq - 1))); do
		rings="$rings $("$qmp" "$workdir/qmp-$d.sock" x-query-virtio-queue-status "{\"path\": \"$path\", \"queue\": $q}" |
			python3 -c 'import json, sys
r = json.load(sys.stdin)
n = r["vring-num"]
print("%d:%d %d:%d %d:%d" % (r["vring-desc"], 16 * n, r["vring-avail"], 6 + 2 * n, r["vring-used"], 6 + 8 * n))')"
	done
	if [ -z "$path" ] || [ -z "${rings// /}" ] ||
	   ! "$qmp" "$workdir/qmp-$s.sock" pmemsave "{\"val\": 0, \"size\": $((256 << 20)), \"filename\": \"$workdir/src.mem\"}" >/dev/null ||
	   ! "$qmp" "$workdir/qmp-$d.sock" pmemsave "{\"val\": 0, \"size\": $((256 << 20)), \"filename\": \"$workdir/dst.mem\"}" >/dev/null; then
		echo "# migration $i: cannot read the vrings or save guest memory"
		ours_lost=$((ours_lost + 1))
		return
	fi
	out=$(python3 - "$workdir/src.mem" "$workdir/dst.mem" "$i" "$dpid" $rings <<'PY'
import os, sys
src, dst = (open(p, "rb").read() for p in sys.argv[1:3])
mig, qemu = sys.argv[3], sys.argv[4]
ring_pages = set()
for r in sys.argv[5:]:
    a, n = (int(x) for x in r.split(":"))
    if a:
        ring_pages.update(range(a // 4096, (a + n - 1) // 4096 + 1))
# the other memory the VF writes: every device-writable buffer vring 0's
# descriptor table (first of the list) points at, on either side (neither
# guest driver uses indirect tables here)
buf_pages = set()
desc, dlen = (int(x) for x in sys.argv[5].split(":"))
for mem in (src, dst):
    for k in range(dlen // 16 if desc else 0):
        e = mem[desc + 16 * k:desc + 16 * k + 16]
        addr, n = int.from_bytes(e[0:8], "little"), int.from_bytes(e[8:12], "little")
        flags = int.from_bytes(e[12:14], "little")
        if n and flags & 2 and addr + n <= len(src):
            buf_pages.update(range(addr // 4096, (addr + n - 1) // 4096 + 1))
sig = bytes.fromhex("88b5") + b"IFCG"  # a generator frame's ethertype and magic
lost = [a for a in range(0, len(src), 4096) if src[a:a + 4096] != dst[a:a + 4096]]
ours, cpu = [], []
for a in lost:
    s, d = src[a:a + 4096], dst[a:a + 4096]
    n = sum(1 for k in range(4096) if s[k] != d[k])
    what = ("a vring" if a // 4096 in ring_pages else
            "a buffer the VF writes" if a // 4096 in buf_pages else None)
    (ours if what else cpu).append(a)
    frame = ", a frame's header in it" if sig in s or sig in d else ""
    print(f"# migration {mig}: page {a:#x} differs in {n} bytes ("
          f"{'holds ' + what if what else 'neither vring nor VF buffer: repaired from the source'}{frame})")
if cpu:
    # the destination's guest RAM: QEMU's memfd backend, offset = GPA
    fd = None
    for name in os.listdir(f"/proc/{qemu}/fd"):
        if os.readlink(f"/proc/{qemu}/fd/{name}").startswith("/memfd:mem"):
            fd = os.open(f"/proc/{qemu}/fd/{name}", os.O_RDWR)
    if fd is None:
        print(f"# migration {mig}: cannot find the destination's guest memory")
        ours.append(-1)
    else:
        for a in cpu:
            os.pwrite(fd, src[a:a + 4096], a)
        os.close(fd)
print(f"LOST {len(ours)} {len(cpu)}")
PY
	)
	rm -f "$workdir/src.mem" "$workdir/dst.mem"
	echo "$out" | grep -v '^LOST' | head -20
	set -- $(echo "$out" | grep '^LOST')
	ours_lost=$((ours_lost + ${2:-1}))
	cpu_pages_lost=$((cpu_pages_lost + ${3:-0}))
}

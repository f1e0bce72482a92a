#!/usr/bin/env bash
# guest-migrate-blk-test.sh MODE MIGRATIONS
# Live migration of a Linux guest (QEMU, TCG) whose disk is a vhost-user-blk
# port of ifcvf-helper, between two QEMUs on this machine, each with its own
# helper and emulated IFCVF blk VF, MODE hw (the VF logs the pages it
# writes) or sw (the helper relays the used ring). Both VFs serve the same
# backing file, as shared storage does, and complete requests in random
# order. In the guest, blk-check writes numbered blocks with O_DIRECT and
# reads back earlier ones all along. The VM migrates MIGRATIONS times back
# and forth; one migration is cancelled midway and repeated. At the end
# the host writes the stop word into the control block of the file; the
# guest verifies every block once more: no mismatch, no I/O error, no
# kernel error, every block in the file whole, and each destination
# (started paused) held every vring page and every buffer page the VF
# writes that the source held (compare_memory).
set -u
. "$(dirname "$0")/guest-lib.sh"
. "$(dirname "$0")/migrate-compare.sh"

mode=${1:-hw}
migrations=${2:-10}
[ "$mode" = hw ] || [ "$mode" = sw ] || bail "MODE must be hw or sw"
tests_dir=$(cd "$(dirname "$0")" && pwd)
qmp="$tests_dir/qmp.py"
blk_check=${IFCVF_BLK_CHECK:-}
[ -x "$blk_check" ] || bail "IFCVF_BLK_CHECK is not set: run through meson test"
command -v python3 >/dev/null || bail "python3 is missing"
blocks=1024
lm_opt=
[ "$mode" = sw ] && lm_opt=,sw-live-migration=1

echo "1..$((migrations + 8))"

# two checkers' numbered blocks, then the control block
truncate -s $(((2 * blocks + 1) * 4096)) "$workdir/disk.raw"
declare -A emu_pid helper_pid
for side in a b; do
	"$IFCVF_EMU" --socket "$workdir/$side.sock" --type blk --backing "$workdir/disk.raw" \
		--complete-order random --stats-file "$workdir/emu-$side.json" \
		> "$workdir/emu-$side.log" 2>&1 &
	emu_pid[$side]=$!
	bg_pids+=("$!")
	wait_for_socket "$workdir/$side.sock" "$!" || bail "ifcvf-emu $side did not start"
	"$IFCVF_HELPER" run --bus none --name migrate-blk-vm \
		--port "device=vfio-user:$workdir/$side.sock,socket=$workdir/vhost-$side.sock$lm_opt" \
		> "$workdir/helper-$side.log" 2>&1 &
	helper_pid[$side]=$!
	bg_pids+=("$!")
	wait_for_socket "$workdir/vhost-$side.sock" "$!" || bail "ifcvf-helper $side did not start"
done

cat > "$workdir/guest.sh" <<GUEST
# two checkers on halves of the disk: requests in flight together
/bin/blk-check /dev/vda 0 $blocks $((2 * blocks)) &
/bin/blk-check /dev/vda $blocks $blocks $((2 * blocks)) &
wait
echo "GUEST blk-check done"
dmesg | grep -i -E "I/O error|blk_update_request|virtio_blk|critical" | sed 's/^/GUEST dmesg: /'
GUEST
"$tests_dir/mkinitramfs.sh" "$workdir/initrd.gz" "$workdir/guest.sh" "$blk_check" \
	|| bail "cannot build the guest initramfs"

qemu_pid=
# start_qemu SIDE [INCOMING]: QEMU on SIDE's vhost socket, QMP at qmp-SIDE.sock
# (vectors=0: see guest-blk-test.sh)
start_qemu() {
	local side=$1 incoming=${2:-}
	rm -f "$workdir/qmp-$side.sock"
	timeout -s KILL 900 qemu-system-x86_64 \
		-machine pc -cpu qemu64 -smp 1 -m 256 \
		-nographic -no-reboot -display none \
		-kernel "$GUEST_KERNEL" -initrd "$workdir/initrd.gz" \
		-append "console=ttyS0 quiet panic=-1" \
		-object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem \
		-chardev socket,id=vb,path="$workdir/vhost-$side.sock" \
		-device vhost-user-blk-pci,chardev=vb,num-queues=1,vectors=0 \
		-qmp "unix:$workdir/qmp-$side.sock,server=on,wait=off" \
		${incoming:+-S -incoming "$incoming"} \
		>> "$workdir/console.log" 2>&1 &
	qemu_pid=$!
	bg_pids+=("$!")
	wait_for_socket "$workdir/qmp-$side.sock" "$qemu_pid"
}

# blocks the guest's first checker wrote so far (its last BLKCHECK line)
guest_writes() {
	grep -a '^BLKCHECK first=0 writes=' "$workdir/console.log" | tail -1 | sed 's/.*writes=\([0-9]*\).*/\1/'
}

# wait_progress N SECONDS: the guest's write count grows by N within SECONDS
wait_progress() {
	local start now
	start=$(guest_writes)
	start=${start:-0}
	for _ in $(seq $(($2 * 10))); do
		now=$(guest_writes)
		[ "${now:-0}" -ge $((start + $1)) ] && return 0
		sleep 0.1
	done
	return 1
}

src=a
start_qemu a
src_qemu=$qemu_pid
wait_progress 200 180
check "the guest writes and reads its disk through VF a" [ "$(guest_writes)" -gt 0 ]

cancel_at=$(( (migrations + 1) / 2 ))
for i in $(seq 1 "$migrations"); do
	dst=$([ "$src" = a ] && echo b || echo a)
	start_qemu "$dst" "unix:$workdir/mig-$i.sock"
	dst_qemu=$qemu_pid
	if [ "$i" -eq "$cancel_at" ]; then
		"$qmp" "$workdir/qmp-$src.sock" migrate-set-parameters '{"max-bandwidth": 4194304}' >/dev/null
		"$qmp" "$workdir/qmp-$src.sock" migrate "{\"uri\": \"unix:$workdir/mig-$i.sock\"}" >/dev/null
		sleep 2
		"$qmp" "$workdir/qmp-$src.sock" migrate_cancel >/dev/null
		status=$("$qmp" "$workdir/qmp-$src.sock" wait-migration 60)
		kill -KILL "$dst_qemu" 2>/dev/null
		wait "$dst_qemu" 2>/dev/null
		check "migration $i cancelled ($status), the guest keeps writing on VF $src" \
			wait_progress 100 60
		start_qemu "$dst" "unix:$workdir/mig-$i-again.sock"
		dst_qemu=$qemu_pid
		uri="unix:$workdir/mig-$i-again.sock"
	else
		uri="unix:$workdir/mig-$i.sock"
	fi
	"$qmp" "$workdir/qmp-$src.sock" migrate-set-parameters '{"max-bandwidth": 1073741824}' >/dev/null
	"$qmp" "$workdir/qmp-$src.sock" migrate "{\"uri\": \"$uri\"}" >/dev/null
	status=$("$qmp" "$workdir/qmp-$src.sock" wait-migration 120)
	[ "$status" = completed ] && compare_memory "$i" "$src" "$dst" "$(pgrep -P "$dst_qemu" -x qemu-system-x86)" blk 1
	"$qmp" "$workdir/qmp-$dst.sock" cont >/dev/null 2>&1
	"$qmp" "$workdir/qmp-$src.sock" quit >/dev/null 2>&1
	wait "$src_qemu" 2>/dev/null
	ok_progress=1
	wait_progress 100 60 || ok_progress=0
	check "migration $i $src->$dst: $status, the guest writes on through VF $dst" \
		[ "$status" = completed -a "$ok_progress" = 1 ]
	src=$dst
	src_qemu=$dst_qemu
done

# the stop word in the control block: the guest verifies every block, ends
printf 'IFCVF-BLK-CHECK-STOP' | dd of="$workdir/disk.raw" bs=4096 seek="$((2 * blocks))" conv=notrunc 2>/dev/null
for _ in $(seq 1200); do
	grep -aq '^GUEST done' "$workdir/console.log" && break
	kill -0 "$src_qemu" 2>/dev/null || break
	sleep 0.1
done
final=$(grep -a '^BLKCHECK-FINAL' "$workdir/console.log")
echo "$final" | sed 's/^/# /'
check "the guest verified every block: no mismatch, no I/O error" \
	[ "$(echo "$final" | tr -d '\r' | grep -c "mismatches=0 errors=0 verified=$blocks\$")" -eq 2 ]
check "no I/O error in the guest's kernel log" \
	sh -c "! grep -aqE '^GUEST dmesg: .*(I/O error|blk_update_request|critical)' '$workdir/console.log'"
check "every block in the shared file is whole (its number, a valid checksum)" python3 - "$workdir/disk.raw" "$((2 * blocks))" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
bad = []
for k in range(int(sys.argv[2])):
    b = data[k * 4096:(k + 1) * 4096]
    magic, block, gen, s = struct.unpack("<IIII", b[:16])
    h = 2166136261
    for x in b[16:]:
        h = ((h ^ x) * 16777619) & 0xffffffff
    if magic != 0x49464342 or block != k or h != s:
        bad.append(k)
print(f"# {len(bad)} broken blocks {bad[:10]}")
sys.exit(1 if bad else 0)
PY
[ "$cpu_pages_lost" -eq 0 ] ||
	echo "# QEMU did not send $cpu_pages_lost pages the guest CPU wrote; the test wrote them into the destinations"
check "no destination lacked a vring or buffer page the VF had written (memory compared after each move)" \
	[ "$ours_lost" -eq 0 ]
# case-sensitive: "..MP-BIOS bug: 8254 timer not connected" is a boot note
# of a slow TCG guest, not a kernel BUG
check "the guest kernel did not oops or panic" \
	sh -c "! grep -aqE 'Kernel panic|Oops|BUG:|RIP: 0010:0x0|general protection' '$workdir/console.log'"
for side in a b; do kill -USR1 "${emu_pid[$side]}"; done
sleep 0.5
check "requests completed out of order on the VFs, none answered with an error" python3 - "$workdir" <<'PY'
import json, sys
qs = [q for s in "ab" for q in json.load(open(f"{sys.argv[1]}/emu-{s}.json"))["blk"]["queues"]]
print("# requests", [q["requests"] for q in qs], "out of order", [q["out_of_order"] for q in qs],
      "ioerr", [q["ioerr"] for q in qs], "errors", [q["errors"] for q in qs])
sys.exit(0 if sum(q["out_of_order"] for q in qs) > 0 and
         all(q["ioerr"] == 0 and q["errors"] == 0 for q in qs) else 1)
PY

if [ "$tap_failed" -ne 0 ]; then
	for f in helper-a.log helper-b.log emu-a.log emu-b.log console.log; do
		echo "# ---- $f"; grep -av '^BLKCHECK first' "$workdir/$f" 2>/dev/null | sed 's/^/# /' | tail -30
	done
	exit 1
fi

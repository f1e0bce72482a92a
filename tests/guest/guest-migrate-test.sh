#!/usr/bin/env bash
# guest-migrate-test.sh MODE MIGRATIONS
# Live migration of a Linux guest (QEMU, TCG) between two QEMUs on this
# machine, each with its own ifcvf-helper and emulated IFCVF VF, MODE hw
# (the VF logs dirty pages) or sw (the helper relays the used rings). The
# VFs are cabled to a learning switch (tests/lib/l2-switch) whose generator
# sends sequence-numbered frames to the guest's MAC, following the VM to
# whichever VF it was last heard from, as a network would. Inside the guest
# gen-check verifies every frame. The VM migrates MIGRATIONS times back and
# forth; one migration is cancelled midway and repeated. At the end: no
# frame corrupted or duplicated, every missing frame is one an emulator
# reports dropping while its VF was stopped (or the switch could not hand
# over), the destination's wire saw the guest announce itself after each
# move, and each destination (started paused, -S) held every frame and
# vring page of the source (compare_memory).
set -u
. "$(dirname "$0")/guest-lib.sh"
. "$(dirname "$0")/migrate-compare.sh"

mode=${1:-hw}
migrations=${2:-10}
[ "$mode" = hw ] || [ "$mode" = sw ] || bail "MODE must be hw or sw"
tests_dir=$(cd "$(dirname "$0")" && pwd)
qmp="$tests_dir/qmp.py"
switch_bin=${IFCVF_L2_SWITCH:-}
gen_check=${IFCVF_GEN_CHECK:-}
[ -x "$switch_bin" ] || bail "IFCVF_L2_SWITCH is not set: run through meson test"
[ -x "$gen_check" ] || bail "IFCVF_GEN_CHECK is not set: run through meson test"
command -v python3 >/dev/null || bail "python3 is missing"
mac=52:54:00:12:34:56
lm_opt=
[ "$mode" = sw ] && lm_opt=,sw-live-migration=1

echo "1..$((migrations + 6))"

"$switch_bin" --port a="$workdir/a.wire" --port b="$workdir/b.wire" \
	--gen "$mac,pps=2000,size=256" --stats-file "$workdir/switch.json" \
	> "$workdir/switch.log" 2>&1 &
switch=$!
bg_pids+=("$switch")
wait_for_socket "$workdir/b.wire" "$switch" || bail "l2-switch did not start"

declare -A emu_pid helper_pid
for side in a b; do
	"$IFCVF_EMU" --socket "$workdir/$side.sock" --type net --queue-pairs 1 --mac "$mac" \
		--wire "pair:$workdir/$side.wire" --stats-file "$workdir/emu-$side.json" \
		> "$workdir/emu-$side.log" 2>&1 &
	emu_pid[$side]=$!
	bg_pids+=("$!")
	wait_for_socket "$workdir/$side.sock" "$!" || bail "ifcvf-emu $side did not start"
	"$IFCVF_HELPER" run --bus none --name migrate-vm \
		--port "device=vfio-user:$workdir/$side.sock,socket=$workdir/vhost-$side.sock$lm_opt" \
		> "$workdir/helper-$side.log" 2>&1 &
	helper_pid[$side]=$!
	bg_pids+=("$!")
	wait_for_socket "$workdir/vhost-$side.sock" "$!" || bail "ifcvf-helper $side did not start"
done

cat > "$workdir/guest.sh" <<GUEST
ip link set lo up
ip link set eth0 up
ip addr add 10.99.0.2/24 dev eth0
# the checker listens first; then the guest's gratuitous ARP teaches the
# switch where it is, which starts the generator
/bin/gen-check eth0 900 &
sleep 1
arping -U -c 2 -I eth0 10.99.0.2 >/dev/null 2>&1
wait
GUEST
"$tests_dir/mkinitramfs.sh" "$workdir/initrd.gz" "$workdir/guest.sh" "$gen_check" \
	|| bail "cannot build the guest initramfs"

qemu_pid=
# start_qemu SIDE [INCOMING]: QEMU on SIDE's vhost socket, QMP at qmp-SIDE.sock
start_qemu() {
	local side=$1 incoming=${2:-}
	rm -f "$workdir/qmp-$side.sock"
	timeout -s KILL 900 qemu-system-x86_64 \
		-machine pc -cpu qemu64 -smp 1 -m 256 \
		-nographic -no-reboot -display none \
		-kernel "$GUEST_KERNEL" -initrd "$workdir/initrd.gz" \
		-append "console=ttyS0 quiet panic=-1" \
		-object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem \
		-chardev socket,id=vhost0,path="$workdir/vhost-$side.sock" \
		-netdev vhost-user,id=net0,chardev=vhost0,queues=1 \
		-device virtio-net-pci,netdev=net0,vectors=0,page-per-vq=on,mac="$mac" \
		-qmp "unix:$workdir/qmp-$side.sock,server=on,wait=off" \
		${incoming:+-S -incoming "$incoming"} \
		>> "$workdir/console.log" 2>&1 &
	qemu_pid=$!
	bg_pids+=("$!")
	wait_for_socket "$workdir/qmp-$side.sock" "$qemu_pid"
}

# frames the guest counted so far (its last GENCHECK line)
guest_received() {
	grep -a '^GENCHECK received=' "$workdir/console.log" | tail -1 | sed 's/.*received=\([0-9]*\).*/\1/'
}

# wait_progress N SECONDS: the guest's count grows by N within SECONDS
wait_progress() {
	local start now
	start=$(guest_received)
	start=${start:-0}
	for _ in $(seq $(($2 * 10))); do
		now=$(guest_received)
		[ "${now:-0}" -ge $((start + $1)) ] && return 0
		sleep 0.1
	done
	return 1
}

announces() { # PORT
	kill -USR1 "$switch"
	sleep 0.3
	python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['ports'][sys.argv[2]]['announces'])" \
		"$workdir/switch.json" "$1"
}

src=a
start_qemu a
src_qemu=$qemu_pid
wait_progress 200 180
check "the guest receives the generator's frames through VF a" [ "$(guest_received)" -gt 0 ]

cancel_at=$(( (migrations + 1) / 2 ))
for i in $(seq 1 "$migrations"); do
	dst=$([ "$src" = a ] && echo b || echo a)
	start_qemu "$dst" "unix:$workdir/mig-$i.sock"
	dst_qemu=$qemu_pid
	before=$(announces "$dst")
	if [ "$i" -eq "$cancel_at" ]; then
		# a migration that is cancelled midway: slow it down, then cancel
		"$qmp" "$workdir/qmp-$src.sock" migrate-set-parameters '{"max-bandwidth": 4194304}' >/dev/null
		"$qmp" "$workdir/qmp-$src.sock" migrate "{\"uri\": \"unix:$workdir/mig-$i.sock\"}" >/dev/null
		sleep 2
		"$qmp" "$workdir/qmp-$src.sock" migrate_cancel >/dev/null
		status=$("$qmp" "$workdir/qmp-$src.sock" wait-migration 60)
		kill -KILL "$dst_qemu" 2>/dev/null
		wait "$dst_qemu" 2>/dev/null
		check "migration $i cancelled ($status), the guest keeps receiving on VF $src" \
			wait_progress 200 60
		"$qmp" "$workdir/qmp-$src.sock" migrate-set-parameters '{"max-bandwidth": 1073741824}' >/dev/null
		start_qemu "$dst" "unix:$workdir/mig-$i-again.sock"
		dst_qemu=$qemu_pid
		uri="unix:$workdir/mig-$i-again.sock"
	else
		uri="unix:$workdir/mig-$i.sock"
	fi
	"$qmp" "$workdir/qmp-$src.sock" migrate-set-parameters '{"max-bandwidth": 1073741824}' >/dev/null
	"$qmp" "$workdir/qmp-$src.sock" migrate "{\"uri\": \"$uri\"}" >/dev/null
	status=$("$qmp" "$workdir/qmp-$src.sock" wait-migration 120)
	[ "$status" = completed ] && compare_memory "$i" "$src" "$dst" "$(pgrep -P "$dst_qemu" -x qemu-system-x86)" virtio-net 3
	"$qmp" "$workdir/qmp-$dst.sock" cont >/dev/null 2>&1
	"$qmp" "$workdir/qmp-$src.sock" quit >/dev/null 2>&1
	wait "$src_qemu" 2>/dev/null
	ok_progress=1
	wait_progress 200 60 || ok_progress=0
	after=$(announces "$dst")
	migrated=0
	[ "$status" = completed ] && [ "$ok_progress" = 1 ] && [ "$after" -gt "$before" ] && migrated=1
	check "migration $i $src->$dst: $status, guest receives on VF $dst, announced ($before->$after)" \
		[ "$migrated" = 1 ]
	src=$dst
	src_qemu=$dst_qemu
done

# end of test: the switch tells the checker, the guest reports and powers off
kill -USR2 "$switch"
for _ in $(seq 600); do
	grep -aq '^GUEST done' "$workdir/console.log" && break
	kill -0 "$src_qemu" 2>/dev/null || break
	sleep 0.1
done
check "the guest finished its check" grep -aq '^GENCHECK-FINAL' "$workdir/console.log"
[ "$cpu_pages_lost" -eq 0 ] ||
	echo "# QEMU did not send $cpu_pages_lost pages the guest CPU wrote; the test wrote them into the destinations"
check "no destination lacked a vring or receive-buffer page the VF had written (memory compared after each move)" \
	[ "$ours_lost" -eq 0 ]
# the emulators' last counters: at exit, frames still held in a FIFO count
# as dropped (they will never be delivered)
for side in a b; do
	kill -TERM "${helper_pid[$side]}" "${emu_pid[$side]}"
	for _ in $(seq 100); do kill -0 "${emu_pid[$side]}" 2>/dev/null || break; sleep 0.1; done
done
kill -USR1 "$switch"
sleep 0.5

python3 - "$workdir" > "$workdir/verdict.txt" <<'PY'
import json, re, sys
wd = sys.argv[1]
console = open(f"{wd}/console.log", errors="replace").read()
final = re.findall(r"^GENCHECK-FINAL (.*)$", console, re.M)[-1]
fields = dict(kv.split("=") for kv in final.split())
missing = []
for line in re.findall(r"^GENCHECK-MISSING(.*)$", console, re.M)[-1:]:
    for r in line.split():
        a, b = r.split("-")
        missing.append((int(a), int(b)))
allowed = []
# a queue that started at a used index its ring in guest memory did not
# show would make the guest driver see used entries jump or go back
mismatches = 0
for side in "ab":
    st = json.load(open(f"{wd}/emu-{side}.json"))
    dp = st.get("datapath", st)
    allowed += [(r[1], r[2]) for r in dp["dropped_gen"]["ranges"]]
    mismatches += sum(q["resume_mismatch"] for q in dp["queues"])
sw = json.load(open(f"{wd}/switch.json"))
allowed += [tuple(r) for r in sw["gen"]["unsent_ranges"]]
def covered(s):
    return any(a <= s <= b for (a, b) in allowed)
unexplained = [s for (a, b) in missing for s in range(a, b + 1) if not covered(s)]
truncated = int(fields["missing"]) != sum(b - a + 1 for (a, b) in missing)
print(f"received={fields['received']} missing={fields['missing']} duplicates={fields['duplicates']} "
      f"corrupt={fields['corrupt']} emulator/switch drops={allowed} "
      f"unexplained={unexplained[:20]} ({len(unexplained)}) ranges-truncated={truncated} "
      f"resume-mismatches={mismatches}")
# frames the guest's own socket dropped would be missing for reasons of its own
ok = (fields["duplicates"] == "0" and fields["corrupt"] == "0" and not unexplained
      and not truncated and fields.get("socket_drops", "0") == "0" and mismatches == 0)
sys.exit(0 if ok else 1)
PY
verdict=$?
sed 's/^/# /' "$workdir/verdict.txt"
check "no frame corrupted or duplicated; every missing frame was dropped by a stopped VF" [ "$verdict" -eq 0 ]
check "the guest kernel did not oops or panic" \
	sh -c "! grep -aqE 'Kernel panic|Oops|BUG:|RIP: 0010:0x0|general protection' '$workdir/console.log'"

if [ "$tap_failed" -ne 0 ]; then
	for f in helper-a.log helper-b.log emu-a.log emu-b.log switch.log console.log; do
		echo "# ---- $f"; grep -av '^GENCHECK received' "$workdir/$f" 2>/dev/null | sed 's/^/# /' | tail -30
	done
	exit 1
fi

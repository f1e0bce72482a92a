#!/usr/bin/env bash
# guest-soak-test.sh KIND ROLE [KILLS]
# A Linux guest (QEMU, TCG) whose virtio-net NIC is a vhost-user port of
# ifcvf-helper, run under the hook's supervisor (`ifcvf-helper hook
# supervise ARGS-FILE`, as the hook starts it without systemd), while the
# helper is killed with SIGKILL KILLS times (default $SOAK_KILLS, else 20).
# The VF is an emulated one of KIND: bar4 (an IFCVF with its live-migration
# block), nobar4 (an IFCVF without it, sw-live-migration=1) or virtio (a
# plain virtio function, generic-virtio=1). ROLE: server (QEMU listens,
# the helper is the client and reconnects) or client (the helper listens,
# QEMU reconnects, reconnect=1).
# Traffic is checked both ways: the emulator's generator sends numbered
# frames into the guest (gen-check counts them there), the guest sends its
# own (gen-send) to the emulator's checker. Asserts: the supervisor
# restarted the helper after every kill and traffic came back both ways;
# no frame duplicated, out of order or corrupt either way (frames lost
# during an outage are allowed); the guest's kernel log free of errors; no
# growth of the helper's fds, threads, mappings of files and devices (the
# guest's memory, the VF's regions, libraries; anonymous ones vary with
# malloc's arenas from run to run) or the VF's DMA maps from the first
# restart to the last. Prints the kill-to-traffic times.
set -u
. "$(dirname "$0")/guest-lib.sh"

kind=${1:-bar4}
role=${2:-server}
kills=${3:-${SOAK_KILLS:-20}}
tests_dir=$(cd "$(dirname "$0")" && pwd)
qmp="$tests_dir/qmp.py"
gen_check=${IFCVF_GEN_CHECK:-}
gen_send=${IFCVF_GEN_SEND:-}
[ -x "$gen_check" ] && [ -x "$gen_send" ] || bail "IFCVF_GEN_CHECK/IFCVF_GEN_SEND are not set: run through meson test"
command -v python3 >/dev/null || bail "python3 is missing"
case "$kind" in
bar4) emu_opt=(); port_opt= ;;
nobar4) emu_opt=(--no-lm); port_opt=,sw-live-migration=1 ;;
virtio) emu_opt=(--virtio-function); port_opt=,generic-virtio=1,sw-live-migration=1 ;;
*) bail "KIND must be bar4, nobar4 or virtio" ;;
esac
case "$role" in
server) chardev_opt=,server=on,wait=off; port_opt=$port_opt,client ;;
client) chardev_opt=,reconnect=1 ;;
*) bail "ROLE must be server or client" ;;
esac
mac=52:54:00:12:34:56

echo "1..7"

"$IFCVF_EMU" --socket "$workdir/vf.sock" --type net --queue-pairs 1 --mac "$mac" "${emu_opt[@]}" \
	--wire gen:pps=200,size=256 --stats-file "$workdir/emu.json" > "$workdir/emu.log" 2>&1 &
emu=$!
bg_pids+=("$emu")
wait_for_socket "$workdir/vf.sock" "$emu" || bail "ifcvf-emu did not start: $(cat "$workdir/emu.log")"

"$tests_dir/mkinitramfs.sh" "$workdir/initrd.gz" "$tests_dir/duplex-guest.sh" "$gen_check" "$gen_send" \
	|| bail "cannot build the guest initramfs"

timeout -s KILL 1800 qemu-system-x86_64 \
	-machine pc -cpu qemu64 -smp 2 -m 256 \
	-nographic -no-reboot -display none \
	-kernel "$GUEST_KERNEL" -initrd "$workdir/initrd.gz" \
	-append "console=ttyS0 quiet panic=-1" \
	-object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem \
	-chardev socket,id=vhost0,path="$workdir/vhost.sock$chardev_opt" \
	-netdev vhost-user,id=net0,chardev=vhost0,queues=1 \
	-device virtio-net-pci,netdev=net0,vectors=0,mac="$mac" \
	-qmp "unix:$workdir/qmp.sock,server=on,wait=off" \
	> "$workdir/console.log" 2>&1 &
qemu=$!
bg_pids+=("$qemu")
[ "$role" = server ] && { wait_for_socket "$workdir/vhost.sock" "$qemu" || bail "QEMU did not listen on its vhost-user socket"; }

# the hook's argument file, and its supervisor (without systemd)
run_dir=$workdir/run
mkdir -m 0700 "$run_dir"
uuid=6d1c0f6e-2b55-4b8e-9d3a-5f0c1e2d3a4b
cat > "$run_dir/$uuid.args" <<ARGS
[Helper]
VM=soak
Log=$workdir/helper.log
Devices=vfio-user:$workdir/vf.sock;
Argv=$IFCVF_HELPER;run;--bus;none;--name;soak;--port;device=vfio-user:$workdir/vf.sock,socket=$workdir/vhost.sock$port_opt;
ARGS
# a restart measured from 100 ms each time, and no start limit for 20 kills
IFCVF_HELPER_SUPERVISE_LIMITS=stable-ms=500,burst=1024,interval-ms=1000 \
	"$IFCVF_HELPER" hook supervise "$run_dir/$uuid.args" > "$workdir/supervise.log" 2>&1 &
sup=$!
bg_pids+=("$sup")

started=$(date +%s)
python3 "$tests_dir/soak-kill.py" "$sup" "$emu" "$workdir/emu.json" "$kills" "$workdir/kills.json" \
	> "$workdir/kills.log" 2>&1
loop=$?
sed 's/^/# /' "$workdir/kills.log"
check "traffic both ways before the first kill and after each of $kills SIGKILLs ($kind VF, QEMU $role)" [ "$loop" -eq 0 ]
restarts=$(grep -c 'restart [0-9]* after signal 9' "$workdir/supervise.log")
check "the supervisor restarted the helper after each kill ($restarts of $kills)" [ "$restarts" -eq "$kills" ]

python3 - "$workdir/kills.json" > "$workdir/growth.txt" <<'PY'
import json, statistics, sys
k = json.load(open(sys.argv[1]))["kills"]
if not k:
    print("no kill measured"); sys.exit(1)
t = [e["seconds"] for e in k]
print(f"kill-to-traffic over {len(t)} kills: median {statistics.median(t):.3f} s, max {max(t):.3f} s, min {min(t):.3f} s")
bad = []
for key in ("fds", "threads", "file_maps", "dma_maps", "maps"):
    vals = [e.get(key) for e in k]
    if None in vals:
        bad.append(f"{key} not measured")
        continue
    print(f"{key}: first restart {vals[0]}, last {vals[-1]}, max {max(vals)}")
    if key != "maps" and max(vals[1:] or vals) > vals[0]:
        bad.append(f"{key} grew: {vals}")
for b in bad:
    print("GROWTH " + b)
sys.exit(1 if bad else 0)
PY
growth=$?
sed 's/^/# /' "$workdir/growth.txt"
check "no growth of the helper's fds, threads, file/device mappings or the VF's DMA maps across restarts" [ "$growth" -eq 0 ]
echo "# soak $kind/$role: $(head -1 "$workdir/growth.txt") ($(( $(date +%s) - started )) s for $kills kills)"

# the guest stops its programs on the power button, prints its log, powers off
"$qmp" "$workdir/qmp.sock" system_powerdown >/dev/null 2>&1
for _ in $(seq 1200); do
	grep -aq '^GUEST done' "$workdir/console.log" && break
	kill -0 "$qemu" 2>/dev/null || break
	sleep 0.1
done
check "the guest finished its check and powered off" grep -aq '^GUEST done' "$workdir/console.log"

kill -TERM "$sup"
status=1
for _ in $(seq 100); do
	if ! kill -0 "$sup" 2>/dev/null; then wait "$sup"; status=$?; break; fi
	sleep 0.1
done
check "SIGTERM stops the supervisor and its helper (exit 0)" [ "$status" -eq 0 ]

kill -USR1 "$emu"
sleep 0.5
python3 "$tests_dir/duplex-verdict.py" frames "$workdir/console.log" "$workdir/emu.json" > "$workdir/verdict.txt"
verdict=$?
sed 's/^/# /' "$workdir/verdict.txt"
check "no frame duplicated, out of order or corrupt either way; no queue resumed at a wrong index" [ "$verdict" -eq 0 ]

check "the guest's kernel log shows no error (NETDEV WATCHDOG, virtio errors, warnings)" \
	python3 "$tests_dir/duplex-verdict.py" dmesg "$workdir/console.log"

if [ "$tap_failed" -ne 0 ]; then
	for f in supervise.log helper.log emu.log console.log; do
		echo "# ---- $f"; grep -av '^GENCHECK received' "$workdir/$f" 2>/dev/null | sed 's/^/# /' | tail -40
	done
	exit 1
fi

#!/usr/bin/env bash
# guest-device-lost-test.sh [KIND]
# The device goes away under a running guest and comes back: a Linux guest
# (QEMU, TCG) whose virtio-net NIC is a vhost-user port of ifcvf-helper on
# an emulated VF of KIND (bar4, nobar4 or virtio, as guest-soak-test.sh),
# with numbered frames checked both ways (duplex-guest.sh). The emulator is
# SIGKILLed, then started again on the same socket. Asserts: the port shows
# `failed` with the reason on D-Bus (ifcvfctl watch on a private bus), then
# `running` again by itself; traffic flows both ways again through the new
# device with the same helper process (no restart); no frame duplicated,
# out of order or corrupt either way; no queue of the new device started
# at an index the guest's used ring contradicts; the guest's kernel log has
# no NETDEV WATCHDOG or virtio error.
set -u
. "$(dirname "$0")/guest-lib.sh"
. "$(dirname "$0")/../libvirt/test-bus.sh"

kind=${1:-bar4}
tests_dir=$(cd "$(dirname "$0")" && pwd)
qmp="$tests_dir/qmp.py"
ctl=${IFCVF_CTL:-}
gen_check=${IFCVF_GEN_CHECK:-}
gen_send=${IFCVF_GEN_SEND:-}
[ -x "$gen_check" ] && [ -x "$gen_send" ] && [ -x "$ctl" ] ||
	bail "IFCVF_GEN_CHECK/IFCVF_GEN_SEND/IFCVF_CTL are not set: run through meson test"
command -v python3 >/dev/null || bail "python3 is missing"
command -v dbus-daemon >/dev/null || bail "dbus-daemon is missing"
case "$kind" in
bar4) emu_opt=(); port_opt= ;;
nobar4) emu_opt=(--no-lm); port_opt=,sw-live-migration=1 ;;
virtio) emu_opt=(--virtio-function); port_opt=,generic-virtio=1,sw-live-migration=1 ;;
*) bail "KIND must be bar4, nobar4 or virtio" ;;
esac
mac=52:54:00:12:34:56
uuid=0b7f3a52-91c4-4d7e-a1b6-3c2d4e5f6a7b

echo "1..8"

start_test_bus "$workdir/bus"
bg_pids+=("$test_bus_pid")
bus="unix:path=$workdir/bus.sock"

# each emulator's generator and checker have a stream of their own (the
# guest sends in both): a new one numbers from 0 again
start_emu() { # STREAM STATS-NAME: the VF on vf.sock, its generator and checker on STREAM
	"$IFCVF_EMU" --socket "$workdir/vf.sock" --type net --queue-pairs 1 --mac "$mac" "${emu_opt[@]}" \
		--wire "gen:pps=200,size=256,stream=$1" --stats-file "$workdir/$2.json" \
		>> "$workdir/emu.log" 2>&1 &
	emu=$!
	bg_pids+=("$emu")
	wait_for_socket "$workdir/vf.sock" "$emu"
}
start_emu 1 emu1 || bail "ifcvf-emu did not start: $(cat "$workdir/emu.log")"

"$tests_dir/mkinitramfs.sh" "$workdir/initrd.gz" "$tests_dir/duplex-guest.sh" "$gen_check" "$gen_send" \
	|| bail "cannot build the guest initramfs"

timeout -s KILL 600 qemu-system-x86_64 \
	-machine pc -cpu qemu64 -smp 2 -m 256 \
	-nographic -no-reboot -display none \
	-kernel "$GUEST_KERNEL" -initrd "$workdir/initrd.gz" \
	-append "console=ttyS0 quiet panic=-1 gen_tx=1,2" \
	-object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem \
	-chardev socket,id=vhost0,path="$workdir/vhost.sock",server=on,wait=off \
	-netdev vhost-user,id=net0,chardev=vhost0,queues=1 \
	-device virtio-net-pci,netdev=net0,vectors=0,mac="$mac" \
	-qmp "unix:$workdir/qmp.sock,server=on,wait=off" \
	> "$workdir/console.log" 2>&1 &
qemu=$!
bg_pids+=("$qemu")
wait_for_socket "$workdir/vhost.sock" "$qemu" || bail "QEMU did not listen on its vhost-user socket"

"$IFCVF_HELPER" run --bus "$bus" --uuid "$uuid" --name devlost \
	--port "device=vfio-user:$workdir/vf.sock,socket=$workdir/vhost.sock,client$port_opt" \
	> "$workdir/helper.log" 2>&1 &
helper=$!
bg_pids+=("$helper")

# every change of the port, as JSON lines, from the moment the helper is on the bus
for _ in $(seq 100); do
	"$ctl" --bus "$bus" status devlost >/dev/null 2>&1 && break
	kill -0 "$helper" 2>/dev/null || bail "ifcvf-helper exited: $(cat "$workdir/helper.log")"
	sleep 0.1
done
"$ctl" --bus "$bus" --json watch devlost > "$workdir/watch.log" 2>&1 &
bg_pids+=("$!")

# port_states LINE: the port's states (and their reasons) past line LINE of
# watch.log, one "STATE<TAB>REASON" a line
port_states() {
	tail -n +"$(( $1 + 1 ))" "$workdir/watch.log" | python3 -c '
import json, sys
state = reason = None
out = []
for l in sys.stdin:
    try:
        e = json.loads(l)
    except ValueError:
        continue
    if e.get("object") != "port":
        continue
    c = e.get("changed") or e.get("properties") or {}
    if "state_reason" in c:
        reason = c["state_reason"]
        if out and "state" not in c:
            out[-1] = (out[-1][0], reason)
    if "state" in c:
        state = c["state"]
        out.append((state, reason or ""))
for s, r in out:
    print(f"{s}\t{r}")'
}
wait_state() { # FROM-LINE STATE SECONDS: the port reached STATE after line FROM-LINE
	for _ in $(seq $(($3 * 10))); do
		port_states "$1" | grep -q "^$2	" && return 0
		sleep 0.1
	done
	return 1
}

check "traffic both ways through the VF" \
	python3 "$tests_dir/emu-traffic.py" "$emu" "$workdir/emu1.json" 120
python3 "$tests_dir/emu-traffic.py" "$emu" "$workdir/emu1.json" 30 >/dev/null

# the device goes away under traffic
mark=$(wc -l < "$workdir/watch.log")
kill -KILL "$emu"
wait "$emu" 2>/dev/null
lost=$(date +%s%N)
check "the port is failed on D-Bus with the reason" wait_state "$mark" failed 10
port_states "$mark" | sed 's/^/# state: /'

# and comes back on the same socket
rm -f "$workdir/vf.sock"
start_emu 2 emu2 || bail "ifcvf-emu did not start again: $(cat "$workdir/emu.log")"
check "the port is running again by itself" wait_state "$mark" running 30
back=$(python3 "$tests_dir/emu-traffic.py" "$emu" "$workdir/emu2.json" 30)
st=$?
echo "# device back: $back; $(( ($(date +%s%N) - lost) / 1000000 )) ms after the kill"
check "traffic both ways again through the new device" [ "$st" -eq 0 ]
# longer than the guest's TX watchdog (5 s): a stalled queue would show
sleep 6
check "traffic still flows both ways; the same helper served it (no restart)" \
	sh -c "python3 '$tests_dir/emu-traffic.py' '$emu' '$workdir/emu2.json' 30 && kill -0 '$helper' &&
	       [ \$(grep -c 'starting for VM' '$workdir/helper.log') -eq 1 ]"

"$qmp" "$workdir/qmp.sock" system_powerdown >/dev/null 2>&1
for _ in $(seq 600); do
	grep -aq '^GUEST done' "$workdir/console.log" && break
	kill -0 "$qemu" 2>/dev/null || break
	sleep 0.1
done
check "the guest finished its check and powered off" grep -aq '^GUEST done' "$workdir/console.log"

kill -USR1 "$emu"
sleep 0.5
# the first device was SIGKILLed: its last counters are the ones written before
python3 "$tests_dir/duplex-verdict.py" frames "$workdir/console.log" "$workdir/emu1.json" "$workdir/emu2.json" \
	> "$workdir/verdict.txt"
verdict=$?
sed 's/^/# /' "$workdir/verdict.txt"
check "no frame duplicated, out of order or corrupt either way; no queue resumed at a wrong index" [ "$verdict" -eq 0 ]
check "the guest's kernel log shows no error (NETDEV WATCHDOG, virtio errors, warnings)" \
	python3 "$tests_dir/duplex-verdict.py" dmesg "$workdir/console.log"

if [ "$tap_failed" -ne 0 ]; then
	for f in watch.log helper.log emu.log console.log; do
		echo "# ---- $f"; grep -av '^GENCHECK received' "$workdir/$f" 2>/dev/null | sed 's/^/# /' | tail -40
	done
	exit 1
fi

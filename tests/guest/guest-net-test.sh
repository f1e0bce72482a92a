#!/usr/bin/env bash
# A Linux guest (QEMU, TCG) whose virtio-net device is a vhost-user port of
# ifcvf-helper, backed by an emulated IFCVF VF whose wire is a TAP device in
# a network namespace made by this test: the guest brings the link up and
# pings the namespace, changes its queue pairs with ethtool -L and keeps
# pinging, shuts down; a second VM on the same helper works again.
# Host notifiers: the first VM's NIC has page-per-vq=on, so QEMU maps the
# VF's doorbell pages: every vring's kicks go there (KickPaths on D-Bus) and
# the helper relays none; the second VM's has page-per-vq=off: QEMU refuses
# them, the kicks go through the relay, one log line says why.
set -u
. "$(dirname "$0")/guest-lib.sh"
. "$(dirname "$0")/../libvirt/test-bus.sh"

[ -n "${IFCVFCTL:-}" ] || bail "IFCVFCTL is not set: run through meson test"
echo "1..14"
ns=ifcvf-gn$$
tap=ifcvfgn$$
new_netns "$ns"

"$IFCVF_EMU" --socket "$workdir/vf.sock" --type net --queue-pairs 2 \
	--wire "tap:$tap" --stats-file "$workdir/emu.json" > "$workdir/emu.log" 2>&1 &
emu=$!
bg_pids+=("$emu")
wait_for_socket "$workdir/vf.sock" "$emu" || bail "ifcvf-emu did not start: $(cat "$workdir/emu.log")"
ip link set "$tap" netns "$ns" || bail "cannot move $tap into $ns"
ip -n "$ns" addr add 10.99.0.1/24 dev "$tap"
ip -n "$ns" link set "$tap" up

start_test_bus "$workdir/bus"
bg_pids+=("$test_bus_pid")
bus="unix:path=$workdir/bus.sock"
vm=guest-net
"$IFCVF_HELPER" run --bus "$bus" --uuid 5e1f0c1a-0b0e-4c5e-9a1d-6a0f7e5d4c3b --name "$vm" \
	--port "device=vfio-user:$workdir/vf.sock,socket=$workdir/vhost.sock" \
	> "$workdir/helper.log" 2>&1 &
helper=$!
bg_pids+=("$helper")
wait_for_socket "$workdir/vhost.sock" "$helper" || bail "ifcvf-helper did not start: $(cat "$workdir/helper.log")"

cat > "$workdir/guest.sh" <<'GUEST'
ip link set lo up
ip link set eth0 up
ip addr add 10.99.0.2/24 dev eth0
result() { if "$@" >/dev/null 2>&1; then echo "RESULT $KEY ok"; else echo "RESULT $KEY fail"; fi; }
KEY=ping result ping -c 3 -W 5 10.99.0.1
# go signals from the host: 10.99.0.3 answers once every vring runs on its
# host notifier, 10.99.0.4 once the host read its counters (bounded)
wait_for() { for i in $(seq 120); do ping -c 1 -W 1 "$1" >/dev/null 2>&1 && return 0; done; return 1; }
KEY=go result wait_for 10.99.0.3
KEY=traffic result ping -c 20 -i 0.2 -W 5 10.99.0.1
echo "TRAFFIC done"
KEY=go2 result wait_for 10.99.0.4
if [ -e /bin/ethtool ]; then
	ethtool -l eth0
	KEY=set-1qp result ethtool -L eth0 combined 1
	KEY=ping-1qp result ping -c 3 -W 5 10.99.0.1
	KEY=set-2qp result ethtool -L eth0 combined 2
	KEY=ping-2qp result ping -c 20 -i 0.2 -W 5 10.99.0.1
fi
GUEST
tests_dir=$(dirname "$0")
"$tests_dir/mkinitramfs.sh" "$workdir/initrd.gz" "$workdir/guest.sh" "$(command -v ethtool)" \
	|| bail "cannot build the guest initramfs"

relayed_kicks() {
	"$IFCVFCTL" --bus "$bus" stats "$vm" 0 | awk '$2 == "kicks-relayed" { print $3 }'
}
# the first VM (page-per-vq=on): once QEMU has mapped the pages (the
# guest's very first kicks may come before it did, and go through the
# relay), every vring's kicks go to the VF's doorbell page, and the
# guest's traffic then costs the helper no relayed kick
run_guest vm1 "$workdir/initrd.gz" "$workdir/vhost.sock" 2 on &
qemu=$!
all_hn="vring 0 host-notifier, vring 1 host-notifier, vring 2 host-notifier, vring 3 host-notifier"
: > "$workdir/kicks.txt"
before=x after=y
while kill -0 "$qemu" 2>/dev/null; do
	"$IFCVFCTL" --bus "$bus" status "$vm" 2>/dev/null | grep '^ *Kicks:' >> "$workdir/kicks.txt"
	if grep -q "Kicks: *$all_hn\$" "$workdir/kicks.txt"; then
		before=$(relayed_kicks)
		ip -n "$ns" addr add 10.99.0.3/24 dev "$tap"
		for _ in $(seq 600); do
			grep -q "TRAFFIC done" "$workdir/vm1.console" && break
			kill -0 "$qemu" 2>/dev/null || break
			sleep 0.2
		done
		after=$(relayed_kicks)
		break
	fi
	sleep 0.5
done
# the ethtool steps follow (and the second VM needs no signal)
ip -n "$ns" addr add 10.99.0.4/24 dev "$tap"
ip -n "$ns" addr add 10.99.0.3/24 dev "$tap" 2>/dev/null
wait "$qemu"
check "first VM powered off cleanly" grep -q "GUEST done" "$workdir/vm1.console"
check "page-per-vq=on: every vring's kicks on its host notifier (D-Bus KickPaths)" \
	grep -q "Kicks: *$all_hn\$" "$workdir/kicks.txt"
check "page-per-vq=on: traffic with no kick relayed (kicks-relayed $before -> $after)" \
	[ "$before" = "$after" ]
check "page-per-vq=on: traffic flows" guest_result vm1 traffic
check "guest pings the namespace through the VF" guest_result vm1 ping
check "ethtool -L combined 1" guest_result vm1 set-1qp
check "traffic with 1 queue pair" guest_result vm1 ping-1qp
check "ethtool -L combined 2" guest_result vm1 set-2qp
check "traffic with 2 queue pairs" guest_result vm1 ping-2qp

check "helper still running after the VM went away" kill -0 "$helper"
# the second VM without page-per-vq: QEMU refuses the pages
run_guest vm2 "$workdir/initrd.gz" "$workdir/vhost.sock" 2 off
check "a second VM on the same helper pings" guest_result vm2 ping
check "page-per-vq=off: kicks through the relay" [ "$(relayed_kicks)" -gt 0 ]
check "page-per-vq=off: one log line says why" \
	[ "$(grep -c "refused the host notifier.*page-per-vq=on" "$workdir/helper.log")" -eq 1 ]

kill -TERM "$helper"
status=1
for _ in $(seq 100); do
	if ! kill -0 "$helper" 2>/dev/null; then wait "$helper"; status=$?; break; fi
	sleep 0.1
done
check "helper exits 0 on SIGTERM" [ "$status" -eq 0 ]

if [ "$tap_failed" -ne 0 ]; then
	for f in helper.log emu.log vm1.console vm2.console kicks.txt; do
		echo "# ---- $f"; sed 's/^/# /' "$workdir/$f" 2>/dev/null | tail -40
	done
	exit 1
fi

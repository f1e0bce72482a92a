#!/usr/bin/env bash
# A Linux guest (QEMU, TCG) whose virtio-net device is a vhost-user port of
# ifcvf-helper, backed by an emulated IFCVF VF whose wire is a TAP device in
# a network namespace made by this test: the guest brings the link up and
# pings the namespace, changes its queue pairs with ethtool -L and keeps
# pinging, shuts down; a second VM on the same helper works again.
set -u
. "$(dirname "$0")/guest-lib.sh"

echo "1..9"
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

"$IFCVF_HELPER" run --bus none --port "device=vfio-user:$workdir/vf.sock,socket=$workdir/vhost.sock" \
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

run_guest vm1 "$workdir/initrd.gz" "$workdir/vhost.sock" 2
check "first VM powered off cleanly" grep -q "GUEST done" "$workdir/vm1.console"
check "guest pings the namespace through the VF" guest_result vm1 ping
check "ethtool -L combined 1" guest_result vm1 set-1qp
check "traffic with 1 queue pair" guest_result vm1 ping-1qp
check "ethtool -L combined 2" guest_result vm1 set-2qp
check "traffic with 2 queue pairs" guest_result vm1 ping-2qp

check "helper still running after the VM went away" kill -0 "$helper"
run_guest vm2 "$workdir/initrd.gz" "$workdir/vhost.sock" 2
check "a second VM on the same helper pings" guest_result vm2 ping

kill -TERM "$helper"
status=1
for _ in $(seq 100); do
	if ! kill -0 "$helper" 2>/dev/null; then wait "$helper"; status=$?; break; fi
	sleep 0.1
done
check "helper exits 0 on SIGTERM" [ "$status" -eq 0 ]

if [ "$tap_failed" -ne 0 ]; then
	for f in helper.log emu.log vm1.console vm2.console; do
		echo "# ---- $f"; sed 's/^/# /' "$workdir/$f" 2>/dev/null | tail -40
	done
	exit 1
fi

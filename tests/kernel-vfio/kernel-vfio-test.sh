#!/usr/bin/env bash
# Kernel VFIO for real. A QEMU TCG guest (q35, emulated Intel IOMMU with
# interrupt remapping, the host's Debian kernel) has five modern virtio-net
# functions (iommu_platform=on, so their DMA goes through the vIOMMU):
#   00:03.0  the VF under test; its wire is a UDP socket to kv-peer;
#            page-per-vq=on (each queue's doorbell on its own page, as host
#            notifiers need; the others keep QEMU's 4-byte steps)
#   00:04.0  left on virtio-pci (a function bound to another driver)
#   01:01.0, 01:02.0  behind a conventional pci-bridge, so one IOMMU group:
#            the first goes to vfio-pci, the second stays on virtio-pci (a
#            group that is not viable)
#   02:00.0  behind a PCIe root port (00:08.0), so it can be hot-removed:
#            the guest asks kv-peer, which asks QEMU (QMP device_del)
#   00:07.0  multiqueue (mq=on, 2 pairs) on a multiqueue tap of the host,
#            alone in a bridge with hairpin on: every frame the function
#            sends comes back, and on the tap queue it left by (the tap
#            steers a flow back to the queue it came from), i.e. on the
#            pair that sent it, if that pair runs
# The guest mounts the host's / over 9p (read-only) and runs
# guest-checks.sh inside it (chroot), so the build, DPDK and testpmd are the
# host's; its /tmp, /run and /dev are its own, and the source and build
# trees are mounted again at their paths over them (a clone under /tmp
# works). It prints one "RESULT NAME ok|fail DETAIL" line per check on its
# serial console; this script turns them into TAP and adds what only the
# host sees: kv-peer's counts of the frames the VF sent and received, and
# the drop counter of QEMU's socket.
#
# Needs root (the share exposes the root-owned build to QEMU); fails rather
# than skips when something is missing. For debugging: KEEP_WORKDIR=1 keeps
# /tmp/ifcvf-kv.* (console, QEMU log, kv-peer's report), KV_GUEST_SCRIPT runs
# another script in the guest, KV_QEMU_EXTRA adds QEMU options (-trace ...).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)

. "$here/../lib/tap.sh"

[ "$(id -u)" -eq 0 ] || bail "the kernel-vfio test needs root (QEMU reads the root-owned build through the 9p share)"
for v in IFCVF_HELPER IFCVF_KV_PEER IFCVF_KV_IRQ IFCVF_IFCVFCTL IFCVF_MIGRATION_TEST IFCVF_BUILD_ROOT IFCVF_SOURCE_ROOT; do
	[ -n "${!v:-}" ] || bail "$v is not set: run through meson test"
done
for tool in qemu-system-x86_64 modprobe cpio gzip dpdk-testpmd stdbuf dbus-daemon; do
	command -v "$tool" >/dev/null || bail "$tool is missing: scripts/test installs it"
done
kernel=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1)
[ -n "$kernel" ] || bail "no kernel in /boot: scripts/test installs linux-image-amd64"
kver=${kernel#/boot/vmlinuz-}
[ -d "/lib/modules/$kver" ] || bail "no modules for kernel $kver in /lib/modules"

workdir=$(mktemp -d /tmp/ifcvf-kv.XXXXXX)
peer_pid=
qemu_pid=
mq_tap=kvmq$$
mq_br=kvbr$$
cleanup() {
	for p in $qemu_pid $peer_pid; do kill -TERM "$p" 2>/dev/null || true; done
	for p in $qemu_pid $peer_pid; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
	done
	ip link del "$mq_tap" 2>/dev/null
	ip link del "$mq_br" 2>/dev/null
	[ -n "${KEEP_WORKDIR:-}" ] || rm -rf "$workdir"
}
trap cleanup EXIT

# ---- the multiqueue function's wire: a tap whose frames come back ----
command -v ip >/dev/null && command -v bridge >/dev/null || bail "ip and bridge (iproute2) are missing"
{ ip tuntap add dev "$mq_tap" mode tap multi_queue &&
  ip link add "$mq_br" type bridge stp_state 0 &&
  ip link set "$mq_tap" master "$mq_br" &&
  bridge link set dev "$mq_tap" hairpin on &&
  ip link set "$mq_br" up && ip link set "$mq_tap" up; } > "$workdir/tap.log" 2>&1 \
	|| bail "cannot set up the multiqueue tap $mq_tap in bridge $mq_br: $(tail -1 "$workdir/tap.log")"

# ---- the host end of the wire and of the control line ----
"$IFCVF_KV_PEER" --ctl "$workdir/ctl.sock" --ports "$workdir/ports" \
	--report "$workdir/peer.report" --timeout 540 \
	--qmp-tool "$here/../guest/qmp.py" --qmp "$workdir/qmp.sock" 2> "$workdir/peer.log" &
peer_pid=$!
for _ in $(seq 100); do [ -s "$workdir/ports" ] && break; sleep 0.1; done
[ -s "$workdir/ports" ] || bail "kv-peer did not start: $(cat "$workdir/peer.log")"
read -r peer_port qemu_port < "$workdir/ports"

# ---- the guest ----
vf=0000:00:03.0
cat > "$workdir/kv.env" <<EOF
KV_SRC=$IFCVF_SOURCE_ROOT
KV_SCRIPT=${KV_GUEST_SCRIPT:-$here/guest-checks.sh}
KV_BUILD=$IFCVF_BUILD_ROOT
KV_HELPER=$IFCVF_HELPER
KV_MIGRATION_TEST=$IFCVF_MIGRATION_TEST
KV_IRQ=$IFCVF_KV_IRQ
KV_IFCVFCTL=$IFCVF_IFCVFCTL
KV_VF=$vf
KV_OTHER=0000:00:04.0
KV_GROUP_A=0000:01:01.0
KV_GROUP_B=0000:01:02.0
KV_MQ=0000:00:07.0
KV_HOT=0000:02:00.0
EOF
"$here/mkinitramfs.sh" "$workdir/initrd.gz" "$workdir/kv.env" 2> "$workdir/mkinitramfs.log" \
	|| bail "cannot build the guest's initramfs: $(tail -1 "$workdir/mkinitramfs.log")"

vnet() { # ID ADDR [BUS] [NETDEV]: a modern virtio-net function behind the vIOMMU
	echo "-device virtio-net-pci,id=$1,addr=$2${3:+,bus=$3},netdev=${4:-n$1},disable-legacy=on,iommu_platform=on,romfile="
}
# the other functions' wires go nowhere: a UDP port nobody listens on
qemu_args=(
	-machine q35,kernel-irqchip=split -accel tcg -cpu max -smp 2 -m 1536
	-nodefaults -nographic -no-reboot -display none
	-serial "file:$workdir/console"
	-chardev "socket,id=ctl,path=$workdir/ctl.sock" -device isa-serial,chardev=ctl
	-device intel-iommu,intremap=on,aw-bits=48
	-kernel "$kernel" -initrd "$workdir/initrd.gz"
	-append "console=ttyS0 quiet panic=-1 intel_iommu=on"
	-netdev "socket,id=nvf,udp=127.0.0.1:$peer_port,localaddr=127.0.0.1:$qemu_port"
	$(vnet vf 0x3 "" nvf),mac=52:54:00:12:34:56,page-per-vq=on
	-netdev socket,id=nother,udp=127.0.0.1:9,localaddr=127.0.0.1:0
	$(vnet other 0x4 "" nother)
	-device pci-bridge,id=br0,chassis_nr=1,addr=0x5
	-netdev socket,id=nga,udp=127.0.0.1:9,localaddr=127.0.0.1:0
	$(vnet ga 0x1 br0 nga)
	-netdev socket,id=ngb,udp=127.0.0.1:9,localaddr=127.0.0.1:0
	$(vnet gb 0x2 br0 ngb)
	-netdev "tap,id=nmq,ifname=$mq_tap,script=no,downscript=no,queues=2,vhost=off"
	$(vnet mq 0x7 "" nmq),mac=52:54:00:12:34:57,mq=on,vectors=6
	-device pcie-root-port,id=rp0,chassis=2,slot=1,addr=0x8
	-netdev socket,id=nhot,udp=127.0.0.1:9,localaddr=127.0.0.1:0
	$(vnet hot 0x0 rp0 nhot)
	-qmp "unix:$workdir/qmp.sock,server=on,wait=off"
	-fsdev local,id=root,path=/,security_model=none,readonly=on,multidevs=remap
	-device virtio-9p-pci,fsdev=root,mount_tag=host,addr=0x6
	${KV_QEMU_EXTRA:-}
)
start=$(date +%s)
timeout -s KILL 480 qemu-system-x86_64 "${qemu_args[@]}" > "$workdir/qemu.log" 2>&1 &
qemu_pid=$!
wait "$qemu_pid"
qemu_status=$?
qemu_pid=
elapsed=$(($(date +%s) - start))
# kv-peer ends when QEMU closes the control line
for _ in $(seq 100); do kill -0 "$peer_pid" 2>/dev/null || break; sleep 0.1; done
kill -TERM "$peer_pid" 2>/dev/null || true
wait "$peer_pid" 2>/dev/null
peer_pid=

echo "# guest ran for ${elapsed} s (QEMU status $qemu_status)"
sed 's/^/# console: /' "$workdir/console" | tr -d '\r' | grep -v '^# console: *$' \
	| grep -av '\x1b' || true
[ -s "$workdir/qemu.log" ] && sed 's/^/# qemu: /' "$workdir/qemu.log"
sed 's/^/# peer: /' "$workdir/peer.log" "$workdir/peer.report" 2>/dev/null

console() { tr -d '\r' < "$workdir/console"; }
report() { awk -v k="$1" '$1 == k { print $2 }' "$workdir/peer.report" 2>/dev/null; }

# ---- results ----
[ "$qemu_status" -eq 0 ] && ok "QEMU ran the guest to its end" \
	|| not_ok "QEMU ended with status $qemu_status (137: killed after 480 s)"
# grep reads the whole console: with pipefail, grep -q stopping early
# fails the pipeline when console() is still writing
console | grep '^GUEST booted' >/dev/null && ok "the guest booted" || not_ok "the guest did not boot"
if console | grep '^GUEST trees at their paths: ' >/dev/null; then
	ok "the guest sees the source and build trees at their host paths ($IFCVF_SOURCE_ROOT, $IFCVF_BUILD_ROOT)"
else
	not_ok "the guest does not see the source and build trees: $(console | grep -a -m1 '^GUEST cannot' || echo 'it said nothing of them')"
fi

# every check the guest must have reported, in its order
checks=(
	bind probe-generic probe-refused run-refused
	tx rx msix reconnect host-notifier crash-notifier lm mq host-notifier-fallback
	busy release reprobe
	err-other-driver err-other-driver-run err-not-viable err-not-viable-run
	err-no-vfio err-permission
	hot-remove
)
for name in "${checks[@]}"; do
	line=$(console | grep -a -m1 "^RESULT $name ")
	if [ -z "$line" ]; then
		not_ok "$name: the guest reported nothing"
	elif [[ "$line" == "RESULT $name ok"* ]]; then
		ok "$name:${line#RESULT $name ok}"
	else
		not_ok "$name:${line#RESULT $name}"
	fi
done

# what the host saw of the datapath
guest_tx=$(console | sed -n 's/^RESULT tx ok.* sent=\([0-9]*\).*/\1/p' | head -1)
peer_tx=$(report tx_frames)
if [ -n "$guest_tx" ] && [ -n "$peer_tx" ] && [ "$peer_tx" -eq "$guest_tx" ]; then
	ok "host: kv-peer counted the $peer_tx frames testpmd sent through the VF"
else
	not_ok "host: kv-peer counted ${peer_tx:-?} frames from the VF, testpmd sent ${guest_tx:-?}"
fi
drops=$(report qemu_socket_drops)
unsent=$(report unsent)
if [ "${drops:-x}" = 0 ] && [ "${unsent:-x}" = 0 ]; then
	ok "host: every frame sent to the VF was taken (QEMU's socket dropped none, none left unsent)"
else
	not_ok "host: QEMU's socket dropped ${drops:-?} frames, ${unsent:-?} left unsent"
fi
tap_tx=$(cat "/sys/class/net/$mq_tap/statistics/tx_packets" 2>/dev/null)
tap_rx=$(cat "/sys/class/net/$mq_tap/statistics/rx_packets" 2>/dev/null)
if [ "${tap_rx:-0}" -gt 0 ] && [ "${tap_tx:-0}" -gt 0 ]; then
	ok "host: the multiqueue function's tap took $tap_rx frames from it and gave $tap_tx back"
else
	not_ok "host: the multiqueue function's tap took ${tap_rx:-?} frames from it and gave ${tap_tx:-?} back"
fi
console | grep '^GUEST done rc=' >/dev/null && ok "the guest's check script ran to its end" \
	|| not_ok "the guest's check script did not run to its end"

echo "1..$tap_n"
exit $tap_failed

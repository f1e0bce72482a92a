# Shared by the guest tests (sourced): TAP output, cleanup of everything a
# test starts, bounded waits, the test guest's QEMU command line.
# Needs root (network namespaces, TAP devices); fails rather than skips.

. "$(dirname "${BASH_SOURCE[0]}")/../lib/tap.sh"

[ "$(id -u)" -eq 0 ] || bail "the guest tests need root (network namespaces, TAP devices)"
for v in IFCVF_EMU IFCVF_HELPER; do
	[ -n "${!v:-}" ] || bail "$v is not set: run through meson test"
done
for tool in qemu-system-x86_64 ip; do
	command -v "$tool" >/dev/null || bail "$tool is missing: scripts/test installs it"
done

GUEST_KERNEL=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1)
[ -n "$GUEST_KERNEL" ] || bail "no kernel in /boot: scripts/test installs linux-image-amd64"

workdir=$(mktemp -d /tmp/ifcvf-guest.XXXXXX)
bg_pids=()
netns_list=()
cleanup() {
	for p in "${bg_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${bg_pids[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
	done
	for ns in "${netns_list[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
	[ -n "${KEEP_WORKDIR:-}" ] || rm -rf "$workdir"
}
trap cleanup EXIT

wait_for_socket() { # PATH PID: until PATH is a socket, while PID lives (10 s)
	for _ in $(seq 100); do
		[ -S "$1" ] && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

new_netns() { # NAME
	ip netns add "$1" || bail "cannot create network namespace $1"
	netns_list+=("$1")
	ip -n "$1" link set lo up
}

# run_guest NAME INITRD VHOST_SOCKET QUEUE_PAIRS [PAGE_PER_VQ]: boot the
# test guest with a vhost-user virtio-net device on VHOST_SOCKET, with
# page-per-vq=PAGE_PER_VQ (default on: QEMU maps the VF's doorbell pages
# the helper hands it, host notifiers); serial output goes to
# $workdir/NAME.console. Returns QEMU's status (bounded to 300 s).
run_guest() {
	local name=$1 initrd=$2 sock=$3 qp=$4 ppv=${5:-on}
	run_guest_dev "$name" "$initrd" \
		-chardev socket,id=vhost0,path="$sock" \
		-netdev vhost-user,id=net0,chardev=vhost0,queues="$qp" \
		-device virtio-net-pci,netdev=net0,mq=on,vectors=0,page-per-vq="$ppv",mac=52:54:00:12:34:56
}

# run_guest_dev NAME INITRD QEMU_ARG...: the same guest with the devices
# the arguments give (bounded to 300 s)
run_guest_dev() {
	local name=$1 initrd=$2
	shift 2
	timeout -s KILL 300 qemu-system-x86_64 \
		-machine pc -cpu qemu64 -smp 2 -m 256 \
		-nographic -no-reboot -display none \
		-kernel "$GUEST_KERNEL" -initrd "$initrd" \
		-append "console=ttyS0 quiet panic=-1" \
		-object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem \
		"$@" > "$workdir/$name.console" 2>&1
}

# guest_result NAME KEY: the guest printed "RESULT KEY ok"
guest_result() {
	grep -q "^RESULT $2 ok" "$workdir/$1.console"
}

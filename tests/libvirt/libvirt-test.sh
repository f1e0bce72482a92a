#!/usr/bin/env bash
# The hook under a real libvirtd: a test hook script in
# /etc/libvirt/hooks/qemu.d/ (the build's ifcvf-helper, private run/log
# dirs, a private dbus-daemon) and a libvirtd (re)started after it exists.
# Domains: type qemu (TCG), direct kernel boot of the test guest, memfd
# shared memory, one <interface type='vhostuser'> whose VF (an ifcvf-emu
# with a TAP wire in a network namespace) the project's metadata or the
# host port map names. `virsh start` → the hook starts the helper → the
# guest pings through the VF → `virsh shutdown` (the guest powers off on the
# ACPI power button) / `virsh destroy` → the hook's `release end` stops the
# helper: it is gone with its pidfile, lock and socket; bad VFs make
# `virsh start` fail with the hook's line; 20 start/destroy cycles.
#
# QEMU 7.2 under TCG crashes when the vhost-user virtio-net device has
# MSI-X vectors; libvirt cannot say vectors=0, so the domains set it with
# <qemu:override> (the domain is then "tainted: custom-device").
#
# Restarts the libvirtd it finds (or starts one) twice: after installing
# the hook, and after removing it at the end. Needs root.
#
# IFCVF_INSTALLED=1: against the installed package instead of the build
# (tests/package/deb-test.sh, after `apt-get install ./ifcvf-helper_*.deb`):
# /usr/bin's ifcvf-helper, ifcvfctl and ifcvf-emu, and the package's hook
# script, which the test hook execs after setting its private directories
# and bus. The package's hook is moved out of qemu.d meanwhile (libvirtd
# would run it too, for the same domains) and put back at the end.
set -u
installed_hook=
if [ "${IFCVF_INSTALLED:-}" = 1 ]; then
	IFCVF_HELPER=/usr/bin/ifcvf-helper IFCVFCTL=/usr/bin/ifcvfctl IFCVF_EMU=/usr/bin/ifcvf-emu
	export IFCVF_HELPER IFCVFCTL IFCVF_EMU
	installed_hook=/etc/libvirt/hooks/qemu.d/ifcvf-helper
fi
. "$(dirname "$0")/../guest/guest-lib.sh"
. "$(dirname "$0")/domain-xml.sh"
. "$(dirname "$0")/test-bus.sh"

for tool in virsh libvirtd virtlogd dbus-daemon busctl; do
	command -v "$tool" >/dev/null || bail "$tool is missing (libvirt-daemon-system, libvirt-clients, dbus)"
done
[ -d /etc/libvirt ] || bail "/etc/libvirt is missing (libvirt-daemon-system)"

chmod 755 "$workdir"          # QEMU runs as libvirt-qemu: it must reach the socket
hook=/etc/libvirt/hooks/qemu.d/ifcvf-helper-test-$$
run_dir=$workdir/run
log_dir=$workdir/log
ports_conf=$workdir/ports.conf
tag=ifcvf-lt$$
domains=()
bus_pid=
virsh_bin=$(command -v virsh)
virsh() { timeout -s KILL 120 "$virsh_bin" -c qemu:///system "$@"; }

libvirtd_restart() { # stop the running libvirtd (bounded), start one
	local pid
	pid=$(cat /run/libvirtd.pid 2>/dev/null || true)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$pid" 2>/dev/null && return 1
	fi
	pid=$(cat /run/virtlogd.pid 2>/dev/null || true)
	{ [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; } || virtlogd -d || return 1
	libvirtd -d || return 1
	for _ in $(seq 100); do virsh version >/dev/null 2>&1 && return 0; sleep 0.1; done
	return 1
}

lt_cleanup() {
	for d in "${domains[@]}"; do
		virsh destroy "$d" >/dev/null 2>&1
		virsh undefine "$d" >/dev/null 2>&1
	done
	for f in "$run_dir"/*.pid; do
		[ -f "$f" ] && kill -KILL "$(head -1 "$f")" 2>/dev/null
	done
	if [ -n "$installed_hook" ] && [ -e "$workdir/installed-hook" ]; then
		mv "$workdir/installed-hook" "$installed_hook"
	fi
	if [ -e "$hook" ]; then
		rm -f "$hook"
		libvirtd_restart || echo "# could not restart libvirtd without the test hook"
	fi
	[ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null
	cleanup
}
trap lt_cleanup EXIT

if [ -n "$installed_hook" ]; then
	for f in "$IFCVF_HELPER" "$IFCVFCTL" "$IFCVF_EMU" "$installed_hook"; do
		[ -x "$f" ] || bail "IFCVF_INSTALLED=1 but $f is not installed"
	done
	echo "1..36"
else
	echo "1..35"
fi

# ---- the VF: ifcvf-emu, TAP wire in a netns ------------------------------
ns=ifcvf-lt$$
tapif=ifcvflt$$
new_netns "$ns"
"$IFCVF_EMU" --socket "$workdir/vf.sock" --type net --wire "tap:$tapif" \
	> "$workdir/emu.log" 2>&1 &
emu=$!
bg_pids+=("$emu")
wait_for_socket "$workdir/vf.sock" "$emu" || bail "ifcvf-emu did not start: $(cat "$workdir/emu.log")"
ip link set "$tapif" netns "$ns" || bail "cannot move $tapif into $ns"
ip -n "$ns" addr add 10.98.0.1/24 dev "$tapif"
ip -n "$ns" link set "$tapif" up

# ---- a private bus for the helpers ---------------------------------------
start_test_bus "$workdir/bus"
bus_pid=$test_bus_pid
bus="unix:path=$workdir/bus.sock"

# ---- the hook, then libvirtd -------------------------------------------------
mkdir -p /etc/libvirt/hooks/qemu.d
hook_exec="$IFCVF_HELPER hook"
if [ -n "$installed_hook" ]; then
	# the package's own hook script, out of libvirt's sight
	package_hook_ok() {
		mv "$installed_hook" "$workdir/installed-hook" &&
			grep -q '/usr/bin/ifcvf-helper' "$workdir/installed-hook"
	}
	check "the package's hook runs /usr/bin/ifcvf-helper" package_hook_ok
	hook_exec=$workdir/installed-hook
fi
cat > "$hook" <<HOOK
#!/bin/sh
export IFCVF_HELPER_RUN_DIR=$run_dir IFCVF_HELPER_LOG_DIR=$log_dir
export IFCVF_HELPER_PORTS_CONF=$ports_conf IFCVF_HELPER_BUS=$bus
echo "\$*" >> $workdir/hook-calls
exec $hook_exec "\$@"
HOOK
chmod 755 "$hook"
check "libvirtd (re)started with the hook installed" libvirtd_restart

# ---- the guest ------------------------------------------------------------
cat > "$workdir/guest.sh" <<'GUEST'
# a vhost-user disk: a pattern written, read back and compared
if [ -b /dev/vda ]; then
	dd if=/dev/urandom of=/tmp/p bs=1M count=8 2>/dev/null
	dd if=/tmp/p of=/dev/vda bs=1M conv=fsync 2>/dev/null
	echo 3 > /proc/sys/vm/drop_caches
	dd if=/dev/vda of=/tmp/q bs=1M count=8 2>/dev/null
	if cmp /tmp/p /tmp/q >/dev/null; then echo "RESULT blk ok $(md5sum < /tmp/p | cut -d' ' -f1)"
	else echo "RESULT blk fail"; fi
fi
ip link set lo up
ip link set eth0 up
ip addr add 10.98.0.2/24 dev eth0
if ping -c 3 -W 5 10.98.0.1 >/dev/null 2>&1; then echo "RESULT ping ok"; else echo "RESULT ping fail"; fi
# then up until the ACPI power button (virsh shutdown); /init powers off
ev=
for d in /sys/class/input/input*; do
	[ "$(cat "$d/name" 2>/dev/null)" = "Power Button" ] || continue
	for e in "$d"/event*; do [ -e "$e" ] && ev=/dev/input/${e##*/}; done
done
if [ -z "$ev" ]; then echo "GUEST no power button device"; exec sleep 100000; fi
echo "GUEST waiting for the power button on $ev"
dd if="$ev" of=/dev/null bs=24 count=1 2>/dev/null
echo "GUEST power button pressed"
GUEST
"$(dirname "$0")/../guest/mkinitramfs.sh" "$workdir/initrd.gz" "$workdir/guest.sh" \
	|| bail "cannot build the guest initramfs"

# domain_xml NAME UUID SOCKET DEVICE|-: with DEVICE, the metadata names the VF
domain_xml() {
	local md=
	[ "$4" = - ] || md="    <ifcvf:ports xmlns:ifcvf='http://ifcvf-helper.org/xmlns/1'>
      <ifcvf:port socket='$3' device='$4' lm='sw'/>
    </ifcvf:ports>"
	test_domain_xml "$1" "$2" 2 "$3" "$workdir/$1.console" off "$md"
}

define() { # NAME UUID SOCKET DEVICE|-
	domain_xml "$@" > "$workdir/$1.xml"
	domains+=("$1")
	virsh define "$workdir/$1.xml" >/dev/null
}

# the pidfile names the supervisor (no systemd here) or the unit's first
# helper: the helper itself is the live `run --uuid UUID` of this test
run_pid() { # UUID
	local p
	for p in /proc/[0-9]*; do
		grep -q '^State:.*Z' "$p/status" 2>/dev/null && continue
		tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -q -- "run --bus $bus --uuid $1 " &&
			{ echo "${p#/proc/}"; return 0; }
	done
	return 1
}
helper_alive() { run_pid "$1" >/dev/null; }
helpers_running() { # number of live `ifcvf-helper run` processes of this test
	local n=0 p
	for p in /proc/[0-9]*; do
		grep -q '^State:.*Z' "$p/status" 2>/dev/null && continue
		tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -q -- "run --bus $bus" && n=$((n + 1))
	done
	echo "$n"
}
supervisors_running() { # `hook supervise` processes of this test
	local n=0 p
	for p in /proc/[0-9]*; do
		grep -q '^State:.*Z' "$p/status" 2>/dev/null && continue
		tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -q -- "hook supervise $run_dir/" && n=$((n + 1))
	done
	echo "$n"
}
nothing_left() { # SOCKET: no helper, supervisor, pidfile, lock or socket
	[ "$(helpers_running)" -eq 0 ] && [ "$(supervisors_running)" -eq 0 ] &&
		[ -z "$(ls -A "$run_dir" 2>/dev/null)" ] && [ ! -e "$1" ]
}
wait_until() { # SECONDS COMMAND...
	local t=$1
	shift
	for _ in $(seq $((t * 10))); do "$@" && return 0; sleep 0.1; done
	return 1
}
shut_off() { virsh domstate "$1" 2>/dev/null | grep -q 'shut off'; }
socket_for_qemu() { # SOCKET: owned by QEMU's user, not for others
	[ "$(stat -c '%U %a' "$1")" = "libvirt-qemu 660" ]
}

uuid1=$(cat /proc/sys/kernel/random/uuid)
uuid2=$(cat /proc/sys/kernel/random/uuid)
uuid3=$(cat /proc/sys/kernel/random/uuid)
vm1=$tag-meta vm2=$tag-map vm3=$tag-bad
sock1=$workdir/net0.sock sock2=$workdir/vhu-map sock3=$workdir/net3.sock

# ---- metadata VM: start, traffic, guest powers off ------------------------
define "$vm1" "$uuid1" "$sock1" "vfio-user:$workdir/vf.sock"
check "virsh start (metadata)" virsh start "$vm1"
check "the hook started the helper" helper_alive "$uuid1"
check "the socket belongs to QEMU's user, mode 0660" socket_for_qemu "$sock1"
bus_name=org.ifcvf.Helper1.Vm_${uuid1//-/}
check "busctl sees the helper's name" busctl --address="$bus" status "$bus_name"
check "ifcvfctl status shows the VM" \
	"$IFCVFCTL" --bus "$bus" status "$vm1"
check "the guest pings through the VF" wait_until 180 grep -q '^RESULT ping ok' "$workdir/$vm1.console"
check "the guest waits for the ACPI power button" \
	wait_until 60 grep -q '^GUEST waiting for the power button' "$workdir/$vm1.console"
check "virsh shutdown (ACPI)" virsh shutdown --mode acpi "$vm1"
check "the guest powers off, libvirt shuts the domain off" wait_until 120 shut_off "$vm1"
check "it was the power button" grep -q '^GUEST power button pressed' "$workdir/$vm1.console"
check "release stopped the helper, nothing left" wait_until 10 nothing_left "$sock1"
check "busctl: the name is gone" bash -c "! busctl --address='$bus' status '$bus_name' >/dev/null 2>&1"

# ---- start again, destroy ---------------------------------------------------
: > "$workdir/$vm1.console"
check "virsh start again" virsh start "$vm1"
check "the helper runs again" helper_alive "$uuid1"
# a crash under libvirt: the supervisor restarts the helper, which serves
# the same socket (QEMU's again) and counts the restart
killed=$(run_pid "$uuid1")
kill -KILL "$killed"
restarted() {
	local p
	p=$(run_pid "$uuid1") && [ "$p" != "$killed" ] && socket_for_qemu "$sock1" &&
		"$IFCVFCTL" --bus "$bus" status "$vm1" 2>/dev/null | grep -q '^Restarts: *1$'
}
check "a helper killed under libvirt is restarted (Restarts: 1, socket QEMU's)" wait_until 30 restarted
check "the log says why" grep -q "restart 1 after signal 9" "$log_dir/$vm1.log"
check "virsh destroy" virsh destroy "$vm1"
check "destroy stopped the helper, nothing left" wait_until 10 nothing_left "$sock1"
check "nothing restarted it since" bash -c "sleep 1; [ -z \"\$(ls -A '$run_dir')\" ]"

# ---- host port map (no metadata) ---------------------------------------------
printf '[%s]\ndevice=vfio-user:%s\nlm=sw\n' "$sock2" "$workdir/vf.sock" > "$ports_conf"
define "$vm2" "$uuid2" "$sock2" -
check "virsh start (port map)" virsh start "$vm2"
check "the helper runs for the port map VM" helper_alive "$uuid2"

# ---- a VF held by another VM ----------------------------------------------------
define "$vm3" "$uuid3" "$sock3" "vfio-user:$workdir/vf.sock"
virsh start "$vm3" > "$workdir/held.out" 2>&1
check "virsh start fails with the hook's reason (VF in use)" \
	grep -q "ifcvf-helper hook: prepare begin: VF vfio-user:$workdir/vf.sock is already used by VM '$vm2'" "$workdir/held.out"
check "the first VM keeps its helper" helper_alive "$uuid2"
virsh destroy "$vm2" >/dev/null
check "destroy (port map VM), nothing left" wait_until 10 nothing_left "$sock2"

# ---- a metadata VF that does not exist --------------------------------------------
virsh undefine "$vm3" >/dev/null
define "$vm3" "$uuid3" "$sock3" "vfio-user:$workdir/missing.sock"
virsh start "$vm3" > "$workdir/missing.out" 2>&1
check "virsh start fails with the hook's reason (missing VF)" \
	grep -q "ifcvf-helper hook: prepare begin: VF vfio-user:$workdir/missing.sock does not exist" "$workdir/missing.out"
check "nothing started for it" nothing_left "$sock3"

# ---- a vhost-user disk: its own blk VF ------------------------------------------------
truncate -s 8M "$workdir/blk.raw"
"$IFCVF_EMU" --socket "$workdir/blk.sock" --type blk --queues 2 --backing "$workdir/blk.raw" \
	> "$workdir/blk-emu.log" 2>&1 &
bg_pids+=("$!")
wait_for_socket "$workdir/blk.sock" "$!" || bail "the blk ifcvf-emu did not start: $(cat "$workdir/blk-emu.log")"
uuid4=$(cat /proc/sys/kernel/random/uuid)
vm4=$tag-disk sock4=$workdir/disk0.sock
test_domain_xml "$vm4" "$uuid4" 2 - "$workdir/$vm4.console" off \
	"    <ifcvf:ports xmlns:ifcvf='http://ifcvf-helper.org/xmlns/1'>
      <ifcvf:port socket='$sock4' device='vfio-user:$workdir/blk.sock'/>
    </ifcvf:ports>" "$sock4" > "$workdir/$vm4.xml"
domains+=("$vm4")
virsh define "$workdir/$vm4.xml" >/dev/null
check "virsh start (<disk type='vhostuser'>)" virsh start "$vm4"
check "the hook started the helper for the disk" helper_alive "$uuid4"
check "the guest wrote its disk and read it back" \
	wait_until 180 grep -q '^RESULT blk ok' "$workdir/$vm4.console"
disk_md5=$(sed -n 's/^RESULT blk ok \([0-9a-f]*\).*/\1/p' "$workdir/$vm4.console")
check "the blk VF's backing file holds what the guest wrote" \
	[ -n "$disk_md5" -a "$disk_md5" = "$(md5sum < "$workdir/blk.raw" | cut -d' ' -f1)" ]
check "ifcvfctl status shows the blk port" \
	bash -c "'$IFCVFCTL' --bus '$bus' status '$vm4' | grep -q '^ *Type: *blk'"
destroyed_clean() { virsh destroy "$1" >/dev/null && wait_until 10 nothing_left "$2"; }
check "virsh destroy (disk VM), nothing left" destroyed_clean "$vm4" "$sock4"

# ---- start/destroy cycles (20; LIBVIRT_CYCLES=N: the package suite runs 3,
# the package's files being what it checks) -------------------------------------------
cycles=${LIBVIRT_CYCLES:-20}
cycles_ok() {
	for i in $(seq "$cycles"); do
		virsh start "$vm1" >/dev/null || { echo "# start $i failed"; return 1; }
		helper_alive "$uuid1" || { echo "# no helper in cycle $i"; return 1; }
		virsh destroy "$vm1" >/dev/null || { echo "# destroy $i failed"; return 1; }
		wait_until 10 nothing_left "$sock1" || { echo "# leftovers in cycle $i"; return 1; }
	done
}
emu_fds_before=$(ls /proc/"$emu"/fd | wc -l)
check "$cycles start/destroy cycles leave nothing behind" cycles_ok
check "the emulator's fds are back to where they were" \
	[ "$(ls /proc/"$emu"/fd | wc -l)" -eq "$emu_fds_before" ]

if [ "$tap_failed" -ne 0 ]; then
	for f in hook-calls emu.log blk-emu.log held.out missing.out "$vm1.console" "$vm4.console"; do
		echo "# ---- $f"; sed 's/^/# /' "$workdir/$f" 2>/dev/null | tail -30
	done
	for f in "$log_dir"/*.log; do echo "# ---- $f"; sed 's/^/# /' "$f" | tail -30; done
	exit 1
fi

#!/usr/bin/env bash
# Live migration between two libvirt "hosts" on this machine, and the
# migration phases each host's helper publishes from libvirt's events and
# vhost-user.
#
# Each host is a mount namespace (unshare -m) with a tmpfs on /run and its
# own /etc/libvirt, /var/lib/libvirt, /var/cache/libvirt and /var/log/libvirt
# (directories of this test bound over them); its libvirtd has its own
# host_uuid (libvirt refuses to migrate to the same host) and listens in a
# directory visible from outside (unix_sock_dir), QEMU runs as root with no
# cgroups and no virtlogd. A `sleep` holds each namespace, so its libvirtd
# can be stopped and started again. Each host has its own dbus-daemon,
# ifcvf-emu VF and `ifcvf-helper run --libvirt-uri` (started here, not by
# the hook), serving /run/ifcvf-lm/net0.sock, the path the domain XML names
# on both hosts. The VFs' TAP wires are bridged in a network namespace
# whose address the guest pings every second.
#
# Helper B connects to libvirt at start (--libvirt-connect at-start, what
# the hook asks for on a destination: only libvirt tells it a guest is
# coming); helper A as the hook starts it on a source (the default,
# at-migration): it maps no libvirt until the first migration begins.
#
# Steps: helper B starts while libvirtd B is down (logs it once) and
# connects when it comes up; helper A starts idle, without libvirt; the VM
# starts on A; a migration to B slowed
# down and aborted with `virsh domjobabort` shows A iterating -> cancelled,
# B incoming -> cancelled, the guest still answering on A; the same with
# libvirtd A restarted while iterating instead (libvirt's recovery cancels
# the job): helper A reads the domain again on its reconnect and says
# cancelled right afterwards; `virsh migrate
# --live` to B shows A iterating -> stop-and-copy -> completed and B
# incoming -> resumed, the guest answering on B; with libvirtd B stopped
# (helper B loses its connection) a migration started on QEMU's own monitor
# and cancelled shows iterating -> cancelled from vhost-user alone;
# libvirtd B comes back, helper B reconnects, and the VM migrates back to A
# with libvirt's events reaching helper B again. Every phase sequence is
# checked whole (no repeats, no flapping) with `ifcvfctl watch`.
#
# Needs root, libvirt-daemon-system, libvirt-clients, dbus, QEMU, the guest
# kernel. Leaves nothing behind: domains destroyed, daemons, helpers,
# emulators stopped; the namespaces go with their last process.
#
# IFCVF_INSTALLED=1: against the installed package instead of the build
# (tests/package/deb-test.sh, after `apt-get install ./ifcvf-helper_*.deb`):
# /usr/bin's ifcvf-helper, ifcvfctl and ifcvf-emu. No hook runs here (the
# helpers are started by the test), and each host's libvirtd has its own
# /etc/libvirt (empty hooks), so the package's hook stays where it is: no
# libvirtd of this test sees it.
set -u
if [ "${IFCVF_INSTALLED:-}" = 1 ]; then
	IFCVF_HELPER=/usr/bin/ifcvf-helper IFCVFCTL=/usr/bin/ifcvfctl IFCVF_EMU=/usr/bin/ifcvf-emu
	export IFCVF_HELPER IFCVFCTL IFCVF_EMU
fi
. "$(dirname "$0")/../guest/guest-lib.sh"
. "$(dirname "$0")/domain-xml.sh"
. "$(dirname "$0")/test-bus.sh"

for tool in virsh libvirtd dbus-daemon busctl unshare nsenter python3; do
	command -v "$tool" >/dev/null || bail "$tool is missing (libvirt-daemon-system, libvirt-clients, dbus, util-linux, python3)"
done
[ -n "${IFCVFCTL:-}" ] || bail "IFCVFCTL is not set: run through meson test"
if [ "${IFCVF_INSTALLED:-}" = 1 ]; then
	for f in "$IFCVF_HELPER" "$IFCVFCTL" "$IFCVF_EMU"; do
		[ -x "$f" ] || bail "IFCVF_INSTALLED=1 but $f is not installed"
	done
fi
qmp="$(cd "$(dirname "$0")/../guest" && pwd)/qmp.py"

chmod 755 "$workdir"
dom=ifcvf-lm$$
uuid=$(cat /proc/sys/kernel/random/uuid)
bus_name=org.ifcvf.Helper1.Vm_${uuid//-/}
vhost_sock=/run/ifcvf-lm/net0.sock
declare -A anchor lvd helper bus bus_pid watch uri_rw uri_ro
virsh_bin=$(command -v virsh)
vsh() { # HOST ARGS...
	local h=$1
	shift
	timeout -s KILL 120 "$virsh_bin" -q -c "${uri_rw[$h]}" "$@"
}
wait_until() { # SECONDS COMMAND...
	local t=$1
	shift
	for _ in $(seq $((t * 10))); do "$@" && return 0; sleep 0.1; done
	return 1
}
stop_pid() { # PID: TERM, bounded wait, KILL
	local p=$1
	[ -n "$p" ] || return 0
	kill -TERM "$p" 2>/dev/null || return 0
	for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
	kill -KILL "$p" 2>/dev/null
	return 0
}
qemu_pids() { # the QEMUs of this test's domain, by its unique name
	local p
	for p in /proc/[0-9]*; do
		{ tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null | grep -q -- "-name guest=$dom," && basename "$p"
	done
}

lm_cleanup() {
	local rc=$? h p
	for h in a b; do
		[ -n "${lvd[$h]:-}" ] && vsh "$h" destroy "$dom" >/dev/null 2>&1
	done
	for p in $(qemu_pids); do kill -KILL "$p" 2>/dev/null; done
	for h in a b; do
		stop_pid "${watch[$h]:-}"
		stop_pid "${helper[$h]:-}"
		stop_pid "${lvd[$h]:-}"
		stop_pid "${anchor[$h]:-}"
		stop_pid "${bus_pid[$h]:-}"
	done
	if [ "$rc" -ne 0 ] || [ "$tap_failed" -ne 0 ]; then
		for f in "$workdir"/helper-*.log "$workdir"/watch-*.log "$workdir"/*/libvirtd.log \
			"$workdir"/*/libvirtd.out "$workdir"/*/log/qemu/*.log "$workdir"/mig-*.out; do
			[ -f "$f" ] || continue
			echo "# ---- $f"
			tail -40 "$f" | sed 's/^/# /'
		done
	fi
	cleanup
}
trap lm_cleanup EXIT
trap "exit 1" TERM INT   # meson's timeout: clean up too

echo "1..51"

# ---- the hosts: namespaces, dbus-daemons ---------------------------------------
# start_anchor HOST: the mount namespace, held by a sleep
start_anchor() {
	local h=$1 d=$workdir/$1
	mkdir -p "$d"/etc/qemu "$d"/etc/hooks "$d"/lib "$d"/cache "$d"/log "$d"/sock
	cat > "$d/etc/libvirtd.conf" <<CONF
unix_sock_dir = "$d/sock"
unix_sock_ro_perms = "0777"
unix_sock_rw_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
host_uuid = "$(cat /proc/sys/kernel/random/uuid)"
log_outputs = "3:file:$d/libvirtd.log"
CONF
	cat > "$d/etc/qemu.conf" <<CONF
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
CONF
	unshare -m --propagation private sh -c "
		mount -t tmpfs tmpfs /run &&
		mount --bind '$d/etc' /etc/libvirt &&
		mount --bind '$d/lib' /var/lib/libvirt &&
		mount --bind '$d/cache' /var/cache/libvirt &&
		mount --bind '$d/log' /var/log/libvirt &&
		mkdir -p /run/ifcvf-lm && touch '$d/ready' && exec sleep infinity" \
		> "$d/anchor.log" 2>&1 &
	anchor[$h]=$!
	wait_until 10 test -e "$d/ready" || bail "host $h: no mount namespace: $(cat "$d/anchor.log")"
	uri_rw[$h]="qemu+unix:///system?socket=$d/sock/libvirt-sock"
	uri_ro[$h]="qemu+unix:///system?socket=$d/sock/libvirt-sock-ro"
}
# in_host HOST COMMAND...: COMMAND in HOST's mount namespace. Background
# processes call nsenter themselves (it execs COMMAND: $! is its pid).
in_host() {
	local h=$1
	shift
	nsenter -t "${anchor[$h]}" -m -- "$@"
}
libvirtd_start() { # HOST (the first start probes QEMU: slow on a busy machine)
	local h=$1
	nsenter -t "${anchor[$h]}" -m -- libvirtd >> "$workdir/$h/libvirtd.out" 2>&1 &
	lvd[$h]=$!
	wait_until 180 vsh "$h" version >/dev/null 2>&1
}
libvirtd_stop() { # HOST
	stop_pid "${lvd[$1]}"
	lvd[$1]=
}

start_bus() { # HOST
	local h=$1
	start_test_bus "$workdir/bus-$h"
	bus_pid[$h]=$test_bus_pid
	bus[$h]="unix:path=$workdir/bus-$h.sock"
}

for h in a b; do
	start_anchor "$h"
	start_bus "$h"
done

# ---- the VFs, bridged ----------------------------------------------------------------
ns=ifcvf-lm$$
new_netns "$ns"
ip -n "$ns" link add br0 type bridge || bail "cannot create a bridge in $ns"
ip -n "$ns" addr add 10.98.0.1/24 dev br0
ip -n "$ns" link set br0 up
for h in a b; do
	tapif=ifcvflm$$$h
	"$IFCVF_EMU" --socket "$workdir/vf-$h.sock" --type net --wire "tap:$tapif" \
		> "$workdir/emu-$h.log" 2>&1 &
	bg_pids+=("$!")
	wait_for_socket "$workdir/vf-$h.sock" "$!" || bail "ifcvf-emu $h did not start: $(cat "$workdir/emu-$h.log")"
	ip link set "$tapif" netns "$ns" || bail "cannot move $tapif into $ns"
	ip -n "$ns" link set "$tapif" master br0
	ip -n "$ns" link set "$tapif" up
done

# ---- helpers, phases --------------------------------------------------------------------
start_helper() { # HOST WHEN (--libvirt-connect)
	local h=$1
	nsenter -t "${anchor[$h]}" -m -- "$IFCVF_HELPER" run --bus "${bus[$h]}" --uuid "$uuid" --name "$dom" \
		--libvirt-uri "${uri_ro[$h]}" --libvirt-connect "$2" \
		--port "device=vfio-user:$workdir/vf-$h.sock,socket=$vhost_sock" \
		>> "$workdir/helper-$h.log" 2>&1 &
	helper[$h]=$!
	wait_until 30 busctl --address="${bus[$h]}" status "$bus_name" >/dev/null 2>&1 || return 1
	"$IFCVFCTL" --bus "${bus[$h]}" watch "$dom" >> "$workdir/watch-$h.log" 2>&1 &
	watch[$h]=$!
	wait_until 10 grep -q "^watching VM '$dom'" "$workdir/watch-$h.log"
}
stop_helper() { # HOST: SIGTERM; its exit status
	local h=$1 st
	kill -TERM "${helper[$h]}"
	for _ in $(seq 300); do kill -0 "${helper[$h]}" 2>/dev/null || break; sleep 0.1; done
	wait "${helper[$h]}"
	st=$?
	helper[$h]=
	stop_pid "${watch[$h]}"
	watch[$h]=
	return "$st"
}
phase() { # HOST: the published MigrationPhase
	busctl --address="${bus[$1]}" get-property "$bus_name" /org/ifcvf/Helper1 \
		org.ifcvf.Helper1.Domain MigrationPhase 2>/dev/null | sed 's/^s "\(.*\)"$/\1/'
}
phase_is() { [ "$(phase "$1")" = "$2" ]; }
# the phases published so far, in order ("iterating cancelled ...")
phases() {
	grep ' vm MigrationPhase: ' "$workdir/watch-$1.log" | awk '{print $NF}' | tr '\n' ' ' | sed 's/ $//'
}
mark() { # HOST: remember where the phase list stands
	eval "mark_$1=\$(grep -c ' vm MigrationPhase: ' \"\$workdir/watch-$1.log\")"
}
phases_since() { # HOST
	local m
	eval "m=\$mark_$1"
	grep ' vm MigrationPhase: ' "$workdir/watch-$1.log" | tail -n +$((m + 1)) | awk '{print $NF}' \
		| tr '\n' ' ' | sed 's/ $//'
}
expect_phases() { # HOST "PHASES": exactly these changes since mark
	local got
	got=$(phases_since "$1")
	[ "$got" = "$2" ] || { echo "# helper $1 published '$got', expected '$2'"; return 1; }
}
log_count() { # HOST TEXT
	grep -c -F -- "$2" "$workdir/helper-$1.log"
}
log_count_is() { [ "$(log_count "$1" "$2")" -eq "$3" ]; }
# heard HOST LINE EVENT...: after line LINE of its log, the helper logged
# each libvirt domain event EVENT ("" : any)
heard() {
	local h=$1 from=$2 e
	shift 2
	for e in "$@"; do
		tail -n +$((from + 1)) "$workdir/helper-$h.log" | grep -q -F "libvirt: domain event: $e" \
			|| return 1
	done
}
not_heard() { ! heard "$@"; }
phases_are() { phase_is a "$1" && phase_is b "$2"; }

# ---- helper B starts while libvirtd B is down; helper A idle without libvirt ----------------
maps_libvirt() { grep -q '/libvirt\.so\.' "/proc/${helper[$1]}/maps"; }
check "helper B starts while libvirtd B is down (libvirt at start)" start_helper b at-start
sleep $((2 * 2 + 1))   # two retries at least
check "helper B says once that libvirtd is not reachable" log_count_is b ": not reachable (" 1
check "helper B publishes phase none" phase_is b none
libvirtd_start b || bail "libvirtd b did not answer: $(tail -5 "$workdir/b/libvirtd.log" 2>/dev/null)"
check "helper B connects when libvirtd B comes up" \
	wait_until 30 grep -q "libvirt .*: connected, following domain $uuid" "$workdir/helper-b.log"
check "helper A starts (libvirt at migration)" start_helper a at-migration
check "helper A publishes phase none" phase_is a none
# B's QEMU capabilities are A's too (same binary, same qemu.conf): no second probe
cp -a "$workdir/b/cache/." "$workdir/a/cache/" 2>/dev/null
libvirtd_start a || bail "libvirtd a did not answer: $(tail -5 "$workdir/a/libvirtd.log" 2>/dev/null)"

# ---- the VM on A ------------------------------------------------------------------------------
cat > "$workdir/guest.sh" <<'GUEST'
ip link set lo up
ip link set eth0 up
ip addr add 10.98.0.2/24 dev eth0
n=0
while [ $n -lt 900 ]; do
	n=$((n + 1))
	if ping -c 1 -W 1 10.98.0.1 >/dev/null 2>&1; then echo "PING $n ok"; else echo "PING $n fail"; fi
	sleep 1
done
GUEST
"$(dirname "$0")/../guest/mkinitramfs.sh" "$workdir/initrd.gz" "$workdir/guest.sh" \
	|| bail "cannot build the guest initramfs"
console=$workdir/console.log
test_domain_xml "$dom" "$uuid" 1 "$vhost_sock" "$console" on "" > "$workdir/$dom.xml"

last_ping() { # the number of the guest's last answered ping
	grep -a -o '^PING [0-9]* ok' "$console" | tail -1 | awk '{print $2}'
}
pings_after() { # N: the guest got an answer after its ping N (3 more)
	[ "$(last_ping)" -ge $(($1 + 3)) ] 2>/dev/null
}
running_on() { # HOST
	vsh "$1" domstate "$dom" 2>/dev/null | grep -q '^running'
}
absent_on() { # HOST
	! vsh "$1" list --all --name 2>/dev/null | grep -qx "$dom"
}
only_on() { running_on "$1" && absent_on "$2"; }
migrate_aborted() { [ "$mig_status" -ne 0 ] && grep -q 'operation aborted' "$workdir/mig-1.out"; }

check "virsh create on A" vsh a create "$workdir/$dom.xml"
check "the guest pings through VF A" wait_until 180 pings_after 0
check "helper A, its guest running, maps no libvirt before a migration" eval '! maps_libvirt a'
check "helper A waits for a migration to connect to libvirt" \
	eval 'grep -q "connecting once a migration begins here" "$workdir/helper-a.log" &&
		! grep -q "connected, following domain" "$workdir/helper-a.log"'

# ---- a migration to B, aborted while iterating --------------------------------------------------
mark a
mark b
before=$(last_ping)
vsh a migrate --live --verbose --bandwidth 1 "$dom" "${uri_rw[b]}" \
	--migrateuri "unix://$workdir/mig-1.sock" > "$workdir/mig-1.out" 2>&1 &
mig=$!
check "A iterating, B incoming" wait_until 60 phases_are iterating incoming
check "virsh domjobabort" vsh a domjobabort "$dom"
wait "$mig"
mig_status=$?
check "virsh migrate fails, aborted" migrate_aborted
check "A: iterating -> cancelled" wait_until 30 expect_phases a "iterating cancelled"
check "B: incoming -> cancelled" wait_until 30 expect_phases b "incoming cancelled"
check "the VM runs on A, not on B" only_on a b
check "the guest still pings through VF A" wait_until 60 pings_after "$before"
# libvirt's first iteration event comes with LOG_ALL, before helper A is
# connected; vhost-user said iterating
check "helper A connected to libvirtd A when the migration began" \
	eval 'grep -q "port 0 logs (a migration begins): connecting to libvirt" "$workdir/helper-a.log" &&
		grep -q "libvirt .*: connected, following domain $uuid" "$workdir/helper-a.log"'
check "helper A maps libvirt now" maps_libvirt a

# ---- a migration to B, libvirtd A restarted while iterating (issue 18) ----------------------------
# libvirtd A goes away mid-migration and comes back: libvirt's recovery
# cancels the outgoing job and keeps the VM on A, virsh migrate fails, B's
# incoming domain goes. Helper A missed whatever libvirt said meanwhile and
# reads the domain again on its reconnect: right afterwards its
# MigrationPhase says cancelled, not iterating.
mark a
mark b
before=$(last_ping)
lines_a=$(wc -l < "$workdir/helper-a.log")
vsh a migrate --live --verbose --bandwidth 1 "$dom" "${uri_rw[b]}" \
	--migrateuri "unix://$workdir/mig-r.sock" > "$workdir/mig-r.out" 2>&1 &
mig=$!
check "A iterating, B incoming (restart case)" wait_until 60 phases_are iterating incoming
libvirtd_stop a
check "helper A logs that libvirtd went away" \
	wait_until 30 bash -c "tail -n +$((lines_a + 1)) '$workdir/helper-a.log' | grep -q 'connection lost ('"
libvirtd_start a || bail "libvirtd a did not come back: $(tail -5 "$workdir/a/libvirtd.log" 2>/dev/null)"
wait "$mig"
mig_status=$?
check "virsh migrate fails when libvirtd A restarts under it" [ "$mig_status" -ne 0 ]
reconnected_a() {
	tail -n +$((lines_a + 1)) "$workdir/helper-a.log" | grep -q ": connected, following domain $uuid"
}
check "helper A reconnects to libvirtd A" wait_until 30 reconnected_a
check "A: MigrationPhase right after the reconnect: cancelled" wait_until 30 phase_is a cancelled
check "A: iterating -> cancelled, nothing else" wait_until 30 expect_phases a "iterating cancelled"
check "B: incoming -> cancelled" wait_until 60 expect_phases b "incoming cancelled"
check "the VM runs on A, not on B (restart case)" wait_until 60 only_on a b
check "the guest still pings through VF A (restart case)" wait_until 60 pings_after "$before"

# ---- the migration to B --------------------------------------------------------------------------
mark a
mark b
check "virsh migrate --live A -> B" \
	vsh a migrate --live --verbose "$dom" "${uri_rw[b]}" --migrateuri "unix://$workdir/mig-2.sock"
before=$(last_ping)
check "A: iterating -> stop-and-copy -> completed" \
	wait_until 30 expect_phases a "iterating stop-and-copy completed"
check "B: incoming -> resumed" wait_until 30 expect_phases b "incoming resumed"
check "the VM runs on B, not on A" only_on b a
check "the guest pings through VF B" wait_until 60 pings_after "$before"
check "helper A heard suspended/migrated and stopped/migrated" \
	heard a 0 "lifecycle suspended/migrated" "lifecycle stopped/migrated"

# ---- libvirtd B down: vhost-user alone -------------------------------------------------------------
libvirtd_stop b
check "helper B logs that libvirtd went away, once" wait_until 30 log_count_is b "connection lost (" 1
check "the VM keeps running without libvirtd B" wait_until 30 pings_after "$(last_ping)"
mon=$(in_host b sh -c "ls /var/lib/libvirt/qemu/domain-*-$dom/monitor.sock" 2>/dev/null | head -1)
mark b
lines_b=$(wc -l < "$workdir/helper-b.log")
qmp_b() { in_host b python3 "$qmp" "$mon" "$@"; }
# a sink for the migration stream (QEMU's sandbox forbids exec: URIs)
python3 - "$workdir/sink.sock" > "$workdir/sink.log" 2>&1 <<'SINK' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(1)
s.settimeout(300)
c, _ = s.accept()
while c.recv(65536):
    pass
SINK
sink=$!
bg_pids+=("$sink")
wait_for_socket "$workdir/sink.sock" "$sink" || bail "the migration sink did not start"
monitor_migrate() {
	qmp_b migrate-set-parameters '{"max-bandwidth": 1048576}' >/dev/null &&
		qmp_b migrate "{\"uri\": \"unix:$workdir/sink.sock\"}" >/dev/null
}
check "QEMU's monitor starts a slow migration to a sink" monitor_migrate
check "B iterating from vhost-user alone" wait_until 60 phase_is b iterating
monitor_cancel() { qmp_b migrate_cancel >/dev/null; }
check "migrate_cancel on QEMU's monitor" monitor_cancel
check "B: iterating -> cancelled" wait_until 30 expect_phases b "iterating cancelled"
check "no libvirt event reached helper B meanwhile" not_heard b "$lines_b" ""

# ---- libvirtd B back: helper B reconnects; the VM goes back to A -------------------------------------
libvirtd_start b || bail "libvirtd b did not come back: $(tail -5 "$workdir/b/libvirtd.log" 2>/dev/null)"
check "helper B reconnects" wait_until 30 log_count_is b ": connected, following domain $uuid" 2
check "libvirtd B took the running VM back" running_on b
mark a
mark b
lines_b=$(wc -l < "$workdir/helper-b.log")
check "virsh migrate --live B -> A" \
	vsh b migrate --live --verbose "$dom" "${uri_rw[a]}" --migrateuri "unix://$workdir/mig-3.sock"
before=$(last_ping)
check "B: iterating -> stop-and-copy -> completed" \
	wait_until 30 expect_phases b "iterating stop-and-copy completed"
check "libvirt's events reached helper B after the reconnect" \
	heard b "$lines_b" "lifecycle suspended/migrated"
check "A: incoming -> resumed" wait_until 30 expect_phases a "incoming resumed"
check "the guest pings through VF A again" wait_until 60 pings_after "$before"

# ---- teardown --------------------------------------------------------------------------------------------
check "virsh destroy" vsh a destroy "$dom"
check "helper A exits 0 on SIGTERM" stop_helper a
check "helper B exits 0 on SIGTERM" stop_helper b
[ "$tap_failed" -eq 0 ] || exit 1

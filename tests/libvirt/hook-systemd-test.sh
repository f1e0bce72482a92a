#!/usr/bin/env bash
# The hook's systemd path with a real systemd: systemd is not PID 1 on this
# machine, so one runs as PID 1 of private PID, mount, UTS, IPC and cgroup
# namespaces and the hook runs inside them. `prepare begin` must start the
# helper with systemd-run as ifcvf-helper-<uuid>.service (its main process
# is the helper, in the unit's cgroup, serving); `release end` must stop the
# unit and leave nothing (unit, process, socket, lock, pidfile); a helper
# that fails leaves no unit behind; a helper killed with SIGKILL is
# restarted by its unit (Restart=on-failure: a new helper, the restart
# counted, its socket QEMU's user's again) and `release end` still stops it
# for good; `reconnect begin` leaves a restarted helper alone; once the unit
# is gone, `reconnect begin` starts it again under the same name.
#
# That systemd shares the machine's kernel and file systems, so it is fenced
# in: a transient service pulls in sysinit.target, whose units would wipe
# /tmp (systemd-tmpfiles --boot), coldplug udev, apply sysctls, load
# modules... Here sysinit.target is replaced by an empty target and every
# unit it wants is masked (checked before anything starts); /run, /tmp and
# /var/tmp are private tmpfs (the work directory is bound back in); /, /sys
# and /proc/sys are read-only. The test checks that nothing but the
# helper's unit ever runs there.
# Needs root; fails (never skips) when systemd cannot be started.
#
# IFCVF_INSTALLED=1: against the installed package instead of the build
# (tests/package/deb-test.sh, after `apt-get install ./ifcvf-helper_*.deb`):
# /usr/bin's ifcvf-helper and ifcvf-emu, and the hook is the package's hook
# script (/etc/libvirt/hooks/qemu.d/ifcvf-helper, which execs
# /usr/bin/ifcvf-helper hook), called as libvirtd calls it. No libvirtd runs
# here, so the script stays in qemu.d.
set -u

. "$(dirname "$0")/../lib/tap.sh"

[ "$(id -u)" -eq 0 ] || bail "needs root (namespaces, cgroups)"
hook_cmd=()   # the hook as libvirtd runs it: a program and its first arguments
if [ "${IFCVF_INSTALLED:-}" = 1 ]; then
	IFCVF_HELPER=/usr/bin/ifcvf-helper IFCVF_EMU=/usr/bin/ifcvf-emu
	hook_cmd=(/etc/libvirt/hooks/qemu.d/ifcvf-helper)
	for f in "$IFCVF_HELPER" "$IFCVF_EMU" "${hook_cmd[0]}"; do
		[ -x "$f" ] || bail "IFCVF_INSTALLED=1 but $f is not installed"
	done
fi
[ -n "${IFCVF_HELPER:-}" ] && [ -n "${IFCVF_EMU:-}" ] || bail "IFCVF_HELPER/IFCVF_EMU not set: run through meson test"
[ ${#hook_cmd[@]} -gt 0 ] || hook_cmd=("$IFCVF_HELPER" hook)
systemd_bin=/lib/systemd/systemd
[ -x "$systemd_bin" ] || bail "$systemd_bin is missing (package systemd)"
for tool in unshare nsenter systemd-run systemctl setsid; do
	command -v "$tool" >/dev/null || bail "$tool is missing (util-linux, systemd)"
done

workdir=$(mktemp -d /tmp/ifcvf-sdtest.XXXXXX)
cg=ifcvf-sdtest-$$
cg_dirs=()
for h in systemd unified; do
	[ -d "/sys/fs/cgroup/$h" ] && cg_dirs+=("/sys/fs/cgroup/$h/$cg")
done
[ -f /sys/fs/cgroup/cgroup.procs ] && [ ${#cg_dirs[@]} -eq 0 ] && cg_dirs+=("/sys/fs/cgroup/$cg")
[ ${#cg_dirs[@]} -gt 0 ] || bail "no cgroup hierarchy for systemd under /sys/fs/cgroup"
ns_pid=
emu_pid=

cleanup() {
	# PID 1 of the namespace takes every process in it along
	[ -n "$ns_pid" ] && kill -KILL "$ns_pid" 2>/dev/null
	[ -n "${starter:-}" ] && kill -KILL "$starter" 2>/dev/null
	[ -n "$emu_pid" ] && kill -TERM "$emu_pid" 2>/dev/null
	for _ in $(seq 100); do
		{ [ -z "$ns_pid" ] || ! kill -0 "$ns_pid" 2>/dev/null; } &&
			{ [ -z "$emu_pid" ] || ! kill -0 "$emu_pid" 2>/dev/null; } && break
		sleep 0.1
	done
	for d in "${cg_dirs[@]}"; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	rm -rf "$workdir"
}
trap cleanup EXIT
trap "exit 1" TERM INT   # a timeout: clean up too

echo "1..31"

# ---- systemd as PID 1 of its own namespaces --------------------------------
# a cgroup of its own first: systemd moves every process of its root cgroup
# into init.scope, and that root must not be the machine's
for d in "${cg_dirs[@]}"; do mkdir -p "$d" || bail "cannot create cgroup $d"; done
{
	echo '#!/bin/bash'
	for d in "${cg_dirs[@]}"; do echo "echo \$\$ > '$d/cgroup.procs' || exit 1"; done
	echo "exec unshare --fork --pid --mount --uts --ipc --cgroup --mount-proc --propagation private bash -e '$workdir/ns-init.sh'"
} > "$workdir/ns.sh"
# inside the namespaces, before systemd (bash keeps the script open across
# the mount over /tmp)
cat > "$workdir/ns-init.sh" <<'INIT'
# the work directory, and a build or source tree that lives under /tmp (a
# clone there), are bound back into the private /tmp
mount -t tmpfs tmpfs /run
i=0
for d in $WORKDIR $CARRY; do
	mkdir "/run/carry$i"
	mount --bind "$d" "/run/carry$i"
	i=$((i + 1))
done
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /var/tmp
i=0
for d in $WORKDIR $CARRY; do
	mkdir -p "$d"
	mount --move "/run/carry$i" "$d"
	i=$((i + 1))
done
mount -o remount,bind,ro /
mount -o remount,bind,ro /sys
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
units=/run/systemd/system
mkdir -p "$units"
printf '[Unit]\nDescription=ifcvf-helper test\nDefaultDependencies=no\n' > "$units/ifcvf-test.target"
printf '[Unit]\nDescription=sysinit, empty for the test\nDefaultDependencies=no\n' > "$units/sysinit.target"
for w in /etc/systemd/system/sysinit.target.wants/* /lib/systemd/system/sysinit.target.wants/* \
	 /usr/lib/systemd/system/sysinit.target.wants/*; do
	[ -e "$w" ] || [ -L "$w" ] || continue
	ln -sf /dev/null "$units/${w##*/}"
done
exec env container=ifcvf-test "$SYSTEMD" --system --unit=ifcvf-test.target
INIT
chmod +x "$workdir/ns.sh"
carry=
for d in "${IFCVF_HELPER%/src/helper/*}" "${IFCVF_EMU%/tools/ifcvf-emu/*}"; do
	case "$d:$carry " in /tmp/?*:*" $d "*|/var/tmp/?*:*" $d "*) ;;
	/tmp/?*|/var/tmp/?*) carry="$carry $d" ;; esac
done
WORKDIR=$workdir CARRY=$carry SYSTEMD=$systemd_bin setsid "$workdir/ns.sh" < /dev/null > "$workdir/systemd.log" 2>&1 &
starter=$!
disown "$starter"
# systemd is the child of unshare (--fork), which the starter became
for _ in $(seq 100); do
	ns_pid=$(pgrep -P "$starter" | head -1)
	[ -n "$ns_pid" ] && break
	sleep 0.1
done
[ -n "$ns_pid" ] || bail "the namespace did not start: $(cat "$workdir/systemd.log")"
inside() { timeout -s KILL 60 nsenter -t "$ns_pid" -m -p -- "$@"; }
state=
for _ in $(seq 300); do
	state=$(inside systemctl is-system-running 2>/dev/null)
	[ "$state" = running ] && break
	sleep 0.1
done
[ "$state" = running ] || bail "systemd in a namespace is not running ($state): $(tail -5 "$workdir/systemd.log")"
ok "systemd runs as PID 1 of a private namespace"
# every unit sysinit.target wants is masked before anything can start it
unmasked=
for u in $(inside systemctl list-dependencies --plain --no-pager sysinit.target | tail -n +2); do
	[ "$(inside systemctl show --property=LoadState --value "$u")" = masked ] || unmasked="$unmasked $u"
done
[ -z "$unmasked" ] || bail "units sysinit.target wants are not masked:$unmasked"
# only the helper's units may have run (besides systemd's scope, slices, mounts, targets)
only_ours() {
	local other
	other=$(inside systemctl list-units --all --no-legend --plain \
		--state=active,activating,deactivating,failed \
		--type=service,socket,timer,path,automount,swap 2>/dev/null |
		awk '{print $1}' | grep -v '^ifcvf-helper-')
	[ -z "$other" ] || { echo "# other units ran: $other"; return 1; }
}

# ---- the VF and the domain ------------------------------------------------------
"$IFCVF_EMU" --socket "$workdir/vf.sock" --type net --wire loop > "$workdir/emu.log" 2>&1 &
emu_pid=$!
for _ in $(seq 100); do [ -S "$workdir/vf.sock" ] && break; sleep 0.1; done
[ -S "$workdir/vf.sock" ] || bail "ifcvf-emu did not start: $(cat "$workdir/emu.log")"

uuid=$(cat /proc/sys/kernel/random/uuid)
unit=ifcvf-helper-$uuid.service
run_dir=$workdir/run
sock=$workdir/net0.sock
domain() { # DEVICE
	cat <<XML
<domain type='qemu'>
  <name>vm-sd</name>
  <uuid>$uuid</uuid>
  <metadata>
    <ifcvf:ports xmlns:ifcvf='http://ifcvf-helper.org/xmlns/1'>
      <ifcvf:port socket='$sock' device='$1' lm='sw'/>
    </ifcvf:ports>
  </metadata>
  <devices>
    <interface type='vhostuser'>
      <source type='unix' path='$sock' mode='client'/>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>
XML
}
domain "vfio-user:$workdir/vf.sock" > "$workdir/vm.xml"

# The hook as libvirt runs it, inside the namespace: no IFCVF_HELPER_SYSTEMD_RUN,
# so it finds /run/systemd/system and uses systemd-run and systemctl from PATH.
hook() { # OP SUB [XML]
	inside env -u IFCVF_HELPER_SYSTEMD_RUN -u IFCVF_HELPER_SYSTEMCTL \
		IFCVF_HELPER_RUN_DIR="$run_dir" IFCVF_HELPER_LOG_DIR="$workdir/log" \
		IFCVF_HELPER_PORTS_CONF="$workdir/none.conf" IFCVF_HELPER_BUS=none \
		IFCVF_HELPER_SOCKET_USER=root:root IFCVF_HELPER_LIBVIRT_URI= \
		"${hook_cmd[@]}" vm-sd "$1" "$2" - < "${3:-$workdir/vm.xml}" \
		> "$workdir/hook.out" 2> "$workdir/hook.err"
}
main_pid() { inside systemctl show --property=MainPID --value "$unit"; }
unit_state() { inside systemctl show --property=ActiveState --value "$unit"; }
unit_gone() { [ "$(inside systemctl show --property=LoadState --value "$unit")" = not-found ]; }
record_pid() { head -1 "$run_dir/$uuid.pid" 2>/dev/null; }
pid_in_ns() { [ -n "$1" ] && [ "$1" != 0 ] && inside test -d "/proc/$1"; }
helper_exe=$(readlink -f "$IFCVF_HELPER")
helper_is_run() { # PID (in the namespace): $IFCVF_HELPER's program, `run` for the VM
	[ "$(inside readlink "/proc/$1/exe")" = "$helper_exe" ] &&
		inside cat "/proc/$1/cmdline" | tr '\0' ' ' | grep -q -- " run --bus none --uuid $uuid "
}
in_unit_cgroup() { inside cat "/proc/$1/cgroup" | grep -q "/system.slice/$unit\$"; }
nothing_left() {
	unit_gone && [ -z "$(ls -A "$run_dir" 2>/dev/null)" ] && [ ! -e "$sock" ] &&
		! inside pgrep -f -- "--uuid $uuid" >/dev/null
}

# ---- prepare / release ---------------------------------------------------------------
check "prepare begin starts the helper" hook prepare begin
printed_nothing() { [ ! -s "$workdir/hook.out" ] && [ ! -s "$workdir/hook.err" ]; }
check "the hook printed nothing" printed_nothing
check "$unit is active" [ "$(unit_state)" = active ]
pid=$(main_pid)
check "its main process is the helper the record names" [ "$pid" = "$(record_pid)" ]
check "the main process runs $helper_exe run for the VM" helper_is_run "$pid"
check "the helper is in the unit's cgroup" in_unit_cgroup "$pid"
check "the socket listens" [ -S "$sock" ]
check "the record names the unit" grep -qx "unit $unit" "$run_dir/$uuid.pid"
check "the helper logs to the log directory" grep -q "listening on" "$workdir/log/vm-sd.log"
restart_policy() {
	[ "$(inside systemctl show --property=Restart --value "$unit")" = on-failure ] &&
		[ "$(inside systemctl show --property=RestartUSec --value "$unit")" = 100ms ] &&
		[ "$(inside systemctl show --property=StartLimitBurst --value "$unit")" = 5 ] &&
		[ "$(inside systemctl show --property=StartLimitIntervalUSec --value "$unit")" = 30s ]
}
check "the unit restarts on failure after 100ms, at most 5 starts in 30 s" restart_policy
check "nothing but the helper's unit runs in that systemd" only_ours
check "release end stops the unit" hook release end
check "nothing left: unit, process, socket, lock, record" nothing_left

# ---- a helper that fails leaves no unit -----------------------------------------------
python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" "$workdir/stale.sock"
domain "vfio-user:$workdir/stale.sock" > "$workdir/bad.xml"
fails_with_reason() {
	hook prepare begin "$workdir/bad.xml"
	[ $? -eq 1 ] && grep -q "helper for VM vm-sd exited: .*stale.sock" "$workdir/hook.err"
}
check "a helper that cannot probe its VF fails prepare with its reason" fails_with_reason
check "the failed unit is collected, nothing left" nothing_left

# ---- the helper is killed: its unit restarts it -----------------------------------------
listens() { python3 -c "import socket,sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])" "$sock" 2>/dev/null; }
check "prepare begin again" hook prepare begin
pid=$(main_pid)
inside kill -KILL "$pid"
# bounded: a unit that does not restart fails here
restarted() {
	local p
	p=$(main_pid)
	[ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$pid" ] && [ "$(unit_state)" = active ] &&
		listens && [ "$(stat -c %a "$sock")" = 660 ]
}
for _ in $(seq 300); do restarted && break; sleep 0.1; done
pid2=$(main_pid)
new_helper() { [ "$pid2" != "$pid" ] && pid_in_ns "$pid2" && in_unit_cgroup "$pid2" && helper_is_run "$pid2"; }
check "the unit restarted the helper: a new one, listening, socket mode 0660" restarted
check "the restarted helper is ifcvf-helper run in the unit" new_helper
check "systemd counted one restart" [ "$(inside systemctl show --property=NRestarts --value "$unit")" = 1 ]
check "the log says restart 1" grep -q "ifcvf-helper hook exec: restart 1 of the helper for VM vm-sd" "$workdir/log/vm-sd.log"
check "the restart count file says 1" [ "$(cat "$run_dir/$uuid.restarts" 2>/dev/null)" = 1 ]
check "reconnect begin leaves the restarted helper alone" hook reconnect begin
check "the same helper still" [ "$(main_pid)" = "$pid2" ]
check "release end stops the restarted helper" hook release end
check "nothing left after release" nothing_left
sleep 0.5
check "still nothing a moment later (a stop restarts nothing)" nothing_left

# ---- the unit is gone; reconnect starts it again ---------------------------------------
hook prepare begin
pid=$(main_pid)
inside systemctl stop "$unit"
check "reconnect begin starts it again under the same unit name" hook reconnect begin
pid2=$(main_pid)
new_helper() { [ "$pid2" != "$pid" ] && pid_in_ns "$pid2" && in_unit_cgroup "$pid2"; }
check "a new helper in the unit" new_helper
hook release end
check "release end, nothing left" nothing_left
check "still nothing but the helper's units ran" only_ours

if [ "$tap_failed" -ne 0 ]; then
	for f in hook.err systemd.log emu.log log/vm-sd.log; do
		echo "# ---- $f"; tail -20 "$workdir/$f" 2>/dev/null | sed 's/^/# /'
	done
	exit 1
fi

#!/bin/bash
# The kernel-vfio guest's checks, run by the guest's /init inside the host's
# / (9p, read-only; /tmp, /run and /dev are the guest's). One line per check
# on the console: "RESULT NAME ok|fail DETAIL". The host test
# (kernel-vfio-test.sh) expects every name it lists, in any order.
#
# Environment (from the initramfs): KV_SRC, KV_BUILD, KV_HELPER,
# KV_MIGRATION_TEST, KV_IRQ, KV_IFCVFCTL, KV_VF (the function under test,
# page-per-vq=on: each queue's doorbell on its own page), KV_OTHER (left on
# virtio-pci), KV_GROUP_A and KV_GROUP_B (one IOMMU group), KV_MQ (mq=on, 2
# pairs, on a tap that sends every frame back on the queue it came by; QEMU's
# default notify multiplier, 4 bytes), KV_HOT (behind a PCIe root port:
# QEMU's device "hot" can be removed).
#
# The control line to the host's kv-peer is /dev/ttyS1 (see kv-peer.c).
# Every wait is bounded; a check that runs out of time fails.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export IFCVF_HELPER=$KV_HELPER

w=/tmp/kv
mkdir -p "$w"
failed=0
result() { # NAME ok|fail DETAIL
	echo "RESULT $1 $2${3:+ $3}"
	[ "$2" = ok ] || failed=1
}
oneline() { tr '\n' ' ' | sed 's/ *$//' | cut -c1-400; }

wait_log() { # FILE NEEDLE SECONDS [FROM_BYTE]: NEEDLE in FILE past FROM_BYTE
	local i
	for ((i = 0; i < $3 * 5; i++)); do
		tail -c +"$((${4:-0} + 1))" "$1" 2>/dev/null | grep -q -- "$2" && return 0
		sleep 0.2
	done
	return 1
}

# ---- the control line ----
stty -F /dev/ttyS1 raw -echo 2>/dev/null
exec {ctl}<>/dev/ttyS1
ctl() { # COMMAND...: the reply in $reply
	reply=
	printf '%s\n' "$*" >&"$ctl"
	IFS= read -r -t 60 reply <&"$ctl" || { reply="(no reply within 60 s)"; return 1; }
	[[ "$reply" != error* ]]
}

# ---- sysfs ----
driver_of() { basename "$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null)" 2>/dev/null; }
group_of() { basename "$(readlink "/sys/bus/pci/devices/$1/iommu_group")"; }
bind_vfio() { # BDF: driver_override, unbind, probe again
	local d=/sys/bus/pci/devices/$1
	echo vfio-pci > "$d/driver_override" || return 1
	[ -e "$d/driver" ] && { echo "$1" > "$d/driver/unbind" || return 1; }
	echo "$1" > /sys/bus/pci/drivers_probe
	[ "$(driver_of "$1")" = vfio-pci ]
}
command_register() { # BDF: the PCI command register, as sysfs reads it
	od -An -tx2 -j4 -N2 "/sys/bus/pci/devices/$1/config" | tr -d ' '
}
vfio_holders() { # GROUP: pids with /dev/vfio/GROUP open
	local f
	for f in /proc/[0-9]*/fd/*; do
		[ "$(readlink "$f" 2>/dev/null)" = "/dev/vfio/$1" ] && echo "${f#/proc/}" | cut -d/ -f1
	done | sort -u | tr '\n' ' '
}

# ---- processes ----
helper_pid=
tp_pid=
# a private D-Bus (start_bus) for the helpers whose state is read there
. "$KV_SRC/tests/libvirt/test-bus.sh"
kv_bus=unix:path=$w/bus.sock
bus_pid=
start_bus() {
	local i
	test_bus_conf "$w/bus"
	dbus-daemon --config-file="$w/bus.conf" --nofork --nopidfile > "$w/bus.log" 2>&1 &
	bus_pid=$!
	for ((i = 0; i < 100; i++)); do
		[ -S "$w/bus.sock" ] && return 0
		kill -0 "$bus_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$bus_pid" 2>/dev/null
	bus_pid=
	return 1
}
helper_start() { # NAME PORT_OPTIONS [BDF [UUID]]: ifcvf-helper run, waits until the port
	# listens; with UUID on the private D-Bus as VM NAME
	local bus=(--bus none)
	[ -n "${4:-}" ] && bus=(--bus "$kv_bus" --uuid "$4" --name "$1")
	"$KV_HELPER" run "${bus[@]}" --port "device=pci:${3:-$KV_VF},socket=$w/$1.sock,$2" \
		> "$w/$1.log" 2>&1 &
	helper_pid=$!
	wait_log "$w/$1.log" "waiting: " 60
}
helper_stop() { # SIGTERM to the helper; 0 when it exited 0 within 30 s
	local i st
	[ -n "$helper_pid" ] || return 1
	kill -TERM "$helper_pid" 2>/dev/null
	for ((i = 0; i < 150; i++)); do kill -0 "$helper_pid" 2>/dev/null || break; sleep 0.2; done
	kill -KILL "$helper_pid" 2>/dev/null && { helper_pid=; return 1; }
	wait "$helper_pid"
	st=$?
	helper_pid=
	return $st
}

# testpmd with net_virtio_user on the helper's socket, interactive over a fifo
tp_start() { # NAME SOCKET FWD [QUEUES [VDEV_OPTIONS]]
	local nq=${4:-1}
	rm -f "$w/$1.in"
	mkfifo "$w/$1.in"
	tp_log=$w/$1.log
	stdbuf -oL dpdk-testpmd --no-huge -m 256 --no-shconf --file-prefix "$1" \
		--lcores 0@1,1@1 --no-pci --log-level '*:warning' \
		--vdev "net_virtio_user0,path=$2,queues=$nq${5:+,$5}" -- -i --total-num-mbufs=4096 \
		--nb-cores=1 --rxq="$nq" --txq="$nq" --forward-mode="$3" < "$w/$1.in" > "$tp_log" 2>&1 &
	tp_pid=$!
	exec {tp_in}>"$w/$1.in"
	wait_log "$tp_log" "testpmd> " 120
}
tp_cmd() { printf '%s\n' "$*" >&"$tp_in"; }
tp_stat() { # KEY: the value of "KEY: N" in a fresh "show port stats 0"
	local from
	from=$(stat -c %s "$tp_log")
	tp_cmd "show port stats 0"
	wait_log "$tp_log" "Tx-pps:" 30 "$from" || return 1
	tail -c +"$((from + 1))" "$tp_log" | grep -o "$1: *[0-9]*" | tail -1 | grep -o '[0-9]*$'
}
tp_quit() {
	local i
	[ -n "$tp_pid" ] || return 0
	tp_cmd quit
	exec {tp_in}>&-
	for ((i = 0; i < 150; i++)); do kill -0 "$tp_pid" 2>/dev/null || break; sleep 0.2; done
	kill -KILL "$tp_pid" 2>/dev/null
	wait "$tp_pid"
	local st=$?
	tp_pid=
	return $st
}

probe() { # OUT DEVICE [ARGS...]: ifcvf-helper probe; its exit status
	local out=$1
	shift
	timeout -s KILL 60 "$KV_HELPER" probe "$@" > "$w/$out.json" 2> "$w/$out.err"
}

json_field() { # FILE KEY: the first "KEY" : VALUE of the probe's JSON, unquoted
	grep -m1 "\"$2\" :" "$1" | sed 's/.*: *//; s/[",]//g'
}

# ---------------------------------------------------------------------------
echo "GUEST checks start ($(uname -r), $(nproc) CPUs)"

# bind: the VF and one function of the shared group to vfio-pci
if bind_vfio "$KV_VF" && bind_vfio "$KV_GROUP_A"; then
	vf_group=$(group_of "$KV_VF")
	result bind ok "$KV_VF in IOMMU group $vf_group and $KV_GROUP_A (group $(group_of "$KV_GROUP_A"), shared with $KV_GROUP_B on $(driver_of "$KV_GROUP_B")) bound to vfio-pci"
else
	result bind fail "cannot bind $KV_VF or $KV_GROUP_A to vfio-pci (drivers: $(driver_of "$KV_VF"), $(driver_of "$KV_GROUP_A"))"
	vf_group=$(group_of "$KV_VF")
fi

# probe-generic: the facts of QEMU's function, accepted as a generic one
if probe generic "pci:$KV_VF" --devargs generic-virtio=1,sw-live-migration=1; then
	f=$w/generic.json
	facts="ids $(json_field "$f" vendor):$(grep -o '"device" : "0x[0-9a-f]*"' "$f" | grep -o '0x[0-9a-f]*') type $(json_field "$f" type) ifcvf $(json_field "$f" ifcvf) common-cfg-bar $(json_field "$f" bar) lm_block $(json_field "$f" lm_block) mode $(json_field "$f" mode) msix $(json_field "$f" msix_vectors) queue_pairs $(json_field "$f" queue_pairs)"
	if [ "$(json_field "$f" vendor)" = 0x1af4 ] && grep -q '"device" : "0x1041"' "$f" &&
	   [ "$(json_field "$f" type)" = net ] && [ "$(json_field "$f" ifcvf)" = false ] &&
	   [ "$(json_field "$f" bar)" = 4 ] && [ "$(json_field "$f" lm_block)" = false ] &&
	   [ "$(json_field "$f" mode)" = sw ] && grep -q '"IOMMU_PLATFORM"' "$f"; then
		result probe-generic ok "$facts"
	else
		result probe-generic fail "unexpected facts: $facts"
	fi
else
	result probe-generic fail "probe exited $?: $(oneline < "$w/generic.err")"
fi

# probe-refused: without generic-virtio=1 QEMU's function is not an IFCVF
probe refused "pci:$KV_VF"
st=$?
msg=$(oneline < "$w/refused.err")
if [ "$st" -eq 1 ] && [ "$(wc -l < "$w/refused.err")" -eq 1 ] &&
   [[ "$msg" == *"pci:$KV_VF"*"not an IFCVF"*"generic-virtio=1"* ]]; then
	result probe-refused ok "exit 1: $msg"
else
	result probe-refused fail "exit $st: $msg"
fi

# run-refused: the helper's run says the same and leaves nothing behind
timeout -s KILL 60 "$KV_HELPER" run --bus none \
	--port "device=pci:$KV_VF,socket=$w/refused.sock,sw-live-migration=1" \
	> "$w/run-refused.log" 2>&1
st=$?
msg=$(grep -v '^EAL\|^TELEMETRY' "$w/run-refused.log" | oneline)
if [ "$st" -eq 1 ] && [[ "$msg" == *"pci:$KV_VF"*"generic-virtio=1"* ]] && [ ! -e "$w/refused.sock" ]; then
	result run-refused ok "exit 1: $msg"
else
	result run-refused fail "exit $st: $msg"
fi

# ---- the datapath: testpmd's virtio-user through the helper and the VF ----
echo "GUEST step: datapath"
ctl hello >/dev/null 2>&1   # the first line may meet a line not yet raw
if helper_start dp "generic-virtio=1,sw-live-migration=1"; then
	# tx: testpmd txonly, counted by kv-peer on the host
	if ! ctl tx-reset; then
		result tx fail "control line: $reply"
	elif ! tp_start tptx "$w/dp.sock" txonly; then
		result tx fail "testpmd did not start: $(tail -3 "$tp_log" | oneline)"
	else
		tp_cmd "set txpkts 64"
		tp_cmd start
		sent=0
		deadline=$((SECONDS + 60))
		while [ "$SECONDS" -lt "$deadline" ]; do
			sent=$(tp_stat TX-packets) || sent=0
			[ "${sent:-0}" -ge 2000 ] && break
			sleep 1
		done
		tp_cmd stop
		wait_log "$tp_log" "Done." 30
		sent=$(tp_stat TX-packets)
		got=0
		deadline=$((SECONDS + 30))
		while [ "$SECONDS" -lt "$deadline" ]; do
			ctl tx-count && got=${reply#tx-count }
			[ "$got" = "$sent" ] && break
			sleep 0.5
		done
		if [ "${sent:-0}" -ge 2000 ] && [ "$got" = "$sent" ]; then
			result tx ok "testpmd sent=$sent frames through the VF, kv-peer on the host counted $got"
		else
			result tx fail "testpmd sent=${sent:-?} frames, kv-peer counted $got"
		fi
		tp_quit || echo "GUEST testpmd (txonly) did not quit cleanly"
	fi

	# rx: kv-peer sends, testpmd rxonly counts; a new frontend session on the
	# same helper (DMA unmap/map, MSI-X unbind/bind, VF reset between them)
	n_rx=1000
	if ! tp_start tprx "$w/dp.sock" rxonly; then
		result rx fail "testpmd did not start: $(tail -3 "$tp_log" | oneline)"
	else
		tp_cmd start
		if ! ctl send plain $n_rx 128; then
			result rx fail "control line: $reply"
		else
			rx=0
			deadline=$((SECONDS + 60))
			while [ "$SECONDS" -lt "$deadline" ]; do
				rx=$(tp_stat RX-packets) || rx=0
				[ "${rx:-0}" -ge "$n_rx" ] && break
				sleep 1
			done
			ctl pending
			[ "$reply" = "pending 0 drops 0" ] || { p=$reply; ctl flush; reply="$p, $reply"; }
			if [ "${rx:-0}" -eq "$n_rx" ] && [ "$reply" = "pending 0 drops 0" ]; then
				result rx ok "kv-peer sent $n_rx frames, testpmd received $rx"
			else
				result rx fail "kv-peer sent $n_rx frames, testpmd received ${rx:-?} ($reply)"
			fi
		fi
		tp_cmd stop
		tp_quit || echo "GUEST testpmd (rxonly) did not quit cleanly"
	fi
	# msix: a third frontend learns of received frames only from its callfd,
	# which the VF's MSI-X vector signals through vfio-pci
	if timeout -s KILL 120 "$KV_IRQ" --socket "$w/dp.sock" --helper-log "$w/dp.log" \
		--feed "$KV_SRC/tests/kernel-vfio/guest-feed.sh" --bdf "$KV_VF" --frames 300 \
		> "$w/irq.log" 2>&1; then
		result msix ok "$(sed 's/^kv-irq: //' "$w/irq.log" | oneline)"
	else
		ctl flush
		result msix fail "$(oneline < "$w/irq.log") ($reply)"
	fi

	# reconnect: later sessions got a working port from the same helper
	alive=no
	kill -0 "$helper_pid" 2>/dev/null && alive=yes
	if helper_stop; then
		stopped="exited 0"
	else
		stopped="did not exit cleanly"
	fi
	starts=$(grep -o 'starts [0-9]*' "$w/dp.log" | tail -1 | grep -o '[0-9]*')
	errors=$(grep -o 'errors [0-9]*' "$w/dp.log" | tail -1 | grep -o '[0-9]*')
	# each stop resets the function (no per-queue stop): no port error
	if [ "$alive" = yes ] && [ "$stopped" = "exited 0" ] && [ "${starts:-0}" -eq 3 ] &&
	   [ "${errors:-1}" -eq 0 ]; then
		result reconnect ok "one helper brought the VF up for 3 frontends in turn (testpmd twice, kv-irq), stopped it 3 times without a port error and exited 0"
	else
		result reconnect fail "helper alive=$alive, $stopped, VF starts ${starts:-?}, port errors ${errors:-?}: $(tail -4 "$w/dp.log" | oneline)"
	fi
else
	for c in tx rx msix reconnect; do
		result "$c" fail "the helper did not start: $(tail -5 "$w/dp.log" | oneline)"
	done
	helper_stop
fi
echo "GUEST helper log (datapath):"
sed 's/^/GUEST   /' "$w/dp.log" | tail -40

# ---- host notifiers: the guest's kicks straight to the function's doorbell ----
# The helper hands kv-irq (the frontend) each vring's doorbell page: the
# vfio-pci device fd at the notify BAR's region offset + the queue's notify
# offset (page-per-vq=on gives each queue its own page). kv-irq maps them and
# kicks by storing the queue index there: frames go out (kv-peer counts them
# on the host) and come in, D-Bus shows both vrings on host-notifier, and the
# helper relays no kick.
echo "GUEST step: host notifiers"
hn_vm=kv-hn
hn_dbus() { # VM EXPECTED_KICKS OUT [ABOVE]: a command that puts the VM's status
	# into OUT.status, once its Kicks line reads EXPECTED_KICKS, and its port's
	# counters into OUT.stats, once kicks-relayed is above ABOVE (10 s each)
	cat > "$w/$1-dbus.sh" <<SH
for i in \$(seq 50); do
	"$KV_IFCVFCTL" --bus "$kv_bus" status "$1" > "$3.status" 2>&1
	grep -q "^ *Kicks: *$2\$" "$3.status" && break
	sleep 0.2
done
for i in \$(seq 50); do
	"$KV_IFCVFCTL" --bus "$kv_bus" stats "$1" 0 > "$3.stats" 2>&1
	[ "\$(awk '\$2 == "kicks-relayed" { print \$3 }' "$3.stats")" -gt "${4:--1}" ] 2>/dev/null && break
	sleep 0.2
done
SH
	echo "bash $w/$1-dbus.sh"
}
# helper_up CHECK NAME PORT_OPTIONS [BDF [UUID]]: helper_start, then kv-peer
# watching the generator; when either fails, a fail RESULT for CHECK, the
# helper stopped, and 1
helper_up() {
	local check=$1 vm=$2
	shift 2
	if ! helper_start "$vm" "$@"; then
		result "$check" fail "the helper did not start: $(grep -v '^EAL\|^TELEMETRY' "$w/$vm.log" | tail -3 | oneline)"
		helper_stop
		return 1
	fi
	if ! ctl gen-watch 8; then
		result "$check" fail "control line: $reply"
		helper_stop
		return 1
	fi
}
kicks_relayed() { awk '$2 == "kicks-relayed" { print $3 }' "$1" 2>/dev/null; }
hn_check() {
	local all_hn="vring 0 host-notifier, vring 1 host-notifier" out facts kicks relayed sent bad
	local n_tx=200 n_rx=100 st i stopped exit_relayed
	if [ -z "$bus_pid" ]; then
		result host-notifier fail "no D-Bus: $(oneline < "$w/bus.log")"
		return
	fi
	helper_up host-notifier "$hn_vm" "generic-virtio=1,sw-live-migration=1" "$KV_VF" \
		0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9 || return
	timeout -s KILL 120 "$KV_IRQ" --socket "$w/$hn_vm.sock" --helper-log "$w/$hn_vm.log" \
		--host-notifier map --tx "$n_tx" --frames "$n_rx" --bdf "$KV_VF" \
		--feed "$KV_SRC/tests/kernel-vfio/guest-feed.sh" \
		--exec "$(hn_dbus "$hn_vm" "$all_hn" "$w/hn")" > "$w/hn-irq.log" 2>&1
	st=$?
	out=$(sed 's/^kv-irq: //' "$w/hn-irq.log" | oneline)
	[ "$st" -eq 0 ] || ctl flush
	sent=0 bad=?
	for ((i = 0; i < 150; i++)); do
		ctl gen-count && read -r _ sent _ bad <<< "$reply"
		[ "$sent" -ge "$n_tx" ] && break
		sleep 0.2
	done
	helper_stop && stopped="exited 0" || stopped="did not exit cleanly"
	kicks=$(grep -o 'Kicks: .*' "$w/hn.status" 2>/dev/null | sed 's/Kicks: *//')
	relayed=$(kicks_relayed "$w/hn.stats")
	# the helper's own count at exit: every kick it relayed in its life
	exit_relayed=$(grep -o 'kicks relayed [0-9]*' "$w/$hn_vm.log" | tail -1 | grep -o '[0-9]*$')
	facts="kv-irq: $out; D-Bus: Kicks: ${kicks:-?}, kicks-relayed ${relayed:-?}; kv-peer on the host got $sent of the $n_tx frames whole and in order (bad $bad); the helper $stopped, kicks relayed in its life: ${exit_relayed:-?}"
	if [ "$st" -eq 0 ] && [ "$kicks" = "$all_hn" ] && [ "$relayed" = 0 ] &&
	   [ "$sent" = "$n_tx" ] && [ "$bad" = 0 ] && [ "$stopped" = "exited 0" ] &&
	   [ "$exit_relayed" = 0 ] && ! grep -q 'host notifiers: ' "$w/$hn_vm.log"; then
		result host-notifier ok "$facts"
	else
		result host-notifier fail "$facts; $(grep 'host notifiers: \|WARNING' "$w/$hn_vm.log" | head -3 | oneline)"
	fi
}
t0=$SECONDS
start_bus || echo "GUEST dbus-daemon did not start: $(oneline < "$w/bus.log")"
hn_check
echo "GUEST host notifiers: D-Bus, helper and check took $((SECONDS - t0)) s"
echo "GUEST helper log (host notifiers):"
grep -v '^EAL\|^TELEMETRY' "$w/$hn_vm.log" 2>/dev/null | sed 's/^/GUEST   /' | tail -16

# ---- the helper killed with the doorbell pages mapped (issue 18) ----
# kv-irq maps both doorbell pages of the function (the helper's vfio-pci
# device fd: the mapping keeps the device open, so the kernel does not reset
# the function when the helper dies), sends TX frames, SIGKILLs the helper,
# and once the vhost-user connection closed posts more TX frames and kicks
# through the page, as QEMU's guest may while QEMU completes its TX entries
# itself. The helper's sentinel must have stopped the function before the
# connection closed: none of them is used (kv-irq) nor reaches kv-peer.
echo "GUEST step: helper killed under host notifiers"
crash_check() {
	local vm=kv-crash n_tx=32 st out sent=? bad=? said i
	helper_up crash-notifier "$vm" "generic-virtio=1,sw-live-migration=1" || return
	timeout -s KILL 60 "$KV_IRQ" --socket "$w/$vm.sock" --helper-log "$w/$vm.log" \
		--host-notifier map --tx "$n_tx" --frames 0 --kill-helper "$helper_pid" \
		> "$w/crash-irq.log" 2>&1
	st=$?
	out=$(sed 's/^kv-irq: //' "$w/crash-irq.log" | oneline)
	kill -KILL "$helper_pid" 2>/dev/null
	wait "$helper_pid" 2>/dev/null
	helper_pid=
	# kv-irq waited a second after its last kick: what the function sent
	# is at kv-peer by now (its count only grows past n_tx if it sent more)
	ctl gen-count && read -r _ sent _ bad <<< "$reply"
	for ((i = 0; i < 50; i++)); do
		said=$(grep -a 'ifcvf-helper sentinel' "$w/$vm.log" | oneline)
		[ -n "$said" ] && break
		sleep 0.1
	done
	if [ "$st" -eq 0 ] && [ "$sent" = "$n_tx" ] && [ "$bad" = 0 ] &&
	   [[ "$said" == *"VF pci:$KV_VF stopped"*"1 vhost-user connection closed after that"* ]]; then
		result crash-notifier ok "kv-irq: $out; kv-peer got $sent frames, exactly the $n_tx sent before the kill (bad $bad); $said"
	else
		result crash-notifier fail "kv-irq (exit $st): $out; kv-peer got $sent frames in order for the $n_tx sent before the kill (bad $bad); sentinel: ${said:-said nothing}"
	fi
}
t0=$SECONDS
crash_check
echo "GUEST helper killed under host notifiers: took $((SECONDS - t0)) s"
grep -v '^EAL\|^TELEMETRY' "$w/kv-crash.log" 2>/dev/null | sed 's/^/GUEST   /' | tail -6

# ---- live migration: the software relay switched on and off under traffic ----
echo "GUEST step: live migration"
rm -rf /tmp/ifcvf-lm-*
timeout -s KILL 300 "$KV_MIGRATION_TEST" --device="pci:$KV_VF" --port-options=generic-virtio=1 \
	--feed="$KV_SRC/tests/kernel-vfio/guest-feed.sh" > "$w/lm.log" 2>&1
st=$?
sed 's/^/GUEST lm: /' "$w/lm.log" | grep -v '^GUEST lm: # \(spawn\|feed\)' | tail -60
# frames the test asked for and did not take (none when it passed)
ctl flush
left=${reply#flushed }
if [ "$st" -eq 0 ] && grep -q '^ok 1 /migration/device/sw' "$w/lm.log" && [ "$left" = 0 ]; then
	result lm ok "/migration/device/sw: direct, relay on (function reset, indices translated), logging, rollback (still relayed, unlogged), relay on again, new log, new callfd, RX off/on, stop with every written page logged, a destination helper resuming at the source's indices, no frame duplicated or out of order; $(grep -o 'frames lost at function resets: [0-9]*' "$w/lm.log" | head -1) (QEMU's socket dropped none: the function dropped them while it was reset and re-programmed)"
else
	# a test that died leaves its helper's log behind
	why=
	for f in /tmp/ifcvf-lm-*/helper.log; do
		[ -f "$f" ] || continue
		sed 's/^/GUEST lm helper: /' "$f" | tail -30
		why="$why $(grep -m1 'WARNING' "$f" | sed 's/.*WARNING \*\*: [0-9:.]*: //')"
	done
	result lm fail "migration-test exited $st: $(grep -m1 -i 'error\|not ok\|Bail' "$w/lm.log" | oneline); helper:${why:- nothing}; $left frames not taken"
fi

# ---- multiqueue: QEMU's virtio-net-pci,mq=on with 2 pairs ----
# testpmd (virtio-user, 2 queues, its own control queue) generates flows on
# both TX queues and counts what comes back on each RX queue: the tap
# returns a frame on the queue it came by, so RX queue k receives only if
# the function runs pair k, i.e. if the helper told it, on the function's
# control queue, that 2 pairs run (VQ_PAIRS_SET; it runs 1 pair until then)
echo "GUEST step: multiqueue"
q_stat() { # QUEUE FIELD: from the last "Forward Stats for RX Port= 0/Queue= Q" block
	grep -a -A1 "Queue= *$1 -> TX Port= *0/Queue= *$1" "$tp_log" | tail -1 |
		grep -o "$2: *[0-9]*" | grep -o '[0-9]*$'
}
mq_check() {
	local facts pairs r0 r1 t0 t1
	if ! bind_vfio "$KV_MQ"; then
		result mq fail "cannot bind $KV_MQ to vfio-pci (driver: $(driver_of "$KV_MQ"))"
		return
	fi
	if ! probe mq "pci:$KV_MQ" --devargs generic-virtio=1,sw-live-migration=1; then
		result mq fail "probe exited $?: $(oneline < "$w/mq.err")"
		return
	fi
	pairs=$(json_field "$w/mq.json" queue_pairs)
	facts="probe: queue_pairs $pairs, msix $(json_field "$w/mq.json" msix_vectors)"
	if ! helper_start mq "generic-virtio=1,sw-live-migration=1,queue-pairs=2" "$KV_MQ" \
		${bus_pid:+6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d}; then
		result mq fail "$facts; the helper did not start: $(grep -v '^EAL\|^TELEMETRY' "$w/mq.log" | tail -3 | oneline)"
		helper_stop
		return
	fi
	if ! tp_start tpmq "$w/mq.sock" flowgen 2 cq=1; then
		result mq fail "$facts; testpmd did not start: $(tail -3 "$tp_log" | oneline)"
		helper_stop
		return
	fi
	if ! wait_log "$w/mq.log" "running: 4 of 4 vrings enabled" 60; then
		result mq fail "$facts; the port did not run both pairs: $(grep -v '^EAL\|^TELEMETRY' "$w/mq.log" | tail -3 | oneline)"
		tp_quit
		helper_stop
		return
	fi
	tp_cmd start
	sleep 10
	tp_cmd stop
	wait_log "$tp_log" "Done." 30
	r0=$(q_stat 0 RX-packets); r1=$(q_stat 1 RX-packets)
	t0=$(q_stat 0 TX-packets); t1=$(q_stat 1 TX-packets)
	facts="$facts; pair 0 sent ${t0:-?} received ${r0:-?}, pair 1 sent ${t1:-?} received ${r1:-?}"
	tp_quit || echo "GUEST testpmd (flowgen) did not quit cleanly"
	t0=$SECONDS
	hn_fallback_check
	echo "GUEST host-notifier fallback took $((SECONDS - t0)) s"
	if helper_stop; then facts="$facts; the helper exited 0"; else facts="$facts; the helper did not exit cleanly"; fi
	if [ "$pairs" = 2 ] && [ "${t0:-0}" -gt 0 ] && [ "${t1:-0}" -gt 0 ] &&
	   [ "${r0:-0}" -gt 0 ] && [ "${r1:-0}" -gt 0 ] && [[ "$facts" == *"exited 0" ]]; then
		result mq ok "$facts"
	else
		result mq fail "$facts: $(grep -i 'warn\|fail\|pairs' "$w/mq.log" | tail -3 | oneline)"
	fi
}
# host-notifier-fallback: a frontend asking for host notifiers on this
# function (QEMU's default notify multiplier: every queue's doorbell 4 bytes
# after the previous one, in one page) gets none; the helper says why in one
# line and relays its kicks, and frames flow
fallback_done=
hn_fallback_check() {
	local from before after kicks n_tx=100 why st facts
	fallback_done=yes
	if [ -z "$bus_pid" ]; then
		result host-notifier-fallback fail "no D-Bus: $(oneline < "$w/bus.log")"
		return
	fi
	"$KV_IFCVFCTL" --bus "$kv_bus" stats mq 0 > "$w/fb-before.stats" 2>&1
	before=$(kicks_relayed "$w/fb-before.stats")
	from=$(stat -c %s "$w/mq.log")
	timeout -s KILL 120 "$KV_IRQ" --socket "$w/mq.sock" --helper-log "$w/mq.log" \
		--host-notifier offer --tx "$n_tx" --frames 0 \
		--exec "$(hn_dbus mq "vring 0 relay, vring 1 relay" "$w/fb" "${before:-0}")" \
		> "$w/fb-irq.log" 2>&1
	st=$?
	kicks=$(grep -o 'Kicks: .*' "$w/fb.status" 2>/dev/null | sed 's/Kicks: *//')
	after=$(kicks_relayed "$w/fb.stats")
	why=$(tail -c +"$((from + 1))" "$w/mq.log" | grep 'host notifiers: ')
	facts="kv-irq: $(sed 's/^kv-irq: //' "$w/fb-irq.log" | oneline); D-Bus: Kicks: ${kicks:-?}, kicks-relayed ${before:-?} -> ${after:-?}; the helper said: $(sed 's/.*host notifiers: //' <<< "$why" | oneline)"
	if [ "$st" -eq 0 ] && [ "$kicks" = "vring 0 relay, vring 1 relay" ] &&
	   [ "${after:-0}" -gt "${before:-0}" ] && [ "$(grep -c . <<< "$why")" -eq 1 ] &&
	   [[ "$why" == *"notify_off_multiplier 4 does not put each queue's doorbell on its own 4096-byte page; kicks go through the relay" ]]; then
		result host-notifier-fallback ok "$facts"
	else
		result host-notifier-fallback fail "$facts"
	fi
}
mq_check
[ -n "$fallback_done" ] || result host-notifier-fallback fail "the multiqueue function's helper did not run for it"
echo "GUEST helper log (multiqueue):"
grep -v '^EAL\|^TELEMETRY' "$w/mq.log" 2>/dev/null | sed 's/^/GUEST   /' | tail -20

# ---- release and take again ----
echo "GUEST step: release"
if helper_start rel "generic-virtio=1,sw-live-migration=1"; then
	probe busy "pci:$KV_VF" --devargs generic-virtio=1,sw-live-migration=1
	st=$?
	msg=$(oneline < "$w/busy.err")
	holders=$(vfio_holders "$vf_group")
	cmd=$(command_register "$KV_VF")
	# the helper holds the function with memory decoding and bus mastering on
	if [ "$st" -eq 1 ] && [[ "$msg" == *"pci:$KV_VF"*"busy"* ]] && [ "$holders" = "$helper_pid " ] &&
	   [ $((0x$cmd & 0x6)) -eq 6 ]; then
		result busy ok "while the helper (pid $helper_pid) holds group $vf_group (PCI command 0x$cmd: memory and bus master on): exit 1: $msg"
	else
		result busy fail "exit $st: $msg (holders of /dev/vfio/$vf_group: $holders, helper $helper_pid, PCI command 0x$cmd)"
	fi
	if helper_stop && [ -z "$(vfio_holders "$vf_group")" ] &&
	   [ $((0x$(command_register "$KV_VF") & 0x4)) -eq 0 ]; then
		result release ok "the helper exited 0, nothing holds /dev/vfio/$vf_group, bus mastering is off (PCI command 0x$(command_register "$KV_VF"))"
	else
		result release fail "helper exit, holders left ($(vfio_holders "$vf_group")) or PCI command 0x$(command_register "$KV_VF"): $(tail -3 "$w/rel.log" | oneline)"
	fi
else
	result busy fail "the helper did not start: $(tail -5 "$w/rel.log" | oneline)"
	result release fail "the helper did not start"
	helper_stop
fi
ok_n=0
for i in 1 2 3; do
	probe reprobe "pci:$KV_VF" --devargs generic-virtio=1,sw-live-migration=1 && ok_n=$((ok_n + 1))
done
if [ "$ok_n" -eq 3 ] && grep -q '"device" : "0x1041"' "$w/reprobe.json"; then
	result reprobe ok "the same function probed 3 times after the helper released it"
else
	result reprobe fail "$ok_n of 3 probes after release: $(oneline < "$w/reprobe.err")"
fi

# ---- the helper's errors ----
echo "GUEST step: errors"
expect_error() { # NAME DEVICE PATTERN: probe and run each fail with one line
	local name=$1 dev=$2 pattern=$3 st msg
	probe "$name" "pci:$dev" --devargs generic-virtio=1,sw-live-migration=1
	st=$?
	msg=$(oneline < "$w/$name.err")
	if [ "$st" -eq 1 ] && [ "$(wc -l < "$w/$name.err")" -eq 1 ] && [[ "$msg" == *"pci:$dev"*$pattern* ]]; then
		result "$name" ok "probe exit 1: $msg"
	else
		result "$name" fail "probe exit $st: $msg"
	fi
	timeout -s KILL 60 "$KV_HELPER" run --bus none \
		--port "device=pci:$dev,socket=$w/$name.sock,generic-virtio=1,sw-live-migration=1" \
		> "$w/$name-run.log" 2>&1
	st=$?
	msg=$(grep -v '^EAL\|^TELEMETRY\|^$' "$w/$name-run.log" | oneline)
	if [ "$st" -eq 1 ] && [ "$(grep -cv '^EAL\|^TELEMETRY\|^$' "$w/$name-run.log")" -eq 1 ] &&
	   [[ "$msg" == *"pci:$dev"*$pattern* ]] && [ ! -e "$w/$name.sock" ]; then
		result "$name-run" ok "run exit 1: $msg"
	else
		result "$name-run" fail "run exit $st: $msg"
	fi
}
expect_error err-other-driver "$KV_OTHER" "bound to virtio-pci"
expect_error err-not-viable "$KV_GROUP_A" "group $(group_of "$KV_GROUP_A") is not viable"

# /dev/vfio missing: the transport's directory pointed at an empty one
mkdir -p "$w/no-vfio"
IFCVF_VFIO_DEV_DIR=$w/no-vfio probe no-vfio "pci:$KV_VF" --devargs generic-virtio=1,sw-live-migration=1
st=$?
msg=$(oneline < "$w/no-vfio.err")
if [ "$st" -eq 1 ] && [[ "$msg" == *"pci:$KV_VF"*"$w/no-vfio/vfio does not exist"* ]]; then
	result err-no-vfio ok "exit 1: $msg"
else
	result err-no-vfio fail "exit $st: $msg"
fi

# no permission: an unprivileged user cannot open the group
timeout -s KILL 60 setpriv --reuid=65534 --regid=65534 --clear-groups "$KV_HELPER" probe "pci:$KV_VF" \
	--devargs generic-virtio=1,sw-live-migration=1 > "$w/perm.json" 2> "$w/perm.err"
st=$?
msg=$(oneline < "$w/perm.err")
if [ "$st" -eq 1 ] && [[ "$msg" == *"pci:$KV_VF"*"permission denied"*"/dev/vfio/"* ]]; then
	result err-permission ok "exit 1 as uid 65534: $msg"
else
	result err-permission fail "exit $st as uid 65534: $msg"
fi

# ---- hot removal: QEMU's device_del of a function the helper holds ----
# While testpmd transmits through the port (vrings running, guest memory
# DMA-mapped, MSI-X bound), the kernel asks the helper for the function back
# (the vfio-pci request interrupt); the helper fails the port with the
# reason and closes it, the removal completes, the helper goes on
# (re-attaching with back-off).
echo "GUEST step: hot-remove"
hot_remove_check() {
	local pid t0 t1 reason
	if [ ! -e "/sys/bus/pci/devices/$KV_HOT" ] || ! bind_vfio "$KV_HOT"; then
		result hot-remove fail "cannot bind $KV_HOT to vfio-pci (driver $(driver_of "$KV_HOT"))"
		return
	fi
	if ! helper_start hot "generic-virtio=1,sw-live-migration=1" "$KV_HOT"; then
		result hot-remove fail "the helper did not start: $(tail -3 "$w/hot.log" | oneline)"
		helper_stop
		return
	fi
	pid=$helper_pid
	if ! tp_start tphot "$w/hot.sock" txonly; then
		result hot-remove fail "testpmd did not start: $(tail -3 "$tp_log" | oneline)"
		tp_quit
		helper_stop
		return
	fi
	tp_cmd "set txpkts 64"
	tp_cmd start
	if ! wait_log "$w/hot.log" "running: " 60; then
		result hot-remove fail "the port did not run for testpmd: $(grep -v '^EAL\|^TELEMETRY' "$w/hot.log" | tail -3 | oneline)"
		tp_quit
		helper_stop
		return
	fi
	sleep 1
	t0=$(date +%s)
	if ! ctl device_del hot; then
		result hot-remove fail "device_del: $reply"
		tp_quit
		helper_stop
		return
	fi
	wait_log "$w/hot.log" "failed: " 60
	reason=$(grep -m1 "failed: " "$w/hot.log" | sed 's/.*failed: //' | cut -c1-160)
	for ((i = 0; i < 300; i++)); do [ -e "/sys/bus/pci/devices/$KV_HOT" ] || break; sleep 0.2; done
	t1=$(date +%s)
	tp_quit
	if [ -e "/sys/bus/pci/devices/$KV_HOT" ]; then
		result hot-remove fail "$KV_HOT still present 60 s after device_del (port: ${reason:-not failed}; $(dmesg | grep -i 'vfio' | tail -2 | oneline))"
	elif [ -z "$reason" ]; then
		result hot-remove fail "$KV_HOT removed, but the port was not failed: $(grep -v '^EAL\|^TELEMETRY' "$w/hot.log" | tail -3 | oneline)"
	elif ! kill -0 "$pid" 2>/dev/null; then
		result hot-remove fail "$KV_HOT removed, the port failed ($reason), but the helper exited: $(tail -3 "$w/hot.log" | oneline)"
	elif ! helper_stop; then
		result hot-remove fail "$KV_HOT removed, port failed ($reason), but the helper did not exit 0 on SIGTERM"
	else
		result hot-remove ok "$KV_HOT removed $((t1 - t0)) s after device_del under testpmd's traffic; the port failed ($reason); the helper kept running and exited 0 on SIGTERM"
	fi
	echo "GUEST helper log (hot removal):"
	grep -v '^EAL\|^TELEMETRY' "$w/hot.log" 2>/dev/null | sed 's/^/GUEST   /' | tail -12
	dmesg | grep -i 'vfio\|pciehp\|02:00' | tail -8 | sed 's/^/GUEST dmesg: /'
}
hot_remove_check

[ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null
exit $failed

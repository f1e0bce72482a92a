#!/usr/bin/env bash
# The bash completions of data/bash-completion, sourced into this bash and
# called as bash calls them (COMP_LINE, COMP_POINT, COMP_WORDS, COMP_CWORD,
# then COMPREPLY read back): ifcvfctl's commands, options, --bus values and
# the VMs that a real helper (on a private dbus-daemon, its VF an ifcvf-emu)
# publishes; ifcvf-helper's subcommands, options, --port and --devargs keys
# (as bash splits a word at '=' and ':'), hook operations.
# Environment (tests/package/meson.build): COMPLETION_DIR, IFCVFCTL,
# IFCVF_HELPER, IFCVF_EMU.
set -u
. "$(dirname "$0")/../lib/tap.sh"

for v in COMPLETION_DIR IFCVFCTL IFCVF_HELPER IFCVF_EMU; do
	[ -n "${!v:-}" ] || bail "$v is not set: run through meson test"
done
command -v dbus-daemon >/dev/null || bail "dbus-daemon is missing (dbus)"
tmp=$(mktemp -d /tmp/ifcvf-compl.XXXXXX)
pids=()
finish() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap finish EXIT

# the completion calls the command by the name typed: the build's ifcvfctl
mkdir "$tmp/bin"
ln -s "$IFCVFCTL" "$tmp/bin/ifcvfctl"
PATH=$tmp/bin:$PATH
. "$COMPLETION_DIR/ifcvfctl" || bail "cannot source the ifcvfctl completion"
. "$COMPLETION_DIR/ifcvf-helper" || bail "cannot source the ifcvf-helper completion"
COMP_WORDBREAKS=$' \t\n"\'><=;|&(:'     # bash's default

echo "1..19"

# complete LINE: what bash offers with the cursor at the end of LINE
complete() {
	local line=$1 fn
	COMP_LINE=$line
	COMP_POINT=${#line}
	# bash's own split: blanks separate, '=' and ':' are words of their own
	read -r -a COMP_WORDS <<< "$(sed 's/[=:]/ & /g' <<< "$line")"
	[[ $line == *[[:blank:]=:] ]] && COMP_WORDS+=("")
	COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
	fn=$(complete_fn "${COMP_WORDS[0]}")
	COMPREPLY=()
	"$fn" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]:-}"
	printf '%s\n' "${COMPREPLY[@]}" | sort
}
complete_fn() { builtin complete -p "$1" | sed -E 's/.*-F ([^ ]+) .*/\1/'; }
# offers LINE EXPECTED...: exactly EXPECTED (in any order)
offers() {
	local line=$1 got want
	shift
	got=$(complete "$line")
	want=$(printf '%s\n' "$@" | sort)
	[ "$got" = "$want" ] && return 0
	echo "'$line<TAB>' offered: $(tr '\n' ' ' <<< "$got")"
	echo "expected: $*"
	return 1
}
# includes LINE WORD...: at least each WORD
includes() {
	local line=$1 got w
	shift
	got=$(complete "$line")
	for w in "$@"; do
		grep -qxF -- "$w" <<< "$got" || { echo "'$line<TAB>' offered: $(tr '\n' ' ' <<< "$got") (no '$w')"; return 1; }
	done
}

# ---- ifcvfctl ---------------------------------------------------------------
check "ifcvfctl: the registered function is _ifcvfctl" [ "$(complete_fn ifcvfctl)" = _ifcvfctl ]
check "ifcvfctl <TAB>: the commands" offers "ifcvfctl " list status stats watch set-lm-mode
check "ifcvfctl st<TAB>: status, stats" offers "ifcvfctl st" status stats
check "ifcvfctl --j<TAB>: --json" offers "ifcvfctl --j" --json
check "ifcvfctl --bus <TAB>: system, session" offers "ifcvfctl --bus " system session
check "ifcvfctl --bus=s<TAB>: the values, without the part bash split off" \
	offers "ifcvfctl --bus=s" system session

# a VM served on a private bus
addr=unix:path=$tmp/bus.sock
dbus-daemon --session --address="$addr" --nofork --nopidfile > "$tmp/bus.log" 2>&1 &
pids+=($!)
"$IFCVF_EMU" --socket "$tmp/vf.sock" > "$tmp/emu.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$tmp/bus.sock" ] && [ -S "$tmp/vf.sock" ] && break; sleep 0.1; done
[ -S "$tmp/bus.sock" ] || bail "dbus-daemon did not start: $(cat "$tmp/bus.log")"
[ -S "$tmp/vf.sock" ] || bail "ifcvf-emu did not start: $(cat "$tmp/emu.log")"
uuid=8f0c6a52-1c4e-4a7b-9d2e-5b3c1a0f9e71
"$IFCVF_HELPER" run --bus "$addr" --uuid "$uuid" --name compl-vm \
	--port "device=vfio-user:$tmp/vf.sock,socket=$tmp/vu.sock" > "$tmp/helper.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do
	"$IFCVFCTL" --bus "$addr" list 2>/dev/null | grep -q compl-vm && break
	kill -0 "${pids[-1]}" 2>/dev/null || break
	sleep 0.1
done
"$IFCVFCTL" --bus "$addr" list 2>/dev/null | grep -q compl-vm \
	|| bail "the helper did not show on the bus: $(tail -3 "$tmp/helper.log")"

check "ifcvfctl --bus ADDR status <TAB>: the VM on that bus, name and UUID" \
	offers "ifcvfctl --bus $addr status " compl-vm "$uuid"
check "ifcvfctl --bus=ADDR watch com<TAB>: the VM" offers "ifcvfctl --bus=$addr watch com" compl-vm
check "ifcvfctl --bus ADDR set-lm-mode compl-vm 0 <TAB>: hw, sw" \
	offers "ifcvfctl --bus $addr set-lm-mode compl-vm 0 " hw sw
check "ifcvfctl on a bus nobody answers on: no VM, no noise" \
	offers "ifcvfctl --bus unix:path=$tmp/none.sock status "

# ---- ifcvf-helper -----------------------------------------------------------
check "ifcvf-helper <TAB>: the subcommands" offers "ifcvf-helper " probe run hook
check "ifcvf-helper run --port <TAB>: the port keys" \
	offers "ifcvf-helper run --port " device= socket= client sw-live-migration=1 generic-virtio=1 queue-pairs=
check "ifcvf-helper run --port device=vfio-user:/x,so<TAB>: socket= after the last ':'" \
	offers "ifcvf-helper run --port device=vfio-user:/x,so" "/x,socket="
check "ifcvf-helper run --port=device=v,<TAB>: the keys not given yet" \
	offers "ifcvf-helper run --port=device=v," "v,socket=" "v,client" "v,sw-live-migration=1" "v,generic-virtio=1" "v,queue-pairs="
check "ifcvf-helper run --<TAB>: the options of run" \
	includes "ifcvf-helper run --" --port --uuid= --name= --bus= --libvirt-uri= --verbose
check "ifcvf-helper probe --devargs <TAB>: the devargs keys" \
	offers "ifcvf-helper probe --devargs " sw-live-migration= generic-virtio=
check "ifcvf-helper probe vfio<TAB>: vfio-user:" offers "ifcvf-helper probe vfio" vfio-user:
check "ifcvf-helper hook <TAB>: exec and the operations" \
	offers "ifcvf-helper hook " exec prepare release migrate reconnect --help
check "ifcvf-helper hook vm1 release <TAB>: end" offers "ifcvf-helper hook vm1 release " end

exit "$tap_failed"

#!/usr/bin/env bash
# The man pages the build made from doc/*.scd: `man --warnings` renders each
# without a warning, and each says what the program's own --help says: every
# subcommand and option, ifcvf-helper's --port and --devargs keys, the hook's
# operations, argument-file keys and environment variables, ifcvfctl's
# commands and exit statuses, ifcvf-emu's fault and wire kinds. A --help that
# grows an option the page does not have fails here.
# Environment (tests/package/meson.build): MAN_DIR (the built pages),
# IFCVF_HELPER, IFCVFCTL, IFCVF_EMU.
set -u
. "$(dirname "$0")/../lib/tap.sh"

for v in MAN_DIR IFCVF_HELPER IFCVFCTL IFCVF_EMU; do
	[ -n "${!v:-}" ] || bail "$v is not set: run through meson test"
done
command -v man >/dev/null || bail "man is missing (man-db)"
tmp=$(mktemp -d /tmp/ifcvf-man.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

pages=(ifcvf-helper.8 ifcvfctl.1 ifcvf-emu.1)
echo "1..$(( ${#pages[@]} + 13 ))"

# ---- rendering -------------------------------------------------------------
renders() { # PAGE: no warning, some text; the text goes to $tmp/PAGE.txt
	local page=$1 err
	[ -s "$MAN_DIR/$page" ] || { echo "$MAN_DIR/$page is missing"; return 1; }
	# wide, unhyphenated lines so that option names stay whole
	err=$(MANWIDTH=250 LC_ALL=C.UTF-8 man --warnings -l -P cat "$MAN_DIR/$page" 2>&1 > "$tmp/$page.txt")
	[ $? -eq 0 ] && [ -z "$err" ] && [ "$(wc -l < "$tmp/$page.txt")" -gt 20 ] && return 0
	echo "$err"
	return 1
}
for page in "${pages[@]}"; do
	check "man --warnings -l $page renders without warnings" renders "$page"
done

# section PAGE TITLE: the rendered text of one section (its heading in capitals)
section() {
	awk -v t="$2" '/^[A-Z][A-Z -]*$/ { on = ($0 == t); next } on' "$tmp/$1.txt"
}
# has_all WHAT TEXT-FILE WORD...: every WORD in the file, as a whole word
has_all() {
	local what=$1 file=$2 w missing=()
	shift 2
	[ $# -gt 0 ] || { echo "no $what found in --help: did its format change?"; return 1; }
	for w in "$@"; do
		grep -qE -- "(^|[^[:alnum:]_-])$(sed 's/[.[*^$]/\\&/g' <<< "$w")([^[:alnum:]_-]|\$)" "$file" \
			|| missing+=("$w")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "$what missing from the page: ${missing[*]}"
	return 1
}
# items WHAT TEXT WORD...: every WORD starts an item (an indented line) of TEXT
items() {
	local what=$1 text=$2 w missing=()
	shift 2
	[ $# -gt 0 ] || { echo "no $what found in --help: did its format change?"; return 1; }
	for w in "$@"; do
		grep -qE -- "^ +$(sed 's/[.[*^$]/\\&/g' <<< "$w")([=:[ ,]|\$)" <<< "$text" || missing+=("$w")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "$what missing: ${missing[*]}"
	return 1
}
long_opts() { grep -oE -- '(^|[^[:alnum:]-])--[a-z][a-z-]+' | grep -oE -- '--[a-z-]+' | sort -u; }
short_opts() { grep -oE -- '(^|[[:space:]])-[a-zA-Z],' | grep -oE -- '-[a-zA-Z]' | sort -u; }

# ---- ifcvf-helper(8) -------------------------------------------------------
h=ifcvf-helper.8
main_help=$("$IFCVF_HELPER" --help)
mapfile -t subcommands < <(sed -n '/^Commands:/,/^$/p' <<< "$main_help" | awk '/^  [a-z]/ { print $1 }')
check "ifcvf-helper(8) names every subcommand (${subcommands[*]})" \
	items "subcommands in SYNOPSIS" "$(section $h SYNOPSIS | sed 's/^ *ifcvf-helper / /')" "${subcommands[@]}"

all_help=$main_help
for c in "${subcommands[@]}"; do all_help+=$'\n'$("$IFCVF_HELPER" "$c" --help); done
mapfile -t opts < <(long_opts <<< "$all_help"; short_opts <<< "$all_help")
check "ifcvf-helper(8) has every option of every subcommand's --help (${#opts[@]})" \
	has_all options "$tmp/$h.txt" "${opts[@]}"

run_help=$("$IFCVF_HELPER" run --help)
mapfile -t port_keys < <(sed -n '/^Port keys:/,/^$/p' <<< "$run_help" | awk '/^  [a-z]/ { sub(/=.*/, "", $1); print $1 }')
check "ifcvf-helper(8) PORT KEYS has every key of run --help (${port_keys[*]})" \
	items "--port keys" "$(section $h 'PORT KEYS')" "${port_keys[@]}"

probe_help=$("$IFCVF_HELPER" probe --help)
mapfile -t devargs < <(grep -- '--devargs' <<< "$probe_help" | grep -oE '[a-z-]+=0\|1' | sed 's/=.*//')
check "ifcvf-helper(8) DEVARGS KEYS has every key of probe --help (${devargs[*]})" \
	items "--devargs keys" "$(section $h 'DEVARGS KEYS')" "${devargs[@]}"

hook_help=$("$IFCVF_HELPER" hook --help)
mapfile -t envs < <(grep -oE 'IFCVF_HELPER_[A-Z_]+' <<< "$hook_help" | sort -u)
check "ifcvf-helper(8) ENVIRONMENT has every variable of hook --help (${#envs[@]})" \
	items "variables" "$(section $h ENVIRONMENT)" "${envs[@]}"

mapfile -t ops < <(awk '/^  [a-z]+ (begin|end) / { print $1 " " $2 }' <<< "$hook_help")
mapfile -t argkeys < <(sed -n '/^  \[Helper\]/,/^$/p' <<< "$hook_help" | grep -oE '^  [A-Za-z]+=' | tr -d ' =')
check "ifcvf-helper(8) HOOK has the operations and argument-file keys (${ops[*]}; ${argkeys[*]})" \
	items "operations and keys" "$(section $h HOOK)" "${ops[@]}" "${argkeys[@]}"

exits() { # the subcommands with an exit status line in the page
	local text missing=()
	text=$(section $h 'EXIT STATUS')
	for c in "${subcommands[@]}"; do grep -qE "^ +$c: 0 " <<< "$text" || missing+=("$c"); done
	[ ${#missing[@]} -eq 0 ] || { echo "no exit status for: ${missing[*]}"; return 1; }
}
check "ifcvf-helper(8) gives each subcommand's exit statuses" exits

files_ok() {
	section $h FILES > "$tmp/files"
	has_all files "$tmp/files" /etc/libvirt/hooks/qemu.d/ifcvf-helper /etc/ifcvf-helper/ports.conf \
		/run/ifcvf-helper/ /var/log/ifcvf-helper/ ifcvf-helper@.service org.ifcvf.Helper1.conf
}
check "ifcvf-helper(8) FILES names the hook, port map, run and log dirs, unit, bus policy" files_ok

# ---- ifcvfctl(1) -----------------------------------------------------------
c=ifcvfctl.1
ctl_help=$("$IFCVFCTL" --help)
mapfile -t cmds < <(sed -n '/^Commands:/,/^$/p' <<< "$ctl_help" | awk '/^  [a-z]/ { print $1 }')
check "ifcvfctl(1) COMMANDS has every command (${cmds[*]})" items commands "$(section $c COMMANDS)" "${cmds[@]}"
mapfile -t opts < <(long_opts <<< "$ctl_help"; short_opts <<< "$ctl_help")
section $c OPTIONS > "$tmp/ctl-options"
check "ifcvfctl(1) OPTIONS has every option (${opts[*]})" has_all options "$tmp/ctl-options" "${opts[@]}"
mapfile -t codes < <(sed -n '/^Exit status:/,/^$/p' <<< "$ctl_help" | awk '/^  [0-9]/ { print $1 }')
check "ifcvfctl(1) EXIT STATUS has every code (${codes[*]})" items "exit codes" "$(section $c 'EXIT STATUS')" "${codes[@]}"

# ---- ifcvf-emu(1) ----------------------------------------------------------
e=ifcvf-emu.1
emu_help=$("$IFCVF_EMU" --help)
mapfile -t opts < <(grep -E '^  (-[a-z], )?--' <<< "$emu_help" | long_opts; short_opts <<< "$emu_help")
section $e OPTIONS > "$tmp/emu-options"
check "ifcvf-emu(1) OPTIONS has every option (${#opts[@]})" has_all options "$tmp/emu-options" "${opts[@]}"
mapfile -t kinds < <(awk '/^      [a-z]/ { k = $1; sub(/[=:[].*/, "", k); print k }' <<< "$emu_help")
check "ifcvf-emu(1) FAULTS and WIRES have every kind (${#kinds[@]})" \
	items "fault and wire kinds" "$(section $e FAULTS; section $e WIRES)" "${kinds[@]}"

exit "$tap_failed"

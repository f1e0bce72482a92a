#!/usr/bin/env bash
# Packaging: `meson install --destdir` from the build directory into a
# temporary directory must install exactly the expected files in their
# conventional places (binaries, the libvirt hook, the D-Bus policy and
# interface XML, the systemd template unit, the examples, the man pages, the
# bash completions), the hook must exec the installed binary, and the
# installed programs must run.
# Environment (set by tests/libvirt/meson.build): MESON, BUILD_ROOT and the
# install directories PREFIX, BINDIR, SYSCONFDIR, DATADIR, UNITDIR, MANDIR,
# COMPLETIONSDIR.
set -u

. "$(dirname "$0")/../lib/tap.sh"

for v in MESON BUILD_ROOT PREFIX BINDIR SYSCONFDIR DATADIR UNITDIR MANDIR COMPLETIONSDIR; do
	[ -n "${!v:-}" ] || bail "$v is not set: run through meson test"
done
dest=$(mktemp -d /tmp/ifcvf-install.XXXXXX)
trap 'rm -rf "$dest"' EXIT

echo "1..10"
# meson-logs/install-log.txt in the build dir is the only thing it writes there
"$MESON" install -C "$BUILD_ROOT" --destdir "$dest" --no-rebuild --quiet > "$dest.log" 2>&1
rc=$?
[ "$rc" -eq 0 ] || { sed 's/^/# /' "$dest.log"; rm -f "$dest.log"; bail "meson install failed ($rc)"; }
rm -f "$dest.log"
ok "meson install --destdir"

hook=$SYSCONFDIR/libvirt/hooks/qemu.d/ifcvf-helper
unit=$UNITDIR/ifcvf-helper@.service
expected=$(sort <<EOF
$BINDIR/ifcvf-emu
$BINDIR/ifcvf-helper
$BINDIR/ifcvfctl
$hook
$DATADIR/dbus-1/interfaces/org.ifcvf.Helper1.Domain.xml
$DATADIR/dbus-1/interfaces/org.ifcvf.Helper1.Port.xml
$DATADIR/dbus-1/system.d/org.ifcvf.Helper1.conf
$DATADIR/doc/ifcvf-helper/examples/domain-metadata.xml
$DATADIR/doc/ifcvf-helper/examples/ports.conf
$DATADIR/polkit-1/actions/org.ifcvf.helper1.policy
$unit
$MANDIR/man8/ifcvf-helper.8
$MANDIR/man1/ifcvfctl.1
$MANDIR/man1/ifcvf-emu.1
$COMPLETIONSDIR/ifcvfctl
$COMPLETIONSDIR/ifcvf-helper
EOF
)
installed=$(cd "$dest" && find . \( -type f -o -type l \) | sed 's|^\.||' | sort)
same_files() {
	[ "$installed" = "$expected" ] && return 0
	diff <(echo "$expected") <(echo "$installed") | sed 's/^/# /'
	return 1
}
check "exactly the expected files, under $PREFIX" same_files

hook_execs_binary() {
	[ -x "$dest$hook" ] && sh -n "$dest$hook" &&
		grep -qx "exec $BINDIR/ifcvf-helper hook \"\$@\"" "$dest$hook" &&
		[ -x "$dest$BINDIR/ifcvf-helper" ]
}
check "the hook is executable and execs $BINDIR/ifcvf-helper hook" hook_execs_binary

# the hook script, pointed into the destdir, reaches the installed binary with its arguments
hook_runs() {
	sed "s|$BINDIR/|$dest$BINDIR/|" "$dest$hook" > "$dest/hook-test"
	sh "$dest/hook-test" --help | grep -q '^Usage: ifcvf-helper hook'
}
check "the installed hook runs the installed helper" hook_runs
rm -f "$dest/hook-test"

runs() { "$@" > /dev/null; }
check "the installed ifcvfctl runs" runs "$dest$BINDIR/ifcvfctl" --help
check "the installed ifcvf-emu runs" runs "$dest$BINDIR/ifcvf-emu" --help

unit_ok() {
	grep -qx "ExecStart=$BINDIR/ifcvf-helper hook exec /run/ifcvf-helper/%i.args" "$dest$unit" &&
		grep -qx "Type=exec" "$dest$unit" && ! grep -q '@[a-z]*@' "$dest$unit"
}
check "the template unit runs the installed binary" unit_ok

xml_ok() { # python3 comes with meson
	python3 -c 'import sys, xml.dom.minidom
for f in sys.argv[1:]: xml.dom.minidom.parse(f)' \
		"$dest$DATADIR/dbus-1/system.d/org.ifcvf.Helper1.conf" \
		"$dest$DATADIR/polkit-1/actions/org.ifcvf.helper1.policy" \
		"$dest$DATADIR/dbus-1/interfaces/"*.xml \
		"$dest$DATADIR/doc/ifcvf-helper/examples/domain-metadata.xml"
}
check "the installed XML is well-formed" xml_ok

man_ok() { # each installed page renders, found by name through MANPATH
	local p err
	for p in ifcvf-helper.8 ifcvfctl.1 ifcvf-emu.1; do
		err=$(MANPATH=$dest$MANDIR man --warnings "${p##*.}" "${p%.*}" 2>&1 > /dev/null) || { echo "$p: $err"; return 1; }
		[ -z "$err" ] || { echo "$p: $err"; return 1; }
	done
}
check "the installed man pages render (man --warnings SECTION NAME)" man_ok

completion_ok() { # sourced, each registers a function for its command
	bash -c '. "$1/ifcvfctl" && . "$1/ifcvf-helper" &&
		complete -p ifcvfctl | grep -q -- "-F _ifcvfctl ifcvfctl$" &&
		complete -p ifcvf-helper | grep -q -- "-F _ifcvf_helper ifcvf-helper$"' \
		_ "$dest$COMPLETIONSDIR"
}
check "the installed completions register for ifcvfctl and ifcvf-helper" completion_ok

exit "$tap_failed"

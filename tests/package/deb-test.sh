#!/usr/bin/env bash
# The Debian package as a user gets it: scripts/build-deb builds
# ifcvf-helper_<version>_<arch>.deb (kept in BUILD_ROOT/deb); lintian finds no
# error; its files are exactly what `meson install` installs with the
# package's configuration (--prefix=/usr --sysconfdir=/etc), plus the Debian
# docs; its maintainer scripts start, restart and ask nothing. Then
# `apt-get install ./ifcvf-helper_*.deb`: the programs, man pages and
# completions work from where the package put them, and the libvirt suite's
# tests of installed files run once against the installed package
# (IFCVF_INSTALLED=1): libvirt-test.sh (the system libvirtd and the
# package's hook), libvirt-migrate-test.sh (two libvirtd hosts, virsh
# migrate), hook-systemd-test.sh (the package's hook under a real systemd).
# The suite's other two stay on the build tree: libvirt-watch is a C test
# linked with the build's code (no installed file in it), and install-test.sh
# checks `meson install` itself (this test holds the package's file list
# against meson's). Last `apt-get purge`: the machine is as before.
# Needs root; restarts libvirtd (through the libvirt test). Refuses to run
# where ifcvf-helper is installed already (it would purge it).
# Environment (tests/package/meson.build): SOURCE_ROOT, BUILD_ROOT, VERSION.
set -u
. "$(dirname "$0")/../lib/tap.sh"

for v in SOURCE_ROOT BUILD_ROOT VERSION; do
	[ -n "${!v:-}" ] || bail "$v is not set: run through meson test"
done
[ "$(id -u)" -eq 0 ] || bail "the package test needs root (apt-get install, libvirtd)"
for tool in dpkg-buildpackage lintian apt-get meson; do
	command -v "$tool" >/dev/null || bail "$tool is missing: scripts/deps.sh installs it"
done
pkg=ifcvf-helper
if dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -qv '^not-installed$'; then
	bail "$pkg is installed on this machine: this test installs and purges its own"
fi
for f in /usr/bin/ifcvf-helper /etc/libvirt/hooks/qemu.d/ifcvf-helper; do
	[ -e "$f" ] && bail "$f exists (installed by hand?): the package would replace it and purge would remove it"
done

arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb_dir=$BUILD_ROOT/deb
deb=$deb_dir/${pkg}_${VERSION}_$arch.deb
tmp=$(mktemp -d /tmp/ifcvf-deb-test.XXXXXX)
installed=
# the hook's run-time directories as earlier tests left them (the build
# tree's libvirt test writes there too) go aside while the package owns the
# machine: its purge removes them, as it should; they come back at the end
aside=$(mktemp -d /var/tmp/ifcvf-deb-aside.XXXXXX)
for d in /var/log/ifcvf-helper /run/ifcvf-helper; do
	[ -e "$d" ] && mkdir -p "$aside$(dirname "$d")" && mv "$d" "$aside$d"
done
finish() {
	[ -n "$installed" ] && DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "$pkg" > /dev/null 2>&1
	for d in /var/log/ifcvf-helper /run/ifcvf-helper; do
		[ -e "$aside$d" ] && rm -rf "$d" && mv "$aside$d" "$d"
	done
	rm -rf "$tmp" "$aside"
}
trap finish EXIT

# what the machine has, before, where the package and its helpers write
# (the helpers' own directories whole; in the shared ones, what they hold:
# dpkg removes an empty directory the package listed, which is how it is)
state() {
	for d in /var/log/ifcvf-helper /run/ifcvf-helper; do
		if [ -e "$d" ]; then find "$d" | sort; else echo "no $d"; fi
	done
	find /etc/ifcvf-helper /etc/libvirt/hooks /usr/share/dbus-1/system.d \
		/usr/share/polkit-1/actions -mindepth 1 ! -type d 2>/dev/null | sort
}
state > "$tmp/state.before"

echo "1..14"

# ---- build, lintian -----------------------------------------------------------
rm -rf "$deb_dir"
built() {
	"$SOURCE_ROOT/scripts/build-deb" "$deb_dir" > "$tmp/build.out" 2>&1 || { tail -30 "$tmp/build.out"; return 1; }
	[ -f "$deb" ] || { ls "$deb_dir"; echo "no $deb"; return 1; }
}
check "scripts/build-deb builds ${deb##*/} (the version of meson.build)" built
[ -f "$deb" ] || bail "no package to test"

lintian_clean() {
	lintian --pedantic "$deb_dir/${pkg}_${VERSION}_$arch.changes" > "$tmp/lintian" 2>&1
	local st=$?
	grep -v 'running with root privileges' "$tmp/lintian"
	[ $st -eq 0 ] && ! grep -q '^E:' "$tmp/lintian"
}
check "lintian reports no error" lintian_clean

# ---- contents -------------------------------------------------------------------
same_files() {
	# meson's install list, configured as debian/rules configures it
	meson setup "$tmp/cfg" "$SOURCE_ROOT" --prefix=/usr --sysconfdir=/etc --localstatedir=/var \
		-Dbash-completion-dir=/usr/share/bash-completion/completions > "$tmp/cfg.log" 2>&1 \
		|| { tail -5 "$tmp/cfg.log"; return 1; }
	meson introspect "$tmp/cfg" --installed | python3 -c '
import json, sys
for dest in json.load(sys.stdin).values():
    # dh_installman compresses the pages
    print(dest + ".gz" if "/share/man/man" in dest else dest)' > "$tmp/expected"
	printf '%s\n' /usr/share/doc/$pkg/README.Debian /usr/share/doc/$pkg/changelog.gz \
		/usr/share/doc/$pkg/copyright /usr/share/lintian/overrides/$pkg >> "$tmp/expected"
	sort -o "$tmp/expected" "$tmp/expected"
	dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { print $6 }' | sed 's|^\./|/|' | sort > "$tmp/packaged"
	diff "$tmp/expected" "$tmp/packaged" && [ -s "$tmp/packaged" ]
}
check "the package holds exactly meson's install list (+ README.Debian, changelog, copyright, lintian overrides)" same_files

quiet_scripts() {
	dpkg-deb -e "$deb" "$tmp/control" || return 1
	local f bad=0
	for f in "$tmp"/control/{preinst,postinst,prerm,postrm}; do
		[ -f "$f" ] || continue
		# what is said (echo) or explained (#) does not run
		if grep -vE '^[[:space:]]*(#|echo )' "$f" |
			grep -nE 'deb-systemd-invoke|invoke-rc\.d|systemctl|service |db_(input|go)|\bread\b|kill'; then
			echo "${f##*/} starts, stops or asks something"
			bad=1
		fi
	done
	return $bad
}
check "the maintainer scripts restart and ask nothing" quiet_scripts

# ---- installed --------------------------------------------------------------------
install_deb() {
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$deb" \
		< /dev/null > "$tmp/install.out" 2>&1
	local st=$?
	installed=1
	grep -A3 '^ifcvf-helper:' "$tmp/install.out"
	[ $st -eq 0 ] || { tail -20 "$tmp/install.out"; return 1; }
	dpkg-query -W -f='${db:Status-Status} ${Version}\n' "$pkg" | grep -qx "installed $VERSION" &&
		grep -q 'restart libvirtd' "$tmp/install.out"
}
check "apt-get install ./${deb##*/}: installed, and says to restart libvirtd" install_deb

programs_run() {
	[ "$(/usr/bin/ifcvf-helper --version)" = "ifcvf-helper $VERSION" ] &&
		/usr/bin/ifcvfctl --help > /dev/null && /usr/bin/ifcvf-emu --help > /dev/null &&
		/etc/libvirt/hooks/qemu.d/ifcvf-helper --help | grep -q '^Usage: ifcvf-helper hook'
}
check "the installed programs and hook run" programs_run

man_found() {
	local p err
	for p in 8:ifcvf-helper 1:ifcvfctl 1:ifcvf-emu; do
		man -w "${p%%:*}" "${p#*:}" | grep -qx "/usr/share/man/man${p%%:*}/${p#*:}.${p%%:*}.gz" ||
			{ echo "man -w ${p#*:}: $(man -w "${p%%:*}" "${p#*:}" 2>&1)"; return 1; }
		err=$(man --warnings "${p%%:*}" "${p#*:}" 2>&1 > /dev/null)
		[ -z "$err" ] || { echo "$err"; return 1; }
	done
}
check "man finds and renders the installed pages without warnings" man_found

completion_loads() { # as an interactive bash loads it: bash-completion, on first use
	bash -c '. /usr/share/bash-completion/bash_completion
		__load_completion ifcvfctl && __load_completion ifcvf-helper &&
		complete -p ifcvfctl ifcvf-helper' > "$tmp/complete" 2>&1
	cat "$tmp/complete"
	[ "$(grep -c -- '-F _ifcvf' "$tmp/complete")" -eq 2 ]
}
check "bash-completion loads the installed completions" completion_loads

passes_installed() { # SECONDS TEST: tests/libvirt/TEST-test.sh with IFCVF_INSTALLED=1
	# its TAP lines become comments of this test's line; the time limits
	# are meson's for the build-tree runs, and add up to less than this
	# test's own (tests/package/meson.build)
	local tap=$tmp/$2.tap st
	IFCVF_INSTALLED=1 LIBVIRT_CYCLES=3 timeout -s TERM "$1" bash "$SOURCE_ROOT/tests/libvirt/$2-test.sh" > "$tap" 2>&1
	st=$?
	cat "$tap"
	[ $st -eq 0 ] && grep -q '^ok ' "$tap" && ! grep -qE '^(not ok|Bail out)' "$tap"
}
check "the libvirt test passes against the installed package (IFCVF_INSTALLED=1)" \
	passes_installed 1200 libvirt
check "the libvirt-migrate test passes against the installed package (IFCVF_INSTALLED=1)" \
	passes_installed 600 libvirt-migrate
check "the hook-systemd test passes against the installed package (IFCVF_INSTALLED=1)" \
	passes_installed 300 hook-systemd

# ---- purged -----------------------------------------------------------------------
purge_deb() {
	DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "$pkg" < /dev/null > "$tmp/purge.out" 2>&1 ||
		{ tail -20 "$tmp/purge.out"; return 1; }
	installed=
	! dpkg-query -W -f='${db:Status-Status}\n' "$pkg" 2>/dev/null | grep -qv '^not-installed$'
}
check "apt-get purge $pkg" purge_deb

files_gone() {
	local f left=()
	while read -r f; do [ -e "$f" ] && left+=("$f"); done < "$tmp/packaged"
	[ ${#left[@]} -eq 0 ] || { echo "left: ${left[*]}"; return 1; }
}
check "no file of the package is left" files_gone

as_before() { state > "$tmp/state.after"; diff "$tmp/state.before" "$tmp/state.after"; }
check "logs, run dir, port map and libvirt hooks as before" as_before

exit "$tap_failed"

#!/bin/sh
# The installed libvirt hook script (data/libvirt-hooks/qemu.d/ifcvf-helper.in)
# with its binary missing: a domain this project does not serve must start
# (exit 0); one it serves fails with one line naming the binary. With the
# binary present the script execs it with stdin and arguments unchanged.
# Usage: hook-script-test.sh TEMPLATE DATA-DIR   (TAP on stdout)
set -u
template=$1
data=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }

# the script as meson's configure_file makes it, @bindir@ set to $1
make_script() {
	sed "s|@bindir@|$1|g" "$template" >"$work/hook"
	chmod 755 "$work/hook"
}

# run the hook: $1 XML file, then libvirt's arguments; sets rc and err
run_hook() {
	xml=$1
	shift
	"$work/hook" "$@" <"$xml" >"$work/out" 2>"$work/err"
	rc=$?
	err=$(cat "$work/err")
}

missing="$work/no-such-dir/bin"
line="ifcvf-helper hook: $missing/ifcvf-helper is missing or not executable"
make_script "$missing"
: >"$work/empty.conf"
export IFCVF_HELPER_PORTS_CONF="$work/empty.conf"

# a plain domain: a vhost-user socket nobody maps, no metadata
run_hook "$data/neither.xml" vm-plain prepare begin -
if [ $rc -eq 0 ] && [ -z "$err" ]; then ok "plain domain starts without the binary"
else not_ok "plain domain starts without the binary (exit $rc: $err)"; fi

# a domain with no XML at all beyond a name (what libvirt sends for a tiny VM)
printf "<domain type='qemu'><name>tiny</name></domain>" >"$work/tiny.xml"
run_hook "$work/tiny.xml" tiny prepare begin -
if [ $rc -eq 0 ]; then ok "domain with no interface starts without the binary"
else not_ok "domain with no interface starts without the binary (exit $rc: $err)"; fi

# ifcvf metadata: refused, one line naming the binary
run_hook "$data/metadata.xml" vm-meta prepare begin -
if [ $rc -ne 0 ] && [ "$err" = "$line" ]; then ok "domain with ifcvf metadata fails with one line"
else not_ok "domain with ifcvf metadata fails with one line (exit $rc: '$err')"; fi

# the same domain on an operation the binary does nothing on: passes
run_hook "$data/metadata.xml" vm-meta started begin -
if [ $rc -eq 0 ]; then ok "other operations of a served domain pass"
else not_ok "other operations of a served domain pass (exit $rc: $err)"; fi

# a socket listed in the port map (IFCVF_HELPER_PORTS_CONF) is served
export IFCVF_HELPER_PORTS_CONF="$data/ports.conf"
run_hook "$data/portmap.xml" vm-nova prepare begin -
if [ $rc -ne 0 ] && [ "$err" = "$line" ]; then ok "domain with a mapped socket fails with one line"
else not_ok "domain with a mapped socket fails with one line (exit $rc: '$err')"; fi

# ... on its own line of a multi-line <source>, in double quotes, with an entity
cat >"$work/mapped.conf" <<'CONF'
# one group
  [/run/a&b/vhu9]  
device=pci:0000:00:00.1
CONF
cat >"$work/mapped.xml" <<'XML'
<domain type='kvm'><name>vm-x</name><devices>
  <interface type="vhostuser"><mac address='52:54:00:00:00:01'/>
    <source type="unix"
            path="/run/a&amp;b/vhu9" mode="client"/>
  </interface>
</devices></domain>
XML
export IFCVF_HELPER_PORTS_CONF="$work/mapped.conf"
run_hook "$work/mapped.xml" vm-x prepare begin -
if [ $rc -ne 0 ] && [ "$err" = "$line" ]; then ok "mapped socket found across lines and entities"
else not_ok "mapped socket found across lines and entities (exit $rc: '$err')"; fi

# a mapped path as a disk's source, not a vhost-user interface's: not ours
cat >"$work/disk.xml" <<'XML'
<domain type='kvm'><name>vm-d</name><devices>
  <disk type='file'><source file='/x.img' path='/run/a&amp;b/vhu9'/></disk>
  <interface type='network'><source network='default'/></interface>
</devices></domain>
XML
run_hook "$work/disk.xml" vm-d prepare begin -
if [ $rc -eq 0 ]; then ok "a path outside vhost-user interfaces is not ours"
else not_ok "a path outside vhost-user interfaces is not ours (exit $rc: $err)"; fi

# a port map that cannot be read: only metadata decides
export IFCVF_HELPER_PORTS_CONF="$work/no-such.conf"
run_hook "$data/portmap.xml" vm-nova prepare begin -
if [ $rc -eq 0 ]; then ok "no port map: a vhost-user domain without metadata starts"
else not_ok "no port map: a vhost-user domain without metadata starts (exit $rc: $err)"; fi

# the binary present: exec'd with the arguments and stdin unchanged
mkdir -p "$work/bin"
cat >"$work/bin/ifcvf-helper" <<'STUB'
#!/bin/sh
printf '%s\n' "$*"
cat
exit 7
STUB
chmod 755 "$work/bin/ifcvf-helper"
make_script "$work/bin"
run_hook "$data/neither.xml" vm-plain prepare begin -
if [ $rc -eq 7 ] && [ "$(head -n 1 "$work/out")" = "hook vm-plain prepare begin -" ] &&
   tail -n +2 "$work/out" | cmp -s - "$data/neither.xml"; then
	ok "present binary is exec'd with arguments and stdin"
else
	not_ok "present binary is exec'd with arguments and stdin (exit $rc)"
fi

echo "1..$n"
exit $failed

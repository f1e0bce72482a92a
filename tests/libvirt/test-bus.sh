# Sourced by the libvirt and guest tests, and by the kernel-vfio guest's
# checks: a private dbus-daemon for the helpers.
#
# test_bus_conf PREFIX: writes PREFIX.conf, a bus listening on PREFIX.sock
# that anyone may own names on and watch. Needs nothing else.
test_bus_conf() {
	cat > "$1.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$1.sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF
}

# start_test_bus PREFIX: that bus, its output in PREFIX.log; bails when it
# does not come up. Sets test_bus_pid. Needs wait_for_socket and bail
# (tests/guest/guest-lib.sh).
start_test_bus() {
	local prefix=$1
	test_bus_conf "$prefix"
	dbus-daemon --config-file="$prefix.conf" --nofork --nopidfile > "$prefix.log" 2>&1 &
	test_bus_pid=$!
	wait_for_socket "$prefix.sock" "$test_bus_pid" \
		|| bail "dbus-daemon $prefix.sock did not start: $(cat "$prefix.log")"
}

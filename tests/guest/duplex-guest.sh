# The test guest's script (/test.sh) for traffic checked both ways: the
# guest counts the numbered frames it receives on eth0 (gen-check) and sends
# its own (gen-send, 200 a second) for the emulator's checker, in each
# stream gen_tx=S[,S...] on the kernel command line names (default 0: one
# emulator's checker takes one stream; a test that replaces the emulator
# gives each its own), until the
# ACPI power button (QMP system_powerdown); then both print their totals
# and the guest prints its kernel log as "DMESG ..." lines. Busybox sh.
ip link set lo up
ip link set eth0 up
/bin/gen-check eth0 3600 &
check=$!
streams=$(sed -n 's/.*gen_tx=\([0-9,]*\).*/\1/p' /proc/cmdline | tr , ' ')
send=
for s in ${streams:-0}; do
	/bin/gen-send eth0 200 256 "$s" &
	send="$send $!"
done
ev=
for d in /sys/class/input/input*; do
	[ "$(cat "$d/name" 2>/dev/null)" = "Power Button" ] || continue
	for e in "$d"/event*; do [ -e "$e" ] && ev=/dev/input/${e##*/}; done
done
if [ -n "$ev" ]; then
	echo "GUEST waiting for the power button on $ev"
	dd if="$ev" of=/dev/null bs=24 count=1 2>/dev/null
else
	echo "GUEST no power button device"
	sleep 3000
fi
kill -TERM $send
wait $send
kill -TERM $check
wait $check
dmesg | sed 's/^/DMESG /'

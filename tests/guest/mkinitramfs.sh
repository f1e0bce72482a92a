#!/usr/bin/env bash
# mkinitramfs.sh OUT.cpio.gz SCRIPT [PROGRAM...]
# Build the test guest's initramfs from Debian packages (busybox-static and
# the installed linux-image-amd64's modules): busybox, the virtio network
# and block modules (and evdev + button: the ACPI power button is /dev/input/event*
# named "Power Button"), an /init that loads them and runs SCRIPT as
# /test.sh, then powers off. Each PROGRAM (a path, e.g. /usr/sbin/ethtool or
# a test program) goes to /bin together with the shared libraries it links.
set -euo pipefail

out=$1
script=$2
shift 2

kver=$(ls /lib/modules | sort -V | tail -1)
moddir=/lib/modules/$kver/kernel
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "mkinitramfs: $busybox is missing (busybox-static)" >&2; exit 1; }
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' \
	|| { echo "mkinitramfs: busybox-static is not installed (the guest needs a static busybox)" >&2; exit 1; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,run,lib/modules}
cp "$busybox" "$root/bin/busybox"

# load order follows the modules' dependencies
modules=(
	net/core/failover.ko drivers/net/net_failover.ko
	drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko
	drivers/virtio/virtio_pci_modern_dev.ko drivers/virtio/virtio_pci_legacy_dev.ko
	drivers/virtio/virtio_pci.ko drivers/net/virtio_net.ko drivers/block/virtio_blk.ko
	# the ACPI power button as an input device, for a SCRIPT that waits for it
	drivers/input/evdev.ko drivers/acpi/button.ko
)
: > "$root/lib/modules/order"
for m in "${modules[@]}"; do
	src=$moddir/$m
	[ -f "$src" ] || src=$(ls "$moddir/$m".* 2>/dev/null | head -1)
	[ -f "$src" ] || { echo "mkinitramfs: module $m not found in $moddir" >&2; exit 1; }
	case "$src" in
	*.xz) xz -dc "$src" > "$root/lib/modules/$(basename "$m")" ;;
	*.zst) zstd -dqc "$src" > "$root/lib/modules/$(basename "$m")" ;;
	*) cp "$src" "$root/lib/modules/$(basename "$m")" ;;
	esac
	basename "$m" >> "$root/lib/modules/order"
done

cp "$script" "$root/test.sh"
chmod +x "$root/test.sh"
for prog in "$@"; do
	cp "$prog" "$root/bin/"
	# shared libraries, at the paths the dynamic loader looks for them
	for lib in $(ldd "$prog" 2>/dev/null | grep -o '/[^ ]*' || true); do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
done

cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m || echo "GUEST insmod $m failed"; done
echo "GUEST booted"
sh /test.sh
echo "GUEST done rc=$?"
poweroff -f
INIT
chmod +x "$root/init"

(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$out"

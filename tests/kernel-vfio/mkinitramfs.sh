#!/usr/bin/env bash
# mkinitramfs.sh OUT.cpio.gz ENV_FILE
# The kernel-vfio guest's initramfs, from Debian packages: busybox-static and
# the modules of the installed linux-image-amd64 (virtio-pci, 9p, vfio-pci and
# what they depend on, in modprobe's order). Its /init mounts the host's /
# (9p, read-only), gives it a writable /tmp and /run and the guest's /proc,
# /sys and /dev, and runs the check script inside it (chroot) with the
# variables of ENV_FILE; then powers off. The check script and everything it
# runs (the build, DPDK, bash) come from the host through the share. The
# source and build trees (KV_SRC, KV_BUILD) are mounted again at their own
# paths on top of the guest's mounts, so a clone under /tmp, /run or
# /dev/shm is still seen where the build's absolute paths point.
set -euo pipefail

out=$1
env_file=$2

kver=$(ls /lib/modules | sort -V | tail -1)
busybox=/bin/busybox
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' \
	|| { echo "mkinitramfs: busybox-static is not installed (the guest needs a static busybox)" >&2; exit 1; }
[ -x "$busybox" ] || { echo "mkinitramfs: $busybox is missing (busybox-static)" >&2; exit 1; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,host,lib/modules}
cp "$busybox" "$root/bin/busybox"

# modprobe lists each module after what it needs; keep the first mention
: > "$root/lib/modules/order"
for m in virtio_pci 9pnet_virtio 9p vfio_iommu_type1 vfio-pci; do
	modprobe -S "$kver" --show-depends "$m" 2>/dev/null | awk '$1 == "insmod" { print $2 }' \
		|| { echo "mkinitramfs: modprobe knows no module $m for kernel $kver" >&2; exit 1; }
done | awk '!seen[$0]++' | while read -r src; do
	name=$(basename "$src")
	case "$src" in
	*.xz) name=${name%.xz}; xz -dc "$src" > "$root/lib/modules/$name" ;;
	*.zst) name=${name%.zst}; zstd -dqc "$src" > "$root/lib/modules/$name" ;;
	*) cp "$src" "$root/lib/modules/$name" ;;
	esac
	echo "$name" >> "$root/lib/modules/order"
done
grep -q '^vfio-pci.ko$' "$root/lib/modules/order" \
	|| { echo "mkinitramfs: vfio-pci.ko of kernel $kver not found" >&2; exit 1; }

cp "$env_file" "$root/kv.env"
cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /lib/modules/order); do
	insmod /lib/modules/$m || echo "GUEST insmod $m failed"
done
echo "GUEST booted"
if mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose host /host; then
	set -a
	. /kv.env
	set +a
	# the trees, set aside before the guest's mounts cover the host's
	# /tmp, /run and /dev (the build dir is the source's or beside it)
	trees="/trees/src"
	mkdir -p /trees/src /trees/build
	mount -o bind "/host$KV_SRC" /trees/src || echo "GUEST cannot reach the host's $KV_SRC"
	case "$KV_BUILD/" in
	"$KV_SRC"/*) ;;
	*) trees="$trees /trees/build"
	   mount -o bind "/host$KV_BUILD" /trees/build || echo "GUEST cannot reach the host's $KV_BUILD" ;;
	esac
	mount -t proc proc /host/proc
	mount -t sysfs sys /host/sys
	mount -t devtmpfs dev /host/dev
	mount -t tmpfs tmp /host/tmp
	mount -t tmpfs run /host/run
	mkdir -p /host/dev/shm && mount -t tmpfs shm /host/dev/shm
	# and back at their own paths: a path under /tmp is made on the tmpfs
	shown=yes
	for t in $trees; do
		if [ "$t" = /trees/src ]; then p=$KV_SRC; else p=$KV_BUILD; fi
		mkdir -p "/host$p" && mount -o move "$t" "/host$p" \
			|| { shown=no; echo "GUEST cannot show the host's $p at its path"; }
	done
	[ "$shown" = yes ] && echo "GUEST trees at their paths: $KV_SRC $KV_BUILD"
	chroot /host /bin/bash "$KV_SCRIPT"
	echo "GUEST done rc=$?"
else
	echo "GUEST cannot mount the host's / over 9p"
fi
poweroff -f
INIT
chmod +x "$root/init"

(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$out"

# Sourced by scripts/demo and scripts/test: install the Debian 12 packages the
# build and the tests need, when any is missing. Needs root (or sudo).

IFCVF_PACKAGES=(
	meson ninja-build pkg-config gcc libc6-dev
	libglib2.0-dev libglib2.0-bin libjson-glib-dev
	libdpdk-dev libvirt-dev libxml2-dev
	scdoc bash-completion   # man pages (doc/*.scd), the completions directory
	man-db groff-base       # the man-pages test renders them with man --warnings
	# the Debian package (scripts/build-deb, debian/control's Build-Depends)
	dpkg-dev debhelper fakeroot lintian
	# real peers of the integration tests
	dpdk-dev          # dpdk-testpmd (virtio-user frontend, net_vhost baseline)
	iproute2          # network namespaces and TAP devices for the wires
	dbus systemd      # dbus-daemon for the D-Bus tests, busctl
	dbus-broker       # the bus policy test runs it as a private bus too
	libvirt-daemon-system libvirt-clients  # libvirtd and virsh for the libvirt suite
	qemu-system-x86 linux-image-amd64 busybox-static cpio ethtool  # the test guest
	# an arm64 cross compiler: the unit test io-barrier-arm64 looks for the
	# I/O write barrier before register writes in the code built for arm64
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross
	clang libclang-rt-14-dev  # the libFuzzer targets of tests/fuzz (scripts/fuzz)
)

ifcvf_install_deps() {
	local missing=() p
	for p in "${IFCVF_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
			|| missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "installing: ${missing[*]}"
	local sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -q
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# ifcvf_build DIR [MESON OPTIONS...]: configure once, then build
ifcvf_build() {
	local dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@"
	fi
	ninja -C "$dir"
}

#!/bin/bash
# The relay's doorbells and every IFCVF register write are ordered after the
# ring stores for the device, not only for other CPUs: built for arm64 (a
# cross gcc from scripts/deps.sh), each function that writes a register
# must execute an outer-shareable store barrier (dmb oshst, or a stronger
# dmb/dsb) before the call that performs the MMIO store. On x86 the barrier
# is a compiler barrier and shows nothing in the code, so this is where a
# missing one can be seen. It checks the instructions the compiler emits
# from the real sources, not the hardware: what it proves is that the
# barrier is there, in program order, on every register-write path of
# src/ifcvf (the only code that writes device registers).
#
# usage: io-barrier-arm64.sh SOURCE-ROOT
. "$(dirname "$0")/../lib/tap.sh"

src=${1:?usage: $0 SOURCE-ROOT}
cc=aarch64-linux-gnu-gcc
objdump=aarch64-linux-gnu-objdump
echo "1..4"
for t in "$cc" "$objdump"; do
	command -v "$t" > /dev/null ||
		bail "$t not found: install gcc-aarch64-linux-gnu (scripts/deps.sh lists it)"
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# build FILE.c OUT.o: as the project builds it (gnu11, -O2), for arm64
build() {
	"$cc" -std=gnu11 -O2 -D_GNU_SOURCE -Wall -Werror -I"$src/src/ifcvf" -I"$src/src/vfio" \
		-I"$src/src/common" -c "$1" -o "$2"
}

# barrier_before_calls OBJ FUNCTION CALLEE...: in FUNCTION, every call (or
# tail call) of a CALLEE comes after a store barrier; at least one does
barrier_before_calls() {
	local obj=$1 fn=$2
	shift 2
	"$objdump" -dr --no-show-raw-insn "$obj" | awk -v fn="$fn" -v callees="$*" '
		BEGIN { n = split(callees, c, " "); for (i = 1; i <= n; i++) want[c[i]] = 1 }
		/^[0-9a-f]+ <.*>:$/ { infn = ($0 ~ "<" fn ">:$"); barrier = 0; next }
		!infn { next }
		/\t(dmb|dsb)\t(oshst|osh|st|sy)$/ { barrier = 1; next }
		/R_AARCH64_(CALL|JUMP)26/ {
			if (!($NF in want)) next
			calls++
			if (!barrier) { bad++; printf "%s calls %s without a store barrier before\n", fn, $NF }
		}
		END {
			if (!calls) { printf "%s: no call of %s found\n", fn, callees; exit 1 }
			if (bad) exit 1
			printf "%s: %d register write(s), each after a store barrier\n", fn, calls
		}'
}

# the checker itself: a write path without a barrier is caught, and so is
# one with only a CPU fence (dmb ish: the inner-shareable domain, CPUs)
cat > "$work/control.c" <<'C'
extern int vfio_dev_write(int v);
int control_write(int v);
int control_fenced(int v);
int control_write(int v) { return vfio_dev_write(v + 1); }
int control_fenced(int v) { __atomic_thread_fence(__ATOMIC_SEQ_CST); return vfio_dev_write(v); }
C
build "$work/control.c" "$work/control.o" || bail "cannot build the control"
controls_caught() {
	local f
	for f in control_write control_fenced; do
		if barrier_before_calls "$work/control.o" "$f" vfio_dev_write; then
			echo "$f passed"
			return 1
		fi
	done
}
check "the checker catches a register write without a barrier, or after a CPU fence only" \
	controls_caught

build "$src/src/ifcvf/ifcvf-queue.c" "$work/ifcvf-queue.o" || bail "cannot build ifcvf-queue.c for arm64"
build "$src/src/ifcvf/ifcvf-io.c" "$work/ifcvf-io.o" || bail "cannot build ifcvf-io.c for arm64"

check "doorbell (ifcvf_hw_notify_queue): a store barrier before the MMIO write" \
	barrier_before_calls "$work/ifcvf-queue.o" ifcvf_hw_notify_queue vfio_dev_write_posted

common_writes() {
	local f
	for f in ifcvf_common_write8 ifcvf_common_write16 ifcvf_common_write32 ifcvf_common_write64; do
		barrier_before_calls "$work/ifcvf-io.o" "$f" vfio_dev_write vfio_dev_write_posted ||
			return 1
	done
}
check "common configuration writes (queue enable, status): a store barrier before each" \
	common_writes
check "live-migration block writes (logging on): a store barrier before each" \
	barrier_before_calls "$work/ifcvf-io.o" ifcvf_lm_write32 vfio_dev_write32 vfio_dev_write_posted

exit "$tap_failed"

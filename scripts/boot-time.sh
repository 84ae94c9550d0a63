#!/usr/bin/env bash
# boot-time.sh: the time from starting the VMM to the guest's /init (the "ALTOVIRT-GUEST-INIT" line
# the test initramfs prints first), for altovirt and for QEMU, booting the same kernel and initramfs
# with the same memory in the same host. Outside the testbed it runs itself inside the testbed's
# test host (where KVM is nested SVM under TCG: slow, but the same for both VMMs).
#
#   scripts/boot-time.sh [--smp N] [--mem SIZE]      (ALTOVIRT_BUILD: build directory, default build/)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${ALTOVIRT_BUILD:-$src/build}
if [ "${TESTBED:-}" != 1 ]; then
  exec "$src/testbed/testbed" --env ALTOVIRT_BUILD="$build" --env ALTOVIRT_SRC="$src" \
    --env BOOT_TIME_ARGS="$*" --script "$0"
fi
set -- ${BOOT_TIME_ARGS:-} "$@"
smp=1 mem=256M
while [ $# -gt 0 ]; do
  case "$1" in
    --smp) smp=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    *) echo "boot-time.sh: unknown argument '$1' (accepted: --smp N, --mem SIZE)" >&2; exit 2 ;;
  esac
done
modprobe kvm_amd 2>/dev/null || modprobe kvm_intel
[ -c /dev/kvm ] || { echo "boot-time.sh: no /dev/kvm in this host" >&2; exit 1; }
kver=$("$src/testbed/kernel-version")
initrd=/tmp/boot-time-initrd.gz
"$src/testbed/mkinitrd" --init "$src/tests/system/vmm/guest-init.sh" --out "$initrd"
append="console=ttyS0 quiet panic=-1"

measure() {  # measure NAME COMMAND... : prints the time to the init marker and to the VMM's exit
  local name=$1 start
  shift
  start=$(date +%s%N)
  # (a pipe, not process substitution: the test host has no /dev/fd)
  timeout 900 "$@" </dev/null 2>&1 | {
    init=""
    while IFS= read -r line; do
      case "$line" in *ALTOVIRT-GUEST-INIT*) [ -n "$init" ] || init=$((($(date +%s%N) - start) / 1000000)) ;; esac
    done
    printf '%-9s time to guest init: %6s ms   to VMM exit: %6s ms\n' "$name" "${init:-never}" \
      $((($(date +%s%N) - start) / 1000000))
  }
}

echo "kernel /boot/vmlinuz-$kver, -m $mem, -smp $smp, host $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-))"
measure altovirt "$build/tools/altovirt/altovirt" -m "$mem" -smp "$smp" -kernel "/boot/vmlinuz-$kver" \
  -initrd "$initrd" -append "$append" -serial stdio
measure qemu qemu-system-x86_64 -accel kvm -cpu host -nodefaults -nographic -serial stdio -m "$mem" -smp "$smp" \
  -kernel "/boot/vmlinuz-$kver" -initrd "$initrd" -append "$append"

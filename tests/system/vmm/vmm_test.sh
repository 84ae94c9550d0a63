#!/usr/bin/env bash
# altovirt end to end, inside the testbed's test host with its real kernel and KVM:
#  - bad input (missing or non-bzImage kernel, -m 0, unknown -device) fails at once with exit 2 and a
#    message naming the option;
#  - Debian's kernel boots with the test initramfs to /init; its console output reaches the host;
#    the guest sees MemTotal matching -m, 2 CPUs with -smp 2, the host bridge 8086:29c0 at
#    0000:00:00.0 and ECAM (MMCONFIG) with 4 KiB config spaces; `poweroff -f` makes altovirt exit 0
#    soon after; the exit counters land in the -D log; the 0xCF8 address writes are coalesced;
#  - guest RAM on 2 MiB hugepages (-object memory-backend-file,prealloc=on): a 512 MiB guest boots,
#    the host's HugePages_Free drops by 256 while it runs and comes back after; asking for more
#    than is free fails before the guest starts, saying how many are free and how to reserve more;
#  - `reboot -f` with -no-reboot makes altovirt exit 0 too.
# Prints the time from starting altovirt to the guest's /init.
. "$(dirname "$0")/../lib.sh"

modprobe kvm_amd 2>/dev/null || modprobe kvm_intel 2>/dev/null
[ -c /dev/kvm ] || fail "no /dev/kvm in the test host"
ALTOVIRT=$ALTOVIRT_BUILD/tools/altovirt/altovirt
[ -x "$ALTOVIRT" ] || fail "$ALTOVIRT is not built"
kernel=/boot/vmlinuz-$("$ALTOVIRT_SRC/testbed/kernel-version")
initrd=/tmp/vmm-initrd.gz
run_ok "test initramfs built" "$ALTOVIRT_SRC/testbed/mkinitrd" --init "$ALTOVIRT_SRC/tests/system/vmm/guest-init.sh" --out "$initrd"

# --- bad input: exit 2, a clear message, nothing started -------------------------------------
expect_usage_error() {  # WHAT NEEDLE ARGS...
  local what=$1 needle=$2 out rc
  shift 2
  out=$(timeout 30 "$ALTOVIRT" "$@" </dev/null 2>&1)
  rc=$?
  expect_eq "$what: exit status" 2 "$rc"
  expect_contains "$what: message" "$needle" "$out"
}
expect_usage_error "missing kernel" "-kernel '/nonexistent/vmlinuz'" -m 256M -kernel /nonexistent/vmlinuz
expect_usage_error "kernel that is not a bzImage" "is not a Linux bzImage" -m 256M -kernel "$initrd"
expect_usage_error "-m 0" "-m 0: a guest needs at least 64M" -m 0 -kernel "$kernel"
expect_usage_error "unknown -device" "unknown device kind 'nosuch-dev'" -m 256M -kernel "$kernel" -device nosuch-dev,addr=3
expect_usage_error "missing initrd" "-initrd '/nonexistent/initrd'" -m 256M -kernel "$kernel" -initrd /nonexistent/initrd
expect_usage_error "unknown option" "unknown option '-bogus'" -m 256M -kernel "$kernel" -bogus

# --- boot, poweroff ----------------------------------------------------------------------------
boot() {  # boot NAME ARGS... : runs altovirt, timestamps each output line into /tmp/NAME.out
  local name=$1
  shift
  local start
  start=$(date +%s%N)
  timeout 1100 "$ALTOVIRT" "$@" </dev/null 2>&1 | while IFS= read -r line; do
    echo "$((($(date +%s%N) - start) / 1000000)) ${line%$'\r'}"  # the guest's tty sends CR LF
  done > "/tmp/$name.out"
  local rc=${PIPESTATUS[0]}
  echo "$((($(date +%s%N) - start) / 1000000)) ALTOVIRT-EXITED $rc" >> "/tmp/$name.out"
  return "$rc"
}
marker_ms() { awk -v m="$2" '$2 == m { print $1; exit }' "/tmp/$1.out"; }
marker_value() { awk -v m="$2" '$2 == m { $1 = ""; $2 = ""; sub(/^ +/, ""); print; exit }' "/tmp/$1.out"; }

boot poweroff -name vmm-test -m 256M -smp 2 -kernel "$kernel" -initrd "$initrd" \
  -append "console=ttyS0 quiet panic=-1" -serial stdio -pidfile /tmp/vmm-test.pid -D /tmp/poweroff.log
rc=$?
if [ "$rc" != 0 ]; then
  tail -n 40 /tmp/poweroff.out
  cat /tmp/poweroff.log
fi
expect_eq "altovirt exits 0 after the guest's poweroff" 0 "$rc"
init_ms=$(marker_ms poweroff ALTOVIRT-GUEST-INIT)
[ -n "$init_ms" ] || fail "the guest's /init never printed to the console: $(tail -n 20 /tmp/poweroff.out)"
pass "console output reaches the host (guest /init after $init_ms ms)"
echo "boot time: altovirt start to guest /init: $init_ms ms (-smp 2, -m 256M, nested KVM in the testbed)"
memtotal=$(marker_value poweroff ALTOVIRT-GUEST-MEMTOTAL)
# The kernel keeps its image, the initramfs it unpacked and early reservations out of MemTotal;
# with -m 256M that is 75..100% of 262144 KiB.
[ -n "$memtotal" ] && [ "$memtotal" -le 262144 ] && [ "$memtotal" -ge 196608 ] ||
  fail "guest MemTotal '$memtotal' KiB does not match -m 256M (expected 196608..262144)"
pass "guest MemTotal $memtotal KiB matches -m 256M"
expect_eq "guest sees 2 CPUs with -smp 2" 2 "$(marker_value poweroff ALTOVIRT-GUEST-NPROC)"
expect_contains "guest finds the host bridge" "0000:00:00.0 0x8086:0x29c0 class=0x060000" "$(grep ALTOVIRT-GUEST-PCI /tmp/poweroff.out)"
expect_eq "guest uses ECAM (MMCONFIG in dmesg)" yes "$(marker_value poweroff ALTOVIRT-GUEST-ECAM)"
expect_eq "host bridge has 4 KiB (extended) config space" 4096 "$(marker_value poweroff ALTOVIRT-GUEST-CFGSIZE)"
done_ms=$(marker_ms poweroff ALTOVIRT-GUEST-DONE)
exit_ms=$(marker_ms poweroff ALTOVIRT-EXITED)
[ -n "$done_ms" ] || fail "the guest never reached poweroff"
[ $((exit_ms - done_ms)) -le 60000 ] || fail "altovirt took $((exit_ms - done_ms)) ms to exit after the guest's poweroff"
pass "altovirt exited $((exit_ms - done_ms)) ms after the guest ran poweroff -f"
expect_contains "-D log says the guest powered off" "the guest powered off" "$(cat /tmp/poweroff.log)"
expect_contains "-D log has the exit counters" "serial 0x3f8" "$(cat /tmp/poweroff.log)"
# Linux's type-1 config accesses write the address to 0xCF8, then read or write 0xCFC. The address
# writes go through KVM's coalesced ring and never exit: nearly every config access costs one exit
# (the 0xCFC access), not two.
cfg=$(grep ' pci-config 0xcf8 ' /tmp/poweroff.log | grep -v coalesced)
cfg_reads=$(echo "$cfg" | awk '{ print $(NF - 2) }'); cfg_writes=$(echo "$cfg" | awk '{ print $NF }')
cfg_coalesced=$(sed -n 's/.*coalesced, no exit: port I\/O pci-config 0xcf8 writes \([0-9]*\).*/\1/p' /tmp/poweroff.log)
echo "pci-config 0xcf8: reads $cfg_reads, writes that exited $cfg_writes, coalesced writes $cfg_coalesced"
[ "${cfg_coalesced:-0}" -ge "$cfg_reads" ] || fail "0xCF8 address writes not coalesced: $cfg_coalesced coalesced for $cfg_reads config reads"
[ "$cfg_writes" -lt $((cfg_reads / 4)) ] || fail "config writes still exit: $cfg_writes exits for $cfg_reads reads"
pass "config address writes coalesced ($cfg_coalesced), exits left: $cfg_reads reads, $cfg_writes writes"
[ ! -e /tmp/vmm-test.pid ] || fail "the pidfile was left behind"
pass "pidfile removed at exit"

# --- virtio-blk: a raw image as /dev/vda ---------------------------------------------------------
disk_initrd=/tmp/vmm-disk-initrd.gz
run_ok "test initramfs with virtio modules built" "$ALTOVIRT_SRC/testbed/mkinitrd" \
  --init "$ALTOVIRT_SRC/tests/system/vmm/guest-init.sh" --out "$disk_initrd" --module virtio_pci --module virtio_blk
disk=/tmp/vmm-disk.img
rm -f "$disk"
truncate -s 64M "$disk"
printf 'HOSTPATTERN-0123' | dd of="$disk" conv=notrunc 2>/dev/null
expect_vm_error() {  # WHAT NEEDLE ARGS...
  local what=$1 needle=$2 out rc
  shift 2
  out=$(timeout 30 "$ALTOVIRT" -m 128M -kernel "$kernel" -serial none "$@" </dev/null 2>&1)
  rc=$?
  [ "$rc" != 0 ] || fail "$what: altovirt started"
  expect_contains "$what: message" "$needle" "$out"
}
expect_vm_error "missing image" "no such image" -drive file=/nonexistent.img,format=raw,if=none,id=d0 -device virtio-blk-pci,drive=d0
mkdir -p /tmp/vmm-dir.img
expect_vm_error "directory as image" "is a directory" -drive file=/tmp/vmm-dir.img,format=raw,if=none,id=d0 -device virtio-blk-pci,drive=d0
printf 'QFI\xfb\0\0\0\3' > /tmp/vmm-q.img; truncate -s 1M /tmp/vmm-q.img
expect_vm_error "qcow2 given as raw" "qcow2 image" -drive file=/tmp/vmm-q.img,format=raw,if=none,id=d0 -device virtio-blk-pci,drive=d0
expect_vm_error "unknown format" "format=qcow2 is not supported" -drive file=$disk,format=qcow2,if=none,id=d0 -device virtio-blk-pci,drive=d0
expect_vm_error "unknown drive" "no -drive (or blockdev-add) has id=d9" -drive file=$disk,format=raw,if=none,id=d0 -device virtio-blk-pci,drive=d9

# A second VM cannot open an image the first one holds (OFD lock): start one (it locks while it is
# built, before its guest runs), then another on the same image.
"$ALTOVIRT" -m 128M -kernel "$kernel" -initrd "$disk_initrd" -append "console=ttyS0 quiet panic=-1" -serial none \
  -drive file=$disk,format=raw,if=none,id=d0 -device virtio-blk-pci,drive=d0 </dev/null >/tmp/holder.out 2>&1 &
holder=$!
n=100
while [ $n -gt 0 ] && ! grep -q OFDLCK /proc/locks; do sleep 0.1; n=$((n - 1)); done
expect_vm_error "image locked by another VM" "locked by another process" -drive file=$disk,format=raw,if=none,id=d0 -device virtio-blk-pci,drive=d0
expect_vm_error "image locked by another VM, read-only" "locked by another process" -drive file=$disk,format=raw,if=none,id=d0,readonly=on -device virtio-blk-pci,drive=d0
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null

# cache=writeback: the test host's /tmp is tmpfs, which has no O_DIRECT (cache=none says so and stops).
boot disk -m 256M -kernel "$kernel" -initrd "$disk_initrd" -append "console=ttyS0 quiet panic=-1 altovirt.disk=1" \
  -serial stdio -D /tmp/disk.log -object iothread,id=io1 \
  -drive file=$disk,format=raw,if=none,id=d0,cache=writeback,aio=io_uring \
  -device virtio-blk-pci,drive=d0,serial=altovirt-disk0,iothread=io1
rc=$?
[ "$rc" = 0 ] || { tail -n 60 /tmp/disk.out; cat /tmp/disk.log; }
expect_eq "guest with a virtio-blk disk powers off" 0 "$rc"
expect_eq "guest sees /dev/vda of 64 MiB (131072 sectors)" 131072 "$(marker_value disk ALTOVIRT-GUEST-VDA-SIZE)"
expect_eq "guest reads the serial" altovirt-disk0 "$(marker_value disk ALTOVIRT-GUEST-VDA-SERIAL)"
expect_eq "guest reads what the host wrote" HOSTPATTERN-0123 "$(marker_value disk ALTOVIRT-GUEST-VDA-HEAD)"
expect_eq "guest write completes" ok "$(marker_value disk ALTOVIRT-GUEST-VDA-WRITE)"
expect_eq "virtio-blk uses MSI-X" msix "$(marker_value disk ALTOVIRT-GUEST-VDA-IRQ)"
expect_eq "the guest's write is in the image file" GUESTWROTE "$(dd if="$disk" bs=512 skip=8 count=1 2>/dev/null | head -c 10)"

# --- guest RAM on 2 MiB hugepages ---------------------------------------------------------------
hp_reserved_before=$(cat /proc/sys/vm/nr_hugepages)
echo 300 > /proc/sys/vm/nr_hugepages
mountpoint -q /dev/hugepages || { mkdir -p /dev/hugepages && mount -t hugetlbfs -o pagesize=2M nodev /dev/hugepages; } ||
  fail "cannot mount hugetlbfs at /dev/hugepages"
hp_free() { awk '/^HugePages_Free:/ {print $2}' /proc/meminfo; }
free_before=$(hp_free)
[ "$free_before" -ge 256 ] || fail "the test host reserved only $free_before 2 MiB hugepages (needs 256)"
# More than is free: refused before the guest starts, naming the option and the numbers.
too_big=$(((free_before + 2) * 2))
out=$(timeout 60 "$ALTOVIRT" -machine q35,memory-backend=big -kernel "$kernel" -initrd "$initrd" -serial stdio \
  -append "console=ttyS0 quiet panic=-1" \
  -object memory-backend-file,id=big,size=${too_big}M,mem-path=/dev/hugepages </dev/null 2>&1)
rc=$?
[ "$rc" != 0 ] || fail "altovirt started a ${too_big} MiB guest with only $free_before free hugepages"
expect_contains "too few hugepages: message" "needs $((free_before + 2)) free 2 MiB hugepages, but only $free_before are free" "$out"
expect_contains "too few hugepages: how to reserve more" "echo" "$out"
case $out in *ALTOVIRT-GUEST-INIT*) fail "the guest ran although its RAM did not fit" ;; esac
pass "a ${too_big} MiB request fails before the guest starts"
expect_eq "the refused request took no hugepages" "$free_before" "$(hp_free)"
# 512 MiB on hugepages, preallocated: the pages are taken while the VM runs, given back after.
boot hugepages -m 512M -machine q35,memory-backend=pc.ram -kernel "$kernel" -initrd "$initrd" \
  -append "console=ttyS0 quiet panic=-1" -serial stdio -D /tmp/hugepages.log \
  -object memory-backend-file,id=pc.ram,size=512M,mem-path=/dev/hugepages,prealloc=on &
hp_pid=$!
min_free=$free_before
n=600
while [ $n -gt 0 ] && kill -0 "$hp_pid" 2>/dev/null; do
  f=$(hp_free)
  [ "$f" -lt "$min_free" ] && min_free=$f
  sleep 0.1
  n=$((n - 1))
done
wait_pid 600 "$hp_pid" "altovirt on hugepages"
rc=$?
[ "$rc" = 0 ] || { tail -n 40 /tmp/hugepages.out; cat /tmp/hugepages.log; }
expect_eq "guest on 2 MiB hugepages powers off" 0 "$rc"
[ -n "$(marker_ms hugepages ALTOVIRT-GUEST-INIT)" ] || fail "the guest on hugepages never reached /init"
pass "a 512 MiB guest on 2 MiB hugepages runs its /init"
expect_eq "HugePages_Free dropped by 256 while the guest ran" 256 "$((free_before - min_free))"
expect_contains "-D log names the hugepage backing" "hugetlbfs, 2 MiB pages" "$(cat /tmp/hugepages.log)"
expect_eq "the hugepages are free again after the VM" "$free_before" "$(hp_free)"
echo "$hp_reserved_before" > /proc/sys/vm/nr_hugepages

# --- reboot with -no-reboot --------------------------------------------------------------------
boot reboot -m 128M -kernel "$kernel" -initrd "$initrd" -append "console=ttyS0 quiet panic=-1 altovirt.action=reboot" \
  -serial stdio -no-reboot -D /tmp/reboot.log
rc=$?
[ "$rc" = 0 ] || { tail -n 40 /tmp/reboot.out; cat /tmp/reboot.log; }
expect_eq "guest reboot -f with -no-reboot: altovirt exits 0" 0 "$rc"
expect_eq "the guest asked for a reboot" reboot "$(marker_value reboot ALTOVIRT-GUEST-DONE)"
expect_contains "-D log says the guest reset the machine" "the guest reset the machine" "$(cat /tmp/reboot.log)"
finish

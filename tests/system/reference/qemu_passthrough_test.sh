#!/usr/bin/env bash
# Debian's QEMU (the peer) passes the e1000e and an NVMe VF to a second-level guest in the test host:
# the guest gets a DHCP lease and pings over the NIC, and reads and writes the VF's namespace. This
# pins down the testbed recipe that altovirt's own passthrough tests and benchmarks build on.
. "$(dirname "$0")/../lib.sh"

qemu_guest() {  # qemu_guest STEPS EXTRA_APPEND QEMU_ARGS... -> guest console on stdout
  local steps=$1 extra=$2; shift 2
  timeout 300 qemu-system-x86_64 -accel kvm -cpu host -m 256M -smp 1 -nodefaults -display none -serial stdio \
    -no-reboot -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" \
    -append "console=ttyS0 panic=-1 quiet guest.steps=$steps $extra" "$@" < /dev/null
}

run_ok "DHCP server on the NIC's link partner" tb_dhcp_server
run_ok "e1000e to vfio-pci" tb_bind_vfio $NIC_BDF
expect_eq "e1000e on vfio-pci" vfio-pci "$(current_driver $NIC_BDF)"

start=$(date +%s.%N)
out=$(qemu_guest info,dhcp,ping "" -device vfio-pci,host=$NIC_BDF 2>&1)
echo "$out" | grep GUEST-
echo "QEMU NIC guest wall time: $(echo "$(date +%s.%N) - $start" | bc) s"
expect_contains "guest sees the e1000e" "8086:0x10d3" "$(echo "$out" | grep 'GUEST-PCI' | tr -d '\n' | sed 's/0x8086:/8086:/g')"
expect_contains "guest got a DHCP lease" "GUEST-LEASE" "$out"
expect_contains "lease is from the test host's pool" "$TB_NET_PREFIX.1" "$(echo "$out" | grep GUEST-LEASE)"
expect_contains "10 pings, no loss" "GUEST-PING" "$out"
expect_contains "guest finished" "GUEST-DONE" "$out"
run_ok "e1000e back to its driver" tb_unbind_vfio $NIC_BDF
expect_eq "e1000e on e1000e again" e1000e "$(current_driver $NIC_BDF)"

# NVMe VF: the test host writes a pattern to the namespace, the guest reads it through the VF and
# writes a new one, the test host reads that back.
ns=/dev/$(ls /sys/bus/pci/devices/$NVME_BDF/nvme)n1
wait_for 20 test -b "$ns" || fail "no namespace block device $ns on the PF"
printf 'altovirt-pattern-1' | dd of="$ns" bs=512 conv=sync,fsync oflag=direct 2>/dev/null
run_ok "2 NVMe VFs with resources" tb_nvme_vfs 2
vf=$(tb_nvme_vf 1)
[ -n "$vf" ] || fail "VF 1 of $NVME_BDF does not exist"
pass "VF 1 is $vf"
run_ok "VF to vfio-pci" tb_bind_vfio "$vf"
out=$(qemu_guest nvme-read,nvme-write "guest.pattern=altovirt-pattern-1 guest.newpattern=altovirt-pattern-2" \
      -device vfio-pci,host="$vf" 2>&1)
echo "$out" | grep GUEST-
expect_contains "guest read the host's pattern through the VF" "GUEST-NVME-READ altovirt-pattern-1" "$out"
expect_contains "guest wrote a new pattern" "GUEST-NVME-WRITE altovirt-pattern-2" "$out"
got=$(dd if="$ns" bs=512 count=1 iflag=direct 2>/dev/null | tr -d '\0')
expect_eq "the host reads the guest's pattern" altovirt-pattern-2 "$got"
finish

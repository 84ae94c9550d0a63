#!/usr/bin/env bash
# The arm64 testbed (testbed/testbed --arch arm64): the test host is an aarch64 Linux whose KVM runs in
# VHE mode, whose PCIe devices sit behind an SMMUv3, each in its own IOMMU group (UEFI+ACPI enables
# ACS on the root ports), and hostlib.sh's helpers work there unchanged with the arm64 user space:
# the DHCP server on the e1000e's link partner gives the e1000e a lease, the e1000e binds to vfio-pci,
# and an NVMe SR-IOV VF is created (nvme-cli's virtualization management) and bound to vfio-pci in a
# group of its own, not its PF's.
. "$(dirname "$0")/../lib.sh"

# group BDF: the IOMMU group number of BDF (empty when it has none).
group() { basename "$(readlink "/sys/bus/pci/devices/$1/iommu_group" 2>/dev/null)" 2>/dev/null; }
# expect_own_vfio_group WHAT BDF: BDF is on vfio-pci, alone in its IOMMU group (so the group is viable:
# every device in it is bound to vfio-pci), the group translates DMA (not identity-mapped) through
# the SMMUv3, and its /dev/vfio node opens.
expect_own_vfio_group() {
  local what=$1 bdf=$2 g
  expect_eq "$what bound to vfio-pci" vfio-pci "$(current_driver "$bdf")"
  g=$(group "$bdf")
  [ -n "$g" ] || fail "$what ($bdf) has no IOMMU group"
  expect_eq "$what alone in IOMMU group $g" "$bdf" "$(ls "/sys/kernel/iommu_groups/$g/devices" | tr '\n' ' ' | sed 's/ $//')"
  expect_eq "$what's group $g translates DMA" DMA "$(cat "/sys/kernel/iommu_groups/$g/type")"
  expect_contains "$what behind the SMMUv3" smmu3 "$(readlink "/sys/bus/pci/devices/$bdf/iommu")"
  [ -c "/dev/vfio/$g" ] || fail "/dev/vfio/$g does not exist"
  exec 9<>"/dev/vfio/$g" || fail "cannot open /dev/vfio/$g"
  exec 9>&-
  pass "/dev/vfio/$g opens"
}

step "the test host is arm64"
expect_eq "test host architecture" aarch64 "$(uname -m)"
expect_contains "test host kernel" -arm64 "$(uname -r)"
expect_eq "the test host's bash is arm64" aarch64 "$(bash -c 'echo $MACHTYPE' | cut -d- -f1)"

step "KVM in VHE mode"
log=$(dmesg)
expect_contains "CPUs started at EL2" "All CPU(s) started at EL2" "$log"
expect_contains "KVM in VHE mode" "kvm [1]: VHE mode initialized successfully" "$log"
[ -c /dev/kvm ] || fail "/dev/kvm does not exist"
exec 9<>/dev/kvm || fail "cannot open /dev/kvm"
exec 9>&-
pass "/dev/kvm opens"

step "SMMUv3"
expect_contains "SMMUv3 probed" "arm-smmu-v3" "$(echo "$log" | grep -m1 'ias .*oas')"
groups=$(ls /sys/kernel/iommu_groups | wc -l)
[ "$groups" -ge 6 ] || fail "only $groups IOMMU groups (expected one per device)"
pass "$groups IOMMU groups"
expect_eq "e1000e at $TB_NIC" "0x8086 0x10d3" "$(cat /sys/bus/pci/devices/$TB_NIC/vendor /sys/bus/pci/devices/$TB_NIC/device | tr '\n' ' ' | sed 's/ $//')"
expect_eq "NVMe PF at $TB_NVME" "0x1b36 0x0010" "$(cat /sys/bus/pci/devices/$TB_NVME/vendor /sys/bus/pci/devices/$TB_NVME/device | tr '\n' ' ' | sed 's/ $//')"
expect_eq "virtio-net link partner at $TB_PARTNER" "0x1af4" "$(cat /sys/bus/pci/devices/$TB_PARTNER/vendor)"

step "DHCP server on the link partner, lease on the e1000e"
wait_for 20 test -n "$(tb_netdev $TB_NIC)" || fail "the e1000e ($TB_NIC) has no network interface (driver: $(current_driver $TB_NIC))"
nic=$(tb_netdev $TB_NIC)
run_ok "tb_dhcp_server" tb_dhcp_server
pgrep -f 'udhcpd.*/tmp/udhcpd.conf' >/dev/null || fail "udhcpd is not running"
pass "udhcpd runs"
ip link set "$nic" up
wait_for 20 grep -qx 1 "/sys/class/net/$nic/carrier" || fail "$nic has no link"
pass "$nic link up"
lease=$(busybox udhcpc -i "$nic" -n -q -f -t 10 -T 1 -s /bin/true 2>&1) || fail "no DHCP lease on $nic: $lease"
expect_contains "DHCP lease over the e1000e" "lease of $TB_NET_PREFIX.1" "$lease"
ip link set "$nic" down

step "e1000e to vfio-pci"
tb_bind_vfio "$TB_NIC"
expect_own_vfio_group "e1000e" "$TB_NIC"

step "NVMe SR-IOV VF to vfio-pci"
expect_eq "NVMe PF driver" nvme "$(current_driver $TB_NVME)"
expect_eq "NVMe sriov_totalvfs" 4 "$(cat /sys/bus/pci/devices/$TB_NVME/sriov_totalvfs)"
out=$(tb_nvme_vfs 1 2>&1) || fail "tb_nvme_vfs 1 failed: $out"
vf=$(tb_nvme_vf 1)
[ -n "$vf" ] && [ -e "/sys/bus/pci/devices/$vf" ] || fail "no VF 1 on $TB_NVME"
pass "VF 1 is $vf"
tb_bind_vfio "$vf"
expect_own_vfio_group "NVMe VF" "$vf"
[ "$(group "$vf")" != "$(group $TB_NVME)" ] || fail "the VF shares its PF's IOMMU group $(group $TB_NVME)"
pass "VF group $(group "$vf") is not the PF's ($(group $TB_NVME))"
finish

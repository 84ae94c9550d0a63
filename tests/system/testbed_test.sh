#!/usr/bin/env bash
# The testbed itself: inside the test host, IOMMU groups exist, vfio-pci binds a device through
# driver_override and its /dev/vfio/N opens, /dev/kvm runs a vCPU to HLT, and the NVMe PF is SR-IOV
# capable with 4 VFs; one idle KVM VM (the testbed's holder) lives throughout.
. "$(dirname "$0")/lib.sh"

groups=$(ls /sys/kernel/iommu_groups | wc -l)
[ "$groups" -gt 0 ] || fail "no IOMMU groups in /sys/kernel/iommu_groups (is intel_iommu=on?)"
pass "$groups IOMMU groups"
[ -e "/sys/bus/pci/devices/$NIC_BDF/iommu_group" ] || fail "$NIC_BDF has no IOMMU group"
pass "e1000e is in an IOMMU group"

# A reset of the e1000e resets it: its RX ring base and RCTL.EN, set by hand through BAR0, read back
# as zero after the reset that VFIO_DEVICE_RESET uses (the bus reset: testbed/host-init replaces the
# PM reset, which QEMU's model ignores, so a stale RX ring DMA'd packets into the next guest's RAM).
expect_eq "e1000e reset method" bus "$(cat /sys/bus/pci/devices/$NIC_BDF/reset_method)"
rx_ring() {  # rx_ring set|get: RDBAL, RDLEN and RCTL of the NIC through its BAR0
  python3 - "/sys/bus/pci/devices/$NIC_BDF/resource0" "$1" <<'PY'
import mmap, os, struct, sys
m = mmap.mmap(os.open(sys.argv[1], os.O_RDWR | os.O_SYNC), 0x20000)
rd = lambda o: struct.unpack_from("<I", m, o)[0]
if sys.argv[2] == "set":
    struct.pack_into("<I", m, 0x2800, 0x12345000); struct.pack_into("<I", m, 0x2808, 4096)
    struct.pack_into("<I", m, 0x0100, rd(0x0100) | 2)
print("RDBAL=%#x RDLEN=%#x RCTL.EN=%d" % (rd(0x2800), rd(0x2808), rd(0x0100) >> 1 & 1))
PY
}
echo "$NIC_BDF" > "/sys/bus/pci/devices/$NIC_BDF/driver/unbind"
setpci -s "$NIC_BDF" COMMAND=0x0006
expect_eq "e1000e RX ring set through BAR0" "RDBAL=0x12345000 RDLEN=0x1000 RCTL.EN=1" "$(rx_ring set)"
echo 1 > "/sys/bus/pci/devices/$NIC_BDF/reset"
setpci -s "$NIC_BDF" COMMAND=0x0006
expect_eq "e1000e RX ring cleared by its reset" "RDBAL=0x0 RDLEN=0x0 RCTL.EN=0" "$(rx_ring get)"
echo "$NIC_BDF" > /sys/bus/pci/drivers_probe

run_ok "modprobe vfio-pci" modprobe vfio-pci
run_ok "modprobe kvm_amd" modprobe kvm_amd
wait_for 10 test -e "/sys/bus/pci/devices/$NIC_BDF/driver" || fail "e1000e driver did not bind $NIC_BDF"
expect_eq "e1000e driver on the NIC" e1000e "$(current_driver $NIC_BDF)"

# Detach the NIC to vfio-pci by driver_override, the way altoctl will.
echo vfio-pci > /sys/bus/pci/devices/$NIC_BDF/driver_override
echo $NIC_BDF > /sys/bus/pci/devices/$NIC_BDF/driver/unbind
echo $NIC_BDF > /sys/bus/pci/drivers_probe
expect_eq "NIC bound to vfio-pci" vfio-pci "$(current_driver $NIC_BDF)"
group=$(basename "$(readlink /sys/bus/pci/devices/$NIC_BDF/iommu_group)")
[ -c /dev/vfio/$group ] || fail "/dev/vfio/$group does not exist"
exec 9<>/dev/vfio/$group || fail "cannot open /dev/vfio/$group"
exec 9>&-
pass "/dev/vfio/$group opens"
exec 9<>/dev/vfio/vfio || fail "cannot open /dev/vfio/vfio"
exec 9>&-
pass "/dev/vfio/vfio opens"

# And back to e1000e.
echo > /sys/bus/pci/devices/$NIC_BDF/driver_override
echo $NIC_BDF > /sys/bus/pci/drivers/vfio-pci/unbind
echo $NIC_BDF > /sys/bus/pci/drivers_probe
expect_eq "NIC back on e1000e" e1000e "$(current_driver $NIC_BDF)"

# The KVM holder (testbed/host-init): one idle VM for the test host's whole life, so that no test's
# VM is the first or the last one (whose creation and exit patch kernel text, which froze the test
# host under TCG). It is there before any test's VM, and still there after one has come and gone.
holder_vms() { ls /sys/kernel/debug/kvm 2>/dev/null | grep -c -- -; }
expect_eq "the KVM holder's VM exists before any test's" 1 "$(holder_vms)"
run_ok "KVM runs a vCPU to HLT" "$ALTOVIRT_BUILD/tests/system/kvm_hlt_probe"
expect_eq "the KVM holder's VM is still the only one after a test's VM came and went" 1 "$(holder_vms)"
expect_contains "the KVM holder is QEMU, paused" "testbed-kvm-holder" "$(ps -eo args | grep '[t]estbed-kvm-holder')"

expect_eq "NVMe is 1b36:0010" "0x1b36 0x0010" "$(cat /sys/bus/pci/devices/$NVME_BDF/vendor) $(cat /sys/bus/pci/devices/$NVME_BDF/device)"
expect_eq "NVMe sriov_totalvfs" 4 "$(cat /sys/bus/pci/devices/$NVME_BDF/sriov_totalvfs)"
expect_eq "NVMe sriov_numvfs" 0 "$(cat /sys/bus/pci/devices/$NVME_BDF/sriov_numvfs)"
finish

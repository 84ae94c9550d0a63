#!/usr/bin/env bash
# Runs inside the test host (see demo/demo.sh).
set -euo pipefail
step() { printf '\n== %s\n' "$*"; }
step "IOMMU (kernel messages)"
dmesg | grep -E 'DMAR: IOMMU enabled|IRQ remapping' || true
step "PCI devices with their IOMMU groups and drivers"
for d in /sys/bus/pci/devices/*; do
  g=$(basename "$(readlink "$d/iommu_group")")
  drv=none; [ -e "$d/driver" ] && drv=$(basename "$(readlink "$d/driver")")
  printf 'group %-3s %s  %-9s %s\n' "$g" "$(basename "$d")" "$drv" "$(lspci -s "$(basename "$d")" | cut -d' ' -f2-)"
done
step "vfio-pci takes the e1000e NIC (0000:01:00.0) through driver_override"
modprobe vfio-pci
nic=/sys/bus/pci/devices/0000:01:00.0
echo vfio-pci > $nic/driver_override
echo 0000:01:00.0 > $nic/driver/unbind
echo 0000:01:00.0 > /sys/bus/pci/drivers_probe
echo "driver now: $(basename "$(readlink $nic/driver)"), group device: $(ls /dev/vfio)"
step "KVM"
ls -l /dev/kvm; lsmod | grep -E '^kvm' || true
step "NVMe SR-IOV physical function (0000:02:00.0)"
nvme=/sys/bus/pci/devices/0000:02:00.0
echo "sriov_totalvfs=$(cat $nvme/sriov_totalvfs) sriov_numvfs=$(cat $nvme/sriov_numvfs)"
lspci -vvs 02:00.0 | grep -A3 'SR-IOV' || true

#!/usr/bin/env bash
# altovirt's VFIO layer against the real kernel in the test host: container, group, device, regions,
# IRQs, DMA mapping with the MSI window refused, reset, and the refusals a user can hit.
. "$(dirname "$0")/../lib.sh"
probe=$ALTOVIRT_BUILD/tests/system/vfio/vfio_probe

run_ok "modprobe vfio-pci" modprobe vfio-pci

# Refusals before the device is on vfio-pci.
out=$("$probe" $NIC_BDF 2>&1) && fail "opening a device on e1000e succeeded: $out"
expect_contains "device on its host driver is refused, naming the driver" \
  "0000:01:00.0 is bound to e1000e, not to vfio-pci: detach it first (altoctl nodedev-detach 0000:01:00.0)" "$out"
out=$("$probe" 0000:09:00.0 2>&1) && fail "opening a nonexistent device succeeded"
expect_contains "nonexistent address is refused" "there is no PCI device 0000:09:00.0" "$out"
expect_eq "the refused NIC is still on e1000e" e1000e "$(current_driver $NIC_BDF)"

echo vfio-pci > /sys/bus/pci/devices/$NIC_BDF/driver_override
echo $NIC_BDF > /sys/bus/pci/devices/$NIC_BDF/driver/unbind
echo $NIC_BDF > /sys/bus/pci/drivers_probe
expect_eq "NIC on vfio-pci" vfio-pci "$(current_driver $NIC_BDF)"

out=$("$probe" $NIC_BDF --map-mib 256 --reset 2>&1) || fail "vfio_probe failed: $out"
echo "$out"
expect_contains "config space reads the e1000e's id" "config_id=8086:10d3" "$out"
expect_contains "BAR0 is 128 KiB and mmappable" "region0 size=0x20000 mmap=1" "$out"
expect_contains "BAR0 through mmap and pread agree" "bar0_mmap_pread_agree=1" "$out"
expect_contains "MSI-X has 5 vectors" "irq2 count=5" "$out"
expect_contains "an MSI-X vector connects to an eventfd" "msix_eventfd=ok" "$out"
expect_contains "256 MiB of RAM DMA-mapped" "dma_mapped_mib=256" "$out"
expect_contains "the MSI window is refused for RAM" "msi_window_refused=1" "$out"
expect_contains "device reset" "reset=ok" "$out"

# A second process cannot take the group while the first holds it (the "another VM" case).
"$probe" $NIC_BDF --hold 20 > /tmp/holder.out 2>&1 &
holder=$!
wait_for 15 grep -q config_id /tmp/holder.out || fail "the holder did not open the device: $(cat /tmp/holder.out)"
out=$("$probe" $NIC_BDF 2>&1) && fail "a second process opened a held group: $out"
expect_contains "busy group is refused" "already in use by another process" "$out"
kill $holder; wait_pid 30 "$holder" "the group holder" 2>/dev/null || true

# A group that is not viable: the SATA controller 00:1f.2 on vfio-pci shares its group with the SMBus
# controller on i801_smbus; the error names every device of the group and its driver.
modprobe i2c-i801 || fail "modprobe i2c-i801"
wait_for 10 test "$(current_driver 0000:00:1f.3)" = i801_smbus || fail "i801_smbus did not bind 0000:00:1f.3"
tb_bind_vfio 0000:00:1f.2
expect_eq "SATA controller on vfio-pci" vfio-pci "$(current_driver 0000:00:1f.2)"
out=$("$probe" 0000:00:1f.2 2>&1) && fail "a non-viable group was opened: $out"
expect_contains "non-viable group is refused" "is not viable" "$out"
expect_contains "the error names the blocking device and its driver" "0000:00:1f.3 (i801_smbus)" "$out"
tb_unbind_vfio 0000:00:1f.2

# After the last user, the device goes back to e1000e and works.
echo > /sys/bus/pci/devices/$NIC_BDF/driver_override
echo $NIC_BDF > /sys/bus/pci/drivers/vfio-pci/unbind
echo $NIC_BDF > /sys/bus/pci/drivers_probe
expect_eq "NIC back on e1000e" e1000e "$(current_driver $NIC_BDF)"
wait_for 10 ls /sys/bus/pci/devices/$NIC_BDF/net || fail "no network interface for $NIC_BDF after reattach"
pass "e1000e has its network interface again"
finish

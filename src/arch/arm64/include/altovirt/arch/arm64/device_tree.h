// The device tree altovirt's arm64 virt board hands the kernel (arm64 booting.rst: x0 holds its
// address): memory, the vCPUs with PSCI 0.2 over HVC (KVM implements it), the GICv3 and its ITS,
// the architected timer, the PL011 console, PL031 RTC, PL061 GPIO with the power key (gpio-keys,
// KEY_POWER), and the generic ECAM PCIe host (pci-host-ecam-generic) with its windows, MSIs
// through the ITS (msi-map) and INTx through the GIC (interrupt-map). Bindings:
// Documentation/devicetree/bindings/{arm/psci, interrupt-controller/arm,gic-v3, timer/arm,arch_timer,
// serial/pl011, rtc/arm,pl031, gpio/pl061-gpio, input/gpio-keys, pci/host-generic-pci,
// mtd/mtd-physmap, firmware/qemu,fw-cfg-mmio}.yaml.
//
// Threading: a pure function.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "altovirt/base/error.h"

namespace altovirt::arch::arm64 {

struct DeviceTreeConfig {
  unsigned cpus = 1;
  uint64_t ram_size = 0;  // at kRamBase
  std::string cmdline;
  std::optional<std::pair<uint64_t, uint64_t>> initrd;  // [start, end)
  bool its = true;                                      // MSIs through the ITS (else none)
  unsigned last_bus = 15;                               // the ECAM's bus range is 0..last_bus
  // UEFI firmware boot: the flash banks (cfi-flash, ArmVirtPkg's NorFlashQemuLib finds the variable
  // store there) and fw_cfg (qemu,fw-cfg-mmio); the firmware hands the tree on to the OS.
  bool firmware = false;
};

Result<std::vector<uint8_t>> build_device_tree(const DeviceTreeConfig& c);

}  // namespace altovirt::arch::arm64

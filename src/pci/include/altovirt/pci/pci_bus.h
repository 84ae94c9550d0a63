// PciBus: the root bus pcie.0 of segment 0, with the host bridge (8086:29c0, as on QEMU's q35) at
// 00.0, and the two ways to reach config space:
//   - configuration mechanism #1 (PCI 3.0 3.2.2.3.2): a dword address at port 0xCF8 (enable bit 31,
//     bus [23:16], device [15:11], function [10:8], register [7:2]), data at 0xCFC..0xCFF;
//   - ECAM / MMCONFIG (PCIe 5.0 7.2.2): offset = bus << 20 | device << 15 | function << 12 | register.
// Accesses to a function that does not exist read all ones and writes are dropped ("master abort",
// PCI 3.0 6.1), so a probing guest sees an empty slot, never a crash.
//
// Threading: add()/assign_resources() while building the VM. Config accesses from any vCPU thread
// are serialised by one internal mutex (config cycles are rare; BAR accesses do not come here).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/pci/pci_device.h"

namespace altovirt::pci {

struct PciAddress {
  uint8_t bus = 0, slot = 0, function = 0;
  std::string str() const;  // "0000:00:03.0"
  bool operator==(const PciAddress&) const = default;
};

// "SLOT[.FN]" as in QEMU's addr= (slot in hex 0..1f, function 0..7).
Result<PciAddress> parse_slot_function(std::string_view text);

// The IOAPIC input that INTx pin `pin` (0 = INTA .. 3 = INTD) of a function in `slot` of pcie.0 is
// wired to: pins 16..23 with the conventional swizzle, as the DSDT's _PRT tells the guest. A VFIO
// device's INTx is an irqfd on this GSI (level-triggered, with a resample fd).
inline uint32_t intx_gsi(unsigned slot, unsigned pin) { return 16 + ((slot + pin) & 3); }

struct PciWindows {
  uint64_t mmio32_base, mmio32_size;
  uint64_t mmio64_base, mmio64_size;
  uint32_t io_base, io_size;
};

class HostBridge : public PciDevice {
 public:
  HostBridge();
};

class PciBus {
 public:
  PciBus();

  // Places `device` at `slot`.`function` (slot nullopt: the first free slot, function 0).
  // multifunction sets the header type's multi-function bit, which function 0 must have for the
  // guest to look at functions 1..7 (PCI 3.0 6.2.1).
  Result<PciAddress> add(std::shared_ptr<PciDevice> device, std::optional<unsigned> slot, unsigned function,
                         bool multifunction);
  // Every slot that has functions other than 0 must have a multi-function function 0.
  Status check_topology() const;
  // Assigns every BAR an address from the windows (largest first, naturally aligned) and turns on
  // decode, as firmware does before booting an OS.
  Status assign_resources(const PciWindows& windows);

  uint32_t config_read(PciAddress a, unsigned offset, unsigned size);
  void config_write(PciAddress a, unsigned offset, unsigned size, uint32_t value);

  // Port I/O at 0xCF8..0xCFF: `port_offset` is port - 0xCF8.
  void cf8_read(unsigned port_offset, std::span<uint8_t> data);
  void cf8_write(unsigned port_offset, std::span<const uint8_t> data);
  // ECAM: `offset` from the ECAM base.
  void ecam_read(uint64_t offset, std::span<uint8_t> data);
  void ecam_write(uint64_t offset, std::span<const uint8_t> data);

  std::vector<std::pair<PciAddress, std::shared_ptr<PciDevice>>> devices() const;

 private:
  std::shared_ptr<PciDevice> find_locked(PciAddress a) const;
  mutable std::mutex mutex_;
  std::map<unsigned, std::shared_ptr<PciDevice>> devices_;  // key: slot << 3 | function
  uint32_t cf8_ = 0;
};

}  // namespace altovirt::pci

// PciBus: the root bus pcie.0 of segment 0, with the host bridge (8086:29c0, as on QEMU's q35) at
// 00.0, the bridges (root ports) on it and the devices behind them, and the two ways to reach
// config space:
//   - configuration mechanism #1 (PCI 3.0 3.2.2.3.2): a dword address at port 0xCF8 (enable bit 31,
//     bus [23:16], device [15:11], function [10:8], register [7:2]), data at 0xCFC..0xCFF;
//   - ECAM / MMCONFIG (PCIe 5.0 7.2.2): offset = bus << 20 | device << 15 | function << 12 | register.
// Accesses to a function that does not exist read all ones and writes are dropped ("master abort",
// PCI 3.0 6.1), so a probing guest sees an empty slot, never a crash.
//
// Buses: a config cycle for bus N != 0 goes to the bridge on bus 0 whose live secondary..subordinate
// range holds N and, when N is its secondary bus, to the device there (PCI-to-PCI Bridge spec 1.2,
// 3.1.2.1); bridges behind bridges are not supported (a root port sits on the root bus). Bus numbers
// and bridge windows are programmed before boot, as firmware would, since a directly booted guest
// has none: each bridge gets the next bus number when it is added (in the order the machine adds
// them), and assign_resources() sizes and places the windows and the BARs behind them.
//
// Threading: add()/add_behind()/assign_resources() while building the VM; hot_add()/hot_remove()/
// request_unplug() from any thread while it runs. Config accesses from any vCPU thread and the
// hot-plug calls are serialised by one internal mutex (config cycles are rare; BAR accesses do not
// come here).
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
#include "altovirt/pci/host_bridge.h"
#include "altovirt/pci/pci_bridge.h"
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
// device's INTx is an irqfd on this GSI (level-triggered, with a resample fd). For a device behind
// a bridge use PciBus::intx_gsi(), which swizzles the pin through the bridge first.
inline uint32_t intx_gsi(unsigned slot, unsigned pin) { return 16 + ((slot + pin) & 3); }

// The pin a bridge's primary side shows for INTx pin `pin` of device `device` on its secondary bus
// (PCI-to-PCI Bridge spec 1.2, 9.1, table 9-1): (pin + device) mod 4. A root port's only device is
// device 0, so its pins pass unchanged.
inline unsigned swizzle_pin(unsigned device, unsigned pin) { return (pin + device) & 3; }

struct PciWindows {
  uint64_t mmio32_base, mmio32_size;
  uint64_t mmio64_base, mmio64_size;
  uint32_t io_base, io_size;
};

class PciBus {
 public:
  // `last_bus`: the highest bus number config space reaches (the ECAM window's, as the MCFG says).
  explicit PciBus(unsigned last_bus = 255);

  // Places `device` at `slot`.`function` of the root bus (slot nullopt: the first free slot,
  // function 0). multifunction sets the header type's multi-function bit, which function 0 must
  // have for the guest to look at functions 1..7 (PCI 3.0 6.2.1). A PciBridge gets its bus number.
  Result<PciAddress> add(std::shared_ptr<PciDevice> device, std::optional<unsigned> slot, unsigned function,
                         bool multifunction);
  // Places `device` at 0.`function` of the bus behind `bridge`, a bridge on the root bus.
  Result<PciAddress> add_behind(PciBridge& bridge, std::shared_ptr<PciDevice> device, unsigned function,
                                bool multifunction);
  // Hot-plug while the guest runs (each takes the config lock, so vCPU config cycles never see a
  // half-changed bus). hot_add places `device` at 0.`function` behind `bridge` and tells the guest;
  // request_unplug asks the guest to let go of what is behind `bridge`; hot_remove takes the
  // device at `function` away (after the guest let go) and returns it, null when there is none.
  Result<PciAddress> hot_add(PciBridge& bridge, std::shared_ptr<PciDevice> device, unsigned function);
  Status request_unplug(PciBridge& bridge);
  // As request_unplug, if `device` is what sits behind `bridge` (looked up under the lock, since
  // the guest may renumber buses); false when it is not there.
  Result<bool> request_unplug_of(PciBridge& bridge, const PciDevice* device);
  // Whether `bridge` would take a hot-added device now (checked before a device is built for it).
  Status can_hot_add(const PciBridge& bridge) const;
  std::shared_ptr<PciDevice> hot_remove(PciBridge& bridge, unsigned function);
  // Takes `device` off whichever bridge holds it (a hot-add that failed half-way); the slot reads
  // empty again. False when no bridge holds it.
  bool remove_device(const PciDevice* device);
  // What the guest let go of behind `bridge` (PciBridge::take_ejected), under the lock.
  std::vector<std::pair<unsigned, std::shared_ptr<PciDevice>>> take_ejected(PciBridge& bridge);
  // Every slot that has functions other than 0 must have a multi-function function 0.
  Status check_topology() const;
  // Firmware's job before an OS boots: sizes every bridge's windows from the BARs behind it (plus
  // room for a hot-added device), places the root bus's BARs and the bridge windows in `windows`
  // (largest alignment first), then the BARs behind each bridge inside its windows, programs it
  // all and turns on decode.
  Status assign_resources(const PciWindows& windows);
  // The IOAPIC input (GSI) INTx pin `pin` (0 = INTA) of the function at `a` reaches: the pin is
  // swizzled through the bridge it sits behind, then mapped as the root bus's _PRT says.
  Result<uint32_t> intx_gsi(PciAddress a, unsigned pin) const;
  uint32_t config_read(PciAddress a, unsigned offset, unsigned size);
  void config_write(PciAddress a, unsigned offset, unsigned size, uint32_t value);

  // Port I/O at 0xCF8..0xCFF: `port_offset` is port - 0xCF8.
  void cf8_read(unsigned port_offset, std::span<uint8_t> data);
  void cf8_write(unsigned port_offset, std::span<const uint8_t> data);
  // ECAM: `offset` from the ECAM base.
  void ecam_read(uint64_t offset, std::span<uint8_t> data);
  void ecam_write(uint64_t offset, std::span<const uint8_t> data);

  // The q35 host bridge at 00:00.0 (PCIEXBAR: where ECAM decodes).
  HostBridge& host_bridge() const { return *host_bridge_; }

  // The functions on bus `bus` (by the bridges' live bus numbers) with their addresses.
  std::vector<std::pair<PciAddress, std::shared_ptr<PciDevice>>> devices(uint8_t bus = 0) const;

 private:
  std::shared_ptr<PciDevice> find_locked(PciAddress a) const;
  PciBridge* bridge_for_locked(uint8_t bus) const;
  mutable std::mutex mutex_;
  std::map<unsigned, std::shared_ptr<PciDevice>> devices_;  // key: slot << 3 | function
  std::vector<std::pair<unsigned, PciBridge*>> bridges_;    // on the root bus: key, bridge (owned by devices_)
  std::shared_ptr<HostBridge> host_bridge_;
  unsigned last_bus_;
  unsigned next_bus_ = 1;
  uint32_t cf8_ = 0;
};

}  // namespace altovirt::pci

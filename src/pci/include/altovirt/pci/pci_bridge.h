// PciBridge: a PCI-to-PCI bridge function (type 1 header, PCI-to-PCI Bridge spec 1.2 chapter 3) and
// the bus behind it. The base knows the header: primary/secondary/subordinate bus numbers, the I/O
// window (16-bit), the memory window (32-bit, non-prefetchable), the prefetchable window (64-bit)
// and Bridge Control, all writable by the guest, which may renumber buses and move windows as it
// likes. The PciBus routes a config cycle for bus N to the bridge whose live secondary..subordinate
// range holds N (3.1.2.1: type 1 to type 0 conversion on the secondary bus). A subclass says how
// many devices its secondary bus has: a PCIe downstream port, whose link leads to one device, has
// only device 0 (PCIe 5.0 7.3.1: the port answers Unsupported Request for the others, which reads
// all ones).
//
// Simplification: altovirt's MMIO and port I/O dispatch is flat (by address), so the windows do not
// gate a child's BARs; a guest that programs a child BAR outside its bridge's window still reaches
// it. That is more than real hardware does, never less, and no guest depends on the difference.
//
// Threading: as PciDevice: config_* under the PciBus's config lock. add_child() while the VM is
// built (before any vCPU runs); the hot-plug calls (plug_child, remove_child, request_unplug) only
// through PciBus, which holds that lock, so child lookups from config cycles never race them.
#pragma once

#include <linux/pci_regs.h>

#include <cstdint>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/pci/pci_device.h"

namespace altovirt::pci {

// One bridge window as the registers hold it; empty when base > limit (3.2.5.8, 3.2.5.10).
struct BridgeWindow {
  uint64_t base = 0, limit = 0;
  bool empty() const { return base > limit; }
};

class PciBridge : public PciDevice {
 public:
  // Memory windows have 1 MiB granularity, I/O windows 4 KiB (PCI-to-PCI Bridge spec 3.2.5.8/.10).
  static constexpr uint64_t kMemGranule = uint64_t{1} << 20;
  static constexpr uint64_t kIoGranule = 4096;

  PciBridge(std::string name, uint16_t vendor, uint16_t device, uint32_t class_code, uint8_t revision);

  // How many device numbers the secondary bus has (1 for a PCIe downstream port, 32 otherwise).
  virtual unsigned device_slots() const = 0;

  uint8_t primary_bus() const { return config_.get8(PCI_PRIMARY_BUS); }
  uint8_t secondary_bus() const { return config_.get8(PCI_SECONDARY_BUS); }
  uint8_t subordinate_bus() const { return config_.get8(PCI_SUBORDINATE_BUS); }
  // True when a type 1 cycle for `bus` goes through this bridge (secondary <= bus <= subordinate;
  // a bridge whose secondary number is still 0 has not been set up and forwards nothing).
  bool forwards(uint8_t bus) const { return secondary_bus() != 0 && bus >= secondary_bus() && bus <= subordinate_bus(); }
  void set_bus_numbers(uint8_t primary, uint8_t secondary, uint8_t subordinate);

  BridgeWindow io_window() const;
  BridgeWindow mem_window() const;
  BridgeWindow pref_window() const;
  // As firmware does; an empty window (base > limit) turns the window off.
  void set_io_window(BridgeWindow w);
  void set_mem_window(BridgeWindow w);
  void set_pref_window(BridgeWindow w);

  // The device at `slot`.`function` of the secondary bus, or nullptr.
  std::shared_ptr<PciDevice> child(unsigned slot, unsigned function) const;
  Status add_child(std::shared_ptr<PciDevice> device, unsigned slot, unsigned function);
  // Key: slot << 3 | function.
  const std::map<unsigned, std::shared_ptr<PciDevice>>& children() const { return children_; }

  // Hot-plug, for a bridge with a hot-plug slot (a root port); the others refuse. Each runs under
  // the bus's config lock (PciBus::hot_add and friends call them).
  // Whether a device may be hot-added at slot 0 now (the slot is empty, not being emptied, ...).
  virtual Status can_hot_add() const { return fail("{} has no hot-plug slot", name()); }
  // Adds `device` while the guest runs and tells the guest (presence detect, link up).
  Status plug_child(std::shared_ptr<PciDevice> device, unsigned function);
  // Asks the guest to let go of the slot's device (the attention button); the bridge's owner learns
  // when the guest has (a root port's eject handler).
  virtual Status request_unplug() { return fail("{} has no hot-plug slot", name()); }
  // Takes the device at `function` of slot 0 away (the guest has let go, or never took it); the last
  // one gone leaves the slot empty for the guest to see. Null when there is none.
  std::shared_ptr<PciDevice> remove_child(unsigned function);
  // The devices (with their function numbers) the guest has let go of and the bridge has already
  // taken out of its slot, for their owner to tear down; each is handed out once.
  virtual std::vector<std::pair<unsigned, std::shared_ptr<PciDevice>>> take_ejected() { return {}; }

 protected:
  // Called after add_child() (a root port updates its slot's presence).
  virtual void children_changed() {}
  // Called after plug_child() / the last remove_child(): a hot-plug slot raises its events.
  virtual void hot_plugged() {}
  virtual void hot_unplugged() {}

 private:
  std::map<unsigned, std::shared_ptr<PciDevice>> children_;
};

}  // namespace altovirt::pci

// RootPort: a PCI Express root port as QEMU's and StratoVirt's "pcie-root-port" (Red Hat 1b36:000c,
// class 06/04/00, a PCI-to-PCI bridge), on the root bus, with one device (device 0, functions 0..7)
// on its secondary bus. Guests drive it with the stock pcieport/pciehp drivers.
//
// What it has (PCIe Base spec 5.0, 7.5.3):
//   - the PCI Express capability, version 2, device/port type Root Port, Slot Implemented;
//   - Link Capabilities: 2.5 GT/s x1, Data Link Layer Link Active Reporting Capable, port number;
//     Link Status reads DLL Link Active while a device is present (7.5.3.8);
//   - Slot Capabilities: Hot-Plug Capable and Surprise, attention button, power controller,
//     attention and power indicators, physical slot number (7.5.3.9);
//   - Slot Control/Status: a cold-plugged slot reads Presence Detect State=1, power on (PCC=0),
//     power indicator on, link up; an empty slot reads not present, power off, indicators off. Linux's
//     pciehp checks exactly this at probe, and would power down (and so remove) a present device
//     whose slot reads off, or report a presence change on an inconsistent one. Every Slot Control
//     write completes at once and sets Command Completed (6.7.3.2), which pciehp waits for;
//   - an MSI capability with one vector (the PCIe capability's Interrupt Message Number is 0).
//
// Hot-plug is a later issue. Room is left for it: set_present() flips presence and link state;
// what is still missing is raising Presence Detect Changed / Attention Button Pressed / Data Link
// Layer State Changed and Command Completed as MSI (when HPIE and the event's enable bit are set,
// on the edge "no enabled event pending -> some", as QEMU's hpev_notified), and acting on the
// guest's power-off (PCC=1 with PIC off) by detaching the device.
//
// Threading: as PciBridge (config accesses under the bus's config lock; set-up before the VM runs).
#pragma once

#include <memory>

#include "altovirt/pci/msi.h"
#include "altovirt/pci/pci_bridge.h"

namespace altovirt::pci {

struct RootPortOptions {
  std::string name = "pcie-root-port";
  uint8_t port = 0;            // Link Capabilities Port Number (QEMU's port=)
  uint16_t slot_number = 0;    // Slot Capabilities Physical Slot Number (13 bits)
};

class RootPort : public PciBridge {
 public:
  static constexpr uint16_t kVendor = 0x1b36, kDevice = 0x000c;
  // `msi_sink` (owned by the port) receives its MSI; null: the port has no MSI capability.
  static Result<std::shared_ptr<RootPort>> create(const RootPortOptions& options, std::unique_ptr<MsiSink> msi_sink);

  unsigned device_slots() const override { return 1; }
  void config_write(unsigned offset, unsigned size, uint32_t value) override;

  unsigned pcie_cap() const { return exp_; }
  bool present() const;
  // Sets the slot's presence, link and power state as for a device that is cold-plugged (true) or
  // an empty slot (false). add_child() calls it.
  void set_present(bool present);

 protected:
  void children_changed() override { set_present(!children().empty()); }

 private:
  explicit RootPort(const RootPortOptions& options);
  Status init();
  RootPortOptions options_;
  unsigned exp_ = 0;
  std::unique_ptr<MsiSink> msi_sink_;  // before msi_, which refers to it
  std::unique_ptr<MsiCapability> msi_;
};

}  // namespace altovirt::pci

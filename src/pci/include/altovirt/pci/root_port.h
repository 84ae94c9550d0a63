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
// Native hot-plug (PCIe 5.0 6.7, the model Linux's pciehp drives; QEMU and StratoVirt do the same):
//   - hot-add (PciBus::hot_add): the slot reads present with its link up, and the port raises
//     Presence Detect Changed and Data Link Layer State Changed; the guest powers the slot on
//     (each Slot Control write is a command that completes at once) and enumerates the device;
//   - hot-remove (request_unplug): the port raises Attention Button Pressed; the guest unbinds its
//     driver, removes the device and powers the slot off (Power Controller off, Power Indicator
//     off). In that very write the device leaves the slot, which reads empty (PDC, DLLSC), as in
//     QEMU: Linux's pciehp looks at presence right after its power-off and would power an
//     occupied slot on again. The eject handler then tells the owner, who takes the device
//     (take_ejected) and tears it down. A slot the guest never powered on is emptied at once, since
//     no driver can hold it.
//   - events reach the guest as the port's MSI when Hot-Plug Interrupt Enable and the event's own
//     enable are set, on the edge from "no enabled event pending" to "some" (6.7.3.4; Linux's ISR
//     in MSI mode re-reads Slot Status until it is clear), re-checked after every config write;
//     with MSI off nothing is sent (the port has no INTx), and the guest finds the events when it
//     turns MSI on.
// Threading: as PciBridge (config accesses under the bus's config lock; set-up before the VM runs).
#pragma once

#include <functional>
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

  // Called (on a vCPU thread, or the thread of request_unplug; under the bus's config lock) when
  // the guest has let go of the slot's device, which is out of the slot already. The handler must
  // only hand the teardown to another thread (PciBus::take_ejected); it must not call into the bus.
  void set_eject_handler(std::function<void()> handler) { eject_ = std::move(handler); }
  Status can_hot_add() const override;
  Status request_unplug() override;
  // Whether the guest has powered the slot on (Power Controller Control reads 0).
  bool powered() const;
  bool unplug_requested() const { return unplug_requested_; }
  std::vector<std::pair<unsigned, std::shared_ptr<PciDevice>>> take_ejected() override;

 protected:
  void children_changed() override { set_present(!children().empty()); }
  void hot_plugged() override;
  void hot_unplugged() override;

 private:
  explicit RootPort(const RootPortOptions& options);
  Status init();
  // Sets Slot Status event bits and sends the MSI if that makes an enabled event pending.
  void slot_event(uint16_t events);
  void update_interrupt();
  // The guest let go: every function leaves the slot (into ejected_), then the handler is told.
  void eject();
  RootPortOptions options_;
  unsigned exp_ = 0;
  std::unique_ptr<MsiSink> msi_sink_;  // before msi_, which refers to it
  std::unique_ptr<MsiCapability> msi_;
  std::function<void()> eject_;
  std::vector<std::pair<unsigned, std::shared_ptr<PciDevice>>> ejected_;
  bool irq_pending_ = false;       // an enabled event was pending after the last check
  bool unplug_requested_ = false;  // the attention button was pressed for a removal
};

}  // namespace altovirt::pci

#include "altovirt/pci/pci_bridge.h"

namespace altovirt::pci {

PciBridge::PciBridge(std::string name, uint16_t vendor, uint16_t device, uint32_t class_code, uint8_t revision)
    : PciDevice(std::move(name), vendor, device, class_code, revision) {
  // Type 1 header (PCI-to-PCI Bridge spec 1.2, 3.2). BARs 0/1 and the ROM BAR stay read-only zero:
  // this bridge has no registers of its own in memory space.
  config_.set8(PCI_HEADER_TYPE, PCI_HEADER_TYPE_BRIDGE);
  config_.set_wmask(PCI_PRIMARY_BUS, 1, 0xff);
  config_.set_wmask(PCI_SECONDARY_BUS, 1, 0xff);
  config_.set_wmask(PCI_SUBORDINATE_BUS, 1, 0xff);
  config_.set_wmask(PCI_SEC_LATENCY_TIMER, 1, 0xff);
  // I/O base/limit: bits 7:4 are address bits 15:12, bits 3:0 read 0 (16-bit I/O decode, 3.2.5.6).
  config_.set_wmask(PCI_IO_BASE, 1, 0xf0);
  config_.set_wmask(PCI_IO_LIMIT, 1, 0xf0);
  // Secondary status: the error bits are RW1C as in the primary status register (3.2.5.7).
  config_.set_w1cmask(PCI_SEC_STATUS, 2,
                      PCI_STATUS_PARITY | PCI_STATUS_SIG_TARGET_ABORT | PCI_STATUS_REC_TARGET_ABORT |
                          PCI_STATUS_REC_MASTER_ABORT | PCI_STATUS_SIG_SYSTEM_ERROR | PCI_STATUS_DETECTED_PARITY);
  // Memory base/limit: bits 15:4 are address bits 31:20 (3.2.5.8).
  config_.set_wmask(PCI_MEMORY_BASE, 2, 0xfff0);
  config_.set_wmask(PCI_MEMORY_LIMIT, 2, 0xfff0);
  // Prefetchable base/limit with 64-bit addressing: type bits 3:0 = 1, upper halves writable (3.2.5.9).
  config_.set16(PCI_PREF_MEMORY_BASE, PCI_PREF_RANGE_TYPE_64);
  config_.set16(PCI_PREF_MEMORY_LIMIT, PCI_PREF_RANGE_TYPE_64);
  config_.set_wmask(PCI_PREF_MEMORY_BASE, 2, 0xfff0);
  config_.set_wmask(PCI_PREF_MEMORY_LIMIT, 2, 0xfff0);
  config_.set_wmask(PCI_PREF_BASE_UPPER32, 4, 0xffffffff);
  config_.set_wmask(PCI_PREF_LIMIT_UPPER32, 4, 0xffffffff);
  // Bridge Control (3.2.5.18): parity/SERR response, ISA, VGA, VGA16, master abort mode and
  // secondary bus reset. A secondary bus reset is accepted but not yet passed on to the devices
  // behind the bridge (a passed-through child would need a VFIO hot reset; a later issue).
  config_.set_wmask(PCI_BRIDGE_CONTROL, 2,
                    PCI_BRIDGE_CTL_PARITY | PCI_BRIDGE_CTL_SERR | PCI_BRIDGE_CTL_ISA | PCI_BRIDGE_CTL_VGA |
                        0x10 /* VGA 16-bit decode */ | PCI_BRIDGE_CTL_MASTER_ABORT | PCI_BRIDGE_CTL_BUS_RESET);
  // Windows start closed (base > limit), as after a reset.
  set_io_window({1, 0});
  set_mem_window({1, 0});
  set_pref_window({1, 0});
}

void PciBridge::set_bus_numbers(uint8_t primary, uint8_t secondary, uint8_t subordinate) {
  config_.set8(PCI_PRIMARY_BUS, primary);
  config_.set8(PCI_SECONDARY_BUS, secondary);
  config_.set8(PCI_SUBORDINATE_BUS, subordinate);
}

BridgeWindow PciBridge::io_window() const {
  return {uint64_t{config_.get8(PCI_IO_BASE) & 0xf0u} << 8, (uint64_t{config_.get8(PCI_IO_LIMIT) & 0xf0u} << 8) | 0xfff};
}

BridgeWindow PciBridge::mem_window() const {
  return {uint64_t{config_.get16(PCI_MEMORY_BASE) & 0xfff0u} << 16,
          (uint64_t{config_.get16(PCI_MEMORY_LIMIT) & 0xfff0u} << 16) | 0xfffff};
}

BridgeWindow PciBridge::pref_window() const {
  return {uint64_t{config_.get16(PCI_PREF_MEMORY_BASE) & 0xfff0u} << 16 | uint64_t{config_.get32(PCI_PREF_BASE_UPPER32)} << 32,
          (uint64_t{config_.get16(PCI_PREF_MEMORY_LIMIT) & 0xfff0u} << 16 | 0xfffff) |
              uint64_t{config_.get32(PCI_PREF_LIMIT_UPPER32)} << 32};
}

// A closed window is written as base = granule, limit = 0, which every decoder reads as base > limit.
void PciBridge::set_io_window(BridgeWindow w) {
  if (w.empty()) w = {kIoGranule, 0};
  config_.set8(PCI_IO_BASE, static_cast<uint8_t>((w.base >> 8) & 0xf0));
  config_.set8(PCI_IO_LIMIT, static_cast<uint8_t>((w.limit >> 8) & 0xf0));
}

void PciBridge::set_mem_window(BridgeWindow w) {
  if (w.empty()) w = {kMemGranule, 0};
  config_.set16(PCI_MEMORY_BASE, static_cast<uint16_t>((w.base >> 16) & 0xfff0));
  config_.set16(PCI_MEMORY_LIMIT, static_cast<uint16_t>((w.limit >> 16) & 0xfff0));
}

void PciBridge::set_pref_window(BridgeWindow w) {
  if (w.empty()) w = {kMemGranule, 0};
  config_.set16(PCI_PREF_MEMORY_BASE, static_cast<uint16_t>(((w.base >> 16) & 0xfff0) | PCI_PREF_RANGE_TYPE_64));
  config_.set16(PCI_PREF_MEMORY_LIMIT, static_cast<uint16_t>(((w.limit >> 16) & 0xfff0) | PCI_PREF_RANGE_TYPE_64));
  config_.set32(PCI_PREF_BASE_UPPER32, static_cast<uint32_t>(w.base >> 32));
  config_.set32(PCI_PREF_LIMIT_UPPER32, static_cast<uint32_t>(w.limit >> 32));
}

std::shared_ptr<PciDevice> PciBridge::child(unsigned slot, unsigned function) const {
  auto it = children_.find(slot << 3 | function);
  return it == children_.end() ? nullptr : it->second;
}

Status PciBridge::add_child(std::shared_ptr<PciDevice> device, unsigned slot, unsigned function) {
  if (slot >= device_slots())
    return fail("{}: slot {:#x} does not exist behind {} (it has {} slot{})", device->name(), slot, name(), device_slots(),
                device_slots() == 1 ? " 0 only" : "s");
  if (function > 7) return fail("{}: function {} does not exist (0..7)", device->name(), function);
  if (auto it = children_.find(slot << 3 | function); it != children_.end())
    return fail("{}: {} already has {} at slot {:#x} function {}", device->name(), name(), it->second->name(), slot, function);
  children_[slot << 3 | function] = std::move(device);
  children_changed();
  return ok();
}

Status PciBridge::plug_child(std::shared_ptr<PciDevice> device, unsigned function) {
  AV_TRY(can_hot_add());
  if (function > 7) return fail("{}: function {} does not exist (0..7)", device->name(), function);
  if (auto it = children_.find(function); it != children_.end())
    return fail("{}: {} already has {} at function {}", device->name(), name(), it->second->name(), function);
  children_[function] = std::move(device);
  hot_plugged();
  return ok();
}

std::shared_ptr<PciDevice> PciBridge::remove_child(unsigned function) {
  auto it = children_.find(function);
  if (it == children_.end()) return nullptr;
  auto device = std::move(it->second);
  children_.erase(it);
  if (children_.empty()) hot_unplugged();
  return device;
}

}  // namespace altovirt::pci

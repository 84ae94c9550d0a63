#include "altovirt/pci/pci_device.h"

#include <linux/pci_regs.h>

#include <bit>

namespace altovirt::pci {

PciDevice::PciDevice(std::string name, uint16_t vendor, uint16_t device, uint32_t class_code, uint8_t revision)
    : name_(std::move(name)) {
  config_.set16(PCI_VENDOR_ID, vendor);
  config_.set16(PCI_DEVICE_ID, device);
  config_.set32(PCI_CLASS_REVISION, class_code << 8 | revision);
  config_.set8(PCI_HEADER_TYPE, PCI_HEADER_TYPE_NORMAL);
  // Command: the decode enables, bus master, SERR, parity, INTx disable are the guest's to set.
  config_.set_wmask(PCI_COMMAND, 2,
                    PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY |
                        PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
  // Status: the error bits are RW1C (PCI 3.0 6.2.3).
  config_.set_w1cmask(PCI_STATUS, 2,
                      PCI_STATUS_PARITY | PCI_STATUS_SIG_TARGET_ABORT | PCI_STATUS_REC_TARGET_ABORT |
                          PCI_STATUS_REC_MASTER_ABORT | PCI_STATUS_SIG_SYSTEM_ERROR | PCI_STATUS_DETECTED_PARITY);
  config_.set_wmask(PCI_CACHE_LINE_SIZE, 1, 0xff);
  config_.set_wmask(PCI_LATENCY_TIMER, 1, 0xff);
  config_.set_wmask(PCI_INTERRUPT_LINE, 1, 0xff);
}

Status PciDevice::define_bar(unsigned index, BarSpec spec) {
  bool is64 = spec.kind == BarKind::mem64;
  if (index >= kNumBars || (is64 && index + 1 >= kNumBars))
    return fail("{}: BAR {} does not exist (a 64-bit BAR needs two of the six slots)", name_, index);
  uint64_t min = spec.kind == BarKind::io ? 4 : 16;
  if (!std::has_single_bit(spec.size) || spec.size < min)
    return fail("{}: BAR {} size {:#x} is not a power of two of at least {}", name_, index, spec.size, min);
  if (spec.kind == BarKind::io && spec.size > 256) return fail("{}: I/O BAR {} larger than 256 bytes", name_, index);
  if (spec.kind == BarKind::mem32 && spec.size > (uint64_t{1} << 31)) return fail("{}: 32-bit BAR {} too large", name_, index);
  if (bars_[index].kind != BarKind::none) return fail("{}: BAR {} defined twice", name_, index);
  bars_[index] = spec;
  unsigned off = PCI_BASE_ADDRESS_0 + 4 * index;
  // The low bits are read-only type bits (PCI 3.0 6.2.5.1, figure 6-5/6-6).
  uint32_t type = 0;
  if (spec.kind == BarKind::io) type = PCI_BASE_ADDRESS_SPACE_IO;
  else type = (is64 ? PCI_BASE_ADDRESS_MEM_TYPE_64 : PCI_BASE_ADDRESS_MEM_TYPE_32) |
              (spec.prefetchable ? PCI_BASE_ADDRESS_MEM_PREFETCH : 0);
  config_.set32(off, type);
  uint64_t mask = ~(spec.size - 1);
  uint32_t low_mask = static_cast<uint32_t>(mask) & (spec.kind == BarKind::io ? PCI_BASE_ADDRESS_IO_MASK
                                                                               : PCI_BASE_ADDRESS_MEM_MASK);
  if (spec.kind == BarKind::io) low_mask &= 0xffff;  // x86 I/O space is 64 KiB
  config_.set_wmask(off, 4, low_mask);
  if (is64) {
    bars_[index + 1] = BarSpec{};  // the upper half is not a BAR of its own
    config_.set32(off + 4, 0);
    config_.set_wmask(off + 4, 4, static_cast<uint32_t>(mask >> 32));
  }
  return ok();
}

std::optional<uint64_t> PciDevice::bar_address(unsigned index) const {
  if (index >= kNumBars) return std::nullopt;
  const BarSpec& b = bars_[index];
  if (b.kind == BarKind::none) return std::nullopt;
  uint16_t cmd = config_.get16(PCI_COMMAND);
  unsigned off = PCI_BASE_ADDRESS_0 + 4 * index;
  uint64_t addr;
  if (b.kind == BarKind::io) {
    if (!(cmd & PCI_COMMAND_IO)) return std::nullopt;
    addr = config_.get32(off) & PCI_BASE_ADDRESS_IO_MASK;
    if (addr + b.size > 0x10000) return std::nullopt;
  } else {
    if (!(cmd & PCI_COMMAND_MEMORY)) return std::nullopt;
    addr = config_.get32(off) & PCI_BASE_ADDRESS_MEM_MASK;
    if (b.kind == BarKind::mem64) addr |= uint64_t{config_.get32(off + 4)} << 32;
    if (addr + b.size < addr) return std::nullopt;  // wraps: still being sized
    // A BAR left all-ones after sizing, or at 4 GiB - size for a 32-bit one, is not a real address.
    if (b.kind == BarKind::mem32 && addr + b.size > 0xfec00000) return std::nullopt;
  }
  if (addr == 0) return std::nullopt;  // unprogrammed
  return addr;
}

std::array<std::optional<uint64_t>, kNumBars> PciDevice::decoded() const {
  std::array<std::optional<uint64_t>, kNumBars> a;
  for (unsigned i = 0; i < kNumBars; ++i) a[i] = bar_address(i);
  return a;
}

uint32_t PciDevice::config_read(unsigned offset, unsigned size) { return config_.read(offset, size); }

void PciDevice::standard_config_write(unsigned offset, unsigned size, uint32_t value) {
  auto before = decoded();
  config_.write(offset, size, value);
  auto after = decoded();
  for (unsigned i = 0; i < kNumBars; ++i) {
    if (before[i] == after[i]) continue;
    bar_mapping_changed(i, before[i], after[i]);
    if (listener_ != nullptr) listener_->bar_mapping_changed(*this, i, before[i], after[i]);
  }
}

void PciDevice::config_write(unsigned offset, unsigned size, uint32_t value) {
  standard_config_write(offset, size, value);
}

void PciDevice::bar_read(unsigned, uint64_t, std::span<uint8_t> data) { std::fill(data.begin(), data.end(), 0xff); }
void PciDevice::bar_write(unsigned, uint64_t, std::span<const uint8_t>) {}

void PciDevice::program_bar(unsigned index, uint64_t address) {
  unsigned off = PCI_BASE_ADDRESS_0 + 4 * index;
  auto before = decoded();
  config_.set32(off, (config_.get32(off) & ~config_.wmask(off, 4)) | (static_cast<uint32_t>(address) & config_.wmask(off, 4)));
  if (bars_[index].kind == BarKind::mem64) config_.set32(off + 4, static_cast<uint32_t>(address >> 32));
  auto after = decoded();
  for (unsigned i = 0; i < kNumBars; ++i) {
    if (before[i] == after[i]) continue;
    bar_mapping_changed(i, before[i], after[i]);
    if (listener_ != nullptr) listener_->bar_mapping_changed(*this, i, before[i], after[i]);
  }
}

void PciDevice::enable_decode(bool io, bool memory) {
  uint16_t cmd = config_.get16(PCI_COMMAND);
  if (io) cmd |= PCI_COMMAND_IO;
  if (memory) cmd |= PCI_COMMAND_MEMORY;
  standard_config_write(PCI_COMMAND, 2, cmd);
}

void PciDevice::disable_decode() {
  standard_config_write(PCI_COMMAND, 2, config_.get16(PCI_COMMAND) & ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
}

void PciDevice::set_multifunction(bool on) {
  uint8_t h = config_.get8(PCI_HEADER_TYPE);
  config_.set8(PCI_HEADER_TYPE, on ? (h | 0x80) : (h & 0x7f));
}

std::optional<uint32_t> PciDevice::requester_id() const {
  std::lock_guard lock(requester_mutex_);
  return requester_ ? requester_() : std::nullopt;
}

void PciDevice::set_requester_resolver(std::function<std::optional<uint32_t>()> resolver) {
  std::lock_guard lock(requester_mutex_);
  requester_ = std::move(resolver);
}

}  // namespace altovirt::pci

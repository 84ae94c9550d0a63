#include "altovirt/pci/msix.h"

#include <linux/pci_regs.h>

#include <cstring>
#include <memory>

namespace altovirt::pci {

Result<std::unique_ptr<MsixCapability>> MsixCapability::create(ConfigSpace& config, MsiSink& sink, unsigned vectors,
                                                               unsigned table_bar, uint32_t table_offset,
                                                               unsigned pba_bar, uint32_t pba_offset) {
  if (vectors == 0 || vectors > 2048) return fail("MSI-X with {} vectors: the spec allows 1..2048", vectors);
  if (table_bar > 5 || pba_bar > 5 || (table_offset & 7) || (pba_offset & 7))
    return fail("MSI-X table/PBA must be in BAR 0..5 at 8-byte aligned offsets");
  AV_TRY_ASSIGN(unsigned cap, config.add_capability(PCI_CAP_ID_MSIX, PCI_CAP_MSIX_SIZEOF));
  config.set16(cap + PCI_MSIX_FLAGS, static_cast<uint16_t>(vectors - 1));
  config.set_wmask(cap + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
  config.set32(cap + PCI_MSIX_TABLE, table_offset | table_bar);
  config.set32(cap + PCI_MSIX_PBA, pba_offset | pba_bar);
  return std::unique_ptr<MsixCapability>(
      new MsixCapability(config, sink, cap, vectors, table_bar, table_offset, pba_bar, pba_offset));
}

bool MsixCapability::in_table(unsigned bar, uint64_t off, uint64_t len) const {
  return bar == table_bar_ && off < table_offset_ + uint64_t{table_size()} && off + len > table_offset_;
}
bool MsixCapability::in_pba(unsigned bar, uint64_t off, uint64_t len) const {
  return bar == pba_bar_ && off < pba_offset_ + uint64_t{pba_size()} && off + len > pba_offset_;
}

// Enable and function mask are cached by control_written() under the lock, so table accesses on
// other vCPU threads never read config space while the config path writes it.
bool MsixCapability::enabled() const {
  std::lock_guard lock(mutex_);
  return was_enabled_;
}
bool MsixCapability::function_masked() const {
  std::lock_guard lock(mutex_);
  return was_fmasked_;
}
bool MsixCapability::masked_locked(unsigned v) const {
  return !was_enabled_ || was_fmasked_ || (entries_[v].control & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}
bool MsixCapability::vector_masked(unsigned v) const {
  std::lock_guard lock(mutex_);
  return v >= entries_.size() || (entries_[v].control & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}
MsiMessage MsixCapability::message(unsigned v) const {
  std::lock_guard lock(mutex_);
  if (v >= entries_.size()) return {};
  const Entry& e = entries_[v];
  return MsiMessage{uint64_t{e.addr_hi} << 32 | e.addr_lo, e.data};
}
bool MsixCapability::pending(unsigned v) const {
  std::lock_guard lock(mutex_);
  return v < entries_.size() && (pending_[v / 64] >> (v % 64)) & 1;
}

void MsixCapability::deliver_if_pending_locked(unsigned v) {
  if (masked_locked(v) || !((pending_[v / 64] >> (v % 64)) & 1)) return;
  pending_[v / 64] &= ~(uint64_t{1} << (v % 64));
  const Entry& e = entries_[v];
  sink_.inject(v, MsiMessage{uint64_t{e.addr_hi} << 32 | e.addr_lo, e.data});
}

void MsixCapability::table_read(uint64_t off, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  size_t n = data.size();
  if ((n != 4 && n != 8) || off % n != 0 || off + n > table_size()) {
    std::memset(data.data(), 0xff, n);
    return;
  }
  for (size_t i = 0; i < n; i += 4) {
    uint64_t o = off + i;
    const Entry& e = entries_[o / kEntrySize];
    uint32_t v = 0;
    switch (o % kEntrySize) {
      case PCI_MSIX_ENTRY_LOWER_ADDR: v = e.addr_lo; break;
      case PCI_MSIX_ENTRY_UPPER_ADDR: v = e.addr_hi; break;
      case PCI_MSIX_ENTRY_DATA: v = e.data; break;
      default: v = e.control; break;
    }
    std::memcpy(data.data() + i, &v, 4);
  }
}

void MsixCapability::table_write(uint64_t off, std::span<const uint8_t> data) {
  std::lock_guard lock(mutex_);
  size_t n = data.size();
  if ((n != 4 && n != 8) || off % n != 0 || off + n > table_size()) return;
  unsigned v = static_cast<unsigned>(off / kEntrySize);
  Entry before = entries_[v];
  for (size_t i = 0; i < n; i += 4) {
    uint32_t val;
    std::memcpy(&val, data.data() + i, 4);
    Entry& e = entries_[v];
    switch ((off + i) % kEntrySize) {
      case PCI_MSIX_ENTRY_LOWER_ADDR: e.addr_lo = val & ~3u; break;  // dword aligned (6.8.2.4)
      case PCI_MSIX_ENTRY_UPPER_ADDR: e.addr_hi = val; break;
      case PCI_MSIX_ENTRY_DATA: e.data = val; break;
      default: e.control = val & PCI_MSIX_ENTRY_CTRL_MASKBIT; break;  // other bits reserved
    }
  }
  const Entry& e = entries_[v];
  if (e.addr_lo == before.addr_lo && e.addr_hi == before.addr_hi && e.data == before.data &&
      e.control == before.control)
    return;
  sink_.vector_changed(v, MsiMessage{uint64_t{e.addr_hi} << 32 | e.addr_lo, e.data}, masked_locked(v));
  deliver_if_pending_locked(v);
}

void MsixCapability::pba_read(uint64_t off, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  size_t n = data.size();
  if ((n != 4 && n != 8) || off % n != 0 || off + n > pba_size()) {
    std::memset(data.data(), 0xff, n);
    return;
  }
  std::memcpy(data.data(), reinterpret_cast<const uint8_t*>(pending_.data()) + off, n);
}

void MsixCapability::control_written() {
  std::lock_guard lock(mutex_);
  uint16_t flags = config_.get16(cap_ + PCI_MSIX_FLAGS);
  bool en = flags & PCI_MSIX_FLAGS_ENABLE, fm = flags & PCI_MSIX_FLAGS_MASKALL;
  if (en == was_enabled_ && fm == was_fmasked_) return;
  if (en != was_enabled_) sink_.enable_changed(en, en ? vectors() : 0);
  was_enabled_ = en;
  was_fmasked_ = fm;
  for (unsigned v = 0; v < entries_.size(); ++v) {
    const Entry& e = entries_[v];
    sink_.vector_changed(v, MsiMessage{uint64_t{e.addr_hi} << 32 | e.addr_lo, e.data}, masked_locked(v));
    deliver_if_pending_locked(v);
  }
}

void MsixCapability::signal(unsigned v) {
  std::lock_guard lock(mutex_);
  if (v >= entries_.size()) return;
  pending_[v / 64] |= uint64_t{1} << (v % 64);
  deliver_if_pending_locked(v);
}

void MsixCapability::set_pending(unsigned v, bool p) {
  std::lock_guard lock(mutex_);
  if (v >= entries_.size()) return;
  if (p) pending_[v / 64] |= uint64_t{1} << (v % 64);
  else pending_[v / 64] &= ~(uint64_t{1} << (v % 64));
}

}  // namespace altovirt::pci

#include "altovirt/pci/config_space.h"

#include <linux/pci_regs.h>

namespace altovirt::pci {

namespace {
bool valid_access(unsigned offset, unsigned size) {
  return (size == 1 || size == 2 || size == 4) && offset % size == 0 && offset + size <= ConfigSpace::kSize;
}
}  // namespace

uint32_t ConfigSpace::read(unsigned offset, unsigned size) const {
  if (!valid_access(offset, size)) return 0xffffffff;
  uint32_t v = 0;
  for (unsigned i = 0; i < size; ++i) v |= uint32_t{data_[offset + i]} << (8 * i);
  return v;
}

void ConfigSpace::write(unsigned offset, unsigned size, uint32_t value) {
  if (!valid_access(offset, size)) return;
  for (unsigned i = 0; i < size; ++i) {
    uint8_t v = static_cast<uint8_t>(value >> (8 * i));
    unsigned o = offset + i;
    uint8_t n = static_cast<uint8_t>((data_[o] & ~wmask_[o]) | (v & wmask_[o]));
    n = static_cast<uint8_t>(n & ~(v & w1c_[o]));
    data_[o] = n;
  }
}

uint16_t ConfigSpace::get16(unsigned o) const { return static_cast<uint16_t>(data_[o] | data_[o + 1] << 8); }
uint32_t ConfigSpace::get32(unsigned o) const { return get16(o) | uint32_t{get16(o + 2)} << 16; }
void ConfigSpace::set16(unsigned o, uint16_t v) {
  data_[o] = static_cast<uint8_t>(v);
  data_[o + 1] = static_cast<uint8_t>(v >> 8);
}
void ConfigSpace::set32(unsigned o, uint32_t v) {
  set16(o, static_cast<uint16_t>(v));
  set16(o + 2, static_cast<uint16_t>(v >> 16));
}
void ConfigSpace::set_wmask(unsigned o, unsigned size, uint32_t mask) {
  for (unsigned i = 0; i < size; ++i) wmask_[o + i] = static_cast<uint8_t>(mask >> (8 * i));
}
void ConfigSpace::set_w1cmask(unsigned o, unsigned size, uint32_t mask) {
  for (unsigned i = 0; i < size; ++i) w1c_[o + i] = static_cast<uint8_t>(mask >> (8 * i));
}
uint32_t ConfigSpace::wmask(unsigned o, unsigned size) const {
  uint32_t v = 0;
  for (unsigned i = 0; i < size; ++i) v |= uint32_t{wmask_[o + i]} << (8 * i);
  return v;
}

Result<unsigned> ConfigSpace::add_capability(uint8_t id, unsigned size) {
  unsigned at = (next_cap_ + 3) & ~3u;
  if (size < 2 || at + size > 0x100) return fail("no room for capability {:#x} ({} bytes) in config space", id, size);
  data_[at] = id;
  data_[at + 1] = 0;
  if (last_cap_ == 0) data_[PCI_CAPABILITY_LIST] = static_cast<uint8_t>(at);
  else data_[last_cap_ + 1] = static_cast<uint8_t>(at);
  set16(PCI_STATUS, get16(PCI_STATUS) | PCI_STATUS_CAP_LIST);
  last_cap_ = at;
  next_cap_ = at + size;
  return at;
}

Result<unsigned> ConfigSpace::add_ext_capability(uint16_t id, uint8_t version, unsigned size) {
  unsigned at = (next_ext_ + 3) & ~3u;
  if (size < 4 || at + size > kSize) return fail("no room for extended capability {:#x}", id);
  // Header: id [15:0], version [19:16], next [31:20] (PCIe 5.0 7.6.3).
  set32(at, id | uint32_t{version} << 16);
  if (last_ext_ != 0) set32(last_ext_, get32(last_ext_) | uint32_t{at} << 20);
  last_ext_ = at;
  next_ext_ = at + size;
  return at;
}

std::optional<unsigned> ConfigSpace::find_capability(uint8_t id) const {
  if (!(get16(PCI_STATUS) & PCI_STATUS_CAP_LIST)) return std::nullopt;
  unsigned at = data_[PCI_CAPABILITY_LIST] & ~3u;
  for (int guard = 0; at >= 0x40 && guard < 48; ++guard) {  // 48: at most (256-64)/4 entries, stops loops
    if (data_[at] == id) return at;
    at = data_[at + 1] & ~3u;
  }
  return std::nullopt;
}

std::optional<unsigned> ConfigSpace::find_ext_capability(uint16_t id) const {
  unsigned at = 0x100;
  for (int guard = 0; at >= 0x100 && guard < 960; ++guard) {
    uint32_t h = get32(at);
    if (h == 0) return std::nullopt;
    if ((h & 0xffff) == id) return at;
    at = (h >> 20) & ~3u;
  }
  return std::nullopt;
}

}  // namespace altovirt::pci

// ConfigSpace: the 4 KiB PCI Express configuration space of one function, with a write mask and a
// write-1-to-clear mask per bit, so that every register behaves as the PCI Local Bus spec 3.0 (6.2)
// and PCIe Base spec 5.0 (7.5, 7.4 "register attributes" RO/RW/RW1C) define it:
//   guest write:  new = (old & ~wmask) | (value & wmask);  then new &= ~(value & w1cmask)
// BAR sizing falls out of the masks: a BAR of size S has wmask ~(S-1) over its address bits, so the
// guest's all-ones write reads back ~(S-1) | type bits (PCI 3.0 6.2.5.1).
//
// Threading: not synchronised; the owning device serialises config accesses.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "altovirt/base/error.h"

namespace altovirt::pci {

class ConfigSpace {
 public:
  static constexpr unsigned kSize = 4096;

  // What the guest sees: sizes 1, 2, 4; an access that is unaligned or crosses the end reads ones.
  uint32_t read(unsigned offset, unsigned size) const;
  void write(unsigned offset, unsigned size, uint32_t value);

  // The device model's own view: raw reads and writes that ignore the masks.
  uint8_t get8(unsigned offset) const { return data_[offset]; }
  uint16_t get16(unsigned offset) const;
  uint32_t get32(unsigned offset) const;
  void set8(unsigned offset, uint8_t v) { data_[offset] = v; }
  void set16(unsigned offset, uint16_t v);
  void set32(unsigned offset, uint32_t v);
  // Marks bits writable (RW) or write-1-to-clear (RW1C); bits not marked are read-only.
  void set_wmask(unsigned offset, unsigned size, uint32_t mask);
  void set_w1cmask(unsigned offset, unsigned size, uint32_t mask);
  uint32_t wmask(unsigned offset, unsigned size) const;

  // Appends a capability of `size` bytes to the list at 0x34 (PCI 3.0 6.7) and sets Status.CAP_LIST.
  // Returns its offset (dword aligned, within 0x40..0xff).
  Result<unsigned> add_capability(uint8_t id, unsigned size);
  // Appends a PCIe extended capability (PCIe 5.0 7.6) at 0x100 and up.
  Result<unsigned> add_ext_capability(uint16_t id, uint8_t version, unsigned size);
  std::optional<unsigned> find_capability(uint8_t id) const;
  std::optional<unsigned> find_ext_capability(uint16_t id) const;

 private:
  std::array<uint8_t, kSize> data_{};
  std::array<uint8_t, kSize> wmask_{};
  std::array<uint8_t, kSize> w1c_{};
  unsigned next_cap_ = 0x40;
  unsigned last_cap_ = 0;
  unsigned next_ext_ = 0x100;
  unsigned last_ext_ = 0;
};

}  // namespace altovirt::pci

// GuestRam: the device models' only way into guest memory. Every access names a guest-physical range
// [gpa, gpa + len) and is checked before any byte is touched: gpa + len must not wrap, and the whole
// range must lie inside one RAM region (MMIO and holes are never RAM, so a guest cannot make a device
// read or write a BAR or a host address through a descriptor). Implementations: KvmGuestRam (the VM's
// kvm::GuestMemory) and, in tests, a fake over a plain buffer.
//
// Threading: the region list is fixed before any device runs; every method is safe from any thread.
// The bytes themselves race with the guest, as DMA does on real hardware: read a guest structure
// once into a local copy, then check and use the copy (no double fetch).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/kvm/guest_memory.h"

namespace altovirt::virtio {

class GuestRam {
 public:
  virtual ~GuestRam() = default;
  // The host bytes of [gpa, gpa + len), or an error when the range wraps or is not inside one RAM
  // region. len 0 is allowed when gpa itself is inside RAM.
  virtual Result<std::span<uint8_t>> slice(uint64_t gpa, uint64_t len) const = 0;
  // The RAM regions (guest-physical range and host address), for a kernel backend that walks the
  // rings itself (vhost's memory table). Empty when the RAM cannot be shared that way.
  virtual std::vector<kvm::RamRegion> regions() const { return {}; }

  Status read(uint64_t gpa, std::span<uint8_t> out) const;
  Status write(uint64_t gpa, std::span<const uint8_t> in) const;
};

// The VM's RAM.
class KvmGuestRam : public GuestRam {
 public:
  explicit KvmGuestRam(const kvm::GuestMemory& memory) : memory_(memory) {}
  Result<std::span<uint8_t>> slice(uint64_t gpa, uint64_t len) const override;
  std::vector<kvm::RamRegion> regions() const override { return memory_.regions(); }

 private:
  const kvm::GuestMemory& memory_;
};

}  // namespace altovirt::virtio

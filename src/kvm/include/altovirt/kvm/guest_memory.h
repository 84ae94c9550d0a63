// GuestMemory: the guest's RAM, as a list of regions (guest physical address, size, host mapping).
// The regions are fixed once built; their contents are the guest's and change under any thread.
// The list is what KVM memory slots are made from and what the VFIO layer DMA-maps (IOVA = GPA).
//
// Threading: add() only while building the VM, single-threaded; after that every const method is
// safe from any thread (accesses to the bytes race with the guest, as they do on real hardware).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/base/mapping.h"

namespace altovirt::kvm {

struct RamRegion {
  uint64_t gpa;
  uint64_t size;
  uint8_t* host;
};

class GuestMemory {
 public:
  // Anonymous memory (MAP_NORESERVE: untouched pages cost nothing) for [gpa, gpa + size).
  Status add(uint64_t gpa, uint64_t size, std::string_view what);

  const std::vector<RamRegion>& regions() const { return regions_; }
  uint64_t total() const;
  // The host bytes of [gpa, gpa + len), which must lie inside one region.
  Result<std::span<uint8_t>> slice(uint64_t gpa, uint64_t len) const;
  Status write(uint64_t gpa, std::span<const uint8_t> data) const;

 private:
  std::vector<RamRegion> regions_;
  std::vector<Mapping> mappings_;
};

}  // namespace altovirt::kvm

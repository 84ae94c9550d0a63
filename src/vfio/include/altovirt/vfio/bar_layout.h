// How one BAR of a passed-through device reaches the guest: the parts mapped straight into guest
// memory (no exits: the fast path of every register access) and the parts that trap to the VMM. The
// pages holding the MSI-X table and PBA always trap, because the VMM emulates them (the guest's
// vector addresses are guest addresses, and KVM routes them); so do parts VFIO cannot mmap, and parts
// smaller than a page (KVM memory slots are page-granular).
//
// Pure function; no state.
#pragma once

#include <cstdint>
#include <vector>

#include "altovirt/vfio/device.h"

namespace altovirt::vfio {

struct BarRange {
  uint64_t offset = 0;
  uint64_t size = 0;
  bool operator==(const BarRange&) const = default;
};

struct BarPlan {
  std::vector<BarRange> direct;   // page-aligned, mapped into the guest
  std::vector<BarRange> trapped;  // everything else in [0, bar_size)
};

BarPlan plan_bar(uint64_t bar_size, const std::vector<SparseArea>& mmap_areas, const std::vector<BarRange>& must_trap,
                 uint64_t page_size);

}  // namespace altovirt::vfio

#include "altovirt/kvm/guest_memory.h"

#include <sys/mman.h>

#include <cstring>

namespace altovirt::kvm {

Status GuestMemory::add(uint64_t gpa, uint64_t size, std::string_view what) {
  for (auto& r : regions_)
    if (gpa < r.gpa + r.size && r.gpa < gpa + size)
      return fail("guest RAM {:#x} (+{:#x}) overlaps {:#x} (+{:#x})", gpa, size, r.gpa, r.size);
  // 2 MiB aligned and marked for transparent huge pages (as QEMU does): fewer page faults when the
  // guest first touches its RAM and when VFIO pins it, and 2 MiB entries in KVM's nested page
  // tables. Hosts with THP off ("never") ignore the advice.
  AV_TRY_ASSIGN(Mapping m, Mapping::anonymous_aligned(size, 2 << 20, MAP_NORESERVE, what));
  (void)::madvise(m.addr(), size, MADV_HUGEPAGE);
  regions_.push_back({gpa, size, m.bytes()});
  mappings_.push_back(std::move(m));
  return ok();
}

uint64_t GuestMemory::total() const {
  uint64_t t = 0;
  for (auto& r : regions_) t += r.size;
  return t;
}

Result<std::span<uint8_t>> GuestMemory::slice(uint64_t gpa, uint64_t len) const {
  for (auto& r : regions_)
    if (gpa >= r.gpa && len <= r.size && gpa - r.gpa <= r.size - len)
      return std::span<uint8_t>(r.host + (gpa - r.gpa), len);
  return fail("guest range {:#x} (+{:#x}) is not inside guest RAM", gpa, len);
}

Status GuestMemory::write(uint64_t gpa, std::span<const uint8_t> data) const {
  AV_TRY_ASSIGN(auto dst, slice(gpa, data.size()));
  std::memcpy(dst.data(), data.data(), data.size());
  return ok();
}

}  // namespace altovirt::kvm

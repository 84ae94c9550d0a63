#include "altovirt/virtio/guest_ram.h"

#include <cstring>

namespace altovirt::virtio {

Status GuestRam::read(uint64_t gpa, std::span<uint8_t> out) const {
  AV_TRY_ASSIGN(auto src, slice(gpa, out.size()));
  std::memcpy(out.data(), src.data(), out.size());
  return ok();
}

Status GuestRam::write(uint64_t gpa, std::span<const uint8_t> in) const {
  AV_TRY_ASSIGN(auto dst, slice(gpa, in.size()));
  std::memcpy(dst.data(), in.data(), in.size());
  return ok();
}

Result<std::span<uint8_t>> KvmGuestRam::slice(uint64_t gpa, uint64_t len) const {
  // GuestMemory::slice checks the range against each region without computing gpa + len, so a
  // wrapping range can never match; the explicit check only gives the clearer message.
  if (gpa + len < gpa) return fail("guest range {:#x} (+{:#x}) wraps around", gpa, len);
  return memory_.slice(gpa, len);
}

}  // namespace altovirt::virtio

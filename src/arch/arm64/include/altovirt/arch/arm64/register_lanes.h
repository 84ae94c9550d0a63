// The PrimeCell devices' 32-bit registers as a guest's MMIO access sees them. An access is 1 to 8
// bytes (KVM_EXIT_MMIO's len) at any byte lane: a read returns the register's bytes from the lane
// the address names, and zeroes past its 32 bits (an 8-byte read included); a write takes the first
// four bytes as the value.
//
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <span>

namespace altovirt::arch::arm64 {

inline void load_lanes(uint32_t reg, uint64_t offset, std::span<uint8_t> out) {
  const uint64_t v = static_cast<uint64_t>(reg) >> (8 * (offset & 3));
  for (size_t i = 0; i < out.size(); ++i) out[i] = i < 8 ? static_cast<uint8_t>(v >> (8 * i)) : 0;
}

inline uint32_t store_lanes(std::span<const uint8_t> in) {
  uint32_t v = 0;
  for (size_t i = 0; i < in.size() && i < 4; ++i) v |= static_cast<uint32_t>(in[i]) << (8 * i);
  return v;
}

}  // namespace altovirt::arch::arm64

#include "altovirt/arch/arm64/pl031.h"
#include "altovirt/arch/arm64/register_lanes.h"

#include <ctime>

namespace altovirt::arch::arm64 {

namespace {
enum Reg : uint64_t { kDr = 0x00, kMr = 0x04, kLr = 0x08, kCr = 0x0c, kImsc = 0x10, kRis = 0x14, kMis = 0x18, kIcr = 0x1c };
// PeripheralID0-3, PrimeCellID0-3 (3.3.10, 3.3.11): the PL031.
constexpr uint8_t kIds[8] = {0x31, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};
}  // namespace

uint32_t Pl031::now_locked() const { return static_cast<uint32_t>(static_cast<int64_t>(::time(nullptr)) + offset_); }

void Pl031::io_read(uint64_t offset, std::span<uint8_t> data) {
  uint32_t v = 0;
  {
    std::lock_guard lock(mutex_);
    switch (offset & ~3ull) {
      case kDr: v = now_locked(); break;
      case kMr: v = mr_; break;
      case kLr: v = now_locked(); break;
      case kCr: v = 1; break;  // the counter always runs
      case kImsc: v = imsc_; break;
      case kRis: v = ris_; break;
      case kMis: v = ris_ & imsc_; break;
      default:
        if (offset >= 0xfe0 && offset <= 0xffc) v = kIds[((offset & ~3ull) - 0xfe0) / 4];
    }
  }
  load_lanes(v, offset, data);
}

void Pl031::io_write(uint64_t offset, std::span<const uint8_t> data) {
  const uint32_t v = store_lanes(data);
  std::lock_guard lock(mutex_);
  switch (offset & ~3ull) {
    case kMr: mr_ = v; break;
    case kLr: offset_ = static_cast<int64_t>(v) - static_cast<int64_t>(::time(nullptr)); break;
    case kImsc: imsc_ = v & 1; break;
    case kIcr: ris_ &= ~v; break;
    default: break;
  }
}

}  // namespace altovirt::arch::arm64

#include "altovirt/arch/arm64/pl011.h"
#include "altovirt/arch/arm64/register_lanes.h"

#include <algorithm>

namespace altovirt::arch::arm64 {

namespace {

enum Reg : uint64_t {
  kDr = 0x000, kRsr = 0x004, kFr = 0x018, kIlpr = 0x020, kIbrd = 0x024, kFbrd = 0x028, kLcrH = 0x02c, kCr = 0x030,
  kIfls = 0x034, kImsc = 0x038, kRis = 0x03c, kMis = 0x040, kIcr = 0x044, kDmacr = 0x048,
};
// Flag register bits (3.3.3).
constexpr uint32_t kFrRxfe = 1u << 4, kFrRxff = 1u << 6, kFrTxfe = 1u << 7;
// Interrupt bits (3.3.13): receive, transmit, receive timeout.
constexpr uint32_t kIntRx = 1u << 4, kIntTx = 1u << 5, kIntRt = 1u << 6;
// PeripheralID0-3 and PrimeCellID0-3 at 0xFE0..0xFFC (3.3.15, 3.3.16): the PL011, revision 1.
constexpr uint8_t kIds[8] = {0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};

}  // namespace

void Pl011::io_read(uint64_t offset, std::span<uint8_t> data) {
  uint32_t v = 0;
  if (offset % 4 == 0 || data.size() == 1) {
    std::lock_guard lock(mutex_);
    v = read_reg(offset & ~3ull);
  }
  load_lanes(v, offset, data);
}

void Pl011::io_write(uint64_t offset, std::span<const uint8_t> data) {
  const uint32_t v = store_lanes(data);
  std::lock_guard lock(mutex_);  // also serialises the backend's writes (CharBackend's contract)
  if ((offset & ~3ull) == kDr) {
    auto out = static_cast<uint8_t>(v);
    backend_.write(std::span<const uint8_t>(&out, 1));
    ris_ |= kIntTx;  // the character left at once: the FIFO is below its trigger level again
    update_irq_locked();
  } else {
    write_reg(offset & ~3ull, v);
  }
}

uint32_t Pl011::read_reg(uint64_t offset) {
  switch (offset) {
    case kDr: {
      if (rx_.empty()) return 0;
      uint32_t c = rx_.front();
      rx_.pop_front();
      if (rx_.empty()) ris_ &= ~(kIntRx | kIntRt);
      update_irq_locked();
      return c;
    }
    case kRsr: return 0;
    case kFr: return kFrTxfe | (rx_.empty() ? kFrRxfe : 0) | (rx_.size() >= kFifoSize ? kFrRxff : 0);
    case kIlpr: return 0;
    case kIbrd: return ibrd_;
    case kFbrd: return fbrd_;
    case kLcrH: return lcr_h_;
    case kCr: return cr_;
    case kIfls: return ifls_;
    case kImsc: return imsc_;
    case kRis: return ris_;
    case kMis: return ris_ & imsc_;
    case kDmacr: return dmacr_;
    default:
      if (offset >= 0xfe0 && offset <= 0xffc) return kIds[(offset - 0xfe0) / 4];
      return 0;
  }
}

void Pl011::write_reg(uint64_t offset, uint32_t value) {
  switch (offset) {
    case kRsr: break;  // clears errors; there are none
    case kIbrd: ibrd_ = value & 0xffff; break;
    case kFbrd: fbrd_ = value & 0x3f; break;
    case kLcrH: lcr_h_ = value & 0xff; break;
    case kCr: cr_ = value & 0xffff; break;
    case kIfls: ifls_ = value & 0x3f; break;
    case kImsc: imsc_ = value & 0x7ff; update_irq_locked(); break;
    case kIcr:
      // RX and RT stay while data waits (they follow the FIFO, as the data sheet's level does).
      ris_ &= ~(value & ~((rx_.empty() ? 0 : kIntRx | kIntRt)));
      update_irq_locked();
      break;
    case kDmacr: dmacr_ = value & 7; break;
    default: break;  // read-only or reserved: ignored
  }
}

size_t Pl011::receive(std::span<const uint8_t> data) {
  std::lock_guard lock(mutex_);
  size_t n = std::min(data.size(), kFifoSize - rx_.size());
  rx_.insert(rx_.end(), data.begin(), data.begin() + static_cast<long>(n));
  if (n > 0) ris_ |= kIntRx | kIntRt;
  update_irq_locked();
  return n;
}

void Pl011::update_irq_locked() {
  bool level = (ris_ & imsc_) != 0;
  if (level != level_) {
    level_ = level;
    irq_.set_level(level);
  }
}

}  // namespace altovirt::arch::arm64

// Pl031: the ARM PrimeCell real-time clock (PL031, ARM DDI 0224C): a seconds counter the guest
// reads at boot (rtc-pl031). DR counts host UTC seconds plus the offset the guest set through LR;
// the match interrupt is kept as registers only (the line stays low: no guest of ours sets alarms).
//
// Threading: io_read/io_write from vCPU threads; one mutex.
#pragma once

#include <cstdint>
#include <mutex>

#include "altovirt/devices/io_handler.h"

namespace altovirt::arch::arm64 {

class Pl031 : public devices::IoHandler {
 public:
  void io_read(uint64_t offset, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  uint32_t now_locked() const;
  std::mutex mutex_;
  int64_t offset_ = 0;  // guest seconds minus host seconds
  uint32_t mr_ = 0, imsc_ = 0, ris_ = 0;
};

}  // namespace altovirt::arch::arm64

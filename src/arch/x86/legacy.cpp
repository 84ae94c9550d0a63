#include "altovirt/arch/x86/legacy.h"

#include <ctime>

#include "altovirt/base/log.h"

namespace altovirt::arch::x86 {

void ResetControl::io_read(uint64_t, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  std::fill(data.begin(), data.end(), value_);
}

void ResetControl::io_write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset != 0 || data.size() != 1) return;
  bool reset = false;
  {
    std::lock_guard lock(mutex_);
    // The reset happens on the 0->1 transition of bit 2 (ICH9 13.7.5); bits 1 and 3 select its kind.
    reset = (data[0] & 0x04) && !(value_ & 0x04);
    value_ = data[0] & 0x0a;
  }
  if (reset) {
    log::info("reset", "guest reset through port 0xcf9");
    machine_.request_shutdown(devices::ShutdownReason::reset);
  }
}

void I8042::io_read(uint64_t offset, std::span<uint8_t> data) {
  uint8_t v = 0;  // 0x61-0x63 (port B and the rest of the range): nothing set
  if (offset == 0) v = kNoData;
  if (offset == 4) v = kStatusNoController;
  std::fill(data.begin(), data.end(), v);
}

void I8042::io_write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset == 4 && data.size() == 1 && data[0] == 0xfe) {
    log::info("reset", "guest reset through the keyboard controller (0x64 <- 0xfe)");
    machine_.request_shutdown(devices::ShutdownReason::reset);
  }
}

namespace {
// MC146818 registers (data sheet; Linux include/linux/mc146818rtc.h).
constexpr uint8_t kSeconds = 0, kMinutes = 2, kHours = 4, kWeekday = 6, kDay = 7, kMonth = 8, kYear = 9,
                  kRegA = 10, kRegB = 11, kRegC = 12, kRegD = 13, kCentury = 0x32;
uint8_t bcd(int v) { return static_cast<uint8_t>((v / 10) << 4 | (v % 10)); }
}  // namespace

CmosRtc::CmosRtc() {
  nvram_[kRegA] = 0x26;  // 32.768 kHz time base, 1024 Hz rate, UIP clear
  nvram_[kRegB] = 0x02;  // 24-hour, BCD, no interrupts
  nvram_[kRegD] = 0x80;  // valid RAM and time
}

void CmosRtc::io_read(uint64_t offset, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0xff);
  if (data.size() != 1) return;
  std::lock_guard lock(mutex_);
  if (offset == 0) {
    data[0] = index_;
    return;
  }
  uint8_t i = index_ & 0x7f;
  time_t now = ::time(nullptr);
  tm t{};
  ::gmtime_r(&now, &t);
  switch (i) {
    case kSeconds: data[0] = bcd(t.tm_sec); break;
    case kMinutes: data[0] = bcd(t.tm_min); break;
    case kHours: data[0] = bcd(t.tm_hour); break;
    case kWeekday: data[0] = bcd(t.tm_wday + 1); break;
    case kDay: data[0] = bcd(t.tm_mday); break;
    case kMonth: data[0] = bcd(t.tm_mon + 1); break;
    case kYear: data[0] = bcd(t.tm_year % 100); break;
    case kCentury: data[0] = bcd((t.tm_year + 1900) / 100); break;
    case kRegC: data[0] = 0; break;  // no interrupt flags
    default: data[0] = nvram_[i]; break;
  }
}

void CmosRtc::io_write(uint64_t offset, std::span<const uint8_t> data) {
  if (data.size() != 1) return;
  std::lock_guard lock(mutex_);
  if (offset == 0) {
    index_ = data[0];  // bit 7 is the NMI mask on PCs; ignored
    return;
  }
  uint8_t i = index_ & 0x7f;
  // Time and status registers stay as the host clock says; the rest is NVRAM.
  if (i > kRegD && i != kCentury) nvram_[i] = data[0];
}

}  // namespace altovirt::arch::x86

#include "altovirt/arch/x86/acpi_pm.h"

#include <cstring>

#include "altovirt/base/log.h"

namespace altovirt::arch::x86 {

namespace {
constexpr uint16_t kStsTimer = 1u << 0, kStsPowerButton = 1u << 8, kStsWake = 1u << 15;
constexpr uint16_t kCntSciEn = 1u << 0, kCntSlpEn = 1u << 13;
constexpr uint64_t kPmTimerHz = 3579545;
}  // namespace

void AcpiPm::update_sci_locked() {
  bool level = (sts_ & en_ & (kStsTimer | kStsPowerButton)) != 0;
  if (level != sci_level_) {
    sci_level_ = level;
    sci_.set_level(level);
  }
}

uint32_t AcpiPm::read_reg(uint64_t offset, unsigned size) {
  std::lock_guard lock(mutex_);
  // Assemble the 12 bytes and pick the accessed ones: guests use byte, word and dword accesses.
  uint8_t regs[kSize];
  auto ticks = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start_).count();
  // Split to avoid overflow: whole seconds, then the remainder (ns * Hz < 2^62).
  uint64_t ns = static_cast<uint64_t>(ticks);
  uint32_t tmr = static_cast<uint32_t>((ns / 1000000000u) * kPmTimerHz + (ns % 1000000000u) * kPmTimerHz / 1000000000u);
  uint16_t cnt = static_cast<uint16_t>((cnt_ & ~kCntSlpEn) | kCntSciEn);
  std::memcpy(regs + 0, &sts_, 2);
  std::memcpy(regs + 2, &en_, 2);
  std::memcpy(regs + 4, &cnt, 2);
  regs[6] = regs[7] = 0;
  std::memcpy(regs + 8, &tmr, 4);
  uint32_t v = 0;
  std::memcpy(&v, regs + offset, size);
  return v;
}

void AcpiPm::io_read(uint64_t offset, std::span<uint8_t> data) {
  if (offset + data.size() > kSize || data.size() > 4) {
    std::fill(data.begin(), data.end(), 0xff);
    return;
  }
  uint32_t v = read_reg(offset, static_cast<unsigned>(data.size()));
  std::memcpy(data.data(), &v, data.size());
}

void AcpiPm::io_write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset + data.size() > kSize || data.size() > 4) return;
  bool sleep = false;
  unsigned slp_typ = 0;
  {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < data.size(); ++i) {
      uint64_t o = offset + i;
      uint16_t byte = data[i];
      unsigned shift = (o & 1) * 8;
      if (o < 2) sts_ = static_cast<uint16_t>(sts_ & ~(byte << shift));             // W1C
      else if (o < 4) en_ = static_cast<uint16_t>((en_ & ~(0xff << shift)) | (byte << shift));
      else if (o < 6) {
        uint16_t v = static_cast<uint16_t>((cnt_ & ~(0xff << shift)) | (byte << shift));
        cnt_ = static_cast<uint16_t>(v & ~kCntSlpEn);
        if (v & kCntSlpEn) {
          sleep = true;
          slp_typ = (v >> 10) & 7;
        }
      }
    }
    update_sci_locked();
  }
  if (!sleep) return;
  if (slp_typ == s5_) {
    log::info("acpi", "guest entered S5 (soft off)");
    machine_.request_shutdown(devices::ShutdownReason::poweroff);
  } else {
    log::warn("acpi", "guest asked for sleep type {}; only S5 (type {}) is supported, ignored", slp_typ, s5_);
    std::lock_guard lock(mutex_);
    sts_ |= kStsWake;  // "wake" at once so a guest that tried S3 carries on
  }
}

void AcpiPm::press_power_button() {
  std::lock_guard lock(mutex_);
  sts_ |= kStsPowerButton;
  update_sci_locked();
}

}  // namespace altovirt::arch::x86

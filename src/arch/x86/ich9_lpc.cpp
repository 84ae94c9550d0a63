#include "altovirt/arch/x86/ich9_lpc.h"

namespace altovirt::arch::x86 {

Ich9Lpc::Ich9Lpc() : PciDevice("ich9-lpc", 0x8086, 0x2918, 0x060100, 2) {
  config_.set32(kPmbase, 1);  // bit 0: an I/O space base (reads 1, fixed)
  config_.set_wmask(kPmbase, 4, 0x0000ff80);
  config_.set_wmask(kAcpiCntl, 1, 0x87);
  for (unsigned i = 0; i < 4; ++i) {
    config_.set8(kPirqA + i, 0x80);  // IRQEN set: not routed (the datasheet's default)
    config_.set8(kPirqE + i, 0x80);
    config_.set_wmask(kPirqA + i, 1, 0x8f);
    config_.set_wmask(kPirqE + i, 1, 0x8f);
  }
  config_.set_wmask(kRcba, 4, 0xffffc001);
}

void Ich9Lpc::set_pm_base(uint16_t base) {
  config_.set32(kPmbase, (base & 0xff80u) | 1);
  config_.set8(kAcpiCntl, static_cast<uint8_t>(config_.read(kAcpiCntl, 1) | kAcpiEnable));
  pm_base_ = decode();
}

std::optional<uint16_t> Ich9Lpc::decode() const {
  if (!(config_.read(kAcpiCntl, 1) & kAcpiEnable)) return std::nullopt;
  return static_cast<uint16_t>(config_.read(kPmbase, 4) & 0xff80);
}

void Ich9Lpc::config_write(unsigned offset, unsigned size, uint32_t value) {
  standard_config_write(offset, size, value);
  bool pm = (offset < kPmbase + 4 && offset + size > kPmbase) || (offset <= kAcpiCntl && offset + size > kAcpiCntl);
  if (!pm) return;
  auto now = decode();
  if (now == pm_base_) return;
  auto old = pm_base_;
  pm_base_ = now;
  if (listener_) listener_(old, now);
}

}  // namespace altovirt::arch::x86

#include "altovirt/pci/host_bridge.h"

#include <linux/pci_regs.h>

namespace altovirt::pci {

namespace {
constexpr uint64_t MiB = 1024 * 1024;
constexpr uint32_t kEnable = 1;
}  // namespace

// Class 06/00/00: bridge, host bridge (PCI Code and ID Assignment spec 1.12, D.7).
HostBridge::HostBridge() : PciDevice("host bridge", 0x8086, 0x29c0, 0x060000, 0) {
  config_.set16(PCI_SUBSYSTEM_VENDOR_ID, 0x1af4);
  config_.set16(PCI_SUBSYSTEM_ID, 0x1100);
  // PCIEXBAR: enable, length and base bits 31:26 in the low dword, base bits 35:32 in the high one.
  config_.set_wmask(kPciexbar, 4, 0xfc000007);
  config_.set_wmask(kPciexbar + 4, 4, 0x0000000f);
  // PAM0..PAM6: storage only (see the header).
  for (unsigned i = 0; i < 7; ++i) config_.set_wmask(kPam0 + i, 1, i == 0 ? 0x30 : 0x33);
}

void HostBridge::set_ecam(uint64_t base) {
  config_.set32(kPciexbar, static_cast<uint32_t>(base & 0xf0000000) | kEnable);
  config_.set32(kPciexbar + 4, static_cast<uint32_t>(base >> 32) & 0xf);
  ecam_ = decode();
}

std::optional<EcamWindow> HostBridge::decode() const {
  uint32_t lo = config_.read(kPciexbar, 4);
  uint64_t raw = uint64_t{config_.read(kPciexbar + 4, 4) & 0xf} << 32 | (lo & 0xfc000000);
  if (!(lo & kEnable)) return std::nullopt;
  switch ((lo >> 1) & 3) {
    case 0: return EcamWindow{raw & ~(256 * MiB - 1), 256 * MiB};
    case 1: return EcamWindow{raw & ~(128 * MiB - 1), 128 * MiB};
    case 2: return EcamWindow{raw & ~(64 * MiB - 1), 64 * MiB};
    default: return std::nullopt;  // reserved length
  }
}

void HostBridge::config_write(unsigned offset, unsigned size, uint32_t value) {
  standard_config_write(offset, size, value);
  if (offset + size <= kPciexbar || offset >= kPciexbar + 8) return;
  auto now = decode();
  if (now == ecam_) return;
  auto old = ecam_;
  ecam_ = now;
  if (listener_) listener_(old, now);
}

}  // namespace altovirt::pci

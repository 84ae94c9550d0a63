// HostBridge: the q35 memory controller hub at 00:00.0 (Intel 82G33/P35 "MCH", 8086:29c0, as QEMU's
// q35 has it; UEFI firmware such as OVMF takes its q35 path on this device ID).
//
// PCIEXBAR (config 0x60, 64 bits; Intel 3 Series Chipset datasheet 5.1.13) says where the PCIe
// enhanced configuration space (ECAM) decodes:
//   bit 0 PCIEXBAREN, bits 2:1 LENGTH (00 = 256 MiB / buses 0-255, 01 = 128 MiB / 0-127,
//   10 = 64 MiB / 0-63, 11 reserved), base address bits 35:28 (35:27 at 128 MiB, 35:26 at 64 MiB).
// A direct kernel boot finds it set as the machine placed ECAM; OVMF rewrites it (low dword 0, high
// dword 0, then low = base | length | enable) and the ECAM listener moves the window as each write
// lands. A reserved length decodes nothing, as a disabled bar (the datasheet leaves it undefined).
// The SMRAM-related registers (ESMRAMC 0x9e, SMRAM 0x9d, TSEG 0x50) read zero: there is no SMM, and
// OVMF's non-SMM image does not touch them. PAM 0x90-0x96 are plain read/write storage (no shadow
// RAM behind them: a firmware without a CSM only stores them).
//
// Threading: as every PciDevice (config accesses under the bus's lock); the listener runs under it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "altovirt/pci/pci_device.h"

namespace altovirt::pci {

struct EcamWindow {
  uint64_t base = 0, size = 0;
  bool operator==(const EcamWindow&) const = default;
};

class HostBridge : public PciDevice {
 public:
  static constexpr unsigned kPciexbar = 0x60;
  static constexpr unsigned kPam0 = 0x90;

  HostBridge();
  // The window as PCIEXBAR decodes it now; nullopt when disabled.
  std::optional<EcamWindow> ecam() const { return ecam_; }
  // Sets PCIEXBAR as firmware would have (base 256 MiB aligned, 256 MiB length, enabled) without
  // telling the listener: the machine maps the window it describes itself.
  void set_ecam(uint64_t base);
  // Told on every guest write that changes the decoded window (old, new; nullopt = none).
  using EcamListener = std::function<void(std::optional<EcamWindow>, std::optional<EcamWindow>)>;
  void set_ecam_listener(EcamListener listener) { listener_ = std::move(listener); }

  void config_write(unsigned offset, unsigned size, uint32_t value) override;

 private:
  std::optional<EcamWindow> decode() const;
  std::optional<EcamWindow> ecam_;
  EcamListener listener_;
};

}  // namespace altovirt::pci

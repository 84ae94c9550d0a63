// The guest physical address map of an altovirt machine (q35-like), for a direct kernel boot:
//
//   0x0000_0500  GDT (long-mode entry)           0x0000_7000  boot_params ("zero page")
//   0x0000_9000  identity page tables (4 GiB)    0x0002_0000  kernel command line
//   0x0009_fc00  reserved (EBDA)                 0x000e_0000  ACPI tables, RSDP first (reserved)
//   0x0010_0000  protected-mode kernel, then RAM up to low_ram_end (at most 3 GiB)
//   0xc000_0000  32-bit PCI MMIO window (512 MiB)
//   0xe000_0000  PCIe ECAM / MMCONFIG (16 MiB: buses 0..15)
//   0xfec0_0000  IOAPIC                          0xfee0_0000  local APICs
//   4 GiB        RAM above the hole (whatever did not fit below 3 GiB)
//   mmio64_base  64-bit PCI MMIO window, above RAM, naturally aligned so one MTRR covers it
// A UEFI firmware boot (MemoryLayout::make(..., Boot::firmware)) has the map q35's firmware expects
// (OVMF's PlatformInitLib): RAM below 0xB000_0000 at most, ECAM at 0xB000_0000 (where OVMF programs
// PCIEXBAR), the 32-bit window 0xC000_0000..0xFC00_0000 (OVMF's fixed q35 aperture; the firmware
// places the BARs), the flash just below 4 GiB, and a 64-bit window from above RAM to the end of the
// address space (OVMF places 64-bit BARs high in it, by the CPU's address width).
//
// Threading: plain values.
#pragma once

#include <cstdint>

#include "altovirt/base/error.h"

namespace altovirt::boot {

inline constexpr uint64_t KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB;

inline constexpr uint64_t kGdtAddress = 0x500;
inline constexpr uint64_t kBootParamsAddress = 0x7000;
inline constexpr uint64_t kPml4Address = 0x9000;  // then the PDPT and four page directories
inline constexpr uint64_t kCmdlineAddress = 0x20000;
inline constexpr uint64_t kCmdlineMax = 0x10000;
inline constexpr uint64_t kEbdaStart = 0x9fc00;
inline constexpr uint64_t kAcpiBase = 0xe0000;  // inside the RSDP search area (ACPI 6.4 5.2.5.1)
inline constexpr uint64_t kAcpiSize = 0x20000;
inline constexpr uint64_t kKernelAddress = 0x100000;

inline constexpr uint64_t kHoleStart = 3 * GiB;
inline constexpr uint64_t kMmio32Base = 0xc0000000;
inline constexpr uint64_t kMmio32Size = 512 * MiB;
inline constexpr uint64_t kEcamBase = 0xe0000000;
// 16 buses, not 256: Linux x86 probes every bus the MCFG declares, 32 slots each, at boot
// (pcibios_fixup_peer_bridges with pcibios_last_bus = the MCFG end bus), and every probe is a
// trapped config access; with nested virtualisation 256 buses cost minutes. Bus 0 and one bus
// behind each root port (numbered 1, 2, ... by the PciBus): at most 15 root ports.
inline constexpr uint64_t kEcamSize = 16 * MiB;
inline constexpr uint64_t kIoapicAddress = 0xfec00000;
inline constexpr uint64_t kLapicAddress = 0xfee00000;
inline constexpr uint64_t kHighRamBase = 4 * GiB;
// PCI I/O ports handed to devices (below: legacy ISA devices and the PCI config ports).
inline constexpr uint16_t kPciIoBase = 0xc000;
inline constexpr uint32_t kPciIoSize = 0x4000;

inline constexpr uint64_t kFirmwareHoleStart = 0xb0000000;
inline constexpr uint64_t kFirmwareEcamBase = 0xb0000000;
inline constexpr uint64_t kFirmwareMmio32Base = 0xc0000000;
inline constexpr uint64_t kFirmwareMmio32Size = 0xfc000000 - kFirmwareMmio32Base;

enum class Boot { direct, firmware };

struct MemoryLayout {
  Boot boot = Boot::direct;
  uint64_t ecam_base = kEcamBase;  // where ECAM decodes at power-on, and the MCFG's base
  uint64_t mmio32_base = kMmio32Base, mmio32_size = kMmio32Size;
  uint64_t ram = 0;        // total RAM
  uint64_t low_ram = 0;    // [0, low_ram)
  uint64_t high_ram = 0;   // [4 GiB, 4 GiB + high_ram)
  uint64_t mmio64_base = 0;
  uint64_t mmio64_size = 0;

  uint64_t low_ram_end() const { return low_ram; }
  uint64_t high_ram_end() const { return kHighRamBase + high_ram; }

  // `ram` bytes split around the hole; the 64-bit window placed within `phys_bits` of address.
  static Result<MemoryLayout> make(uint64_t ram, unsigned phys_bits, Boot boot = Boot::direct);
};

}  // namespace altovirt::boot

// The guest physical address map of altovirt's arm64 `virt` board. The low 1 GiB follows QEMU's
// virt machine (hw/arm/virt.c), so guides and device trees written for it read the same:
//
//   0x0000_0000  UEFI firmware flash: the code (64 MiB), then its variable store at 0x0400_0000 (64 MiB)
//   0x0800_0000  GICv3 distributor (64 KiB)        0x0808_0000  GICv3 ITS (128 KiB)
//   0x080a_0000  GICv3 redistributors (128 KiB per vCPU, up to 123 vCPUs before 0x0900_0000)
//   0x0900_0000  PL011 UART (SPI 1)                0x0901_0000  PL031 RTC (SPI 2)
//   0x0902_0000  fw_cfg, memory-mapped (0x18 bytes; with UEFI firmware)
//   0x0903_0000  PL061 GPIO (SPI 7): line 3 is the power key (gpio-keys)
//   0x1000_0000  PCI MMIO window, 32-bit (0x2eff_0000 bytes)
//   0x3eff_0000  PCI I/O ports 0..0xffff, memory-mapped (64 KiB)
//   0x3f00_0000  PCIe ECAM (16 MiB: buses 0..15)
//   0x4000_0000  RAM (the kernel Image at RAM + its text_offset, then the initrd, the DTB at the top;
//                with UEFI firmware the DTB at its start, where ArmVirtQemu looks for it)
//   256 GiB      PCI MMIO window, 64-bit (256 GiB)
// Interrupts: SPIs (GSI n = INTID 32 + n), PCI INTx on GSIs 16..19 (pci::intx_gsi), MSIs through the ITS.
//
// Threading: plain values.
#pragma once

#include <cstdint>

namespace altovirt::arch::arm64 {

inline constexpr uint64_t MiB = 1024 * 1024, GiB = 1024 * MiB;

inline constexpr uint64_t kFlashBase = 0, kFlashBankSize = 64 * MiB;  // QEMU virt's two banks
inline constexpr uint64_t kFwCfgBase = 0x09020000, kFwCfgSize = 0x18;
inline constexpr uint64_t kGicDistBase = 0x08000000, kGicDistSize = 0x10000;
inline constexpr uint64_t kGicItsBase = 0x08080000, kGicItsSize = 0x20000;
inline constexpr uint64_t kGicRedistBase = 0x080a0000, kGicRedistPerCpu = 0x20000;
inline constexpr unsigned kMaxCpus = static_cast<unsigned>((0x09000000 - kGicRedistBase) / kGicRedistPerCpu);
inline constexpr uint64_t kUartBase = 0x09000000, kRtcBase = 0x09010000, kGpioBase = 0x09030000, kPl0xxSize = 0x1000;
inline constexpr uint32_t kUartSpi = 1, kRtcSpi = 2, kGpioSpi = 7;
inline constexpr unsigned kPowerKeyLine = 3;
inline constexpr uint64_t kPciMmio32Base = 0x10000000, kPciMmio32Size = 0x2eff0000;
inline constexpr uint64_t kPciIoBase = 0x3eff0000, kPciIoSize = 0x10000;
inline constexpr uint64_t kEcamBase = 0x3f000000, kEcamSize = 16 * MiB;
inline constexpr uint64_t kRamBase = 0x40000000;
inline constexpr uint64_t kPciMmio64Base = 256 * GiB, kPciMmio64Size = 256 * GiB;
// 1 GiB below the 64-bit window (KVM's default IPA space is 40 bits: 1 TiB).
inline constexpr uint64_t kMaxRam = kPciMmio64Base - kRamBase;
// The GIC's interrupt lines: 32 private (SGIs, PPIs) and the SPIs the board hands out.
inline constexpr uint32_t kGicIrqs = 32 + 64 + 32;  // a multiple of 32 (GICD_TYPER.ITLinesNumber)

// The architected timer's PPIs (INTIDs 16 + n; the DT names them by PPI number): secure, non-secure,
// virtual, hypervisor physical, as the arm,armv8-timer binding orders them.
inline constexpr uint32_t kTimerPpis[4] = {13, 14, 11, 10};

}  // namespace altovirt::arch::arm64

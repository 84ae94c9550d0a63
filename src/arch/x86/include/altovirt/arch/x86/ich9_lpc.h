// Ich9Lpc: the ICH9 LPC interface bridge at 00:1f.0 (8086:2918, class 06/01/00: ISA bridge), the
// part of q35's chipset UEFI firmware programs (Intel I/O Controller Hub 9 datasheet, 13.1):
//   PMBASE    0x40  ACPI power-management I/O base: bits 15:7 writable, bit 0 reads 1 (I/O space);
//   ACPI_CNTL 0x44  bit 7 ACPI_EN (the PM block decodes only when set), bits 2:0 SCI_IRQ_SEL;
//   PIRQ[A-D]_ROUT 0x60-0x63, PIRQ[E-H]_ROUT 0x68-0x6b  bit 7 IRQEN (1 = not routed), bits 3:0 IRQ;
//   RCBA      0xf0  root complex base: bits 31:14 and the enable bit 0.
// OVMF sets PMBASE to 0x600 and ACPI_EN, then reads PMBASE back on every tick of its ACPI-timer
// stalls; the PM listener tells the machine where the PM block decodes (it already decodes at 0x600
// for a direct kernel boot, which finds ACPI_EN set as firmware leaves it). The PIRQ routes and RCBA
// are storage: altovirt's interrupt routing is the static _PRT, and nothing sits behind RCBA. A
// class 06/01 device is what OVMF's SioBusDxe needs before it makes a serial console (COM1).
//
// Threading: as every PciDevice (config accesses under the bus's lock); the listener runs under it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "altovirt/pci/pci_device.h"

namespace altovirt::arch::x86 {

class Ich9Lpc : public pci::PciDevice {
 public:
  static constexpr unsigned kPmbase = 0x40, kAcpiCntl = 0x44, kRcba = 0xf0;
  static constexpr unsigned kPirqA = 0x60, kPirqE = 0x68;
  static constexpr uint8_t kAcpiEnable = 0x80;

  Ich9Lpc();
  // Where the PM block decodes now (PMBASE when ACPI_EN is set), nullopt when it does not.
  std::optional<uint16_t> pm_base() const { return pm_base_; }
  // Sets PMBASE and ACPI_EN as firmware would leave them, without telling the listener.
  void set_pm_base(uint16_t base);
  using PmListener = std::function<void(std::optional<uint16_t> old_base, std::optional<uint16_t> new_base)>;
  void set_pm_listener(PmListener listener) { listener_ = std::move(listener); }

  void config_write(unsigned offset, unsigned size, uint32_t value) override;

 private:
  std::optional<uint16_t> decode() const;
  std::optional<uint16_t> pm_base_;
  PmListener listener_;
};

}  // namespace altovirt::arch::x86

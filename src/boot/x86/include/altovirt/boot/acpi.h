// ACPI tables for a direct kernel boot (ACPI 6.4): RSDP -> XSDT -> FADT (-> FACS, DSDT), MADT, MCFG.
//
// The FADT is a full one, not HW_REDUCED_ACPI: the power button, the sleep control (poweroff) and
// the PM timer are the PM1 fixed hardware at `pm_base` (PM1a_EVT 4 bytes, PM1a_CNT 2, PM_TMR 4),
// raised on SCI `sci_irq`. A hardware-reduced FADT would need a Generic Event Device and a GPIO or
// GED-signalled power button instead; Linux's fixed power button driver (LNXPWRBN) and its
// acpi_power_off() through PM1_CNT.SLP_EN are the simplest path that guests handle everywhere.
// Reset goes through the FADT RESET_REG: port 0xCF9, value 6 (PCI reset control register).
//
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/boot/layout.h"

namespace altovirt::boot {

struct AcpiConfig {
  unsigned cpus = 1;
  MemoryLayout layout;
  uint16_t pm_base = 0x600;
  uint8_t sci_irq = 9;
  uint16_t reset_port = 0xcf9;
  uint8_t reset_value = 0x06;
  uint8_t s5_sleep_type = 5;  // SLP_TYP value the guest writes for S5 (soft off), from \_S5
};

struct AcpiTables {
  uint64_t base = 0;          // guest address of blob[0]; the RSDP is there
  std::vector<uint8_t> blob;  // every table, 16-byte aligned
  // Offsets into blob, for tests.
  size_t rsdp = 0, xsdt = 0, fadt = 0, facs = 0, dsdt = 0, madt = 0, mcfg = 0;
};

Result<AcpiTables> build_acpi_tables(const AcpiConfig& config, uint64_t base = kAcpiBase);

// The DSDT's AML body (after the header), for tests.
std::vector<uint8_t> dsdt_aml(const AcpiConfig& config);

// Sum of the bytes modulo 256; a table is valid when this is 0 over its length.
uint8_t acpi_checksum(const uint8_t* data, size_t length);

}  // namespace altovirt::boot

#include "altovirt/boot/acpi.h"

#include <cstring>
#include <string_view>

#include "altovirt/boot/aml.h"
#include "altovirt/pci/pci_bus.h"

namespace altovirt::boot {

namespace {

using Bytes = std::vector<uint8_t>;

// Little-endian table writer.
struct Writer {
  Bytes b;
  void u8(uint64_t v) { b.push_back(static_cast<uint8_t>(v)); }
  void u16(uint64_t v) { u8(v); u8(v >> 8); }
  void u32(uint64_t v) { u16(v); u16(v >> 16); }
  void u64(uint64_t v) { u32(v); u32(v >> 32); }
  void str(std::string_view s, size_t n) {
    for (size_t i = 0; i < n; ++i) u8(i < s.size() ? s[i] : ' ');
  }
  void zeros(size_t n) { b.insert(b.end(), n, 0); }
  // Generic Address Structure (5.2.3.2): system I/O space.
  void gas_io(uint16_t port, uint8_t bits, uint8_t access_size) {
    u8(1);  // SystemIO
    u8(bits);
    u8(0);
    u8(access_size);
    u64(port);
  }
};

// The 36-byte System Description Table Header (5.2.6); length and checksum are patched in finish().
Writer header(std::string_view signature, uint8_t revision) {
  Writer w;
  w.str(signature, 4);
  w.u32(0);  // length
  w.u8(revision);
  w.u8(0);   // checksum
  w.str("ALTOVT", 6);
  w.str("ALTOVIRT", 8);
  w.u32(1);
  w.str("ALTV", 4);
  w.u32(1);
  return w;
}

Bytes finish(Writer w) {
  uint32_t len = static_cast<uint32_t>(w.b.size());
  std::memcpy(&w.b[4], &len, 4);
  w.b[9] = static_cast<uint8_t>(-acpi_checksum(w.b.data(), w.b.size()));
  return w.b;
}

// FADT flags (5.2.9, table 5.10).
constexpr uint32_t kFadtWbinvd = 1u << 0, kFadtProcC1 = 1u << 2, kFadtSleepButton = 1u << 5,
                   kFadtTmrValExt = 1u << 8, kFadtResetRegSup = 1u << 10;
// IA-PC boot architecture flags (5.2.9.3): legacy devices (the UART, the RTC), no 8042, no VGA.
constexpr uint16_t kBootArchLegacyDevices = 1u << 0, kBootArchVgaNotPresent = 1u << 2;

Bytes fadt(const AcpiConfig& c, uint64_t facs, uint64_t dsdt) {
  Writer w = header("FACP", 6);
  w.u32(facs);      // FIRMWARE_CTRL
  w.u32(dsdt);      // DSDT
  w.u8(0);          // reserved
  w.u8(0);          // preferred PM profile: unspecified
  w.u16(c.sci_irq);
  w.u32(0);         // SMI_CMD: none, the machine is always in ACPI mode (SCI_EN reads as 1)
  w.u8(0); w.u8(0); w.u8(0); w.u8(0);  // ACPI_ENABLE, ACPI_DISABLE, S4BIOS_REQ, PSTATE_CNT
  w.u32(c.pm_base);      // PM1a_EVT_BLK
  w.u32(0);              // PM1b_EVT_BLK
  w.u32(c.pm_base + 4);  // PM1a_CNT_BLK
  w.u32(0);              // PM1b_CNT_BLK
  w.u32(0);              // PM2_CNT_BLK
  w.u32(c.pm_base + 8);  // PM_TMR_BLK
  w.u32(0); w.u32(0);    // GPE0_BLK, GPE1_BLK: none
  w.u8(4); w.u8(2); w.u8(0); w.u8(4);  // PM1_EVT_LEN, PM1_CNT_LEN, PM2_CNT_LEN, PM_TMR_LEN
  w.u8(0); w.u8(0); w.u8(0); w.u8(0);  // GPE0_BLK_LEN, GPE1_BLK_LEN, GPE1_BASE, CST_CNT
  w.u16(0xfff);  // P_LVL2_LAT > 100: C2 not supported
  w.u16(0xffff); // P_LVL3_LAT > 1000: C3 not supported
  w.u16(0); w.u16(0);  // FLUSH_SIZE, FLUSH_STRIDE
  w.u8(0); w.u8(0);    // DUTY_OFFSET, DUTY_WIDTH
  w.u8(0); w.u8(0); w.u8(0);  // DAY_ALRM, MON_ALRM, CENTURY
  w.u16(kBootArchLegacyDevices | kBootArchVgaNotPresent);
  w.u8(0);
  w.u32(kFadtWbinvd | kFadtProcC1 | kFadtSleepButton | kFadtTmrValExt | kFadtResetRegSup);
  w.gas_io(c.reset_port, 8, 1);  // RESET_REG
  w.u8(c.reset_value);
  w.u16(0);  // ARM_BOOT_ARCH
  w.u8(4);   // FADT minor version (6.4)
  w.u64(0);  // X_FIRMWARE_CTRL: the 32-bit field is used
  w.u64(0);  // X_DSDT: likewise
  w.zeros(12 * 8);  // X_PM1a_EVT_BLK ... X_GPE1_BLK: derived from the 32-bit fields by the OS
  w.zeros(12 * 2);  // SLEEP_CONTROL_REG, SLEEP_STATUS_REG: HW-reduced only
  w.str("ALTOVIRT", 8);  // hypervisor vendor identity
  return finish(std::move(w));
}

Bytes facs() {
  // 5.2.10: no header checksum; 64 bytes; version 2.
  Writer w;
  w.str("FACS", 4);
  w.u32(64);
  w.u32(0);   // hardware signature
  w.u32(0);   // firmware waking vector
  w.u32(0);   // global lock
  w.u32(0);   // flags
  w.u64(0);   // X firmware waking vector
  w.u8(2);    // version
  w.zeros(64 - w.b.size());
  return w.b;
}

Bytes madt(const AcpiConfig& c) {
  Writer w = header("APIC", 5);
  w.u32(kLapicAddress);
  w.u32(1);  // PCAT_COMPAT: the 8259s exist (KVM's in-kernel PIC) and must be masked to use the APICs
  for (unsigned i = 0; i < c.cpus; ++i) {  // Processor Local APIC (5.2.12.2)
    w.u8(0); w.u8(8); w.u8(i); w.u8(i); w.u32(1 /* enabled */);
  }
  w.u8(1); w.u8(12); w.u8(0 /* IOAPIC id */); w.u8(0); w.u32(kIoapicAddress); w.u32(0 /* GSI base */);
  // Interrupt source overrides (5.2.12.5): the PIT's IRQ 0 is IOAPIC pin 2; the SCI is level, active high.
  w.u8(2); w.u8(10); w.u8(0); w.u8(0); w.u32(2); w.u16(0);
  w.u8(2); w.u8(10); w.u8(0); w.u8(c.sci_irq); w.u32(c.sci_irq); w.u16(0x000d);
  // Local APIC NMI (5.2.12.7): LINT1 of every processor, flags conform to the bus.
  w.u8(4); w.u8(6); w.u8(0xff); w.u16(0); w.u8(1);
  return finish(std::move(w));
}

Bytes mcfg(const AcpiConfig& c) {
  Writer w = header("MCFG", 1);
  w.u64(0);  // reserved
  // PCI Firmware Specification 3.2, 4.1.2: base, segment, start bus, end bus, reserved.
  w.u64(c.layout.ecam_base);
  w.u16(0);
  w.u8(0);
  w.u8(static_cast<uint8_t>(kEcamSize / MiB - 1));
  w.u32(0);
  return finish(std::move(w));
}

Bytes xsdt(const std::vector<uint64_t>& tables) {
  Writer w = header("XSDT", 1);
  for (uint64_t t : tables) w.u64(t);
  return finish(std::move(w));
}

Bytes rsdp(uint64_t xsdt_address) {
  // 5.2.5.3: revision 2, the first 20 bytes have their own checksum, all 36 the extended one.
  Writer w;
  w.str("RSD PTR ", 8);
  w.u8(0);
  w.str("ALTOVT", 6);
  w.u8(2);
  w.u32(0);  // RSDT: none, XSDT only
  w.u32(36);
  w.u64(xsdt_address);
  w.u8(0);
  w.zeros(3);
  w.b[8] = static_cast<uint8_t>(-acpi_checksum(w.b.data(), 20));
  w.b[32] = static_cast<uint8_t>(-acpi_checksum(w.b.data(), 36));
  return w.b;
}

}  // namespace

uint8_t acpi_checksum(const uint8_t* data, size_t length) {
  uint8_t sum = 0;
  for (size_t i = 0; i < length; ++i) sum = static_cast<uint8_t>(sum + data[i]);
  return sum;
}

std::vector<uint8_t> dsdt_aml(const AcpiConfig& c) {
  using namespace aml;
  const MemoryLayout& l = c.layout;
  Bytes crs = resource_template({
      word_bus_numbers(0, static_cast<uint16_t>(kEcamSize / MiB - 1)),
      io_port(0xcf8, 0xcf8, 1, 8),
      word_io(0x0000, 0x0cf7),
      word_io(0x0d00, 0xffff),
      dword_memory(static_cast<uint32_t>(l.mmio32_base), static_cast<uint32_t>(l.mmio32_base + l.mmio32_size - 1)),
      qword_memory(l.mmio64_base, l.mmio64_base + l.mmio64_size - 1),
  });
  // _PRT (6.2.13): INTA..INTD of every slot on IOAPIC pins 16..23 with the usual swizzle, so a
  // device's INTx (a passed-through one's too) has a GSI without link devices.
  std::vector<Bytes> prt;
  for (unsigned slot = 0; slot < 32; ++slot)
    for (unsigned pin = 0; pin < 4; ++pin)
      prt.push_back(package({integer((uint64_t{slot} << 16) | 0xffff), integer(pin), integer(0),
                             integer(pci::intx_gsi(slot, pin))}));
  // _OSC (6.2.11, and the PCI Firmware spec 3.3, 4.5): the OS asks for control of PCIe features;
  // granting native hot-plug is what lets Linux's pciehp drive the root ports' slots (without an
  // _OSC it leaves them alone). Granted: native hot-plug, PME, AER and the PCIe capability (0x1d);
  // not SHPC (there is no SHPC bridge), nor LTR or DPC (the ports have neither). The control
  // dword is masked rather than refused, as QEMU's and StratoVirt's DSDTs do.
  Bytes osc = method("_OSC", 4, concat({
      create_dword_field(arg(3), integer(0), "CDW1"),
      if_(lequal(arg(0), uuid("33DB4D5B-1FF7-401C-9657-7441C03DD766")),
          concat({create_dword_field(arg(3), integer(8), "CDW3"),
                  and_(name_string("CDW3"), integer(0x1d), name_string("CDW3")),
                  // Revision 1 is the only one (bit 3: unrecognised revision).
                  if_(lnot(lequal(arg(1), integer(1))), or_(name_string("CDW1"), integer(0x08), name_string("CDW1")))})),
      else_(or_(name_string("CDW1"), integer(0x04), name_string("CDW1"))),  // bit 2: unrecognised UUID
      return_(arg(3)),
  }));
  Bytes pci0 = device("PCI0", concat({
                                  name("_HID", integer(eisa_id("PNP0A08"))),
                                  name("_CID", integer(eisa_id("PNP0A03"))),
                                  name("_ADR", integer(0)),
                                  name("_SEG", integer(0)),
                                  name("_UID", integer(0)),
                                  name("_BBN", integer(0)),
                                  name("_CRS", crs),
                                  name("_PRT", package(prt)),
                                  osc,
                              }));
  // \_S5 (7.4.2): SLP_TYPa, SLP_TYPb, reserved, reserved.
  Bytes s5 = name("\\_S5", package({integer(c.s5_sleep_type), integer(c.s5_sleep_type), integer(0), integer(0)}));
  return concat({scope("\\_SB", pci0), s5});
}

Result<AcpiTables> build_acpi_tables(const AcpiConfig& c, uint64_t base) {
  if (c.cpus == 0 || c.cpus > 255) return fail("ACPI tables for {} CPUs: altovirt supports 1..255", c.cpus);
  AcpiTables t;
  t.base = base;
  auto place = [&](const Bytes& table) {
    t.blob.resize((t.blob.size() + 15) & ~size_t{15});
    size_t off = t.blob.size();
    t.blob.insert(t.blob.end(), table.begin(), table.end());
    return off;
  };
  // The RSDP goes first (at `base`, a 16-byte boundary in the BIOS search area); it and the XSDT
  // point forward, so reserve their space and fill them last.
  t.rsdp = place(Bytes(36, 0));
  t.facs = place(facs());
  Writer dsdt_table = header("DSDT", 2);
  Bytes body = dsdt_aml(c);
  dsdt_table.b.insert(dsdt_table.b.end(), body.begin(), body.end());
  t.dsdt = place(finish(std::move(dsdt_table)));
  t.fadt = place(fadt(c, base + t.facs, base + t.dsdt));
  t.madt = place(madt(c));
  t.mcfg = place(mcfg(c));
  Bytes x = xsdt({base + t.fadt, base + t.madt, base + t.mcfg});
  t.xsdt = place(x);
  Bytes r = rsdp(base + t.xsdt);
  std::copy(r.begin(), r.end(), t.blob.begin() + static_cast<long>(t.rsdp));
  if (t.blob.size() > kAcpiSize) return fail("ACPI tables ({} bytes) do not fit their {} byte area", t.blob.size(), kAcpiSize);
  return t;
}

}  // namespace altovirt::boot

// ACPI tables: signatures, lengths, checksums, pointers, and the AML encodings they rely on.
#include <gtest/gtest.h>

#include <cstring>

#include "altovirt/boot/acpi.h"
#include "altovirt/boot/aml.h"

using namespace altovirt::boot;

namespace {

uint32_t u32(const std::vector<uint8_t>& b, size_t off) {
  uint32_t v;
  std::memcpy(&v, b.data() + off, 4);
  return v;
}
uint64_t u64(const std::vector<uint8_t>& b, size_t off) {
  uint64_t v;
  std::memcpy(&v, b.data() + off, 8);
  return v;
}
std::string sig(const std::vector<uint8_t>& b, size_t off) { return std::string(b.begin() + off, b.begin() + off + 4); }

struct Tables : ::testing::Test {
  AcpiTables t;
  void SetUp() override {
    AcpiConfig c;
    c.cpus = 3;
    c.layout = *MemoryLayout::make(1 * GiB, 40);
    auto r = build_acpi_tables(c, kAcpiBase);
    ASSERT_TRUE(r);
    t = *r;
  }
};

}  // namespace

TEST_F(Tables, RsdpChecksumsAndPointsToXsdt) {
  auto& b = t.blob;
  EXPECT_EQ(std::string(b.begin(), b.begin() + 8), "RSD PTR ");
  EXPECT_EQ(acpi_checksum(b.data(), 20), 0) << "ACPI 1.0 checksum over the first 20 bytes";
  EXPECT_EQ(acpi_checksum(b.data(), 36), 0) << "extended checksum";
  EXPECT_EQ(b[15], 2) << "revision 2: XSDT";
  EXPECT_EQ(u64(b, 24), t.base + t.xsdt);
}

TEST_F(Tables, EveryTableHasItsSignatureLengthAndChecksum) {
  auto& b = t.blob;
  for (auto [off, name] : {std::pair{t.xsdt, "XSDT"}, {t.fadt, "FACP"}, {t.dsdt, "DSDT"}, {t.madt, "APIC"}, {t.mcfg, "MCFG"}}) {
    EXPECT_EQ(sig(b, off), name);
    uint32_t len = u32(b, off + 4);
    ASSERT_LE(off + len, b.size()) << name;
    EXPECT_EQ(acpi_checksum(b.data() + off, len), 0) << name;
  }
  EXPECT_EQ(u32(b, t.fadt + 4), 276u) << "FADT of ACPI 6.x";
  EXPECT_EQ(u32(b, t.mcfg + 4), 44u + 16u);
  EXPECT_EQ(u32(b, t.xsdt + 4), 36u + 3 * 8u);
  EXPECT_EQ(sig(b, t.facs), "FACS");
  EXPECT_EQ(u32(b, t.facs + 4), 64u);
  EXPECT_EQ(t.base % 16, 0u);
}

TEST_F(Tables, XsdtListsFadtMadtMcfg) {
  auto& b = t.blob;
  EXPECT_EQ(u64(b, t.xsdt + 36), t.base + t.fadt);
  EXPECT_EQ(u64(b, t.xsdt + 44), t.base + t.madt);
  EXPECT_EQ(u64(b, t.xsdt + 52), t.base + t.mcfg);
}

TEST_F(Tables, FadtDescribesPm1AndReset) {
  auto& b = t.blob;
  EXPECT_EQ(u32(b, t.fadt + 36), t.base + t.facs);
  EXPECT_EQ(u32(b, t.fadt + 40), t.base + t.dsdt);
  EXPECT_EQ(b[t.fadt + 46], 9) << "SCI on IRQ 9";
  EXPECT_EQ(u32(b, t.fadt + 56), 0x600u) << "PM1a_EVT_BLK";
  EXPECT_EQ(u32(b, t.fadt + 64), 0x604u) << "PM1a_CNT_BLK";
  EXPECT_EQ(u32(b, t.fadt + 76), 0x608u) << "PM_TMR_BLK";
  uint32_t flags = u32(b, t.fadt + 112);
  EXPECT_FALSE(flags & (1u << 20)) << "not HW_REDUCED_ACPI: the PM1 power button is used";
  EXPECT_FALSE(flags & (1u << 4)) << "PWR_BUTTON clear: fixed-feature power button";
  EXPECT_TRUE(flags & (1u << 10)) << "RESET_REG_SUP";
  EXPECT_EQ(b[t.fadt + 116], 1) << "RESET_REG in system I/O";
  EXPECT_EQ(u64(b, t.fadt + 120), 0xcf9u);
  EXPECT_EQ(b[t.fadt + 128], 6);
}

TEST_F(Tables, MadtHasEachCpuTheIoapicAndOverrides) {
  auto& b = t.blob;
  EXPECT_EQ(u32(b, t.madt + 36), kLapicAddress);
  size_t end = t.madt + u32(b, t.madt + 4);
  unsigned cpus = 0, ioapics = 0, overrides = 0;
  for (size_t p = t.madt + 44; p < end; p += b[p + 1]) {
    ASSERT_GT(b[p + 1], 0);
    switch (b[p]) {
      case 0:
        EXPECT_EQ(b[p + 3], cpus) << "APIC id = CPU index";
        ++cpus;
        break;
      case 1:
        EXPECT_EQ(u32(b, p + 4), kIoapicAddress);
        ++ioapics;
        break;
      case 2:
        if (b[p + 3] == 0) {
          EXPECT_EQ(u32(b, p + 4), 2u) << "IRQ0 -> GSI2";
        }
        ++overrides;
        break;
    }
  }
  EXPECT_EQ(cpus, 3u);
  EXPECT_EQ(ioapics, 1u);
  EXPECT_EQ(overrides, 2u);
}

TEST_F(Tables, McfgCoversTheEcamWindow) {
  auto& b = t.blob;
  EXPECT_EQ(u64(b, t.mcfg + 44), kEcamBase);
  EXPECT_EQ(b[t.mcfg + 44 + 10], 0) << "start bus";
  EXPECT_EQ(b[t.mcfg + 44 + 11], 15) << "end bus";
}

TEST_F(Tables, DsdtHasHostBridgeAndS5) {
  auto& b = t.blob;
  std::string dsdt(b.begin() + static_cast<long>(t.dsdt), b.begin() + static_cast<long>(t.dsdt + u32(b, t.dsdt + 4)));
  EXPECT_NE(dsdt.find("PCI0"), std::string::npos);
  EXPECT_NE(dsdt.find("_CRS"), std::string::npos);
  EXPECT_NE(dsdt.find("_PRT"), std::string::npos);
  EXPECT_NE(dsdt.find("\\_S5_"), std::string::npos);
  uint32_t hid = aml::eisa_id("PNP0A08");
  std::string hid_bytes(reinterpret_cast<const char*>(&hid), 4);
  EXPECT_NE(dsdt.find(hid_bytes), std::string::npos);
}

// The host bridge's _OSC grants native PCIe hot-plug, without which Linux's pciehp leaves the root
// ports' slots alone (checked in a guest: dmesg "_OSC: OS now controls [PCIeHotplug ...]").
TEST_F(Tables, DsdtHostBridgeOscGrantsNativeHotplug) {
  auto& b = t.blob;
  std::string dsdt(b.begin() + static_cast<long>(t.dsdt), b.begin() + static_cast<long>(t.dsdt + u32(b, t.dsdt + 4)));
  size_t m = dsdt.find("_OSC");
  ASSERT_NE(m, std::string::npos);
  EXPECT_EQ(dsdt[m + 4], 4) << "four arguments";
  // ToUUID of the PCI host bridge, in ACPI's byte order.
  const uint8_t pci_uuid[] = {0x5b, 0x4d, 0xdb, 0x33, 0xf7, 0x1f, 0x1c, 0x40,
                              0x96, 0x57, 0x74, 0x41, 0xc0, 0x3d, 0xd7, 0x66};
  EXPECT_NE(dsdt.find(std::string(reinterpret_cast<const char*>(pci_uuid), 16), m), std::string::npos);
  // CDW3 &= 0x1d: And(CDW3, 0x1d, CDW3), keeping bit 0 (native hot-plug) and dropping SHPC (bit 1).
  EXPECT_NE(dsdt.find(std::string("\x7b" "CDW3" "\x0a\x1d" "CDW3"), m), std::string::npos);
}

TEST(Aml, Encodings) {
  EXPECT_EQ(aml::eisa_id("PNP0A03"), 0x030ad041u);  // the well-known value of EISAID("PNP0A03")
  EXPECT_EQ(aml::integer(0), aml::Bytes{0x00});
  EXPECT_EQ(aml::integer(1), aml::Bytes{0x01});
  EXPECT_EQ(aml::integer(0x12), (aml::Bytes{0x0a, 0x12}));
  EXPECT_EQ(aml::integer(0x1234), (aml::Bytes{0x0b, 0x34, 0x12}));
  EXPECT_EQ(aml::integer(0x100000000ull).size(), 9u);
  EXPECT_EQ(aml::pkg_length(10), aml::Bytes{11});
  EXPECT_EQ(aml::pkg_length(62), aml::Bytes{63});
  // 63 + 2 = 65 = 0x41: two bytes, low nibble 1 in the lead byte, 0x4 in the next.
  EXPECT_EQ(aml::pkg_length(63), (aml::Bytes{0x41, 0x04}));
  EXPECT_EQ(aml::name_string("\\_SB"), (aml::Bytes{'\\', '_', 'S', 'B', '_'}));
  auto rt = aml::resource_template({aml::io_port(0xcf8, 0xcf8, 1, 8)});
  EXPECT_EQ(rt[0], 0x11) << "a Buffer";
  EXPECT_EQ(rt[rt.size() - 2], 0x79) << "end tag";
  // Method(_OSC, 4) { Return(Arg3) }: MethodOp, PkgLength, name, flags, ReturnOp Arg3.
  EXPECT_EQ(aml::method("_OSC", 4, aml::return_(aml::arg(3))), (aml::Bytes{0x14, 8, '_', 'O', 'S', 'C', 4, 0xa4, 0x6b}));
  EXPECT_EQ(aml::if_(aml::lnot(aml::lequal(aml::arg(1), aml::integer(1))), {}), (aml::Bytes{0xa0, 5, 0x92, 0x93, 0x69, 0x01}));
}

TEST(AcpiConfigLimits, RejectsZeroCpus) {
  AcpiConfig c;
  c.cpus = 0;
  c.layout = *MemoryLayout::make(1 * GiB, 40);
  EXPECT_FALSE(build_acpi_tables(c));
}

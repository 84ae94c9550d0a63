// The fw_cfg ACPI files run through a small interpreter of the table loader that does what OVMF's
// AcpiPlatformDxe does (allocate, add pointers, add checksums): afterwards the RSDP, XSDT and FADT
// must be valid and every pointer must reach the table it names.
#include "altovirt/boot/acpi_loader.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>

namespace altovirt::boot {
namespace {

struct Placed {
  uint64_t address;
  std::vector<uint8_t> bytes;
};

uint64_t get_le(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  std::memcpy(&v, p, n);
  return v;
}

// Runs the loader with each file placed at the address given; fails the test on a malformed command.
std::map<std::string, Placed> run_loader(const AcpiFwCfgFiles& f, const std::map<std::string, uint64_t>& at) {
  std::map<std::string, std::vector<uint8_t>> files = {{std::string(kAcpiRsdpFile), f.rsdp},
                                                       {std::string(kAcpiTablesFile), f.tables}};
  std::map<std::string, Placed> placed;
  EXPECT_EQ(f.loader.size() % kLoaderCommandSize, 0u);
  auto name = [](const uint8_t* p) {
    EXPECT_EQ(p[kLoaderFileNameSize - 1], 0) << "names are NUL-terminated";
    return std::string(reinterpret_cast<const char*>(p));
  };
  bool allocating = true;
  for (size_t off = 0; off + kLoaderCommandSize <= f.loader.size(); off += kLoaderCommandSize) {
    const uint8_t* c = f.loader.data() + off;
    uint32_t type = static_cast<uint32_t>(get_le(c, 4));
    if (type == kLoaderAllocate) {
      EXPECT_TRUE(allocating) << "every ALLOCATE comes before the commands that use the files";
      std::string n = name(c + 4);
      EXPECT_TRUE(files.contains(n)) << n;
      uint64_t align = get_le(c + 4 + kLoaderFileNameSize, 4);
      EXPECT_EQ(at.at(n) % align, 0u);
      placed[n] = {at.at(n), files[n]};
      continue;
    }
    allocating = false;
    if (type == kLoaderAddPointer) {
      Placed& dst = placed.at(name(c + 4));
      const Placed& src = placed.at(name(c + 4 + kLoaderFileNameSize));
      uint32_t o = static_cast<uint32_t>(get_le(c + 4 + 2 * kLoaderFileNameSize, 4));
      uint8_t size = c[4 + 2 * kLoaderFileNameSize + 4];
      EXPECT_TRUE(size == 1 || size == 2 || size == 4 || size == 8);
      EXPECT_LE(o + size, dst.bytes.size());
      uint64_t v = get_le(dst.bytes.data() + o, size);
      EXPECT_LT(v, src.bytes.size()) << "a pointer's value is an offset into its target file";
      v += src.address;
      std::memcpy(dst.bytes.data() + o, &v, size);
    } else if (type == kLoaderAddChecksum) {
      Placed& file = placed.at(name(c + 4));
      uint32_t result = static_cast<uint32_t>(get_le(c + 4 + kLoaderFileNameSize, 4));
      uint32_t start = static_cast<uint32_t>(get_le(c + 8 + kLoaderFileNameSize, 4));
      uint32_t len = static_cast<uint32_t>(get_le(c + 12 + kLoaderFileNameSize, 4));
      EXPECT_LE(uint64_t{start} + len, file.bytes.size());
      EXPECT_EQ(file.bytes[result], 0) << "the checksum field starts as 0";
      file.bytes[result] = static_cast<uint8_t>(-acpi_checksum(file.bytes.data() + start, len));
    } else {
      ADD_FAILURE() << "unexpected loader command " << type;
    }
  }
  return placed;
}

TEST(AcpiLoader, TablesAreLinkedAndValidWhereverTheFirmwarePutsThem) {
  AcpiConfig config;
  config.cpus = 2;
  auto f = acpi_fw_cfg_files(config);
  ASSERT_TRUE(f) << f.error().message();
  ASSERT_EQ(f->rsdp.size(), 36u);
  for (uint64_t tables_at : {uint64_t{0x7ff0000}, uint64_t{0xbfe80040}}) {
    auto placed = run_loader(*f, {{std::string(kAcpiRsdpFile), 0xf5a10}, {std::string(kAcpiTablesFile), tables_at}});
    const auto& rsdp = placed.at(std::string(kAcpiRsdpFile)).bytes;
    const auto& tables = placed.at(std::string(kAcpiTablesFile)).bytes;
    EXPECT_EQ(std::string(rsdp.begin(), rsdp.begin() + 8), "RSD PTR ");
    EXPECT_EQ(acpi_checksum(rsdp.data(), 20), 0);
    EXPECT_EQ(acpi_checksum(rsdp.data(), 36), 0);
    auto table_at = [&](uint64_t address) -> const uint8_t* {
      EXPECT_GE(address, tables_at);
      EXPECT_LT(address - tables_at, tables.size());
      return tables.data() + (address - tables_at);
    };
    auto sig = [](const uint8_t* t) { return std::string(reinterpret_cast<const char*>(t), 4); };
    auto valid = [](const uint8_t* t) { return acpi_checksum(t, static_cast<uint32_t>(get_le(t + 4, 4))) == 0; };
    const uint8_t* xsdt = table_at(get_le(rsdp.data() + 24, 8));
    ASSERT_EQ(sig(xsdt), "XSDT");
    EXPECT_TRUE(valid(xsdt));
    std::vector<std::string> listed;
    const uint8_t* fadt = nullptr;
    for (uint32_t o = 36; o < get_le(xsdt + 4, 4); o += 8) {
      const uint8_t* t = table_at(get_le(xsdt + o, 8));
      listed.push_back(sig(t));
      EXPECT_TRUE(valid(t)) << sig(t);
      if (sig(t) == "FACP") fadt = t;
    }
    EXPECT_EQ(listed, (std::vector<std::string>{"FACP", "APIC", "MCFG"}));
    ASSERT_NE(fadt, nullptr);
    EXPECT_EQ(sig(table_at(get_le(fadt + 36, 4))), "FACS");
    const uint8_t* dsdt = table_at(get_le(fadt + 40, 4));
    EXPECT_EQ(sig(dsdt), "DSDT");
    EXPECT_TRUE(valid(dsdt));
  }
}

TEST(AcpiLoader, FilesAreAllocatedFirstInTheRightZones) {
  auto f = acpi_fw_cfg_files(AcpiConfig{});
  ASSERT_TRUE(f);
  ASSERT_GE(f->loader.size(), 2 * kLoaderCommandSize);
  const uint8_t* c = f->loader.data();
  EXPECT_EQ(get_le(c, 4), kLoaderAllocate);
  EXPECT_STREQ(reinterpret_cast<const char*>(c + 4), "etc/acpi/rsdp");
  EXPECT_EQ(c[4 + kLoaderFileNameSize + 4], kLoaderZoneFseg) << "the RSDP in the BIOS area";
  c += kLoaderCommandSize;
  EXPECT_EQ(get_le(c, 4), kLoaderAllocate);
  EXPECT_STREQ(reinterpret_cast<const char*>(c + 4), "etc/acpi/tables");
  EXPECT_EQ(c[4 + kLoaderFileNameSize + 4], kLoaderZoneHigh);
}

}  // namespace
}  // namespace altovirt::boot

#include "altovirt/boot/acpi_loader.h"

#include <cstring>

namespace altovirt::boot {
namespace {

// FADT field offsets (ACPI 6.4 table 5.9) and the RSDP's (table 5.3).
constexpr uint32_t kFadtFirmwareCtrl = 36, kFadtDsdt = 40;
constexpr uint32_t kHeaderChecksum = 9, kHeaderLength = 4, kHeaderSize = 36;
constexpr uint32_t kRsdpChecksum = 8, kRsdpXsdt = 24, kRsdpExtChecksum = 32, kRsdpV1Size = 20, kRsdpSize = 36;

class Loader {
 public:
  void allocate(std::string_view file, uint32_t align, uint8_t zone) {
    uint8_t* c = next(kLoaderAllocate);
    name(c + 4, file);
    put32(c + 4 + kLoaderFileNameSize, align);
    c[4 + kLoaderFileNameSize + 4] = zone;
  }
  void add_pointer(std::string_view dest, std::string_view src, uint32_t offset, uint8_t size) {
    uint8_t* c = next(kLoaderAddPointer);
    name(c + 4, dest);
    name(c + 4 + kLoaderFileNameSize, src);
    put32(c + 4 + 2 * kLoaderFileNameSize, offset);
    c[4 + 2 * kLoaderFileNameSize + 4] = size;
  }
  void add_checksum(std::string_view file, uint32_t result, uint32_t start, uint32_t length) {
    uint8_t* c = next(kLoaderAddChecksum);
    name(c + 4, file);
    put32(c + 4 + kLoaderFileNameSize, result);
    put32(c + 8 + kLoaderFileNameSize, start);
    put32(c + 12 + kLoaderFileNameSize, length);
  }
  std::vector<uint8_t> bytes;

 private:
  uint8_t* next(uint32_t type) {
    bytes.resize(bytes.size() + kLoaderCommandSize, 0);
    uint8_t* c = bytes.data() + bytes.size() - kLoaderCommandSize;
    put32(c, type);
    return c;
  }
  static void put32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }  // little-endian host (x86)
  static void name(uint8_t* p, std::string_view n) { std::memcpy(p, n.data(), std::min(n.size(), kLoaderFileNameSize - 1)); }
};

uint32_t table_length(const std::vector<uint8_t>& blob, size_t at) {
  uint32_t len;
  std::memcpy(&len, blob.data() + at + kHeaderLength, 4);
  return len;
}

}  // namespace

Result<AcpiFwCfgFiles> acpi_fw_cfg_files(const AcpiConfig& config) {
  // Laid out at address 0, every pointer field holds its target's offset in the blob: exactly what
  // ADD_POINTER expects before the firmware adds the blob's address.
  AV_TRY_ASSIGN(AcpiTables t, build_acpi_tables(config, 0));
  AcpiFwCfgFiles f;
  f.rsdp.assign(t.blob.begin() + static_cast<long>(t.rsdp), t.blob.begin() + static_cast<long>(t.rsdp + kRsdpSize));
  f.tables = std::move(t.blob);
  std::fill_n(f.tables.begin() + static_cast<long>(t.rsdp), kRsdpSize, 0);  // the RSDP travels in its own file
  // The tables the firmware patches get their checksums from the loader, computed over a zero field.
  f.tables[t.fadt + kHeaderChecksum] = 0;
  f.tables[t.xsdt + kHeaderChecksum] = 0;
  f.rsdp[kRsdpChecksum] = 0;
  f.rsdp[kRsdpExtChecksum] = 0;

  Loader l;
  // The RSDP in the BIOS area (where an OS would search for it without UEFI); the tables anywhere,
  // below 4 GiB (the FADT's 32-bit fields point into them).
  l.allocate(kAcpiRsdpFile, 16, kLoaderZoneFseg);
  l.allocate(kAcpiTablesFile, 64, kLoaderZoneHigh);
  l.add_pointer(kAcpiTablesFile, kAcpiTablesFile, static_cast<uint32_t>(t.fadt + kFadtFirmwareCtrl), 4);
  l.add_pointer(kAcpiTablesFile, kAcpiTablesFile, static_cast<uint32_t>(t.fadt + kFadtDsdt), 4);
  const uint32_t xsdt_len = table_length(f.tables, t.xsdt);
  for (uint32_t at = kHeaderSize; at + 8 <= xsdt_len; at += 8)
    l.add_pointer(kAcpiTablesFile, kAcpiTablesFile, static_cast<uint32_t>(t.xsdt + at), 8);
  l.add_checksum(kAcpiTablesFile, static_cast<uint32_t>(t.fadt + kHeaderChecksum), static_cast<uint32_t>(t.fadt),
                 table_length(f.tables, t.fadt));
  l.add_checksum(kAcpiTablesFile, static_cast<uint32_t>(t.xsdt + kHeaderChecksum), static_cast<uint32_t>(t.xsdt),
                 xsdt_len);
  l.add_pointer(kAcpiRsdpFile, kAcpiTablesFile, kRsdpXsdt, 8);
  // The 20-byte checksum first: the extended one covers its byte too.
  l.add_checksum(kAcpiRsdpFile, kRsdpChecksum, 0, kRsdpV1Size);
  l.add_checksum(kAcpiRsdpFile, kRsdpExtChecksum, 0, kRsdpSize);
  f.loader = std::move(l.bytes);
  return f;
}

}  // namespace altovirt::boot

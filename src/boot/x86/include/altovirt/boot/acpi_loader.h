// The ACPI tables for UEFI firmware, handed over through fw_cfg as QEMU does it (QEMU
// hw/acpi/bios-linker-loader.c; OVMF's OvmfPkg/AcpiPlatformDxe/QemuFwCfgAcpi.c reads it):
//   etc/acpi/rsdp     the RSDP (ACPI 6.4 5.2.5.3), to be placed in the BIOS area (FSEG)
//   etc/acpi/tables   every other table, as build_acpi_tables lays them out at address 0, so that
//                     each pointer field holds its target's offset in this file
//   etc/table-loader  the commands that tell the firmware where to put both and how to link them:
//                     ALLOCATE each file, ADD_POINTER for every pointer field (the firmware adds the
//                     address it chose for the target file), ADD_CHECKSUM for every table it patched.
// Each command is 128 bytes: le32 type, then (ALLOCATE) file[56], le32 align, u8 zone; (ADD_POINTER)
// dest[56], src[56], le32 offset, u8 size; (ADD_CHECKSUM) file[56], le32 result offset, le32 start,
// le32 length. Checksum fields start as 0: the firmware stores 0 - sum(range), range included.
// OVMF installs a table only if some ADD_POINTER targets it (so FACS and DSDT are reached through
// the FADT's fields, the rest through the XSDT's) and builds its own RSDP and XSDT from them.
//
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/boot/acpi.h"

namespace altovirt::boot {

inline constexpr std::string_view kAcpiRsdpFile = "etc/acpi/rsdp";
inline constexpr std::string_view kAcpiTablesFile = "etc/acpi/tables";
inline constexpr std::string_view kTableLoaderFile = "etc/table-loader";

// Loader command types and allocation zones (bios-linker-loader.c).
inline constexpr uint32_t kLoaderAllocate = 1, kLoaderAddPointer = 2, kLoaderAddChecksum = 3;
inline constexpr uint8_t kLoaderZoneHigh = 1, kLoaderZoneFseg = 2;
inline constexpr size_t kLoaderCommandSize = 128, kLoaderFileNameSize = 56;

struct AcpiFwCfgFiles {
  std::vector<uint8_t> rsdp, tables, loader;
};

Result<AcpiFwCfgFiles> acpi_fw_cfg_files(const AcpiConfig& config);

}  // namespace altovirt::boot

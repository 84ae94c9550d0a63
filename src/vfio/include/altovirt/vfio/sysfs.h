// What the VFIO layer needs to know from sysfs before it opens anything, on top of the host layer's
// look-ups (host::SysfsRoot, host/pci_device.h): the device named on the command line, its IOMMU
// group (with the error that says the IOMMU is off), the group's reserved IOVA ranges, and where the
// /dev/vfio nodes are under the root.
//
// Threading: stateless functions; the SysfsRoot's contract applies.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/host/pci_address.h"
#include "altovirt/host/sysfs.h"

namespace altovirt::vfio {

// An IOVA range the host reserves for itself in a group (MSI doorbells, RMRRs): guest RAM mapped at
// IOVA = GPA must not overlap the ones that are not "direct-relaxable".
struct ReservedRegion {
  uint64_t start = 0;
  uint64_t end = 0;  // inclusive, as the kernel prints it
  std::string type;  // "msi", "reserved", "direct", "direct-relaxable"
};

// Parses /sys/kernel/iommu_groups/N/reserved_regions: lines "0x00000000fee00000 0x00000000feefffff msi".
Result<std::vector<ReservedRegion>> parse_reserved_regions(const std::string& text, const std::string& source);

// An existing PCI device, from any form host::parse_pci_address accepts ("0000:01:00.0", "01:00.0",
// "pci_0000_01_00_0"); an error naming the address when there is no such device.
Result<host::PciAddress> find_device(const host::SysfsRoot& sys, std::string_view address);
// The IOMMU group of `a`; the error (no group) says how to turn the IOMMU on.
Result<unsigned> iommu_group(const host::SysfsRoot& sys, const host::PciAddress& a);
// "0000:00:1f.0 (no driver), 0000:00:1f.3 (i801_smbus)": every device of a group with its driver.
Result<std::string> describe_group(const host::SysfsRoot& sys, unsigned group);
Result<std::vector<ReservedRegion>> reserved_regions(const host::SysfsRoot& sys, unsigned group);
// The directory holding the VFIO nodes ("/dev/vfio/" under the root).
std::string dev_vfio(const host::SysfsRoot& sys);

}  // namespace altovirt::vfio

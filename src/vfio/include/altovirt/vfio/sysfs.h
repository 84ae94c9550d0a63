// What the VFIO layer needs to know about a PCI device from sysfs before it opens anything: its
// IOMMU group, its driver, the other devices of the group, and the group's reserved IOVA ranges.
//
// Threading: stateless functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "altovirt/base/error.h"

namespace altovirt::vfio {

struct GroupMember {
  std::string address;  // "0000:01:00.0"
  std::string driver;   // "" when no driver is bound
};

// An IOVA range the host reserves for itself in a group (MSI doorbells, RMRRs): guest RAM mapped at
// IOVA = GPA must not overlap the ones that are not "direct-relaxable".
struct ReservedRegion {
  uint64_t start = 0;
  uint64_t end = 0;  // inclusive, as the kernel prints it
  std::string type;  // "msi", "reserved", "direct", "direct-relaxable"
};

// Parses /sys/kernel/iommu_groups/N/reserved_regions: lines "0x00000000fee00000 0x00000000feefffff msi".
Result<std::vector<ReservedRegion>> parse_reserved_regions(const std::string& text, const std::string& source);

class Sysfs {
 public:
  explicit Sysfs(std::string root = "/") : root_(root.ends_with('/') ? root : root + "/") {}

  // The canonical address of an existing PCI device ("0000:01:00.0"), from "0000:01:00.0" or
  // "01:00.0"; an error naming the address when there is no such device.
  Result<std::string> canonical_address(const std::string& address) const;
  Result<unsigned> iommu_group(const std::string& address) const;
  std::string driver(const std::string& address) const;  // "" when unbound
  Result<std::vector<GroupMember>> group_members(unsigned group) const;
  Result<std::vector<ReservedRegion>> reserved_regions(unsigned group) const;
  std::string device_path(const std::string& address) const { return root_ + "sys/bus/pci/devices/" + address; }
  std::string dev_vfio() const { return root_ + "dev/vfio/"; }

 private:
  std::string root_;
};

}  // namespace altovirt::vfio

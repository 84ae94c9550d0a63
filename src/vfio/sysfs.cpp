#include "altovirt/vfio/sysfs.h"

#include <sstream>

#include "altovirt/base/parse.h"
#include "altovirt/host/pci_device.h"

namespace altovirt::vfio {

Result<std::vector<ReservedRegion>> parse_reserved_regions(const std::string& text, const std::string& source) {
  std::vector<ReservedRegion> out;
  std::istringstream in(text);
  std::string start, end, type;
  int line = 0;
  std::string row;
  while (std::getline(in, row)) {
    ++line;
    if (row.find_first_not_of(" \t") == std::string::npos) continue;
    std::istringstream fields(row);
    if (!(fields >> start >> end >> type)) return fail("{} line {}: expected 'START END TYPE', got '{}'", source, line, row);
    AV_TRY_ASSIGN(uint64_t s, parse_uint_base(start, 16, fmt::format("{} line {} start", source, line)));
    AV_TRY_ASSIGN(uint64_t e, parse_uint_base(end, 16, fmt::format("{} line {} end", source, line)));
    if (e < s) return fail("{} line {}: end {:#x} is below start {:#x}", source, line, e, s);
    out.push_back({s, e, type});
  }
  return out;
}

Result<host::PciAddress> find_device(const host::SysfsRoot& sys, std::string_view address) {
  AV_TRY_ASSIGN(host::PciAddress a, host::parse_pci_address(address));
  if (!sys.exists(host::pci_device_dir(a)))
    return fail("there is no PCI device {} on this host (see lspci or altoctl nodedev-list)", a.str());
  return a;
}

Result<unsigned> iommu_group(const host::SysfsRoot& sys, const host::PciAddress& a) {
  AV_TRY_ASSIGN(std::optional<unsigned> group, host::iommu_group_of(sys, a));
  if (!group)
    return fail("{} is in no IOMMU group: the IOMMU is off or missing (enable VT-d/AMD-Vi in the firmware and "
                "boot with intel_iommu=on or amd_iommu=on; check with altoctl host-validate)",
                a.str());
  return *group;
}

Result<std::string> describe_group(const host::SysfsRoot& sys, unsigned group) {
  AV_TRY_ASSIGN(auto members, host::iommu_group_members(sys, group));
  std::string out;
  for (auto& m : members) {
    if (!out.empty()) out += ", ";
    std::string driver = host::current_driver(sys, m);
    out += fmt::format("{} ({})", m.str(), driver.empty() ? "no driver" : driver);
  }
  return out;
}

Result<std::vector<ReservedRegion>> reserved_regions(const host::SysfsRoot& sys, unsigned group) {
  std::string path = fmt::format("/sys/kernel/iommu_groups/{}/reserved_regions", group);
  AV_TRY_ASSIGN(std::string text, sys.read(path));
  return parse_reserved_regions(text, sys.path(path));
}

std::string dev_vfio(const host::SysfsRoot& sys) { return sys.path("/dev/vfio/"); }

}  // namespace altovirt::vfio

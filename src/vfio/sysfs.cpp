#include "altovirt/vfio/sysfs.h"

#include <sstream>

#include "altovirt/base/files.h"
#include "altovirt/base/parse.h"

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

Result<std::string> Sysfs::canonical_address(const std::string& address) const {
  std::string a = address;
  if (a.size() == 7) a = "0000:" + a;  // "01:00.0"
  bool shape = a.size() == 12 && a[4] == ':' && a[7] == ':' && a[10] == '.';
  if (!shape) return fail("'{}' is not a PCI address (use DDDD:BB:DD.F, e.g. 0000:01:00.0)", address);
  for (auto& c : a) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!path_exists(device_path(a)))
    return fail("there is no PCI device {} on this host (see lspci or altoctl nodedev-list)", a);
  return a;
}

Result<unsigned> Sysfs::iommu_group(const std::string& address) const {
  auto link = read_link(device_path(address) + "/iommu_group");
  if (!link)
    return fail("{} is in no IOMMU group: the IOMMU is off or missing (enable VT-d/AMD-Vi in the firmware and "
                "boot with intel_iommu=on or amd_iommu=on; check with altoctl host-validate)",
                address);
  AV_TRY_ASSIGN(uint64_t g, parse_uint(std::string(base_name(*link)), "IOMMU group"));
  return static_cast<unsigned>(g);
}

std::string Sysfs::driver(const std::string& address) const {
  auto link = read_link(device_path(address) + "/driver");
  return link ? std::string(base_name(*link)) : std::string();
}

Result<std::vector<GroupMember>> Sysfs::group_members(unsigned group) const {
  AV_TRY_ASSIGN(auto names, list_dir(fmt::format("{}sys/kernel/iommu_groups/{}/devices", root_, group)));
  std::vector<GroupMember> out;
  for (auto& n : names) out.push_back({n, driver(n)});
  return out;
}

Result<std::vector<ReservedRegion>> Sysfs::reserved_regions(unsigned group) const {
  std::string path = fmt::format("{}sys/kernel/iommu_groups/{}/reserved_regions", root_, group);
  AV_TRY_ASSIGN(std::string text, read_file(path));
  return parse_reserved_regions(text, path);
}

}  // namespace altovirt::vfio

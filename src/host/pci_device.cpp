#include "altovirt/host/pci_device.h"

#include <algorithm>

#include "altovirt/base/parse.h"

namespace altovirt::host {

bool PciDevice::is_bridge() const {
  uint32_t base_sub = class_code >> 8;
  return base_sub == 0x0604 || base_sub == 0x0609;
}

std::string pci_device_dir(const PciAddress& a) { return "/sys/bus/pci/devices/" + a.str(); }

Result<std::vector<PciAddress>> list_pci_devices(const SysfsRoot& sys) {
  AV_TRY_ASSIGN(auto names, sys.list("/sys/bus/pci/devices"));
  std::vector<PciAddress> out;
  for (const auto& n : names) {
    auto a = parse_pci_address(n);
    if (a) out.push_back(*a);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string current_driver(const SysfsRoot& sys, const PciAddress& a) {
  auto d = sys.link_name(pci_device_dir(a) + "/driver");
  return d ? *d : std::string();
}

Result<std::optional<unsigned>> iommu_group_of(const SysfsRoot& sys, const PciAddress& a) {
  auto g = sys.link_name(pci_device_dir(a) + "/iommu_group");
  if (!g) return std::optional<unsigned>();
  AV_TRY_ASSIGN(uint64_t group, parse_uint(*g, "IOMMU group of " + a.str(), UINT32_MAX));
  return static_cast<unsigned>(group);
}

Result<std::vector<PciAddress>> iommu_group_members(const SysfsRoot& sys, unsigned group) {
  AV_TRY_ASSIGN(auto names, sys.list(fmt::format("/sys/kernel/iommu_groups/{}/devices", group)));
  std::vector<PciAddress> out;
  for (const auto& n : names)
    if (auto a = parse_pci_address(n)) out.push_back(*a);
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

Result<uint64_t> read_hex(const SysfsRoot& sys, const std::string& path) {
  AV_TRY_ASSIGN(std::string s, sys.read(path));
  return parse_uint_base(s, 16, path);
}

Result<unsigned> read_dec(const SysfsRoot& sys, const std::string& path) {
  AV_TRY_ASSIGN(std::string s, sys.read(path));
  AV_TRY_ASSIGN(uint64_t v, parse_uint(s, path, UINT32_MAX));
  return static_cast<unsigned>(v);
}

}  // namespace

Result<PciDevice> read_pci_device(const SysfsRoot& sys, const PciAddress& a) {
  const std::string dir = pci_device_dir(a);
  if (!sys.exists(dir))
    return fail("PCI device {} does not exist on this host (see 'altoctl nodedev-list' for the devices there are)",
                a.str());
  PciDevice d;
  d.address = a;
  AV_TRY_ASSIGN(uint64_t vendor, read_hex(sys, dir + "/vendor"));
  AV_TRY_ASSIGN(uint64_t device, read_hex(sys, dir + "/device"));
  AV_TRY_ASSIGN(uint64_t cls, read_hex(sys, dir + "/class"));
  d.vendor = static_cast<uint16_t>(vendor);
  d.device = static_cast<uint16_t>(device);
  d.class_code = static_cast<uint32_t>(cls);
  if (auto v = read_hex(sys, dir + "/subsystem_vendor")) d.subsystem_vendor = static_cast<uint16_t>(*v);
  if (auto v = read_hex(sys, dir + "/subsystem_device")) d.subsystem_device = static_cast<uint16_t>(*v);
  d.driver = current_driver(sys, a);
  if (auto o = sys.read(dir + "/driver_override"); o && *o != "(null)") d.driver_override = *o;
  AV_TRY_ASSIGN(d.iommu_group, iommu_group_of(sys, a));
  if (d.iommu_group) {
    AV_TRY_ASSIGN(d.group_members, iommu_group_members(sys, *d.iommu_group));
  }
  if (sys.exists(dir + "/sriov_totalvfs")) {
    AV_TRY_ASSIGN(d.sriov_totalvfs, read_dec(sys, dir + "/sriov_totalvfs"));
    AV_TRY_ASSIGN(d.sriov_numvfs, read_dec(sys, dir + "/sriov_numvfs"));
    if (auto ap = read_dec(sys, dir + "/sriov_drivers_autoprobe")) d.sriov_drivers_autoprobe = *ap != 0;
    for (unsigned i = 0;; ++i) {
      auto vf = sys.link_name(fmt::format("{}/virtfn{}", dir, i));
      if (!vf) break;
      AV_TRY_ASSIGN(PciAddress va, parse_pci_address(*vf));
      d.virtfns.push_back(va);
    }
  }
  if (auto pf = sys.link_name(dir + "/physfn")) {
    AV_TRY_ASSIGN(PciAddress pa, parse_pci_address(*pf));
    d.physfn = pa;
  }
  d.has_reset = sys.exists(dir + "/reset");
  if (auto rm = sys.read(dir + "/reset_method")) {
    std::string_view s = *rm;
    while (!s.empty()) {
      auto sp = s.find(' ');
      auto word = s.substr(0, sp);
      if (!word.empty()) d.reset_methods.emplace_back(word);
      if (sp == std::string_view::npos) break;
      s.remove_prefix(sp + 1);
    }
  }
  return d;
}

bool driver_keeps_group_viable(std::string_view driver) {
  return driver.empty() || driver.starts_with("vfio") || driver == "pci-stub" || driver == "pcieport";
}

bool keeps_group_viable(const PciDevice& d) { return d.is_bridge() || driver_keeps_group_viable(d.driver); }

Result<std::vector<GroupBlocker>> group_blockers(const SysfsRoot& sys, const PciDevice& d,
                                                 const std::vector<PciAddress>& also_detaching) {
  std::vector<GroupBlocker> out;
  for (const auto& m : d.group_members) {
    if (m == d.address) continue;
    if (std::find(also_detaching.begin(), also_detaching.end(), m) != also_detaching.end()) continue;
    AV_TRY_ASSIGN(PciDevice other, read_pci_device(sys, m));
    if (!keeps_group_viable(other)) out.push_back({m, other.driver});
  }
  return out;
}

}  // namespace altovirt::host

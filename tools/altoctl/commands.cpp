#include "commands.h"
#include "vm_store.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "altovirt/host/binding.h"
#include "altovirt/host/pci_names.h"
#include "altovirt/host/sriov.h"
#include "altovirt/host/state.h"
#include "altovirt/host/validate.h"

namespace altoctl {

using namespace altovirt;
using namespace altovirt::host;
using json = nlohmann::json;

int report(const Error& e) {
  fmt::print(stderr, "error: {}\n", e.message());
  return kExitFailed;
}

namespace {

// Device names come from the user: a malformed one is a usage error (exit 2), not a failed operation.
std::optional<PciAddress> parse_device(const std::string& text, int& status) {
  auto a = parse_pci_address(text);
  if (!a) {
    fmt::print(stderr, "error: {}\n", a.error().message());
    status = kExitUsage;
    return std::nullopt;
  }
  return *a;
}

std::string hex4(uint16_t v) { return fmt::format("{:04x}", v); }
std::string or_dash(const std::string& s) { return s.empty() ? std::string("-") : s; }

json device_json(const PciDevice& d, PciNames& names) {
  json j = {{"address", d.address.str()},
            {"name", d.address.node_name()},
            {"vendor_id", hex4(d.vendor)},
            {"device_id", hex4(d.device)},
            {"vendor", names.vendor(d.vendor)},
            {"product", names.device(d.vendor, d.device)},
            {"class", fmt::format("{:06x}", d.class_code)},
            {"class_name", names.class_name(d.class_code)},
            {"subsystem_vendor_id", hex4(d.subsystem_vendor)},
            {"subsystem_device_id", hex4(d.subsystem_device)},
            {"driver", d.driver.empty() ? json(nullptr) : json(d.driver)},
            {"iommu_group", d.iommu_group ? json(*d.iommu_group) : json(nullptr)},
            {"bridge", d.is_bridge()},
            {"reset_methods", d.reset_methods}};
  if (d.is_pf()) {
    std::vector<std::string> vfs;
    for (const auto& v : d.virtfns) vfs.push_back(v.str());
    j["sriov"] = {{"totalvfs", *d.sriov_totalvfs}, {"numvfs", d.sriov_numvfs.value_or(0)}, {"vfs", vfs}};
  }
  if (d.physfn) j["physfn"] = d.physfn->str();
  return j;
}

std::string sriov_text(const PciDevice& d) {
  if (d.is_pf()) return fmt::format("PF {}/{} VFs", d.sriov_numvfs.value_or(0), *d.sriov_totalvfs);
  if (d.physfn) return "VF of " + d.physfn->str();
  return "-";
}

}  // namespace

int host_validate(const Global& g, const std::string& device, bool load_modules, bool as_json) {
  int status = kExitOk;
  ValidateOptions opts;
  opts.load_modules = load_modules;
  if (!device.empty()) {
    opts.device = parse_device(device, status);
    if (!opts.device) return status;
  }
  SysfsRoot sys(g.sysfs_root);
  auto checks = validate_host(sys, opts);
  bool possible = passthrough_possible(checks);
  if (as_json) {
    json arr = json::array();
    for (const auto& c : checks)
      arr.push_back({{"check", c.name}, {"status", to_string(c.status)}, {"detail", c.detail}, {"fix", c.fix}});
    fmt::print("{}\n", json{{"checks", arr}, {"passthrough_possible", possible}}.dump(2));
  } else {
    for (const auto& c : checks) {
      fmt::print("{}  {:<28}: {}\n", to_string(c.status), c.name, c.detail);
      if (!c.fix.empty()) fmt::print("      fix: {}\n", c.fix);
    }
    fmt::print("{}\n", possible ? "Passthrough can work on this host."
                                 : "Passthrough cannot work on this host: fix the FAIL checks above.");
  }
  return possible ? kExitOk : kExitFailed;
}

int nodedev_list(const Global& g, const std::string& cap, bool as_json) {
  if (cap != "pci") {
    fmt::print(stderr, "error: --cap {}: only 'pci' is supported\n", cap);
    return kExitUsage;
  }
  SysfsRoot sys(g.sysfs_root);
  auto addrs = list_pci_devices(sys);
  if (!addrs) return report(addrs.error());
  PciNames names;
  std::vector<PciDevice> devs;
  for (const auto& a : *addrs) {
    auto d = read_pci_device(sys, a);
    if (!d) return report(d.error());
    devs.push_back(std::move(*d));
  }
  if (as_json) {
    json arr = json::array();
    for (const auto& d : devs) arr.push_back(device_json(d, names));
    fmt::print("{}\n", arr.dump(2));
    return kExitOk;
  }
  fmt::print("{:<13} {:<18} {:<9} {:<6} {:<11} {:<6} {:<20} {}\n", "ADDRESS", "NAME", "ID", "CLASS", "DRIVER",
             "GROUP", "SR-IOV", "DESCRIPTION");
  for (const auto& d : devs) {
    fmt::print("{:<13} {:<18} {:<9} {:<6} {:<11} {:<6} {:<20} {} {}\n", d.address.str(), d.address.node_name(),
               fmt::format("{:04x}:{:04x}", d.vendor, d.device), fmt::format("{:04x}", d.class_code >> 8),
               or_dash(d.driver), d.iommu_group ? std::to_string(*d.iommu_group) : "-", sriov_text(d),
               names.vendor(d.vendor), names.device(d.vendor, d.device));
  }
  return kExitOk;
}

int nodedev_detach(const Global& g, const std::string& device, const std::string& driver, bool group) {
  int status = kExitOk;
  auto a = parse_device(device, status);
  if (!a) return status;
  if (driver != "vfio") {
    fmt::print(stderr, "error: --driver {}: only 'vfio' is supported\n", driver);
    return kExitUsage;
  }
  auto state = open_state(g);
  if (!state) return report(state.error());
  SysfsRoot sys(g.sysfs_root);
  auto r = detach_device(sys, *state, *a, group);
  if (!r) return report(r.error());
  for (const auto& o : *r) {
    fmt::print("Device {} detached\n", o.address.node_name());
    if (o.already) fmt::print("  {} was already bound to vfio-pci\n", o.address.str());
    else fmt::print("  {}: {} -> vfio-pci\n", o.address.str(), o.previous_driver.empty() ? "no driver" : o.previous_driver);
  }
  return kExitOk;
}

namespace {

// The steps every single-device verb shares: the name parsed (usage error when malformed), the
// state directory opened and locked, then `op` on the device.
template <typename Op>
int on_device(const Global& g, const std::string& device, Op op) {
  int status = kExitOk;
  auto a = parse_device(device, status);
  if (!a) return status;
  auto state = open_state(g);
  if (!state) return report(state.error());
  SysfsRoot sys(g.sysfs_root);
  return op(sys, *state, *a);
}

}  // namespace

int nodedev_reattach(const Global& g, const std::string& device) {
  return on_device(g, device, [](SysfsRoot& sys, auto& state, const PciAddress& a) {
    auto r = reattach_device(sys, state, a);
    if (!r) return report(r.error());
    fmt::print("Device {} re-attached\n", a.node_name());
    fmt::print("  {}: driver now {}\n", a.str(), r->empty() ? "none" : *r);
    return kExitOk;
  });
}

int nodedev_reset(const Global& g, const std::string& device) {
  return on_device(g, device, [](SysfsRoot& sys, auto& state, const PciAddress& a) {
    auto r = reset_device(sys, state, a);
    if (!r) return report(r.error());
    fmt::print("Device {} reset\n", a.node_name());
    fmt::print("  {}: reset methods {}\n", a.str(), *r);
    return kExitOk;
  });
}

int sriov_set(const Global& g, const std::string& pf, unsigned count, const std::string& autoprobe, bool vfio) {
  int status = kExitOk;
  auto a = parse_device(pf, status);
  if (!a) return status;
  SriovOptions opts;
  if (!autoprobe.empty()) opts.autoprobe = autoprobe == "on";
  opts.vfio = vfio;
  auto state = open_state(g);
  if (!state) return report(state.error());
  SysfsRoot sys(g.sysfs_root);
  auto r = host::sriov_set(sys, *state, *a, count, opts);
  if (!r) return report(r.error());
  fmt::print("PF {}: {} -> {} VFs\n", a->str(), r->previous, r->vfs.size());
  for (const auto& vf : r->vfs) fmt::print("  VF {} ({}): driver {}\n", vf.str(), vf.node_name(), or_dash(current_driver(sys, vf)));
  return kExitOk;
}

int sriov_list(const Global& g, const std::string& pf, bool as_json) {
  int status = kExitOk;
  auto a = parse_device(pf, status);
  if (!a) return status;
  SysfsRoot sys(g.sysfs_root);
  auto d = read_pf(sys, *a);
  if (!d) return report(d.error());
  std::vector<PciDevice> vfs;
  for (const auto& v : d->virtfns) {
    auto vd = read_pci_device(sys, v);
    if (!vd) return report(vd.error());
    vfs.push_back(std::move(*vd));
  }
  PciNames names;
  if (as_json) {
    json arr = json::array();
    for (size_t i = 0; i < vfs.size(); ++i) {
      json j = device_json(vfs[i], names);
      j["index"] = i;
      arr.push_back(j);
    }
    json out = {{"pf", a->str()},
                {"totalvfs", *d->sriov_totalvfs},
                {"numvfs", d->sriov_numvfs.value_or(0)},
                {"drivers_autoprobe", d->sriov_drivers_autoprobe ? json(*d->sriov_drivers_autoprobe) : json(nullptr)},
                {"vfs", arr}};
    fmt::print("{}\n", out.dump(2));
    return kExitOk;
  }
  fmt::print("PF {} ({} {}): {} of {} VFs, driver autoprobe {}\n", a->str(), names.vendor(d->vendor),
             names.device(d->vendor, d->device), d->sriov_numvfs.value_or(0), *d->sriov_totalvfs,
             d->sriov_drivers_autoprobe ? (*d->sriov_drivers_autoprobe ? "on" : "off") : "unknown");
  if (vfs.empty()) return kExitOk;
  fmt::print("{:<3} {:<13} {:<18} {:<9} {:<6} {}\n", "VF", "ADDRESS", "NAME", "ID", "GROUP", "DRIVER");
  for (size_t i = 0; i < vfs.size(); ++i) {
    const auto& v = vfs[i];
    fmt::print("{:<3} {:<13} {:<18} {:<9} {:<6} {}\n", i, v.address.str(), v.address.node_name(),
               fmt::format("{:04x}:{:04x}", v.vendor, v.device), v.iommu_group ? std::to_string(*v.iommu_group) : "-",
               or_dash(v.driver));
  }
  return kExitOk;
}

}  // namespace altoctl

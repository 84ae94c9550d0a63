#include "hostdevs.h"

#include <fmt/format.h>

#include "altovirt/host/pci_device.h"

namespace altoctl {

using namespace altovirt;
using namespace altovirt::host;

namespace {

Result<PciAddress> host_address(const config::Hostdev& h) {
  auto a = parse_pci_address(h.source.to_string());
  if (!a) return std::unexpected(a.error().context(fmt::format("<hostdev> source {}", h.source.to_string())));
  return a;
}

bool is_vfio_driver(const std::string& d) { return d == "vfio-pci" || d.starts_with("vfio"); }

}  // namespace

Status prepare_hostdevs(SysfsRoot& sys, StateDir& state, const config::DomainConfig& c, pid_t pid,
                        const BindOptions& opts) {
  // 1. Checks that change nothing, for every device, before the first change.
  std::vector<PciAddress> addrs;
  for (const auto& h : c.hostdevs) {
    AV_TRY_ASSIGN(PciAddress a, host_address(h));
    for (auto& seen : addrs)
      if (seen.str() == a.str()) return fail("<hostdev> {} is listed twice in domain '{}'", a.str(), c.name);
    if (auto claim = state.claim_of(a); claim && claim->vm != c.name)
      return fail("<hostdev> {} is in use by domain '{}' (pid {}); stop that domain first", a.str(), claim->vm,
                  claim->pid);
    if (!sys.exists(fmt::format("/sys/bus/pci/devices/{}", a.str())))
      return fail("<hostdev> {}: no such PCI device on this host (see `altoctl nodedev-list`)", a.str());
    if (!h.managed) {
      std::string d = current_driver(sys, a);
      if (!is_vfio_driver(d))
        return fail("<hostdev managed='no'> {} is bound to {}, not vfio-pci: run `altoctl nodedev-detach {}` first, "
                    "or set managed='yes'",
                    a.str(), d.empty() ? "no driver" : "driver " + d, a.str());
    }
    addrs.push_back(a);
  }

  // 2. Detach and claim, undoing everything on the first failure.
  std::vector<PciAddress> detached, claimed;
  auto rollback = [&](Error e) -> Status {
    for (auto& a : claimed) (void)state.release(a, c.name);
    for (auto it = detached.rbegin(); it != detached.rend(); ++it)
      if (auto r = reattach_device(sys, state, *it, opts); !r)
        e = Error(fmt::format("{}; rolling back, giving {} back to its driver failed too: {}", e.message(), it->str(),
                              r.error().message()));
    return std::unexpected(std::move(e));
  };
  for (size_t i = 0; i < addrs.size(); ++i) {
    const PciAddress& a = addrs[i];
    if (c.hostdevs[i].managed) {
      auto r = detach_device(sys, state, a, false, opts);
      if (!r) return rollback(r.error().context(fmt::format("<hostdev managed='yes'> {}", a.str())));
      // Rolled back only when this call moved it; after the VM, release_hostdevs() gives every
      // managed device to its recorded original driver, as libvirt does.
      if (!r->empty() && !r->front().already) detached.push_back(a);
    }
    if (auto s = state.claim(a, c.name, pid); !s) return rollback(s.error());
    claimed.push_back(a);
  }
  return ok();
}

Status release_hostdevs(SysfsRoot& sys, StateDir& state, const config::DomainConfig& c, const BindOptions& opts) {
  std::vector<std::string> problems;
  for (const auto& h : c.hostdevs) {
    auto a = host_address(h);
    if (!a) {
      problems.push_back(a.error().message());
      continue;
    }
    if (auto claim = state.claim_of(*a); claim && claim->vm != c.name) continue;  // someone else's now
    if (auto s = state.release(*a, c.name); !s) problems.push_back(s.error().message());
    if (h.managed)
      if (auto r = reattach_device(sys, state, *a, opts); !r)
        problems.push_back(fmt::format("{}: {}", a->str(), r.error().message()));
  }
  if (!problems.empty()) {
    std::string m = "giving the host devices back failed:";
    for (auto& p : problems) m += "\n  " + p;
    return fail("{}", m);
  }
  return ok();
}

}  // namespace altoctl

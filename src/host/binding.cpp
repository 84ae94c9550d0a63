#include "altovirt/host/binding.h"

#include <algorithm>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "altovirt/base/log.h"

namespace altovirt::host {

namespace {

constexpr std::string_view kVfioDriverDir = "/sys/bus/pci/drivers/vfio-pci";

std::string driver_or_none(const std::string& d) { return d.empty() ? std::string("none") : d; }

// Polls until `a`'s driver satisfies `done`, or the timeout passes. Returns the last driver seen.
template <class Pred>
std::string wait_driver(const SysfsRoot& sys, const PciAddress& a, const BindOptions& opts, Pred done) {
  auto deadline = std::chrono::steady_clock::now() + opts.timeout;
  for (;;) {
    std::string d = current_driver(sys, a);
    if (done(d) || std::chrono::steady_clock::now() >= deadline) return d;
    std::this_thread::sleep_for(opts.poll);
  }
}

Status clear_override(SysfsRoot& sys, const PciAddress& a) {
  // A lone newline clears driver_override (the kernel strips it and treats the empty string as "none").
  return sys.write(pci_device_dir(a) + "/driver_override", "\n");
}

// Unbinds `d` from its driver and lets vfio-pci take it through driver_override. On failure it tries to
// give the device back to the driver it had.
Status bind_to_vfio(SysfsRoot& sys, const PciDevice& d, const BindOptions& opts) {
  const PciAddress& a = d.address;
  const std::string addr = a.str();
  AV_TRY(sys.write(pci_device_dir(a) + "/driver_override", kVfioPci));
  if (!d.driver.empty()) {
    if (auto st = sys.write(fmt::format("/sys/bus/pci/drivers/{}/unbind", d.driver), addr); !st) {
      (void)clear_override(sys, a);
      return std::unexpected(st.error().context(fmt::format("unbinding {} from {}", addr, d.driver)));
    }
  }
  auto probe = sys.write("/sys/bus/pci/drivers_probe", addr);
  std::string now = wait_driver(sys, a, opts, [](const std::string& drv) { return drv == kVfioPci; });
  if (now == kVfioPci) return ok();
  // Roll back: the device must not be left without its driver because vfio-pci refused it.
  (void)clear_override(sys, a);
  if (now.empty()) {
    if (!d.driver.empty()) (void)sys.write(fmt::format("/sys/bus/pci/drivers/{}/bind", d.driver), addr);
    else (void)sys.write("/sys/bus/pci/drivers_probe", addr);
  }
  return fail("vfio-pci did not bind PCI device {} within {} ms{} (driver now: {}); see dmesg for why",
              addr, opts.timeout.count(), probe ? "" : " (" + probe.error().message() + ")",
              driver_or_none(current_driver(sys, a)));
}

}  // namespace

Status ensure_vfio_pci(SysfsRoot& sys) {
  if (sys.exists(kVfioDriverDir)) return ok();
  log::info("host", "loading vfio-pci");
  if (auto st = sys.load_module("vfio-pci"); !st)
    return std::unexpected(st.error().context("vfio-pci is not loaded and could not be loaded (run 'modprobe vfio-pci')"));
  if (!sys.exists(kVfioDriverDir))
    return fail("modprobe vfio-pci succeeded but {} does not exist; check dmesg", sys.path(kVfioDriverDir));
  return ok();
}

Result<std::vector<DetachOutcome>> detach_device(SysfsRoot& sys, StateDir& state, const PciAddress& a,
                                                 bool whole_group, const BindOptions& opts) {
  AV_TRY_ASSIGN(PciDevice d, read_pci_device(sys, a));
  const std::string addr = a.str();
  if (d.is_bridge())
    return fail("PCI device {} is a PCI bridge (class {:06x}); bridges stay with the host: detach the "
                "devices behind it instead",
                addr, d.class_code);
  if (!d.iommu_group)
    return fail("PCI device {} has no IOMMU group, so VFIO cannot use it: enable VT-d/AMD-Vi in the "
                "firmware and boot with intel_iommu=on or amd_iommu=on (see 'altoctl host-validate')",
                addr);

  std::vector<PciDevice> targets{d};
  if (whole_group) {
    for (const auto& m : d.group_members) {
      if (m == a) continue;
      AV_TRY_ASSIGN(PciDevice other, read_pci_device(sys, m));
      if (other.is_bridge() || other.driver == kVfioPci) continue;
      targets.push_back(std::move(other));
    }
  }
  for (const auto& t : targets) AV_TRY(state.check_not_in_use(t.address, "detach"));
  std::vector<PciAddress> target_addrs;
  for (const auto& t : targets) target_addrs.push_back(t.address);
  AV_TRY_ASSIGN(auto blockers, group_blockers(sys, d, target_addrs));
  if (!blockers.empty()) {
    std::vector<std::string> names;
    for (const auto& b : blockers) names.push_back(fmt::format("{} (driver {})", b.address.str(), b.driver));
    return fail("IOMMU group {} of PCI device {} is not viable: {} {} in the same group and bound to a host "
                "driver, and VFIO passes only whole groups; detach the whole group with "
                "'altoctl nodedev-detach {} --group' (the host loses those devices), or unbind them first",
                *d.iommu_group, addr, fmt::join(names, ", "), names.size() == 1 ? "is" : "are", addr);
  }
  AV_TRY(ensure_vfio_pci(sys));

  std::vector<DetachOutcome> out;
  for (const auto& t : targets) {
    if (t.driver == kVfioPci) {
      out.push_back({t.address, t.driver, true});
      continue;
    }
    // Recorded and saved before the first write: a crash from here on cannot lose it.
    AV_TRY(state.record_original_driver(t.address, t.driver));
    if (auto st = bind_to_vfio(sys, t, opts); !st) {
      // Nothing changed for this device after the rollback (if it worked); keep no stale record.
      if (current_driver(sys, t.address) == t.driver) (void)state.forget_device(t.address);
      return std::unexpected(st.error());
    }
    out.push_back({t.address, t.driver, false});
  }
  return out;
}

Result<std::string> reattach_device(SysfsRoot& sys, StateDir& state, const PciAddress& a, const BindOptions& opts) {
  AV_TRY_ASSIGN(PciDevice d, read_pci_device(sys, a));
  const std::string addr = a.str();
  AV_TRY(state.check_not_in_use(a, "reattach"));
  std::optional<std::string> original = state.original_driver(a);
  if (d.driver != kVfioPci && d.driver_override.empty()) {
    // Not detached (or already given back by hand): nothing to undo.
    AV_TRY(state.forget_device(a));
    return d.driver;
  }
  if (d.driver == kVfioPci) AV_TRY(sys.write(std::string(kVfioDriverDir) + "/unbind", addr));
  if (!d.driver_override.empty()) AV_TRY(clear_override(sys, a));

  bool bound = false;
  if (original && !original->empty() && sys.exists("/sys/bus/pci/drivers/" + *original)) {
    auto st = sys.write(fmt::format("/sys/bus/pci/drivers/{}/bind", *original), addr);
    if (!st) log::warn("host", "binding {} to {} failed ({}); letting the kernel probe", addr, *original, st.error().message());
    bound = st.has_value();
  }
  if (!bound) AV_TRY(sys.write("/sys/bus/pci/drivers_probe", addr));

  std::string now;
  if (original && !original->empty()) {
    now = wait_driver(sys, a, opts, [](const std::string& drv) { return !drv.empty(); });
    if (now.empty())
      return fail("PCI device {} was released by vfio-pci but its driver {} did not bind it within {} ms; "
                  "check dmesg, load the driver (modprobe {}) and run 'altoctl nodedev-reattach {}' again",
                  addr, *original, opts.timeout.count(), *original, addr);
  } else {
    now = current_driver(sys, a);
  }
  AV_TRY(state.forget_device(a));
  return now;
}

Result<std::string> reset_device(SysfsRoot& sys, const StateDir& state, const PciAddress& a) {
  AV_TRY_ASSIGN(PciDevice d, read_pci_device(sys, a));
  AV_TRY(state.check_not_in_use(a, "reset"));
  if (!d.has_reset)
    return fail("PCI device {} cannot be reset: the kernel found no reset method for it (no 'reset' "
                "attribute; no FLR, PM, slot or bus reset available)",
                a.str());
  AV_TRY(sys.write(pci_device_dir(a) + "/reset", "1"));
  return d.reset_methods.empty() ? std::string("default") : fmt::format("{}", fmt::join(d.reset_methods, " "));
}

}  // namespace altovirt::host

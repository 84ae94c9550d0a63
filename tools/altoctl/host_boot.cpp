// Living across host reboots: autostart marks, `recover` (the boot unit's command: reconcile, then
// start the marked domains) and `shutdown --all` (the shutdown unit's command). See
// tools/altoctl/systemd/ for the units and recover.h for what recovering changes.
#include <fmt/format.h>

#include <chrono>

#include "domain_verbs.h"
#include "lifecycle.h"
#include "recover.h"
#include "vm_access.h"

namespace altoctl {

using namespace altovirt;
using namespace std::chrono_literals;

int vm_autostart(const Global& g, const std::string& name, bool disable) {
  VmStore store = store_of(g);
  if (auto r = check_vm_name(name); !r) return report(r.error());
  if (!store.defined(name)) {
    auto s = store.load(name);
    return report(Error(s && *s ? fmt::format("cannot set autostart for domain '{}': it is transient; `altoctl define` "
                                              "it first",
                                              name)
                                : fmt::format("failed to get domain '{}': not defined (see `altoctl list --all`)", name)));
  }
  if (auto r = store.set_autostart(name, !disable); !r) return report(r.error());
  fmt::print("Domain '{}' {} as autostarted\n", name, disable ? "unmarked" : "marked");
  return kExitOk;
}

int recover(const Global& g, bool autostart) {
  VmStore store = store_of(g);
  int status = kExitOk;
  {
    // The lock is held for the reconciliation only: a supervisor started below takes it itself.
    auto state = open_state(g);
    if (!state) return report(state.error());
    host::SysfsRoot sys(g.sysfs_root);
    RecoverOutcome out = altoctl::recover(sys, *state, store);
    for (auto& d : out.done) fmt::print("recover: {}\n", d);
    for (auto& p : out.problems) fmt::print(stderr, "error: recover: {}\n", p);
    if (out.done.empty() && out.problems.empty()) fmt::print("recover: nothing to clean up\n");
    if (!out.problems.empty()) status = kExitFailed;
  }
  if (!autostart) return status;
  auto vms = store.all();
  if (!vms) return report(vms.error());
  for (auto& v : *vms) {
    if (!store.autostart(v.name) || is_active(v)) continue;
    auto parsed = config::parse_domain_file(store.defined_xml(v.name));
    if (!parsed) {
      report(parsed.error().context(fmt::format("autostart of domain '{}'", v.name)));
      status = kExitFailed;
      continue;
    }
    // One domain failing to start does not keep the others down.
    if (start_domain(g, parsed->config, fmt::format("Domain '{}' started (autostart)", v.name)) != kExitOk)
      status = kExitFailed;
  }
  return status;
}

int vm_shutdown_all(const Global& g, unsigned timeout_s) {
  VmStore store = store_of(g);
  if (auto r = reconcile(g, store); !r) return report(r.error());
  auto vms = store.all();
  if (!vms) return report(vms.error());
  std::vector<std::string> asked;
  for (auto& v : *vms) {
    if (!is_active(v)) continue;
    auto c = qmp_of(store, v);
    auto r = c ? c->execute("system_powerdown") : Result<nlohmann::json>(std::unexpected(c.error()));
    if (!r) fmt::print(stderr, "altoctl: domain '{}': {}; it will be destroyed\n", v.name, r.error().message());
    else fmt::print("Domain '{}' is being shutdown\n", v.name);
    asked.push_back(v.name);
  }
  if (asked.empty()) {
    fmt::print("No running domains\n");
    return kExitOk;
  }
  std::fflush(stdout);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int status = kExitOk;
  for (auto& name : asked) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (wait_shutoff(store, name, std::max(left, std::chrono::milliseconds(0)))) {
      fmt::print("Domain '{}' is shut off\n", name);
      continue;
    }
    fmt::print("Domain '{}' did not shut down within {} s; destroying it\n", name, timeout_s);
    std::fflush(stdout);
    if (vm_destroy(g, name) != kExitOk) status = kExitFailed;
  }
  std::fflush(stdout);
  return status;
}

}  // namespace altoctl

#include "recover.h"

#include <signal.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <thread>

#include "altovirt/base/files.h"
#include "hostdevs.h"
#include "interfaces.h"
#include "vm_user.h"

namespace altoctl {

using namespace altovirt;
using namespace std::chrono_literals;

namespace {

// True when `pid` runs with `needle` among its arguments (/proc/PID/cmdline, NUL-separated).
bool runs_with_argument(pid_t pid, const std::string& needle) {
  if (!process_running(pid)) return false;
  auto cmdline = read_file(fmt::format("/proc/{}/cmdline", pid));
  return cmdline && cmdline->find(needle) != std::string::npos;
}

}  // namespace

bool needs_reconcile(const VmStore& store) {
  auto vms = store.all();
  if (!vms) return true;  // let the locked pass report the error
  for (auto& v : *vms)
    if (v.state != VmState::shutoff && !is_active(v)) return true;
  return false;
}

Result<config::DomainConfig> last_config(const VmStore& store, const std::string& name) {
  std::string file = store.paths(name).xml;
  if (!path_exists(file)) file = store.defined_xml(name);
  AV_TRY_ASSIGN(auto parsed, config::parse_domain_file(file));
  return parsed.config;
}

Status cleanup_orphan(host::SysfsRoot& sys, host::StateDir& state, const VmStore& store, VmStatus s,
                      const std::string& why, const host::BindOptions& opts) {
  VmPaths p = store.paths(s.name);
  if (s.altovirt_pid > 0 && runs_with_argument(s.altovirt_pid, p.qmp)) {
    ::kill(s.altovirt_pid, SIGKILL);
    // Only once altovirt is gone: unbinding a device from vfio-pci while a process still holds it
    // blocks in the kernel until the device is released, and uninterruptibly after a signal
    // (vfio_unregister_group_dev), which would hang this altoctl where no Ctrl-C reaches it.
    for (int i = 0; i < 600 && process_running(s.altovirt_pid); ++i) std::this_thread::sleep_for(50ms);
    if (process_running(s.altovirt_pid))
      return fail("altovirt (pid {}) of domain '{}' did not end 30 s after SIGKILL; its devices stay on vfio-pci "
                  "until it does (then run `altoctl recover`)",
                  s.altovirt_pid, s.name);
  }
  Status result = ok();
  // What the user altovirt ran as was given (vm_user.h), first: its /dev/vfio/N nodes go with the devices.
  if (auto owners = load_owner_changes(p.dir); owners) {
    for (auto& problem : restore(*owners)) result = result ? Status(fail("{}", problem)) : result;
    (void)::unlink((p.dir + "/owners.json").c_str());
  }
  if (path_exists(p.xml)) {
    auto c = config::parse_domain_file(p.xml);
    result = c ? release_hostdevs(sys, state, c->config, opts) : Status(std::unexpected(c.error()));
  }
  // The taps its supervisor created (altovirt, now gone, no longer holds them).
  release_interfaces(s.taps);
  s.state = VmState::shutoff;
  s.id = 0;
  s.altovirt_pid = 0;
  s.message = why;
  (void)::unlink(p.qmp.c_str());
  AV_TRY(store.save(s));
  return result;
}

Status reconcile(host::SysfsRoot& sys, host::StateDir& state, const VmStore& store, std::vector<std::string>& done,
                 const host::BindOptions& opts) {
  AV_TRY_ASSIGN(auto vms, store.all());
  for (auto& v : vms)
    if (v.state != VmState::shutoff && !is_active(v)) {
      AV_TRY(cleanup_orphan(sys, state, store, v, "its supervisor was killed", opts));
      done.push_back(fmt::format("domain '{}': its supervisor (pid {}) is gone; cleaned up, recorded shut off", v.name,
                                 v.supervisor_pid));
    }
  return ok();
}

RecoverOutcome recover(host::SysfsRoot& sys, host::StateDir& state, const VmStore& store, const host::BindOptions& opts) {
  RecoverOutcome out;
  if (auto r = reconcile(sys, state, store, out.done, opts); !r) out.problems.push_back(r.error().message());
  for (const auto& [a, claim] : state.stale_claims()) {
    std::optional<config::Hostdev> dev;
    if (auto c = last_config(store, claim.vm))
      for (const auto& h : c->hostdevs)
        if (h.source.to_string() == a.str()) dev = h;
    if (auto r = state.release(a, claim.vm); !r) {
      out.problems.push_back(r.error().message());
      continue;
    }
    if (dev && dev->managed) {
      auto r = host::reattach_device(sys, state, a, opts);
      if (r)
        out.done.push_back(fmt::format("{}: held by domain '{}' (pid {}, gone); given back to {}", a.str(), claim.vm,
                                       claim.pid, r->empty() ? "no driver" : *r));
      else
        out.problems.push_back(fmt::format("{}: held by domain '{}' (gone); giving it back failed: {}", a.str(),
                                           claim.vm, r.error().message()));
    } else {
      std::string driver = host::current_driver(sys, a);
      out.done.push_back(fmt::format("{}: claim of domain '{}' (pid {}, gone) dropped; {} stays on {} ({}; "
                                     "`altoctl nodedev-reattach {}` gives it back)",
                                     a.str(), claim.vm, claim.pid, a.str(), driver.empty() ? "no driver" : driver,
                                     dev ? "managed='no' in its XML" : "no domain XML names it", a.str()));
    }
  }
  return out;
}

}  // namespace altoctl

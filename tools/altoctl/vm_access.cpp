#include "vm_access.h"

#include <fmt/format.h>

#include <thread>

#include "recover.h"
#include "supervisor.h"
#include "vm_args.h"

namespace altoctl {

using namespace altovirt;
using namespace std::chrono_literals;

Status reconcile(const Global& g, const VmStore& store) {
  if (!needs_reconcile(store)) return ok();
  AV_TRY_ASSIGN(host::StateDir state, open_state(g));
  host::SysfsRoot sys(g.sysfs_root);
  std::vector<std::string> done;
  Status r = altoctl::reconcile(sys, state, store, done);  // again, under the lock
  for (auto& d : done) fmt::print(stderr, "altoctl: {}\n", d);
  return r;
}

VmState live_state(const VmStore& store, const VmStatus& s) {
  if (s.state != VmState::running) return s.state;
  auto c = QmpClient::connect(store.paths(s.name).qmp, 3s, s.altovirt_pid);
  if (!c) return s.state;
  auto r = c->execute("query-status");
  if (r && r->value("status", "") == "paused") return VmState::paused;
  return s.state;
}

Result<VmStatus> find_vm(const Global& g, const VmStore& store, const std::string& name) {
  AV_TRY(reconcile(g, store));
  AV_TRY_ASSIGN(auto s, store.find(name));
  if (!s) return fail("failed to get domain '{}': no domain with that name or id (see `altoctl list --all`)", name);
  return *s;
}

Result<QmpClient> qmp_of(const VmStore& store, const VmStatus& s) {
  if (!is_active(s)) return fail("domain '{}' is not running", s.name);
  return QmpClient::connect(store.paths(s.name).qmp, std::chrono::seconds(10), s.altovirt_pid);
}

bool wait_shutoff(const VmStore& store, const std::string& name, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  do {
    auto s = store.load(name);
    if (s && *s && ((*s)->state == VmState::shutoff || !is_active(**s))) return true;
    std::this_thread::sleep_for(100ms);
  } while (std::chrono::steady_clock::now() < end);
  return false;
}

int start_domain(const Global& g, const config::DomainConfig& config, const std::string& started) {
  VmStore store = store_of(g);
  if (auto r = reconcile(g, store); !r) return report(r.error());
  const config::DomainConfig c = with_nvram_path(config);
  if (auto r = check_runnable(c); !r) return report(r.error());
  if (auto r = prepare_nvram(c); !r) return report(r.error());
  return launch(g, store, c, started);
}

}  // namespace altoctl

// reboot, reset, suspend, resume: one QMP command each to the domain's altovirt.
#include <fmt/format.h>

#include "domain_verbs.h"
#include "vm_access.h"

namespace altoctl {

using namespace altovirt;

namespace {

// Runs `command` on the running domain `name` and prints `done` (a format with the name).
int qmp_verb(const Global& g, const std::string& name, const char* command, const char* what, const char* done) {
  VmStore store = store_of(g);
  auto s = find_vm(g, store, name);
  if (!s) return report(s.error());
  auto c = qmp_of(store, *s);
  if (!c) return report(c.error().context(fmt::format("failed to {} domain '{}'", what, s->name)));
  if (auto r = c->execute(command); !r)
    return report(r.error().context(fmt::format("failed to {} domain '{}'", what, s->name)));
  fmt::print(fmt::runtime(done), s->name);
  fmt::print("\n");
  return kExitOk;
}

}  // namespace

int vm_reboot(const Global& g, const std::string& name, const std::string& mode) {
  // virsh's default for a QEMU domain without a guest agent is ACPI: the power button, and the
  // guest's power-off then restarts the VM (altovirt's x-system-reboot does both in the VMM).
  // agent/initctl/signal/paravirt need things altovirt has not (a guest agent, an init to signal).
  if (!mode.empty() && mode != "acpi") {
    fmt::print(stderr, "error: reboot --mode {}: altovirt supports only 'acpi' (the default); `altoctl reset` "
                       "resets without the guest\n",
               mode);
    return kExitUsage;
  }
  return qmp_verb(g, name, "x-system-reboot", "reboot", "Domain '{}' is being rebooted");
}

int vm_reset(const Global& g, const std::string& name) {
  return qmp_verb(g, name, "system_reset", "reset", "Domain '{}' was reset");
}

int vm_suspend(const Global& g, const std::string& name) {
  return qmp_verb(g, name, "stop", "suspend", "Domain '{}' suspended");
}

int vm_resume(const Global& g, const std::string& name) {
  return qmp_verb(g, name, "cont", "resume", "Domain '{}' resumed");
}

}  // namespace altoctl

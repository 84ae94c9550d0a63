#include "vm_args.h"

#include <unistd.h>

#include <fmt/format.h>

namespace altoctl {

using namespace altovirt;

Status check_runnable(const config::DomainConfig& c) {
  std::vector<std::string> problems;
  if (c.machine != config::Machine::q35)
    problems.push_back("<os><type machine='pc'>: altovirt emulates q35 only; use machine='q35'");
  if (problems.empty()) return ok();
  std::string m = fmt::format("domain '{}' uses what altovirt does not implement yet:", c.name);
  for (auto& p : problems) m += "\n  " + p;
  return fail("{}", m);
}

Result<std::vector<std::string>> altovirt_args(const config::DomainConfig& c, const VmPaths& p) {
  AV_TRY(check_runnable(c));
  AV_TRY_ASSIGN(std::vector<std::string> a, config::to_altovirt_args(c, config::RuntimePaths{p.qmp, p.log}));
  std::erase(a, std::string("-no-acpi"));
  if (!c.serial) a.insert(a.end(), {"-serial", "none"});
  a.insert(a.end(), {"-pidfile", p.pidfile});
  return a;
}

std::string emulator_path(const config::DomainConfig& c, const std::string& self_exe) {
  if (!c.emulator.empty()) return c.emulator;
  auto slash = self_exe.rfind('/');
  if (slash != std::string::npos) {
    // In the build tree altoctl and altovirt live in sibling directories tools/altoctl, tools/altovirt.
    std::string dir = self_exe.substr(0, slash);
    for (const std::string& cand : {dir + "/altovirt", dir + "/../altovirt/altovirt"})
      if (::access(cand.c_str(), X_OK) == 0) return cand;
  }
  return "altovirt";
}

}  // namespace altoctl

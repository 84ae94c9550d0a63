// setmem and dommemstat: the balloon through QMP (balloon, query-balloon, qom-get guest-stats), as
// virsh does them for a QEMU domain.
#include <fmt/format.h>

#include <fstream>

#include "altovirt/config/domain.h"
#include "domain_verbs.h"
#include "memory_stats.h"
#include "vm_access.h"

namespace altoctl {

using namespace altovirt;

namespace {

// VmRSS of a process in KiB (what libvirt reports as rss for QEMU).
std::optional<uint64_t> rss_kib(int pid) {
  if (pid <= 0) return std::nullopt;
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("VmRSS:")) {
      try {
        return std::stoull(line.substr(6));
      } catch (...) {
        return std::nullopt;
      }
    }
  return std::nullopt;
}

}  // namespace

int vm_setmem(const Global& g, const std::string& name, const std::string& size) {
  auto bytes = parse_virsh_memory(size);
  if (!bytes) {
    fmt::print(stderr, "error: setmem: {}\n", bytes.error().message());
    return kExitUsage;
  }
  VmStore store = store_of(g);
  auto s = find_vm(g, store, name);
  if (!s) return report(s.error());
  if (!is_active(*s)) return report(Error(fmt::format("domain '{}' is not running; setmem changes a running domain's balloon", s->name)));
  auto parsed = config::parse_domain_file(store.paths(s->name).xml);
  if (!parsed) return report(parsed.error());
  uint64_t max = parsed->config.memory_kib * 1024;
  if (*bytes > max)
    return report(Error(fmt::format("invalid argument: cannot set memory higher than max memory ({} KiB)", parsed->config.memory_kib)));
  if (*bytes == 0) return report(Error("invalid argument: the memory size must be above 0"));
  if (!parsed->config.memballoon)
    return report(Error(fmt::format("domain '{}' has no balloon; add <memballoon model='virtio'/> to its XML", s->name)));
  auto c = qmp_of(store, *s);
  if (!c) return report(c.error().context(fmt::format("failed to set memory of domain '{}'", s->name)));
  if (auto r = c->execute("balloon", {{"value", *bytes}}); !r)
    return report(r.error().context(fmt::format("failed to set memory of domain '{}'", s->name)));
  return kExitOk;  // virsh setmem prints nothing on success
}

int vm_dommemstat(const Global& g, const std::string& name) {
  VmStore store = store_of(g);
  auto s = find_vm(g, store, name);
  if (!s) return report(s.error());
  if (!is_active(*s)) return report(Error(fmt::format("domain '{}' is not running", s->name)));
  auto c = qmp_of(store, *s);
  if (!c) return report(c.error().context(fmt::format("failed to get memory statistics of domain '{}'", s->name)));
  auto balloon = c->execute("query-balloon");
  if (!balloon) return report(balloon.error().context(fmt::format("failed to get memory statistics of domain '{}'", s->name)));
  auto stats = c->execute("qom-get", {{"path", "/machine/peripheral/balloon0"}, {"property", "guest-stats"}});
  fmt::print("{}\n", format_dommemstat((*balloon)["actual"].get<uint64_t>(), stats ? *stats : nlohmann::json(),
                                       rss_kib(s->altovirt_pid)));
  return kExitOk;
}

}  // namespace altoctl

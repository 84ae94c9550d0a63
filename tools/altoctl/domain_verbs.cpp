// dominfo, domid, domname, domuuid, domblklist, domhostdev, version: what a domain is, read from its record,
// its XML (the running one while it runs, else the definition), QMP and sysfs.
#include "domain_verbs.h"

#include <fmt/format.h>

#include "altovirt/base/files.h"
#include "altovirt/host/pci_device.h"
#include "domain_info.h"
#include "recover.h"
#include "vm_access.h"
#include "vm_args.h"

#ifndef ALTOVIRT_VERSION
#error "ALTOVIRT_VERSION must be defined by the build (the project version)"
#endif

namespace altoctl {

using namespace altovirt;

namespace {

struct Found {
  VmStatus status;
  VmState state = VmState::shutoff;
  config::DomainConfig config;
};

Result<Found> lookup(const Global& g, const VmStore& store, const std::string& name) {
  AV_TRY_ASSIGN(auto s, find_vm(g, store, name));
  Found f{s, is_active(s) ? live_state(store, s) : VmState::shutoff, {}};
  // A running domain as it was started; a shut-off one as defined (or as it last ran, if transient).
  std::string file = f.state != VmState::shutoff || !store.defined(s.name) ? store.paths(s.name).xml
                                                                          : store.defined_xml(s.name);
  AV_TRY_ASSIGN(auto parsed, config::parse_domain_file(file));
  f.config = std::move(parsed.config);
  return f;
}

}  // namespace

int vm_dominfo(const Global& g, const std::string& name) {
  VmStore store = store_of(g);
  auto f = lookup(g, store, name);
  if (!f) return report(f.error());
  DomInfo info = dominfo_of(f->status, f->state, f->config, store.autostart(f->status.name));
  if (f->state != VmState::shutoff) info.cpu_time_s = process_cpu_seconds(f->status.altovirt_pid);
  fmt::print("{}", format_dominfo(info));
  return kExitOk;
}

int vm_domid(const Global& g, const std::string& name) {
  VmStore store = store_of(g);
  auto s = find_vm(g, store, name);
  if (!s) return report(s.error());
  // virsh prints "-" for a domain that is not running.
  fmt::print("{}\n\n", is_active(*s) ? std::to_string(s->id) : "-");
  return kExitOk;
}

int vm_vncdisplay(const Global& g, const std::string& name) {
  VmStore store = store_of(g);
  auto s = find_vm(g, store, name);
  if (!s) return report(s.error());
  if (!is_active(*s)) return report(Error(fmt::format("domain '{}' is not running", s->name)));
  if (s->vnc.empty()) return report(Error(fmt::format("domain '{}' has no VNC display; add <graphics type='vnc'/> to its XML", s->name)));
  // virsh's form: HOST:DISPLAY, the host left out when the server listens on every address.
  if (s->vnc.starts_with("unix:")) {
    fmt::print("{}\n\n", s->vnc);
    return kExitOk;
  }
  auto colon = s->vnc.rfind(':');
  std::string host = s->vnc.substr(0, colon);
  unsigned port = static_cast<unsigned>(std::stoul(s->vnc.substr(colon + 1)));
  fmt::print("{}:{}\n\n", host == "0.0.0.0" ? "" : host, port - 5900);
  return kExitOk;
}

int vm_domname(const Global& g, const std::string& name) {
  VmStore store = store_of(g);
  auto s = find_vm(g, store, name);
  if (!s) return report(s.error());
  fmt::print("{}\n\n", s->name);
  return kExitOk;
}

int vm_domuuid(const Global& g, const std::string& name) {
  VmStore store = store_of(g);
  auto f = lookup(g, store, name);
  if (!f) return report(f.error());
  if (!f->config.uuid) return report(Error(fmt::format("domain '{}' has no UUID in its XML", f->status.name)));
  fmt::print("{}\n\n", *f->config.uuid);
  return kExitOk;
}

int vm_domhostdev(const Global& g, const std::string& name) {
  VmStore store = store_of(g);
  auto f = lookup(g, store, name);
  if (!f) return report(f.error());
  host::SysfsRoot sys(g.sysfs_root);
  fmt::print("{}\n", format_hostdevs(f->config, [&](const std::string& addr) {
               auto a = host::parse_pci_address(addr);
               return a ? host::current_driver(sys, *a) : std::string();
             }));
  return kExitOk;
}

int vm_domblklist(const Global& g, const std::string& name) {
  VmStore store = store_of(g);
  auto f = lookup(g, store, name);
  if (!f) return report(f.error());
  fmt::print("{}\n", format_blklist(f->config));
  return kExitOk;
}

int version(const Global&) {
  // virsh version names the library and the hypervisor; here both are this build.
  auto self = read_link("/proc/self/exe");
  config::DomainConfig none;
  fmt::print("altoctl {}\nRunning hypervisor: altovirt {} ({})\n", ALTOVIRT_VERSION, ALTOVIRT_VERSION,
             emulator_path(none, self ? *self : std::string()));
  return kExitOk;
}

}  // namespace altoctl

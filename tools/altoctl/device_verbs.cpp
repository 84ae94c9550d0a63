// attach-device and detach-device: virsh's verbs for one <hostdev>, <disk> or <interface> element.
//
// Which domain definitions change (virsh's flags): --live the running domain, --config the defined
// one (for its next start), --persistent both when it runs (else --config), --current (the default)
// the running domain when it runs, else the defined one.
//
// A live <hostdev> goes through the running altovirt's QMP (device_add/device_del; native PCIe
// hot-plug into an empty root port) and the host side follows libvirt: a managed='yes' device is
// detached from its host driver before the add and given back after the guest let go of it; a
// failed add gives it back at once. The running domain's XML (<state>/vms/NAME/domain.xml, what
// dumpxml shows and what the supervisor gives back when the domain ends) records the device with the
// root port and alias it got. The host-wide lock is held while devices change hands.
//
// Threading: single-threaded tool.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "altovirt/base/files.h"
#include "altovirt/config/device_edit.h"
#include "device_verbs.h"
#include "hostdevs.h"
#include "vm_access.h"

namespace altoctl {

using namespace altovirt;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

// device_add waits for altovirt's main thread (up to 60 s there); the reply comes after.
constexpr auto kAddReplyWait = 90s;
// How long detach-device waits for the guest to let go. Linux's pciehp takes about 6 s (a 5 s
// window in which the attention button press can be cancelled, then the slot powers off).
constexpr auto kRemovalWait = 30s;

struct Targets {
  bool live = false;
  bool config = false;
};

Result<Targets> targets_of(const VmStatus& s, bool defined, const DeviceFlags& f) {
  bool active = is_active(s);
  Targets t;
  if (f.persistent) {
    t.config = true;
    t.live = active || f.live;
  } else if (f.live || f.config) {
    t.live = f.live;
    t.config = f.config;
  } else {
    (active ? t.live : t.config) = true;  // --current
  }
  if (t.live && !active) return fail("domain '{}' is not running; use --config to change its definition", s.name);
  if (t.config && !defined)
    return fail("domain '{}' is transient (created, not defined): it has no definition for --config to change", s.name);
  return t;
}

config::DomainConfig only_hostdev(const config::DomainConfig& c, const config::Hostdev& h) {
  config::DomainConfig one;
  one.name = c.name;
  one.hostdevs = {h};
  return one;
}

Result<config::DomainConfig> load(const std::string& file) {
  AV_TRY_ASSIGN(auto parsed, config::parse_domain_file(file));
  return std::move(parsed.config);
}

std::string not_live(config::DeviceElement kind, std::string_view verb) {
  return fmt::format("altovirt cannot hot-{} a <{}> yet (only <hostdev>); --config changes the domain's definition "
                     "for its next start",
                     verb, config::element_name(kind));
}

// The new hostdev of `added` placed in the running domain `live`: an empty root port and an alias.
Result<config::Hostdev> place_live(const config::DomainConfig& live, const config::DomainConfig& added) {
  if (live.machine != config::Machine::q35)
    return fail("domain '{}' is a pc machine: hot-plug needs the root ports of a q35 machine", live.name);
  config::Hostdev h = config::with_pci_addresses(added).hostdevs.back();
  const auto& a = *h.guest_address;  // q35: with_pci_addresses gives every hostdev one
  if (a.bus == 0)
    return fail("the guest address names bus 0 (pcie.0), which has no hot-plug slots; name an empty root port's "
                "bus, or give no <address>");
  bool exists = std::any_of(live.controllers.begin(), live.controllers.end(), [&](const config::PciController& c) {
    return c.model == config::PciController::Model::pcie_root_port && c.index == a.bus;
  });
  if (!exists) {
    size_t ports = std::count_if(live.controllers.begin(), live.controllers.end(), [](const config::PciController& c) {
      return c.model == config::PciController::Model::pcie_root_port;
    });
    return fail("domain '{}' has no empty root port to hot-plug into (all {} are in use); detach a device first, or "
                "add <controller type='pci' model='pcie-root-port' index='N'/> elements to its definition (each "
                "empty one is a hot-plug slot) and restart it",
                live.name, ports);
  }
  return h;
}

int attach_live(const Global& g, const VmStore& store, const VmStatus& s, const std::string& file,
                const std::string& text) {
  VmPaths p = store.paths(s.name);
  auto state = open_state(g);  // the host-wide lock, until the live XML says what happened
  if (!state) return report(state.error());
  auto live = load(p.xml);
  if (!live) return report(live.error());
  auto added = config::add_device(*live, text, file);
  if (!added) return report(added.error());
  for (auto& w : added->warnings) fmt::print(stderr, "warning: {}\n", w);
  if (added->kind != config::DeviceElement::hostdev) return report(Error(not_live(added->kind, "plug")));
  auto h = place_live(*live, added->config);
  if (!h) return report(h.error());
  const std::string where = fmt::format("{} (as {} on root port pci.{})", h->source.to_string(), h->alias,
                                        h->guest_address->bus);

  host::SysfsRoot sys(g.sysfs_root);
  config::DomainConfig one = only_hostdev(*live, *h);
  if (auto r = prepare_hostdevs(sys, *state, one, s.supervisor_pid); !r)
    return report(r.error().context(fmt::format("failed to attach {} to domain '{}'", h->source.to_string(), s.name)));
  json args = {{"driver", "vfio-pci"},
               {"host", h->source.to_string()},
               {"id", h->alias},
               {"bus", fmt::format("pci.{}", h->guest_address->bus)},
               {"addr", "0"}};
  if (h->rom_bar == false) args["rombar"] = 0;
  auto c = QmpClient::connect(p.qmp, kAddReplyWait);
  Result<json> r = c ? c->execute("device_add", args) : Result<json>(std::unexpected(c.error()));
  if (!r) {
    Error e = r.error().context(fmt::format("failed to attach {} to domain '{}'", where, s.name));
    if (auto back = release_hostdevs(sys, *state, one); !back) e = e.context(back.error().message());
    else if (h->managed) e = Error(e.message() + fmt::format(" ({} is back on its host driver)", h->source.to_string()));
    return report(e);
  }
  config::DomainConfig now = *live;
  now.hostdevs.push_back(*h);
  if (auto w = write_file_atomic(p.xml, config::to_xml(now)); !w) return report(w.error());
  fmt::print(stderr, "altoctl: {} attached to domain '{}'\n", where, s.name);
  return kExitOk;
}

// The running domain's XML and host without `h` (the guest has let go of it).
int finish_removal(const Global& g, const VmStore& store, const VmStatus& s, const config::Hostdev& h) {
  auto state = open_state(g);
  if (!state) return report(state.error());
  VmPaths p = store.paths(s.name);
  auto live = load(p.xml);
  if (!live) return report(live.error());
  std::erase_if(live->hostdevs, [&](const config::Hostdev& x) { return x.source == h.source; });
  if (auto w = write_file_atomic(p.xml, config::to_xml(*live)); !w) return report(w.error());
  host::SysfsRoot sys(g.sysfs_root);
  if (auto r = release_hostdevs(sys, *state, only_hostdev(*live, h)); !r)
    return report(r.error().context(fmt::format("domain '{}' let go of {}", s.name, h.source.to_string())));
  return kExitOk;
}

int detach_live(const Global& g, const VmStore& store, const VmStatus& s, const std::string& file,
                const std::string& text) {
  VmPaths p = store.paths(s.name);
  auto live = load(p.xml);
  if (!live) return report(live.error());
  auto found = config::find_device(*live, text, file);
  if (!found) return report(found.error());
  if (found->kind != config::DeviceElement::hostdev) return report(Error(not_live(found->kind, "unplug")));
  const config::Hostdev h = live->hostdevs[found->index];
  if (h.alias.empty())
    return report(Error(fmt::format("{} of domain '{}' has no alias (the domain was started by an older altoctl); "
                                    "restart the domain to detach it live",
                                    h.source.to_string(), s.name)));
  auto c = QmpClient::connect(p.qmp, 30s);
  if (!c) return report(c.error());
  auto r = c->execute("device_del", {{"id", h.alias}});
  if (!r) {
    std::string m = r.error().message();
    if (m.find("no device has id") != std::string::npos) {
      // An earlier detach-device timed out and the guest let go since: only the host side is left.
      if (int rc = finish_removal(g, store, s, h); rc != kExitOk) return rc;
      return kExitOk;
    }
    if (m.find("already under way") == std::string::npos)
      return report(r.error().context(fmt::format("failed to detach {} from domain '{}'", h.source.to_string(), s.name)));
    // Still pending from an earlier detach-device: wait for it again.
  }
  auto ev = c->wait_event(
      "DEVICE_DELETED", [&](const json& d) { return d.value("device", "") == h.alias; }, kRemovalWait);
  if (!ev) return report(ev.error());
  if (!*ev)
    return report(Error(fmt::format(
        "domain '{}' did not let go of {} ({}) within {} s: it stays attached, and the guest was asked to release it "
        "(the request stays pending: a guest without PCIe hot-plug support never answers). Run `altoctl "
        "detach-device {} {}` again to wait once more and finish, or stop the domain",
        s.name, h.source.to_string(), h.alias, kRemovalWait.count(), s.name, file)));
  return finish_removal(g, store, s, h);
}

}  // namespace

int vm_attach_device(const Global& g, const std::string& name, const std::string& file, const DeviceFlags& flags) {
  VmStore store = store_of(g);
  auto s = find_vm(g, store, name);
  if (!s) return report(s.error());
  auto text = read_file(file);
  if (!text) return report(text.error());
  auto t = targets_of(*s, store.defined(s->name), flags);
  if (!t) return report(t.error());
  // The definition is checked first, so that a bad element changes neither.
  std::optional<config::DomainConfig> defined;
  if (t->config) {
    auto d = load(store.defined_xml(s->name));
    if (!d) return report(d.error());
    auto added = config::add_device(*d, *text, file);
    if (!added) return report(added.error());
    defined = std::move(added->config);
  }
  if (t->live)
    if (int rc = attach_live(g, store, *s, file, *text); rc != kExitOk) return rc;
  if (defined)
    if (auto w = write_file_atomic(store.defined_xml(s->name), config::to_xml(*defined)); !w) return report(w.error());
  fmt::print("Device attached successfully\n\n");
  return kExitOk;
}

int vm_detach_device(const Global& g, const std::string& name, const std::string& file, const DeviceFlags& flags) {
  VmStore store = store_of(g);
  auto s = find_vm(g, store, name);
  if (!s) return report(s.error());
  auto text = read_file(file);
  if (!text) return report(text.error());
  auto t = targets_of(*s, store.defined(s->name), flags);
  if (!t) return report(t.error());
  std::optional<config::DomainConfig> defined;
  if (t->config) {
    auto d = load(store.defined_xml(s->name));
    if (!d) return report(d.error());
    auto found = config::find_device(*d, *text, file);
    if (!found) return report(found.error().context("the definition"));
    defined = config::remove_device(*d, *found);
  }
  if (t->live)
    if (int rc = detach_live(g, store, *s, file, *text); rc != kExitOk) return rc;
  if (defined)
    if (auto w = write_file_atomic(store.defined_xml(s->name), config::to_xml(*defined)); !w) return report(w.error());
  fmt::print("Device detached successfully\n\n");
  return kExitOk;
}

}  // namespace altoctl

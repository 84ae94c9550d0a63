// attach-device and detach-device: virsh's verbs for one <hostdev>, <disk> or <interface> element.
//
// Which domain definitions change (virsh's flags): --live the running domain, --config the defined
// one (for its next start), --persistent both when it runs (else --config), --current (the default)
// the running domain when it runs, else the defined one.
//
// Live changes go through the running altovirt's QMP (device_add/device_del: native PCIe hot-plug
// into an empty root port), with each device's backend first, as libvirt drives QEMU:
//   <hostdev>   a managed='yes' device is detached from its host driver before the add and given
//               back once the guest let go of it; a failed add gives it back at once;
//   <disk>      blockdev-add of its image (node drive-ALIAS), then virtio-blk-pci; blockdev-del after;
//   <interface> its tap (created when missing, put on its bridge: recorded with the domain, so that
//               it goes when the device or the domain does), netdev_add (hostALIAS), virtio-net-pci.
// The running domain's XML (<state>/vms/NAME/domain.xml, what dumpxml shows and what the supervisor
// gives back when the domain ends) records the device with the root port and alias it got. The
// host-wide lock is held while devices change hands.
//
// Threading: single-threaded tool.
#include <fmt/format.h>

#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <random>
#include <set>

#include "altovirt/base/files.h"
#include "altovirt/config/device_edit.h"
#include "device_verbs.h"
#include "hostdevs.h"
#include "altovirt/host/pci_address.h"
#include "altovirt/host/pci_device.h"
#include "interfaces.h"
#include "vm_access.h"
#include "vm_user.h"

namespace altoctl {

using namespace altovirt;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

// device_add waits for altovirt's main thread (60 s, and up to 60 s more for a task that had
// started); the reply comes after. Longer than both, so that altoctl does not give up first.
constexpr auto kAddReplyWait = 150s;
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
  // Until QMP reports it running, the supervisor still writes the domain's record.
  if (t.live && s.state == VmState::starting) return fail("domain '{}' is still starting; try again once it runs", s.name);
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

// libvirt's alias names: PREFIX0, PREFIX1, ... the lowest the domain does not use.
std::string new_alias(const config::DomainConfig& c, std::string_view prefix) {
  auto used = config::device_aliases(c);
  for (unsigned i = 0;; ++i)
    if (auto a = fmt::format("{}{}", prefix, i); !used.contains(a)) return a;
}

// Where a device hot-plugged into the running domain `live` goes: the root port its <address>
// names (the parser checked that it exists and is free), else the lowest-index empty one.
Result<config::GuestPciAddress> live_slot(const config::DomainConfig& live, const std::optional<config::GuestPciAddress>& asked) {
  if (!config::is_pcie(live.machine))
    return fail("domain '{}' is a pc machine: hot-plug needs the root ports of a q35 machine", live.name);
  if (asked) {
    if (asked->bus == 0)
      return fail("the guest address names bus 0 (pcie.0), which has no hot-plug slots; name an empty root port's "
                  "bus, or give no <address>");
    if (asked->function != 0 || asked->multifunction)
      return fail("the guest address names function {} of root port {:#04x}: only function 0, without "
                  "multifunction, is hot-pluggable",
                  asked->function, asked->bus);
    return *asked;
  }
  std::set<uint32_t> used = config::occupied_root_ports(live);
  size_t ports = 0;
  std::optional<uint32_t> best;
  for (const auto& ctl : live.controllers) {
    if (ctl.model != config::PciController::Model::pcie_root_port) continue;
    ++ports;
    if (!used.contains(ctl.index) && (!best || ctl.index < *best)) best = ctl.index;
  }
  if (!best)
    return fail("domain '{}' has no empty root port to hot-plug into (all {} are in use); detach a device first, or "
                "add <controller type='pci' model='pcie-root-port' index='N'/> elements to its definition (each "
                "empty one is a hot-plug slot) and restart it",
                live.name, ports);
  return config::GuestPciAddress{0, *best, 0, 0, false};
}

// libvirt's way for a NIC without <mac>: 52:54:00 (QEMU's prefix) and three random bytes.
std::string random_mac() {
  std::random_device rd;
  return fmt::format("52:54:00:{:02x}:{:02x}:{:02x}", rd() & 0xff, rd() & 0xff, rd() & 0xff);
}

// A domain whose altovirt runs as a user (vm_user.h): what a hot-added device needs is given to it
// and recorded with the rest (before it is given), and taken back when the device goes.
Status give_to_domain_user(const VmPaths& p, const std::string& path, const std::string& tap = {},
                           bool multi_queue = false) {
  auto user = user_of_domain(p.vmm);
  if (!user) return ok();
  AV_TRY_ASSIGN(auto changes, load_owner_changes(p.dir));
  auto persist = [&](const std::vector<OwnerChange>& ch) { return save_owner_changes(p.dir, ch); };
  if (tap.empty()) {
    AV_TRY(take_for(changes, *user, path, persist));
    return check_reachable(*user, path, false);
  }
  return take_tap(changes, *user, tap, multi_queue, persist);
}

void take_back_from_domain_user(const VmPaths& p, const std::string& path, const std::string& tap = {}) {
  auto changes = load_owner_changes(p.dir);
  if (!changes) return;
  std::vector<OwnerChange> back;
  std::erase_if(*changes, [&](const OwnerChange& c) {
    bool match = tap.empty() ? (c.tap.empty() && c.path == path) : c.tap == tap;
    if (match) back.push_back(c);
    return match;
  });
  for (auto& problem : restore(back)) fmt::print(stderr, "altoctl: {}\n", problem);
  (void)save_owner_changes(p.dir, *changes);
}

std::string vfio_group_node(const host::SysfsRoot& sys, const config::Hostdev& h) {
  auto a = host::parse_pci_address(h.source.to_string());
  if (!a) return {};
  auto g = host::iommu_group_of(sys, *a);
  return g && *g ? fmt::format("/dev/vfio/{}", **g) : std::string();
}

// ---- attach ---------------------------------------------------------------------------------

// The host side of one live attach, undone in reverse if the add fails.
struct AttachContext {
  const Global& g;
  const VmStore& store;
  const VmStatus& s;
  host::StateDir& state;
  QmpClient& qmp;
  config::DomainConfig& live;  // gets the device once it is in
  bool unknown = false;        // device_add got no answer: the device may be in (kept in the XML)
};

// device_add got no answer (a timeout, a lost connection): altovirt may still add the device. It is
// recorded in the running domain's XML as added, so that it goes back when the domain ends and
// detach-device can take it out; nothing is given back under a device altovirt may be opening.
Status unknown_outcome(AttachContext& a, const Error& e, const std::string& alias) {
  a.unknown = true;
  return fail("{}; altovirt may still add it as {}: it is kept in the domain (`altoctl dumpxml {}`), "
              "`altoctl detach-device` takes it out, and it goes back to the host when the domain ends",
              e.message(), alias, a.s.name);
}

Status attach_hostdev(AttachContext& a, config::Hostdev h) {
  AV_TRY_ASSIGN(h.guest_address, live_slot(a.live, h.guest_address));
  if (h.alias.empty()) h.alias = new_alias(a.live, "hostdev");
  host::SysfsRoot sys(a.g.sysfs_root);
  config::DomainConfig one = only_hostdev(a.live, h);
  AV_TRY(prepare_hostdevs(sys, a.state, one, a.s.supervisor_pid));
  VmPaths paths = a.store.paths(a.s.name);
  std::string node = vfio_group_node(sys, h);
  if (auto g = give_to_domain_user(paths, node); !g) {
    (void)release_hostdevs(sys, a.state, one);
    return g;
  }
  json args = {{"driver", "vfio-pci"}, {"host", h.source.to_string()}, {"id", h.alias},
               {"bus", fmt::format("pci.{}", h.guest_address->bus)}, {"addr", "0"}};
  if (h.rom_bar == false) args["rombar"] = 0;
  if (auto r = a.qmp.execute("device_add", args); !r) {
    if (!a.qmp.answered()) {
      a.live.hostdevs.push_back(h);
      return unknown_outcome(a, r.error(), h.alias);
    }
    Error e = r.error();
    take_back_from_domain_user(paths, node);
    if (auto back = release_hostdevs(sys, a.state, one); !back) e = e.context(back.error().message());
    else if (h.managed) e = Error(e.message() + fmt::format(" ({} is back on its host driver)", h.source.to_string()));
    return std::unexpected(e);
  }
  fmt::print(stderr, "altoctl: {} is {} on root port pci.{}\n", h.source.to_string(), h.alias, h.guest_address->bus);
  a.live.hostdevs.push_back(std::move(h));
  return ok();
}

Status attach_disk(AttachContext& a, config::Disk d) {
  const config::IoTune none{};
  if (d.iotune != none) return fail("<iotune> on a hot-plugged disk is not supported yet; attach it without, or use --config");
  AV_TRY_ASSIGN(d.address, live_slot(a.live, d.address));
  if (d.alias.empty()) d.alias = new_alias(a.live, "virtio-disk");
  std::string node = "drive-" + d.alias;
  // QEMU's protocol drivers: "host_device" for a block device, "file" for an image file.
  json file = {{"driver", d.type == config::Disk::Type::block ? "host_device" : "file"}, {"filename", d.source}};
  if (d.io) file["aio"] = *d.io == config::Disk::Io::io_uring ? "io_uring" : "threads";
  json add = {{"node-name", node}, {"driver", "raw"}, {"file", file}, {"read-only", d.readonly}};
  if (d.cache) add["cache"] = {{"direct", *d.cache == config::Disk::Cache::none}};
  if (d.discard) add["discard"] = *d.discard ? "unmap" : "ignore";
  VmPaths paths = a.store.paths(a.s.name);
  AV_TRY(give_to_domain_user(paths, d.source));
  if (auto r = a.qmp.execute("blockdev-add", add); !r) {
    take_back_from_domain_user(paths, d.source);
    return std::unexpected(r.error());
  }
  json dev = {{"driver", "virtio-blk-pci"}, {"drive", node}, {"id", d.alias},
              {"bus", fmt::format("pci.{}", d.address->bus)}, {"addr", "0"}};
  if (!d.serial.empty()) dev["serial"] = d.serial;
  if (d.iothread) dev["iothread"] = fmt::format("iothread{}", *d.iothread);
  if (auto r = a.qmp.execute("device_add", dev); !r) {
    if (!a.qmp.answered()) {
      a.live.disks.push_back(d);
      return unknown_outcome(a, r.error(), d.alias);
    }
    (void)a.qmp.execute("blockdev-del", {{"node-name", node}});
    take_back_from_domain_user(paths, d.source);
    return std::unexpected(r.error());
  }
  fmt::print(stderr, "altoctl: {} is {} ({}) on root port pci.{}\n", d.source, d.alias, d.target, d.address->bus);
  a.live.disks.push_back(std::move(d));
  return ok();
}

Status attach_interface(AttachContext& a, config::Interface n) {
  AV_TRY_ASSIGN(n.address, live_slot(a.live, n.address));
  if (n.alias.empty()) n.alias = new_alias(a.live, "net");
  if (n.mac.empty()) n.mac = random_mac();
  // Its tap, as at start (interfaces.h); one created here is recorded with the domain at once, so
  // that it goes with the device, with the domain, or with `recover` after a crash.
  config::DomainConfig one;
  one.name = a.live.name;
  one.interfaces = {n};
  std::vector<CreatedTap> created;
  AV_TRY_ASSIGN(config::DomainConfig named, prepare_interfaces(one, created));
  n.target = named.interfaces[0].target;
  auto forget_tap = [&] {
    release_interfaces(created);
  };
  if (!created.empty()) {
    auto rec = a.store.load(a.s.name);
    if (!rec || !*rec) {
      forget_tap();
      return fail("domain '{}': its record is gone", a.s.name);
    }
    VmStatus r = **rec;
    r.taps.insert(r.taps.end(), created.begin(), created.end());
    if (auto w = a.store.save(r); !w) {
      forget_tap();
      return w;
    }
  }
  auto undo_record = [&] {
    if (created.empty()) return;
    if (auto rec = a.store.load(a.s.name); rec && *rec) {
      VmStatus r = **rec;
      std::erase_if(r.taps, [&](const CreatedTap& t) { return t.name == n.target; });
      (void)a.store.save(r);
    }
    forget_tap();
  };
  VmPaths paths = a.store.paths(a.s.name);
  if (auto g = give_to_domain_user(paths, {}, n.target, n.queues > 1); !g) {
    undo_record();
    return g;
  }
  std::string netdev = "host" + n.alias;
  json add = {{"type", "tap"}, {"id", netdev}, {"ifname", n.target}};
  if (n.vhost) add["vhost"] = *n.vhost;
  if (n.queues > 1) add["queues"] = n.queues;
  if (auto r = a.qmp.execute("netdev_add", add); !r) {
    undo_record();
    return std::unexpected(r.error());
  }
  json dev = {{"driver", "virtio-net-pci"}, {"netdev", netdev}, {"id", n.alias}, {"mac", n.mac},
              {"bus", fmt::format("pci.{}", n.address->bus)}, {"addr", "0"}};
  if (auto r = a.qmp.execute("device_add", dev); !r) {
    if (!a.qmp.answered()) {
      a.live.interfaces.push_back(n);  // its tap stays recorded: it goes with the domain
      return unknown_outcome(a, r.error(), n.alias);
    }
    (void)a.qmp.execute("netdev_del", {{"id", netdev}});
    undo_record();
    return std::unexpected(r.error());
  }
  fmt::print(stderr, "altoctl: tap {} is {} (MAC {}) on root port pci.{}\n", n.target, n.alias, n.mac, n.address->bus);
  a.live.interfaces.push_back(std::move(n));
  return ok();
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
  auto c = QmpClient::connect(p.qmp, kAddReplyWait, s.altovirt_pid);
  if (!c) return report(c.error());
  AttachContext a{g, store, s, *state, *c, *live};
  Status r = ok();
  std::string what;
  switch (added->kind) {
    case config::DeviceElement::hostdev:
      what = added->config.hostdevs.back().source.to_string();
      r = attach_hostdev(a, added->config.hostdevs.back());
      break;
    case config::DeviceElement::disk: {
      // The new disk is the one whose target the running domain does not have.
      const config::Disk* d = nullptr;
      for (const auto& x : added->config.disks)
        if (std::none_of(live->disks.begin(), live->disks.end(), [&](const auto& y) { return y.target == x.target; })) d = &x;
      what = d->source;
      r = attach_disk(a, *d);
      break;
    }
    case config::DeviceElement::interface:
      what = "the interface";
      r = attach_interface(a, added->config.interfaces.back());
      break;
  }
  if (!r) {
    if (a.unknown)
      if (auto w = write_file_atomic(p.xml, config::to_xml(*live), kDomainXmlMode); !w) return report(w.error());
    return report(r.error().context(fmt::format("failed to attach {} to domain '{}'", what, s.name)));
  }
  if (auto w = write_file_atomic(p.xml, config::to_xml(*live), kDomainXmlMode); !w) return report(w.error());
  return kExitOk;
}

// ---- detach ---------------------------------------------------------------------------------

// What identifies a device of the running domain, and what to give back once the guest let go.
struct LiveDevice {
  config::FoundDevice found;
  std::string alias;
  std::string name;    // for messages: the host address, the image, the tap
  std::string source;  // a disk's image
  std::string tap;     // an interface's tap
};

// The running domain's XML and host without the device (the guest has let go of it).
int finish_removal(const Global& g, const VmStore& store, const VmStatus& s, QmpClient& qmp, const LiveDevice& dev) {
  auto state = open_state(g);
  if (!state) return report(state.error());
  VmPaths p = store.paths(s.name);
  auto live = load(p.xml);
  if (!live) return report(live.error());
  std::vector<std::string> problems;
  // A backend left in altovirt is a problem only while it runs (a guest that powered off right
  // after letting go has ended it, and everything with it).
  auto backend_problem = [&](const Error& e) {
    if (e.message().find("closed its QMP connection") == std::string::npos && e.sys_errno() != EPIPE &&
        e.sys_errno() != ECONNRESET)
      problems.push_back(e.message());
  };
  auto index = [&](const auto& v) {
    return std::find_if(v.begin(), v.end(), [&](const auto& x) { return x.alias == dev.alias; });
  };
  std::optional<config::Hostdev> hostdev;
  std::optional<CreatedTap> tap;
  switch (dev.found.kind) {
    case config::DeviceElement::hostdev:
      if (auto it = index(live->hostdevs); it != live->hostdevs.end()) {
        hostdev = *it;
        live->hostdevs.erase(it);
      }
      break;
    case config::DeviceElement::disk:
      if (auto it = index(live->disks); it != live->disks.end()) live->disks.erase(it);
      // A disk that came with the domain's start has its -drive, which stays (QMP cannot delete it).
      if (auto r = qmp.execute("blockdev-del", {{"node-name", "drive-" + dev.alias}});
          !r && r.error().message().find("not owned") == std::string::npos)
        backend_problem(r.error());
      break;
    case config::DeviceElement::interface:
      if (auto it = index(live->interfaces); it != live->interfaces.end()) {
        if (auto rec = store.load(s.name); rec && *rec)
          for (const auto& t : (*rec)->taps)
            if (t.name == it->target) tap = t;
        live->interfaces.erase(it);
      }
      if (auto r = qmp.execute("netdev_del", {{"id", "host" + dev.alias}});
          !r && r.error().message().find("cannot be deleted") == std::string::npos)
        backend_problem(r.error());
      break;
  }
  if (auto w = write_file_atomic(p.xml, config::to_xml(*live), kDomainXmlMode); !w) return report(w.error());
  // What the domain's user was given for the device (vm_user.h).
  {
    host::SysfsRoot sys(g.sysfs_root);
    if (hostdev) take_back_from_domain_user(p, vfio_group_node(sys, *hostdev));
    if (dev.found.kind == config::DeviceElement::disk && !dev.source.empty()) take_back_from_domain_user(p, dev.source);
    if (dev.found.kind == config::DeviceElement::interface && !dev.tap.empty()) take_back_from_domain_user(p, {}, dev.tap);
  }
  if (hostdev) {
    host::SysfsRoot sys(g.sysfs_root);
    if (auto r = release_hostdevs(sys, *state, only_hostdev(*live, *hostdev)); !r) problems.push_back(r.error().message());
  }
  if (tap) {
    std::vector<CreatedTap> one = {*tap};
    release_interfaces(one);
    if (auto rec = store.load(s.name); rec && *rec) {
      VmStatus r = **rec;
      std::erase_if(r.taps, [&](const CreatedTap& t) { return t.name == tap->name; });
      (void)store.save(r);
    }
  }
  if (!problems.empty())
    return report(Error(fmt::format("domain '{}' let go of {}, but: {}", s.name, dev.name, fmt::join(problems, "; "))));
  return kExitOk;
}

int detach_live(const Global& g, const VmStore& store, const VmStatus& s, const std::string& file,
                const std::string& text) {
  VmPaths p = store.paths(s.name);
  auto live = load(p.xml);
  if (!live) return report(live.error());
  auto found = config::find_device(*live, text, file);
  if (!found) return report(found.error());
  LiveDevice dev{*found, {}, {}, {}, {}};
  switch (found->kind) {
    case config::DeviceElement::hostdev:
      dev.alias = live->hostdevs[found->index].alias;
      dev.name = live->hostdevs[found->index].source.to_string();
      break;
    case config::DeviceElement::disk:
      dev.alias = live->disks[found->index].alias;
      dev.source = live->disks[found->index].source;
      dev.name = fmt::format("disk {} ({})", live->disks[found->index].target, live->disks[found->index].source);
      break;
    case config::DeviceElement::interface:
      dev.alias = live->interfaces[found->index].alias;
      dev.tap = live->interfaces[found->index].target;
      dev.name = fmt::format("interface {} (tap {})", live->interfaces[found->index].mac, live->interfaces[found->index].target);
      break;
  }
  if (dev.alias.empty())
    return report(Error(fmt::format("{} of domain '{}' has no alias (the domain was started by an older altoctl); "
                                    "restart the domain to detach it live",
                                    dev.name, s.name)));
  auto c = QmpClient::connect(p.qmp, 30s, s.altovirt_pid);
  if (!c) return report(c.error());
  auto r = c->execute("device_del", {{"id", dev.alias}});
  if (!r) {
    std::string m = r.error().message();
    // An earlier detach-device timed out and the guest let go since: only the host side is left.
    if (m.find("no device has id") != std::string::npos) return finish_removal(g, store, s, *c, dev);
    if (m.find("already under way") == std::string::npos)
      return report(r.error().context(fmt::format("failed to detach {} from domain '{}'", dev.name, s.name)));
    // Still pending from an earlier detach-device: wait for it again.
  }
  auto ev = c->wait_event(
      "DEVICE_DELETED",
      [&](const json& d) {
        auto it = d.find("device");
        return it != d.end() && it->is_string() && *it == dev.alias;
      },
      kRemovalWait);
  if (!ev) return report(ev.error());
  if (!*ev)
    return report(Error(fmt::format(
        "domain '{}' did not let go of {} ({}) within {} s: it stays attached, and the guest was asked to release it "
        "(the request stays pending: a guest without PCIe hot-plug support never answers). Run `altoctl "
        "detach-device {} {}` again to wait once more and finish, or stop the domain",
        s.name, dev.name, dev.alias, kRemovalWait.count(), s.name, file)));
  return finish_removal(g, store, s, *c, dev);
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
    if (auto w = write_file_atomic(store.defined_xml(s->name), config::to_xml(*defined), kDomainXmlMode); !w) return report(w.error());
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
    if (auto w = write_file_atomic(store.defined_xml(s->name), config::to_xml(*defined), kDomainXmlMode); !w) return report(w.error());
  fmt::print("Device detached successfully\n\n");
  return kExitOk;
}

}  // namespace altoctl

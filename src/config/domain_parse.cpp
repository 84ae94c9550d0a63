// parse_domain_xml(): libvirt domain XML (https://libvirt.org/formatdomain.html) to DomainConfig.
//
// The parser walks every element of the document. Each element is either understood (stored),
// skippable (dropped with a warning, only where the guest cannot tell the difference), or a problem.
// Problems are collected, not returned on the first one, so that one error lists everything a user
// has to change.
#include <sys/utsname.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "altovirt/base/files.h"
#include "altovirt/config/domain.h"
#include "domain_parser.h"

namespace altovirt::config {
namespace detail {

void Parser::parse(pugi::xml_node domain) {
  DomainConfig& c = parsed.config;
  check_attrs(domain, "domain", {"type", "id"});
  if (std::string_view type = domain.attribute("type").value(); type != "kvm")
    problem(domain, "domain", fmt::format("type='{}' is not supported: altovirt runs VMs on KVM (type='kvm')", type));

  bool have_name = false, have_memory = false, have_os = false;
  for (auto node : domain.children()) {
    if (node.type() != pugi::node_element) continue;
    std::string_view n = node.name();
    std::string loc(n);
    auto text = [&] { return std::string(node.text().get()); };
    if (n == "name") {
      if (!first_of_its_name(node, loc)) continue;
      check_attrs(node, loc, {});
      have_name = true;
      c.name = text();
      if (trim(c.name).empty()) problem(node, loc, "the domain name is empty");
      else if (c.name.find('/') != std::string::npos ||
               std::any_of(c.name.begin(), c.name.end(), [](char ch) { return std::iscntrl(static_cast<unsigned char>(ch)); }))
        problem(node, loc, fmt::format("name '{}' contains '/' or a control character", c.name));
    } else if (n == "uuid") {
      if (!first_of_its_name(node, loc)) continue;
      check_attrs(node, loc, {});
      // libvirt accepts 32 hex digits with dashes anywhere (virUUIDParse); stored canonically.
      std::string hex;
      bool ok = true;
      for (char ch : trim(node.text().get())) {
        if (ch == '-') continue;
        if (!std::isxdigit(static_cast<unsigned char>(ch))) ok = false;
        hex += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      }
      if (!ok || hex.size() != 32) {
        problem(node, loc, fmt::format("'{}' is not a UUID (32 hexadecimal digits, e.g. 4dea22b3-1d52-d8f3-2516-782e98ab3fa0)", text()));
        continue;
      }
      c.uuid = fmt::format("{}-{}-{}-{}-{}", hex.substr(0, 8), hex.substr(8, 4), hex.substr(12, 4), hex.substr(16, 4), hex.substr(20));
    } else if (n == "title" || n == "description") {
      if (!first_of_its_name(node, loc)) continue;
      check_attrs(node, loc, {});
      (n == "title" ? c.title : c.description) = text();
    } else if (n == "memory" || n == "currentMemory") {
      if (!first_of_its_name(node, loc)) continue;
      check_attrs(node, loc, {"unit"});
      auto kib = memory_kib(node, loc);
      if (!kib) continue;
      if (n == "memory") {
        have_memory = true;
        c.memory_kib = *kib;
      } else {
        c.current_memory_kib = *kib;
      }
    } else if (n == "memoryBacking") {
      if (!first_of_its_name(node, loc)) continue;
      parse_memory_backing(node, loc);
    } else if (n == "vcpu") {
      if (!first_of_its_name(node, loc)) continue;
      parse_vcpu(node, loc);
    } else if (n == "os") {
      if (!first_of_its_name(node, loc)) continue;
      have_os = true;
      parse_os(node);
    } else if (n == "features") {
      if (!first_of_its_name(node, loc)) continue;
      parse_features(node);
    } else if (n == "devices") {
      if (!first_of_its_name(node, loc)) continue;
      parse_devices(node);
    } else if (n == "on_poweroff" || n == "on_reboot" || n == "on_crash") {
      if (!first_of_its_name(node, loc)) continue;
      check_attrs(node, loc, {});
      std::string_view v = trim(node.text().get());
      if (n == "on_reboot" && v == "destroy") c.on_reboot = OnReboot::destroy;
      else if (n == "on_reboot" ? v != "restart" : v != "destroy")
        problem(node, loc, fmt::format("'{}' is not supported (altovirt supports {})", v,
                                       n == "on_reboot" ? "restart and destroy" : "destroy only"));
    } else if (n == "clock") {
      parse_clock(node);
    } else if (n == "pm") {
      check_attrs(node, loc, {});
      for (auto s : node.children()) {
        if (s.type() != pugi::node_element) continue;
        std::string sloc = location(loc, s, false);
        std::string_view sn = s.name();
        if (sn != "suspend-to-mem" && sn != "suspend-to-disk") unsupported(loc, s, false);
        else if (std::string_view(s.attribute("enabled").value()) == "yes")
          problem(s, sloc, "altovirt does not implement ACPI sleep states; use enabled='no'");
      }
    } else if (n == "iothreads") {
      parse_iothreads(node, loc);
    } else if (n == "seclabel" || n == "metadata" || n == "resource" || n == "cputune") {
      skip("", node, false, n == "seclabel"  ? "altovirt applies no security labels"
                            : n == "metadata" ? "application metadata is not kept"
                            : n == "cputune"  ? "altovirt does not pin or tune host threads"
                                              : "altovirt does not place VMs in resource partitions");
    } else {
      unsupported("", node, false);
    }
  }
  if (!have_name) problem(domain, "domain", "<name> is missing");
  if (!have_memory) problem(domain, "domain", "<memory> is missing");
  if (!have_os) problem(domain, "domain", "<os> is missing (altovirt needs <os><kernel>)");
  validate(domain);
}

std::optional<uint64_t> Parser::memory_kib(pugi::xml_node node, std::string_view loc) {
  std::string_view unit = node.attribute("unit").value();
  auto scale = memory_unit_bytes(unit);
  if (!scale) {
    problem(node, loc, fmt::format("unit '{}' is unknown (use b, KiB, MiB, GiB, TiB, or KB, MB, GB, TB)", unit));
    return std::nullopt;
  }
  auto value = parse_decimal(node.text().get());
  if (!value) {
    problem(node, loc, fmt::format("'{}' is not a whole number", node.text().get()));
    return std::nullopt;
  }
  constexpr uint64_t kMaxBytes = 1ULL << 46;  // 64 TiB: far above any host altovirt runs on
  if (*value == 0 || *value > kMaxBytes / *scale) {
    problem(node, loc, fmt::format("{} {} is out of range (more than 0, at most 64 TiB)", *value, unit.empty() ? "KiB" : unit));
    return std::nullopt;
  }
  // libvirt keeps memory in KiB and rounds up to a whole KiB.
  return (*value * *scale + 1023) / 1024;
}

void Parser::parse_vcpu(pugi::xml_node node, std::string_view loc) {
  check_attrs(node, loc, {"placement", "current"});
  if (auto p = node.attribute("placement"); p && std::string_view(p.value()) != "static")
    problem(node, loc, fmt::format("placement='{}' is not supported (altovirt does not place vCPUs; use 'static')", p.value()));
  auto count = parse_decimal(node.text().get());
  // 255: without x2APIC and interrupt remapping in the guest, xAPIC IDs stop at 254.
  if (!count || *count == 0 || *count > 255) {
    problem(node, loc, fmt::format("'{}' is not a vCPU count from 1 to 255", node.text().get()));
    return;
  }
  if (auto cur = node.attribute("current"); cur && parse_decimal(cur.value()) != count)
    problem(node, loc, fmt::format("current='{}' differs from the vCPU count {}: altovirt has no vCPU hotplug", cur.value(), *count));
  parsed.config.vcpus = static_cast<uint32_t>(*count);
}

void Parser::parse_os(pugi::xml_node os) {
  DomainConfig& c = parsed.config;
  check_attrs(os, "os", {});
  std::vector<pugi::xml_node> boot_nodes;
  bool have_type = false;
  for (auto node : os.children()) {
    if (node.type() != pugi::node_element) continue;
    std::string_view n = node.name();
    std::string loc = location("os", node, false);
    if (n == "type") {
      if (!first_of_its_name(node, loc)) continue;
      have_type = true;
      check_attrs(node, loc, {"arch", "machine"});
      if (std::string_view(trim(node.text().get())) != "hvm")
        problem(node, loc, fmt::format("OS type '{}' is not supported (use hvm)", node.text().get()));
      // Without arch= libvirt takes the host's (KVM runs guests of the host's own architecture).
      std::string_view arch = node.attribute("arch").value();
      c.arch = arch.empty() ? host_arch : std::string(arch);
      const bool arm = c.arch == "aarch64";
      if (c.arch != "x86_64" && !arm)
        problem(node, loc, fmt::format("arch='{}' is not supported (altovirt runs x86_64 and aarch64 guests)", c.arch));
      else if (c.arch != host_arch)
        problem(node, loc, fmt::format("arch='{}': this host runs {} guests (KVM runs guests of the host's own "
                                       "architecture); define this domain on an {} host, or use arch='{}' machine='{}'",
                                       c.arch, host_arch, c.arch, host_arch, host_arch == "aarch64" ? "virt" : "q35"));
      std::string_view machine = node.attribute("machine").value();
      // Without a machine libvirt uses QEMU's default: pc for x86_64, virt for aarch64.
      c.machine_name = machine.empty() ? (arm ? "virt" : "pc") : std::string(machine);
      auto m = machine_from_name(c.machine_name);
      if (m && (*m == Machine::virt) == arm) c.machine = *m;
      else problem(node, loc, fmt::format("machine='{}' is not supported for arch='{}' (use {})", machine, c.arch,
                                          arm ? "virt" : "q35 or pc"));
    } else if (n == "kernel" || n == "initrd" || n == "cmdline") {
      if (!first_of_its_name(node, loc)) continue;
      check_attrs(node, loc, {});
      std::string value = node.text().get();
      if (n != "cmdline" && value.empty()) problem(node, loc, "the path is empty");
      (n == "kernel" ? c.kernel : n == "initrd" ? c.initrd : c.cmdline) = value;
    } else if (n == "boot") {
      boot_nodes.push_back(node);
    } else if (n == "loader") {
      if (!first_of_its_name(node, loc)) continue;
      check_attrs(node, loc, {"readonly", "type", "secure"});
      if (!c.firmware) c.firmware.emplace();
      c.firmware->loader = trim(node.text().get());
      if (c.firmware->loader.empty()) problem(node, loc, "the firmware path is empty (e.g. /usr/share/OVMF/OVMF_CODE_4M.fd)");
      std::string_view type = node.attribute("type").value();
      if (!type.empty() && type != "pflash")
        problem(node, loc, fmt::format("type='{}' is not supported (altovirt maps firmware as pflash: type='pflash')", type));
      std::string_view ro = node.attribute("readonly").value();
      if (ro == "no") c.firmware->readonly = false;
      else if (!ro.empty() && ro != "yes") problem(node, loc, fmt::format("readonly='{}': expected yes or no", ro));
      if (std::string_view(node.attribute("secure").value()) == "yes")
        problem(node, loc, "secure='yes' needs SMM, which altovirt does not emulate; use the firmware without it "
                           "(/usr/share/OVMF/OVMF_CODE_4M.fd)");
    } else if (n == "nvram") {
      if (!first_of_its_name(node, loc)) continue;
      check_attrs(node, loc, {"template"});
      if (!c.firmware) c.firmware.emplace();
      c.firmware->nvram = true;
      c.firmware->nvram_path = trim(node.text().get());
      c.firmware->nvram_template = node.attribute("template").value();
    } else {
      unsupported("os", node, false);
    }
  }
  if (!have_type) problem(os, "os", "<type> is missing (use <type arch='x86_64' machine='q35'>hvm</type>)");
  if (c.firmware && c.firmware->loader.empty() && c.firmware->nvram)
    problem(os, "os", "<nvram> without <loader>: name the firmware too (<loader readonly='yes' type='pflash'>"
                      "/usr/share/OVMF/OVMF_CODE_4M.fd</loader>)");
  if (c.kernel.empty() && !c.firmware)
    problem(os, "os", "<kernel> or <loader> is missing: altovirt boots a Linux kernel directly, or UEFI firmware "
                      "(<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>)");
  for (auto node : boot_nodes) {
    std::string loc = location("os", node, false);
    if (!c.firmware) {
      skip("os", node, false, "the kernel in <os><kernel> is booted directly");
      continue;
    }
    check_attrs(node, loc, {"dev"});
    check_no_children(node, loc);
    std::string dev = node.attribute("dev").value();
    if (dev == "hd" || dev == "network") {
      if (std::find(c.boot_devs.begin(), c.boot_devs.end(), dev) == c.boot_devs.end()) c.boot_devs.push_back(dev);
    } else if (dev == "cdrom" || dev == "fd") {
      skip("os", node, false, fmt::format("the domain has no {} drive to boot from", dev == "cdrom" ? "CD-ROM" : "floppy"));
    } else {
      problem(node, loc, fmt::format("dev='{}': expected hd, network, cdrom or fd", dev));
    }
  }
}

void Parser::parse_features(pugi::xml_node features) {
  check_attrs(features, "features", {});
  for (auto node : features.children()) {
    if (node.type() != pugi::node_element) continue;
    std::string_view n = node.name();
    std::string loc = location("features", node, false);
    if (n == "acpi") {
      check_attrs(node, loc, {});
      check_no_children(node, loc);
      parsed.config.acpi = true;
    } else if (n == "gic") {
      // The arm64 board's interrupt controller is a GICv3 (with an ITS for MSIs).
      check_attrs(node, loc, {"version"});
      check_no_children(node, loc);
      std::string_view v = node.attribute("version").value();
      if (parsed.config.arch != "aarch64") problem(node, loc, "<gic> is for aarch64 guests (arch='aarch64' machine='virt')");
      else if (!v.empty() && v != "3" && v != "host")
        problem(node, loc, fmt::format("version='{}': altovirt's arm64 board has a GICv3; use version='3'", v));
    } else if (n == "apic" || n == "pae") {
      // The guest always has a local APIC and (being x86_64) PAE; these only state that.
      check_attrs(node, loc, {});
      check_no_children(node, loc);
    } else {
      unsupported("features", node, false);
    }
  }
}

void Parser::parse_clock(pugi::xml_node clock) {
  check_attrs(clock, "clock", {"offset"});
  if (auto off = clock.attribute("offset"); off && std::string_view(off.value()) != "utc")
    problem(clock, "clock", fmt::format("offset='{}' is not supported (the guest's RTC runs in UTC; use offset='utc')", off.value()));
  for (auto node : clock.children()) {
    if (node.type() != pugi::node_element) continue;
    std::string loc = location("clock", node, true);
    if (std::string_view(node.name()) != "timer") unsupported("clock", node, true);
    else if (std::string_view(node.attribute("present").value()) == "yes")
      problem(node, loc + describe(node), "altovirt cannot add timers; remove present='yes'");
    else
      skip("clock", node, true, "altovirt's timers are fixed; tick policies do not apply");
  }
}

void Parser::validate(pugi::xml_node domain) {
  DomainConfig& c = parsed.config;
  if (c.current_memory_kib && c.memory_kib) {
    if (*c.current_memory_kib < c.memory_kib)
      problem(domain.child("currentMemory"), "currentMemory",
              fmt::format("{} KiB is less than <memory> ({} KiB): a smaller current size needs a memory balloon, which "
                          "altovirt does not have; make them equal or remove <currentMemory>", *c.current_memory_kib, c.memory_kib));
    else
      c.current_memory_kib = c.memory_kib;  // libvirt caps currentMemory at memory as well
  }
  if (c.memory_kib % 1024)
    warn(domain.child("memory"), "memory", fmt::format("{} KiB is rounded up to {} MiB", c.memory_kib, c.memory_mib()));
  if (c.memory_backing && c.memory_backing->page_kib && c.memory_kib % c.memory_backing->page_kib)
    problem(domain.child("memory"), "memory",
            fmt::format("{} KiB is not a multiple of the {} KiB hugepages in <memoryBacking>: hugetlbfs maps whole pages",
                        c.memory_kib, c.memory_backing->page_kib));

  std::set<uint32_t> root_ports;
  for (const auto& ctl : c.controllers) {
    bool q35_only = ctl.model != PciController::Model::pci_root;
    if (q35_only != is_pcie(c.machine))
      problem(domain.child("devices"), "devices",
              fmt::format("PCI controller index {} ({}) does not exist on machine {}", ctl.index,
                          ctl.model == PciController::Model::pci_root ? "pci-root" : ctl.model == PciController::Model::pcie_root ? "pcie-root" : "pcie-root-port",
                          machine_type(c.machine)));
    if (ctl.model == PciController::Model::pcie_root_port) root_ports.insert(ctl.index);
  }

  // Guest slots: 00:00.0 is the host bridge on both machines.
  std::map<std::tuple<uint32_t, uint32_t, uint32_t>, std::string> used;
  auto claim = [&](pugi::xml_node node, std::string_view what, const GuestPciAddress& a) {
    auto key = std::make_tuple(a.bus, a.slot, a.function);
    std::string loc = fmt::format("{} address bus {:#04x} slot {:#04x} function {}", what, a.bus, a.slot, a.function);
    if (a.bus == 0 && a.slot == 0)
      problem(node, loc, "slot 0 of the root bus is the host bridge; use another slot");
    else if (auto it = used.find(key); it != used.end())
      problem(node, loc, fmt::format("the guest address is already used by {}", it->second));
    else
      used.emplace(key, std::string(what));
  };
  for (const auto& ctl : c.controllers)
    if (ctl.address) claim(domain.child("devices"), fmt::format("pcie-root-port index {}", ctl.index), *ctl.address);

  // A device's guest address: on the root bus, or slot 0 of an existing root port (PCIe 1.0 section
  // 7.3.1: a downstream port's link has one device, number 0).
  auto place = [&](pugi::xml_node node, const std::string& loc, const GuestPciAddress& a) {
    if (a.bus != 0 && !root_ports.contains(a.bus)) {
      problem(node, loc, fmt::format("guest bus {:#04x} does not exist: add <controller type='pci' model='pcie-root-port' index='{}'/>", a.bus, a.bus));
      return;
    }
    if (a.bus != 0 && a.slot != 0) {
      problem(node, loc, fmt::format("a pcie-root-port has one slot, 0x00; slot {:#04x} does not exist on bus {:#04x}", a.slot, a.bus));
      return;
    }
    claim(node, loc, a);
  };

  std::set<std::string> aliases;
  auto unique_alias = [&](pugi::xml_node node, const std::string& loc, const std::string& alias) {
    if (!alias.empty() && !aliases.insert(alias).second) problem(node, loc, fmt::format("alias '{}' is used twice", alias));
  };
  std::set<std::string> targets;
  for (size_t i = 0; i < c.disks.size(); ++i) {
    const Disk& d = c.disks[i];
    pugi::xml_node node = disk_nodes_[i];
    std::string loc = location("devices", node, true) + describe(node);
    if (!targets.insert(d.target).second) problem(node, loc, fmt::format("target dev '{}' is used by another disk", d.target));
    unique_alias(node, loc, d.alias);
    if (d.iothread && *d.iothread > c.iothreads)
      problem(node, loc, fmt::format("iothread='{}' does not exist: the domain has {} (set <iothreads>{}</iothreads>)", *d.iothread,
                                     c.iothreads, *d.iothread));
    if (d.address) place(node, loc, *d.address);
  }
  std::set<std::string> taps;
  for (size_t i = 0; i < c.interfaces.size(); ++i) {
    const Interface& n = c.interfaces[i];
    pugi::xml_node node = interface_nodes_[i];
    std::string loc = location("devices", node, true) + describe(node);
    if (!n.target.empty() && !taps.insert(n.target).second)
      problem(node, loc, fmt::format("target dev '{}' is used by another interface", n.target));
    unique_alias(node, loc, n.alias);
    if (n.address) place(node, loc, *n.address);
  }
  for (size_t i = 0; i < c.virtio_serials.size(); ++i) {
    pugi::xml_node node = virtio_serial_nodes_[i];
    std::string loc = location("devices", node, true) + describe(node);
    unique_alias(node, loc, c.virtio_serials[i].alias);
    if (c.virtio_serials[i].address) place(node, loc, *c.virtio_serials[i].address);
  }
  for (const auto& p : placed_) {
    std::string loc = location("devices", p.node, true) + describe(p.node);
    unique_alias(p.node, loc, p.alias);
    if (p.address) place(p.node, loc, *p.address);
  }
  if (c.virtio_console && !c.virtio_serials.empty() &&
      std::none_of(c.virtio_serials.begin(), c.virtio_serials.end(), [](const auto& vs) { return vs.index == 0; }))
    problem(domain.child("devices"), "devices/console",
            "the virtio console is port 0 of virtio-serial controller index 0; add <controller type='virtio-serial' index='0'/>");
  if (c.virtio_console) unique_alias(domain.child("devices"), "devices/console", c.virtio_console->alias);

  std::map<HostPciAddress, size_t, decltype([](const HostPciAddress& a, const HostPciAddress& b) {
             return std::tie(a.domain, a.bus, a.slot, a.function) < std::tie(b.domain, b.bus, b.slot, b.function);
           })> sources;
  for (size_t i = 0; i < c.hostdevs.size(); ++i) {
    const Hostdev& dev = c.hostdevs[i];
    pugi::xml_node node = hostdev_nodes_[i];
    std::string loc = location("devices", node, true);
    if (auto [it, fresh] = sources.emplace(dev.source, i); !fresh)
      problem(node, loc, fmt::format("host device {} is already assigned by another <hostdev>", dev.source.to_string()));
    unique_alias(node, loc, dev.alias);
    if (dev.guest_address) place(node, loc, *dev.guest_address);
  }
  validate_boot_order(domain);
}

// libvirt's rules for the boot order: each <boot order='N'/> once, and per-device orders or
// <os><boot dev> but not both (virDomainDefBootOrderPostParse).
void Parser::validate_boot_order(pugi::xml_node domain) {
  const DomainConfig& c = parsed.config;
  std::map<uint32_t, std::string> orders;
  pugi::xml_node first;
  auto order = [&](pugi::xml_node node, const std::optional<uint32_t>& n) {
    if (!n) return;
    std::string loc = location("devices", node, true) + describe(node) + "/boot";
    if (!first) first = node;
    if (auto [it, fresh] = orders.emplace(*n, loc); !fresh)
      problem(node.child("boot"), loc, fmt::format("boot order {} is already used by {}", *n, it->second));
  };
  for (size_t i = 0; i < c.disks.size(); ++i) order(disk_nodes_[i], c.disks[i].boot_order);
  for (size_t i = 0; i < c.interfaces.size(); ++i) order(interface_nodes_[i], c.interfaces[i].boot_order);
  for (size_t i = 0; i < c.hostdevs.size(); ++i) order(hostdev_nodes_[i], c.hostdevs[i].boot_order);
  if (!first) return;
  if (!c.boot_devs.empty())
    problem(domain.child("os").child("boot"), "os/boot",
            "per-device <boot order='N'/> cannot be combined with <os><boot dev=.../>: keep one of them");
  else if (!c.firmware)
    warn(first.child("boot"), location("devices", first, true) + "/boot",
         "no effect: the kernel in <os><kernel> is booted directly (a boot order is the firmware's)");
}

}  // namespace detail

using detail::Parser;
using detail::trim;

std::string_view machine_type(Machine m) { return m == Machine::q35 ? "q35" : m == Machine::pc ? "pc" : "virt"; }

std::string host_arch() {
  utsname u{};
  if (::uname(&u) != 0) return "x86_64";
  std::string_view machine = u.machine;
  return machine == "aarch64" || machine == "arm64" ? "aarch64" : std::string(machine);
}

std::optional<Machine> machine_from_name(std::string_view name) {
  if (name == "virt" || name.starts_with("virt-")) return Machine::virt;
  if (name == "q35" || name.starts_with("pc-q35-")) return Machine::q35;
  if (name == "pc" || name.starts_with("pc-i440fx-") ||
      (name.starts_with("pc-") && name.size() > 3 && std::isdigit(static_cast<unsigned char>(name[3]))))
    return Machine::pc;
  return std::nullopt;
}

Result<ParsedDomain> parse_domain_xml(std::string_view xml, std::string_view source, std::string_view host) {
  Parser parser(xml);
  parser.host_arch = host.empty() ? altovirt::config::host_arch() : std::string(host);
  pugi::xml_document doc;
  // No DOCTYPE entity expansion is involved: pugixml does not load external entities.
  pugi::xml_parse_result r = doc.load_buffer(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_utf8);
  if (!r) {
    size_t line = parser.line_of(r.offset);
    size_t column = static_cast<size_t>(r.offset) - parser.line_start(line) + 1;
    // pugixml reports an unclosed element where the text runs out; say so rather than leave the
    // user looking for a mismatch on the last line.
    std::string_view rest = xml.substr(std::min(xml.size(), static_cast<size_t>(r.offset)));
    bool at_end = trim(rest).empty();
    // For a mismatched end tag pugixml points after "</"; show the whole tag.
    if (r.status == pugi::status_end_element_mismatch && r.offset >= 2 && xml.substr(static_cast<size_t>(r.offset) - 2, 2) == "</")
      rest = xml.substr(static_cast<size_t>(r.offset) - 2);
    // The text where the parser stopped, so that the user sees which tag it is about.
    std::string_view near = trim(rest.substr(0, std::min(rest.find('\n'), size_t{40})));
    std::string detail = at_end && r.status != pugi::status_no_document_element
                             ? " (the document ends before every element is closed)"
                             : near.empty() ? "" : fmt::format(" near '{}'", near);
    return fail("{}: malformed XML at line {}, column {}: {}{}", source, line, column, r.description(), detail);
  }
  pugi::xml_node root = doc.document_element();
  if (std::string_view(root.name()) != "domain")
    return fail("{}: line {}: the document element is <{}>, not <domain>: this is not a libvirt domain XML", source,
                parser.line_of(root.offset_debug()), root.name());
  parser.parse(root);
  if (!parser.problems.empty()) {
    std::stable_sort(parser.problems.begin(), parser.problems.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string text = fmt::format("{}: altovirt cannot run this domain as written; change or remove:", source);
    for (const auto& [line, message] : parser.problems) text += fmt::format("\n  line {}: {}", line, message);
    return std::unexpected(Error(text));
  }
  return std::move(parser.parsed);
}

Result<ParsedDomain> parse_domain_file(const std::string& path) {
  AV_TRY_ASSIGN(std::string text, read_file(path));
  return parse_domain_xml(text, path);
}

}  // namespace altovirt::config

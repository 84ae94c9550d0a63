// The <devices> part of the domain XML parser: serial and console, PCI controllers, VFIO host
// devices and PCI addresses.
#include <algorithm>
#include <cctype>

#include "domain_parser.h"

namespace altovirt::config::detail {

std::optional<HostPciAddress> Parser::host_address(pugi::xml_node node, std::string_view loc) {
  check_attrs(node, loc, {"domain", "bus", "slot", "function"});
  check_no_children(node, loc);
  HostPciAddress a;
  auto domain = number_attr(node, loc, "domain", 0xffffffff, false);
  auto bus = number_attr(node, loc, "bus", 0xff);
  auto slot = number_attr(node, loc, "slot", 0x1f);
  auto function = number_attr(node, loc, "function", 7);
  if (!bus || !slot || !function) return std::nullopt;
  a.domain = static_cast<uint32_t>(domain.value_or(0));
  a.bus = static_cast<uint32_t>(*bus);
  a.slot = static_cast<uint32_t>(*slot);
  a.function = static_cast<uint32_t>(*function);
  return a;
}

std::optional<GuestPciAddress> Parser::guest_address(pugi::xml_node node, std::string_view loc) {
  std::string_view type = node.attribute("type").value();
  if (type != "pci") {
    problem(node, loc, fmt::format("address type '{}' is not supported (only type='pci')", type));
    return std::nullopt;
  }
  check_attrs(node, loc, {"type", "domain", "bus", "slot", "function", "multifunction"});
  check_no_children(node, loc);
  auto domain = number_attr(node, loc, "domain", 0xffff, false);
  auto bus = number_attr(node, loc, "bus", 0xff, false);
  auto slot = number_attr(node, loc, "slot", 0x1f);
  auto function = number_attr(node, loc, "function", 7, false);
  if (!slot) return std::nullopt;
  if (domain.value_or(0) != 0) {
    problem(node, loc, "the guest has only PCI domain 0");
    return std::nullopt;
  }
  GuestPciAddress a;
  a.bus = static_cast<uint32_t>(bus.value_or(0));
  a.slot = static_cast<uint32_t>(*slot);
  a.function = static_cast<uint32_t>(function.value_or(0));
  if (auto mf = node.attribute("multifunction")) {
    std::string_view v = mf.value();
    if (v != "on" && v != "off") {
      problem(node, loc, fmt::format("multifunction='{}' must be on or off", v));
      return std::nullopt;
    }
    a.multifunction = v == "on";
  }
  return a;
}

void Parser::parse_devices(pugi::xml_node devices) {
  DomainConfig& c = parsed.config;
  check_attrs(devices, "devices", {});
  std::vector<pugi::xml_node> consoles;
  for (auto node : devices.children()) {
    if (node.type() != pugi::node_element) continue;
    std::string_view n = node.name();
    std::string loc = location("devices", node, true);
    if (n == "emulator") {
      if (!first_of_its_name(node, loc)) continue;
      check_attrs(node, loc, {});
      c.emulator = node.text().get();
    } else if (n == "serial") {
      parse_serial(node, loc);
    } else if (n == "console") {
      consoles.push_back(node);  // after all <serial>s: a console refers to the first one
    } else if (n == "controller") {
      parse_controller(node, loc);
    } else if (n == "hostdev") {
      parse_hostdev(node, loc);
    } else if (n == "disk") {
      parse_disk(node, loc);
    } else if (n == "interface") {
      parse_interface(node, loc);
    } else if (n == "memballoon" && std::string_view(node.attribute("model").value()) == "none") {
      check_attrs(node, loc, {"model"});
      check_no_children(node, loc);  // altovirt has no balloon, which is what model='none' asks
    } else if (n == "memballoon") {
      parse_memballoon(node, loc);
    } else if (n == "rng") {
      parse_rng(node, loc);
    } else if (n == "vsock") {
      parse_vsock(node, loc);
    } else if (n == "video") {
      parse_video(node, loc);
    } else if (n == "graphics") {
      parse_graphics(node, loc);
    } else if (n == "input") {
      parse_input(node, loc);
    } else if (n == "audio") {
      skip("devices", node, true, "an audio backend alone adds no guest device");
    } else {
      unsupported("devices", node, true);
    }
  }
  for (auto node : consoles) parse_console(node, location("devices", node, true));
}

std::optional<Serial> Parser::char_source(pugi::xml_node node, std::string_view loc) {
  std::string_view type = node.attribute("type").value();
  Serial s;
  pugi::xml_node source = node.child("source");
  if (type == "pty") {
    s.type = Serial::Type::pty;
    // A running domain's XML names the pty in <source path=.../>; it is output, not a request.
    if (source) check_attrs(source, std::string(loc) + "/source", {"path"});
  } else if (type == "file") {
    s.type = Serial::Type::file;
    s.path = source.attribute("path").value();
    if (source) check_attrs(source, std::string(loc) + "/source", {"path"});
    if (s.path.empty()) {
      problem(node, loc, "type='file' needs <source path='/path/to/file'/>");
      return std::nullopt;
    }
    if (s.path.find(',') != std::string::npos) {
      problem(node, loc, fmt::format("file path '{}' contains a comma, which altovirt's -serial option cannot carry", s.path));
      return std::nullopt;
    }
  } else {
    problem(node, std::string(loc) + describe(node), fmt::format("type='{}' is not supported (use pty or file)", type));
    return std::nullopt;
  }
  return s;
}

void Parser::parse_serial(pugi::xml_node node, const std::string& loc) {
  DomainConfig& c = parsed.config;
  if (node.previous_sibling("serial")) {
    problem(node, loc + describe(node), "altovirt has one serial port; remove the others");
    return;
  }
  check_attrs(node, loc, {"type"});
  auto s = char_source(node, loc);
  for (auto child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    std::string_view cn = child.name();
    std::string cloc = location(loc, child, false);
    if (cn == "source" || cn == "alias") continue;
    if (cn == "target") {
      check_attrs(child, cloc, {"type", "port"});
      if (auto t = child.attribute("type"); t && std::string_view(t.value()) != "isa-serial")
        problem(child, cloc, fmt::format("type='{}' is not supported (the serial port is an isa-serial COM1)", t.value()));
      if (auto p = child.attribute("port"); p && parse_c_uint(p.value()) != 0u)
        problem(child, cloc, fmt::format("port='{}' is not supported (altovirt has only port 0, COM1)", p.value()));
      for (auto m : child.children()) {
        if (m.type() != pugi::node_element) continue;
        if (std::string_view(m.name()) == "model" && std::string_view(m.attribute("name").value()) == "isa-serial") continue;
        unsupported(cloc, m, false);
      }
    } else {
      unsupported(loc, child, false);
    }
  }
  if (s) c.serial = *s;
}

void Parser::parse_console(pugi::xml_node node, const std::string& loc) {
  DomainConfig& c = parsed.config;
  pugi::xml_node target = node.child("target");
  std::string_view ttype = target.attribute("type").value();
  // libvirt: on x86 a console without a target type, or with type='serial', is the first serial
  // port; a 'virtio' (hvc) console is a port of a virtio-serial controller.
  if (ttype == "virtio") {
    parse_virtio_console(node, loc);
    return;
  }
  if (!ttype.empty() && ttype != "serial") {
    problem(node, loc + describe(node), unsupported_reason("devices", "console"));
    return;
  }
  if (c.console) {
    problem(node, loc + describe(node), "only one console (on the serial port) is supported");
    return;
  }
  check_attrs(node, loc, {"type", "tty"});
  auto s = char_source(node, loc);
  for (auto child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    std::string_view cn = child.name();
    std::string cloc = location(loc, child, false);
    if (cn == "source" || cn == "alias") continue;
    if (cn == "target") {
      check_attrs(child, cloc, {"type", "port"});
      check_no_children(child, cloc);
      if (auto p = child.attribute("port"); p && parse_c_uint(p.value()) != 0u)
        problem(child, cloc, fmt::format("port='{}' is not supported (the console is serial port 0)", p.value()));
    } else {
      unsupported(loc, child, false);
    }
  }
  if (!s) return;
  if (!c.serial) {
    c.serial = *s;
  } else if (c.serial->type != s->type || (s->type == Serial::Type::file && c.serial->path != s->path)) {
    problem(node, loc + describe(node), "the console is the serial port and must have the same type and source as <serial>");
    return;
  }
  c.console = true;
}

void Parser::parse_controller(pugi::xml_node node, const std::string& loc) {
  std::string_view type = node.attribute("type").value();
  std::string_view model = node.attribute("model").value();
  if (type == "usb" && model == "none") {
    check_attrs(node, loc, {"type", "model", "index"});
    check_no_children(node, loc);  // no USB controller, which is what model='none' asks
    return;
  }
  if (type == "virtio-serial") {
    parse_virtio_serial(node, loc);
    return;
  }
  if (type != "pci" || (model != "pcie-root" && model != "pcie-root-port" && model != "pci-root")) {
    unsupported("devices", node, true);
    return;
  }
  check_attrs(node, loc, {"type", "model", "index"});
  PciController ctl;
  ctl.model = model == "pcie-root" ? PciController::Model::pcie_root
              : model == "pci-root" ? PciController::Model::pci_root
                                    : PciController::Model::pcie_root_port;
  auto index = number_attr(node, loc, "index", 0xff, false);
  if (!node.attribute("index")) {
    problem(node, loc + describe(node), "attribute index is missing");
    return;
  }
  if (!index) return;
  ctl.index = static_cast<uint32_t>(*index);
  bool root = ctl.model != PciController::Model::pcie_root_port;
  if (root != (ctl.index == 0)) {
    problem(node, loc + describe(node), root ? "the root bus must have index='0'" : "a pcie-root-port needs an index from 1 to 255");
    return;
  }
  for (auto child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    std::string_view cn = child.name();
    std::string cloc = location(loc, child, false);
    if (cn == "alias") continue;
    if (cn == "model" && std::string_view(child.attribute("name").value()) == "pcie-root-port" && !root) {
      check_attrs(child, cloc, {"name"});
    } else if (cn == "target" && !root) {
      // libvirt writes chassis (= index by default) and port (its address, e.g. 0x10).
      check_attrs(child, cloc, {"chassis", "port"});
      if (auto v = number_attr(child, cloc, "chassis", 0xff, false)) ctl.chassis = static_cast<uint32_t>(*v);
      if (auto v = number_attr(child, cloc, "port", 0xff, false)) ctl.port = static_cast<uint32_t>(*v);
    } else if (cn == "address" && !root) {
      if (auto a = guest_address(child, cloc)) {
        if (a->bus != 0) problem(child, cloc, "a pcie-root-port must sit on the root bus (bus='0x00')");
        else ctl.address = a;
      }
    } else {
      unsupported(loc, child, false);
    }
  }
  for (const auto& other : parsed.config.controllers)
    if (other.index == ctl.index) {
      problem(node, loc + describe(node), fmt::format("index {} is used by another PCI controller", ctl.index));
      return;
    }
  parsed.config.controllers.push_back(ctl);
}

void Parser::parse_hostdev(pugi::xml_node node, const std::string& loc) {
  if (std::string_view(node.attribute("mode").value()) != "subsystem" ||
      std::string_view(node.attribute("type").value()) != "pci") {
    unsupported("devices", node, true);
    return;
  }
  check_attrs(node, loc, {"mode", "type", "managed"});
  Hostdev dev;
  bool ok = true;
  if (auto m = node.attribute("managed")) {
    std::string_view v = m.value();
    if (v == "yes") dev.managed = true;
    else if (v != "no") {
      problem(node, loc, fmt::format("managed='{}' must be yes or no", v));
      ok = false;
    }
  }
  bool have_source = false;
  for (auto child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    std::string_view cn = child.name();
    std::string cloc = location(loc, child, false);
    if (cn == "driver") {
      check_attrs(child, cloc, {"name"});
      check_no_children(child, cloc);
      if (auto d = child.attribute("name"); d && std::string_view(d.value()) != "vfio") {
        problem(child, cloc, fmt::format("driver name='{}' is not supported (altovirt passes devices through with vfio)", d.value()));
        ok = false;
      }
    } else if (cn == "source") {
      check_attrs(child, cloc, {});
      for (auto s : child.children()) {
        if (s.type() != pugi::node_element) continue;
        if (std::string_view(s.name()) != "address" || have_source) {
          unsupported(cloc, s, false);
          continue;
        }
        have_source = true;
        if (auto a = host_address(s, location(cloc, s, false))) dev.source = *a;
        else ok = false;
      }
    } else if (cn == "address") {
      if (auto a = guest_address(child, cloc)) dev.guest_address = a;
      else ok = false;
    } else if (cn == "rom") {
      check_attrs(child, cloc, {"bar"});
      check_no_children(child, cloc);
      std::string_view bar = child.attribute("bar").value();
      if (bar == "on") dev.rom_bar = true;
      else if (bar == "off") dev.rom_bar = false;
      else if (child.attribute("bar")) {
        problem(child, cloc, fmt::format("bar='{}' must be on or off", bar));
        ok = false;
      }
    } else if (cn == "boot") {
      dev.boot_order = boot_order_of(child, cloc);
      if (!dev.boot_order) ok = false;
    } else if (cn == "alias") {
      check_attrs(child, cloc, {"name"});
      dev.alias = child.attribute("name").value();
      // The alias becomes the device id on altovirt's command line and in QMP, whose ids (like
      // QEMU's) start with a letter and continue with letters, digits, '-', '.', '_'.
      bool valid = !dev.alias.empty() && std::isalpha(static_cast<unsigned char>(dev.alias[0])) &&
                   std::all_of(dev.alias.begin(), dev.alias.end(), [](char ch) {
                     return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.' || ch == '_';
                   });
      if (!valid) {
        problem(child, cloc, fmt::format("alias name '{}' must start with a letter and contain only letters, digits, '-', '.', '_'", dev.alias));
        ok = false;
      }
    } else {
      unsupported(loc, child, false);
    }
  }
  if (!have_source) {
    problem(node, loc, "<source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source> is missing");
    ok = false;
  }
  if (ok) {
    hostdev_nodes_.push_back(node);
    parsed.config.hostdevs.push_back(dev);
  }
}

}  // namespace altovirt::config::detail

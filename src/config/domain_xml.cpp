// to_xml(): a DomainConfig back to libvirt domain XML, for `altoctl dumpxml`. pugixml writes it, so
// names, paths and command lines with '<', '&' or quotes are escaped correctly.
#include <pugixml.hpp>

#include <sstream>

#include "altovirt/config/domain.h"

namespace altovirt::config {
namespace {

void set_text(pugi::xml_node parent, const char* name, const std::string& text) {
  parent.append_child(name).text().set(text.c_str());
}

void set_attr(pugi::xml_node node, const char* name, const std::string& value) {
  node.append_attribute(name).set_value(value.c_str());
}

void guest_address(pugi::xml_node parent, const GuestPciAddress& a) {
  auto n = parent.append_child("address");
  set_attr(n, "type", "pci");
  set_attr(n, "domain", fmt::format("{:#06x}", a.domain));
  set_attr(n, "bus", fmt::format("{:#04x}", a.bus));
  set_attr(n, "slot", fmt::format("{:#04x}", a.slot));
  set_attr(n, "function", fmt::format("{:#x}", a.function));
  if (a.multifunction) set_attr(n, "multifunction", "on");
}

void char_device(pugi::xml_node parent, const char* name, const Serial& s, const char* target_type) {
  auto n = parent.append_child(name);
  set_attr(n, "type", s.type == Serial::Type::pty ? "pty" : "file");
  if (s.type == Serial::Type::file) set_attr(n.append_child("source"), "path", s.path);
  auto target = n.append_child("target");
  if (target_type) set_attr(target, "type", target_type);
  set_attr(target, "port", "0");
}

// A device's <alias> and guest <address>, the last children libvirt writes.
void tail(pugi::xml_node n, const std::string& alias, const std::optional<GuestPciAddress>& address) {
  if (!alias.empty()) set_attr(n.append_child("alias"), "name", alias);
  if (address) guest_address(n, *address);
}

// <memballoon>, <rng>, <vsock> in libvirt's order (after the host devices).
void guest_devices(pugi::xml_node devices, const DomainConfig& c) {
  if (c.memballoon) {
    auto n = devices.append_child("memballoon");
    set_attr(n, "model", "virtio");
    if (c.memballoon->autodeflate) set_attr(n, "autodeflate", "on");
    if (c.memballoon->stats_period) set_attr(n.append_child("stats"), "period", std::to_string(*c.memballoon->stats_period));
    tail(n, c.memballoon->alias, c.memballoon->address);
  }
  for (const auto& r : c.rngs) {
    auto n = devices.append_child("rng");
    set_attr(n, "model", "virtio");
    if (r.rate_bytes) {
      auto rate = n.append_child("rate");
      if (r.rate_period_ms) set_attr(rate, "period", std::to_string(r.rate_period_ms));
      set_attr(rate, "bytes", std::to_string(r.rate_bytes));
    }
    auto b = n.append_child("backend");
    set_attr(b, "model", "random");
    b.text().set(r.backend.c_str());
    tail(n, r.alias, r.address);
  }
  if (c.vsock) {
    auto n = devices.append_child("vsock");
    set_attr(n, "model", "virtio");
    auto cid = n.append_child("cid");
    set_attr(cid, "auto", c.vsock->auto_cid ? "yes" : "no");
    if (!c.vsock->auto_cid) set_attr(cid, "address", std::to_string(c.vsock->cid));
    tail(n, c.vsock->alias, c.vsock->address);
  }
}

// <input>, <graphics>, <video> in libvirt's order (after the guest devices).
void display_devices(pugi::xml_node devices, const DomainConfig& c) {
  for (const auto& in : c.inputs) {
    auto n = devices.append_child("input");
    set_attr(n, "type", in.kind == Input::Kind::keyboard ? "keyboard" : "tablet");
    set_attr(n, "bus", "virtio");
    tail(n, in.alias, in.address);
  }
  if (c.graphics) {
    const Graphics& g = *c.graphics;
    auto n = devices.append_child("graphics");
    set_attr(n, "type", "vnc");
    if (g.socket.empty()) {
      set_attr(n, "port", g.autoport ? "-1" : std::to_string(g.port));
      set_attr(n, "autoport", g.autoport ? "yes" : "no");
      set_attr(n, "listen", g.listen);
    }
    if (!g.passwd.empty()) set_attr(n, "passwd", g.passwd);
    auto l = n.append_child("listen");
    if (g.socket.empty()) {
      set_attr(l, "type", "address");
      set_attr(l, "address", g.listen);
    } else {
      set_attr(l, "type", "socket");
      set_attr(l, "socket", g.socket);
    }
  }
  if (c.video || c.video_none) {
    auto n = devices.append_child("video");
    auto m = n.append_child("model");
    set_attr(m, "type", c.video ? "virtio" : "none");
    if (c.video) {
      set_attr(m, "heads", "1");
      set_attr(m, "primary", "yes");
      if (c.video->xres) {
        auto r = m.append_child("resolution");
        set_attr(r, "x", std::to_string(c.video->xres));
        set_attr(r, "y", std::to_string(c.video->yres));
      }
      tail(n, c.video->alias, c.video->address);
    }
  }
}

void disk(pugi::xml_node parent, const Disk& d) {
  auto n = parent.append_child("disk");
  bool file = d.type == Disk::Type::file;
  set_attr(n, "type", file ? "file" : "block");
  set_attr(n, "device", "disk");
  auto driver = n.append_child("driver");
  set_attr(driver, "name", "qemu");
  set_attr(driver, "type", "raw");
  if (d.cache) set_attr(driver, "cache", d.cache == Disk::Cache::none ? "none" : "writeback");
  if (d.io) set_attr(driver, "io", d.io == Disk::Io::io_uring ? "io_uring" : "threads");
  if (d.iothread) set_attr(driver, "iothread", std::to_string(*d.iothread));
  if (d.discard) set_attr(driver, "discard", *d.discard ? "unmap" : "ignore");
  set_attr(n.append_child("source"), file ? "file" : "dev", d.source);
  auto target = n.append_child("target");
  set_attr(target, "dev", d.target);
  set_attr(target, "bus", "virtio");
  if (d.readonly) n.append_child("readonly");
  if (!d.serial.empty()) set_text(n, "serial", d.serial);
  const IoTune& t = d.iotune;
  if (t != IoTune{}) {
    auto io = n.append_child("iotune");
    for (auto [name, v] : {std::pair{"total_bytes_sec", t.total_bytes_sec}, {"read_bytes_sec", t.read_bytes_sec},
                           {"write_bytes_sec", t.write_bytes_sec}, {"total_iops_sec", t.total_iops_sec},
                           {"read_iops_sec", t.read_iops_sec}, {"write_iops_sec", t.write_iops_sec}})
      if (v) set_text(io, name, std::to_string(v));
  }
  if (d.boot_order) set_attr(n.append_child("boot"), "order", std::to_string(*d.boot_order));
  if (!d.alias.empty()) set_attr(n.append_child("alias"), "name", d.alias);
  if (d.address) guest_address(n, *d.address);
}

void interface(pugi::xml_node parent, const Interface& i) {
  auto n = parent.append_child("interface");
  bool bridge = i.type == Interface::Type::bridge;
  set_attr(n, "type", bridge ? "bridge" : "ethernet");
  if (!i.mac.empty()) set_attr(n.append_child("mac"), "address", i.mac);
  if (!i.bridge.empty()) set_attr(n.append_child("source"), "bridge", i.bridge);
  if (!i.target.empty()) set_attr(n.append_child("target"), "dev", i.target);
  set_attr(n.append_child("model"), "type", "virtio");
  if (i.vhost || i.queues > 1) {
    auto driver = n.append_child("driver");
    if (i.vhost) set_attr(driver, "name", *i.vhost ? "vhost" : "qemu");
    if (i.queues > 1) set_attr(driver, "queues", std::to_string(i.queues));
  }
  if (i.boot_order) set_attr(n.append_child("boot"), "order", std::to_string(*i.boot_order));
  if (!i.alias.empty()) set_attr(n.append_child("alias"), "name", i.alias);
  if (i.address) guest_address(n, *i.address);
}

}  // namespace

std::string to_xml(const DomainConfig& c) {
  pugi::xml_document doc;
  auto domain = doc.append_child("domain");
  set_attr(domain, "type", "kvm");
  set_text(domain, "name", c.name);
  if (c.uuid) set_text(domain, "uuid", *c.uuid);
  if (!c.title.empty()) set_text(domain, "title", c.title);
  if (!c.description.empty()) set_text(domain, "description", c.description);
  auto memory = domain.append_child("memory");
  set_attr(memory, "unit", "KiB");
  memory.text().set(std::to_string(c.memory_kib).c_str());
  if (c.current_memory_kib) {
    auto cur = domain.append_child("currentMemory");
    set_attr(cur, "unit", "KiB");
    cur.text().set(std::to_string(*c.current_memory_kib).c_str());
  }
  if (c.memory_backing) {
    const MemoryBacking& m = *c.memory_backing;
    auto mb = domain.append_child("memoryBacking");
    if (m.hugepages) {
      auto hp = mb.append_child("hugepages");
      if (m.page_kib) {
        auto page = hp.append_child("page");
        set_attr(page, "size", std::to_string(m.page_kib));
        set_attr(page, "unit", "KiB");
      }
    }
    if (m.nosharepages) mb.append_child("nosharepages");
    if (m.locked) mb.append_child("locked");
    if (m.prealloc) set_attr(mb.append_child("allocation"), "mode", "immediate");
  }
  auto vcpu = domain.append_child("vcpu");
  set_attr(vcpu, "placement", "static");
  vcpu.text().set(std::to_string(c.vcpus).c_str());

  if (c.iothreads) set_text(domain, "iothreads", std::to_string(c.iothreads));

  auto os = domain.append_child("os");
  auto type = os.append_child("type");
  set_attr(type, "arch", c.arch);
  // The versioned name as the user wrote it, unless it no longer matches the machine.
  bool name_fits = machine_from_name(c.machine_name) == c.machine;
  set_attr(type, "machine", name_fits ? c.machine_name : std::string(machine_type(c.machine)));
  type.text().set("hvm");
  if (c.firmware) {
    auto loader = os.append_child("loader");
    set_attr(loader, "readonly", c.firmware->readonly ? "yes" : "no");
    set_attr(loader, "type", "pflash");
    loader.text().set(c.firmware->loader.c_str());
    if (c.firmware->nvram) {
      auto nvram = os.append_child("nvram");
      if (!c.firmware->nvram_template.empty()) set_attr(nvram, "template", c.firmware->nvram_template);
      if (!c.firmware->nvram_path.empty()) nvram.text().set(c.firmware->nvram_path.c_str());
    }
  }
  if (!c.kernel.empty()) set_text(os, "kernel", c.kernel);
  if (!c.initrd.empty()) set_text(os, "initrd", c.initrd);
  if (!c.cmdline.empty()) set_text(os, "cmdline", c.cmdline);
  for (const auto& dev : c.boot_devs) set_attr(os.append_child("boot"), "dev", dev);
  if (c.acpi) domain.append_child("features").append_child("acpi");

  set_text(domain, "on_poweroff", "destroy");
  set_text(domain, "on_reboot", c.on_reboot == OnReboot::restart ? "restart" : "destroy");
  set_text(domain, "on_crash", "destroy");

  auto devices = domain.append_child("devices");
  if (!c.emulator.empty()) set_text(devices, "emulator", c.emulator);
  for (const auto& ctl : c.controllers) {
    auto n = devices.append_child("controller");
    set_attr(n, "type", "pci");
    set_attr(n, "index", std::to_string(ctl.index));
    set_attr(n, "model", ctl.model == PciController::Model::pcie_root      ? "pcie-root"
                         : ctl.model == PciController::Model::pcie_root_port ? "pcie-root-port"
                                                                             : "pci-root");
    if (ctl.chassis || ctl.port) {
      auto t = n.append_child("target");
      if (ctl.chassis) set_attr(t, "chassis", std::to_string(*ctl.chassis));
      if (ctl.port) set_attr(t, "port", fmt::format("{:#x}", *ctl.port));
    }
    if (ctl.address) guest_address(n, *ctl.address);
  }
  for (const auto& vs : c.virtio_serials) {
    auto n = devices.append_child("controller");
    set_attr(n, "type", "virtio-serial");
    set_attr(n, "index", std::to_string(vs.index));
    if (!vs.alias.empty()) set_attr(n.append_child("alias"), "name", vs.alias);
    if (vs.address) guest_address(n, *vs.address);
  }
  for (const auto& d : c.disks) disk(devices, d);
  for (const auto& i : c.interfaces) interface(devices, i);
  if (c.serial) {
    char_device(devices, "serial", *c.serial, nullptr);
    if (c.console) char_device(devices, "console", *c.serial, "serial");
  }
  if (c.virtio_console) {
    auto n = devices.append_child("console");
    set_attr(n, "type", "pty");
    auto target = n.append_child("target");
    set_attr(target, "type", "virtio");
    set_attr(target, "port", "0");
    if (!c.virtio_console->alias.empty()) set_attr(n.append_child("alias"), "name", c.virtio_console->alias);
  }
  for (const auto& dev : c.hostdevs) {
    auto n = devices.append_child("hostdev");
    set_attr(n, "mode", "subsystem");
    set_attr(n, "type", "pci");
    set_attr(n, "managed", dev.managed ? "yes" : "no");
    set_attr(n.append_child("driver"), "name", "vfio");
    auto addr = n.append_child("source").append_child("address");
    set_attr(addr, "domain", fmt::format("{:#06x}", dev.source.domain));
    set_attr(addr, "bus", fmt::format("{:#04x}", dev.source.bus));
    set_attr(addr, "slot", fmt::format("{:#04x}", dev.source.slot));
    set_attr(addr, "function", fmt::format("{:#x}", dev.source.function));
    if (!dev.alias.empty()) set_attr(n.append_child("alias"), "name", dev.alias);
    if (dev.rom_bar) set_attr(n.append_child("rom"), "bar", *dev.rom_bar ? "on" : "off");
    if (dev.boot_order) set_attr(n.append_child("boot"), "order", std::to_string(*dev.boot_order));
    if (dev.guest_address) guest_address(n, *dev.guest_address);
  }

  guest_devices(devices, c);
  display_devices(devices, c);

  std::ostringstream out;
  doc.save(out, "  ", pugi::format_indent | pugi::format_no_declaration);
  return out.str();
}

}  // namespace altovirt::config

// to_altovirt_args(): the altovirt command line for a DomainConfig, in QEMU's option syntax, which
// altovirt follows so that users and tools that know QEMU need nothing new.
#include <algorithm>
#include <fstream>
#include <set>
#include <random>

#include "altovirt/config/domain.h"

namespace altovirt::config {

std::string HostPciAddress::to_string() const {
  return fmt::format("{:04x}:{:02x}:{:02x}.{:x}", domain, bus, slot, function);
}

namespace {

// Every device of the domain that sits on a PCI bus, as (its guest address when the XML gave one,
// its alias): the one list of device kinds the address and alias rules below walk, so that a new
// kind is added here once. (The virtio console is a port of a virtio-serial controller, not a PCI
// function: device_aliases adds it.)
template <typename Fn>
void for_each_pci_device(const DomainConfig& c, Fn&& fn) {
  for (const auto& h : c.hostdevs) fn(h.guest_address, h.alias);
  for (const auto& d : c.disks) fn(d.address, d.alias);
  for (const auto& n : c.interfaces) fn(n.address, n.alias);
  for (const auto& v : c.virtio_serials) fn(v.address, v.alias);
  for (const auto& r : c.rngs) fn(r.address, r.alias);
  if (c.memballoon) fn(c.memballoon->address, c.memballoon->alias);
  if (c.vsock) fn(c.vsock->address, c.vsock->alias);
  if (c.video) fn(c.video->address, c.video->alias);
  for (const auto& i : c.inputs) fn(i.address, i.alias);
}

// Spare root ports, so that a running domain has somewhere to hot-plug (attach-device): libvirt
// leaves this to the user and virt-install adds them; altoctl makes sure that at least
// kSpareRootPorts ports are empty at start. They take the highest free slots of the root bus from
// 0x1e down (0x1f is the ICH9 LPC's slot on a real q35, which firmware looks for), so that the
// slots altovirt gives to devices without an address, counted up from 1, stay what they were.
constexpr unsigned kSpareRootPorts = 2;

// A root port altoctl adds gets chassis = its index (altovirt's default) unless another port has
// that chassis already (a <target chassis> of the user's): then the lowest free one. Two ports with
// one chassis and slot would be the same hot-plug slot to the guest (PCIe 7.5.3.9), which altovirt
// refuses.
void give_free_chassis(const DomainConfig& c, PciController& port) {
  std::set<uint32_t> taken;
  for (const auto& ctl : c.controllers)
    if (ctl.model == PciController::Model::pcie_root_port) taken.insert(ctl.chassis.value_or(ctl.index));
  if (!taken.contains(port.index)) return;
  uint32_t chassis = 1;
  while (taken.contains(chassis)) ++chassis;
  port.chassis = chassis;
}

void add_spare_root_ports(DomainConfig& c, const std::set<uint32_t>& used) {
  unsigned empty = 0, auto_slots = 0;
  uint32_t highest = 0;
  std::set<uint32_t> root_slots;  // root-bus slots named by an address
  auto on_root = [&](const std::optional<GuestPciAddress>& a) {
    if (!a) ++auto_slots;
    else if (a->bus == 0) root_slots.insert(a->slot);
  };
  for (const auto& ctl : c.controllers) {
    highest = std::max(highest, ctl.index);
    if (ctl.model != PciController::Model::pcie_root_port) continue;
    if (!used.contains(ctl.index)) ++empty;
    on_root(ctl.address);
  }
  for_each_pci_device(c, [&](const std::optional<GuestPciAddress>& a, const std::string&) { on_root(a); });
  if (c.virtio_serials.empty() && c.virtio_console) ++auto_slots;  // the controller libvirt adds
  // Slots 1..0x1e that neither an address names nor a device without one will take.
  unsigned spare_slots = 0x1e - static_cast<unsigned>(root_slots.size() - root_slots.count(0x1f));
  spare_slots = spare_slots > auto_slots ? spare_slots - auto_slots : 0;
  uint32_t slot = 0x1e;
  while (empty < kSpareRootPorts && spare_slots > 0 && highest < 255) {
    while (slot > 0 && root_slots.contains(slot)) --slot;
    if (slot == 0) break;
    PciController port;
    port.model = PciController::Model::pcie_root_port;
    port.index = ++highest;
    port.address = GuestPciAddress{0, 0, slot, 0, false};
    give_free_chassis(c, port);
    root_slots.insert(slot);
    c.controllers.push_back(port);
    ++empty;
    --spare_slots;
  }
}

}  // namespace

namespace {

// libvirt's aliases, the QMP ids that detach-device names: host devices hostdev0, hostdev1, ...;
// disks virtio-disk<i> and NICs net<i> by their position (the ids altovirt's command line always
// gave them), or the next free number when a user alias has that name.
void name_devices(DomainConfig& c) {
  std::set<std::string> aliases = device_aliases(c);
  unsigned next = 0;
  for (auto& h : c.hostdevs) {
    if (!h.alias.empty()) continue;
    while (aliases.contains(fmt::format("hostdev{}", next))) ++next;
    h.alias = fmt::format("hostdev{}", next++);
  }
  auto by_position = [&](auto& devices, std::string_view prefix) {
    for (size_t i = 0; i < devices.size(); ++i) {
      if (!devices[i].alias.empty()) continue;
      size_t n = i;
      while (aliases.contains(fmt::format("{}{}", prefix, n))) ++n;
      devices[i].alias = fmt::format("{}{}", prefix, n);
      aliases.insert(devices[i].alias);
    }
  };
  by_position(c.disks, "virtio-disk");
  by_position(c.interfaces, "net");
}

}  // namespace

std::set<std::string> device_aliases(const DomainConfig& c) {
  std::set<std::string> aliases;
  auto note = [&](const std::string& a) {
    if (!a.empty()) aliases.insert(a);
  };
  for_each_pci_device(c, [&](const std::optional<GuestPciAddress>&, const std::string& alias) { note(alias); });
  if (c.virtio_console) note(c.virtio_console->alias);
  return aliases;
}

std::set<uint32_t> occupied_root_ports(const DomainConfig& c) {
  std::set<uint32_t> used;
  auto occupy = [&](const std::optional<GuestPciAddress>& a) {
    if (a && a->bus != 0) used.insert(a->bus);
  };
  for_each_pci_device(c, [&](const std::optional<GuestPciAddress>& a, const std::string&) { occupy(a); });
  return used;
}

DomainConfig with_pci_addresses(const DomainConfig& config) {
  DomainConfig c = config;
  name_devices(c);
  if (!is_pcie(c.machine)) return c;
  std::set<uint32_t> used, ports;
  uint32_t highest = 0;
  for (const auto& ctl : c.controllers) {
    highest = std::max(highest, ctl.index);
    if (ctl.model == PciController::Model::pcie_root_port) ports.insert(ctl.index);
  }
  // Every device with a guest address behind a root port occupies that port (a root port has one slot).
  used = occupied_root_ports(c);
  for (auto& h : c.hostdevs) {
    if (h.guest_address) continue;
    auto free = std::find_if(ports.begin(), ports.end(), [&](uint32_t i) { return !used.contains(i); });
    uint32_t index;
    if (free != ports.end()) {
      index = *free;
    } else {
      index = ++highest;  // the parser caps indexes at 255; the machine's bus numbers are checked by altovirt
      PciController port;
      port.model = PciController::Model::pcie_root_port;
      port.index = index;
      give_free_chassis(c, port);
      c.controllers.push_back(port);
      ports.insert(index);
    }
    used.insert(index);
    h.guest_address = GuestPciAddress{0, index, 0, 0, false};
  }
  add_spare_root_ports(c, used);
  return c;
}

namespace {

// <rng>, <memballoon model='virtio'>, <vsock> as QEMU's options (libvirt's qemuBuildRNGCommandLine,
// qemuBuildMemballoonCommandLine, qemuBuildVsockCommandLine); ids as libvirt names them.
template <typename Placement>
Status guest_device_args(const DomainConfig& c, const Placement& placement, std::vector<std::string>& a) {
  for (size_t i = 0; i < c.rngs.size(); ++i) {
    const Rng& r = c.rngs[i];
    if (r.backend.find(',') != std::string::npos) return fail("rng backend path '{}' contains a comma", r.backend);
    std::string id = r.alias.empty() ? fmt::format("rng{}", i) : r.alias;
    std::string dev = fmt::format("virtio-rng-pci,rng=obj{},id={}", id, id);
    // libvirt: a rate without a period means 1000 ms.
    if (r.rate_bytes) dev += fmt::format(",max-bytes={},period={}", r.rate_bytes, r.rate_period_ms ? r.rate_period_ms : 1000);
    a.insert(a.end(), {"-object", fmt::format("rng-random,id=obj{},filename={}", id, r.backend), "-device",
                       dev + placement(r.address)});
  }
  if (c.memballoon) {
    const MemBalloon& b = *c.memballoon;
    std::string dev = fmt::format("virtio-balloon-pci,id={}", b.alias.empty() ? "balloon0" : b.alias);
    if (b.autodeflate) dev += ",deflate-on-oom=on";
    if (b.stats_period) dev += fmt::format(",guest-stats-polling-interval={}", *b.stats_period);
    a.insert(a.end(), {"-device", dev + placement(b.address)});
  }
  if (c.vsock) {
    const Vsock& v = *c.vsock;
    std::string dev = fmt::format("vhost-vsock-pci,id={},guest-cid={}", v.alias.empty() ? "vsock0" : v.alias,
                                  v.auto_cid ? std::string("auto") : std::to_string(v.cid));
    a.insert(a.end(), {"-device", dev + placement(v.address)});
  }
  return ok();
}

// <graphics type='vnc'>, <video>, <input> (libvirt's qemuBuildGraphicsVNCCommandLine,
// qemuBuildVideoCommandLine, qemuBuildInputCommandLine). With <graphics> and no <video>, a
// virtio-gpu is added (libvirt adds a default video device too); with <graphics> and no virtio
// input, a keyboard and a tablet (where libvirt adds PS/2 ones), so that a VNC client can type and point.
template <typename Placement>
Status display_args(const DomainConfig& c, const RuntimePaths& paths, const Placement& placement,
                    std::vector<std::string>& a) {
  if (c.graphics) {
    const Graphics& g = *c.graphics;
    std::string vnc = !g.socket.empty() ? "unix:" + g.socket
                      : g.autoport      ? g.listen + ":0,to=99"
                                        : fmt::format("{}:{}", g.listen, g.port - 5900);
    if (!g.passwd.empty()) {
      if (paths.vnc_password.empty()) return fail("<graphics passwd>: no file to hand the password over in");
      if (paths.vnc_password.find(',') != std::string::npos)
        return fail("VNC password file path '{}' contains a comma", paths.vnc_password);
      a.insert(a.end(), {"-object", "secret,id=vnc0-secret,file=" + paths.vnc_password});
      vnc += ",password-secret=vnc0-secret";
    }
    a.insert(a.end(), {"-vnc", vnc});
  }
  if (c.video) {
    const Video& v = *c.video;
    std::string dev = fmt::format("virtio-gpu-pci,id={}", v.alias.empty() ? "video0" : v.alias);
    if (v.xres) dev += fmt::format(",xres={},yres={}", v.xres, v.yres);
    a.insert(a.end(), {"-device", dev + placement(v.address)});
  } else if (c.graphics && !c.video_none) {
    a.insert(a.end(), {"-device", "virtio-gpu-pci,id=video0"});
  }
  std::vector<Input> inputs = c.inputs;
  if (c.graphics && inputs.empty()) inputs = {Input{Input::Kind::keyboard, {}, {}}, Input{Input::Kind::tablet, {}, {}}};
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Input& in = inputs[i];
    std::string dev = fmt::format("{},id={}", in.kind == Input::Kind::keyboard ? "virtio-keyboard-pci" : "virtio-tablet-pci",
                                  in.alias.empty() ? fmt::format("input{}", i) : in.alias);
    a.insert(a.end(), {"-device", dev + placement(in.address)});
  }
  return ok();
}

}  // namespace

Result<std::vector<std::string>> to_altovirt_args(const DomainConfig& config, const RuntimePaths& paths) {
  const DomainConfig c = with_pci_addresses(config);
  if (paths.qmp_socket.empty()) return fail("to_altovirt_args: the QMP socket path is empty");
  // In QEMU's option lists a ',' separates options; a path with one would be cut (QEMU's ",," escape
  // is not worth supporting for paths altoctl chooses itself).
  if (paths.qmp_socket.find(',') != std::string::npos)
    return fail("QMP socket path '{}' contains a comma; choose a state directory without commas", paths.qmp_socket);
  if (c.serial && c.serial->type == Serial::Type::file && c.serial->path.find(',') != std::string::npos)
    return fail("serial file path '{}' contains a comma", c.serial->path);

  std::vector<std::string> a = {"-name", c.name, "-machine", std::string(machine_type(c.machine)),
                                "-m", fmt::format("{}M", c.memory_mib()), "-smp", std::to_string(c.vcpus)};
  if (!c.kernel.empty()) a.insert(a.end(), {"-kernel", c.kernel});
  // <loader>/<nvram>: QEMU's -drive if=pflash pair, as libvirt passes it.
  if (c.firmware) {
    const Firmware& f = *c.firmware;
    std::string vars = f.nvram_path.empty() ? paths.nvram : f.nvram_path;
    for (const std::string* path : std::initializer_list<const std::string*>{&f.loader, &vars})
      if (path->find(',') != std::string::npos) return fail("firmware path '{}' contains a comma", *path);
    a.insert(a.end(), {"-drive", fmt::format("if=pflash,format=raw,unit=0,file={}{}", f.loader, f.readonly ? ",readonly=on" : "")});
    if (f.nvram) {
      if (vars.empty()) return fail("<nvram> has no path and no default was given for it");
      a.insert(a.end(), {"-drive", fmt::format("if=pflash,format=raw,unit=1,file={}", vars)});
    }
  }
  // <memoryBacking>: QEMU's form, as libvirt writes it. altoctl uses the standard mounts: systemd's
  // /dev/hugepages (the default hugepage size, 2 MiB on x86) and /dev/hugepages1G for 1 GiB pages.
  if (c.memory_backing && c.memory_backing->hugepages) {
    const MemoryBacking& m = *c.memory_backing;
    std::string dir = m.page_kib == 1024 * 1024 ? "/dev/hugepages1G" : "/dev/hugepages";
    a.insert(a.end(), {"-object", fmt::format("memory-backend-file,id=pc.ram,size={}M,mem-path={}{}", c.memory_mib(),
                                              dir, m.prealloc ? ",prealloc=on" : "")});
    a[3] += ",memory-backend=pc.ram";  // -machine's value
  } else if (c.memory_backing && c.memory_backing->prealloc) {
    a.push_back("-mem-prealloc");
  }
  if (!c.initrd.empty()) a.insert(a.end(), {"-initrd", c.initrd});
  if (!c.cmdline.empty()) a.insert(a.end(), {"-append", c.cmdline});
  if (!c.acpi) a.push_back("-no-acpi");
  if (c.serial)
    a.insert(a.end(), {"-serial", c.serial->type == Serial::Type::pty ? "pty" : "file:" + c.serial->path});
  a.insert(a.end(), {"-qmp", fmt::format("unix:{},server,nowait", paths.qmp_socket)});
  if (!paths.log_file.empty()) a.insert(a.end(), {"-D", paths.log_file});
  if (c.on_reboot == OnReboot::destroy) a.push_back("-no-reboot");

  const std::string root_bus = is_pcie(c.machine) ? "pcie.0" : "pci.0";
  // Root ports get libvirt's ids, pci.<index>, so that bus='N' in a guest address names bus pci.N.
  for (const auto& ctl : c.controllers) {
    if (ctl.model != PciController::Model::pcie_root_port) continue;
    std::string dev = fmt::format("pcie-root-port,id=pci.{},chassis={},port={:#x},bus={}", ctl.index,
                                  ctl.chassis.value_or(ctl.index), ctl.port.value_or(0), root_bus);
    if (ctl.address) {
      dev += fmt::format(",addr={:#04x}.{:x}", ctl.address->slot, ctl.address->function);
      if (ctl.address->multifunction) dev += ",multifunction=on";
    }
    a.insert(a.end(), {"-device", dev});
  }
  // ",bus=..,addr=.." of a device with a guest address: root ports are bus pci.N.
  auto placement = [&](const std::optional<GuestPciAddress>& g) {
    if (!g) return std::string();
    std::string p = g->bus == 0 ? ",bus=" + root_bus : fmt::format(",bus=pci.{}", g->bus);
    p += fmt::format(",addr={:#04x}.{:x}", g->slot, g->function);
    if (g->multifunction) p += ",multifunction=on";
    return p;
  };
  // The firmware's boot order as bootindex=: per-device <boot order='N'/>, or <os><boot dev> giving
  // the disks (hd) or NICs (network) the next numbers in document order (the parser allows one of
  // the two forms).
  std::vector<std::optional<uint32_t>> disk_boot(c.disks.size()), nic_boot(c.interfaces.size());
  for (size_t i = 0; i < c.disks.size(); ++i) disk_boot[i] = c.disks[i].boot_order;
  for (size_t i = 0; i < c.interfaces.size(); ++i) nic_boot[i] = c.interfaces[i].boot_order;
  uint32_t next_boot = 1;
  for (const auto& dev : c.boot_devs)
    for (auto& slot : dev == "hd" ? disk_boot : nic_boot) slot = next_boot++;
  auto bootindex = [](const std::optional<uint32_t>& n) { return n ? fmt::format(",bootindex={}", *n) : std::string(); };
  for (const auto& h : c.hostdevs) {
    std::string dev = fmt::format("vfio-pci,host={}", h.source.to_string());
    if (!h.alias.empty()) dev += ",id=" + h.alias;
    dev += placement(h.guest_address);
    if (h.rom_bar == false) dev += ",rombar=0";
    dev += bootindex(h.boot_order);
    a.insert(a.end(), {"-device", dev});
  }

  // I/O threads are iothread1..iothreadN, as libvirt names them for QEMU.
  for (uint32_t t = 1; t <= c.iothreads; ++t) a.insert(a.end(), {"-object", fmt::format("iothread,id=iothread{}", t)});
  for (size_t i = 0; i < c.disks.size(); ++i) {
    const Disk& d = c.disks[i];
    if (d.source.find(',') != std::string::npos) return fail("disk image path '{}' contains a comma", d.source);
    std::string id = d.alias.empty() ? fmt::format("virtio-disk{}", i) : d.alias;
    std::string drive = fmt::format("file={},format=raw,if=none,id=drive-{}", d.source, id);
    if (d.readonly) drive += ",readonly=on";
    if (d.cache) drive += d.cache == Disk::Cache::none ? ",cache=none" : ",cache=writeback";
    if (d.io) drive += d.io == Disk::Io::io_uring ? ",aio=io_uring" : ",aio=threads";
    if (d.discard) drive += *d.discard ? ",discard=unmap" : ",discard=ignore";
    // QEMU's throttling option names for libvirt's <iotune> (libvirt's qemuBuildDriveStr does the same).
    const IoTune& t = d.iotune;
    for (auto [name, v] : {std::pair{"iops", t.total_iops_sec}, {"iops_rd", t.read_iops_sec}, {"iops_wr", t.write_iops_sec},
                           {"bps", t.total_bytes_sec}, {"bps_rd", t.read_bytes_sec}, {"bps_wr", t.write_bytes_sec}})
      if (v) drive += fmt::format(",{}={}", name, v);
    std::string dev = fmt::format("virtio-blk-pci,drive=drive-{},id={}", id, id) + placement(d.address);
    if (d.iothread) dev += fmt::format(",iothread=iothread{}", *d.iothread);
    if (!d.serial.empty()) dev += ",serial=" + d.serial;
    dev += bootindex(disk_boot[i]);
    a.insert(a.end(), {"-drive", drive, "-device", dev});
  }

  // Each NIC: its tap as -netdev hostnetN (libvirt's id for QEMU) and the virtio-net-pci on it.
  for (size_t i = 0; i < c.interfaces.size(); ++i) {
    const Interface& n = c.interfaces[i];
    if (n.target.empty()) return fail("interface {} has no tap name (<target dev='...'/>); altoctl names it before start", i);
    // libvirt's netdev id for QEMU: "host" + the NIC's alias (hostnet0 for net0).
    std::string id = n.alias.empty() ? fmt::format("net{}", i) : n.alias;
    std::string netdev = fmt::format("tap,id=host{},ifname={},script=no,downscript=no", id, n.target);
    if (n.vhost) netdev += *n.vhost ? ",vhost=on" : ",vhost=off";
    if (n.queues > 1) netdev += fmt::format(",queues={}", n.queues);
    std::string dev = fmt::format("virtio-net-pci,netdev=host{},id={}", id, id);
    if (!n.mac.empty()) dev += ",mac=" + n.mac;
    dev += placement(n.address);
    dev += bootindex(nic_boot[i]);
    a.insert(a.end(), {"-netdev", netdev, "-device", dev});
  }

  // A virtio console needs a virtio-serial controller; libvirt adds one when the XML has none.
  std::vector<VirtioSerialController> serials = c.virtio_serials;
  if (c.virtio_console && serials.empty()) serials.push_back({});
  // altovirt puts a virtconsole on the first virtio-serial-pci, which is controller 0 (the parser
  // checks that the domain has one), so no bus= is written.
  bool have_console_bus = false;
  for (const auto& vs : serials) {
    std::string id = vs.alias.empty() ? fmt::format("virtio-serial{}", vs.index) : vs.alias;
    if (vs.index == 0 && !have_console_bus) {
      have_console_bus = true;
      a.insert(a.end(), {"-device", fmt::format("virtio-serial-pci,id={}", id) + placement(vs.address)});
    }
  }
  for (const auto& vs : serials) {
    if (vs.index == 0) continue;
    std::string id = vs.alias.empty() ? fmt::format("virtio-serial{}", vs.index) : vs.alias;
    a.insert(a.end(), {"-device", fmt::format("virtio-serial-pci,id={}", id) + placement(vs.address)});
  }
  if (c.virtio_console) {
    if (!have_console_bus) return fail("the virtio console is port 0 of virtio-serial controller index 0, which the domain lacks");
    std::string id = c.virtio_console->alias.empty() ? "console0" : c.virtio_console->alias;
    a.insert(a.end(), {"-chardev", fmt::format("pty,id=char{}", id), "-device",
                       fmt::format("virtconsole,chardev=char{},id={}", id, id)});
  }
  AV_TRY(guest_device_args(c, placement, a));
  AV_TRY(display_args(c, paths, placement, a));
  return a;
}

std::string random_uuid() {
  std::random_device rd;  // reads the kernel's random source
  uint8_t b[16];
  for (auto& x : b) x = static_cast<uint8_t>(rd());
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);  // RFC 4122 section 4.4: version 4
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);  // variant 10
  return fmt::format("{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                     b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

}  // namespace altovirt::config

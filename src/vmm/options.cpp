#include "altovirt/vmm/options.h"

#include <map>
#include <tuple>

#include "altovirt/base/files.h"
#include "altovirt/base/parse.h"
#include "altovirt/pci/pci_bus.h"

namespace altovirt::vmm {

namespace {
constexpr uint64_t kMiB = 1024 * 1024, kGiB = 1024 * kMiB;
}  // namespace

namespace {

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t at = s.find(sep, start);
    out.emplace_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

// One element of a comma-separated option: "key=value", or a bare "key" (has_value false, value "").
struct KeyValue {
  std::string key, value;
  bool has_value;
};
KeyValue key_value(const std::string& part) {
  auto eq = part.find('=');
  if (eq == std::string::npos) return {part, "", false};
  return {part.substr(0, eq), part.substr(eq + 1), true};
}

Result<bool> parse_on_off(std::string_view option, std::string_view key, std::string_view v) {
  if (v == "on" || v == "true" || v == "yes") return true;
  if (v == "off" || v == "false" || v == "no") return false;
  return fail("{}: {}={} must be on or off", option, key, v);
}

Result<QmpSpec> parse_qmp(const std::string& text) {
  auto parts = split(text, ',');
  if (!parts[0].starts_with("unix:") || parts[0].size() <= 5)
    return fail("-qmp {}: expected unix:PATH[,server][,nowait] (a UNIX socket path)", text);
  QmpSpec q;
  q.path = parts[0].substr(5);
  q.wait = true;
  bool server = false;
  for (size_t i = 1; i < parts.size(); ++i) {
    if (parts[i] == "server" || parts[i] == "server=on") server = true;
    else if (parts[i] == "nowait" || parts[i] == "wait=off") q.wait = false;
    else if (parts[i] == "wait" || parts[i] == "wait=on") q.wait = true;
    else return fail("-qmp {}: unknown flag '{}' (accepted: server, nowait)", text, parts[i]);
  }
  if (!server) return fail("-qmp {}: altovirt only listens: add ',server,nowait'", text);
  return q;
}

// Where every -device goes, checked before anything is created: bus= names a root port, behind it
// addr= is slot 0, and no two devices share an address (the first one given keeps it).
Status check_placement(const std::vector<DeviceSpec>& devices, const DeviceRegistry& registry) {
  std::map<std::string, const DeviceSpec*> ids, buses;
  std::map<unsigned, const DeviceSpec*> boot;
  std::map<std::string, std::vector<const DeviceSpec*>> by_kind;
  for (auto& d : devices) {
    if (!d.id.empty()) {
      if (auto [it, fresh] = ids.emplace(d.id, &d); !fresh)
        return fail("-device {}: id={} is already used by -device {}", d.text, d.id, it->second->text);
    }
    if (d.bootindex) {
      if (auto [it, fresh] = boot.emplace(*d.bootindex, &d); !fresh)
        return fail("-device {}: bootindex={} is already given to -device {}; each boot device needs its own number",
                    d.text, *d.bootindex, it->second->text);
    }
    const DeviceKind* kind = registry.find(d.kind);
    by_kind[d.kind].push_back(&d);
    if (kind != nullptr && kind->provides_bus) {
      if (!d.bus.empty()) return fail("-device {}: bus={}: a {} sits on pcie.0", d.text, d.bus, d.kind);
      if (!d.id.empty()) buses[d.id] = &d;
    }
  }
  std::map<std::tuple<std::string, unsigned, unsigned>, const DeviceSpec*> taken;
  for (auto& d : devices) {
    if (!d.bus.empty()) {
      auto port = buses.find(d.bus);
      if (port == buses.end())
        return fail("-device {}: bus={} names no pcie-root-port; add -device pcie-root-port,id={},chassis=N or use bus=pcie.0",
                    d.text, d.bus, d.bus);
      if (d.slot.value_or(0) != 0)
        return fail("-device {}: addr={:#x}.{} behind root port {}: a root port's bus has one slot, 0 (omit addr= or give addr=0)",
                    d.text, *d.slot, d.function, d.bus);
    } else if (!d.slot) {
      continue;  // the machine picks a free slot
    } else if (*d.slot == 0) {
      return fail("-device {}: addr=0 of pcie.0 is the host bridge; pick another addr=", d.text);
    }
    auto key = std::make_tuple(d.bus, d.slot.value_or(0), d.function);
    if (auto [it, fresh] = taken.emplace(key, &d); !fresh) {
      if (!d.bus.empty())
        return fail("-device {}: root port {} already has -device {} at function {}; give each device its own root port",
                    d.text, d.bus, it->second->text, d.function);
      return fail("-device {}: addr={:#x}.{} of pcie.0 is already taken by -device {}; pick another addr=", d.text,
                  *d.slot, d.function, it->second->text);
    }
  }
  for (auto& [name, specs] : by_kind)
    if (const DeviceKind* kind = registry.find(name); kind != nullptr && kind->check_all) AV_TRY(kind->check_all(specs));
  return ok();
}

}  // namespace

DeviceRegistry& DeviceRegistry::global() {
  static DeviceRegistry r;
  return r;
}

const DeviceKind* DeviceRegistry::find(const std::string& kind) const {
  auto it = kinds_.find(kind);
  return it == kinds_.end() ? nullptr : &it->second;
}

std::string DeviceRegistry::names() const {
  if (kinds_.empty()) return "(none in this build)";
  std::string s;
  for (auto& [name, k] : kinds_) s += (s.empty() ? "" : ", ") + name;
  return s;
}

Result<DriveSpec> parse_drive(const std::string& text) {
  DriveSpec d;
  d.text = text;
  std::string where = "-drive " + text;
  for (auto& part : split(text, ',')) {
    auto [key, value, has_value] = key_value(part);
    if (!has_value || key.empty()) return fail("{}: '{}' is not key=value", where, part);
    auto limit = [&](uint64_t& field) -> Status {
      AV_TRY_ASSIGN(field, parse_uint(value, where + ": " + key));
      return ok();
    };
    if (key == "file") {
      if (value.empty()) return fail("{}: file= must name an image file or block device", where);
      d.file = value;
    } else if (key == "id") {
      d.id = value;
    } else if (key == "format") {
      // qcow2 and the rest are a later step; naming them must not silently treat them as raw.
      if (value != "raw") return fail("{}: format={} is not supported (only format=raw)", where, value);
      d.format = value;
    } else if (key == "if") {
      if (value != "none" && value != "pflash")
        return fail("{}: if={}: expected if=none (attach it with -device virtio-blk-pci,drive=ID) or if=pflash (UEFI "
                    "firmware)", where, value);
      d.interface = value;
    } else if (key == "unit") {
      AV_TRY_ASSIGN(uint64_t u, parse_uint(value, where + ": unit"));
      if (u > 1) return fail("{}: unit={}: a firmware has unit 0 (its code) and unit 1 (its variables)", where, value);
      d.unit = static_cast<unsigned>(u);
    } else if (key == "readonly") {
      AV_TRY_ASSIGN(d.readonly, parse_on_off(where, key, value));
    } else if (key == "cache") {
      if (value == "none") d.direct = true;
      else if (value == "writeback") d.direct = false;
      else return fail("{}: cache={}: expected none (O_DIRECT) or writeback", where, value);
    } else if (key == "discard") {
      // QEMU's names: unmap|on pass the guest's discards to the image, ignore|off do not offer them.
      if (value == "unmap" || value == "on") d.discard = true;
      else if (value == "ignore" || value == "off") d.discard = false;
      else return fail("{}: discard={}: expected unmap or ignore", where, value);
    } else if (key == "aio") {
      if (value == "io_uring") d.io_uring = true;
      else if (value == "threads") d.io_uring = false;
      else return fail("{}: aio={}: expected io_uring or threads", where, value);
    } else if (key == "iops" || key == "throttling.iops-total") {
      AV_TRY(limit(d.limits.iops));
    } else if (key == "iops_rd" || key == "throttling.iops-read") {
      AV_TRY(limit(d.limits.iops_rd));
    } else if (key == "iops_wr" || key == "throttling.iops-write") {
      AV_TRY(limit(d.limits.iops_wr));
    } else if (key == "bps" || key == "throttling.bps-total") {
      AV_TRY(limit(d.limits.bps));
    } else if (key == "bps_rd" || key == "throttling.bps-read") {
      AV_TRY(limit(d.limits.bps_rd));
    } else if (key == "bps_wr" || key == "throttling.bps-write") {
      AV_TRY(limit(d.limits.bps_wr));
    } else {
      return fail("{}: unknown key '{}' (accepted: file, format, if, unit, id, readonly, cache, aio, discard, iops, iops_rd, "
                  "iops_wr, bps, bps_rd, bps_wr)", where, key);
    }
  }
  if (d.file.empty()) return fail("{}: file=PATH is required", where);
  if (d.interface == "pflash") {
    // Flash is mapped memory, not a block device: the block-layer keys mean nothing for it.
    if (d.limits.any() || d.direct || !d.io_uring)
      return fail("{}: cache=, aio= and the iops/bps limits are for if=none disks, not a firmware flash", where);
    return d;
  }
  if (d.unit) return fail("{}: unit= is for if=pflash (a firmware's code or variables)", where);
  if (d.id.empty()) return fail("{}: id=ID is required (the device names it with drive=ID)", where);
  return d;
}

Result<ChardevSpec> parse_chardev(const std::string& text) {
  auto parts = split(text, ',');
  ChardevSpec c;
  c.text = text;
  std::string path;
  for (size_t i = 1; i < parts.size(); ++i) {
    auto [key, value, has_value] = key_value(parts[i]);
    if (key == "id" && !value.empty()) c.id = value;
    else if (key == "path" && !value.empty()) path = value;
    else return fail("-chardev {}: unknown or empty key '{}' (accepted: id, path)", text, parts[i]);
  }
  if (c.id.empty()) return fail("-chardev {}: id=ID is required (a device names it with chardev=ID)", text);
  const std::string& type = parts[0];
  if (type == "pty" || type == "stdio" || type == "null") c.backend = type == "null" ? "none" : type;
  else if (type == "file") c.backend = "file:" + path;
  else return fail("-chardev {}: backend '{}' is not supported (use pty, stdio, file,path=PATH or null)", text, type);
  if ((type == "file") == path.empty())
    return fail("-chardev {}: {}", text, type == "file" ? "file needs path=PATH" : "path= is only for file");
  return c;
}

Result<RngSpec> parse_rng_object(const std::string& text) {
  auto parts = split(text, ',');
  RngSpec r;
  r.text = text;
  for (size_t i = 1; i < parts.size(); ++i) {
    auto [key, value, has_value] = key_value(parts[i]);
    if (key == "id" && !value.empty()) r.id = value;
    else if (key == "filename" && !value.empty()) r.filename = value;
    else return fail("-object {}: unknown or empty key '{}' (accepted: id, filename)", text, parts[i]);
  }
  if (r.id.empty()) return fail("-object {}: id=ID is required (a virtio-rng-pci names it with rng=ID)", text);
  return r;
}

Result<MemoryBackendSpec> parse_memory_backend(const std::string& text) {
  auto parts = split(text, ',');
  MemoryBackendSpec m;
  m.text = text;
  std::string where = "-object " + text;
  if (parts[0] != "memory-backend-file")
    return fail("{}: '{}' is not supported (the memory backend is memory-backend-file)", where, parts[0]);
  bool have_size = false;
  for (size_t i = 1; i < parts.size(); ++i) {
    auto [key, value, has_value] = key_value(parts[i]);
    if (!has_value || value.empty())
      return fail("{}: '{}' needs a value (key=value)", where, parts[i]);
    if (key == "id") {
      m.id = value;
    } else if (key == "mem-path") {
      m.mem_path = value;
    } else if (key == "size") {
      // A bare number is bytes for -object, as in QEMU.
      AV_TRY_ASSIGN(m.size, parse_size(value, where + ": size"));
      have_size = true;
    } else if (key == "prealloc") {
      AV_TRY_ASSIGN(m.prealloc, parse_on_off(where, key, value));
    } else if (key == "share") {
      AV_TRY_ASSIGN(m.share, parse_on_off(where, key, value));
    } else {
      return fail("{}: unsupported key '{}' (accepted: id, size, mem-path, prealloc, share)", where, key);
    }
  }
  if (m.id.empty()) return fail("{}: id=ID is required (-machine q35,memory-backend=ID names it)", where);
  if (m.mem_path.empty()) return fail("{}: mem-path=DIR is required (e.g. mem-path=/dev/hugepages)", where);
  if (!have_size) return fail("{}: size=SIZE is required (the guest RAM size, e.g. size=1G)", where);
  return m;
}

Result<NetdevSpec> parse_netdev(const std::string& text) {
  auto parts = split(text, ',');
  NetdevSpec n;
  n.text = text;
  std::string where = "-netdev " + text;
  if (parts[0] != "tap") return fail("{}: netdev type '{}' is not supported (the only type is tap)", where, parts[0]);
  for (size_t i = 1; i < parts.size(); ++i) {
    auto [key, value, has_value] = key_value(parts[i]);
    if (key == "id" && !value.empty()) {
      n.id = value;
    } else if (key == "ifname") {
      // IFNAMSIZ is 16 with the terminating NUL.
      if (value.empty() || value.size() > 15 || value.find('/') != std::string::npos)
        return fail("{}: ifname={}: a tap name is 1..15 characters without '/'", where, value);
      n.ifname = value;
    } else if (key == "script" || key == "downscript") {
      if (value != "no")
        return fail("{}: {}={}: altovirt runs no scripts; set the tap up beforehand (or let altoctl do it) and give {}=no",
                    where, key, value, key);
    } else if (key == "vhost") {
      AV_TRY_ASSIGN(bool on, parse_on_off(where, key, value));
      n.vhost = on;
    } else if (key == "queues") {
      auto q = parse_uint(value, "queues");
      if (!q || *q == 0 || *q > 16) return fail("{}: queues={}: expected 1..16 queue pairs", where, value);
      n.queues = static_cast<unsigned>(*q);
    } else {
      return fail("{}: unknown or empty key '{}' (accepted: id, ifname, script, downscript, vhost, queues)", where, parts[i]);
    }
  }
  if (n.id.empty()) return fail("{}: id=ID is required (the device names it with netdev=ID)", where);
  if (n.ifname.empty()) return fail("{}: ifname=NAME is required (the tap, created when it does not exist)", where);
  return n;
}

Result<DeviceSpec> parse_device(const std::string& text, const DeviceRegistry& registry) {
  auto parts = split(text, ',');
  DeviceSpec d;
  d.kind = parts[0];
  d.text = text;
  const DeviceKind* kind = registry.find(d.kind);
  if (d.kind.empty() || kind == nullptr)
    return fail("-device {}: unknown device kind '{}'; available: {}", text, d.kind, registry.names());
  for (size_t i = 1; i < parts.size(); ++i) {
    auto [key, value, has_value] = key_value(parts[i]);
    if (!has_value || key.empty()) return fail("-device {}: '{}' is not key=value", text, parts[i]);
    if (key == "id") {
      d.id = value;
    } else if (key == "bus") {
      if (value.empty()) return fail("-device {}: bus= is empty: give pcie.0 or the id of a pcie-root-port", text);
      d.bus = value == "pcie.0" ? "" : value;
    } else if (key == "addr") {
      AV_TRY_ASSIGN(pci::PciAddress a, pci::parse_slot_function(value));
      d.slot = a.slot;
      d.function = a.function;
    } else if (key == "multifunction") {
      AV_TRY_ASSIGN(d.multifunction, parse_on_off("-device " + text, key, value));
    } else if (key == "bootindex") {
      if (!kind->boot_suffix)
        return fail("-device {}: a {} is not a boot device (bootindex= is for virtio-blk-pci, virtio-net-pci and vfio-pci)",
                    text, d.kind);
      auto n = parse_uint(value, "bootindex");
      if (!n || *n > 0xffff) return fail("-device {}: bootindex={}: expected a number 0..65535 (lowest boots first)", text, value);
      d.bootindex = static_cast<unsigned>(*n);
    } else if (std::find(kind->keys.begin(), kind->keys.end(), key) != kind->keys.end()) {
      if (d.props.contains(key)) return fail("-device {}: {}= given twice", text, key);
      d.props[key] = value;
    } else {
      std::string accepted = kind->boot_suffix ? "id, bus, addr, multifunction, bootindex" : "id, bus, addr, multifunction";
      for (auto& k : kind->keys) accepted += ", " + k;
      return fail("-device {}: {} has no option '{}' (accepted: {})", text, d.kind, key, accepted);
    }
  }
  if (d.function != 0 && !d.slot) return fail("-device {}: a function number needs addr=SLOT.FN", text);
  return d;
}

namespace {

// A -drive if=pflash: unit= as given, else the next free one (QEMU numbers pflash drives in order).
Status add_firmware_drive(VmOptions& o, DriveSpec d) {
  if (!o.firmware) o.firmware.emplace();
  FirmwareSpec& fw = *o.firmware;
  const bool have_code = !fw.code.file.empty();
  const unsigned unit = d.unit.value_or(have_code ? 1 : 0);
  d.unit = unit;
  if (unit == 0) {
    if (have_code) return fail("-drive {}: unit 0 (the firmware's code) is already -drive {}", d.text, fw.code.text);
    fw.code = std::move(d);
  } else {
    if (fw.vars) return fail("-drive {}: unit 1 (the firmware's variables) is already -drive {}", d.text, fw.vars->text);
    if (d.readonly) return fail("-drive {}: the firmware's variable store must be writable (drop readonly=on)", d.text);
    fw.vars = std::move(d);
  }
  return ok();
}

}  // namespace

Result<VmOptions> parse_options(const std::vector<std::string>& args, const DeviceRegistry& registry) {
  VmOptions o;
  bool have_m = false, mem_prealloc = false;
  std::string machine_backend, machine_text, mem_path;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string opt = args[i];
    if (opt.starts_with("--")) opt.erase(0, 1);  // QEMU accepts --opt too
    if (opt == "-no-reboot") {
      o.no_reboot = true;
      continue;
    }
    if (opt == "-S") {
      o.start_paused = true;
      continue;
    }
    if (opt == "-mem-prealloc") {
      mem_prealloc = true;
      continue;
    }
    static const char* const with_value[] = {"-name", "-machine", "-M", "-m", "-smp", "-kernel", "-initrd", "-append",
                                             "-serial", "-device", "-qmp", "-pidfile", "-D", "-drive", "-object", "-chardev",
                                             "-netdev", "-mem-path", "-sandbox", "-debugcon", "-vnc"};
    if (std::find_if(std::begin(with_value), std::end(with_value), [&](const char* s) { return opt == s; }) ==
        std::end(with_value))
      return fail("unknown option '{}' (see altovirt -help)", args[i]);
    if (i + 1 >= args.size()) return fail("{} needs a value (see altovirt -help)", opt);
    const std::string& v = args[++i];
    if (opt == "-name") {
      if (v.empty()) return fail("-name: the name must not be empty");
      o.name = v.starts_with("guest=") ? v.substr(6) : v;
    } else if (opt == "-machine" || opt == "-M") {
      auto parts = split(v, ',');
      std::string type = parts[0].starts_with("type=") ? parts[0].substr(5) : parts[0];
      // The board this build has (src/vmm/<arch>): q35 on x86_64, virt on aarch64.
#if defined(__aarch64__)
      if (type != "virt") return fail("{} {}: the only machine type on arm64 is virt", opt, v);
#else
      if (type != "q35") return fail("{} {}: the only machine type is q35", opt, v);
#endif
      for (size_t p = 1; p < parts.size(); ++p) {
        if (parts[p] == "accel=kvm") continue;
        if (parts[p].starts_with("memory-backend=") && parts[p].size() > 15) {
          machine_backend = parts[p].substr(15);
          machine_text = opt + " " + v;
          continue;
        }
        return fail("{} {}: unsupported property '{}' (accepted: accel=kvm, memory-backend=ID)", opt, v, parts[p]);
      }
    } else if (opt == "-m") {
      std::string size = v.starts_with("size=") ? v.substr(5) : v;
      // A bare number means MiB, as in QEMU.
      AV_TRY_ASSIGN(o.ram, parse_size(size, "-m", kMiB));
      if (o.ram < 64 * kMiB)
        return fail("-m {}: a guest needs at least 64M (forms: 512M, 2G, or a number of MiB)", v);
      if (o.ram % (2 * kMiB) != 0) return fail("-m {}: the size must be a multiple of 2 MiB", v);
      if (o.ram > 1024 * kGiB) return fail("-m {}: at most 1T", v);
      have_m = true;
    } else if (opt == "-smp") {
      std::string n = v.starts_with("cpus=") ? v.substr(5) : v;
      auto c = parse_uint(n, "-smp");
      if (!c || *c == 0 || *c > kMaxCpus) return fail("-smp {}: expected a CPU count 1..{} (e.g. -smp 2)", v, kMaxCpus);
      o.cpus = static_cast<unsigned>(*c);
    } else if (opt == "-kernel") {
      o.kernel = v;
    } else if (opt == "-initrd") {
      o.initrd = v;
    } else if (opt == "-append") {
      o.append = v;
    } else if (opt == "-serial") {
      if (v != "stdio" && v != "pty" && v != "none" && !(v.starts_with("file:") && v.size() > 5))
        return fail("-serial {}: expected stdio, pty, file:PATH or none", v);
      o.serial = v;
    } else if (opt == "-device") {
      AV_TRY_ASSIGN(DeviceSpec d, parse_device(v, registry));
      o.devices.push_back(std::move(d));
    } else if (opt == "-drive") {
      AV_TRY_ASSIGN(DriveSpec d, parse_drive(v));
      if (d.interface == "pflash") {
        AV_TRY(add_firmware_drive(o, std::move(d)));
        continue;
      }
      for (auto& other : o.drives)
        if (other.id == d.id) return fail("-drive {}: id={} is already used by -drive {}", v, d.id, other.text);
      o.drives.push_back(std::move(d));
    } else if (opt == "-chardev") {
      AV_TRY_ASSIGN(ChardevSpec c, parse_chardev(v));
      for (auto& other : o.chardevs)
        if (other.id == c.id) return fail("-chardev {}: id={} is already used by -chardev {}", v, c.id, other.text);
      o.chardevs.push_back(std::move(c));
    } else if (opt == "-object" && v.starts_with("rng-random,")) {
      AV_TRY_ASSIGN(RngSpec r, parse_rng_object(v));
      for (auto& other : o.rngs)
        if (other.id == r.id) return fail("-object {}: id={} is already used by -object {}", v, r.id, other.text);
      o.rngs.push_back(std::move(r));
    } else if (opt == "-object" && v.starts_with("secret,")) {
      AV_TRY_ASSIGN(SecretSpec sec, parse_secret_object(v));
      for (auto& other : o.secrets)
        if (other.id == sec.id) return fail("-object {}: id={} is already used by -object {}", v, sec.id, other.text);
      o.secrets.push_back(std::move(sec));
    } else if (opt == "-vnc") {
      if (v == "none") {
        o.vnc.reset();
        continue;
      }
      AV_TRY_ASSIGN(ui::VncSpec spec, ui::parse_vnc(v));
      o.vnc = std::move(spec);
    } else if (opt == "-object" && v.starts_with("memory-backend")) {
      AV_TRY_ASSIGN(MemoryBackendSpec m, parse_memory_backend(v));
      for (auto& other : o.memory_backends)
        if (other.id == m.id) return fail("-object {}: id={} is already used by -object {}", v, m.id, other.text);
      o.memory_backends.push_back(std::move(m));
    } else if (opt == "-sandbox") {
      AV_TRY_ASSIGN(o.sandbox, sandbox::parse_mode(v));
    } else if (opt == "-mem-path") {
      if (v.empty()) return fail("-mem-path: give a directory on a hugetlbfs mount (e.g. -mem-path /dev/hugepages)");
      mem_path = v;
    } else if (opt == "-netdev") {
      AV_TRY_ASSIGN(NetdevSpec n, parse_netdev(v));
      for (auto& other : o.netdevs)
        if (other.id == n.id) return fail("-netdev {}: id={} is already used by -netdev {}", v, n.id, other.text);
      o.netdevs.push_back(std::move(n));
    } else if (opt == "-object") {
      auto parts = split(v, ',');
      if (parts[0] != "iothread" || parts.size() != 2 || !parts[1].starts_with("id=") || parts[1].size() <= 3)
        return fail("-object {}: expected iothread,id=ID, rng-random,id=ID[,filename=PATH], secret,id=ID,file=PATH or "
                    "memory-backend-file,...", v);
      std::string id = parts[1].substr(3);
      if (std::find(o.iothreads.begin(), o.iothreads.end(), id) != o.iothreads.end())
        return fail("-object {}: iothread {} is declared twice", v, id);
      o.iothreads.push_back(id);
    } else if (opt == "-qmp") {
      AV_TRY_ASSIGN(QmpSpec q, parse_qmp(v));
      o.qmp = q;
    } else if (opt == "-pidfile") {
      o.pidfile = v;
    } else if (opt == "-D") {
      o.logfile = v;
    } else if (opt == "-debugcon") {
      if (v != "log" && !(v.starts_with("file:") && v.size() > 5))
        return fail("-debugcon {}: expected log (the firmware's debug lines in altovirt's log, -D) or file:PATH", v);
      o.debugcon = v;
    }
  }
  AV_TRY(check_placement(o.devices, registry));
  // One reader of standard input: two backends on stdio would split what is typed between them, a
  // few bytes to each (QEMU refuses it too).
  const ChardevSpec* stdio = nullptr;
  for (const auto& c : o.chardevs) {
    if (c.backend != "stdio") continue;
    if (stdio) return fail("-chardev {}: stdio is already the backend of -chardev {}; only one may read the terminal", c.text, stdio->text);
    if (o.serial == "stdio")
      return fail("-chardev {}: stdio is already the serial port's backend (-serial stdio, the default); "
                  "add -serial none (or -serial pty) to give the terminal to this chardev", c.text);
    stdio = &c;
  }
  // Guest RAM's backing, QEMU's rules: -machine memory-backend= names a memory-backend-file whose
  // size is the RAM size; -mem-path/-mem-prealloc are the older form and cannot be mixed with it.
  if (!machine_backend.empty()) {
    if (!mem_path.empty() || mem_prealloc)
      return fail("{}: -mem-path/-mem-prealloc cannot be combined with memory-backend= (use prealloc=on on the "
                  "-object)", machine_text);
    auto it = std::find_if(o.memory_backends.begin(), o.memory_backends.end(),
                           [&](const MemoryBackendSpec& m) { return m.id == machine_backend; });
    if (it == o.memory_backends.end())
      return fail("{}: no -object memory-backend-file,id={},... was given", machine_text, machine_backend);
    if (have_m && o.ram != it->size)
      return fail("{}: the size of -object {} ({} MiB) differs from -m ({} MiB): give the same size", machine_text,
                  it->text, it->size >> 20, o.ram >> 20);
    if (!have_m) {
      o.ram = it->size;
      if (o.ram < 64 * kMiB || o.ram % (2 * kMiB) != 0 || o.ram > 1024 * kGiB)
        return fail("-object {}: size= must be a multiple of 2 MiB between 64M and 1T", it->text);
      have_m = true;
    }
    o.ram_backing = RamBacking{it->mem_path, it->prealloc, it->share, "-object " + it->text};
  } else if (!o.memory_backends.empty()) {
    return fail("-object {}: a memory backend is used only as guest RAM: add -machine q35,memory-backend={}",
                o.memory_backends.front().text, o.memory_backends.front().id);
  } else if (!mem_path.empty() || mem_prealloc) {
    o.ram_backing = RamBacking{mem_path, mem_prealloc, false,
                               mem_path.empty() ? "-mem-prealloc" : "-mem-path " + mem_path};
  }
  if (o.firmware && o.firmware->code.file.empty())
    return fail("-drive {}: a firmware's variables (unit=1) need its code too (-drive if=pflash,unit=0,file=CODE,readonly=on)",
                o.firmware->vars->text);
  if (o.kernel.empty() && !o.firmware) {
#if defined(__aarch64__)
    return fail("-kernel IMAGE is required (an arm64 Linux Image, e.g. -kernel /boot/vmlinuz-$(uname -r)), or UEFI "
                "firmware with -drive if=pflash,format=raw,unit=0,file=/usr/share/AAVMF/AAVMF_CODE.fd,readonly=on and "
                "-drive if=pflash,format=raw,unit=1,file=VARS (a copy of /usr/share/AAVMF/AAVMF_VARS.fd)");
#else
    return fail("-kernel BZIMAGE is required (e.g. -kernel /boot/vmlinuz-$(uname -r)), or UEFI firmware with -drive "
                "if=pflash,format=raw,unit=0,file=/usr/share/OVMF/OVMF_CODE_4M.fd,readonly=on");
#endif
  }
  if (!o.debugcon.empty() && !o.firmware)
    return fail("-debugcon {}: the debug console (port 0x402) is the UEFI firmware's: add -drive if=pflash,...", o.debugcon);
  if (!o.initrd.empty() && o.kernel.empty()) return fail("-initrd {} needs -kernel", o.initrd);
  if (!o.append.empty() && o.kernel.empty()) return fail("-append needs -kernel");
  if (!have_m) return fail("-m SIZE is required (e.g. -m 512M)");
  if (o.start_paused && !o.qmp)
    return fail("-S starts the VM paused and only QMP's cont runs it: add -qmp unix:PATH,server,nowait");
  if (o.vnc && !o.vnc->password_secret.empty() &&
      std::none_of(o.secrets.begin(), o.secrets.end(), [&](const SecretSpec& s) { return s.id == o.vnc->password_secret; }))
    return fail("-vnc {}: password-secret={} names no -object secret,id={},file=PATH", o.vnc->text,
                o.vnc->password_secret, o.vnc->password_secret);
  return o;
}

Result<SecretSpec> parse_secret_object(const std::string& text) {
  SecretSpec s;
  s.text = text;
  auto parts = split(text, ',');
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    if (p.starts_with("id=")) s.id = p.substr(3);
    else if (p.starts_with("data=")) s.data = p.substr(5);
    else if (p.starts_with("file=")) s.file = p.substr(5);
    else if (p == "format=raw") continue;
    else return fail("-object {}: unknown property '{}' (accepted: id=, data=, file=, format=raw)", text, p);
  }
  if (s.id.empty()) return fail("-object {}: a secret needs id=", text);
  if (s.data.empty() == s.file.empty())
    return fail("-object {}: give the secret as file=PATH (or data=TEXT, which shows in ps), one of them", text);
  return s;
}

Result<std::string> vnc_password(const VmOptions& o) {
  if (!o.vnc || o.vnc->password_secret.empty()) return std::string{};
  for (const auto& s : o.secrets) {
    if (s.id != o.vnc->password_secret) continue;
    std::string pw = s.data;
    if (!s.file.empty()) {
      auto text = read_file(s.file);
      if (!text) return std::unexpected(text.error().context("-object " + s.text));
      pw = *text;
      while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) pw.pop_back();
    }
    if (pw.empty()) return fail("-object {}: the VNC password is empty; write one into the file", s.text);
    return pw;
  }
  return fail("-vnc {}: password-secret={} names no -object secret", o.vnc->text, o.vnc->password_secret);
}

// The board's words in the usage text: the PC (q35) on x86, the virt board on arm64.
#if defined(__aarch64__)
constexpr const char* kUsageMachine = "virt";
constexpr const char* kUsageKernel = "IMAGE";
constexpr const char* kUsageCode = "AAVMF_CODE.fd";
constexpr const char* kUsageSerial = "the PL011 UART at 0x9000000 (SPI 1)";
#else
constexpr const char* kUsageMachine = "q35";
constexpr const char* kUsageKernel = "BZIMAGE";
constexpr const char* kUsageCode = "OVMF_CODE.fd";
constexpr const char* kUsageSerial = "the 16550A UART at 0x3f8 (IRQ 4)";
#endif

std::string usage() {
  return std::string("usage: altovirt [-name NAME] [-machine ") + kUsageMachine + "] -m SIZE[M|G] [-smp N] -kernel " +
         kUsageKernel + " [-initrd FILE]\n"
         "                [-append CMDLINE] [-serial stdio|pty|file:PATH|none] [-device KIND,key=value,...]...\n"
         "                [-qmp unix:PATH,server,nowait] [-S] [-no-reboot] [-pidfile PATH] [-D LOGFILE]\n"
         "                [-drive file=PATH,format=raw,if=none,id=ID[,readonly=on][,cache=none|writeback][,discard=unmap|ignore]\n"
         "                        [,aio=io_uring|threads][,iops=N][,bps=N]...]... [-object iothread,id=ID]...\n"
         "                [-drive if=pflash,format=raw,unit=0,file=" + kUsageCode + ",readonly=on\n"
         "                 [-drive if=pflash,format=raw,unit=1,file=VARS.fd]] [-debugcon log|file:PATH]\n"
         "                 (UEFI firmware; then -kernel is optional)\n"
         "                [-object rng-random,id=ID[,filename=PATH]]...\n"
         "                [-vnc :N|HOST:N|unix:PATH[,to=M][,password-secret=ID] -object secret,id=ID,file=PATH]\n"
         "                [-chardev pty|stdio|null,id=ID | -chardev file,id=ID,path=PATH]...\n"
         "                [-netdev tap,id=ID,ifname=NAME[,script=no][,downscript=no][,vhost=on|off][,queues=N]]...\n"
         "                [-object memory-backend-file,id=ID,size=SIZE,mem-path=DIR[,prealloc=on][,share=on]\n"
         "                 -machine " + kUsageMachine + ",memory-backend=ID] [-mem-path DIR] [-mem-prealloc] [-sandbox on|off|log]\n"
         "  -m SIZE        guest RAM (512M, 2G; a bare number is MiB; at least 64M)\n"
         "  -mem-path DIR  guest RAM from a file on DIR, a hugetlbfs mount (e.g. /dev/hugepages, /dev/hugepages1G)\n"
         "  -smp N         vCPUs (1.." + std::to_string(kMaxCpus) + ")\n"
         "  -serial        " + kUsageSerial + ": stdio (default), pty, file:PATH, none\n"
         "  -device        PCI devices; kinds: " + DeviceRegistry::global().names() + "\n"
         "                 (virtio-blk-pci, virtio-net-pci, vfio-pci: bootindex=N sets the firmware's boot order)\n"
         "  -S             build the machine but run no vCPU until QMP's cont (needs -qmp), as QEMU's -S\n"
         "  -no-reboot     exit instead of resetting when the guest reboots\n"
         "  -D LOGFILE     log to LOGFILE, and write the per-region exit counters there at exit\n"
         "  -debugcon      the firmware's debug console (port 0x402, QEMU's isa-debugcon): log puts its lines in\n"
         "                 the log, file:PATH in a file (a DEBUG build of OVMF prints there; Debian's prints nothing)\n"
         "  -vnc           the screen (-device virtio-gpu-pci), keyboard and tablet (virtio-keyboard-pci,\n"
         "                 virtio-tablet-pci) over VNC: :N is port 5900+N on 127.0.0.1; password-secret= asks for a password\n"
         "  -sandbox       seccomp allow-list per thread (default on: a forbidden system call stops altovirt,\n"
         "                 naming it); log: the kernel logs forbidden calls and they go through; off: none\n"
         "exit status: 0 guest powered off (or rebooted with -no-reboot, or SIGTERM), 1 VM error, 2 bad usage\n";
}

}  // namespace altovirt::vmm

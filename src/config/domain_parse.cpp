// parse_domain_xml(): libvirt domain XML (https://libvirt.org/formatdomain.html) to DomainConfig.
//
// The parser walks every element of the document. Each element is either understood (stored),
// skippable (dropped with a warning, only where the guest cannot tell the difference), or a problem.
// Problems are collected, not returned on the first one, so that one error lists everything a user
// has to change.
#include <pugixml.hpp>

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "altovirt/base/files.h"
#include "altovirt/config/domain.h"

namespace altovirt::config {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// An unsigned number as libvirt reads PCI address parts: strtoul with base 0, i.e. "0x1f" is hex,
// "017" is octal and "17" decimal (virXMLPropUInt(..., 0, ...) in libvirt's virpci address parser).
std::optional<uint64_t> parse_c_uint(std::string_view text) {
  text = trim(text);
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  } else if (text.size() > 1 && text[0] == '0') {
    base = 8;
    text.remove_prefix(1);
  }
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v, base);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

std::optional<uint64_t> parse_decimal(std::string_view text) {
  text = trim(text);
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v, 10);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

// Bytes per unit for libvirt's memory units (formatdomain.html, "Memory Allocation"): "b"/"bytes";
// "KB" = 10^3, "k"/"KiB" = 2^10, and likewise M, G, T, P, E. libvirt's virScaleInteger compares
// case-insensitively: a one-letter unit or "<letter>iB" is a power of 1024, "<letter>B" a power of 1000.
std::optional<uint64_t> memory_unit_bytes(std::string_view unit) {
  if (unit.empty()) return 1024;  // the default unit is KiB
  if (iequals(unit, "b") || iequals(unit, "byte") || iequals(unit, "bytes")) return 1;
  uint64_t base;
  if (unit.size() == 1) base = 1024;
  else if (unit.size() == 2 && (unit[1] == 'b' || unit[1] == 'B')) base = 1000;
  else if (unit.size() == 3 && iequals(unit.substr(1), "ib")) base = 1024;
  else return std::nullopt;
  static constexpr std::string_view kPrefixes = "kmgtpe";
  auto pos = kPrefixes.find(static_cast<char>(std::tolower(static_cast<unsigned char>(unit[0]))));
  if (pos == std::string_view::npos) return std::nullopt;
  uint64_t scale = 1;
  for (size_t i = 0; i <= pos; ++i) scale *= base;
  return scale;
}

// Reasons shown next to elements users commonly carry over from QEMU/libvirt VMs.
std::string_view unsupported_reason(std::string_view parent, std::string_view name) {
  if (parent == "devices") {
    if (name == "disk") return "altovirt has no emulated disks; pass an NVMe drive or controller through with <hostdev>";
    if (name == "interface") return "altovirt has no emulated NICs; pass a NIC or an SR-IOV VF through with <hostdev>";
    if (name == "memballoon") return "altovirt has no balloon device; use <memballoon model='none'/>";
    if (name == "video") return "altovirt has no display adapter; use <video><model type='none'/></video> or remove it";
    if (name == "console") return "only a console on the serial port (<target type='serial'/>) is supported";
    if (name == "controller") return "altovirt has only PCI controllers (pcie-root, pcie-root-port, pci-root)";
    if (name == "hostdev") return "only <hostdev mode='subsystem' type='pci'> with the vfio driver is supported";
  }
  if (parent.empty() && name == "memoryBacking") return "altovirt backs guest memory with ordinary anonymous memory";
  if (parent.empty() && name == "cpu") return "altovirt gives the guest the host CPU model; remove <cpu>";
  if (parent == "os" && (name == "loader" || name == "nvram")) return "altovirt boots the kernel in <os><kernel> directly, without firmware";
  return "not supported by altovirt";
}

class Parser {
 public:
  explicit Parser(std::string_view xml) {
    // Line starts, to turn pugixml's byte offsets into line numbers.
    line_starts_.push_back(0);
    for (size_t i = 0; i < xml.size(); ++i)
      if (xml[i] == '\n') line_starts_.push_back(i + 1);
  }

  size_t line_of(ptrdiff_t offset) const {
    if (offset < 0) return 0;
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), static_cast<size_t>(offset));
    return static_cast<size_t>(it - line_starts_.begin());
  }

  // Byte offset of the first character of a line (1-based).
  size_t line_start(size_t line) const { return line_starts_[line - 1]; }

  ParsedDomain parsed;
  std::vector<std::pair<size_t, std::string>> problems;  // (line, message)

  void problem(pugi::xml_node node, std::string_view location, std::string_view text) {
    problems.emplace_back(line_of(node.offset_debug()), fmt::format("{}: {}", location, text));
  }
  void warn(pugi::xml_node node, std::string_view location, std::string_view text) {
    parsed.warnings.push_back(fmt::format("line {}: {}: {}", line_of(node.offset_debug()), location, text));
  }

  // "devices/disk[1] (type='file', device='disk', target hda)": the element's path, its position
  // among siblings of the same name where it can repeat, and the attributes that tell it apart.
  static std::string location(std::string_view parent, pugi::xml_node node, bool indexed) {
    std::string loc = parent.empty() ? node.name() : fmt::format("{}/{}", parent, node.name());
    if (indexed) {
      size_t index = 1;
      for (auto s = node.previous_sibling(node.name()); s; s = s.previous_sibling(node.name())) ++index;
      loc += fmt::format("[{}]", index);
    }
    return loc;
  }
  static std::string describe(pugi::xml_node node) {
    std::vector<std::string> parts;
    for (const char* attr : {"type", "device", "model", "mode", "name"})
      if (auto a = node.attribute(attr)) parts.push_back(fmt::format("{}='{}'", attr, a.value()));
    if (auto target = node.child("target")) {
      if (auto dev = target.attribute("dev")) parts.push_back(fmt::format("target {}", dev.value()));
      else if (auto type = target.attribute("type")) parts.push_back(fmt::format("target type '{}'", type.value()));
    }
    if (auto model = node.child("model"); model && model.attribute("type"))
      parts.push_back(fmt::format("model '{}'", model.attribute("type").value()));
    if (parts.empty()) return "";
    std::string out = " (";
    for (size_t i = 0; i < parts.size(); ++i) out += (i ? ", " : "") + parts[i];
    return out + ")";
  }

  void unsupported(std::string_view parent, pugi::xml_node node, bool indexed) {
    problem(node, location(parent, node, indexed) + describe(node), unsupported_reason(parent, node.name()));
  }
  void skip(std::string_view parent, pugi::xml_node node, bool indexed, std::string_view why) {
    warn(node, location(parent, node, indexed) + describe(node), fmt::format("skipped: {}", why));
  }

  // Reports every attribute of `node` that is not in `allowed` (namespace declarations aside).
  void check_attrs(pugi::xml_node node, std::string_view loc, std::initializer_list<std::string_view> allowed) {
    for (auto a : node.attributes()) {
      std::string_view n = a.name();
      if (n.starts_with("xmlns")) continue;
      if (std::find(allowed.begin(), allowed.end(), n) == allowed.end())
        problem(node, loc, fmt::format("attribute {}='{}' is not supported by altovirt", n, a.value()));
    }
  }
  // Reports every child element; for elements that must be empty.
  void check_no_children(pugi::xml_node node, std::string_view loc) {
    for (auto c : node.children())
      if (c.type() == pugi::node_element) unsupported(loc, c, false);
  }
  // The first occurrence of a singleton element; later ones are problems.
  bool first_of_its_name(pugi::xml_node node, std::string_view loc) {
    if (node.previous_sibling(node.name())) {
      problem(node, loc, fmt::format("<{}> appears more than once", node.name()));
      return false;
    }
    return true;
  }

  std::optional<uint64_t> number_attr(pugi::xml_node node, std::string_view loc, const char* attr, uint64_t max,
                                      bool required = true) {
    auto a = node.attribute(attr);
    if (!a) {
      if (required) problem(node, loc, fmt::format("attribute {} is missing", attr));
      return std::nullopt;
    }
    auto v = parse_c_uint(a.value());
    if (!v) {
      problem(node, loc, fmt::format("{}='{}' is not a number (use hex with 0x, or decimal)", attr, a.value()));
      return std::nullopt;
    }
    if (*v > max) {
      problem(node, loc, fmt::format("{}='{}' is out of range (at most {:#x})", attr, a.value(), max));
      return std::nullopt;
    }
    return v;
  }

  // <address domain bus slot function/> of a host device's <source>.
  std::optional<HostPciAddress> host_address(pugi::xml_node node, std::string_view loc) {
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

  // A guest <address type='pci' .../>.
  std::optional<GuestPciAddress> guest_address(pugi::xml_node node, std::string_view loc) {
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

  void parse(pugi::xml_node domain) {
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
      } else if (n == "seclabel" || n == "metadata" || n == "iothreads" || n == "resource" || n == "cputune") {
        skip("", node, false, n == "seclabel"  ? "altovirt applies no security labels"
                              : n == "metadata" ? "application metadata is not kept"
                              : n == "cputune"  ? "altovirt does not pin or tune host threads"
                              : n == "resource" ? "altovirt does not place VMs in resource partitions"
                                                : "altovirt has no I/O threads");
      } else {
        unsupported("", node, false);
      }
    }
    if (!have_name) problem(domain, "domain", "<name> is missing");
    if (!have_memory) problem(domain, "domain", "<memory> is missing");
    if (!have_os) problem(domain, "domain", "<os> is missing (altovirt needs <os><kernel>)");
    validate(domain);
  }

  std::optional<uint64_t> memory_kib(pugi::xml_node node, std::string_view loc) {
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

  void parse_vcpu(pugi::xml_node node, std::string_view loc) {
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

  void parse_os(pugi::xml_node os) {
    DomainConfig& c = parsed.config;
    check_attrs(os, "os", {});
    pugi::xml_node boot_node;
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
        if (auto arch = node.attribute("arch"); arch && std::string_view(arch.value()) != "x86_64")
          problem(node, loc, fmt::format("arch='{}' is not supported (altovirt runs x86_64 guests)", arch.value()));
        std::string_view machine = node.attribute("machine").value();
        c.machine_name = machine.empty() ? "pc" : std::string(machine);
        // Without a machine libvirt uses QEMU's default for x86_64, which is pc.
        if (auto m = machine_from_name(c.machine_name)) c.machine = *m;
        else problem(node, loc, fmt::format("machine='{}' is not supported (use q35 or pc)", machine));
      } else if (n == "kernel" || n == "initrd" || n == "cmdline") {
        if (!first_of_its_name(node, loc)) continue;
        check_attrs(node, loc, {});
        std::string value = node.text().get();
        if (n != "cmdline" && value.empty()) problem(node, loc, "the path is empty");
        (n == "kernel" ? c.kernel : n == "initrd" ? c.initrd : c.cmdline) = value;
      } else if (n == "boot") {
        boot_node = node;
      } else {
        unsupported("os", node, false);
      }
    }
    if (!have_type) problem(os, "os", "<type> is missing (use <type arch='x86_64' machine='q35'>hvm</type>)");
    if (c.kernel.empty()) problem(os, "os", "<kernel> is missing: altovirt boots a Linux kernel directly and has no firmware");
    else if (boot_node) skip("os", boot_node, false, "the kernel in <os><kernel> is booted directly");
  }

  void parse_features(pugi::xml_node features) {
    check_attrs(features, "features", {});
    for (auto node : features.children()) {
      if (node.type() != pugi::node_element) continue;
      std::string_view n = node.name();
      std::string loc = location("features", node, false);
      if (n == "acpi") {
        check_attrs(node, loc, {});
        check_no_children(node, loc);
        parsed.config.acpi = true;
      } else if (n == "apic" || n == "pae") {
        // The guest always has a local APIC and (being x86_64) PAE; these only state that.
        check_attrs(node, loc, {});
        check_no_children(node, loc);
      } else {
        unsupported("features", node, false);
      }
    }
  }

  void parse_clock(pugi::xml_node clock) {
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

  void parse_devices(pugi::xml_node devices) {
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
      } else if (n == "memballoon" && std::string_view(node.attribute("model").value()) == "none") {
        check_attrs(node, loc, {"model"});
        check_no_children(node, loc);  // altovirt has no balloon, which is what model='none' asks
      } else if (n == "video" && node.child("model") &&
                 std::string_view(node.child("model").attribute("type").value()) == "none") {
        check_attrs(node, loc, {});  // no display adapter, which is what model type='none' asks
      } else if (n == "graphics") {
        skip("devices", node, true, "altovirt has no display; the guest sees no display adapter either way");
      } else if (n == "input" && std::string_view(node.attribute("bus").value()) == "ps2") {
        skip("devices", node, true, "PS/2 input is implicit on x86 and cannot be configured");
      } else if (n == "audio") {
        skip("devices", node, true, "an audio backend alone adds no guest device");
      } else {
        unsupported("devices", node, true);
      }
    }
    for (auto node : consoles) parse_console(node, location("devices", node, true));
  }

  std::optional<Serial> char_source(pugi::xml_node node, std::string_view loc) {
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

  void parse_serial(pugi::xml_node node, const std::string& loc) {
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

  void parse_console(pugi::xml_node node, const std::string& loc) {
    DomainConfig& c = parsed.config;
    pugi::xml_node target = node.child("target");
    std::string_view ttype = target.attribute("type").value();
    // libvirt: on x86 a console without a target type, or with type='serial', is the first serial
    // port; a 'virtio' (hvc) or other console is a device of its own.
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

  void parse_controller(pugi::xml_node node, const std::string& loc) {
    std::string_view type = node.attribute("type").value();
    std::string_view model = node.attribute("model").value();
    if (type == "usb" && model == "none") {
      check_attrs(node, loc, {"type", "model", "index"});
      check_no_children(node, loc);  // no USB controller, which is what model='none' asks
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
        // libvirt writes chassis (= index) and port; altovirt numbers its root ports the same way.
        check_attrs(child, cloc, {"chassis", "port"});
        if (auto ch = child.attribute("chassis"); ch && parse_c_uint(ch.value()) != ctl.index)
          problem(child, cloc, fmt::format("chassis='{}' must equal the controller index {}", ch.value(), ctl.index));
        if (auto port = child.attribute("port"))
          warn(child, cloc, fmt::format("port='{}' ignored: altovirt numbers root port links itself", port.value()));
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

  void parse_hostdev(pugi::xml_node node, const std::string& loc) {
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

  // Rules that involve several elements.
  void validate(pugi::xml_node domain) {
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

    std::set<uint32_t> root_ports;
    for (const auto& ctl : c.controllers) {
      bool q35_only = ctl.model != PciController::Model::pci_root;
      if (q35_only != (c.machine == Machine::q35))
        problem(domain.child("devices"), "devices",
                fmt::format("PCI controller index {} ({}) does not exist on machine {}", ctl.index,
                            ctl.model == PciController::Model::pci_root ? "pci-root" : ctl.model == PciController::Model::pcie_root ? "pcie-root" : "pcie-root-port",
                            c.machine == Machine::q35 ? "q35" : "pc"));
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

    std::set<std::string> aliases;
    std::map<HostPciAddress, size_t, decltype([](const HostPciAddress& a, const HostPciAddress& b) {
               return std::tie(a.domain, a.bus, a.slot, a.function) < std::tie(b.domain, b.bus, b.slot, b.function);
             })> sources;
    for (size_t i = 0; i < c.hostdevs.size(); ++i) {
      const Hostdev& dev = c.hostdevs[i];
      pugi::xml_node node = hostdev_nodes_[i];
      std::string loc = location("devices", node, true);
      if (auto [it, fresh] = sources.emplace(dev.source, i); !fresh)
        problem(node, loc, fmt::format("host device {} is already assigned by another <hostdev>", dev.source.to_string()));
      if (!dev.alias.empty() && !aliases.insert(dev.alias).second)
        problem(node, loc, fmt::format("alias '{}' is used twice", dev.alias));
      if (!dev.guest_address) continue;
      const GuestPciAddress& a = *dev.guest_address;
      if (a.bus != 0 && !root_ports.contains(a.bus)) {
        problem(node, loc, fmt::format("guest bus {:#04x} does not exist: add <controller type='pci' model='pcie-root-port' index='{}'/>", a.bus, a.bus));
        continue;
      }
      if (a.bus != 0 && a.slot != 0) {
        problem(node, loc, fmt::format("a pcie-root-port has one slot, 0x00; slot {:#04x} does not exist on bus {:#04x}", a.slot, a.bus));
        continue;
      }
      claim(node, loc, a);
    }
  }

 private:
  std::vector<size_t> line_starts_;
  std::vector<pugi::xml_node> hostdev_nodes_;
};

}  // namespace

std::optional<Machine> machine_from_name(std::string_view name) {
  if (name == "q35" || name.starts_with("pc-q35-")) return Machine::q35;
  if (name == "pc" || name.starts_with("pc-i440fx-") ||
      (name.starts_with("pc-") && name.size() > 3 && std::isdigit(static_cast<unsigned char>(name[3]))))
    return Machine::pc;
  return std::nullopt;
}

Result<ParsedDomain> parse_domain_xml(std::string_view xml, std::string_view source) {
  Parser parser(xml);
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

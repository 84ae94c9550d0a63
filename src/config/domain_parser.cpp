// The domain XML parser's reporting (problems, warnings, locations) and value helpers.
#include "domain_parser.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace altovirt::config::detail {

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
    if (name == "console") return "only a console on the serial port (<target type='serial'/>) or a virtio console (<target type='virtio'/>) is supported";
    if (name == "controller") return "altovirt has only PCI controllers (pcie-root, pcie-root-port, pci-root) and virtio-serial";
    if (name == "hostdev") return "only <hostdev mode='subsystem' type='pci'> with the vfio driver is supported";
  }
  if (parent == "memoryBacking" && (name == "source" || name == "access" || name == "discard"))
    return "altovirt backs guest RAM with anonymous memory or, with <hugepages>, a private file on a hugetlbfs mount; "
           "remove it";
  if (parent.empty() && name == "cpu") return "altovirt gives the guest the host CPU model; remove <cpu>";
  return "not supported by altovirt";
}

Parser::Parser(std::string_view xml) {
  // Line starts, to turn pugixml's byte offsets into line numbers.
  line_starts_.push_back(0);
  for (size_t i = 0; i < xml.size(); ++i)
    if (xml[i] == '\n') line_starts_.push_back(i + 1);
}

size_t Parser::line_of(ptrdiff_t offset) const {
  if (offset < 0) return 0;
  auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), static_cast<size_t>(offset));
  return static_cast<size_t>(it - line_starts_.begin());
}

void Parser::problem(pugi::xml_node node, std::string_view location, std::string_view text) {
  problems.emplace_back(line_of(node.offset_debug()), fmt::format("{}: {}", location, text));
}

void Parser::warn(pugi::xml_node node, std::string_view location, std::string_view text) {
  parsed.warnings.push_back(fmt::format("line {}: {}: {}", line_of(node.offset_debug()), location, text));
}

std::string Parser::location(std::string_view parent, pugi::xml_node node, bool indexed) {
  std::string loc = parent.empty() ? node.name() : fmt::format("{}/{}", parent, node.name());
  if (indexed) {
    size_t index = 1;
    for (auto s = node.previous_sibling(node.name()); s; s = s.previous_sibling(node.name())) ++index;
    loc += fmt::format("[{}]", index);
  }
  return loc;
}

std::string Parser::describe(pugi::xml_node node) {
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

void Parser::unsupported(std::string_view parent, pugi::xml_node node, bool indexed) {
  problem(node, location(parent, node, indexed) + describe(node), unsupported_reason(parent, node.name()));
}

void Parser::skip(std::string_view parent, pugi::xml_node node, bool indexed, std::string_view why) {
  warn(node, location(parent, node, indexed) + describe(node), fmt::format("skipped: {}", why));
}

void Parser::check_attrs(pugi::xml_node node, std::string_view loc, std::initializer_list<std::string_view> allowed) {
  for (auto a : node.attributes()) {
    std::string_view n = a.name();
    if (n.starts_with("xmlns")) continue;
    if (std::find(allowed.begin(), allowed.end(), n) == allowed.end())
      problem(node, loc, fmt::format("attribute {}='{}' is not supported by altovirt", n, a.value()));
  }
}

void Parser::check_no_children(pugi::xml_node node, std::string_view loc) {
  for (auto c : node.children())
    if (c.type() == pugi::node_element) unsupported(loc, c, false);
}

bool Parser::first_of_its_name(pugi::xml_node node, std::string_view loc) {
  if (node.previous_sibling(node.name())) {
    problem(node, loc, fmt::format("<{}> appears more than once", node.name()));
    return false;
  }
  return true;
}

std::optional<uint64_t> Parser::number_attr(pugi::xml_node node, std::string_view loc, const char* attr, uint64_t max,
                                    bool required) {
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

}  // namespace altovirt::config::detail

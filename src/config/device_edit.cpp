// add_device(), find_device(), remove_device(): see device_edit.h.
#include "altovirt/config/device_edit.h"

#include <pugixml.hpp>

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "domain_parser.h"

namespace altovirt::config {

namespace {

size_t count_lines(std::string_view text) { return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')); }

// The device element of a file: exactly one element, one of the three virsh attaches.
struct DeviceText {
  DeviceElement kind;
  std::string text;  // the file with any XML declaration blanked (line numbers kept)
};

Result<DeviceText> read_device(std::string_view xml, std::string_view source) {
  pugi::xml_document doc;
  pugi::xml_parse_result r = doc.load_buffer(xml.data(), xml.size(), pugi::parse_default | pugi::parse_declaration,
                                             pugi::encoding_utf8);
  if (!r) {
    size_t line = count_lines(xml.substr(0, std::min(xml.size(), static_cast<size_t>(r.offset)))) + 1;
    return fail("{}: malformed XML at line {}: {}", source, line, r.description());
  }
  std::vector<pugi::xml_node> elements;
  std::string text(xml);
  for (auto n : doc.children()) {
    if (n.type() == pugi::node_element) elements.push_back(n);
    if (n.type() == pugi::node_declaration) {
      // A declaration cannot sit inside <devices>; blank it, keeping its newlines.
      size_t at = text.find("<?xml");
      size_t end = at == std::string::npos ? at : text.find("?>", at);
      if (end != std::string::npos)
        for (size_t i = at; i < end + 2; ++i)
          if (text[i] != '\n') text[i] = ' ';
    }
  }
  if (elements.size() != 1)
    return fail("{}: expected one device element (<hostdev>, <disk> or <interface>), found {}", source,
                elements.empty() ? std::string("none") : fmt::format("{} elements", elements.size()));
  std::string_view name = elements[0].name();
  DeviceElement kind;
  if (name == "hostdev") kind = DeviceElement::hostdev;
  else if (name == "disk") kind = DeviceElement::disk;
  else if (name == "interface") kind = DeviceElement::interface;
  else
    return fail("{}: <{}> cannot be attached or detached; altoctl attaches <hostdev>, <disk> and <interface>", source,
                name);
  return DeviceText{kind, std::move(text)};
}

// The parser's message for the combined document, with each "line N:" of the device file given as
// the file's own line, and the domain's other lines named as such.
std::string relocate_lines(const std::string& message, size_t first, size_t count, std::string_view source,
                           const std::string& domain) {
  std::string out;
  size_t pos = 0;
  bool head = true;
  while (pos <= message.size()) {
    size_t nl = message.find('\n', pos);
    std::string line = message.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    if (head) {
      out = fmt::format("{}: cannot add this device to domain '{}'; change or remove:", source, domain);
      head = false;
    } else {
      constexpr std::string_view kPrefix = "  line ";
      size_t n = 0;
      auto colon = line.find(':');
      if (line.starts_with(kPrefix) && colon != std::string::npos &&
          std::from_chars(line.data() + kPrefix.size(), line.data() + colon, n).ec == std::errc()) {
        std::string rest = line.substr(colon);
        if (n >= first && n < first + count) line = fmt::format("  line {}{}", n - first + 1, rest);
        else line = fmt::format("  in the domain (dumpxml line {}){}", n, rest);
      }
      out += "\n" + line;
    }
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return out;
}

bool same_mac(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

}  // namespace

std::string_view element_name(DeviceElement kind) {
  switch (kind) {
    case DeviceElement::hostdev: return "hostdev";
    case DeviceElement::disk: return "disk";
    case DeviceElement::interface: return "interface";
  }
  return "device";
}

Result<AddedDevice> add_device(const DomainConfig& base, std::string_view device_xml, std::string_view source) {
  AV_TRY_ASSIGN(DeviceText dev, read_device(device_xml, source));
  std::string doc = to_xml(base);
  // A domain without devices has an empty element; open it up.
  if (size_t empty = doc.rfind("<devices />"); empty != std::string::npos && doc.rfind("</devices>") == std::string::npos)
    doc.replace(empty, 11, "<devices>\n</devices>");
  size_t close = doc.rfind("</devices>");
  if (close == std::string::npos) return fail("domain '{}': its XML has no <devices>", base.name);
  size_t at = doc.rfind('\n', close);
  at = at == std::string::npos ? close : at + 1;
  size_t first = count_lines(std::string_view(doc).substr(0, at)) + 1;
  std::string insert = dev.text;
  if (insert.empty() || insert.back() != '\n') insert += '\n';
  doc.insert(at, insert);
  auto parsed = parse_domain_xml(doc, source);
  if (!parsed)
    return fail("{}", relocate_lines(parsed.error().message(), first, count_lines(insert), source, base.name));
  return AddedDevice{dev.kind, std::move(parsed->config), std::move(parsed->warnings)};
}

Result<FoundDevice> find_device(const DomainConfig& base, std::string_view device_xml, std::string_view source) {
  // Only what identifies the device is read (virsh accepts the element as dumpxml shows it, or a
  // part of it), so no other rule of a whole domain applies here.
  AV_TRY_ASSIGN(DeviceText dev, read_device(device_xml, source));
  pugi::xml_document doc;
  (void)doc.load_buffer(dev.text.data(), dev.text.size(), pugi::parse_default, pugi::encoding_utf8);
  pugi::xml_node node = doc.document_element();
  switch (dev.kind) {
    case DeviceElement::hostdev: {
      pugi::xml_node a = node.child("source").child("address");
      HostPciAddress want;
      for (auto [attr, field, max] : {std::tuple{"domain", &want.domain, 0xffffu}, {"bus", &want.bus, 0xffu},
                                      {"slot", &want.slot, 0x1fu}, {"function", &want.function, 7u}}) {
        const char* text = a.attribute(attr).value();
        auto v = *text ? detail::parse_c_uint(text) : std::optional<uint64_t>(0);
        if (!a || (*text == 0 && std::string_view(attr) != "domain") || !v || *v > max)
          return fail("{}: a <hostdev> is found by its <source><address domain bus slot function/>; {} is {}", source,
                      attr, *text ? fmt::format("'{}', not a valid number", text) : std::string("missing"));
        *field = static_cast<uint32_t>(*v);
      }
      for (size_t i = 0; i < base.hostdevs.size(); ++i)
        if (base.hostdevs[i].source == want) return FoundDevice{dev.kind, i};
      return fail("domain '{}' has no <hostdev> with host address {}", base.name, want.to_string());
    }
    case DeviceElement::disk: {
      std::string want = node.child("target").attribute("dev").value();
      if (want.empty()) return fail("{}: a <disk> is found by its <target dev=.../>, which is missing", source);
      for (size_t i = 0; i < base.disks.size(); ++i)
        if (base.disks[i].target == want) return FoundDevice{dev.kind, i};
      return fail("domain '{}' has no <disk> with target dev '{}'", base.name, want);
    }
    case DeviceElement::interface: {
      std::string want = node.child("mac").attribute("address").value();
      if (want.empty()) {
        if (base.interfaces.size() == 1) return FoundDevice{dev.kind, 0};
        return fail("domain '{}' has {} interfaces; give <mac address=.../> to say which one", base.name,
                    base.interfaces.size());
      }
      for (size_t i = 0; i < base.interfaces.size(); ++i)
        if (same_mac(base.interfaces[i].mac, want)) return FoundDevice{dev.kind, i};
      return fail("domain '{}' has no <interface> with MAC address {}", base.name, want);
    }
  }
  return fail("{}: not a device element", source);
}

DomainConfig remove_device(const DomainConfig& base, const FoundDevice& found) {
  DomainConfig c = base;
  auto drop = [&](auto& v) {
    if (found.index < v.size()) v.erase(v.begin() + static_cast<ptrdiff_t>(found.index));
  };
  switch (found.kind) {
    case DeviceElement::hostdev: drop(c.hostdevs); break;
    case DeviceElement::disk: drop(c.disks); break;
    case DeviceElement::interface: drop(c.interfaces); break;
  }
  return c;
}

}  // namespace altovirt::config

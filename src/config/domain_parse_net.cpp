// The domain XML parser's network interfaces: <interface type='ethernet'|'bridge'> with
// <model type='virtio'/>, a virtio-net-pci NIC on a tap (formatdomain.html, "Network interfaces").
#include <algorithm>
#include <cctype>

#include "domain_parser.h"

namespace altovirt::config::detail {
namespace {

// A tap name the kernel takes (IFNAMSIZ - 1 characters, no '/', no spaces) and altovirt's option
// list can carry (no ',').
bool valid_ifname(std::string_view n) {
  return !n.empty() && n.size() <= 15 && n != "." && n != ".." && std::all_of(n.begin(), n.end(), [](char ch) {
           return std::isgraph(static_cast<unsigned char>(ch)) && ch != '/' && ch != ',' && ch != ':';
         });
}

// "52:54:00:12:34:56" in either case; the result in lower case (libvirt keeps it that way). A
// multicast address (odd first byte) cannot be a NIC's own.
std::optional<std::string> normalized_mac(std::string_view m) {
  if (m.size() != 17) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < m.size(); ++i) {
    char ch = static_cast<char>(std::tolower(static_cast<unsigned char>(m[i])));
    if (i % 3 == 2 ? ch != ':' : !std::isxdigit(static_cast<unsigned char>(ch))) return std::nullopt;
    out += ch;
  }
  int first = std::stoi(out.substr(0, 2), nullptr, 16);
  if (first & 1) return std::nullopt;
  return out;
}

}  // namespace

void Parser::parse_interface(pugi::xml_node node, const std::string& loc) {
  std::string_view type = node.attribute("type").value();
  std::string where = loc + describe(node);
  if (type != "ethernet" && type != "bridge") {
    problem(node, where, "only <interface type='ethernet'> (a tap) and <interface type='bridge'> (a tap on a host bridge) "
                         "are supported; pass a host NIC through with <hostdev>");
    return;
  }
  check_attrs(node, loc, {"type"});
  Interface n;
  n.type = type == "ethernet" ? Interface::Type::ethernet : Interface::Type::bridge;
  bool ok = true;
  bool virtio = false;
  for (auto child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    std::string_view cn = child.name();
    std::string cloc = location(loc, child, false);
    if (cn == "mac") {
      check_attrs(child, cloc, {"address"});
      check_no_children(child, cloc);
      auto mac = normalized_mac(child.attribute("address").value());
      if (!mac) {
        problem(child, cloc, fmt::format("address '{}' is not a unicast MAC address like 52:54:00:12:34:56",
                                         child.attribute("address").value()));
        ok = false;
      } else {
        n.mac = *mac;
      }
    } else if (cn == "target") {
      check_attrs(child, cloc, {"dev", "managed"});
      check_no_children(child, cloc);
      n.target = child.attribute("dev").value();
      if (!valid_ifname(n.target)) {
        problem(child, cloc, fmt::format("dev '{}' is not a tap name: 1..15 characters, no '/', ',', ':' or spaces", n.target));
        ok = false;
      }
    } else if (cn == "source") {
      // StratoVirt's published example gives its type='ethernet' tap a <source bridge> too, meaning
      // the tap is put on that bridge; altovirt reads it so for both types.
      check_attrs(child, cloc, {"bridge"});
      check_no_children(child, cloc);
      n.bridge = child.attribute("bridge").value();
      if (!valid_ifname(n.bridge)) {
        problem(child, cloc, fmt::format("bridge '{}' is not an interface name", n.bridge));
        ok = false;
      }
    } else if (cn == "model") {
      check_attrs(child, cloc, {"type"});
      check_no_children(child, cloc);
      virtio = std::string_view(child.attribute("type").value()) == "virtio";
      if (!virtio) {
        problem(child, cloc, fmt::format("type='{}' is not supported: altovirt's NIC is virtio (type='virtio')",
                                         child.attribute("type").value()));
        ok = false;
      }
    } else if (cn == "driver") {
      check_attrs(child, cloc, {"name", "queues"});
      if (auto name = child.attribute("name")) {
        std::string_view v = name.value();
        if (v == "vhost") n.vhost = true;
        else if (v == "qemu") n.vhost = false;
        else {
          problem(child, cloc, fmt::format("name='{}' is not supported (vhost: the kernel's data path; qemu: altovirt's own)", v));
          ok = false;
        }
      }
      if (child.attribute("queues")) {
        auto q = number_attr(child, cloc, "queues", 16);
        if (!q || *q == 0) {
          if (q) problem(child, cloc, "queues='0': at least one queue pair");
          ok = false;
        } else {
          n.queues = static_cast<uint32_t>(*q);
        }
      }
    } else if (cn == "address") {
      if (auto a = guest_address(child, cloc)) n.address = a;
      else ok = false;
    } else if (cn == "alias") {
      n.alias = alias_of(child, cloc);
      if (n.alias.empty()) ok = false;
    } else if (cn == "boot") {
      n.boot_order = boot_order_of(child, cloc);
      if (!n.boot_order) ok = false;
    } else {
      unsupported(loc, child, false);
      ok = false;
    }
  }
  if (!virtio && ok) {
    problem(node, where, "<model type='virtio'/> is missing (altovirt's NIC is virtio-net)");
    ok = false;
  }
  if (n.type == Interface::Type::bridge && n.bridge.empty() && ok) {
    problem(node, where, "<source bridge='br0'/> is missing");
    ok = false;
  }
  if (n.type == Interface::Type::ethernet && n.target.empty() && ok) {
    problem(node, where, "<target dev='tap0'/> is missing: name the tap (it is created when it does not exist)");
    ok = false;
  }
  if (ok) {
    interface_nodes_.push_back(node);
    parsed.config.interfaces.push_back(n);
  }
}

}  // namespace altovirt::config::detail

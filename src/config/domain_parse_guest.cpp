// The domain XML parser for the standard VM's small virtio devices: <rng>, <memballoon
// model='virtio'> and <vsock> (https://libvirt.org/formatdomain.html, "Random number generator
// device", "Memory balloon device", "Vsock").
#include "domain_parser.h"

namespace altovirt::config::detail {

void Parser::parse_rng(pugi::xml_node node, const std::string& loc) {
  std::string where = loc + describe(node);
  check_attrs(node, where, {"model"});
  if (std::string_view(node.attribute("model").value()) != "virtio") {
    problem(node, where, "model must be 'virtio' (a virtio-rng device)");
    return;
  }
  Rng r;
  bool have_backend = false;
  for (auto child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    std::string_view cn = child.name();
    std::string cloc = location(loc, child, false);
    if (cn == "rate") {
      check_attrs(child, cloc, {"bytes", "period"});
      check_no_children(child, cloc);
      if (auto b = number_attr(child, cloc, "bytes", UINT32_MAX)) {
        if (*b == 0) problem(child, cloc, "bytes='0' would give the guest nothing; remove <rate> for no limit");
        r.rate_bytes = *b;
      }
      if (auto p = number_attr(child, cloc, "period", 3'600'000, false)) {
        if (*p == 0) problem(child, cloc, "period='0' is not a period; give milliseconds (default 1000)");
        r.rate_period_ms = *p;
      }
    } else if (cn == "backend") {
      check_attrs(child, cloc, {"model"});
      if (std::string_view(child.attribute("model").value()) != "random") {
        problem(child, cloc, fmt::format("model='{}' is not supported; use <backend model='random'>/dev/urandom</backend>",
                                         child.attribute("model").value()));
        continue;
      }
      std::string path(trim(child.text().get()));
      if (!path.empty()) r.backend = path;  // libvirt's default for an empty random backend is /dev/urandom
      if (r.backend.front() != '/') problem(child, cloc, fmt::format("'{}' is not an absolute path", r.backend));
      have_backend = true;
    } else if (!placement_child(child, cloc, r.alias, r.address)) {
      unsupported(loc, child, false);
    }
  }
  if (!have_backend) {
    problem(node, where, "<backend model='random'>/dev/urandom</backend> is missing");
    return;
  }
  placed_.push_back({node, r.address, r.alias});
  parsed.config.rngs.push_back(r);
}

void Parser::parse_memballoon(pugi::xml_node node, const std::string& loc) {
  std::string where = loc + describe(node);
  if (!first_of_its_name(node, where)) return;
  check_attrs(node, where, {"model", "autodeflate"});
  if (std::string_view(node.attribute("model").value()) != "virtio") {
    problem(node, where, "model must be 'virtio' or 'none'");
    return;
  }
  MemBalloon b;
  if (auto a = node.attribute("autodeflate")) {
    std::string_view v = a.value();
    if (v != "on" && v != "off") problem(node, where, fmt::format("autodeflate='{}' must be on or off", v));
    b.autodeflate = v == "on";
  }
  for (auto child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    std::string_view cn = child.name();
    std::string cloc = location(loc, child, false);
    if (cn == "stats") {
      check_attrs(child, cloc, {"period"});
      check_no_children(child, cloc);
      if (auto p = number_attr(child, cloc, "period", 86400)) b.stats_period = static_cast<uint32_t>(*p);
    } else if (!placement_child(child, cloc, b.alias, b.address)) {
      unsupported(loc, child, false);
    }
  }
  placed_.push_back({node, b.address, b.alias});
  parsed.config.memballoon = b;
}

void Parser::parse_vsock(pugi::xml_node node, const std::string& loc) {
  std::string where = loc + describe(node);
  if (!first_of_its_name(node, where)) return;
  check_attrs(node, where, {"model"});
  if (auto m = node.attribute("model"); m && std::string_view(m.value()) != "virtio") {
    problem(node, where, fmt::format("model='{}' is not supported (use virtio)", m.value()));
    return;
  }
  Vsock v;
  bool have_cid = false, ok = true;
  for (auto child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    std::string_view cn = child.name();
    std::string cloc = location(loc, child, false);
    if (cn == "cid") {
      check_attrs(child, cloc, {"auto", "address"});
      std::string_view a = child.attribute("auto").value();
      if (!a.empty() && a != "yes" && a != "no") {
        problem(child, cloc, fmt::format("auto='{}' must be yes or no", a));
        ok = false;
      }
      v.auto_cid = a == "yes";
      if (!v.auto_cid) {
        auto cid = number_attr(child, cloc, "address", 0xfffffffe);
        if (!cid) {
          ok = false;
        } else if (*cid < 3) {
          problem(child, cloc, fmt::format("address='{}': CIDs 0, 1 and 2 are reserved (hypervisor, local, host); use 3 or above, or auto='yes'", *cid));
          ok = false;
        } else {
          v.cid = *cid;
        }
      }
      have_cid = true;
    } else if (!placement_child(child, cloc, v.alias, v.address)) {
      unsupported(loc, child, false);
    }
  }
  if (!have_cid) {
    problem(node, where, "<cid auto='yes'/> or <cid address='N'/> is missing");
    return;
  }
  if (!ok) return;
  placed_.push_back({node, v.address, v.alias});
  parsed.config.vsock = v;
}

}  // namespace altovirt::config::detail

// The domain XML parser for the screen and its input: <graphics type='vnc'>, <video> and <input>
// (https://libvirt.org/formatdomain.html, "Graphical framebuffers", "Video devices", "Input devices").
#include <arpa/inet.h>

#include "domain_parser.h"

namespace altovirt::config::detail {

namespace {
bool ipv4(std::string_view text) {
  in_addr a{};
  return ::inet_pton(AF_INET, std::string(text).c_str(), &a) == 1;
}
}  // namespace

void Parser::parse_graphics(pugi::xml_node node, const std::string& loc) {
  std::string where = loc + describe(node);
  std::string_view type = node.attribute("type").value();
  if (type != "vnc") {
    problem(node, where, fmt::format("type='{}' is not supported; altovirt's display is VNC (type='vnc')", type));
    return;
  }
  if (!first_of_its_name(node, where)) return;
  check_attrs(node, where, {"type", "port", "autoport", "listen", "passwd", "socket", "sharePolicy", "keymap", "websocket"});
  Graphics g;
  std::string_view autoport = node.attribute("autoport").value();
  if (!autoport.empty() && autoport != "yes" && autoport != "no")
    problem(node, where, fmt::format("autoport='{}' must be yes or no", autoport));
  // libvirt: autoport='yes' wins over any port; port='-1' (or no port) means autoport too.
  std::string_view port = node.attribute("port").value();
  if (autoport != "yes" && !port.empty() && port != "-1") {
    auto p = number_attr(node, where, "port", 65535);
    if (p && *p < 5900) {
      problem(node, where, fmt::format("port='{}': VNC ports start at 5900 (display 0); use 5900 or above, or autoport='yes'", *p));
    } else if (p) {
      g.autoport = false;
      g.port = static_cast<uint32_t>(*p);
    }
  }
  if (std::string_view k = node.attribute("keymap").value(); !k.empty() && k != "en-us")
    problem(node, where, fmt::format("keymap='{}': altovirt maps keys for en-us only (clients send symbols; "
                                     "the guest's own layout applies)", k));
  if (auto w = node.attribute("websocket"); w && std::string_view(w.value()) != "-1")
    problem(node, where, "websocket= is not supported (no noVNC endpoint); remove it");
  g.passwd = node.attribute("passwd").value();
  if (g.passwd.size() > 8)
    warn(node, where, "passwd is longer than 8 characters; VNC authentication checks only the first 8");
  std::string listen = node.attribute("listen").value();
  if (auto s = node.attribute("socket")) g.socket = s.value();
  for (auto child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    std::string cloc = location(loc, child, false);
    if (std::string_view(child.name()) != "listen") {
      unsupported(loc, child, false);
      continue;
    }
    check_attrs(child, cloc, {"type", "address", "socket", "network"});
    check_no_children(child, cloc);
    std::string_view ltype = child.attribute("type").value();
    if (ltype == "address") {
      std::string a = child.attribute("address").value();
      if (!listen.empty() && !a.empty() && a != listen)
        problem(child, cloc, fmt::format("address='{}' differs from <graphics listen='{}'>; give one address", a, listen));
      if (!a.empty()) listen = a;
    } else if (ltype == "socket") {
      g.socket = child.attribute("socket").value();
      if (g.socket.empty()) problem(child, cloc, "type='socket' needs socket='/path/to/vnc.sock'");
    } else if (ltype == "none") {
      problem(child, cloc, "type='none' (no listener) is not supported; use type='socket'");
    } else {
      problem(child, cloc, fmt::format("type='{}' is not supported (use address or socket)", ltype));
    }
  }
  if (!listen.empty()) {
    if (listen == "localhost") listen = "127.0.0.1";
    if (!ipv4(listen)) problem(node, where, fmt::format("listen='{}' is not an IPv4 address (IPv6 and names are not served)", listen));
    g.listen = listen;
  }
  if (!g.socket.empty() && (g.socket.front() != '/' || g.socket.find(',') != std::string::npos))
    problem(node, where, fmt::format("socket='{}' must be an absolute path without commas", g.socket));
  if (g.passwd.find(',') != std::string::npos || g.passwd.find('\n') != std::string::npos)
    problem(node, where, "passwd must not contain a comma or a newline");
  parsed.config.graphics = g;
}

void Parser::parse_video(pugi::xml_node node, const std::string& loc) {
  std::string where = loc + describe(node);
  if (!first_of_its_name(node, where)) return;
  check_attrs(node, where, {});
  Video v;
  bool have_model = false;
  for (auto child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    std::string_view cn = child.name();
    std::string cloc = location(loc, child, false);
    if (cn == "model") {
      have_model = true;
      check_attrs(child, cloc, {"type", "heads", "primary", "vram", "vgamem", "ram"});
      std::string_view t = child.attribute("type").value();
      if (t == "none") {
        check_no_children(child, cloc);
        parsed.config.video_none = true;
        return;
      }
      if (t != "virtio") {
        problem(child, cloc, fmt::format("type='{}' is not supported; altovirt's display adapter is virtio (virtio-gpu)", t));
        return;
      }
      if (auto h = child.attribute("heads"); h && std::string_view(h.value()) != "1")
        problem(child, cloc, fmt::format("heads='{}': altovirt's virtio-gpu has one head", h.value()));
      if (auto p = child.attribute("primary"); p && std::string_view(p.value()) != "yes")
        problem(child, cloc, "primary='no': the only video device is the primary one");
      for (auto r : child.children()) {
        if (r.type() != pugi::node_element) continue;
        std::string rloc = location(cloc, r, false);
        if (std::string_view(r.name()) == "resolution") {
          check_attrs(r, rloc, {"x", "y"});
          auto x = number_attr(r, rloc, "x", 16384), y = number_attr(r, rloc, "y", 16384);
          if (x && y) {
            if (*x < 320 || *y < 200 || *x % 8 != 0)
              problem(r, rloc, fmt::format("{}x{}: at least 320x200, the width a multiple of 8", *x, *y));
            v.xres = static_cast<uint32_t>(*x);
            v.yres = static_cast<uint32_t>(*y);
          }
        } else if (std::string_view(r.name()) == "acceleration") {
          skip(cloc, r, false, "virtio-gpu here is 2D; acceleration settings do not apply");
        } else {
          unsupported(cloc, r, false);
        }
      }
    } else if (!placement_child(child, cloc, v.alias, v.address)) {
      unsupported(loc, child, false);
    }
  }
  if (!have_model) {
    problem(node, where, "<model type='virtio'/> is missing");
    return;
  }
  placed_.push_back({node, v.address, v.alias});
  parsed.config.video = v;
}

void Parser::parse_input(pugi::xml_node node, const std::string& loc) {
  std::string where = loc + describe(node);
  std::string_view type = node.attribute("type").value(), bus = node.attribute("bus").value();
  if (bus == "ps2") {
    skip("devices", node, true, "PS/2 input is implicit on x86 and cannot be configured");
    return;
  }
  check_attrs(node, where, {"type", "bus", "model"});
  if (bus != "virtio") {
    problem(node, where, fmt::format("bus='{}' is not supported; use bus='virtio' (altovirt has no USB)", bus));
    return;
  }
  Input in;
  if (type == "keyboard") in.kind = Input::Kind::keyboard;
  else if (type == "tablet") in.kind = Input::Kind::tablet;
  else {
    problem(node, where, fmt::format("type='{}' is not supported (keyboard or tablet; a tablet is the pointer)", type));
    return;
  }
  for (auto child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    if (!placement_child(child, location(loc, child, false), in.alias, in.address)) unsupported(loc, child, false);
  }
  placed_.push_back({node, in.address, in.alias});
  parsed.config.inputs.push_back(in);
}

}  // namespace altovirt::config::detail

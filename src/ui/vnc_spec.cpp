// parse_vnc: QEMU's -vnc syntax, the subset altovirt serves.
#include <string_view>

#include "altovirt/base/parse.h"
#include "altovirt/ui/vnc_server.h"

namespace altovirt::ui {

namespace {
constexpr std::string_view kForms = "accepted: :N, HOST:N, unix:PATH, each with ,to=M and ,password-secret=ID";
constexpr unsigned kMaxDisplay = 65535 - 5900;
}  // namespace

Result<VncSpec> parse_vnc(const std::string& text) {
  VncSpec spec;
  spec.text = text;
  std::string_view rest = text;
  auto comma = rest.find(',');
  std::string_view where = rest.substr(0, comma);
  rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
  if (where.starts_with("unix:")) {
    spec.options.unix_path = std::string(where.substr(5));
    if (spec.options.unix_path.empty()) return fail("-vnc {}: unix: needs a socket path ({})", text, kForms);
  } else {
    auto colon = where.rfind(':');
    if (colon == std::string_view::npos) return fail("-vnc {}: no display number ({})", text, kForms);
    std::string_view host = where.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
      return fail("-vnc {}: IPv6 addresses are not served; use an IPv4 address or unix:PATH", text);
    auto n = parse_uint(where.substr(colon + 1), "VNC display", kMaxDisplay);
    if (!n) return fail("-vnc {}: display '{}' is not a number 0..{} ({})", text, where.substr(colon + 1), kMaxDisplay, kForms);
    spec.options.host = host.empty() ? "127.0.0.1" : std::string(host);
    spec.options.display = static_cast<unsigned>(*n);
  }
  bool password_on = false;
  while (!rest.empty()) {
    comma = rest.find(',');
    std::string_view kv = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    auto eq = kv.find('=');
    std::string_view key = kv.substr(0, eq), value = eq == std::string_view::npos ? "" : kv.substr(eq + 1);
    if (key == "to") {
      auto m = parse_uint(value, "to", kMaxDisplay);
      if (!m || *m < spec.options.display)
        return fail("-vnc {}: to={} must be a display number from {} to {}", text, value, spec.options.display, kMaxDisplay);
      if (!spec.options.unix_path.empty()) return fail("-vnc {}: to= applies to TCP displays, not unix:", text);
      spec.options.to = static_cast<unsigned>(*m);
    } else if (key == "password-secret") {
      if (value.empty()) return fail("-vnc {}: password-secret= needs the id of an -object secret", text);
      spec.password_secret = std::string(value);
    } else if (key == "password") {
      if (value != "on" && value != "off") return fail("-vnc {}: password={} must be on or off", text, value);
      password_on = value == "on";
    } else {
      return fail("-vnc {}: unknown option '{}' ({})", text, key, kForms);
    }
  }
  if (password_on && spec.password_secret.empty())
    return fail("-vnc {}: password=on needs the password itself: add -object secret,id=ID,file=PATH and ,password-secret=ID",
                text);
  return spec;
}

}  // namespace altovirt::ui

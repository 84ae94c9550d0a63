// query-vnc, in QEMU's shape (qapi/ui.json VncInfo), which libvirt and monitoring tools read:
//   {"enabled": true, "host": "127.0.0.1", "service": "5901", "family": "ipv4"|"unix",
//    "auth": "vnc"|"none", "clients": [{"host": "127.0.0.1", "service": "40112", "family": "ipv4"}, ...]}
// or {"enabled": false} without -vnc.
#include "altovirt/ui/vnc_server.h"
#include "vm_control.h"

namespace altovirt::tool {

using qmp::Json;

Status register_vnc_commands(qmp::Server& server, vmm::ResetSurvivors& survivors) {
  return server.register_command({"query-vnc", {}, [&survivors](const Json&) -> Result<Json> {
    // survivors.vnc is set before the QMP thread starts and never changes afterwards.
    const ui::VncServer* vnc = survivors.vnc.get();
    if (vnc == nullptr) return Json{{"enabled", false}};
    const std::string& a = vnc->address();
    Json info = {{"enabled", true}, {"auth", vnc->password_required() ? "vnc" : "none"}};
    if (a.starts_with("unix:")) {
      info["host"] = a.substr(5);
      info["service"] = a.substr(5);
      info["family"] = "unix";
    } else {
      auto colon = a.rfind(':');
      info["host"] = a.substr(0, colon);
      info["service"] = a.substr(colon + 1);
      info["family"] = "ipv4";
    }
    Json clients = Json::array();
    for (const auto& c : vnc->client_list())
      clients.push_back({{"host", c.host}, {"service", c.service}, {"family", info["family"]}});
    info["clients"] = std::move(clients);
    return info;
  }});
}

}  // namespace altovirt::tool

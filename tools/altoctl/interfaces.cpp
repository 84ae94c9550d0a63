#include "interfaces.h"

#include <fmt/format.h>

#include "altovirt/host/net_tap.h"

namespace altoctl {

using namespace altovirt;

Result<config::DomainConfig> prepare_interfaces(const config::DomainConfig& config, std::vector<CreatedTap>& created) {
  config::DomainConfig c = config;
  // Checks first: nothing is created when any NIC cannot be set up.
  for (size_t i = 0; i < c.interfaces.size(); ++i) {
    const auto& n = c.interfaces[i];
    if (!n.bridge.empty() && !host::is_bridge(n.bridge))
      return fail("<interface> {}: <source bridge='{}'/>: {}; create it first (ip link add {} type bridge)", i + 1, n.bridge,
                  host::net_interface_exists(n.bridge) ? "the interface is not a bridge" : "no such bridge", n.bridge);
    if (!n.target.empty() && host::net_interface_exists(n.target) && !host::is_tap(n.target))
      return fail("<interface> {}: <target dev='{}'/>: the interface exists and is not a tap", i + 1, n.target);
  }
  auto undo = [&](Error e) -> Result<config::DomainConfig> {
    release_interfaces(created);
    return std::unexpected(std::move(e));
  };
  for (size_t i = 0; i < c.interfaces.size(); ++i) {
    auto& n = c.interfaces[i];
    std::string where = fmt::format("<interface> {}", i + 1);
    if (n.target.empty() || !host::net_interface_exists(n.target)) {
      // Without <target dev>, libvirt's names vnetN: the kernel picks N as it creates the tap, so
      // two domains starting at once cannot both take the same free name.
      auto made = host::create_tap(n.target.empty() ? "vnet%d" : n.target, n.queues > 1);
      if (!made) return undo(made.error().context(where));
      n.target = *made;
      created.push_back({n.target, n.queues > 1});
    }
    if (auto s = host::set_link_up(n.target); !s) return undo(s.error().context(where));
    if (!n.bridge.empty())
      if (auto s = host::add_to_bridge(n.bridge, n.target); !s && s.error().sys_errno() != EBUSY)
        return undo(s.error().context(where));  // EBUSY: it is on the bridge already
  }
  return c;
}

void release_interfaces(std::vector<CreatedTap>& created) {
  for (auto it = created.rbegin(); it != created.rend(); ++it)
    if (auto s = altovirt::host::delete_tap(it->name, it->multi_queue); !s)
      fmt::print(stderr, "altoctl: cannot remove tap {}: {} (remove it with `ip link del {}`)\n", it->name,
                 s.error().message(), it->name);
  created.clear();
}

}  // namespace altoctl

#include "altovirt/vmm/root_port_kind.h"

#include <map>

#include "altovirt/base/log.h"
#include "altovirt/base/parse.h"
#include "altovirt/pci/root_port.h"
#include "altovirt/vmm/machine.h"
#include "altovirt/vmm/msi_routes.h"

namespace altovirt::vmm {
namespace {

struct PortNumbers {
  unsigned chassis = 0, port = 0;
  std::optional<unsigned> slot;
  unsigned slot_number() const { return slot.value_or(chassis); }
};

Result<unsigned> number(const DeviceSpec& spec, const std::string& key, unsigned max) {
  auto it = spec.props.find(key);
  if (it == spec.props.end()) return 0u;
  auto v = parse_uint(it->second, key, max);
  if (!v) return fail("-device {}: {}={} must be a number 0..{} (decimal, or hex with 0x)", spec.text, key, it->second, max);
  return static_cast<unsigned>(*v);
}

Result<PortNumbers> numbers(const DeviceSpec& spec) {
  PortNumbers n;
  AV_TRY_ASSIGN(n.chassis, number(spec, "chassis", 255));
  AV_TRY_ASSIGN(n.port, number(spec, "port", 255));
  if (spec.props.contains("slot")) {
    AV_TRY_ASSIGN(unsigned s, number(spec, "slot", 8191));
    n.slot = s;
  }
  return n;
}

// QEMU refuses two root ports with the same chassis and slot ("Can't add chassis slot"): the guest
// names hot-plug slots by them.
Status check_all(const std::vector<const DeviceSpec*>& specs) {
  std::map<std::pair<unsigned, unsigned>, const DeviceSpec*> seen;
  for (const DeviceSpec* spec : specs) {
    AV_TRY_ASSIGN(PortNumbers n, numbers(*spec));
    if (auto [it, fresh] = seen.emplace(std::make_pair(n.chassis, n.slot_number()), spec); !fresh)
      return fail("-device {}: chassis={} slot={} is already used by -device {}; give each root port its own chassis=",
                  spec->text, n.chassis, n.slot_number(), it->second->text);
  }
  return ok();
}

Status create_root_port(Machine& machine, const DeviceSpec& spec) {
  AV_TRY_ASSIGN(PortNumbers n, numbers(spec));
  pci::RootPortOptions options;
  options.name = spec.id.empty() ? "pcie-root-port" : spec.id;
  options.port = static_cast<uint8_t>(n.port);
  options.slot_number = static_cast<uint16_t>(n.slot_number());
  // The port's MSI (its hot-plug interrupt, a later issue) goes through KVM routes like any device's.
  auto routes = std::make_unique<MsiRoutes>(machine.vm(), machine.gsi(), options.name);
  MsiRoutes* port_routes = routes.get();
  AV_TRY_ASSIGN(auto port, pci::RootPort::create(options, std::move(routes)));
  port_routes->set_device(port.get());
  // The guest powered the slot off (a vCPU thread, under the bus's lock): the removal itself is the
  // main thread's.
  port->set_eject_handler([&machine, weak = std::weak_ptr<pci::RootPort>(port)] {
    machine.post([&machine, weak] {
      if (auto p = weak.lock()) machine.complete_removal(*p);
    });
  });
  AV_TRY_ASSIGN(pci::PciAddress at, machine.add_pci_device(port, spec));
  log::info("pci", "{} is root port {} (bus {}, chassis {}, port {}, slot {})", options.name, at.str(),
            port->secondary_bus(), n.chassis, n.port, n.slot_number());
  return ok();
}

}  // namespace

void register_pcie_root_port(DeviceRegistry& registry) {
  DeviceKind kind{"pcie-root-port,id=ID,chassis=N,port=N[,slot=N]: a PCIe root port; devices go behind it with bus=ID",
                  {"chassis", "port", "slot"},
                  create_root_port};
  kind.provides_bus = true;
  kind.check_all = check_all;
  registry.add("pcie-root-port", std::move(kind));
}

}  // namespace altovirt::vmm

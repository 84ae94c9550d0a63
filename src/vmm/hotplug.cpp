// Machine's hot-plug: devices added to and removed from root ports while the guest runs (QMP
// device_add/device_del). PCIe native hot-plug, as on real hardware and in QEMU's and StratoVirt's
// root ports: the port raises presence/link events for an add and the attention button for a
// removal, and the guest's pciehp driver does the rest (pci/root_port.h). Everything here runs on
// the main thread (posted tasks), where the sandbox lets files be opened (/dev/vfio/N).
#include <cstdio>

#include "altovirt/base/log.h"
#include "altovirt/pci/root_port.h"
#include "altovirt/vmm/machine.h"

namespace altovirt::vmm {

Status Machine::hot_add(const DeviceSpec& spec) {
  const DeviceKind* kind = DeviceRegistry::global().find(spec.kind);
  if (kind == nullptr) return fail("device_add {}: unknown driver '{}'", spec.text, spec.kind);
  if (!kind->hotpluggable)
    return fail("device_add {}: a {} cannot be hot-plugged (hot-pluggable: vfio-pci); give it at start with -device",
                spec.text, spec.kind);
  if (spec.id.empty()) return fail("device_add {}: give it an id= (device_del names it by id)", spec.text);
  {
    std::lock_guard lock(ids_mutex_);
    for (auto& [address, id] : device_ids_)
      if (id == spec.id) return fail("device_add {}: id {} is already used by the device at {}", spec.text, spec.id, address);
  }
  if (spec.bus.empty())
    return fail("device_add {}: pcie.0 has no hot-plug; name an empty pcie-root-port with bus=", spec.text);
  auto port = buses_.find(spec.bus);
  if (port == buses_.end() || dynamic_cast<pci::RootPort*>(port->second.get()) == nullptr)
    return fail("device_add {}: bus={} names no pcie-root-port", spec.text, spec.bus);
  if (spec.function != 0 || spec.multifunction)
    return fail("device_add {}: only function 0 of a root port's slot is hot-pluggable", spec.text);
  // Before the device is built: opening a VFIO device and mapping guest RAM for it takes a while,
  // and a port that cannot take it should cost nothing.
  if (auto s = pci_.can_hot_add(*port->second); !s) return std::unexpected(s.error().context("device_add " + spec.text));
  if (auto s = kind->create(*this, spec); !s) return std::unexpected(s.error().context("device_add " + spec.text));
  survivors_.hot_added.push_back(spec);
  survivors_.removed_ids.erase(spec.id);
  log::info("hotplug", "{} was added behind {}; the guest has been told", spec.id, spec.bus);
  return ok();
}

Status Machine::request_removal(const std::string& id) {
  std::optional<pci::PciAddress> at;
  {
    std::lock_guard lock(ids_mutex_);
    for (auto& [address, dev_id] : device_ids_) {
      unsigned bus = 0, slot = 0, fn = 0;  // "0000:BB:SS.F", as PciAddress::str() writes it
      if (dev_id == id && std::sscanf(address.c_str(), "0000:%x:%x.%x", &bus, &slot, &fn) == 3)
        at = pci::PciAddress{static_cast<uint8_t>(bus), static_cast<uint8_t>(slot), static_cast<uint8_t>(fn)};
    }
  }
  if (!at) return fail("device_del: no device has id {}", id);
  for (auto& [port_id, bridge] : buses_) {
    if (id == port_id) return fail("device_del {}: a root port cannot be removed; remove the device behind it", id);
    if (bridge->secondary_bus() != at->bus || at->bus == 0) continue;
    AV_TRY(pci_.request_unplug(*bridge));
    log::info("hotplug", "{}: asked the guest to let go of it (attention button of {})", id, port_id);
    return ok();
  }
  return fail("device_del {}: it sits on pcie.0, which has no hot-plug; only devices behind a pcie-root-port can be removed",
              id);
}

void Machine::complete_removal(pci::PciBridge& port) {
  for (auto& [function, device] : pci_.take_ejected(port)) {
    pci::PciAddress a{port.secondary_bus(), 0, static_cast<uint8_t>(function)};
    std::string id;
    {
      std::lock_guard lock(ids_mutex_);
      if (auto it = device_ids_.find(a.str()); it != device_ids_.end()) {
        id = it->second;
        device_ids_.erase(it);
      }
    }
    // Its BARs leave the guest's address space (no vCPU reaches its config space any more, so
    // this needs no lock); its destructor stops it (interrupts, bus mastering); the kind's hook
    // then gives what it held back to the host.
    device->enable_decode(false, false);
    device.reset();
    if (auto hook = removal_hooks_.find(id); hook != removal_hooks_.end()) {
      hook->second();
      removal_hooks_.erase(hook);
    }
    std::erase_if(survivors_.hot_added, [&](const DeviceSpec& d) { return d.id == id; });
    if (!id.empty()) survivors_.removed_ids.insert(id);
    log::info("hotplug", "{} was removed from {}: the guest let go of it", id.empty() ? a.str() : id, port.name());
    if (removed_handler_) removed_handler_(id);
  }
}

}  // namespace altovirt::vmm

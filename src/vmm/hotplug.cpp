// Machine's hot-plug: devices added to and removed from root ports while the guest runs (QMP
// device_add/device_del). PCIe native hot-plug, as on real hardware and in QEMU's and StratoVirt's
// root ports: the port raises presence/link events for an add and the attention button for a
// removal, and the guest's pciehp driver does the rest (pci/root_port.h). Everything here runs on
// the main thread (posted tasks), where the sandbox lets files be opened (/dev/vfio/N).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "altovirt/base/fd.h"
#include "altovirt/base/log.h"
#include "altovirt/pci/root_port.h"
#include "altovirt/vmm/machine.h"

namespace altovirt::vmm {

Status Machine::hot_add(const DeviceSpec& spec) {
  const DeviceKind* kind = DeviceRegistry::global().find(spec.kind);
  if (kind == nullptr) return fail("device_add {}: unknown driver '{}'", spec.text, spec.kind);
  if (!kind->hotpluggable)
    return fail("device_add {}: a {} cannot be hot-plugged (hot-pluggable: vfio-pci, virtio-blk-pci, virtio-net-pci); "
                "give it at start with -device",
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
  if (survivors_.vfio) survivors_.vfio->start_dma_map(*this);  // the first passed-through device's map
  // removed_ids keeps an id that is added again: it filters the original -device, and hot_added
  // alone decides what a rebuilt machine gets.
  survivors_.hot_added.push_back(spec);
  log::info("hotplug", "{} was added behind {}; the guest has been told", spec.id, spec.bus);
  return ok();
}

Status Machine::request_removal(const std::string& id) {
  if (buses_.contains(id)) return fail("device_del {}: a root port cannot be removed; remove the device behind it", id);
  const pci::PciDevice* device = nullptr;
  {
    std::lock_guard lock(ids_mutex_);
    for (auto& [d, placed] : placed_)
      if (placed.id == id) device = d;
  }
  if (device == nullptr) return fail("device_del: no device has id {}", id);
  for (auto& [port_id, bridge] : buses_) {
    AV_TRY_ASSIGN(bool asked, pci_.request_unplug_of(*bridge, device));
    if (!asked) continue;
    log::info("hotplug", "{}: asked the guest to let go of it (attention button of {})", id, port_id);
    return ok();
  }
  return fail("device_del {}: it sits on pcie.0, which has no hot-plug; only devices behind a pcie-root-port can be removed",
              id);
}

void Machine::retract_pci_device(const std::shared_ptr<pci::PciDevice>& device) {
  pci_.remove_device(device.get());
  device->disable_decode();
  forget(device.get());
}

std::string Machine::forget(const pci::PciDevice* device) {
  std::lock_guard lock(ids_mutex_);
  std::string id;
  if (auto it = placed_.find(device); it != placed_.end()) {
    id = it->second.id;
    placed_.erase(it);
  }
  if (!id.empty()) std::erase_if(device_ids_, [&](auto& entry) { return entry.second == id; });
  return id;
}

void Machine::complete_removal(pci::PciBridge& port) {
  for (auto& [function, device] : pci_.take_ejected(port)) {
    bool hotpluggable = false;
    {
      std::lock_guard lock(ids_mutex_);
      if (auto it = placed_.find(device.get()); it != placed_.end()) hotpluggable = it->second.hotpluggable;
    }
    // Out of the guest's address space first (no vCPU reaches its config space any more, so this
    // needs no lock; Linux leaves Memory Space on when it lets go).
    device->disable_decode();
    std::string id = forget(device.get());
    std::string what = id.empty() ? device->name() : id;
    if (!hotpluggable) {
      // The guest powered off a slot whose device altovirt cannot take out while it runs (a
      // virtio device, say): it stays, unreachable, until the machine ends.
      log::warn("hotplug", "the guest ejected {} from {}; it is parked until the VM ends (its kind is not hot-pluggable)",
                what, port.name());
      ejected_parked_.push_back(std::move(device));
      continue;
    }
    // A vCPU dispatching to the old BAR address holds the device for the length of one access;
    // wait for it (bounded), so that the teardown below runs here and not on that vCPU.
    for (int i = 0; i < 1000 && device.use_count() > 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    // Its destructor stops it (interrupts, bus mastering, reset); the kind's hook then gives what
    // it held back to the host.
    const pci::PciDevice* key = device.get();
    device.reset();
    if (auto hooks = removal_hooks_.find(key); hooks != removal_hooks_.end()) {
      for (auto& hook : hooks->second) hook();
      removal_hooks_.erase(hooks);
    }
    std::erase_if(survivors_.hot_added, [&](const DeviceSpec& d) { return !id.empty() && d.id == id; });
    if (!id.empty()) survivors_.removed_ids.insert(id);
    log::info("hotplug", "{} was removed from {}: the guest let go of it", what, port.name());
    if (removed_handler_) removed_handler_(id);
  }
}

void Machine::on_removal(const pci::PciDevice* device, std::function<void()> hook) {
  removal_hooks_[device].push_back(std::move(hook));
}

// ---- backends of hot-plugged devices (QMP blockdev-add/-del, netdev_add/_del) ------------------

const DriveSpec* Machine::find_drive(const std::string& id) const {
  for (auto& d : options_.drives)
    if (d.id == id) return &d;
  for (auto& d : survivors_.hot_drives)
    if (d.id == id) return &d;
  return nullptr;
}

const NetdevSpec* Machine::find_netdev(const std::string& id) const {
  for (auto& n : options_.netdevs)
    if (n.id == id) return &n;
  for (auto& n : survivors_.hot_netdevs)
    if (n.id == id) return &n;
  return nullptr;
}

Status Machine::add_drive(DriveSpec drive) {
  if (find_drive(drive.id) != nullptr) return fail("Duplicate nodes with node-name='{}'", drive.id);
  // The image is opened when a device takes the drive; checked here already, so that a typo is
  // reported by blockdev-add and not later by device_add.
  UniqueFd probe(::open(drive.file.c_str(), (drive.readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC));
  if (!probe) return fail_errno(errno, "Could not open '{}'", drive.file);
  survivors_.hot_drives.push_back(std::move(drive));
  return ok();
}

Status Machine::delete_drive(const std::string& id) {
  auto it = std::find_if(survivors_.hot_drives.begin(), survivors_.hot_drives.end(), [&](auto& d) { return d.id == id; });
  if (it == survivors_.hot_drives.end()) {
    if (find_drive(id) != nullptr) return fail("Node {} is not owned by the monitor (it was given with -drive)", id);
    return fail("Failed to find node with node-name='{}'", id);
  }
  if (virtio().drives_in_use.contains(id)) return fail("Node {} is in use by a device; device_del it first", id);
  survivors_.hot_drives.erase(it);
  return ok();
}

Status Machine::add_netdev(NetdevSpec netdev) {
  if (find_netdev(netdev.id) != nullptr) return fail("Duplicate ID '{}' for netdev", netdev.id);
  survivors_.hot_netdevs.push_back(std::move(netdev));
  return ok();
}

Status Machine::delete_netdev(const std::string& id) {
  auto it = std::find_if(survivors_.hot_netdevs.begin(), survivors_.hot_netdevs.end(), [&](auto& n) { return n.id == id; });
  if (it == survivors_.hot_netdevs.end()) {
    if (find_netdev(id) != nullptr) return fail("Device '{}' was given with -netdev and cannot be deleted", id);
    return fail("Device '{}' not found", id);
  }
  if (virtio().netdevs_in_use.contains(id)) return fail("Device '{}' is in use by a device; device_del it first", id);
  survivors_.hot_netdevs.erase(it);
  return ok();
}

}  // namespace altovirt::vmm

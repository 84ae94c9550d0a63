// VirtioContext: the virtio state of one Machine: the I/O threads (`-object iothread,id=ID`, plus one
// private EventLoop per device that names none), guest RAM as the device models see it, and the
// machine side of each transport (ioeventfds, MSI-X routes, INTx).
//
// add_virtio_pci() is how a virtio device kind (virtio-blk-pci, virtio-serial-pci, ...) puts its
// model on the machine: it builds the VirtioPciDevice transport around the model, picks the
// EventLoop (iothread= or a new one), places the function with Machine::add_pci_device (addr=,
// bus=, multifunction=) and wires its INTx line. A kind declares kVirtioPciKeys among its keys.
//
// Threading: used on the main thread, while the machine is being built and for hot-plug (posted
// tasks). The loops outlive the devices (Machine destroys its PCI bus first; a hot-removed
// device's private loop is stopped only once the device is gone).
#pragma once

#include <functional>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/devices/virtio_balloon.h"
#include "altovirt/pci/pci_bus.h"
#include "altovirt/virtio/device.h"
#include "altovirt/virtio/event_loop.h"
#include "altovirt/virtio/guest_ram.h"
#include "altovirt/virtio/pci_transport.h"
#include "altovirt/vmm/options.h"

namespace altovirt::vmm {

class Machine;
class DeviceRegistry;

// The keys every virtio-pci -device kind accepts besides the PCI placement keys.
inline const std::vector<std::string> kVirtioPciKeys = {"iothread"};

struct VirtioContext {
  std::map<std::string, std::unique_ptr<virtio::EventLoop>> iothreads;  // -object iothread,id=
  std::vector<std::unique_ptr<virtio::EventLoop>> private_loops;
  std::unique_ptr<virtio::GuestRam> ram;
  std::vector<std::unique_ptr<virtio::TransportHost>> hosts;
  std::set<std::string> drives_in_use;  // -drive ids taken by a device
  std::shared_ptr<devices::VirtioBalloon> balloon;  // the VM's balloon, for QMP balloon/query-balloon
  std::set<std::string> netdevs_in_use;  // -netdev ids taken by a device
  unsigned default_macs = 0;  // NICs given QEMU's default MAC so far (never counts down: no repeats)
};

// Adds the "virtio-blk-pci" -device kind (src/vmm/virtio_blk_kind.cpp).
void register_virtio_blk(DeviceRegistry& registry);
// Adds the "virtio-net-pci" -device kind (src/vmm/virtio_net_kind.cpp).
void register_virtio_net(DeviceRegistry& registry);

// A backend id (-drive, -netdev) a device kind has taken in `used`: given back if the kind fails
// before the device is on the machine; after that, when the device is hot-removed.
class InUse {
 public:
  InUse(std::set<std::string>& used, std::string id) : used_(used), id_(std::move(id)) {}
  ~InUse() {
    if (!kept_) used_.erase(id_);
  }
  InUse(const InUse&) = delete;
  InUse& operator=(const InUse&) = delete;
  // The device holds it now (add_virtio_pci calls this); the returned function frees it, once the
  // device is gone.
  std::function<void()> keep();

 private:
  std::set<std::string>& used_;
  std::string id_;
  bool kept_ = false;
};

// Places `device` on `machine` behind a virtio-pci transport, as `spec` says. When the device is
// hot-removed, its transport's host side and its private I/O thread go with it, and `backend` (the
// -drive or -netdev it took) becomes free again.
Result<pci::PciAddress> add_virtio_pci(Machine& machine, const DeviceSpec& spec,
                                       std::shared_ptr<virtio::VirtioDevice> device, InUse* backend = nullptr);

}  // namespace altovirt::vmm

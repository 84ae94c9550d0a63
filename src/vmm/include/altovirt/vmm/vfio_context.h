// VfioContext: the VFIO state of the VM: the manager (container, groups, devices), whether guest RAM
// has been DMA-mapped yet, and, per Machine, KVM's VFIO pseudo-device with every group added and
// the machine as the devices see it. It belongs to the process (ResetSurvivors), not to one
// Machine: a guest reset builds a new Machine that takes the container, groups, devices and DMA
// mappings of the one before, so that a reboot never pins guest RAM again (QEMU keeps its container
// across system_reset too); each device is still reset when its new VfioPciDevice is built.
//
// Threading: main thread only: while a machine is being built, after it has stopped, and for
// hot-plug while it runs (vCPU threads never touch it).
#pragma once

#include <atomic>
#include <set>
#include <string>

#include "altovirt/base/error.h"
#include "altovirt/base/fd.h"
#include "altovirt/vfio/manager.h"
#include "altovirt/vmm/passthrough_host.h"

namespace altovirt::vmm {

class Machine;
class DeviceRegistry;

struct VfioContext {
  vfio::Manager manager;
  // Set while guest RAM is DMA-mapped (ResetSurvivors::ram_pinned; read by the balloon).
  std::atomic<bool>* ram_pinned = nullptr;
  // The machine, as the passed-through devices see it; outlives them.
  std::unique_ptr<PassthroughHost> host;

  // The device at `address` for the machine being built: opened the first time, the same one on
  // later machines (after a guest reset); refused when this machine already has it.
  Result<std::shared_ptr<vfio::Device>> open_device(const std::string& address);

  // After a device was opened: adds new groups to the machine's KVM VFIO device and, the first time
  // in the process, DMA-maps all guest RAM with IOVA = GPA (after checking the locked-memory limit).
  Status prepare(Machine& machine);

  // A hot-removed device (its VfioPciDevice destroyed): gives it back to the host. Its group leaves
  // KVM's VFIO device and the container when no other device of the VM is in it; the last group
  // takes the container and the DMA mappings with it (the next device maps guest RAM again).
  void release(const std::string& address);

  // The machine whose devices used this context is gone (its passed-through devices first): forget
  // what belonged to it (its KVM VFIO device, which would keep its VM alive, and `host`), keep the
  // container, groups, devices and DMA mappings for the next one.
  void machine_ended();

 private:
  UniqueFd kvm_device_;
  std::set<unsigned> groups_in_kvm_;
  std::set<std::string> claimed_;  // the devices the current machine has taken
  bool ram_mapped_ = false;
  bool reuse_logged_ = false;  // the current machine has said that it keeps the DMA mappings
};

// Adds the "vfio-pci" -device kind.
void register_vfio_pci(DeviceRegistry& registry);

}  // namespace altovirt::vmm

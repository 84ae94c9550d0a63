// VfioContext: the VFIO state of one Machine: the manager (container, groups, devices), KVM's VFIO
// pseudo-device with every group added, and whether guest RAM has been DMA-mapped yet.
//
// Threading: used while the machine is being built (main thread), before vCPUs run.
#pragma once

#include <set>

#include "altovirt/base/error.h"
#include "altovirt/base/fd.h"
#include "altovirt/vfio/manager.h"
#include "altovirt/vmm/passthrough_host.h"

namespace altovirt::vmm {

class Machine;
class DeviceRegistry;

struct VfioContext {
  vfio::Manager manager;
  // The machine, as the passed-through devices see it; outlives them.
  std::unique_ptr<PassthroughHost> host;

  // After a device was opened: adds new groups to KVM's VFIO device and, the first time, DMA-maps
  // all guest RAM with IOVA = GPA (after checking the locked-memory limit).
  Status prepare(Machine& machine);

 private:
  UniqueFd kvm_device_;
  std::set<unsigned> groups_in_kvm_;
  bool ram_mapped_ = false;
};

// Adds the "vfio-pci" -device kind.
void register_vfio_pci(DeviceRegistry& registry);

}  // namespace altovirt::vmm

// VfioContext: the VFIO state of the VM: the manager (container, groups, devices), whether guest RAM
// has been DMA-mapped yet, and, per Machine, KVM's VFIO pseudo-device with every group added and
// the machine as the devices see it. It belongs to the process (ResetSurvivors), not to one
// Machine: a guest reset builds a new Machine that takes the container, groups, devices and DMA
// mappings of the one before, so that a reboot never pins guest RAM again (QEMU keeps its container
// across system_reset too); each device is still reset when its new VfioPciDevice is built.
//
// Guest RAM is DMA-mapped on a thread of its own (DmaMapJob), started once the machine's devices
// are built; a device's Bus Master Enable waits for it (wait_dma_map).
//
// Threading: main thread only: while a machine is being built, after it has stopped, and for
// hot-plug while it runs; except wait_dma_map, which vCPU threads call (through PassthroughHost).
#pragma once

#include <atomic>
#include <set>
#include <string>

#include "altovirt/base/error.h"
#include "altovirt/base/fd.h"
#include "altovirt/vfio/manager.h"
#include "altovirt/vmm/dma_map_job.h"
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

  // After a device was opened: adds new groups to the machine's KVM VFIO device, checks that no
  // group's reserved IOVA ranges overlap guest RAM and, the first time in the process (or after the
  // last device went), that the locked-memory limit allows pinning it all; the map itself is then
  // pending until start_dma_map.
  Status prepare(Machine& machine);

  // Starts the pending map of all guest RAM (IOVA = GPA) on the job's thread: called once the
  // machine's devices are built (every group attached, so that no VFIO_GROUP_SET_CONTAINER waits
  // behind the map for the container's lock), and after a hot-add. Nothing to do otherwise.
  void start_dma_map(const Machine& machine);

  // Blocks until guest RAM is DMA-mapped (at once when it is); the error when the map failed.
  Status wait_dma_map() { return dma_map_.wait(); }

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
  bool ram_mapped_ = false;    // guest RAM is mapped, being mapped, or about to be (map_pending_)
  bool map_pending_ = false;   // prepare() asked for a map that start_dma_map has not started
  bool reuse_logged_ = false;  // the current machine has said that it keeps the DMA mappings
  DmaMapJob dma_map_;          // last: destroyed (its thread joined) before the manager
};

// Adds the "vfio-pci" -device kind.
void register_vfio_pci(DeviceRegistry& registry);

}  // namespace altovirt::vmm

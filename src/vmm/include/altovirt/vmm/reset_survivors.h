// ResetSurvivors: what a guest reset keeps. A PC's reset leaves RAM alone, and QEMU keeps its VFIO
// container across system_reset; altovirt builds a new Machine on every guest reset (so that every
// device, the vCPUs and the in-kernel irqchip start from their power-on state) but hands it the
// same guest RAM mapping and the same VFIO state, so that a reboot neither allocates nor pins guest
// RAM again. The process owns it (tools/altovirt/main.cpp), like the -chardev backends.
//
// Threading: each Machine uses it from its building and stopping thread (main); the guest RAM's
// bytes are the guest's, shared with the vCPUs and devices as before.
#pragma once

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "altovirt/kvm/guest_memory.h"
#include "altovirt/ui/vnc_server.h"
#include "altovirt/vmm/options.h"
#include "altovirt/vmm/vfio_context.h"

namespace altovirt::vmm {

struct ResetSurvivors {
  // Guest RAM: mapped by the first machine, then only registered with each new VM's memory slots.
  kvm::GuestMemory memory;
  // Created with the first passed-through device (Machine::vfio()).
  std::unique_ptr<VfioContext> vfio;
  // Guest RAM is DMA-mapped (pinned) for a passed-through device: the balloon must not give pages
  // back to the host (read from the balloon's I/O thread; VfioContext sets and clears it).
  std::atomic<bool> ram_pinned{false};
  // Hot-plug: the devices added (QMP device_add) and the ids removed (device_del) while a guest ran.
  // A guest reset's new machine is built with the devices as they are now, not as at start.
  std::vector<DeviceSpec> hot_added;
  std::set<std::string> removed_ids;
  // Backends added over QMP (blockdev-add, netdev_add) for hot-plugged devices, until deleted.
  std::vector<DriveSpec> hot_drives;
  std::vector<NetdevSpec> hot_netdevs;
  // The VNC server (-vnc): started before the first machine, its clients stay across resets.
  std::unique_ptr<ui::VncServer> vnc;
};

}  // namespace altovirt::vmm

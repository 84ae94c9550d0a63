// Putting a passed-through device back in its power-on state before a guest drives it (at VM start,
// and after a guest reset, which rebuilds the machine), the way QEMU's hw/vfio/pci.c chooses:
//   1. VFIO_DEVICE_RESET when VFIO reports a function-level reset (VFIO_DEVICE_FLAGS_RESET: FLR, PM
//      reset, or a bus reset the kernel knows affects the device alone);
//   2. otherwise a hot reset (VFIO_DEVICE_PCI_HOT_RESET): a secondary bus reset through the bridge
//      above the device (or a slot reset). It resets every function on that bus, so the kernel
//      demands the fd of every IOMMU group those functions are in, and we only do it when each of
//      those groups belongs to this VM: resetting a function the host or another VM is using would
//      break it under them.
// A device this VM has just opened was reset already: vfio-pci's first open of a device resets its
// function and reports VFIO_DEVICE_FLAGS_RESET only when that reset worked (vfio_pci_core_enable,
// drivers/vfio/pci/vfio_pci_core.c in Linux 6.1: `vdev->reset_works = !pci_try_reset_function()`).
// Resetting it again before the guest sees it cost a start one more function reset per device (at
// least 100 ms each, PCIe 3.0 6.6.2). The first reset_device() after the open uses that reset
// (ResetMethod::at_open); every later one (after a guest reset, the device staying open) resets.
//
// Threading: functions without state; the caller serialises calls on one device.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/vfio/device.h"
#include "altovirt/vfio/hot_reset_layout.h"

namespace altovirt::vfio {

// The fd of an IOMMU group this VM has open (Manager::group_fd), or -1 when the group is not ours.
using OwnedGroupFd = std::function<int(unsigned group)>;

enum class ResetMethod { function, hot, at_open };

struct ResetOutcome {
  ResetMethod method = ResetMethod::function;
  std::vector<DependentDevice> affected;  // for a hot reset: every function it reset
  std::string function_error;             // why the function reset was not used ("" when it was)
};

// "function reset (VFIO_DEVICE_RESET)" or "hot reset (VFIO_DEVICE_PCI_HOT_RESET) of 0000:01:00.0
// (group 7)": the line the log says.
std::string describe(const ResetOutcome& outcome);

// The group fds a hot reset of `device` needs (each group once), or, when one of the affected
// functions is in a group this VM does not own, an error naming every such function and group and
// what to do.
Result<std::vector<int>> hot_reset_group_fds(const std::string& device, const std::vector<DependentDevice>& affected,
                                             const OwnedGroupFd& owned);

// Resets `device` by the first method that works (see above). The error says why neither could be
// used; the device is then as the host left it.
Result<ResetOutcome> reset_device(Device& device, const OwnedGroupFd& owned);

}  // namespace altovirt::vfio

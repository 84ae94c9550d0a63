// Manager: everything VFIO of one VM: the container, each IOMMU group used (opened and attached once,
// however many of its devices are passed), the devices, and the DMA mappings of guest RAM.
// Destruction order releases devices first, then groups, then the container, which drops every DMA
// mapping and unpins guest memory, so that the devices can be given back to the host at once.
//
// Threading: not synchronised; used by the VMM's setup/teardown thread only.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/vfio/container.h"
#include "altovirt/vfio/device.h"
#include "altovirt/vfio/group.h"
#include "altovirt/host/sysfs.h"
#include "altovirt/vfio/sysfs.h"

namespace altovirt::vfio {

// Whether this process may pin `bytes` of memory: either it has CAP_IPC_LOCK (VFIO then ignores the
// limit) or RLIMIT_MEMLOCK is at least that large. The error names the limit and the fix.
Status check_memlock(uint64_t bytes);

class Manager {
 public:
  // `sysfs`: the host as sysfs shows it ("/" normally; a fake tree in unit tests).
  explicit Manager(std::shared_ptr<const host::SysfsRoot> sysfs = std::make_shared<const host::SysfsRoot>())
      : sysfs_(std::move(sysfs)) {}

  // Opens a PCI device for passthrough: the address must exist, be bound to vfio-pci, and its group
  // must be viable. The container is opened with the first device. A device this manager has open
  // already is refused ("passed twice"), or with `reuse` returned as it is (a guest reset's new
  // machine takes the devices of the one before, as QEMU keeps them across system_reset).
  Result<std::shared_ptr<Device>> open_device(const std::string& address, bool reuse = false);

  // Maps guest RAM with IOVA = guest physical address. Refuses ranges that overlap an IOVA range the
  // host reserves in any group used (sysfs reserved_regions, e.g. the MSI doorbell window).
  Status map_guest_ram(uint64_t gpa, uint64_t size, void* host);
  // The check alone: guest RAM at gpa+size against every open group's reserved IOVA ranges.
  Status check_guest_ram(uint64_t gpa, uint64_t size) const;

  // Closes the device at `address` (a hot-removed one; nothing else may hold it any more). When no
  // other open device is in its IOMMU group, `before_group_close(group, fd)` runs and the group is
  // detached and closed, so the host can bind the device to a driver at once; when that was the
  // last group, the container goes too (its DMA mappings and the pinned guest RAM with it) and
  // the next open_device starts a new one. Returns whether the container went.
  bool close_device(const std::string& address, const std::function<void(unsigned group, int fd)>& before_group_close);

  bool has_devices() const { return !devices_.empty(); }
  std::vector<unsigned> group_numbers() const;
  // The group fds, for KVM's VFIO pseudo-device (KVM_DEV_VFIO_GROUP_ADD).
  std::vector<int> group_fds() const;
  // The fd of an attached group; -1 when the group is not open.
  int group_fd(unsigned group) const;
  Container* container() { return container_ ? &*container_ : nullptr; }
  const host::SysfsRoot& sysfs() const { return *sysfs_; }

 private:
  // Members are destroyed in reverse order: devices, then groups, then the container.
  std::shared_ptr<const host::SysfsRoot> sysfs_;
  std::optional<Container> container_;
  std::map<unsigned, Group> groups_;
  std::vector<std::shared_ptr<Device>> devices_;
};

}  // namespace altovirt::vfio

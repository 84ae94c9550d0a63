// VFIO group: the unit of isolation the IOMMU gives (/dev/vfio/N). A group is usable only when it is
// viable, i.e. every device in it is bound to vfio-pci (or to no driver, or is a bridge); it then joins
// the VM's container, and its devices can be opened.
//
// Threading: not synchronised; owned by the VMM's setup/teardown thread.
#pragma once

#include <string>

#include "altovirt/base/error.h"
#include "altovirt/base/fd.h"
#include "altovirt/vfio/container.h"
#include "altovirt/host/sysfs.h"

namespace altovirt::vfio {

class Group {
 public:
  // Opens /dev/vfio/N and checks viability. Errors name the group and, when it is not viable, every
  // device in it with its driver. EBUSY from open means another process (another VM) holds it.
  static Result<Group> open(const host::SysfsRoot& sysfs, unsigned number);

  // Joins `container` (VFIO_GROUP_SET_CONTAINER) and makes sure the container's IOMMU model is set.
  Status attach(Container& container);
  // Opens a device of this group by its address (VFIO_GROUP_GET_DEVICE_FD).
  Result<UniqueFd> open_device(const std::string& address);

  unsigned number() const { return number_; }
  int fd() const { return fd_.get(); }

  Group(Group&&) noexcept = default;
  Group& operator=(Group&&) noexcept = default;
  // Leaves the container before the fd closes, so that the container's mappings go with the last group.
  ~Group();

 private:
  Group(UniqueFd fd, unsigned number) : fd_(std::move(fd)), number_(number) {}
  UniqueFd fd_;
  unsigned number_ = 0;
  bool attached_ = false;
};

}  // namespace altovirt::vfio

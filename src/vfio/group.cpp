#include "altovirt/vfio/group.h"

#include <fcntl.h>
#include <linux/vfio.h>
#include <sys/ioctl.h>

#include "altovirt/vfio/sysfs.h"

namespace altovirt::vfio {
namespace {

std::string describe_members(const host::SysfsRoot& sysfs, unsigned number) {
  auto members = describe_group(sysfs, number);
  return members ? *members : "(its devices could not be listed: " + members.error().message() + ")";
}

}  // namespace

Result<Group> Group::open(const host::SysfsRoot& sysfs, unsigned number) {
  std::string path = fmt::format("{}{}", dev_vfio(sysfs), number);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) {
    int err = errno;
    if (err == EBUSY)
      return fail_errno(err, "IOMMU group {} ({}) is already in use by another process, probably another VM", number, path);
    if (err == ENOENT)
      return fail_errno(err, "IOMMU group {} has no {}: none of its devices is bound to vfio-pci; its devices: {} "
                        "(detach them with altoctl nodedev-detach)", number, path, describe_members(sysfs, number));
    return fail_errno(err, "opening {}", path);
  }
  vfio_group_status status{};
  status.argsz = sizeof status;
  if (::ioctl(fd.get(), VFIO_GROUP_GET_STATUS, &status) != 0) return fail_errno(errno, "VFIO_GROUP_GET_STATUS on {}", path);
  if ((status.flags & VFIO_GROUP_FLAGS_VIABLE) == 0)
    return fail("IOMMU group {} is not viable: every device in it must be bound to vfio-pci or to no driver; "
                "its devices: {} (detach the others too: altoctl nodedev-detach --group)", number, describe_members(sysfs, number));
  return Group(std::move(fd), number);
}

Status Group::attach(Container& container) {
  int cfd = container.fd();
  if (::ioctl(fd_.get(), VFIO_GROUP_SET_CONTAINER, &cfd) != 0)
    return fail_errno(errno, "adding IOMMU group {} to the VFIO container", number_);
  attached_ = true;
  return container.set_iommu_once();
}

Result<UniqueFd> Group::open_device(const std::string& address) {
  int fd = ::ioctl(fd_.get(), VFIO_GROUP_GET_DEVICE_FD, address.c_str());
  if (fd < 0) {
    int err = errno;
    if (err == EBUSY) return fail_errno(err, "{} is already open in another process, probably another VM", address);
    return fail_errno(err, "opening VFIO device {} in IOMMU group {}", address, number_);
  }
  return UniqueFd(fd);
}

Group::~Group() {
  if (fd_ && attached_) ::ioctl(fd_.get(), VFIO_GROUP_UNSET_CONTAINER);
}

}  // namespace altovirt::vfio

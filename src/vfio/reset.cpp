#include "altovirt/vfio/reset.h"

#include <map>

namespace altovirt::vfio {

std::string describe(const ResetOutcome& outcome) {
  if (outcome.method == ResetMethod::function) return "function reset (VFIO_DEVICE_RESET)";
  if (outcome.method == ResetMethod::at_open) return "the function reset vfio-pci did when this VM opened it";
  std::string list;
  for (auto& d : outcome.affected) {
    if (!list.empty()) list += ", ";
    list += fmt::format("{} (group {})", d.address(), d.group);
  }
  return fmt::format("hot reset (VFIO_DEVICE_PCI_HOT_RESET) of {}", list);
}

Result<std::vector<int>> hot_reset_group_fds(const std::string& device, const std::vector<DependentDevice>& affected,
                                             const OwnedGroupFd& owned) {
  if (affected.empty()) return fail("the kernel lists no device that a hot reset of {} would reset", device);
  std::map<unsigned, int> fds;  // group -> fd, each group once
  std::string blocking;
  for (auto& d : affected) {
    int fd = owned ? owned(d.group) : -1;
    if (fd >= 0) {
      fds.emplace(d.group, fd);
      continue;
    }
    if (!blocking.empty()) blocking += ", ";
    blocking += fmt::format("{} (IOMMU group {})", d.address(), d.group);
  }
  if (!blocking.empty())
    return fail("a hot reset of {} would also reset {}, which this VM does not own: pass {} to this VM too "
                "(-device vfio-pci,host=ADDRESS for each), or give {} a function reset "
                "(echo default > /sys/bus/pci/devices/{}/reset_method)",
                device, blocking, blocking.find(", ") == std::string::npos ? "it" : "them", device, device);
  std::vector<int> out;
  for (auto& [group, fd] : fds) out.push_back(fd);
  return out;
}

Result<ResetOutcome> reset_device(Device& device, const OwnedGroupFd& owned) {
  ResetOutcome outcome;
  if (device.take_reset_at_open()) {
    outcome.method = ResetMethod::at_open;
    return outcome;
  }
  if (device.can_reset()) {
    auto s = device.reset();
    if (s) return outcome;
    outcome.function_error = s.error().message();  // fall back to the bus, as QEMU does
  } else {
    outcome.function_error = fmt::format("{} has no function reset (VFIO_DEVICE_FLAGS_RESET is not set)", device.address());
  }
  auto affected = device.hot_reset_info();
  if (!affected) return fail("{}; and no hot reset either: {}", outcome.function_error, affected.error().message());
  auto fds = hot_reset_group_fds(device.address(), *affected, owned);
  if (!fds) return fail("{}; {}", outcome.function_error, fds.error().message());
  AV_TRY(device.hot_reset(*fds));
  outcome.method = ResetMethod::hot;
  outcome.affected = std::move(*affected);
  return outcome;
}

}  // namespace altovirt::vfio

#include "altovirt/vfio/manager.h"

#include <algorithm>

#include <sys/resource.h>

#include "altovirt/base/files.h"
#include "altovirt/base/log.h"
#include "altovirt/base/parse.h"
#include "altovirt/host/pci_device.h"

namespace altovirt::vfio {
namespace {

bool has_cap_ipc_lock() {
  auto status = read_file("/proc/self/status");
  if (!status) return false;
  auto pos = status->find("CapEff:");
  if (pos == std::string::npos) return false;
  auto end = status->find('\n', pos);
  std::string hex = status->substr(pos + 7, end - pos - 7);
  hex.erase(0, hex.find_first_not_of(" \t"));
  auto caps = parse_uint_base(hex, 16, "CapEff");
  constexpr unsigned kCapIpcLock = 14;  // linux/capability.h CAP_IPC_LOCK
  return caps && ((*caps >> kCapIpcLock) & 1) != 0;
}

}  // namespace

Status check_memlock(uint64_t bytes) {
  if (has_cap_ipc_lock()) return ok();
  rlimit rl{};
  if (::getrlimit(RLIMIT_MEMLOCK, &rl) != 0) return fail_errno(errno, "reading RLIMIT_MEMLOCK");
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= bytes) return ok();
  return fail("passthrough pins all guest RAM ({} MiB) but the locked-memory limit (RLIMIT_MEMLOCK) is {} KiB: "
              "raise it (ulimit -l {} or unlimited; LimitMEMLOCK= in a systemd unit) or run with CAP_IPC_LOCK",
              bytes >> 20, rl.rlim_cur >> 10, (bytes >> 10) + 1024);
}

Result<std::shared_ptr<Device>> Manager::open_device(const std::string& address, bool reuse) {
  AV_TRY_ASSIGN(host::PciAddress pci, find_device(*sysfs_, address));
  std::string bdf = pci.str();
  for (auto& d : devices_)
    if (d->address() == bdf) {
      if (reuse) return d;
      return fail("{} is passed to this VM twice", bdf);
    }
  std::string driver = host::current_driver(*sysfs_, pci);
  if (driver != host::kVfioPci)
    return fail("{} is bound to {}, not to vfio-pci: detach it first (altoctl nodedev-detach {})", bdf,
                driver.empty() ? "no driver" : driver, bdf);
  AV_TRY_ASSIGN(unsigned number, iommu_group(*sysfs_, pci));
  if (!container_) {
    AV_TRY_ASSIGN(Container c, Container::open(dev_vfio(*sysfs_)));
    container_.emplace(std::move(c));
  }
  auto it = groups_.find(number);
  if (it == groups_.end()) {
    AV_TRY_ASSIGN(Group g, Group::open(*sysfs_, number));
    AV_TRY(g.attach(*container_));
    it = groups_.emplace(number, std::move(g)).first;
    log::info("vfio", "IOMMU group {} attached to the container", number);
  }
  AV_TRY_ASSIGN(UniqueFd fd, it->second.open_device(bdf));
  auto dev = std::make_shared<Device>(bdf, std::move(fd));
  AV_TRY(dev->load_info());
  dev->opened_now();
  devices_.push_back(dev);
  return dev;
}

bool Manager::close_device(const std::string& address, const std::function<void(unsigned, int)>& before_group_close) {
  auto it = std::find_if(devices_.begin(), devices_.end(), [&](auto& d) { return d->address() == address; });
  if (it == devices_.end()) return false;
  devices_.erase(it);
  auto pci = find_device(*sysfs_, address);
  auto number = pci ? iommu_group(*sysfs_, *pci) : Result<unsigned>(std::unexpected(pci.error()));
  if (!number) return false;  // the device vanished from sysfs: its group stays until the VM ends
  for (auto& d : devices_) {
    auto other = find_device(*sysfs_, d->address());
    if (other && iommu_group(*sysfs_, *other).value_or(~0u) == *number) return false;
  }
  auto g = groups_.find(*number);
  if (g == groups_.end()) return false;
  before_group_close(*number, g->second.fd());
  groups_.erase(g);
  log::info("vfio", "IOMMU group {} detached from the container and closed", *number);
  if (!groups_.empty()) return false;
  container_.reset();
  return true;
}

Status Manager::check_guest_ram(uint64_t gpa, uint64_t size) const {
  uint64_t last = gpa + size - 1;
  for (auto& [number, group] : groups_) {
    AV_TRY_ASSIGN(auto regions, reserved_regions(*sysfs_, number));
    for (auto& r : regions) {
      // "direct-relaxable" ranges (e.g. USB/GPU RMRRs) may be overlapped by design; the others may not.
      if (r.type == "direct-relaxable") continue;
      if (gpa <= r.end && r.start <= last)
        return fail("guest RAM {:#x}-{:#x} overlaps the IOVA range {:#x}-{:#x} ({}) that the host reserves in IOMMU "
                    "group {}: the device could not reach that RAM (use less memory or move the RAM)",
                    gpa, last, r.start, r.end, r.type, number);
    }
  }
  return ok();
}

Status Manager::map_guest_ram(uint64_t gpa, uint64_t size, void* host) {
  if (!container_) return fail("no VFIO device is open: nothing to map guest RAM for");
  AV_TRY(check_guest_ram(gpa, size));
  return container_->map_dma(gpa, size, host);
}

std::vector<unsigned> Manager::group_numbers() const {
  std::vector<unsigned> out;
  for (auto& [n, g] : groups_) out.push_back(n);
  return out;
}

int Manager::group_fd(unsigned group) const {
  auto it = groups_.find(group);
  return it == groups_.end() ? -1 : it->second.fd();
}

std::vector<int> Manager::group_fds() const {
  std::vector<int> out;
  for (auto& [n, g] : groups_) out.push_back(g.fd());
  return out;
}

}  // namespace altovirt::vfio

#include "altovirt/virtio/vhost_backend.h"

#include <fcntl.h>
// linux/virtio_ring.h (through vhost.h) has C-only legacy helpers; C++ cannot compile them.
#define VIRTIO_RING_NO_LEGACY
#include <linux/vhost.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstdlib>
#include <memory>

namespace altovirt::virtio {

Result<VhostBackend> VhostBackend::open(const std::string& device, const std::string& module) {
  UniqueFd fd(::open(device.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) {
    int e = errno;
    if (e == ENOENT) return fail_errno(e, "{} does not exist; load the kernel module: modprobe {}", device, module);
    return fail_errno(e, "cannot open {} (altovirt needs read/write access to it)", device);
  }
  if (::ioctl(fd.get(), VHOST_SET_OWNER) != 0) return fail_errno(errno, "{}: VHOST_SET_OWNER", device);
  uint64_t features = 0;
  if (::ioctl(fd.get(), VHOST_GET_FEATURES, &features) != 0) return fail_errno(errno, "{}: VHOST_GET_FEATURES", device);
  return VhostBackend(std::move(fd), device, features);
}

Status VhostBackend::call(unsigned long request, const void* arg, const char* what) {
  if (::ioctl(fd_.get(), request, arg) != 0) return fail_errno(errno, "{}: {}", device_, what);
  return ok();
}

Status VhostBackend::set_features(uint64_t features) {
  uint64_t f = features & features_;
  return call(VHOST_SET_FEATURES, &f, "VHOST_SET_FEATURES");
}

Status VhostBackend::set_mem_table(const std::vector<kvm::RamRegion>& regions) {
  if (regions.empty()) return fail("{}: no guest RAM regions to give the kernel", device_);
  size_t bytes = sizeof(vhost_memory) + regions.size() * sizeof(vhost_memory_region);
  std::unique_ptr<uint8_t[]> buf(new uint8_t[bytes]());
  auto* mem = reinterpret_cast<vhost_memory*>(buf.get());
  mem->nregions = static_cast<uint32_t>(regions.size());
  for (size_t i = 0; i < regions.size(); ++i) {
    mem->regions[i].guest_phys_addr = regions[i].gpa;
    mem->regions[i].memory_size = regions[i].size;
    mem->regions[i].userspace_addr = reinterpret_cast<uint64_t>(regions[i].host);
  }
  return call(VHOST_SET_MEM_TABLE, mem, "VHOST_SET_MEM_TABLE");
}

Status VhostBackend::start_queue(unsigned index, const QueueLayout& layout, const GuestRam& ram, const QueueEventFds& fds) {
  // The ring sizes (2.7: descriptor table 16 * size, avail 6 + 2 * size, used 6 + 8 * size); the
  // transport's Virtqueue::configure checked them already, checked again because vhost gets host
  // addresses and must never be handed one outside guest RAM.
  uint64_t n = layout.size;
  AV_TRY_ASSIGN(auto desc, ram.slice(layout.desc, 16 * n));
  AV_TRY_ASSIGN(auto avail, ram.slice(layout.avail, 6 + 2 * n));
  AV_TRY_ASSIGN(auto used, ram.slice(layout.used, 6 + 8 * n));
  vhost_vring_state num{index, static_cast<unsigned>(n)};
  AV_TRY(call(VHOST_SET_VRING_NUM, &num, "VHOST_SET_VRING_NUM"));
  vhost_vring_state base{index, 0};  // a freshly enabled ring starts at 0 (2.7.13)
  AV_TRY(call(VHOST_SET_VRING_BASE, &base, "VHOST_SET_VRING_BASE"));
  vhost_vring_addr addr{};
  addr.index = index;
  addr.desc_user_addr = reinterpret_cast<uint64_t>(desc.data());
  addr.avail_user_addr = reinterpret_cast<uint64_t>(avail.data());
  addr.used_user_addr = reinterpret_cast<uint64_t>(used.data());
  AV_TRY(call(VHOST_SET_VRING_ADDR, &addr, "VHOST_SET_VRING_ADDR"));
  vhost_vring_file kick{index, fds.kick};
  AV_TRY(call(VHOST_SET_VRING_KICK, &kick, "VHOST_SET_VRING_KICK"));
  vhost_vring_file callfd{index, fds.call};
  return call(VHOST_SET_VRING_CALL, &callfd, "VHOST_SET_VRING_CALL");
}

void VhostBackend::stop_queue(unsigned index) {
  // fd -1 unbinds (vhost_vring_ioctl); errors only mean it was not bound.
  vhost_vring_file none{index, -1};
  (void)::ioctl(fd_.get(), VHOST_SET_VRING_KICK, &none);
  (void)::ioctl(fd_.get(), VHOST_SET_VRING_CALL, &none);
}

}  // namespace altovirt::virtio

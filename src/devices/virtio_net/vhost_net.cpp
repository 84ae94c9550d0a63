#include "altovirt/virtio_net/vhost_net.h"

#include <fcntl.h>
// linux/vhost.h pulls in linux/virtio_ring.h, whose legacy vring_init() is C, not C++.
#define VIRTIO_RING_NO_LEGACY
#include <linux/vhost.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <memory>

#include "altovirt/base/log.h"

namespace altovirt::virtio_net {

bool VhostNet::available() { return ::access(kDevice, R_OK | W_OK) == 0; }

Result<std::unique_ptr<VhostNet>> VhostNet::open(unsigned pairs) {
  std::vector<UniqueFd> fds;
  uint64_t features = ~0ull;
  for (unsigned p = 0; p < pairs; ++p) {
    UniqueFd fd(::open(kDevice, O_RDWR | O_CLOEXEC));
    if (!fd) {
      int err = errno;
      if (err == ENOENT) return fail("{} does not exist: load the vhost_net module (modprobe vhost_net) or use vhost=off", kDevice);
      return fail_errno(err, "cannot open {} (use vhost=off to run the data path in altovirt)", kDevice);
    }
    if (::ioctl(fd.get(), VHOST_SET_OWNER) < 0) return fail_errno(errno, "{}: VHOST_SET_OWNER", kDevice);
    uint64_t f = 0;
    if (::ioctl(fd.get(), VHOST_GET_FEATURES, &f) < 0) return fail_errno(errno, "{}: VHOST_GET_FEATURES", kDevice);
    features &= f;
    fds.push_back(std::move(fd));
  }
  return std::unique_ptr<VhostNet>(new VhostNet(std::move(fds), features));
}

VhostNet::~VhostNet() { stop(); }

Status VhostNet::start(const virtio::Activation& a, NetBackend& backend) {
  // The memory table: every RAM region, as vhost translates descriptor addresses through it.
  auto regions = a.ram.regions();
  if (regions.empty()) return fail("vhost-net: guest RAM cannot be shared with the kernel");
  size_t bytes = sizeof(vhost_memory) + regions.size() * sizeof(vhost_memory_region);
  std::unique_ptr<vhost_memory, decltype(&std::free)> mem(static_cast<vhost_memory*>(std::calloc(1, bytes)), &std::free);
  if (!mem) return fail("vhost-net: out of memory");
  mem->nregions = static_cast<uint32_t>(regions.size());
  for (size_t i = 0; i < regions.size(); ++i)
    mem->regions[i] = {regions[i].gpa, regions[i].size, reinterpret_cast<uint64_t>(regions[i].host), 0};
  // Only bits vhost knows may be set (it refuses others); the device-level ones (MAC, STATUS,
  // offloads, CTRL_VQ, MQ) are altovirt's and the tap's business.
  uint64_t features = a.features & features_;

  running_ = true;  // from here on stop() undoes whatever part succeeded
  for (unsigned p = 0; p < fds_.size(); ++p) {
    int fd = fds_[p].get();
    if (::ioctl(fd, VHOST_SET_FEATURES, &features) < 0) return fail_errno(errno, "vhost-net: VHOST_SET_FEATURES {:#x}", features);
    if (::ioctl(fd, VHOST_SET_MEM_TABLE, mem.get()) < 0) return fail_errno(errno, "vhost-net: VHOST_SET_MEM_TABLE");
    for (unsigned i = 0; i < 2; ++i) {
      unsigned q = 2 * p + i;
      virtio::Virtqueue* vq = q < a.queues.size() ? a.queues[q] : nullptr;
      if (vq == nullptr) continue;  // the driver did not enable it (an unused pair)
      const virtio::QueueLayout& l = vq->layout();
      // The rings as our addresses (vhost reads them through our mm); the transport checked that
      // each ring lies inside RAM when it configured the queue.
      AV_TRY_ASSIGN(auto desc, a.ram.slice(l.desc, 16ull * l.size));
      AV_TRY_ASSIGN(auto avail, a.ram.slice(l.avail, 6 + 2ull * l.size));
      AV_TRY_ASSIGN(auto used, a.ram.slice(l.used, 6 + 8ull * l.size));
      AV_TRY_ASSIGN(virtio::QueueEventFds efd, a.detach_queue(q));
      vhost_vring_state num{i, l.size};
      vhost_vring_state base{i, 0};
      vhost_vring_addr addr{};
      addr.index = i;
      addr.desc_user_addr = reinterpret_cast<uint64_t>(desc.data());
      addr.avail_user_addr = reinterpret_cast<uint64_t>(avail.data());
      addr.used_user_addr = reinterpret_cast<uint64_t>(used.data());
      vhost_vring_file kick{i, efd.kick}, call{i, efd.call}, be{i, backend.fd(p)};
      if (::ioctl(fd, VHOST_SET_VRING_NUM, &num) < 0) return fail_errno(errno, "vhost-net: queue {} VHOST_SET_VRING_NUM", q);
      if (::ioctl(fd, VHOST_SET_VRING_BASE, &base) < 0) return fail_errno(errno, "vhost-net: queue {} VHOST_SET_VRING_BASE", q);
      if (::ioctl(fd, VHOST_SET_VRING_ADDR, &addr) < 0) return fail_errno(errno, "vhost-net: queue {} VHOST_SET_VRING_ADDR", q);
      if (::ioctl(fd, VHOST_SET_VRING_KICK, &kick) < 0) return fail_errno(errno, "vhost-net: queue {} VHOST_SET_VRING_KICK", q);
      if (::ioctl(fd, VHOST_SET_VRING_CALL, &call) < 0) return fail_errno(errno, "vhost-net: queue {} VHOST_SET_VRING_CALL", q);
      if (::ioctl(fd, VHOST_NET_SET_BACKEND, &be) < 0) return fail_errno(errno, "vhost-net: queue {} VHOST_NET_SET_BACKEND", q);
    }
  }
  return ok();
}

void VhostNet::stop() {
  if (!running_) return;
  running_ = false;
  for (auto& f : fds_) {
    for (unsigned i = 0; i < 2; ++i) {
      // Unbinding the backend waits for the worker to finish the queue (vhost_net_flush), so the
      // kernel is done with the rings when this returns; then the eventfds are released.
      vhost_vring_file off{i, -1};
      (void)::ioctl(f.get(), VHOST_NET_SET_BACKEND, &off);
      (void)::ioctl(f.get(), VHOST_SET_VRING_KICK, &off);
      (void)::ioctl(f.get(), VHOST_SET_VRING_CALL, &off);
    }
  }
}

}  // namespace altovirt::virtio_net

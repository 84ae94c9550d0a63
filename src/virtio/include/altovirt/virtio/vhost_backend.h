// VhostBackend: one kernel vhost instance (/dev/vhost-vsock, /dev/vhost-net; linux/vhost.h) that
// runs some of a device's virtqueues in the kernel. It knows no device type: a device model opens
// it with the device node, adds its type-specific ioctls (VHOST_VSOCK_SET_GUEST_CID,
// VHOST_NET_SET_BACKEND) through fd(), and uses the steps every vhost device shares, in QEMU's
// vhost_dev_start order:
//   open()          open + VHOST_SET_OWNER (binds the instance to this process's memory) +
//                   VHOST_GET_FEATURES
//   set_features()  the negotiated bits vhost knows (VERSION_1 included: vhost then reads the rings
//                   as little-endian)
//   set_mem_table() every guest RAM region: guest-physical -> this process's mapping (VHOST_SET_MEM_TABLE)
//   start_queue()   VHOST_SET_VRING_NUM / _BASE (0, a fresh ring) / _ADDR (our addresses of the
//                   three rings, checked against guest RAM) / _KICK / _CALL, with the eventfds the
//                   transport hands over (Activation::detach_queue)
//   stop_queue()    unbinds kick and call, so the kernel no longer watches the guest's notifies
//
// Threading: used on the device's EventLoop thread (activate/reset) after creation; features() is
// constant. The fd is owned (UniqueFd) and closed with the object, which stops the instance.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/base/fd.h"
#include "altovirt/kvm/guest_memory.h"
#include "altovirt/virtio/device.h"
#include "altovirt/virtio/guest_ram.h"
#include "altovirt/virtio/virtqueue.h"

namespace altovirt::virtio {

class VhostBackend {
 public:
  // Opens `device` (e.g. "/dev/vhost-vsock") and takes ownership (SET_OWNER). The error names the
  // device and, for ENOENT, the module to load.
  static Result<VhostBackend> open(const std::string& device, const std::string& module);

  int fd() const { return fd_.get(); }
  const std::string& device() const { return device_; }
  // VHOST_GET_FEATURES: the virtio feature bits the kernel implements for this device.
  uint64_t features() const { return features_; }

  Status set_features(uint64_t features);
  Status set_mem_table(const std::vector<kvm::RamRegion>& regions);
  // Runs queue `index` (vhost's index of the queue, usually the virtio index) with `layout` on the
  // transport's eventfds. Every ring is checked to lie inside guest RAM first.
  Status start_queue(unsigned index, const QueueLayout& layout, const GuestRam& ram, const QueueEventFds& fds);
  void stop_queue(unsigned index);

 private:
  VhostBackend(UniqueFd fd, std::string device, uint64_t features)
      : fd_(std::move(fd)), device_(std::move(device)), features_(features) {}
  Status call(unsigned long request, const void* arg, const char* what);

  UniqueFd fd_;
  std::string device_;
  uint64_t features_ = 0;
};

}  // namespace altovirt::virtio

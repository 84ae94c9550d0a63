// VhostNet: the kernel's virtio-net data path (/dev/vhost-net, linux/vhost.h) for the queue pairs
// of one virtio-net device. One vhost-net fd per queue pair (its rx and tx virtqueue, vhost-net's
// indices 0 and 1), each bound to that pair's tap queue fd; the kernel then moves frames between
// the tap and the guest's rings with no exit to altovirt: the guest's notify write is a KVM
// ioeventfd that vhost reads (kick), and vhost signals the queue's MSI-X irqfd (call).
//
// Sequence (as QEMU's vhost_dev_start): open + VHOST_SET_OWNER at creation (binds the fd to this
// process's memory); at DRIVER_OK VHOST_SET_FEATURES (the negotiated bits vhost knows),
// VHOST_SET_MEM_TABLE (every guest RAM region: guest-physical -> our mapping), and per queue
// VHOST_SET_VRING_NUM/BASE(0)/ADDR (our addresses of the rings)/KICK/CALL, then
// VHOST_NET_SET_BACKEND with the tap fd. stop() unbinds the backend and the eventfds, so after it
// returns the kernel no longer touches guest memory (the device reset rule, virtio 1.2 2.4.1).
//
// Threading: start/stop on the device's EventLoop thread (from activate/reset); features() is
// constant. The fds are owned (UniqueFd).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/base/fd.h"
#include "altovirt/virtio/device.h"
#include "altovirt/virtio_net/backend.h"

namespace altovirt::virtio_net {

class VhostNet {
 public:
  static constexpr const char* kDevice = "/dev/vhost-net";
  static bool available();
  // Opens one vhost-net instance per queue pair.
  static Result<std::unique_ptr<VhostNet>> open(unsigned pairs);
  ~VhostNet();

  // The virtio feature bits the kernel's vhost-net implements (VHOST_GET_FEATURES).
  uint64_t features() const { return features_; }
  // Runs pair p's queues (activation.queues[2p], [2p + 1]) in the kernel on backend.fd(p).
  Status start(const virtio::Activation& activation, NetBackend& backend);
  void stop();

 private:
  VhostNet(std::vector<UniqueFd> fds, uint64_t features) : fds_(std::move(fds)), features_(features) {}
  std::vector<UniqueFd> fds_;
  uint64_t features_;
  bool running_ = false;
};

}  // namespace altovirt::virtio_net

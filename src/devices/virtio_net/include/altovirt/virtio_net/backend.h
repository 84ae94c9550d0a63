// NetBackend: where a virtio-net device's frames go and come from. For each queue pair it has one
// file descriptor on which one read() returns one frame and one write() sends one frame, each
// preceded by the 12-byte struct virtio_net_hdr_v1 (virtio 1.2 5.1.6: flags, gso_type, hdr_len,
// gso_size, csum_start, csum_offset, num_buffers). A tap opened with IFF_VNET_HDR and a vnet
// header size of 12 is exactly that (tap.h); unit tests use a SOCK_SEQPACKET socketpair.
//
// Threading: fds and offered_features are fixed at creation; set_offloads and set_active_pairs are
// called by the device on its EventLoop thread.
#pragma once

#include <cstdint>

#include "altovirt/base/error.h"

namespace altovirt::virtio_net {

class NetBackend {
 public:
  virtual ~NetBackend() = default;
  virtual unsigned queue_pairs() const = 0;
  // The frame fd of queue pair `pair` (non-blocking).
  virtual int fd(unsigned pair) const = 0;
  // The offload feature bits (VIRTIO_NET_F_CSUM, GUEST_*, HOST_*) the backend can honour.
  virtual uint64_t offload_features() const = 0;
  // The guest's negotiated features: which offloaded frames it accepts (what the backend may put in
  // its receive buffers: partial checksums, TSO/UFO frames).
  virtual Status set_offloads(uint64_t guest_features) = 0;
  // Only the first `pairs` queue pairs carry traffic (VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 5.1.6.5.5).
  virtual Status set_active_pairs(unsigned /*pairs*/) { return ok(); }
  // The name for messages ("tap0").
  virtual std::string name() const = 0;
};

}  // namespace altovirt::virtio_net

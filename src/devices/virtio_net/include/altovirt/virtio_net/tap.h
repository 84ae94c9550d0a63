// Tap: a Linux tap interface as a virtio-net backend (NetBackend). Each queue pair is one open of
// /dev/net/tun attached to the interface (IFF_MULTI_QUEUE when there are several), with
// IFF_TAP | IFF_NO_PI | IFF_VNET_HDR and a vnet header size of 12 (TUNSETVNETHDRSZ), so every
// frame carries virtio 1.x's struct virtio_net_hdr_v1 and the guest's own header goes to the
// kernel unchanged (no copy). A tap that does not exist is created by the first open and, not
// being persistent, disappears when altovirt closes it; an existing (persistent) one stays.
//
// Offloads: open() asks the kernel which of TUN_F_CSUM/TSO4/TSO6/TSO_ECN/UFO it accepts, and
// offload_features() turns them into the virtio-net feature bits to offer; set_offloads() sets
// TUNSETOFFLOAD from what the guest accepted (as QEMU's tap_set_offload: the tap hands the guest
// only what its driver said it can take).
//
// Threading: see NetBackend. The fds are owned (UniqueFd) and closed with the object.
#pragma once

#include <string>
#include <vector>

#include "altovirt/base/fd.h"
#include "altovirt/virtio_net/backend.h"

namespace altovirt::virtio_net {

class Tap : public NetBackend {
 public:
  static constexpr size_t kMaxNameLength = 15;  // IFNAMSIZ - 1
  static constexpr int kVnetHeaderSize = 12;    // struct virtio_net_hdr_v1

  // Opens (creating when missing) tap `ifname` with `queues` queue pairs.
  static Result<std::unique_ptr<Tap>> open(const std::string& ifname, unsigned queues);

  unsigned queue_pairs() const override { return static_cast<unsigned>(fds_.size()); }
  int fd(unsigned pair) const override { return fds_[pair].get(); }
  uint64_t offload_features() const override;
  Status set_offloads(uint64_t guest_features) override;
  Status set_active_pairs(unsigned pairs) override;
  std::string name() const override { return name_; }
  bool created() const { return created_; }  // did not exist before open()

  // The TUNSETOFFLOAD flags for a guest's negotiated virtio-net features (pure; for tests).
  static unsigned tun_offloads(uint64_t guest_features);

 private:
  Tap(std::string name, std::vector<UniqueFd> fds, unsigned supported, bool created)
      : name_(std::move(name)), fds_(std::move(fds)), supported_(supported), created_(created) {}
  std::string name_;
  std::vector<UniqueFd> fds_;
  unsigned supported_;  // TUN_F_* the kernel accepts
  bool created_;
  unsigned active_ = 0;
};

}  // namespace altovirt::virtio_net

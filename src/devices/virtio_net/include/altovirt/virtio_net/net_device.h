// VirtioNet: the virtio network device (virtio 1.2 section 5.1) on a NetBackend (a tap).
//
// Queues: receiveq k = 2k, transmitq k = 2k + 1 for each of the backend's queue pairs, and with
// more than one pair a control queue last (VIRTIO_NET_F_CTRL_VQ + VIRTIO_NET_F_MQ; only
// VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET is implemented, other commands are answered VIRTIO_NET_ERR).
// Features: MAC (the configured address), STATUS (link always up), MRG_RXBUF, the backend's
// checksum/TSO/UFO offloads, INDIRECT_DESC and EVENT_IDX; VERSION_1 comes from the transport, so the
// header is always the 12-byte virtio_net_hdr_v1.
//
// Data path: with a VhostNet, the kernel runs the rx/tx queues (vhost_net.h) and this model only
// sets the tap's offloads and runs the control queue. Without one, it runs them on the device's
// EventLoop thread: a tx kick writes each chain to the backend fd as one frame (our validated copy
// of the header, then the payload straight from guest memory with writev: no copy); a readable
// backend fd is read with readv straight into the guest's receive buffers (one chain, or with
// MRG_RXBUF as many as the frame needs, num_buffers set in the first). With no receive buffer the
// fd is not watched until the driver adds some (rx kick), so the tap queues (and drops) instead
// of altovirt buffering.
//
// Guest input is checked: a transmit chain shorter than the header, a header with flags or a GSO
// type the driver did not negotiate (5.1.6.2.1), a receive buffer smaller than the header, a frame
// that does not fit the buffers (the tap drops it): each is dropped (the chain returned with length
// 0), logged rate-limited, and the device keeps running.
//
// Threading: activate, queue_notified, reset and the fd callbacks run on the EventLoop thread (the
// transport's contract), so the queue state has no lock; read_config is constant data.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <vector>

#include "altovirt/base/log.h"
#include "altovirt/virtio/device.h"
#include "altovirt/virtio_net/backend.h"
#include "altovirt/virtio_net/vhost_net.h"

namespace altovirt::virtio_net {

using MacAddress = std::array<uint8_t, 6>;

// "52:54:00:12:34:56" -> bytes; an error for anything else (a multicast address too: 5.1.4 is
// silent, but a NIC's own address must be unicast).
Result<MacAddress> parse_mac(std::string_view text);

class VirtioNet : public virtio::VirtioDevice {
 public:
  static constexpr uint32_t kHeaderSize = 12;  // struct virtio_net_hdr_v1
  // The largest frame a receive may carry: 64 KiB of GSO payload + Ethernet and VLAN headers.
  static constexpr uint32_t kMaxFrame = 65536 + 14 + 4;
  static constexpr unsigned kBudget = 256;  // frames per wake-up, so one queue cannot starve another

  VirtioNet(MacAddress mac, std::unique_ptr<NetBackend> backend, std::unique_ptr<VhostNet> vhost);
  ~VirtioNet() override;

  uint16_t device_type() const override { return virtio::kDeviceNet; }
  uint32_t pci_class() const override { return 0x020000; }  // Ethernet controller
  unsigned num_queues() const override { return 2 * pairs_ + (pairs_ > 1 ? 1 : 0); }
  uint64_t device_features() const override { return features_; }

  uint32_t config_size() const override { return 10; }  // mac, status, max_virtqueue_pairs (5.1.4)
  void read_config(uint32_t offset, std::span<uint8_t> data) override;

  Status activate(const virtio::Activation& activation) override;
  void queue_notified(unsigned queue) override;
  void reset() override;

  bool vhost() const { return vhost_ != nullptr; }
  const NetBackend& backend() const { return *backend_; }

 private:
  void transmit(unsigned pair);
  void receive(unsigned pair);
  void control();
  void watch(unsigned pair, bool on);
  bool valid_tx_header(const uint8_t* hdr) const;
  template <typename... Args>
  void guest_error(fmt::format_string<Args...> f, Args&&... args);

  MacAddress mac_;
  std::unique_ptr<NetBackend> backend_;
  std::unique_ptr<VhostNet> vhost_;
  unsigned pairs_;
  uint64_t features_;
  // Loop thread state, valid between activate() and reset().
  virtio::EventLoop* loop_ = nullptr;
  uint64_t negotiated_ = 0;
  std::vector<virtio::Virtqueue*> queues_;
  std::vector<bool> watching_;
  unsigned active_pairs_ = 1;
  bool vhost_running_ = false;
  log::RateLimiter limiter_{5, std::chrono::seconds(10)};
};

}  // namespace altovirt::virtio_net

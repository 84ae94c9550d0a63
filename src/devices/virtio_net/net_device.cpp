#include "altovirt/virtio_net/net_device.h"

#include "altovirt/virtio_net/uapi.h"
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace altovirt::virtio_net {
namespace {

constexpr uint64_t bit(unsigned b) { return 1ull << b; }
constexpr size_t kMaxIov = 1024;  // UIO_MAXIOV
constexpr uint32_t kNumBuffersOffset = 10;  // virtio_net_hdr_v1.num_buffers

}  // namespace

Result<MacAddress> parse_mac(std::string_view text) {
  MacAddress mac{};
  // Exactly six two-digit hex groups separated by ':' (QEMU's and libvirt's form).
  if (text.size() != 17) return fail("MAC address '{}': expected six hex bytes like 52:54:00:12:34:56", text);
  for (size_t i = 0; i < 6; ++i) {
    const char* p = text.data() + 3 * i;
    if (i < 5 && p[2] != ':') return fail("MAC address '{}': expected six hex bytes like 52:54:00:12:34:56", text);
    auto [end, ec] = std::from_chars(p, p + 2, mac[i], 16);
    if (ec != std::errc() || end != p + 2)
      return fail("MAC address '{}': expected six hex bytes like 52:54:00:12:34:56", text);
  }
  if (mac[0] & 1) return fail("MAC address '{}' is a multicast address (the first byte must be even)", text);
  return mac;
}

VirtioNet::VirtioNet(MacAddress mac, std::unique_ptr<NetBackend> backend, std::unique_ptr<VhostNet> vhost)
    : mac_(mac), backend_(std::move(backend)), vhost_(std::move(vhost)), pairs_(backend_->queue_pairs()) {
  uint64_t ring = virtio::kFIndirectDesc | virtio::kFEventIdx | bit(VIRTIO_NET_F_MRG_RXBUF);
  // With vhost the kernel walks the rings: offer only the ring features it implements.
  if (vhost_) ring &= vhost_->features();
  features_ = ring | bit(VIRTIO_NET_F_MAC) | bit(VIRTIO_NET_F_STATUS) | backend_->offload_features();
  if (pairs_ > 1) features_ |= bit(VIRTIO_NET_F_CTRL_VQ) | bit(VIRTIO_NET_F_MQ);
  watching_.assign(pairs_, false);
}

VirtioNet::~VirtioNet() {
  if (loop_) reset();
}

void VirtioNet::read_config(uint32_t offset, std::span<uint8_t> data) {
  // struct virtio_net_config (5.1.4): mac[6], le16 status, le16 max_virtqueue_pairs.
  uint8_t config[10] = {mac_[0], mac_[1], mac_[2], mac_[3], mac_[4], mac_[5], VIRTIO_NET_S_LINK_UP, 0,
                        static_cast<uint8_t>(pairs_), static_cast<uint8_t>(pairs_ >> 8)};
  for (size_t i = 0; i < data.size(); ++i) data[i] = offset + i < sizeof config ? config[offset + i] : 0;
}

template <typename... Args>
void VirtioNet::guest_error(fmt::format_string<Args...> f, Args&&... args) {
  if (!limiter_.allow()) return;
  uint64_t more = limiter_.take_suppressed();
  log::warn("virtio-net", "{}: {}{}", backend_->name(), fmt::format(f, std::forward<Args>(args)...),
            more ? fmt::format(" ({} similar messages suppressed)", more) : "");
}

Status VirtioNet::activate(const virtio::Activation& a) {
  loop_ = &a.loop;
  negotiated_ = a.features;
  queues_ = a.queues;
  queues_.resize(num_queues(), nullptr);
  active_pairs_ = 1;  // 5.1.6.5.5: until VQ_PAIRS_SET, only the first pair
  AV_TRY(backend_->set_offloads(negotiated_));
  AV_TRY(backend_->set_active_pairs(1));
  if (vhost_) {
    if (auto s = vhost_->start(a, *backend_); !s) {
      vhost_->stop();
      return s;
    }
    vhost_running_ = true;
  } else {
    for (unsigned p = 0; p < pairs_; ++p) {
      if (queues_[2 * p] != nullptr) watch(p, true);
      transmit(p);
    }
  }
  return ok();
}

void VirtioNet::reset() {
  if (vhost_running_) vhost_->stop();
  vhost_running_ = false;
  for (unsigned p = 0; p < pairs_; ++p) watch(p, false);
  queues_.clear();
  loop_ = nullptr;
  negotiated_ = 0;
}

void VirtioNet::queue_notified(unsigned queue) {
  if (pairs_ > 1 && queue == 2 * pairs_) return control();
  unsigned pair = queue / 2;
  if (pair >= pairs_ || vhost_running_) return;
  if (queue % 2 == 1) transmit(pair);
  else receive(pair);  // new receive buffers: deliver what waits in the tap
}

void VirtioNet::watch(unsigned pair, bool on) {
  if (loop_ == nullptr || watching_[pair] == on) return;
  int fd = backend_->fd(pair);
  if (on) {
    if (auto s = loop_->add_fd(fd, [this, pair] { receive(pair); }); !s) {
      log::error("virtio-net", "{}: cannot watch queue pair {}: {}", backend_->name(), pair, s.error().message());
      return;
    }
  } else {
    loop_->remove_fd(fd);
  }
  watching_[pair] = on;
}

bool VirtioNet::valid_tx_header(const uint8_t* hdr) const {
  // 5.1.6.2.1: the driver sets NEEDS_CSUM only with VIRTIO_NET_F_CSUM, and a gso_type only with
  // the matching HOST_* feature (ECN with HOST_ECN); no other flag is meaningful on transmit.
  uint8_t flags = hdr[0], gso = hdr[1];
  if (flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM) return false;
  if ((flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !(negotiated_ & bit(VIRTIO_NET_F_CSUM))) return false;
  if ((gso & VIRTIO_NET_HDR_GSO_ECN) && !(negotiated_ & bit(VIRTIO_NET_F_HOST_ECN))) return false;
  switch (gso & ~VIRTIO_NET_HDR_GSO_ECN) {
    case VIRTIO_NET_HDR_GSO_NONE: return !(gso & VIRTIO_NET_HDR_GSO_ECN);
    case VIRTIO_NET_HDR_GSO_TCPV4: return negotiated_ & bit(VIRTIO_NET_F_HOST_TSO4);
    case VIRTIO_NET_HDR_GSO_TCPV6: return negotiated_ & bit(VIRTIO_NET_F_HOST_TSO6);
    case VIRTIO_NET_HDR_GSO_UDP: return negotiated_ & bit(VIRTIO_NET_F_HOST_UFO);
    default: return false;
  }
}

void VirtioNet::transmit(unsigned pair) {
  virtio::Virtqueue* tx = queues_.empty() ? nullptr : queues_[2 * pair + 1];
  if (tx == nullptr || pair >= active_pairs_) return;
  bool any = false;
  while (auto chain = tx->pop()) {
    any = true;
    size_t len = chain->readable_bytes();
    // One copy of the header, checked and then sent (the guest may rewrite its own meanwhile).
    uint8_t hdr[kHeaderSize];
    if (len < kHeaderSize || chain->read(0, hdr) != kHeaderSize) {
      guest_error("transmit chain of {} bytes is shorter than the {}-byte header; dropped", len, kHeaderSize);
    } else if (len > kHeaderSize + kMaxFrame) {
      guest_error("transmit frame of {} bytes is larger than {}; dropped", len - kHeaderSize, kMaxFrame);
    } else if (!valid_tx_header(hdr)) {
      guest_error("transmit header flags {:#x} gso_type {:#x} not negotiated; dropped", hdr[0], hdr[1]);
    } else {
      std::vector<iovec> iov;
      iov.push_back({hdr, kHeaderSize});
      for (auto span : chain->readable_range(kHeaderSize, len - kHeaderSize)) {
        if (iov.size() == kMaxIov) break;
        iov.push_back({span.data(), span.size()});
      }
      ssize_t n = ::writev(backend_->fd(pair), iov.data(), static_cast<int>(iov.size()));
      // The tap drops frames it cannot take (EAGAIN: its queue is full; EINVAL: a header the kernel
      // refuses), as a wire would; the guest gets its buffer back either way.
      if (n < 0 && errno != EAGAIN) guest_error("transmit: {}", std::strerror(errno));
    }
    tx->push(chain->head, 0);  // 5.1.6.2: nothing is written into a transmit buffer
  }
  if (any) tx->notify();
}

void VirtioNet::receive(unsigned pair) {
  virtio::Virtqueue* rx = queues_.empty() ? nullptr : queues_[2 * pair];
  if (rx == nullptr || pair >= active_pairs_) {
    // Not served (the driver did not enable this receive queue, or the pair is not active): stop
    // watching, else a frame waiting in the level-triggered fd makes the loop spin. VQ_PAIRS_SET
    // watches an activated pair again.
    watch(pair, false);
    return;
  }
  const bool mergeable = negotiated_ & bit(VIRTIO_NET_F_MRG_RXBUF);
  bool any = false, starved = false;
  for (unsigned frame = 0; frame < kBudget; ++frame) {
    // Buffers for one frame: one chain, or with MRG_RXBUF enough chains for the largest frame.
    std::vector<virtio::Chain> chains;
    std::vector<iovec> iov;
    size_t room = 0;
    while (room < kHeaderSize + kMaxFrame && iov.size() < kMaxIov) {
      auto chain = rx->pop();
      if (!chain) break;
      size_t w = chain->writable_bytes();
      if (w < kHeaderSize) {
        // Behind good buffers it waits for the next frame (it goes back with them); only as the
        // first it is returned: unpop() gives back the newest chains, which must not include one
        // already on the used ring.
        if (!chains.empty()) {
          rx->unpop();
          break;
        }
        // 5.1.6.3.1: every receive buffer holds at least the header.
        guest_error("receive buffer of {} bytes is smaller than the {}-byte header; returned unused", w, kHeaderSize);
        rx->push(chain->head, 0);
        any = true;
        continue;
      }
      for (auto span : chain->writable) {
        if (iov.size() == kMaxIov) break;
        iov.push_back({span.data(), span.size()});
      }
      room += w;
      chains.push_back(std::move(*chain));
      if (!mergeable) break;
    }
    if (chains.empty()) {
      starved = true;  // no buffers: wait for the driver's rx kick
      break;
    }
    ssize_t n = ::readv(backend_->fd(pair), iov.data(), static_cast<int>(iov.size()));
    if (n <= 0) {
      int err = errno;
      for (size_t i = 0; i < chains.size(); ++i) rx->unpop();  // given back, newest first
      if (n < 0 && (err == EAGAIN || err == EINTR)) break;     // the tap is empty
      // EFAULT/EINVAL: the frame did not fit the buffers; the tap dropped it.
      guest_error("receive: a frame larger than the {} bytes of receive buffers was dropped ({})", room,
                  n < 0 ? std::strerror(err) : "empty read");
      if (n == 0) break;
      continue;
    }
    // Which chains the frame filled, in order; the rest go back for the next frame.
    size_t left = static_cast<size_t>(n);
    size_t used = 0;
    while (used < chains.size() && (left > 0 || used == 0)) {
      size_t take = std::min(left, chains[used].writable_bytes());
      rx->push(chains[used].head, static_cast<uint32_t>(take));
      left -= take;
      ++used;
    }
    for (size_t i = used; i < chains.size(); ++i) rx->unpop();
    // 5.1.6.4: num_buffers is the number of buffers the frame used (1 without MRG_RXBUF).
    uint8_t nb[2] = {static_cast<uint8_t>(used), static_cast<uint8_t>(used >> 8)};
    chains[0].write(kNumBuffersOffset, nb);
    any = true;
  }
  if (any) rx->notify();
  // The fd is level-triggered: watched only while there are buffers to fill, else the loop spins.
  watch(pair, !starved);
}

void VirtioNet::control() {
  virtio::Virtqueue* cq = queues_.empty() ? nullptr : queues_[2 * pairs_];
  if (cq == nullptr) return;
  bool any = false;
  while (auto chain = cq->pop()) {
    any = true;
    // 5.1.6.5: le8 class, le8 command, command data (readable), le8 ack (the last writable byte).
    uint8_t ack = VIRTIO_NET_ERR;
    uint8_t hdr[4] = {};
    size_t len = chain->read(0, hdr);
    if (len >= 4 && hdr[0] == VIRTIO_NET_CTRL_MQ && hdr[1] == VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET &&
        (negotiated_ & bit(VIRTIO_NET_F_MQ))) {
      unsigned want = hdr[2] | hdr[3] << 8;
      // 5.1.6.5.5: 1..max_virtqueue_pairs; anything else is refused and nothing changes.
      if (want >= 1 && want <= pairs_) {
        if (auto s = backend_->set_active_pairs(want); s) {
          unsigned old = active_pairs_;
          active_pairs_ = want;
          for (unsigned p = old; p < want && !vhost_running_; ++p) {
            watch(p, true);
            transmit(p);
          }
          for (unsigned p = want; p < old; ++p) watch(p, false);
          if (want != old) log::info("virtio-net", "{}: the guest uses {} of {} queue pairs", backend_->name(), want, pairs_);
          ack = VIRTIO_NET_OK;
        } else {
          log::warn("virtio-net", "{}", s.error().message());
        }
      }
    } else {
      guest_error("control command class {} command {} not supported", hdr[0], hdr[1]);
    }
    size_t w = chain->writable_bytes();
    if (w > 0) chain->write(w - 1, std::span<const uint8_t>(&ack, 1));
    cq->push(chain->head, w > 0 ? 1 : 0);
  }
  if (any) cq->notify();
}

}  // namespace altovirt::virtio_net

#include "altovirt/devices/vhost_vsock.h"

// linux/virtio_ring.h (through vhost.h) has C-only legacy helpers; C++ cannot compile them.
#define VIRTIO_RING_NO_LEGACY
#include <linux/vhost.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

#include "altovirt/base/log.h"

namespace altovirt::devices {

Result<virtio::VhostBackend> VhostVsock::open_backend() { return virtio::VhostBackend::open(kDevice, "vhost_vsock"); }

Result<std::shared_ptr<VhostVsock>> VhostVsock::create(uint64_t cid) {
  if (cid < kFirstGuestCid)
    return fail("guest CID {} is reserved (0 hypervisor, 1 local, 2 host); use {} or above", cid, kFirstGuestCid);
  if (cid > kMaxGuestCid) return fail("guest CID {} is out of range (at most {})", cid, kMaxGuestCid);
  AV_TRY_ASSIGN(virtio::VhostBackend backend, open_backend());
  uint64_t c = cid;
  if (::ioctl(backend.fd(), VHOST_VSOCK_SET_GUEST_CID, &c) != 0) {
    int e = errno;
    if (e == EADDRINUSE)
      return fail_errno(e, "guest CID {} is already used by another VM on this host; choose another CID (or auto)", cid);
    return fail_errno(e, "guest CID {}: VHOST_VSOCK_SET_GUEST_CID", cid);
  }
  return std::shared_ptr<VhostVsock>(new VhostVsock(std::move(backend), cid));
}

Result<std::shared_ptr<VhostVsock>> VhostVsock::create_any() {
  AV_TRY_ASSIGN(virtio::VhostBackend backend, open_backend());
  // libvirt's virVsockAcquireGuestCid does the same walk; the kernel's answer is the only source
  // of truth for which CIDs are taken.
  for (uint64_t cid = kFirstGuestCid; cid <= kFirstGuestCid + 65536; ++cid) {
    uint64_t c = cid;
    if (::ioctl(backend.fd(), VHOST_VSOCK_SET_GUEST_CID, &c) == 0)
      return std::shared_ptr<VhostVsock>(new VhostVsock(std::move(backend), cid));
    if (errno != EADDRINUSE) return fail_errno(errno, "guest CID {}: VHOST_VSOCK_SET_GUEST_CID", cid);
  }
  return fail("no free guest CID from {} to {}", kFirstGuestCid, kFirstGuestCid + 65536);
}

VhostVsock::~VhostVsock() = default;  // the transport resets an active model; closing the fd frees the CID

uint64_t VhostVsock::device_features() const {
  // The device-specific bits (0..23, e.g. VIRTIO_VSOCK_F_SEQPACKET) and the ring features the
  // kernel implements; the transport adds VERSION_1 and offers nothing it does not know.
  return backend_.features() & (((1ull << 24) - 1) | virtio::kFIndirectDesc | virtio::kFEventIdx);
}

void VhostVsock::read_config(uint32_t offset, std::span<uint8_t> data) {
  uint8_t config[8];
  std::memcpy(config, &cid_, 8);  // 5.10.4: le64 guest_cid
  for (size_t i = 0; i < data.size(); ++i) data[i] = offset + i < 8 ? config[offset + i] : 0;
}

Status VhostVsock::set_running(bool on) {
  int running = on ? 1 : 0;
  if (::ioctl(backend_.fd(), VHOST_VSOCK_SET_RUNNING, &running) != 0)
    return fail_errno(errno, "{}: VHOST_VSOCK_SET_RUNNING {}", kDevice, running);
  running_ = on;
  return ok();
}

Status VhostVsock::activate(const virtio::Activation& a) {
  Status s = start(a);
  if (!s) reset();  // the transport does not reset a model whose activate failed: undo here
  return s;
}

Status VhostVsock::start(const virtio::Activation& a) {
  // VERSION_1 must reach vhost (it then reads the rings as little-endian, virtio 1.x).
  AV_TRY(backend_.set_features(a.features));
  AV_TRY(backend_.set_mem_table(a.ram.regions()));
  for (unsigned q : {kRxQueue, kTxQueue}) {
    if (q >= a.queues.size() || a.queues[q] == nullptr)
      return fail("vsock: the driver did not enable queue {} (rx and tx are required)", q);
    AV_TRY_ASSIGN(virtio::QueueEventFds fds, a.detach_queue(q));
    AV_TRY(backend_.start_queue(q, a.queues[q]->layout(), a.ram, fds));
    rings_bound_ = true;
  }
  return set_running(true);
}

void VhostVsock::reset() {
  if (running_) {
    if (auto s = set_running(false); !s) log::warn("vsock", "{}", s.error().message());
  }
  if (rings_bound_) {
    backend_.stop_queue(kRxQueue);
    backend_.stop_queue(kTxQueue);
    rings_bound_ = false;
  }
}

}  // namespace altovirt::devices

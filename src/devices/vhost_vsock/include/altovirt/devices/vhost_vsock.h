// VhostVsock: the virtio socket device (virtio 1.2 section 5.10) whose rx and tx queues run in the
// host kernel's vhost-vsock (/dev/vhost-vsock), so guest <-> host AF_VSOCK traffic never passes
// through altovirt. The guest's context id (CID) is the device configuration (le64 guest_cid, 5.10.4).
//
// The CID is claimed when the device is created (VHOST_VSOCK_SET_GUEST_CID registers it with the
// host kernel at once), so a CID another VM holds fails before the guest runs (EADDRINUSE), and is
// released when the device (its fd) goes. CIDs 0, 1 and 2 are the hypervisor, local and host
// addresses (5.10.4, VMADDR_CID_*) and are refused, as is 0xffffffff (VMADDR_CID_ANY) and anything
// above 32 bits. create_any() takes the first free CID from 3 up (libvirt's <cid auto='yes'>).
//
// At DRIVER_OK: VHOST_SET_FEATURES, VHOST_SET_MEM_TABLE, the rx and tx rings on the transport's
// kick/call eventfds (Activation::detach_queue), VHOST_VSOCK_SET_RUNNING 1. The event queue stays
// with altovirt: the device keeps the guest's event buffers and would use them only for
// VIRTIO_VSOCK_EVENT_TRANSPORT_RESET, which a VM that is never migrated does not send. On reset:
// SET_RUNNING 0 and the rings are unbound, so the kernel stops touching guest memory (2.4.1).
//
// Threading: activate, queue_notified and reset run on the device's EventLoop thread (the
// transport's contract); read_config from vCPU threads reads the constant CID.
#pragma once

#include <cstdint>
#include <memory>

#include "altovirt/base/error.h"
#include "altovirt/virtio/device.h"
#include "altovirt/virtio/vhost_backend.h"

namespace altovirt::devices {

inline constexpr uint16_t kDeviceVsock = 19;  // virtio 1.2 section 5: socket device

class VhostVsock : public virtio::VirtioDevice {
 public:
  static constexpr const char* kDevice = "/dev/vhost-vsock";
  static constexpr unsigned kRxQueue = 0, kTxQueue = 1, kEventQueue = 2;
  static constexpr uint64_t kFirstGuestCid = 3;
  static constexpr uint64_t kMaxGuestCid = 0xfffffffe;

  // Claims `cid`. Errors name the CID: reserved, out of range, or in use by another VM.
  static Result<std::shared_ptr<VhostVsock>> create(uint64_t cid);
  // Claims the first free CID from 3 up.
  static Result<std::shared_ptr<VhostVsock>> create_any();
  ~VhostVsock() override;

  uint64_t guest_cid() const { return cid_; }

  uint16_t device_type() const override { return kDeviceVsock; }
  uint32_t pci_class() const override { return 0x078000; }  // communication controller, other (as QEMU)
  unsigned num_queues() const override { return 3; }
  uint64_t device_features() const override;
  uint32_t config_size() const override { return 8; }
  void read_config(uint32_t offset, std::span<uint8_t> data) override;

  Status activate(const virtio::Activation& activation) override;
  void queue_notified(unsigned) override {}  // only the event queue reaches here: its buffers wait
  void reset() override;

 private:
  VhostVsock(virtio::VhostBackend backend, uint64_t cid) : backend_(std::move(backend)), cid_(cid) {}
  static Result<virtio::VhostBackend> open_backend();
  Status set_running(bool on);
  Status start(const virtio::Activation& activation);

  virtio::VhostBackend backend_;
  uint64_t cid_;
  bool running_ = false;
  bool rings_bound_ = false;
};

}  // namespace altovirt::devices

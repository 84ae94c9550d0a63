// VirtioDevice: what a virtio device model (block, console, ...) implements. The model knows its
// device type, its feature bits, its configuration space and what to do with a request; it knows
// nothing about PCI, KVM or interrupts. The transport (VirtioPciDevice) owns the queues, negotiates
// features, and calls the model at these points:
//
//   device_features()  what the model offers: its device-specific bits plus the transport bits it
//                      can use (VIRTIO_F_INDIRECT_DESC, VIRTIO_F_EVENT_IDX). The transport adds
//                      VIRTIO_F_VERSION_1 itself and offers nothing else.
//   accept_features()  FEATURES_OK: may refuse a combination (then FEATURES_OK is not set, 3.1.1).
//   read/write_config  the device-specific configuration structure (offsets already checked
//                      against config_size()).
//   activate()         DRIVER_OK: the negotiated features and the enabled queues are final.
//   queue_notified(q)  the driver kicked queue q: pop chains, start or finish requests, push and
//                      notify. Completions that arrive later (an io_uring CQE, a timer) come through
//                      fds the model added to the same EventLoop and are handled there too.
//   reset()            the driver wrote status 0, or the VM is going away: stop, wait for every
//                      request in flight (2.1 / 4.1.4.3: "the device MUST ... not ... consume any
//                      buffers after reset"), forget the queues. After it returns the model touches
//                      neither guest memory nor the queues until the next activate().
//
// Threading: activate, queue_notified and reset run on the device's EventLoop thread (the transport
// uses EventLoop::run_sync for the first and last), never concurrently with each other, so a model
// needs no lock for its queue state. device_features, config_size, num_queues and max_queue_size are
// constant. read_config/write_config come from vCPU threads (serialised per device by the
// transport); a model whose config changes at run time guards it itself and calls
// Activation::config_changed to interrupt the driver.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/virtio/event_loop.h"
#include "altovirt/virtio/guest_ram.h"
#include "altovirt/virtio/virtqueue.h"

namespace altovirt::virtio {

// Device IDs (virtio 1.2 section 5); the PCI device ID is 0x1040 + id (4.1.2.1).
inline constexpr uint16_t kDeviceNet = 1;
inline constexpr uint16_t kDeviceBlock = 2;
inline constexpr uint16_t kDeviceConsole = 3;

// Reserved feature bits (6).
inline constexpr uint64_t kFIndirectDesc = 1ull << 28;
inline constexpr uint64_t kFEventIdx = 1ull << 29;
inline constexpr uint64_t kFVersion1 = 1ull << 32;

// A queue's notifications as eventfds, for a backend that runs the queue outside the model's
// EventLoop (vhost in the kernel): the kernel reads `kick` (the driver's notify, a KVM ioeventfd)
// and signals `call` to interrupt the driver for the queue (an MSI-X vector's KVM irqfd, or an
// eventfd the transport relays to INTx). Owned by the transport; valid until reset().
struct QueueEventFds {
  int kick = -1;
  int call = -1;
};

// What a model gets at DRIVER_OK.
struct Activation {
  const GuestRam& ram;
  uint64_t features;               // negotiated
  std::vector<Virtqueue*> queues;  // by queue index; nullptr when the driver did not enable it
  EventLoop& loop;                 // the loop the model runs on
  std::function<void()> config_changed;  // raises the configuration change interrupt
  // Hands queue q's notifications over (only from activate()): from then until reset() the
  // transport no longer reads q's kick nor calls queue_notified(q), and the model must not use the
  // Virtqueue's pop/push/notify for q; the backend does.
  std::function<Result<QueueEventFds>(unsigned q)> detach_queue;
};

class VirtioDevice {
 public:
  virtual ~VirtioDevice() = default;

  virtual uint16_t device_type() const = 0;
  // PCI class code (base class << 16 | subclass << 8 | prog-if), e.g. 0x010000 for storage.
  virtual uint32_t pci_class() const = 0;
  virtual unsigned num_queues() const = 0;
  virtual uint16_t max_queue_size() const { return 256; }
  virtual uint64_t device_features() const = 0;
  virtual bool accept_features(uint64_t /*features*/) { return true; }

  virtual uint32_t config_size() const = 0;
  virtual void read_config(uint32_t offset, std::span<uint8_t> data) = 0;
  virtual void write_config(uint32_t /*offset*/, std::span<const uint8_t> /*data*/) {}

  virtual Status activate(const Activation& activation) = 0;
  virtual void queue_notified(unsigned queue) = 0;
  virtual void reset() = 0;
};

}  // namespace altovirt::virtio

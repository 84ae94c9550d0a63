// VirtioInput: the virtio input device (virtio 1.2 section 5.8) as a keyboard or a tablet, fed by the
// VNC server through ui::InputSink.
//
// The configuration space answers the driver's select/subsel queries (5.8.4): the device's name,
// its ids, and which event types, keys and absolute axes it has; the driver builds a Linux evdev
// device from them (/dev/input/event* in the guest). Events then travel on the eventq (queue 0), one
// struct virtio_input_event per buffer the driver made available; the statusq (queue 1) carries
// the driver's LED and repeat settings, which are consumed and returned.
//
// send() comes from another thread (the VNC server's): events wait in a bounded queue (a report
// is never split by the bound: a whole report is dropped, rate-limited in the log, when the queue
// is full) and an eventfd wakes the device's loop, which moves them into the guest's buffers.
// Events sent while the driver is not ready are dropped (as on a real bus, nothing listens).
//
// Threading: activate, queue_notified, reset and the eventfd callback run on the EventLoop thread;
// read_config/write_config on vCPU threads (the selection is guarded by config_mutex_); send() on
// any thread (pending_ is guarded by mutex_).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/base/fd.h"
#include "altovirt/base/log.h"
#include "altovirt/ui/display.h"
#include "altovirt/virtio/device.h"

namespace altovirt::devices {

inline constexpr uint16_t kDeviceInput = 18;  // virtio 1.2 section 5: input device
inline constexpr uint32_t kTabletMax = 32767;   // the tablet's ABS_X/ABS_Y range is 0..32767 (QEMU's)

enum class InputKind { keyboard, tablet };

class VirtioInput : public virtio::VirtioDevice, public ui::InputSink {
 public:
  static Result<std::shared_ptr<VirtioInput>> create(InputKind kind);
  ~VirtioInput() override;

  uint16_t device_type() const override { return kDeviceInput; }
  uint32_t pci_class() const override { return 0x098000; }  // input controller, other (as QEMU's virtio-input)
  unsigned num_queues() const override { return 2; }        // eventq, statusq
  uint64_t device_features() const override { return virtio::kFIndirectDesc | virtio::kFEventIdx; }
  uint32_t config_size() const override { return 136; }     // struct virtio_input_config
  void read_config(uint32_t offset, std::span<uint8_t> data) override;
  void write_config(uint32_t offset, std::span<const uint8_t> data) override;

  Status activate(const virtio::Activation& activation) override;
  void queue_notified(unsigned queue) override;
  void reset() override;

  void send(std::span<const ui::InputEvent> events) override;

  InputKind kind() const { return kind_; }
  // For tests: events delivered to the guest, and events dropped.
  uint64_t delivered() const { return delivered_.load(); }
  uint64_t dropped() const { return dropped_.load(); }

  static constexpr size_t kMaxPending = 1024;

 private:
  VirtioInput(InputKind kind, UniqueFd wake) : kind_(kind), wake_(std::move(wake)) {}
  // The union part of the configuration for the current select/subsel, and its size.
  std::vector<uint8_t> config_payload(uint8_t select, uint8_t subsel) const;
  void deliver();
  void drain_status();

  InputKind kind_;
  UniqueFd wake_;
  std::mutex config_mutex_;
  uint8_t select_ = 0, subsel_ = 0;
  std::mutex mutex_;
  std::deque<ui::InputEvent> pending_;
  bool active_ = false;  // under mutex_: the driver is ready, send() queues
  virtio::EventLoop* loop_ = nullptr;
  virtio::Virtqueue* events_ = nullptr;
  virtio::Virtqueue* status_ = nullptr;
  std::atomic<uint64_t> delivered_{0}, dropped_{0};
  log::RateLimiter limiter_{5, std::chrono::seconds(10)};
};

}  // namespace altovirt::devices

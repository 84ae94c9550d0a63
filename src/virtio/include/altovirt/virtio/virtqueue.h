// Virtqueue: one split virtqueue (virtio 1.2 section 2.7) as the device side sees it.
//
// The transport configures it from what the driver wrote (size, the three ring addresses, the
// negotiated INDIRECT_DESC / EVENT_IDX) and enables it; the device model then
//   - pop()s available chains: each descriptor is copied once from guest memory, then checked:
//     address + length inside RAM and not wrapping, NEXT indices < size, a chain never longer than
//     the queue size (loop), INDIRECT only when negotiated, table length a multiple of 16 and at most
//     `size` entries, no INDIRECT inside an indirect table, no INDIRECT|NEXT, readable before
//     writable. The avail index may run at most `size` ahead of the device (2.7.6). Zero-length
//     descriptors are accepted and contribute no bytes.
//   - push()es completions (head + bytes written into the device-writable buffers), and
//   - notify()s: publishes used->idx and interrupts the driver unless it asked not to be
//     (VRING_AVAIL_F_NO_INTERRUPT, or with EVENT_IDX when used_event was not crossed, 2.7.10), with a
//     full fence between publishing used->idx and reading used_event (else a lost interrupt).
// A broken chain or ring makes the queue "broken": the error callback is called once (the transport
// sets DEVICE_NEEDS_RESET and logs, rate-limited) and pop() returns nothing until the queue is
// configured again.
//
// Threading: not synchronised. The transport configures it while the device is stopped; after
// activation only the device's event-loop thread uses it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "altovirt/base/error.h"
#include "altovirt/virtio/chain.h"
#include "altovirt/virtio/guest_ram.h"

namespace altovirt::virtio {

struct QueueLayout {
  uint16_t size = 0;  // a power of two, 1..32768
  uint64_t desc = 0, avail = 0, used = 0;
};

// The ring indices as guest memory holds them (2.7.6, 2.7.8, 2.7.10): what the driver has made
// available, what the device has used, and where each side asked to be notified.
struct RingState {
  uint16_t avail_idx = 0, avail_flags = 0;  // driver area: idx, flags
  uint16_t used_idx = 0;                    // device area: idx (as published by notify())
  uint16_t used_event = 0;                  // driver area: interrupt me when used idx passes this (EVENT_IDX)
  uint16_t avail_event = 0;                 // device area: kick me when avail idx passes this (EVENT_IDX)
};

class Virtqueue {
 public:
  Virtqueue(const GuestRam& ram, unsigned index) : ram_(ram), index_(index) {}

  // Transport side. Checks the layout (power-of-two size, alignment 16/2/4, each ring inside RAM)
  // and resets the device's ring position to 0.
  Status configure(const QueueLayout& layout, bool indirect, bool event_idx);
  void set_interrupt(std::function<void()> raise) { raise_ = std::move(raise); }
  void set_error_handler(std::function<void(const std::string&)> on_error) { on_error_ = std::move(on_error); }
  bool ready() const { return ready_; }
  void disable() { ready_ = false; }

  // Device side.
  unsigned index() const { return index_; }
  uint16_t size() const { return layout_.size; }
  // Where the rings are (guest-physical), for a backend that runs the queue itself (vhost).
  const QueueLayout& layout() const { return layout_; }
  bool broken() const { return broken_.load(); }
  // Diagnosis (a driver or device that stopped): the indices read from guest memory with atomic
  // loads, nullopt when the queue is not configured. Any thread may call it while the transport
  // keeps the queue configured (its lock held); the values are a snapshot of a moving ring.
  std::optional<RingState> ring_state() const;
  // The next available chain, or nullopt when none is available or the queue is broken.
  std::optional<Chain> pop();
  // Gives the last popped chain back (rate limiting: it is popped again later).
  void unpop() { --last_avail_; }
  // Puts chain `head` on the used ring with `written` bytes (not visible to the driver until notify()).
  void push(uint16_t head, uint32_t written);
  // Publishes pushed entries and interrupts the driver when it wants to be.
  void notify();
  // The EVENT_IDX rule alone (2.7.10.2): interrupt when used_event lies in [old, new).
  static bool need_event(uint16_t used_event, uint16_t new_idx, uint16_t old_idx) {
    return static_cast<uint16_t>(new_idx - used_event - 1) < static_cast<uint16_t>(new_idx - old_idx);
  }

 private:
  void fail_queue(const std::string& why);
  Status walk(std::span<const uint8_t> table, uint16_t first, bool in_indirect, Chain& chain);
  bool should_notify();

  const GuestRam& ram_;
  unsigned index_;
  QueueLayout layout_;
  bool indirect_ = false, event_idx_ = false, ready_ = false;
  std::atomic<bool> broken_{false};  // set on the loop thread, read by ring_state()'s callers
  uint16_t last_avail_ = 0;   // next avail ring slot the device reads
  uint16_t used_idx_ = 0;     // next used ring slot the device writes (driver sees it after notify)
  uint16_t signalled_used_ = 0;  // used->idx at the last interrupt decision
  bool signalled_valid_ = false;
  bool pushed_ = false;
  std::span<uint8_t> desc_;
  uint8_t* avail_ = nullptr;
  uint8_t* used_ = nullptr;
  std::function<void()> raise_;
  std::function<void(const std::string&)> on_error_;
};

}  // namespace altovirt::virtio

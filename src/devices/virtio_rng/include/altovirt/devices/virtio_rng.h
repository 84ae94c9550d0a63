// VirtioRng: the virtio entropy device (virtio 1.2 section 5.4): one request queue whose buffers
// are device-writable only; the device fills each with bytes read from its backend (a file such as
// /dev/urandom, QEMU's rng-random object) and returns it with the number of bytes written (5.4.6:
// "the device MAY write fewer bytes than the buffer holds").
//
// Rate limit (QEMU's max-bytes/period, libvirt's <rate bytes period>): at most max_bytes per
// period. The budget is a window: the first request after a window ended opens a new one with the
// full max_bytes; when the budget is spent the device stops popping, leaves the buffers on the
// ring, and arms a timerfd for the end of the window, so a guest that reads continuously (the
// kernel's hwrng thread does) never makes the device spin and gets max_bytes per period on
// average. max_bytes 0 means no limit.
//
// The backend is read non-blocking: a source that has nothing now (a FIFO, /dev/random on an old
// kernel) is watched for readability and the request waits; a regular file that reaches its end
// starts again from the beginning (QEMU's rng-random does the same: it re-reads the file).
//
// Threading: activate, queue_notified, reset and the timer/backend callbacks run on the device's
// EventLoop thread (the transport's contract), so the state has no lock.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "altovirt/base/error.h"
#include "altovirt/base/fd.h"
#include "altovirt/base/log.h"
#include "altovirt/virtio/device.h"

namespace altovirt::devices {

inline constexpr uint16_t kDeviceEntropy = 4;  // virtio 1.2 section 5: entropy source

struct RngOptions {
  uint64_t max_bytes = 0;                           // per period; 0 = unlimited
  std::chrono::milliseconds period{1000};
};

class VirtioRng : public virtio::VirtioDevice {
 public:
  using Clock = std::chrono::steady_clock;
  // Opens `path` (read-only, non-blocking). The error names the path; the caller adds the option.
  static Result<std::shared_ptr<VirtioRng>> open(const std::string& path, const RngOptions& options);
  ~VirtioRng() override;

  uint16_t device_type() const override { return kDeviceEntropy; }
  uint32_t pci_class() const override { return 0xff0000; }  // unassigned class, as QEMU's virtio-rng
  unsigned num_queues() const override { return 1; }
  uint64_t device_features() const override { return virtio::kFIndirectDesc | virtio::kFEventIdx; }
  uint32_t config_size() const override { return 0; }  // 5.4.4: no configuration
  void read_config(uint32_t, std::span<uint8_t> data) override { std::fill(data.begin(), data.end(), 0); }

  Status activate(const virtio::Activation& activation) override;
  void queue_notified(unsigned queue) override;
  void reset() override;

  // Bytes delivered to the guest so far (for tests and the log).
  uint64_t delivered() const { return delivered_; }

 private:
  VirtioRng(UniqueFd source, UniqueFd timer, std::string path, const RngOptions& options)
      : source_(std::move(source)), timer_(std::move(timer)), path_(std::move(path)), options_(options) {}
  void serve();
  // Reads up to `want` bytes into the chain; 0 with `would_block` set when the source has none now.
  size_t fill(const virtio::Chain& chain, size_t want, bool& would_block);
  void arm_timer(Clock::time_point at);
  void watch_source(bool on);

  UniqueFd source_, timer_;
  std::string path_;
  RngOptions options_;
  virtio::EventLoop* loop_ = nullptr;
  virtio::Virtqueue* queue_ = nullptr;
  Clock::time_point window_end_{};
  uint64_t budget_ = 0;  // bytes left in the current window
  bool timer_armed_ = false, watching_ = false;
  std::atomic<uint64_t> delivered_{0};  // written on the loop thread, read anywhere
  log::RateLimiter limiter_{5, std::chrono::seconds(10)};
};

}  // namespace altovirt::devices

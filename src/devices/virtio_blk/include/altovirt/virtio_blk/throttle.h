// Throttle: the drive's I/O limits (QEMU -drive iops/iops_rd/iops_wr/bps/bps_rd/bps_wr, libvirt
// <iotune> total/read/write_iops_sec and _bytes_sec) as token buckets, one per limit. Each bucket
// refills at its rate and holds at most one second's worth; a request may start when every bucket
// that applies to it has a positive balance, and then takes its cost (1 request, or its bytes) from
// each, possibly going into debt, so a request larger than a second's budget still runs and the
// long-run rate is the limit. When a request may not start, wait() says how long until it may: the
// device stops popping and arms a timer for that long.
//
// Threading: not synchronised; used on the device's I/O thread.
#pragma once

#include <chrono>
#include <cstdint>

namespace altovirt::virtio_blk {

struct Limits {
  uint64_t iops = 0, iops_rd = 0, iops_wr = 0;
  uint64_t bps = 0, bps_rd = 0, bps_wr = 0;
  bool any() const { return iops || iops_rd || iops_wr || bps || bps_rd || bps_wr; }
};

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;
  TokenBucket() = default;
  TokenBucket(uint64_t rate, Clock::time_point now) : rate_(rate), tokens_(static_cast<double>(rate)), last_(now) {}
  bool limited() const { return rate_ != 0; }
  // True when the bucket holds `cost` (at most a second's worth) now.
  bool ready(uint64_t cost, Clock::time_point now);
  void take(uint64_t cost) { tokens_ -= static_cast<double>(cost); }
  // Time until ready(cost) (0 when ready now).
  Clock::duration wait(uint64_t cost, Clock::time_point now);

 private:
  void refill(Clock::time_point now);
  uint64_t rate_ = 0;  // per second; 0 = unlimited
  double tokens_ = 0;
  Clock::time_point last_{};
};

class Throttle {
 public:
  using Clock = TokenBucket::Clock;
  explicit Throttle(const Limits& limits, Clock::time_point now = Clock::now());
  bool limited() const { return limited_; }
  // True when a request (write or not, of `bytes` data bytes) may start now; takes its cost.
  bool admit(bool write, uint64_t bytes, Clock::time_point now = Clock::now());
  // How long until a request of that kind may start.
  Clock::duration wait(bool write, uint64_t bytes, Clock::time_point now = Clock::now());

 private:
  TokenBucket iops_, iops_rd_, iops_wr_, bps_, bps_rd_, bps_wr_;
  bool limited_;
};

}  // namespace altovirt::virtio_blk

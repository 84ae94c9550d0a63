#include "altovirt/virtio_blk/throttle.h"

#include <algorithm>
#include <cmath>

namespace altovirt::virtio_blk {

void TokenBucket::refill(Clock::time_point now) {
  if (now <= last_) return;
  double secs = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(static_cast<double>(rate_), tokens_ + secs * static_cast<double>(rate_));
  last_ = now;
}

static double need(uint64_t cost, uint64_t rate) { return static_cast<double>(std::min(cost, rate)); }

bool TokenBucket::ready(uint64_t cost, Clock::time_point now) {
  if (!limited()) return true;
  refill(now);
  return tokens_ >= need(cost, rate_);
}

TokenBucket::Clock::duration TokenBucket::wait(uint64_t cost, Clock::time_point now) {
  if (ready(cost, now)) return Clock::duration::zero();
  double secs = (need(cost, rate_) - tokens_) / static_cast<double>(rate_);
  // Rounded up by a microsecond, so that the bucket really holds the cost when the timer fires.
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(secs)) + std::chrono::microseconds(1);
}

Throttle::Throttle(const Limits& l, Clock::time_point now)
    : iops_(l.iops, now), iops_rd_(l.iops_rd, now), iops_wr_(l.iops_wr, now), bps_(l.bps, now),
      bps_rd_(l.bps_rd, now), bps_wr_(l.bps_wr, now), limited_(l.any()) {}

bool Throttle::admit(bool write, uint64_t bytes, Clock::time_point now) {
  if (!limited_) return true;
  TokenBucket& ops = write ? iops_wr_ : iops_rd_;
  TokenBucket& bps = write ? bps_wr_ : bps_rd_;
  if (!iops_.ready(1, now) || !ops.ready(1, now) || !bps_.ready(bytes, now) || !bps.ready(bytes, now)) return false;
  iops_.take(1);
  ops.take(1);
  bps_.take(bytes);
  bps.take(bytes);
  return true;
}

Throttle::Clock::duration Throttle::wait(bool write, uint64_t bytes, Clock::time_point now) {
  if (!limited_) return Clock::duration::zero();
  return std::max({iops_.wait(1, now), (write ? iops_wr_ : iops_rd_).wait(1, now), bps_.wait(bytes, now),
                   (write ? bps_wr_ : bps_rd_).wait(bytes, now)});
}

}  // namespace altovirt::virtio_blk

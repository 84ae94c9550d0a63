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

bool TokenBucket::ready(Clock::time_point now) {
  if (!limited()) return true;
  refill(now);
  return tokens_ > 0;
}

TokenBucket::Clock::duration TokenBucket::wait(Clock::time_point now) {
  if (ready(now)) return Clock::duration::zero();
  // Until the balance is positive again (plus a little, so that it is).
  double secs = (-tokens_ + 1e-6 * static_cast<double>(rate_)) / static_cast<double>(rate_);
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(secs)) + std::chrono::microseconds(1);
}

Throttle::Throttle(const Limits& l, Clock::time_point now)
    : iops_(l.iops, now), iops_rd_(l.iops_rd, now), iops_wr_(l.iops_wr, now), bps_(l.bps, now),
      bps_rd_(l.bps_rd, now), bps_wr_(l.bps_wr, now), limited_(l.any()) {}

bool Throttle::admit(bool write, uint64_t bytes, Clock::time_point now) {
  if (!limited_) return true;
  TokenBucket& ops = write ? iops_wr_ : iops_rd_;
  TokenBucket& bps = write ? bps_wr_ : bps_rd_;
  if (!iops_.ready(now) || !ops.ready(now) || !bps_.ready(now) || !bps.ready(now)) return false;
  iops_.take(1);
  ops.take(1);
  bps_.take(bytes);
  bps.take(bytes);
  return true;
}

Throttle::Clock::duration Throttle::wait(bool write, Clock::time_point now) {
  if (!limited_) return Clock::duration::zero();
  return std::max({iops_.wait(now), (write ? iops_wr_ : iops_rd_).wait(now), bps_.wait(now),
                   (write ? bps_wr_ : bps_rd_).wait(now)});
}

}  // namespace altovirt::virtio_blk

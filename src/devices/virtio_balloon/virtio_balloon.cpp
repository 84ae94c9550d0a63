#include "altovirt/devices/virtio_balloon.h"

#include <sys/mman.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

namespace altovirt::devices {
namespace {

uint32_t le32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace

Result<std::shared_ptr<VirtioBalloon>> VirtioBalloon::create(BalloonOptions options) {
  if (options.ram_bytes == 0 || options.ram_bytes / kPageSize > UINT32_MAX)
    return fail("the balloon needs the guest's RAM size (1 page .. 16 TiB)");
  if (!options.discard_allowed) options.discard_allowed = [] { return true; };
  UniqueFd timer(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!timer) return fail_errno(errno, "timerfd");
  return std::shared_ptr<VirtioBalloon>(new VirtioBalloon(std::move(options), std::move(timer)));
}

VirtioBalloon::~VirtioBalloon() = default;  // the transport resets an active model before it goes

uint64_t VirtioBalloon::device_features() const {
  return kFStatsVq | (options_.deflate_on_oom ? kFDeflateOnOom : 0) | virtio::kFIndirectDesc | virtio::kFEventIdx;
}

void VirtioBalloon::read_config(uint32_t offset, std::span<uint8_t> data) {
  // struct virtio_balloon_config (5.5.4): le32 num_pages (device), le32 actual (driver).
  std::array<uint8_t, kConfigSize> config{};
  uint32_t num = num_pages_.load(), actual = actual_pages_.load();
  std::memcpy(config.data(), &num, 4);
  std::memcpy(config.data() + 4, &actual, 4);
  for (size_t i = 0; i < data.size(); ++i) data[i] = offset + i < kConfigSize ? config[offset + i] : 0;
}

void VirtioBalloon::write_config(uint32_t offset, std::span<const uint8_t> data) {
  // Only `actual` is the driver's (5.5.4); the Linux driver writes it as one le32.
  if (offset != 4 || data.size() != 4) return;
  uint32_t actual = le32(data.data());
  // The driver's count, trusted only as far as the RAM goes (it feeds query-balloon's actual).
  actual_pages_ = std::min<uint64_t>(actual, options_.ram_bytes / kPageSize);
}

void VirtioBalloon::set_target(uint64_t guest_bytes) {
  uint64_t ram_pages = options_.ram_bytes / kPageSize;
  uint64_t keep = std::min(guest_bytes, options_.ram_bytes) / kPageSize;
  num_pages_ = static_cast<uint32_t>(ram_pages - keep);
  std::lock_guard lock(mutex_);
  if (config_changed_) config_changed_();  // 5.5.6: the driver re-reads num_pages on a config change
}

uint64_t VirtioBalloon::target_bytes() const { return options_.ram_bytes - uint64_t{num_pages_.load()} * kPageSize; }
uint64_t VirtioBalloon::actual_bytes() const { return options_.ram_bytes - uint64_t{actual_pages_.load()} * kPageSize; }

BalloonStats VirtioBalloon::stats() const {
  std::lock_guard lock(mutex_);
  return stats_values_;
}

Status VirtioBalloon::activate(const virtio::Activation& a) {
  ram_ = &a.ram;
  loop_ = &a.loop;
  auto q = [&](unsigned i) { return a.queues.size() > i ? a.queues[i] : nullptr; };
  inflate_ = q(kInflateQueue);
  deflate_ = q(kDeflateQueue);
  stats_ = (a.features & kFStatsVq) ? q(kStatsQueue) : nullptr;
  if (stats_ && options_.stats_period_s > 0) {
    AV_TRY(loop_->add_fd(timer_.get(), [this] {
      uint64_t expirations;
      (void)!::read(timer_.get(), &expirations, sizeof expirations);
      return_stats_buffer();
    }));
    itimerspec every{};
    every.it_value.tv_sec = every.it_interval.tv_sec = static_cast<time_t>(options_.stats_period_s);
    ::timerfd_settime(timer_.get(), 0, &every, nullptr);
  }
  std::lock_guard lock(mutex_);
  config_changed_ = a.config_changed;
  return ok();
}

void VirtioBalloon::reset() {
  {
    std::lock_guard lock(mutex_);
    config_changed_ = nullptr;
  }
  if (loop_) loop_->remove_fd(timer_.get());
  itimerspec off{};
  ::timerfd_settime(timer_.get(), 0, &off, nullptr);
  // A reset driver holds no balloon pages (5.5.6: the driver starts with actual 0); the host's
  // target stays, and the driver inflates to it again.
  actual_pages_ = 0;
  stats_head_.reset();
  inflate_ = deflate_ = stats_ = nullptr;
  ram_ = nullptr;
  loop_ = nullptr;
}

void VirtioBalloon::queue_notified(unsigned queue) {
  if (queue == kInflateQueue) inflate();
  else if (queue == kDeflateQueue) deflate();
  else if (queue == kStatsQueue) take_stats();
}

void VirtioBalloon::release(uint32_t pfn) {
  uint64_t gpa = uint64_t{pfn} << 12;
  auto page = ram_->slice(gpa, kPageSize);
  if (!page) {
    // A PFN outside RAM (a hole, MMIO, past the end): skipped, never touched.
    ++rejected_;
    if (limiter_.allow()) {
      uint64_t more = limiter_.take_suppressed();
      log::warn("virtio-balloon", "guest inflated PFN {:#x} (GPA {:#x}), which is not guest RAM; ignored{}", pfn, gpa,
                more ? fmt::format(" ({} similar messages suppressed)", more) : "");
    }
    return;
  }
  if (!options_.discard_allowed()) return;  // pinned for DMA: accounted, not released
  int advice = options_.shared_memory ? MADV_REMOVE : MADV_DONTNEED;
  if (::madvise(page->data(), page->size(), advice) != 0) {
    if (limiter_.allow()) log::warn("virtio-balloon", "madvise of GPA {:#x}: {}", gpa, std::strerror(errno));
    return;
  }
  ++released_;
}

void VirtioBalloon::inflate() {
  if (!inflate_) return;
  bool any = false;
  while (auto chain = inflate_->pop()) {
    // 5.5.6: the buffer is an array of le32 PFNs. Read in bounded pieces (a copy, so the guest
    // cannot change a PFN between the check and the use); a trailing partial entry is ignored.
    size_t total = chain->readable_bytes() & ~size_t{3};
    std::array<uint8_t, 4096> buf;
    for (size_t off = 0; off < total; off += buf.size()) {
      size_t n = chain->read(off, std::span<uint8_t>(buf.data(), std::min(buf.size(), total - off)));
      for (size_t i = 0; i + 4 <= n; i += 4) release(le32(buf.data() + i));
    }
    inflate_->push(chain->head, 0);
    any = true;
  }
  if (any) inflate_->notify();
}

void VirtioBalloon::deflate() {
  if (!deflate_) return;
  bool any = false;
  // Without MUST_TELL_HOST the guest may already be using these pages; they fault back in.
  while (auto chain = deflate_->pop()) {
    deflate_->push(chain->head, 0);
    any = true;
  }
  if (any) deflate_->notify();
}

void VirtioBalloon::take_stats() {
  if (!stats_) return;
  while (auto chain = stats_->pop()) {
    if (stats_head_) {
      // 5.5.6.3: one stats buffer at a time; a second one is given back at once.
      stats_->push(*stats_head_, 0);
      stats_->notify();
    }
    stats_head_ = chain->head;
    // struct virtio_balloon_stat: le16 tag, le64 val, packed (10 bytes). Copied once, then read.
    size_t total = std::min<size_t>(chain->readable_bytes(), 10 * 64);
    std::vector<uint8_t> buf(total);
    size_t n = chain->read(0, buf);
    BalloonStats fresh;
    for (size_t i = 0; i + 10 <= n; i += 10) {
      uint16_t tag;
      uint64_t val;
      std::memcpy(&tag, buf.data() + i, 2);
      std::memcpy(&val, buf.data() + i + 2, 8);
      fresh.values[tag] = val;  // unknown tags are kept; consumers pick the ones they know
    }
    fresh.updated = std::chrono::system_clock::now();
    std::lock_guard lock(mutex_);
    stats_values_ = std::move(fresh);
  }
}

void VirtioBalloon::return_stats_buffer() {
  // 5.5.6.3.1: the device asks for new stats by using the buffer; the driver refills and re-adds it.
  if (!stats_ || !stats_head_) return;
  stats_->push(*stats_head_, 0);
  stats_head_.reset();
  stats_->notify();
}

}  // namespace altovirt::devices

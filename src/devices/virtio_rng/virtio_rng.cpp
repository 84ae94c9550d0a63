#include "altovirt/devices/virtio_rng.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace altovirt::devices {

Result<std::shared_ptr<VirtioRng>> VirtioRng::open(const std::string& path, const RngOptions& options) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return fail_errno(errno, "cannot open '{}' for reading", path);
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) return fail_errno(errno, "cannot stat '{}'", path);
  if (S_ISDIR(st.st_mode)) return fail("'{}' is a directory; name a file such as /dev/urandom", path);
  // A read now, so that a file the process may open but not read (EIO, EACCES on some devices)
  // fails before the guest runs rather than on its first request.
  uint8_t probe;
  if (::read(fd.get(), &probe, 1) < 0 && errno != EAGAIN && errno != EINTR)
    return fail_errno(errno, "cannot read '{}'", path);
  if (S_ISREG(st.st_mode)) {
    if (st.st_size == 0) return fail("'{}' is an empty file; it has no bytes to give", path);
    ::lseek(fd.get(), 0, SEEK_SET);
  }
  UniqueFd timer(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!timer) return fail_errno(errno, "timerfd");
  if (options.period.count() <= 0) return fail("the rate limit period must be at least 1 ms");
  return std::shared_ptr<VirtioRng>(new VirtioRng(std::move(fd), std::move(timer), path, options));
}

VirtioRng::~VirtioRng() = default;  // the transport resets an active model before it goes

Status VirtioRng::activate(const virtio::Activation& a) {
  loop_ = &a.loop;
  queue_ = a.queues.empty() ? nullptr : a.queues[0];
  AV_TRY(loop_->add_fd(timer_.get(), [this] {
    uint64_t expirations;
    (void)!::read(timer_.get(), &expirations, sizeof expirations);
    timer_armed_ = false;
    serve();
  }));
  return ok();
}

void VirtioRng::reset() {
  if (loop_) loop_->remove_fd(timer_.get());
  watch_source(false);
  itimerspec off{};
  ::timerfd_settime(timer_.get(), 0, &off, nullptr);
  timer_armed_ = false;
  queue_ = nullptr;
  loop_ = nullptr;
}

void VirtioRng::queue_notified(unsigned queue) {
  if (queue == 0) serve();
}

void VirtioRng::arm_timer(Clock::time_point at) {
  if (timer_armed_) return;
  auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(at - Clock::now());
  if (left.count() < 1) left = std::chrono::nanoseconds(1);  // 0 would disarm the timer
  itimerspec when{};
  when.it_value.tv_sec = static_cast<time_t>(left.count() / 1'000'000'000);
  when.it_value.tv_nsec = static_cast<long>(left.count() % 1'000'000'000);
  ::timerfd_settime(timer_.get(), 0, &when, nullptr);
  timer_armed_ = true;
}

void VirtioRng::watch_source(bool on) {
  if (on == watching_ || !loop_) return;
  if (on) {
    // Level-triggered: the callback stops watching first, so a source that stays empty is not
    // polled in a loop; the next kick or readability starts serving again.
    if (auto s = loop_->add_fd(source_.get(), [this] {
          watch_source(false);
          serve();
        });
        !s) {
      log::warn("virtio-rng", "cannot watch {}: {}", path_, s.error().message());
      return;
    }
  } else {
    loop_->remove_fd(source_.get());
  }
  watching_ = on;
}

size_t VirtioRng::fill(const virtio::Chain& chain, size_t want, bool& would_block) {
  would_block = false;
  auto spans = chain.writable_range(0, want);
  std::vector<iovec> iov;
  iov.reserve(spans.size());
  for (auto s : spans) iov.push_back({s.data(), s.size()});
  for (int attempt = 0; attempt < 2; ++attempt) {
    ssize_t n = ::readv(source_.get(), iov.data(), static_cast<int>(iov.size()));
    if (n > 0) return static_cast<size_t>(n);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      would_block = true;
      return 0;
    }
    if (n == 0 && attempt == 0 && ::lseek(source_.get(), 0, SEEK_SET) == 0) continue;  // a file at its end
    if (limiter_.allow())
      log::warn("virtio-rng", "reading {} failed ({}); the guest's request gets no bytes", path_,
                n < 0 ? std::strerror(errno) : "end of input");
    return 0;
  }
  return 0;
}

void VirtioRng::serve() {
  if (!queue_) return;
  bool any = false;
  for (;;) {
    size_t allowed = SIZE_MAX;
    if (options_.max_bytes) {
      auto now = Clock::now();
      if (now >= window_end_) {
        window_end_ = now + options_.period;
        budget_ = options_.max_bytes;
      }
      if (budget_ == 0) {
        arm_timer(window_end_);  // wait, never spin: the buffers stay on the ring until then
        break;
      }
      allowed = budget_;
    }
    auto chain = queue_->pop();
    if (!chain) break;
    size_t room = chain->writable_bytes();
    bool would_block = false;
    size_t n = room == 0 ? 0 : fill(*chain, std::min(room, allowed), would_block);
    if (would_block) {
      queue_->unpop();
      watch_source(true);
      break;
    }
    // 5.4.6.1: the buffer goes back with the bytes written (0 for a buffer with no writable part,
    // or when the backend failed, which the driver treats as "no entropy now").
    queue_->push(chain->head, static_cast<uint32_t>(n));
    any = true;
    delivered_ += n;
    if (options_.max_bytes) budget_ -= std::min<uint64_t>(budget_, n);
  }
  if (any) queue_->notify();
}

}  // namespace altovirt::devices

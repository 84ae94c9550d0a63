// UniqueFd: sole owner of a file descriptor, closed when it goes out of scope.
//
// Threading: not synchronised; one owner at a time (it is move-only). The descriptor itself may be
// used from several threads by whoever the owner lends get() to, as the kernel allows.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <utility>

namespace altovirt {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }

  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }

  // Gives up ownership without closing.
  int release() { return std::exchange(fd_, -1); }

  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Reads (and so resets) the 8-byte counter of an eventfd(2) or the expiry count of a timerfd; returns
// it, 0 when there was nothing to read (the fds here are non-blocking; a wake-up is only a hint).
inline uint64_t drain_counter(int fd) {
  uint64_t v = 0;
  return ::read(fd, &v, sizeof v) == static_cast<ssize_t>(sizeof v) ? v : 0;
}

}  // namespace altovirt

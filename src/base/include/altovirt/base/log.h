// Logging: leveled messages to stderr (default) or a log file, each line prefixed with the time,
// the level and a component tag.
//
// Threading: every function here may be called from any thread; lines are written whole under a
// mutex. RateLimiter is not synchronised itself: give each thread (or each device, behind its own
// lock) its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "altovirt/base/error.h"

namespace altovirt::log {

enum class Level { error = 0, warn = 1, info = 2, debug = 3 };

void set_level(Level level);
Level level();
// Parses "error", "warn", "info", "debug".
Result<Level> parse_level(std::string_view text);
// Sends log lines to `path` (appended) instead of stderr.
Status set_file(const std::string& path);
// Sends log lines to stderr again.
void reset_sink();
// The file descriptor log lines go to (the -D file, or 2): for a signal handler's raw write(2),
// which may not take the mutex or allocate.
int raw_fd();

void write(Level level, std::string_view component, std::string_view message);

template <typename... Args>
void error(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  write(Level::error, component, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  if (level() >= Level::warn) write(Level::warn, component, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  if (level() >= Level::info) write(Level::info, component, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  if (level() >= Level::debug) write(Level::debug, component, fmt::format(f, std::forward<Args>(args)...));
}

// Lets through at most `burst` events per `interval`, and counts the rest, so that a guest that
// hammers a bad address cannot flood the log (the VMM must stay responsive whatever the guest does).
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  RateLimiter(unsigned burst, Clock::duration interval) : burst_(burst), interval_(interval) {}

  // True when the event may be logged. `now` is injectable for tests.
  bool allow(Clock::time_point now = Clock::now());
  // Events refused since the last allowed one after a window reset; read and cleared by the caller
  // so that it can say "N similar messages suppressed".
  uint64_t take_suppressed();

 private:
  unsigned burst_;
  Clock::duration interval_;
  Clock::time_point window_start_{};
  unsigned in_window_ = 0;
  uint64_t suppressed_ = 0;
};

}  // namespace altovirt::log

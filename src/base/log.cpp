#include "altovirt/base/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace altovirt::log {
namespace {

std::atomic<Level> g_level{Level::warn};
std::mutex g_mutex;
FILE* g_file = nullptr;  // nullptr: stderr

constexpr std::string_view name(Level l) {
  switch (l) {
    case Level::error: return "error";
    case Level::warn: return "warn";
    case Level::info: return "info";
    case Level::debug: return "debug";
  }
  return "?";
}

}  // namespace

void set_level(Level l) { g_level.store(l, std::memory_order_relaxed); }
Level level() { return g_level.load(std::memory_order_relaxed); }

Result<Level> parse_level(std::string_view text) {
  for (Level l : {Level::error, Level::warn, Level::info, Level::debug})
    if (text == name(l)) return l;
  return fail("unknown log level '{}' (use error, warn, info or debug)", text);
}

Status set_file(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "ae");
  if (f == nullptr) return fail_errno(errno, "opening log file {}", path);
  std::setvbuf(f, nullptr, _IOLBF, 0);
  std::lock_guard lock(g_mutex);
  if (g_file != nullptr) std::fclose(g_file);
  g_file = f;
  return ok();
}

void reset_sink() {
  std::lock_guard lock(g_mutex);
  if (g_file != nullptr) std::fclose(g_file);
  g_file = nullptr;
}

int raw_fd() {
  FILE* f = g_file;
  return f != nullptr ? ::fileno(f) : 2;
}

void write(Level l, std::string_view component, std::string_view message) {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm local{};
  localtime_r(&ts.tv_sec, &local);
  std::string line = fmt::format("{:02}:{:02}:{:02}.{:03} {}: {}: {}\n", local.tm_hour, local.tm_min, local.tm_sec,
                                 ts.tv_nsec / 1000000, name(l), component, message);
  std::lock_guard lock(g_mutex);
  FILE* out = g_file != nullptr ? g_file : stderr;
  std::fwrite(line.data(), 1, line.size(), out);
  std::fflush(out);
}

bool RateLimiter::allow(Clock::time_point now) {
  if (in_window_ == 0 || now - window_start_ >= interval_) {
    window_start_ = now;
    in_window_ = 0;
  }
  if (in_window_ < burst_) {
    ++in_window_;
    return true;
  }
  ++suppressed_;
  return false;
}

uint64_t RateLimiter::take_suppressed() { return std::exchange(suppressed_, 0); }

}  // namespace altovirt::log

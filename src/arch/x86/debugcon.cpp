#include "altovirt/arch/x86/debugcon.h"

#include <algorithm>

namespace altovirt::arch::x86 {

DebugCon::~DebugCon() {
  std::lock_guard lock(mutex_);
  if (!line_.empty()) flush_line();
}

void DebugCon::io_read(uint64_t offset, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), offset == 0 ? kReadback : 0xff);
}

void DebugCon::io_write(uint64_t offset, std::span<const uint8_t> data) {
  if (offset != 0) return;
  std::lock_guard lock(mutex_);
  for (uint8_t b : data) {
    if (total_ >= max_bytes_) {
      if (!dropped_) {
        dropped_ = true;
        if (!line_.empty()) flush_line();
        sink_("(the firmware's further debug output is dropped: more than the limit of " + std::to_string(max_bytes_) +
              " bytes)");
      }
      return;
    }
    ++total_;
    if (b == '\n') {
      flush_line();
      continue;
    }
    if (b == '\r') continue;
    line_ += (b == '\t' || (b >= 0x20 && b < 0x7f)) ? static_cast<char>(b) : '.';
    if (line_.size() >= kMaxLine) flush_line();
  }
}

void DebugCon::flush_line() {
  sink_(line_);
  line_.clear();
}

}  // namespace altovirt::arch::x86

// DebugCon: the Bochs/QEMU debug console at I/O port 0x402 that OVMF's debug builds print their log
// to (OvmfPkg PlatformDebugLibIoPort). The firmware probes it by reading the port: the value 0xE9
// (BOCHS_DEBUG_PORT_MAGIC, what QEMU's isa-debugcon reads back) means "present", anything else turns
// its output off, so without this device a debug build stays silent. Debian's OVMF is a RELEASE
// build that never touches the port; a DEBUG build of the same edk2 tag prints here.
//
// The guest's bytes are hostile: lines are cut at kMaxLine, control characters other than tab are
// shown as '.', and after max_bytes the rest is dropped (said once), so a guest cannot fill the
// host's disk or the log through it.
//
// Threading: io_read/io_write from any vCPU thread, serialised by the device's mutex; the sink is
// called under it.
#pragma once

#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "altovirt/devices/io_handler.h"

namespace altovirt::arch::x86 {

class DebugCon : public devices::IoHandler {
 public:
  static constexpr uint16_t kPort = 0x402;
  static constexpr uint8_t kReadback = 0xe9;
  static constexpr size_t kMaxLine = 512;
  using Sink = std::function<void(std::string_view line)>;

  explicit DebugCon(Sink sink, size_t max_bytes = 16u << 20) : sink_(std::move(sink)), max_bytes_(max_bytes) {}
  ~DebugCon() override;  // hands over the last, unterminated line

  void io_read(uint64_t offset, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  void flush_line();  // under mutex_

  Sink sink_;
  size_t max_bytes_;
  std::mutex mutex_;
  std::string line_;
  size_t total_ = 0;
  bool dropped_ = false;
};

}  // namespace altovirt::arch::x86

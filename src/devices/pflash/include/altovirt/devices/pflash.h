// Pflash: a CFI (Intel/Sharp command set, "CFI01") parallel NOR flash of one byte width, holding
// UEFI firmware: the code (read-only) or its variable store, backed by a file that keeps what the
// firmware writes (the per-domain copy of OVMF_VARS, libvirt's <nvram>).
//
// Commands (written as bytes anywhere in the flash; Intel's CFI command set, the subset OVMF's
// QemuFlashFvbServicesRuntimeDxe uses, as QEMU's pflash_cfi01 implements it):
//   0xff / 0x00    read array: reads return the flash contents
//   0x10 / 0x40    program: the next write stores its byte at its address
//   0x20, 0xd0     block erase: the block holding the address becomes all 0xff
//   0x50           clear status: status := 0, read array
//   0x70           read status: reads return the status register (0x80 = ready)
// Anything else, or an erase not confirmed with 0xd0, sets the status's error bits and goes to
// status mode; a read-only flash ignores every write. OVMF's probe (QemuFlashDetected) tells flash
// from RAM and ROM by exactly this: after 0x50 a read gives its original byte, after 0x70 it gives 0.
//
// Reads in read-array mode can bypass the VMM: contents() is the file's mapping, which the machine
// maps as a read-only KVM memory slot (KVM cannot execute from MMIO, and the firmware runs in place
// from flash) while array_mode() holds, and takes away while the flash answers with status (QEMU's
// "romd" mode); the listener says when that changes. Writes always reach io_write (a read-only slot
// makes them MMIO exits).
//
// Durability: programs and erases go to the shared file mapping at once; the mapping is written
// back (msync) when the firmware returns to read-array mode, which OVMF does after every variable
// write, and when the flash is destroyed.
//
// Threading: io_read/io_write from any vCPU thread (serialised by one mutex); the listener runs
// inside io_write with that mutex held, so it must not call back into the flash.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "altovirt/base/error.h"
#include "altovirt/base/fd.h"
#include "altovirt/base/log.h"
#include "altovirt/base/mapping.h"
#include "altovirt/devices/io_handler.h"

namespace altovirt::devices {

class Pflash : public IoHandler {
 public:
  static constexpr uint32_t kBlockSize = 4096;  // OVMF's flash blocks (OvmfPkg FD layout)
  static constexpr uint8_t kStatusReady = 0x80, kStatusEraseError = 0x20, kStatusProgramError = 0x10;

  // Opens `path` (read-only, or read-write for a variable store); its size must be a non-zero
  // multiple of kBlockSize. `what` names it in errors (e.g. "<loader>", "<nvram>").
  static Result<std::unique_ptr<Pflash>> open(const std::string& path, bool readonly, std::string_view what);
  ~Pflash() override;

  uint64_t size() const { return map_.size(); }
  bool readonly() const { return readonly_; }
  const std::string& path() const { return path_; }
  // The contents, for a read-only memory slot while array_mode().
  std::span<uint8_t> contents() const { return {map_.bytes(), map_.size()}; }
  bool array_mode() const;
  // Called (under the flash's lock) when array mode begins (true) or ends (false).
  void set_mode_listener(std::function<void(bool array)> listener);
  // Power-on state: read-array mode, status ready. The contents stay.
  void reset();

  void io_read(uint64_t offset, std::span<uint8_t> data) override;
  void io_write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  enum class Mode { array, status };
  Pflash(std::string path, bool readonly, UniqueFd fd, Mapping map)
      : path_(std::move(path)), readonly_(readonly), fd_(std::move(fd)), map_(std::move(map)) {}
  void set_mode_locked(Mode m);
  void command_locked(uint64_t offset, uint8_t value);
  void flush_locked();

  std::string path_;
  bool readonly_;
  UniqueFd fd_;
  Mapping map_;
  mutable std::mutex mutex_;
  Mode mode_ = Mode::array;
  uint8_t pending_ = 0;  // 0x10 or 0x20 while waiting for the command's second cycle
  uint8_t status_ = kStatusReady;
  bool dirty_ = false;
  std::function<void(bool)> listener_;
  log::RateLimiter limiter_{5, std::chrono::seconds(10)};
};

}  // namespace altovirt::devices

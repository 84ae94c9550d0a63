// Pflash: a CFI (Intel/Sharp command set, "CFI01") parallel NOR flash holding UEFI firmware: the
// code (read-only) or its variable store, backed by a file that keeps what the firmware writes (the
// per-domain copy of OVMF_VARS or AAVMF_VARS, libvirt's <nvram>).
//
// Two wirings, as QEMU's pflash_cfi01 builds them (Geometry):
//   x86 (OVMF):   one byte-wide part, 4 KiB blocks (OvmfPkg's FD layout);
//   arm64 (AAVMF): two 16-bit parts side by side on a 32-bit bus, 256 KiB blocks (QEMU's virt board:
//                 width 4, device-width 2; ArmVirtPkg's NorFlashQemuLib has the block size built
//                 in). The firmware sends each command to both parts at once ((cmd << 16) | cmd, its
//                 CREATE_DUAL_CMD) and reads the status of each part in its own 16-bit half.
// Commands (the command is the low byte of the write; the subset OVMF's QemuFlashFvbServicesRuntimeDxe
// and ArmVirtPkg's VirtNorFlashDxe use, as QEMU implements it):
//   0xff / 0x00    read array: reads return the flash contents
//   0x10 / 0x40    program: the next write stores its bytes (up to the bus width) at its address
//   0xe8, N, D*, 0xd0  buffered program: N + 1 bus-wide data writes, then the confirm
//   0x20, 0xd0     block erase: the block holding the address becomes all 0xff
//   0x60, 0xd0|0x01 block unlock or lock: accepted; blocks are never locked
//   0x50           clear status: status := 0, read array
//   0x70           read status: reads return the status register (0x80 = ready)
//   0x90           read identifier: word 0 the maker (0x89, Intel), word 1 the part, word 2 of a
//                  block its lock state (0: unlocked, which VirtNorFlashDxe checks before erasing)
// Anything else, or an erase or buffered program not confirmed with 0xd0, sets the status's error
// bits and goes to status mode; a read-only flash ignores every write. OVMF's probe
// (QemuFlashDetected) tells flash from RAM and ROM by exactly this: after 0x50 a read gives its
// original byte, after 0x70 it gives 0.
//
// Reads in read-array mode can bypass the VMM: contents() is the file's mapping, which the machine
// maps as a read-only KVM memory slot (KVM cannot execute from MMIO, and the firmware runs in place
// from flash) while array_mode() holds, and takes away while the flash answers with status (QEMU's
// "romd" mode); the listener says when that changes. Writes always reach io_write (a read-only slot
// makes them MMIO exits).
//
// Durability: programs and erases go to the shared file mapping at once (the page cache holds them:
// a VMM killed with SIGKILL loses nothing); write-back is started (msync MS_ASYNC) when the firmware
// returns to read-array mode, which both firmwares do after every word or buffer they program (a
// synchronous msync there would cost a disk flush per word: ~2000 for one 256 KiB AAVMF block), and
// waited for (MS_SYNC) when the flash is destroyed.
//
// Differences from QEMU that neither firmware meets: after the first cycle of a two-cycle command
// (0x10, 0x20, 0x60) reads still return the array until the second cycle (QEMU answers status);
// an unknown command sets the error bits (QEMU goes back to read array).
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
  static constexpr uint8_t kIntelMaker = 0x89, kPartId = 0x18;  // read identifier's words 0 and 1

  struct Geometry {
    unsigned bank_width = 1;    // bytes on the bus: 1 or 4
    unsigned device_width = 1;  // bytes of each part: 1, or 2 with a 4-byte bus
    uint64_t block_size = kBlockSize;
    std::string_view builds;    // for errors: what a fitting image is (e.g. "OVMF_CODE_4M.fd and OVMF_VARS_4M.fd")
  };
  static Geometry ovmf() { return {1, 1, kBlockSize, "OVMF's are 2 or 4 MiB together, e.g. OVMF_CODE_4M.fd and OVMF_VARS_4M.fd"}; }
  static Geometry aavmf() { return {4, 2, 256 * 1024, "AAVMF's are 64 MiB each, e.g. AAVMF_CODE.fd and AAVMF_VARS.fd"}; }

  // Opens `path` (read-only, or read-write for a variable store); its size must be a non-zero
  // multiple of the geometry's block size. `what` names it in errors (e.g. "<loader>", "<nvram>").
  static Result<std::unique_ptr<Pflash>> open(const std::string& path, bool readonly, std::string_view what,
                                              const Geometry& geometry = ovmf());
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
  enum class Mode { array, status, identifier };
  Pflash(std::string path, bool readonly, UniqueFd fd, Mapping map, const Geometry& g)
      : path_(std::move(path)), readonly_(readonly), fd_(std::move(fd)), map_(std::move(map)), geometry_(g) {}
  void set_mode_locked(Mode m);
  void write_locked(uint64_t offset, std::span<const uint8_t> data);
  void program_locked(uint64_t offset, std::span<const uint8_t> data);
  void error_locked();
  uint8_t answer_locked(uint64_t offset) const;
  void flush_locked(bool wait);

  std::string path_;
  bool readonly_;
  UniqueFd fd_;
  Mapping map_;
  Geometry geometry_;
  mutable std::mutex mutex_;
  Mode mode_ = Mode::array;
  // The command waiting for its next cycle: 0x10 (program), 0x20 (erase), 0x60 (lock), 0xe8 (the
  // buffered program's count), 0xe9 (its data, words_left to go), 0xd0 (its confirm); 0 for none.
  uint8_t pending_ = 0;
  uint32_t words_left_ = 0;
  uint8_t status_ = kStatusReady;
  bool dirty_ = false;
  std::function<void(bool)> listener_;
  log::RateLimiter limiter_{5, std::chrono::seconds(10)};
};

}  // namespace altovirt::devices

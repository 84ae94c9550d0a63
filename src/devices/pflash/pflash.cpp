#include "altovirt/devices/pflash.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>

namespace altovirt::devices {

Result<std::unique_ptr<Pflash>> Pflash::open(const std::string& path, bool readonly, std::string_view what,
                                             const Geometry& geometry) {
  UniqueFd fd(::open(path.c_str(), (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC));
  if (!fd) {
    int e = errno;
    return fail_errno(e, "{} {}: cannot open it {}{}", what, path, readonly ? "for reading" : "for reading and writing",
                      e == EACCES || e == EROFS ? " (a variable store must be writable; a firmware's code is opened read-only with "
                                                 "readonly=on, <loader readonly='yes'>)"
                                               : "");
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return fail_errno(errno, "{} {}: stat", what, path);
  if (!S_ISREG(st.st_mode)) return fail("{} {}: not a regular file (a flash image is)", what, path);
  if (st.st_size == 0 || static_cast<uint64_t>(st.st_size) % geometry.block_size != 0)
    return fail("{} {}: {} bytes is not a flash image (a non-zero multiple of {} KiB; {})", what, path, st.st_size,
                geometry.block_size / 1024, geometry.builds);
  // Shared: what the firmware programs lands in the file (read-only files are mapped read-only).
  AV_TRY_ASSIGN(Mapping map, Mapping::map_fd(fd.get(), static_cast<size_t>(st.st_size),
                                             readonly ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, 0,
                                             fmt::format("{} {}", what, path)));
  return std::unique_ptr<Pflash>(new Pflash(path, readonly, std::move(fd), std::move(map), geometry));
}

Pflash::~Pflash() {
  std::lock_guard lock(mutex_);
  flush_locked(true);
}

bool Pflash::array_mode() const {
  std::lock_guard lock(mutex_);
  return mode_ == Mode::array;
}

void Pflash::set_mode_listener(std::function<void(bool)> listener) {
  std::lock_guard lock(mutex_);
  listener_ = std::move(listener);
}

void Pflash::reset() {
  std::lock_guard lock(mutex_);
  pending_ = 0;
  words_left_ = 0;
  status_ = kStatusReady;
  set_mode_locked(Mode::array);
}

void Pflash::set_mode_locked(Mode m) {
  if (m == Mode::array) flush_locked(false);
  const bool was_array = mode_ == Mode::array;
  mode_ = m;
  // The listener cares only whether reads may bypass the VMM (status and identifier both trap).
  if (listener_ && was_array != (m == Mode::array)) listener_(m == Mode::array);
}

void Pflash::flush_locked(bool wait) {
  if (!dirty_) return;
  dirty_ = false;
  if (::msync(map_.addr(), map_.size(), wait ? MS_SYNC : MS_ASYNC) != 0 && limiter_.allow())
    log::warn("pflash", "{}: writing the firmware's variables back failed: {}", path_, strerror(errno));
}

// What a read returns outside read-array mode: each part answers in its own lanes of the bus (its
// low byte; a 16-bit part's high byte is 0), as QEMU's pflash_cfi01 replicates per device width.
uint8_t Pflash::answer_locked(uint64_t offset) const {
  const unsigned lane = static_cast<unsigned>(offset % geometry_.bank_width);
  if (lane % geometry_.device_width != 0) return 0;
  if (mode_ == Mode::status) return status_;
  // Read identifier: word n of the part (words are bus-wide) within the block.
  switch (offset % geometry_.block_size / geometry_.bank_width) {
    case 0: return kIntelMaker;
    case 1: return kPartId;
    default: return 0;  // word 2: the block's lock state, unlocked
  }
}

void Pflash::io_read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < data.size(); ++i) {
    const uint64_t at = offset + i;
    if (mode_ != Mode::array) data[i] = answer_locked(at);
    else data[i] = at < map_.size() ? map_.bytes()[at] : 0xff;
  }
}

void Pflash::io_write(uint64_t offset, std::span<const uint8_t> data) {
  if (data.empty() || offset >= map_.size()) return;
  std::lock_guard lock(mutex_);
  // The code flash is ROM to the guest (OVMF probes it with writes, expecting nothing to change).
  if (readonly_) return;
  write_locked(offset, data);
}

void Pflash::error_locked() {
  // Intel's "command sequence error": SR.4 and SR.5 together.
  status_ |= kStatusEraseError | kStatusProgramError;
  pending_ = 0;
  set_mode_locked(Mode::status);
}

// Program data: at most one bus width, inside the flash. As QEMU, the bytes are stored (not ANDed
// into what is there): both firmwares erase before they program.
void Pflash::program_locked(uint64_t offset, std::span<const uint8_t> data) {
  const size_t n = std::min<uint64_t>({data.size(), geometry_.bank_width, map_.size() - offset});
  std::memcpy(map_.bytes() + offset, data.data(), n);
  dirty_ = true;
}

void Pflash::write_locked(uint64_t offset, std::span<const uint8_t> data) {
  // A command is the write's low byte: the byte-wide part's data lines, or on the 32-bit bus the
  // low half of CREATE_DUAL_CMD, whose high half repeats it for the second part.
  const uint8_t value = data[0];
  switch (pending_) {
    case 0x10:
      pending_ = 0;
      program_locked(offset, data);
      status_ |= kStatusReady;
      set_mode_locked(Mode::status);
      return;
    case 0x20:
      pending_ = 0;
      if (value != 0xd0) return error_locked();
      {
        const uint64_t block = offset / geometry_.block_size * geometry_.block_size;
        std::memset(map_.bytes() + block, 0xff, std::min<uint64_t>(geometry_.block_size, map_.size() - block));
      }
      dirty_ = true;
      status_ |= kStatusReady;
      set_mode_locked(Mode::status);
      return;
    case 0x60:
      // 0xd0 unlocks, 0x01 locks, 0x2f locks down: blocks here are never locked, all three succeed.
      pending_ = 0;
      if (value != 0xd0 && value != 0x01 && value != 0x2f) return error_locked();
      status_ |= kStatusReady;
      set_mode_locked(Mode::status);
      return;
    case 0xe8: {
      // The count: words - 1, in each part's lanes (the low part's counts; both carry the same).
      uint32_t count = value;
      if (geometry_.device_width == 2 && data.size() >= 2) count |= uint32_t{data[1]} << 8;
      // A count beyond 256 bus words (1 KiB) is a sequence error; VirtNorFlashDxe sends at most 32
      // words (P30_MAX_BUFFER_SIZE_IN_BYTES, 128 bytes), and this keeps what one command writes small.
      if (count >= 256) return error_locked();
      words_left_ = count + 1;
      pending_ = 0xe9;
      return;
    }
    case 0xe9:
      program_locked(offset, data);
      if (--words_left_ == 0) pending_ = 0xd0;
      return;
    case 0xd0:
      pending_ = 0;
      if (value != 0xd0) return error_locked();
      status_ |= kStatusReady;
      set_mode_locked(Mode::status);
      return;
    default: break;
  }
  switch (value) {
    case 0x00:
    case 0xff: set_mode_locked(Mode::array); break;
    case 0x10:
    case 0x40: pending_ = 0x10; break;
    case 0x20: pending_ = 0x20; break;
    case 0x60: pending_ = 0x60; break;
    case 0xe8:
      // The buffer is free at once: reads give the status with ready set (the firmware polls it).
      pending_ = 0xe8;
      status_ |= kStatusReady;
      set_mode_locked(Mode::status);
      break;
    case 0x50:
      status_ = 0;
      set_mode_locked(Mode::array);
      break;
    case 0x70: set_mode_locked(Mode::status); break;
    case 0x90: set_mode_locked(Mode::identifier); break;
    default:
      if (limiter_.allow()) log::warn("pflash", "{}: unsupported command {:#04x} at {:#x}", path_, value, offset);
      error_locked();
  }
}

}  // namespace altovirt::devices

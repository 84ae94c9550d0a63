#include "altovirt/devices/pflash.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>

namespace altovirt::devices {

Result<std::unique_ptr<Pflash>> Pflash::open(const std::string& path, bool readonly, std::string_view what) {
  UniqueFd fd(::open(path.c_str(), (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC));
  if (!fd) {
    int e = errno;
    return fail_errno(e, "{} {}: cannot open it {}{}", what, path, readonly ? "for reading" : "for reading and writing",
                      e == EACCES || e == EROFS ? " (the firmware's variable store must be writable)" : "");
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return fail_errno(errno, "{} {}: stat", what, path);
  if (!S_ISREG(st.st_mode)) return fail("{} {}: not a regular file (a flash image is)", what, path);
  if (st.st_size == 0 || st.st_size % kBlockSize != 0)
    return fail("{} {}: {} bytes is not a flash image (a non-zero multiple of {} bytes; OVMF's are 2 or 4 MiB "
                "together, e.g. OVMF_CODE_4M.fd and OVMF_VARS_4M.fd)",
                what, path, st.st_size, kBlockSize);
  // Shared: what the firmware programs lands in the file (read-only files are mapped read-only).
  AV_TRY_ASSIGN(Mapping map, Mapping::map_fd(fd.get(), static_cast<size_t>(st.st_size),
                                             readonly ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, 0,
                                             fmt::format("{} {}", what, path)));
  return std::unique_ptr<Pflash>(new Pflash(path, readonly, std::move(fd), std::move(map)));
}

Pflash::~Pflash() {
  std::lock_guard lock(mutex_);
  flush_locked();
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
  status_ = kStatusReady;
  set_mode_locked(Mode::array);
}

void Pflash::set_mode_locked(Mode m) {
  if (m == Mode::array) flush_locked();
  if (m == mode_) return;
  mode_ = m;
  if (listener_) listener_(m == Mode::array);
}

void Pflash::flush_locked() {
  if (!dirty_) return;
  dirty_ = false;
  if (::msync(map_.addr(), map_.size(), MS_SYNC) != 0 && limiter_.allow())
    log::warn("pflash", "{}: writing the firmware's variables back failed: {}", path_, strerror(errno));
}

void Pflash::io_read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mutex_);
  if (mode_ == Mode::status) {
    // A byte-wide device answers status in every byte of a wider read (as QEMU's device_width 1).
    std::fill(data.begin(), data.end(), status_);
    return;
  }
  for (size_t i = 0; i < data.size(); ++i) data[i] = offset + i < map_.size() ? map_.bytes()[offset + i] : 0xff;
}

void Pflash::io_write(uint64_t offset, std::span<const uint8_t> data) {
  if (data.empty() || offset >= map_.size()) return;
  std::lock_guard lock(mutex_);
  // The code flash is ROM to the guest (OVMF probes it with writes, expecting nothing to change).
  if (readonly_) return;
  // Commands and program data are byte-wide; of a wider write the first byte counts (the low
  // byte, as on a byte-wide part wired to the low data lines).
  command_locked(offset, data[0]);
}

void Pflash::command_locked(uint64_t offset, uint8_t value) {
  if (pending_ == 0x10) {
    pending_ = 0;
    map_.bytes()[offset] = value;  // as QEMU: the byte is stored (OVMF erases before it programs)
    dirty_ = true;
    status_ |= kStatusReady;
    set_mode_locked(Mode::status);
    return;
  }
  if (pending_ == 0x20) {
    pending_ = 0;
    if (value == 0xd0) {
      uint64_t block = offset / kBlockSize * kBlockSize;
      std::memset(map_.bytes() + block, 0xff, kBlockSize);
      dirty_ = true;
      status_ |= kStatusReady;
    } else {
      // An erase not confirmed: a command sequence error (Intel's SR.4 and SR.5 together).
      status_ |= kStatusEraseError | kStatusProgramError;
    }
    set_mode_locked(Mode::status);
    return;
  }
  switch (value) {
    case 0x00:
    case 0xff: set_mode_locked(Mode::array); break;
    case 0x10:
    case 0x40: pending_ = 0x10; break;
    case 0x20: pending_ = 0x20; break;
    case 0x50:
      status_ = 0;
      set_mode_locked(Mode::array);
      break;
    case 0x70: set_mode_locked(Mode::status); break;
    default:
      if (limiter_.allow()) log::warn("pflash", "{}: unsupported command {:#04x} at {:#x}", path_, value, offset);
      status_ |= kStatusEraseError | kStatusProgramError;
      set_mode_locked(Mode::status);
  }
}

}  // namespace altovirt::devices

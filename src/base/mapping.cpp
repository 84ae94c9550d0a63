#include "altovirt/base/mapping.h"

namespace altovirt {

Result<Mapping> Mapping::map_fd(int fd, size_t size, int prot, int flags, off_t offset, std::string_view what) {
  void* p = ::mmap(nullptr, size, prot, flags, fd, offset);
  if (p == MAP_FAILED) return fail_errno(errno, "mapping {} bytes of {} at offset {:#x}", size, what, offset);
  return Mapping(p, size);
}

Result<Mapping> Mapping::anonymous(size_t size, int extra_flags, std::string_view what) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, -1, 0);
  if (p == MAP_FAILED) return fail_errno(errno, "allocating {} MiB for {}", size >> 20, what);
  return Mapping(p, size);
}

Result<Mapping> Mapping::anonymous_aligned(size_t size, size_t align, int extra_flags, std::string_view what) {
  if (align <= 4096) return anonymous(size, extra_flags, what);
  AV_TRY_ASSIGN(Mapping big, anonymous(size + align, extra_flags, what));
  auto start = reinterpret_cast<uintptr_t>(big.addr_);
  uintptr_t aligned = (start + align - 1) & ~(uintptr_t{align} - 1);
  // Give back the slack on both sides; the middle becomes the mapping.
  if (aligned > start) ::munmap(big.addr_, aligned - start);
  size_t tail = (start + size + align) - (aligned + size);
  if (tail > 0) ::munmap(reinterpret_cast<void*>(aligned + size), tail);
  big.addr_ = nullptr;
  big.size_ = 0;
  return Mapping(reinterpret_cast<void*>(aligned), size);
}

void Mapping::reset() {
  if (addr_ != nullptr) ::munmap(addr_, size_);
  addr_ = nullptr;
  size_ = 0;
}

}  // namespace altovirt

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

void Mapping::reset() {
  if (addr_ != nullptr) ::munmap(addr_, size_);
  addr_ = nullptr;
  size_ = 0;
}

}  // namespace altovirt

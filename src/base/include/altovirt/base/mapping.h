// Mapping: sole owner of an mmap()ed range, unmapped when it goes out of scope.
//
// Threading: not synchronised; move-only. The mapped memory may be shared with other threads (vCPUs,
// device threads) by whoever owns the Mapping, which must outlive every such use.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <utility>

#include "altovirt/base/error.h"

namespace altovirt {

class Mapping {
 public:
  Mapping() = default;
  ~Mapping() { reset(); }

  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  Mapping(Mapping&& other) noexcept
      : addr_(std::exchange(other.addr_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  Mapping& operator=(Mapping&& other) noexcept {
    if (this != &other) {
      reset();
      addr_ = std::exchange(other.addr_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }

  // mmap(2) of `size` bytes of `fd` at `offset`. `what` names the thing in the error message.
  static Result<Mapping> map_fd(int fd, size_t size, int prot, int flags, off_t offset, std::string_view what);
  // Private anonymous read/write memory, e.g. guest RAM. `flags` may add MAP_NORESERVE, MAP_HUGETLB.
  static Result<Mapping> anonymous(size_t size, int extra_flags, std::string_view what);
  // The same, starting at a multiple of `align` (a power of two, e.g. 2 MiB so that transparent huge
  // pages can back the whole range: the kernel only uses them for aligned 2 MiB blocks).
  static Result<Mapping> anonymous_aligned(size_t size, size_t align, int extra_flags, std::string_view what);

  void* addr() const { return addr_; }
  uint8_t* bytes() const { return static_cast<uint8_t*>(addr_); }
  size_t size() const { return size_; }
  bool valid() const { return addr_ != nullptr; }

  void reset();

 private:
  Mapping(void* addr, size_t size) : addr_(addr), size_(size) {}
  void* addr_ = nullptr;
  size_t size_ = 0;
};

}  // namespace altovirt

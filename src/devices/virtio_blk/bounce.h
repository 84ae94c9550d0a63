// Helpers shared by the I/O engines (not part of the device's interface).
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "altovirt/virtio_blk/backend.h"

namespace altovirt::virtio_blk {

// An aligned heap buffer for O_DIRECT bounces.
class AlignedBuffer {
 public:
  AlignedBuffer(size_t len, size_t align);
  ~AlignedBuffer();
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  uint8_t* data() const { return static_cast<uint8_t*>(p_); }
  size_t size() const { return len_; }

 private:
  void* p_ = nullptr;
  size_t len_;
};

// O_DIRECT needs offset, length and every buffer aligned; otherwise the op goes through a bounce.
bool needs_bounce(const Image& image, const IoOp& op);
void copy_out(const std::vector<std::span<uint8_t>>& iov, const uint8_t* src, size_t len);
void copy_in(uint8_t* dst, const std::vector<std::span<uint8_t>>& iov);
std::vector<iovec> to_iovec(const std::vector<std::span<uint8_t>>& spans);
// Drops the first n bytes of iov[first..], moving `first` past exhausted entries.
void advance_iov(std::vector<iovec>& iov, size_t& first, size_t n);

}  // namespace altovirt::virtio_blk

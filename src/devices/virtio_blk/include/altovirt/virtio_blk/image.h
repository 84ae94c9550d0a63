// Image: a raw disk image (a regular file or a block device) opened for a virtio-blk drive.
//
// open() refuses, each with a message naming the drive and what to do: a missing path, a directory,
// anything but a regular file or block device, a qcow2 image given as raw (its header is checked:
// guessing would let a guest rewrite the qcow2 metadata), and an image another process holds.
// The image is locked with an open file description lock (F_OFD_SETLK, as QEMU does): a write lock
// for read-write use, a read lock for readonly=on, so two VMs cannot both write it and a read-only
// user cannot share it with a writer. The lock goes with the fd.
//
// Threading: immutable after open(); the fd is used by the I/O backend from its threads.
#pragma once

#include <cstdint>
#include <string>

#include "altovirt/base/error.h"
#include "altovirt/base/fd.h"

namespace altovirt::virtio_blk {

struct ImageOptions {
  bool readonly = false;
  bool direct = false;  // O_DIRECT (cache=none)
};

class Image {
 public:
  static Result<Image> open(const std::string& path, const ImageOptions& options);

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }  // bytes
  bool block_device() const { return block_device_; }
  bool readonly() const { return readonly_; }
  bool direct() const { return direct_; }
  // The alignment O_DIRECT needs for offsets, lengths and buffer addresses (1 without O_DIRECT).
  uint32_t alignment() const { return alignment_; }

 private:
  UniqueFd fd_;
  std::string path_;
  uint64_t size_ = 0;
  bool block_device_ = false, readonly_ = false, direct_ = false;
  uint32_t alignment_ = 1;
};

}  // namespace altovirt::virtio_blk

// Backend: asynchronous I/O on an Image for the block device model. Two engines:
//   - UringBackend (aio=io_uring): one io_uring per drive, many requests in flight, completions
//     matched by user_data; an eventfd registered with the ring wakes the device's I/O thread.
//   - ThreadBackend (aio=threads): a small pool of worker threads doing preadv/pwritev/fdatasync,
//     posting completions to an eventfd.
// Either way each submitted IoOp completes exactly once with its final result: the full length or
// 0 for success, -errno on failure. Short reads and writes are continued for the rest (a short
// transfer is not an error until the file ends: then -EIO). With O_DIRECT, buffers, offsets or
// lengths that are not aligned go through an aligned bounce buffer.
//
// Threading: submit(), reap() and drain() are called on the device's I/O thread only; the engines'
// own threads (kernel or workers) never call back into the device. completion_fd() is polled by
// that thread's EventLoop.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/virtio_blk/image.h"

namespace altovirt::virtio_blk {

enum class IoKind { read, write, flush, discard, write_zeroes };

struct IoOp {
  IoKind kind = IoKind::read;
  uint64_t offset = 0;                   // bytes
  uint64_t length = 0;                   // bytes (read/write: the iov total; discard/zeroes: the range)
  std::vector<std::span<uint8_t>> iov;   // guest buffers (read/write)
  uint64_t tag = 0;                      // returned with the completion
};

struct IoCompletion {
  uint64_t tag;
  int64_t result;  // >= 0 done, -errno failed
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Takes the op; its completion comes through reap(). An error here means it was not taken.
  virtual Status submit(IoOp op) = 0;
  // The fd that becomes readable when completions are waiting.
  virtual int completion_fd() const = 0;
  // Hands every completion that is ready to `done`.
  virtual void reap(const std::function<void(const IoCompletion&)>& done) = 0;
  virtual size_t in_flight() const = 0;
  // Waits until nothing is in flight, handing completions to `done` (reset: they are dropped).
  virtual void drain(const std::function<void(const IoCompletion&)>& done) = 0;
};

// The engine the drive asked for; io_uring falls back to threads (with a log line) when the
// kernel refuses io_uring (e.g. disabled by sysctl or seccomp).
Result<std::unique_ptr<Backend>> make_backend(const Image& image, bool io_uring, unsigned depth);
Result<std::unique_ptr<Backend>> make_uring_backend(const Image& image, unsigned depth);
Result<std::unique_ptr<Backend>> make_thread_backend(const Image& image, unsigned workers);

// Runs one op to the end synchronously (the workers' body; also discard/write-zeroes).
int64_t run_sync(const Image& image, const IoOp& op);

}  // namespace altovirt::virtio_blk

// A read, write or flush in flight on the io_uring engine: what is left to transfer, and what each
// result the kernel returns for it means. Kept apart from the ring so that every outcome (short
// transfers, -EAGAIN/-EINTR, a shrunken image) is unit-tested without provoking the kernel.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "altovirt/virtio_blk/backend.h"
#include "bounce.h"

namespace altovirt::virtio_blk {

struct Transfer {
  IoOp op;
  std::vector<iovec> iov;  // what is left to transfer: iov[first..]
  size_t first = 0;
  uint64_t done = 0;
  unsigned retries = 0;  // resubmissions after -EAGAIN/-EINTR since the last progress
  std::unique_ptr<AlignedBuffer> bounce;  // for reads, copied out to op.iov once complete
};

// A result of -EAGAIN or -EINTR means the kernel did not do the op, not that the disk failed (QEMU's
// io_uring driver resubmits these too); more than this many in a row is reported as the error.
constexpr unsigned kMaxUringRetries = 16;

// The kernel's result `res` for the latest submission of `t`: the op's final result (its length for
// a read or write, 0 for a flush, or -errno), or nullopt when the op must be submitted again from
// where `t` now stands (a retry, or the rest of a short transfer).
// Threading: the caller's (the engine's I/O thread); `t` is not shared.
std::optional<int64_t> on_result(Transfer& t, int res);

}  // namespace altovirt::virtio_blk

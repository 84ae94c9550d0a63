#include "transfer.h"

#include <cerrno>

namespace altovirt::virtio_blk {

std::optional<int64_t> on_result(Transfer& t, int res) {
  if ((res == -EAGAIN || res == -EINTR) && t.retries < kMaxUringRetries) {
    ++t.retries;
    return std::nullopt;  // the same op again, from where it stood
  }
  if (res < 0) return res;
  if (t.op.kind != IoKind::read && t.op.kind != IoKind::write) return 0;
  if (res == 0 && t.done < t.op.length) return -EIO;  // end of the image: it shrank under us
  t.done += static_cast<uint64_t>(res);
  t.retries = 0;
  if (t.done < t.op.length) {
    advance_iov(t.iov, t.first, static_cast<size_t>(res));
    return std::nullopt;  // short transfer: the rest
  }
  if (t.bounce && t.op.kind == IoKind::read) copy_out(t.op.iov, t.bounce->data(), t.op.length);
  return static_cast<int64_t>(t.op.length);
}

}  // namespace altovirt::virtio_blk

// run_sync: one op to the end on the calling thread, and the bounce-buffer rule for O_DIRECT.
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "altovirt/virtio_blk/backend.h"
#include "bounce.h"

namespace altovirt::virtio_blk {

bool needs_bounce(const Image& image, const IoOp& op) {
  if (!image.direct()) return false;
  const uint64_t a = image.alignment();
  if (op.offset % a || op.length % a) return true;
  for (auto& s : op.iov)
    if (reinterpret_cast<uintptr_t>(s.data()) % a || s.size() % a) return true;
  return false;
}

AlignedBuffer::AlignedBuffer(size_t len, size_t align) : len_(len) {
  if (::posix_memalign(&p_, std::max<size_t>(align, 512), std::max<size_t>(len, 1)) != 0) p_ = nullptr;
}
AlignedBuffer::~AlignedBuffer() { std::free(p_); }

void copy_out(const std::vector<std::span<uint8_t>>& iov, const uint8_t* src, size_t len) {
  for (auto& s : iov) {
    size_t n = std::min(len, s.size());
    std::memcpy(s.data(), src, n);
    src += n;
    len -= n;
  }
}

void copy_in(uint8_t* dst, const std::vector<std::span<uint8_t>>& iov) {
  for (auto& s : iov) {
    std::memcpy(dst, s.data(), s.size());
    dst += s.size();
  }
}

namespace {

// preadv/pwritev until `len` bytes are done; a short transfer continues where it stopped.
int64_t transfer(int fd, bool write, std::vector<iovec> iov, uint64_t offset, uint64_t len) {
  uint64_t done = 0;
  size_t first = 0;
  while (done < len) {
    ssize_t n = write ? ::pwritev(fd, iov.data() + first, static_cast<int>(std::min<size_t>(iov.size() - first, IOV_MAX)), static_cast<off_t>(offset + done))
                      : ::preadv(fd, iov.data() + first, static_cast<int>(std::min<size_t>(iov.size() - first, IOV_MAX)), static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) return -EIO;  // the image ended (it shrank under us)
    done += static_cast<uint64_t>(n);
    advance_iov(iov, first, static_cast<size_t>(n));
  }
  return static_cast<int64_t>(len);
}

int64_t zero_fill(const Image& image, uint64_t offset, uint64_t len) {
  AlignedBuffer zero(std::min<uint64_t>(len, 1 << 20), image.alignment());
  if (!zero.data()) return -ENOMEM;
  std::memset(zero.data(), 0, zero.size());
  while (len > 0) {
    uint64_t n = std::min<uint64_t>(len, zero.size());
    std::vector<iovec> v{{zero.data(), n}};
    int64_t r = transfer(image.fd(), true, v, offset, n);
    if (r < 0) return r;
    offset += n;
    len -= n;
  }
  return 0;
}

}  // namespace

void advance_iov(std::vector<iovec>& iov, size_t& first, size_t n) {
  while (n > 0 && first < iov.size()) {
    if (n >= iov[first].iov_len) {
      n -= iov[first].iov_len;
      iov[first].iov_len = 0;
      ++first;
    } else {
      iov[first].iov_base = static_cast<uint8_t*>(iov[first].iov_base) + n;
      iov[first].iov_len -= n;
      n = 0;
    }
  }
}

std::vector<iovec> to_iovec(const std::vector<std::span<uint8_t>>& spans) {
  std::vector<iovec> v;
  v.reserve(spans.size());
  for (auto& s : spans) v.push_back({s.data(), s.size()});
  return v;
}

int64_t run_sync(const Image& image, const IoOp& op) {
  const int fd = image.fd();
  switch (op.kind) {
    case IoKind::read:
    case IoKind::write: {
      const bool write = op.kind == IoKind::write;
      if (!needs_bounce(image, op)) return transfer(fd, write, to_iovec(op.iov), op.offset, op.length);
      AlignedBuffer b(op.length, image.alignment());
      if (!b.data()) return -ENOMEM;
      if (write) copy_in(b.data(), op.iov);
      int64_t r = transfer(fd, write, {{b.data(), op.length}}, op.offset, op.length);
      if (r >= 0 && !write) copy_out(op.iov, b.data(), op.length);
      return r;
    }
    case IoKind::flush:
      return ::fdatasync(fd) == 0 ? 0 : -errno;
    case IoKind::discard:
      if (image.block_device()) {
        uint64_t range[2] = {op.offset, op.length};
        return ::ioctl(fd, BLKDISCARD, range) == 0 ? 0 : -errno;
      }
      return ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(op.offset),
                         static_cast<off_t>(op.length)) == 0 ? 0 : -errno;
    case IoKind::write_zeroes: {
      if (image.block_device()) {
        uint64_t range[2] = {op.offset, op.length};
        if (::ioctl(fd, BLKZEROOUT, range) == 0) return 0;
      } else if (::fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(op.offset),
                             static_cast<off_t>(op.length)) == 0) {
        return 0;
      }
      if (errno != EOPNOTSUPP && errno != EINVAL && errno != ENOTTY) return -errno;
      return zero_fill(image, op.offset, op.length);  // the file system cannot: write zeroes
    }
  }
  return -EINVAL;
}

}  // namespace altovirt::virtio_blk

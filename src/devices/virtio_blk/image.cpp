#include "altovirt/virtio_blk/image.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace altovirt::virtio_blk {

Result<Image> Image::open(const std::string& path, const ImageOptions& options) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return fail("{}: no such image file (create one, e.g. truncate -s 8G {})", path, path);
    return fail_errno(errno, "{}", path);
  }
  if (S_ISDIR(st.st_mode)) return fail("{}: is a directory, not a disk image (give the image file inside it)", path);
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
    return fail("{}: not a regular file or block device", path);
  int flags = (options.readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (options.direct ? O_DIRECT : 0);
  Image img;
  img.fd_.reset(::open(path.c_str(), flags));
  if (!img.fd_) {
    if (errno == EINVAL && options.direct)
      return fail("{}: this file system does not support O_DIRECT (cache=none); use cache=writeback", path);
    if (errno == EACCES || errno == EROFS)
      return fail_errno(errno, "{}: cannot open for writing (add readonly=on to use it read-only)", path);
    return fail_errno(errno, "opening {}", path);
  }
  struct flock lk{};
  lk.l_type = options.readonly ? F_RDLCK : F_WRLCK;
  lk.l_whence = SEEK_SET;
  if (::fcntl(img.fd_.get(), F_OFD_SETLK, &lk) != 0) {
    if (errno == EAGAIN || errno == EACCES)
      return fail("{}: the image is locked by another process (another VM uses it{}); stop it first",
                  path, options.readonly ? " read-write" : "");
    return fail_errno(errno, "{}: locking the image", path);
  }
  img.block_device_ = S_ISBLK(st.st_mode);
  if (img.block_device_) {
    uint64_t bytes = 0;
    if (::ioctl(img.fd_.get(), BLKGETSIZE64, &bytes) != 0) return fail_errno(errno, "{}: BLKGETSIZE64", path);
    img.size_ = bytes;
  } else {
    img.size_ = static_cast<uint64_t>(st.st_size);
  }
  // A qcow2 image starts with "QFI\xfb" (qcow2 spec, header magic). Raw access to it would expose
  // (and let the guest corrupt) its metadata, so it is refused until qcow2 is supported.
  alignas(4096) static thread_local uint8_t head[4096];
  ssize_t n = ::pread(img.fd_.get(), head, sizeof head, 0);
  if (n >= 4 && std::memcmp(head, "QFI\xfb", 4) == 0)
    return fail("{}: this is a qcow2 image, not raw (format=raw); convert it with qemu-img convert -O raw", path);
  img.path_ = path;
  img.readonly_ = options.readonly;
  img.direct_ = options.direct;
  if (options.direct) {
    int lbs = 512;
    if (img.block_device_ && ::ioctl(img.fd_.get(), BLKSSZGET, &lbs) != 0) lbs = 512;
    // Files: the file system's block size is a safe bound for O_DIRECT alignment.
    img.alignment_ = img.block_device_ ? static_cast<uint32_t>(lbs) : static_cast<uint32_t>(std::max<long>(512, st.st_blksize));
  }
  return img;
}

}  // namespace altovirt::virtio_blk

// The vmlinux inside a bzImage, extracted on the host and kept in a cache, so that a guest boots the
// uncompressed kernel at its 64-bit entry (see vmlinux.h) instead of running the bzImage's own
// decompressor on every boot. The decompressor is the largest single part of a small guest's boot
// (measured in docs/benchmarks.md); Firecracker and Cloud Hypervisor avoid it by asking users for
// a vmlinux, altovirt takes the bzImage users already have.
//
// The payload's place and length come from the setup header (boot protocol 2.08+: payload_offset,
// payload_length, relative to the protected-mode code); its format from its magic (xz or gzip, the
// formats liblzma and zlib read; other formats boot through the bzImage's decompressor). Cache
// entries are named by a hash of the compressed payload and its length, so a rebuilt kernel at the
// same path gets a new entry; they are written atomically (rename), so VMs starting at once are safe.
//
// Finding the entry costs reading and hashing the whole bzImage (about 0.7 s in the nested test
// host, over its 9p root). So an entry also gets a link named after the bzImage's path that holds
// the file's identity (device, inode, size, modification and change times): while the file is
// unchanged, the next start finds its entry from a stat() and reads only the setup header. Any
// change of the file changes its change time (which no one can set), and the link is not used.
//
// What a guest gives up: the decompressor also randomizes the kernel's physical and virtual base
// (KASLR); the extracted kernel runs at its link address. ALTOVIRT_KERNEL_CACHE=off keeps KASLR.
//
// Threading: a KernelCache is used by one thread; several processes may share its directory.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/base/mapping.h"
#include "altovirt/boot/bzimage.h"

namespace altovirt::boot {

// The compressed payload of `image` decompressed (an ELF vmlinux). `what` names the file in errors.
Result<std::vector<uint8_t>> extract_vmlinux(const BzImage& image, std::string_view what);

// A vmlinux in memory: a read-only mapping of a cache entry (no copy: the pages come straight from
// the page cache), or the bytes just extracted.
class KernelBytes {
 public:
  explicit KernelBytes(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}
  KernelBytes(Mapping mapping, size_t size) : mapping_(std::move(mapping)), size_(size) {}
  KernelBytes(KernelBytes&&) = default;
  KernelBytes& operator=(KernelBytes&&) = default;
  std::span<const uint8_t> span() const {
    return mapping_.valid() ? std::span<const uint8_t>(mapping_.bytes(), size_) : std::span<const uint8_t>(bytes_);
  }

 private:
  std::vector<uint8_t> bytes_;
  Mapping mapping_;
  size_t size_ = 0;
};

class KernelCache {
 public:
  // `dirs`: where entries may live, tried in order; the first that exists or can be created and
  // written takes new entries. No dirs: every boot extracts in memory.
  explicit KernelCache(std::vector<std::string> dirs) : dirs_(std::move(dirs)) {}

  // ALTOVIRT_KERNEL_CACHE=DIR uses DIR; otherwise /var/cache/altovirt for root, then
  // $XDG_CACHE_HOME/altovirt or $HOME/.cache/altovirt.
  static std::vector<std::string> default_dirs();
  // False when ALTOVIRT_KERNEL_CACHE=off: boot bzImages through their own decompressor.
  static bool enabled_by_environment();

  // The vmlinux inside `image`, from the cache or extracted (and then stored). `hit` says which.
  Result<KernelBytes> vmlinux(const BzImage& image, std::string_view what, bool* hit = nullptr);

  // The entry a link made by remember() names while `path` is the file it was made for; nullopt
  // when there is none or the file changed (then vmlinux() and remember() as usual).
  std::optional<KernelBytes> known(const std::string& path);
  // Links `path`'s identity to `image`'s entry, after vmlinux() found or stored it. Best effort.
  void remember(const std::string& path, const BzImage& image);

  // The entry's file name for `image` (exposed for tests).
  static std::string entry_name(const BzImage& image);

 private:
  std::vector<std::string> dirs_;
};

}  // namespace altovirt::boot

#include "altovirt/boot/kernel_cache.h"

#include <fcntl.h>
#include <lzma.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>

#include "altovirt/base/fd.h"
#include "altovirt/base/files.h"
#include "altovirt/base/log.h"
#include "altovirt/boot/vmlinux.h"

namespace altovirt::boot {

namespace {
constexpr uint16_t kPayloadProtocol = 0x0208;           // payload_offset/length appeared in 2.08
constexpr uint64_t kMaxVmlinux = 1024 * uint64_t{1} << 20;  // no x86 kernel comes near 1 GiB
constexpr std::string_view kEntryVersion = "1";            // bump when the entry format changes

std::span<const uint8_t> payload_of(const BzImage& image) {
  const setup_header& h = image.header;
  if (h.version < kPayloadProtocol || h.payload_length == 0 || h.payload_offset > image.kernel.size() ||
      h.payload_length > image.kernel.size() - h.payload_offset)
    return {};
  return std::span(image.kernel).subspan(h.payload_offset, h.payload_length);
}

// The kernel's build appends the uncompressed size as 4 little-endian bytes to every payload
// (scripts/Makefile.lib, size_append); a hint for the buffer, never trusted for correctness.
size_t size_hint(std::span<const uint8_t> payload) {
  if (payload.size() < 4) return 0;
  uint32_t n;
  std::memcpy(&n, payload.data() + payload.size() - 4, 4);
  return n <= kMaxVmlinux ? n : 0;
}

Result<std::vector<uint8_t>> unxz(std::span<const uint8_t> in, std::string_view what) {
  lzma_stream s = LZMA_STREAM_INIT;
  if (lzma_stream_decoder(&s, UINT64_MAX, 0) != LZMA_OK) return fail("{}: liblzma cannot start a decoder", what);
  std::vector<uint8_t> out(std::max<size_t>(size_hint(in), 1 << 20));
  s.next_in = in.data();
  s.avail_in = in.size();
  lzma_ret r = LZMA_OK;
  while (r == LZMA_OK) {
    if (s.total_out == out.size()) {
      if (out.size() >= kMaxVmlinux) break;
      out.resize(out.size() * 2);
    }
    s.next_out = out.data() + s.total_out;
    s.avail_out = out.size() - s.total_out;
    r = lzma_code(&s, LZMA_FINISH);
  }
  out.resize(s.total_out);
  lzma_end(&s);
  if (r != LZMA_STREAM_END) return fail("{}: the xz payload does not decompress (liblzma error {})", what, int{r});
  return out;
}

Result<std::vector<uint8_t>> gunzip(std::span<const uint8_t> in, std::string_view what) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return fail("{}: zlib cannot start a decoder", what);
  std::vector<uint8_t> out(std::max<size_t>(size_hint(in), 1 << 20));
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  int r = Z_OK;
  while (r == Z_OK) {
    if (z.total_out == out.size()) {
      if (out.size() >= kMaxVmlinux) break;
      out.resize(out.size() * 2);
    }
    z.next_out = out.data() + z.total_out;
    z.avail_out = static_cast<uInt>(out.size() - z.total_out);
    r = inflate(&z, Z_NO_FLUSH);
  }
  out.resize(z.total_out);
  inflateEnd(&z);
  if (r != Z_STREAM_END) return fail("{}: the gzip payload does not decompress (zlib error {})", what, r);
  return out;
}

bool usable_dir(const std::string& dir) {
  if (!make_dirs(dir)) return false;
  return ::access(dir.c_str(), W_OK) == 0;
}
}  // namespace

Result<std::vector<uint8_t>> extract_vmlinux(const BzImage& image, std::string_view what) {
  auto payload = payload_of(image);
  if (payload.empty())
    return fail("{}: no payload_offset/payload_length in the setup header (boot protocol {}.{:02}, needs 2.08)", what,
                image.header.version >> 8, image.header.version & 0xff);
  static constexpr uint8_t kXz[] = {0xfd, '7', 'z', 'X', 'Z', 0x00};
  static constexpr uint8_t kGzip[] = {0x1f, 0x8b};
  std::vector<uint8_t> out;
  if (payload.size() > sizeof kXz && std::memcmp(payload.data(), kXz, sizeof kXz) == 0) {
    AV_TRY_ASSIGN(out, unxz(payload, what));
  } else if (payload.size() > sizeof kGzip && std::memcmp(payload.data(), kGzip, sizeof kGzip) == 0) {
    AV_TRY_ASSIGN(out, gunzip(payload, what));
  } else {
    return fail("{}: the payload is compressed with a format altovirt does not extract (it reads xz and gzip)", what);
  }
  AV_TRY(parse_vmlinux(out, fmt::format("the vmlinux inside {}", what)));
  return out;
}

std::string KernelCache::entry_name(const BzImage& image) {
  auto payload = payload_of(image);
  std::string_view bytes(reinterpret_cast<const char*>(payload.data()), payload.size());
  return fmt::format("vmlinux-v{}-{:016x}-{}", kEntryVersion, std::hash<std::string_view>{}(bytes), payload.size());
}

std::vector<std::string> KernelCache::default_dirs() {
  if (const char* d = std::getenv("ALTOVIRT_KERNEL_CACHE"); d != nullptr && *d != 0 && std::string_view(d) != "off")
    return {d};
  std::vector<std::string> dirs;
  if (::geteuid() == 0) dirs.emplace_back("/var/cache/altovirt");
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x == '/') dirs.push_back(std::string(x) + "/altovirt");
  if (const char* h = std::getenv("HOME"); h != nullptr && *h == '/') dirs.push_back(std::string(h) + "/.cache/altovirt");
  return dirs;
}

bool KernelCache::enabled_by_environment() {
  const char* d = std::getenv("ALTOVIRT_KERNEL_CACHE");
  return d == nullptr || std::string_view(d) != "off";
}

namespace {
std::optional<KernelBytes> map_entry(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0 || st.st_size <= 0) return std::nullopt;
  auto m = Mapping::map_fd(fd.get(), static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, 0, path);
  if (!m) return std::nullopt;
  KernelBytes k(std::move(*m), static_cast<size_t>(st.st_size));
  if (!parse_vmlinux(k.span(), path)) return std::nullopt;
  return k;
}
}  // namespace

namespace {
// The link's name for a bzImage path, and the identity line it holds (see the header).
std::string link_name(const std::string& path) {
  return fmt::format("bzimage-v{}-{:016x}", kEntryVersion, std::hash<std::string>{}(path));
}
std::optional<std::string> identity(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return fmt::format("{} {} {} {}.{:09} {}.{:09} {}", st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                     st.st_ctim.tv_sec, st.st_ctim.tv_nsec, path);
}
}  // namespace

std::optional<KernelBytes> KernelCache::known(const std::string& path) {
  auto id = identity(path);
  if (!id) return std::nullopt;
  for (auto& dir : dirs_) {
    auto link = read_file(dir + "/" + link_name(path));
    if (!link) continue;
    // Line 1: the identity; line 2: the entry's name (a plain name: no path may come from the file).
    auto nl = link->find('\n');
    if (nl == std::string::npos || link->substr(0, nl) != *id) continue;
    std::string entry = link->substr(nl + 1);
    if (!entry.empty() && entry.back() == '\n') entry.pop_back();
    if (entry.empty() || entry.find('/') != std::string::npos || entry.starts_with(".")) continue;
    if (auto k = map_entry(dir + "/" + entry)) return k;
  }
  return std::nullopt;
}

void KernelCache::remember(const std::string& path, const BzImage& image) {
  auto id = identity(path);
  if (!id || id->find('\n') != std::string::npos) return;
  const std::string name = entry_name(image);
  for (auto& dir : dirs_) {
    if (::access((dir + "/" + name).c_str(), R_OK) != 0) continue;  // the dir that holds the entry
    if (::access(dir.c_str(), W_OK) != 0) return;  // a shared read-only cache: no link, every start reads the file
    if (auto s = write_file_atomic(dir + "/" + link_name(path), *id + "\n" + name + "\n"); !s)
      log::warn("boot", "cannot link {} to its kernel cache entry: {}", path, s.error().message());
    return;
  }
}

Result<KernelBytes> KernelCache::vmlinux(const BzImage& image, std::string_view what, bool* hit) {
  if (hit != nullptr) *hit = false;
  if (payload_of(image).empty()) return fail("{}", extract_vmlinux(image, what).error().message());  // names why
  const std::string name = entry_name(image);
  for (auto& dir : dirs_) {
    std::string path = dir + "/" + name;
    if (::access(path.c_str(), F_OK) != 0) continue;
    if (auto k = map_entry(path)) {
      if (hit != nullptr) *hit = true;
      return std::move(*k);
    }
    log::warn("boot", "kernel cache entry {} is unreadable or damaged; extracting {} again", path, what);
  }
  AV_TRY_ASSIGN(auto out, extract_vmlinux(image, what));
  for (auto& dir : dirs_) {
    if (!usable_dir(dir)) continue;
    std::string path = dir + "/" + name;
    std::string_view data(reinterpret_cast<const char*>(out.data()), out.size());
    if (auto s = write_file_atomic(path, data); !s)
      log::warn("boot", "cannot keep the extracted kernel in {}: {}", dir, s.error().message());
    break;
  }
  return KernelBytes(std::move(out));
}

}  // namespace altovirt::boot

#include "altovirt/arch/arm64/image.h"

#include <cstring>

#include "altovirt/base/files.h"

namespace altovirt::arch::arm64 {

namespace {

constexpr uint64_t k2MiB = 2 * 1024 * 1024;

uint64_t le64(const std::vector<uint8_t>& b, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | b[at + static_cast<size_t>(i)];
  return v;
}

}  // namespace

Result<LoadedKernel> load_image(const std::string& kernel, const std::string& initrd, const kvm::GuestMemory& memory,
                                uint64_t ram_base, uint64_t ram_size) {
  // The device tree gets RAM's last 2 MiB; the kernel and the initrd must fit below it. The files go
  // straight into guest RAM (a 33 MiB Image read once, not read, then copied).
  if (ram_size < 4 * k2MiB) return fail("-m: {} MiB of RAM is too little for an arm64 kernel", ram_size >> 20);
  const uint64_t usable = ram_size - k2MiB;
  AV_TRY_ASSIGN(std::span<uint8_t> ram, memory.slice(ram_base, usable));
  auto size = read_into(kernel, ram);
  if (!size)
    return fail("-kernel {}: {} MiB of RAM cannot hold it ({}); give more with -m", kernel, ram_size >> 20,
                size.error().message());
  const std::vector<uint8_t> head(ram.begin(), ram.begin() + static_cast<long>(std::min<size_t>(*size, 64)));
  // The image header (booting.rst): code0/1, text_offset at 8, image_size at 16, flags at 24,
  // magic "ARM\x64" at 56.
  if (head.size() >= 2 && head[0] == 0x1f && head[1] == 0x8b)
    return fail("-kernel {}: a gzip-compressed Image; give the uncompressed one (gunzip -c {} > Image)", kernel, kernel);
  if (head.size() < 64 || std::memcmp(head.data() + 56, "ARM\x64", 4) != 0) {
    bool bzimage = *size > 0x206 && std::memcmp(ram.data() + 0x202, "HdrS", 4) == 0;
    return fail("-kernel {}: not an arm64 Linux Image (no 'ARM\\x64' magic at byte 56){}", kernel,
                bzimage ? "; it is an x86 bzImage" : "");
  }
  uint64_t text_offset = le64(head, 8), image_size = le64(head, 16);
  if (image_size == 0) text_offset = 0x80000;  // images before Linux 3.17 (booting.rst)
  image_size = std::max<uint64_t>(image_size, *size);
  if (text_offset + image_size > usable)
    return fail("-kernel {}: {} MiB of RAM cannot hold this {} MiB kernel; give more with -m", kernel, ram_size >> 20,
                image_size >> 20);
  // Read at RAM's start; an image that asks for a text_offset (Linux before 5.8: 0x80000) moves up.
  if (text_offset != 0) std::memmove(ram.data() + text_offset, ram.data(), *size);
  LoadedKernel k;
  k.entry = ram_base + text_offset;
  k.dtb = ram_base + usable;
  if (!initrd.empty()) {
    // After the kernel's whole image_size (its BSS), on a 2 MiB boundary.
    uint64_t start = (k.entry + image_size + k2MiB - 1) & ~(k2MiB - 1);
    if (start >= k.dtb) return fail("-initrd {}: {} MiB of RAM leaves no room for it after the kernel; give more with -m", initrd, ram_size >> 20);
    AV_TRY_ASSIGN(std::span<uint8_t> room, memory.slice(start, k.dtb - start));
    auto rd = read_into(initrd, room);
    if (!rd)
      return fail("-initrd {}: {} MiB of RAM cannot hold the kernel and it ({}); give more with -m", initrd,
                  ram_size >> 20, rd.error().message());
    k.initrd = std::pair{start, start + *rd};
  }
  return k;
}

}  // namespace altovirt::arch::arm64

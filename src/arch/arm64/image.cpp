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
  AV_TRY_ASSIGN(std::vector<uint8_t> image, read_bytes(kernel));
  // The image header (booting.rst): code0/1, text_offset at 8, image_size at 16, flags at 24,
  // magic "ARM\x64" at 56.
  if (image.size() >= 2 && image[0] == 0x1f && image[1] == 0x8b)
    return fail("-kernel {}: a gzip-compressed Image; give the uncompressed one (gunzip -c {} > Image)", kernel, kernel);
  if (image.size() < 64 || std::memcmp(image.data() + 56, "ARM\x64", 4) != 0) {
    bool bzimage = image.size() > 0x206 && std::memcmp(image.data() + 0x202, "HdrS", 4) == 0;
    return fail("-kernel {}: not an arm64 Linux Image (no 'ARM\\x64' magic at byte 56){}", kernel,
                bzimage ? "; it is an x86 bzImage" : "");
  }
  uint64_t text_offset = le64(image, 8), image_size = le64(image, 16);
  if (image_size == 0) text_offset = 0x80000;  // images before Linux 3.17 (booting.rst)
  image_size = std::max<uint64_t>(image_size, image.size());
  LoadedKernel k;
  k.entry = ram_base + text_offset;
  // The device tree gets RAM's last 2 MiB; the kernel and the initrd must fit below it.
  if (ram_size < 4 * k2MiB || text_offset + image_size > ram_size - k2MiB)
    return fail("-kernel {}: {} MiB of RAM cannot hold this {} MiB kernel; give more with -m", kernel, ram_size >> 20,
                image_size >> 20);
  AV_TRY(memory.write(k.entry, image));
  k.dtb = ram_base + ram_size - k2MiB;
  if (!initrd.empty()) {
    AV_TRY_ASSIGN(std::vector<uint8_t> rd, read_bytes(initrd));
    // After the kernel's whole image_size (its BSS), on a 2 MiB boundary.
    uint64_t start = (k.entry + image_size + k2MiB - 1) & ~(k2MiB - 1);
    if (start + rd.size() > k.dtb)
      return fail("-initrd {}: {} MiB of RAM cannot hold the kernel and this {} MiB initrd; give more with -m", initrd,
                  ram_size >> 20, rd.size() >> 20);
    AV_TRY(memory.write(start, rd));
    k.initrd = std::pair{start, start + rd.size()};
  }
  return k;
}

}  // namespace altovirt::arch::arm64

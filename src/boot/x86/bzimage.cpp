#include "altovirt/boot/bzimage.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <future>
#include <system_error>

#include "altovirt/base/files.h"
#include "altovirt/base/log.h"
#include "altovirt/boot/e820.h"
#include "altovirt/boot/kernel_cache.h"
#include "altovirt/boot/vmlinux.h"

namespace altovirt::boot {

namespace {
constexpr uint32_t kHdrSMagic = 0x53726448;  // "HdrS"
constexpr uint16_t kBootFlag = 0xaa55;
constexpr uint16_t kMinProtocol = 0x0206;    // cmdline_size, and initrd_addr_max we rely on
constexpr uint64_t kSetupHeaderOffset = 0x1f1;
constexpr uint8_t kLoaderUndefined = 0xff;   // type_of_loader for a boot loader without an assigned id

Result<std::vector<uint8_t>> read_all(const std::string& path, std::string_view what) {
  auto data = read_bytes(path);
  if (!data) return fail("{} '{}' cannot be read: {}", what, path, data.error().message());
  return data;
}
}  // namespace

// Checks a bzImage's setup header from the file's first bytes (`head`, at least the first 4 KiB
// of a file that large) and its size; returns where the protected-mode part starts.
static Result<size_t> check_header(std::span<const uint8_t> head, uint64_t file_size, std::string_view what, setup_header& out) {
  if (file_size < 0x1000 || head.size() < 0x1000)
    return fail("{} is not a Linux bzImage: only {} bytes", what, file_size);
  // The header runs from 0x1f1 to 0x202 + the byte at 0x201 (boot.rst, "the real-mode kernel header").
  size_t header_end = 0x202 + head[0x201];
  size_t n = std::min(header_end - kSetupHeaderOffset, sizeof(setup_header));
  std::memcpy(&out, head.data() + kSetupHeaderOffset, n);
  const setup_header& h = out;
  if (h.boot_flag != kBootFlag || h.header != kHdrSMagic)
    return fail("{} is not a Linux bzImage (no \"HdrS\" boot header); pass a bzImage such as /boot/vmlinuz-*", what);
  if (h.version < kMinProtocol)
    return fail("{} uses boot protocol {}.{:02}; altovirt needs 2.06 or later", what, h.version >> 8, h.version & 0xff);
  if (!(h.loadflags & LOADED_HIGH)) return fail("{} is a zImage, not a bzImage (it must load at 1 MiB)", what);
  if (!(h.xloadflags & XLF_KERNEL_64)) return fail("{} has no 64-bit entry point (XLF_KERNEL_64); is it a 64-bit kernel?", what);
  unsigned setup_sects = h.setup_sects == 0 ? 4 : h.setup_sects;  // 0 means 4 (boot.rst)
  size_t kernel_offset = (setup_sects + 1) * 512;
  if (kernel_offset >= file_size) return fail("{} is truncated: setup_sects {} runs past its end", what, setup_sects);
  return kernel_offset;
}

Result<BzImage> parse_bzimage(const std::vector<uint8_t>& file, std::string_view what) {
  BzImage img;
  AV_TRY_ASSIGN(size_t kernel_offset, check_header(file, file.size(), what, img.header));
  img.kernel.assign(file.begin() + static_cast<long>(kernel_offset), file.end());
  return img;
}

Result<BzImage> parse_bzimage(std::vector<uint8_t>&& file, std::string_view what) {
  BzImage img;
  AV_TRY_ASSIGN(size_t kernel_offset, check_header(file, file.size(), what, img.header));
  file.erase(file.begin(), file.begin() + static_cast<long>(kernel_offset));
  img.kernel = std::move(file);
  return img;
}

Result<InitrdPlacement> place_initrd(const BzImage& image, const MemoryLayout& layout, uint64_t size) {
  uint64_t top = std::min<uint64_t>(layout.low_ram_end(), uint64_t{image.header.initrd_addr_max} + 1);
  // The kernel decompresses into [16 MiB, 16 MiB + init_size) at worst; keep clear of it.
  uint64_t kernel_end = 16 * MiB + image.header.init_size;
  if (size > top || ((top - size) & ~uint64_t{0xfff}) < kernel_end)
    return fail("the initrd ({} MiB) does not fit below {:#x} above the kernel; give the guest more memory (-m)",
                size / MiB, top);
  return InitrdPlacement{(top - size) & ~uint64_t{0xfff}, size};
}

Result<boot_params> make_boot_params(const BzImage& image, const MemoryLayout& layout, const std::string& cmdline,
                                     InitrdPlacement initrd) {
  boot_params bp{};
  bp.hdr = image.header;
  setup_header& h = bp.hdr;
  uint32_t cmdline_max = h.cmdline_size != 0 ? h.cmdline_size : 255;
  if (cmdline.size() >= cmdline_max || cmdline.size() >= kCmdlineMax)
    return fail("-append: the command line is {} bytes; this kernel takes at most {}", cmdline.size(), cmdline_max - 1);
  h.type_of_loader = kLoaderUndefined;
  h.loadflags |= CAN_USE_HEAP;
  h.heap_end_ptr = 0xfe00;  // unused by a 64-bit entry, but CAN_USE_HEAP asks for a value
  h.vid_mode = 0xffff;      // "normal"
  h.code32_start = kKernelAddress;
  h.cmd_line_ptr = static_cast<uint32_t>(kCmdlineAddress);
  h.ramdisk_image = static_cast<uint32_t>(initrd.address);
  h.ramdisk_size = static_cast<uint32_t>(initrd.size);
  if (h.version >= 0x020e) bp.acpi_rsdp_addr = kAcpiBase;  // protocol 2.14 added acpi_rsdp_addr
  auto e820 = build_e820(layout);
  if (e820.size() > E820_MAX_ENTRIES_ZEROPAGE) return fail("e820 map has {} entries, the zero page holds 128", e820.size());
  bp.e820_entries = static_cast<uint8_t>(e820.size());
  std::copy(e820.begin(), e820.end(), bp.e820_table);
  return bp;
}

setup_header vmlinux_setup_header(uint64_t kernel_end) {
  setup_header h{};
  h.setup_sects = 4;
  h.boot_flag = kBootFlag;
  h.header = kHdrSMagic;
  h.version = 0x020f;
  h.loadflags = LOADED_HIGH;
  h.xloadflags = XLF_KERNEL_64;
  h.kernel_alignment = 2 * MiB;
  h.initrd_addr_max = 0x7fffffff;
  h.cmdline_size = kCmdlineMax;
  h.pref_address = 16 * MiB;
  h.init_size = static_cast<uint32_t>(kernel_end > 16 * MiB ? kernel_end - 16 * MiB : 0);
  return h;
}

namespace {
// Boots the vmlinux in `elf` with the zero page built from `image`'s header.
Result<uint64_t> load_elf_kernel(BzImage& image, std::span<const uint8_t> elf, std::string_view what,
                                 const KernelFiles& files, const MemoryLayout& layout, const kvm::GuestMemory& memory);

Status load_rest(const BzImage& image, const KernelFiles& files, const MemoryLayout& layout,
                 const kvm::GuestMemory& memory) {
  InitrdPlacement initrd;
  if (!files.initrd.empty()) {
    // Straight from the file into guest RAM: no buffer of the initrd's size (a Debian initramfs is
    // tens of MiB) to fill, copy and free.
    auto head = read_head(files.initrd, 0);
    if (!head) return fail("-initrd '{}' cannot be read: {}", files.initrd, head.error().message());
    if (head->size == 0) return fail("-initrd '{}' is empty", files.initrd);
    AV_TRY_ASSIGN(initrd, place_initrd(image, layout, head->size));
    AV_TRY_ASSIGN(std::span<uint8_t> dest, memory.slice(initrd.address, initrd.size));
    auto got = read_into(files.initrd, dest);
    if (!got) return fail("-initrd '{}' cannot be read: {}", files.initrd, got.error().message());
    if (*got != initrd.size) return fail("-initrd '{}' changed size while it was read; start again", files.initrd);
  }
  AV_TRY_ASSIGN(boot_params bp, make_boot_params(image, layout, files.cmdline, initrd));
  std::vector<uint8_t> cmd(files.cmdline.begin(), files.cmdline.end());
  cmd.push_back(0);
  AV_TRY(memory.write(kCmdlineAddress, cmd));
  AV_TRY(memory.write(kBootParamsAddress, std::span(reinterpret_cast<const uint8_t*>(&bp), sizeof bp)));
  return ok();
}

Result<uint64_t> load_elf_kernel(BzImage& image, std::span<const uint8_t> elf, std::string_view what,
                                 const KernelFiles& files, const MemoryLayout& layout, const kvm::GuestMemory& memory) {
  AV_TRY_ASSIGN(Vmlinux k, parse_vmlinux(elf, what));
  if (k.end() > layout.low_ram_end())
    return fail("{} loads up to {:#x}, beyond the guest's low RAM; give the guest more memory (-m)", what, k.end());
  // The initrd must stay clear of everything the kernel occupies (place_initrd keeps it above
  // 16 MiB + init_size); the header's init_size already covers that for a bzImage.
  if (k.end() > 16 * MiB)
    image.header.init_size = std::max<uint32_t>(image.header.init_size, static_cast<uint32_t>(k.end() - 16 * MiB));
  // The initrd is read (and the zero page written) on a thread of its own while this one copies the
  // vmlinux: one waits for the file's reads, the other is memory work, and they write disjoint guest
  // RAM (the initrd above the kernel's end, the zero page and command line below 1 MiB). In the test
  // host, where the initrd comes over 9p, reading the 2 MiB test initramfs took 30-400 ms after
  // the vmlinux's copy; a cold page cache makes it a disk read on a real host.
  std::future<Status> rest;
  try {
    rest = std::async(std::launch::async, [&] { return load_rest(image, files, layout, memory); });
  } catch (const std::system_error&) {
    // No thread to be had (a resource limit): the initrd is read after the vmlinux.
  }
  auto loaded = load_vmlinux(k, elf, memory, files.ram_fresh);
  Status rest_done = rest.valid() ? rest.get() : (loaded ? load_rest(image, files, layout, memory) : ok());
  if (!loaded) return std::unexpected(loaded.error());
  AV_TRY(rest_done);
  if (!files.ram_fresh)
    log::info("boot", "{}: {} pages of its vmlinux written, {} found unchanged since the last boot", what,
              loaded->written, loaded->unchanged);
  return k.entry;
}
}  // namespace

Result<uint64_t> load_linux(const KernelFiles& files, const MemoryLayout& layout, const kvm::GuestMemory& memory) {
  const std::string what = fmt::format("-kernel '{}'", files.kernel);
  if (files.extract) {
    // The bzImage known to the cache by its identity: only its setup header is read.
    KernelCache cache(files.cache_dirs);
    auto t0 = std::chrono::steady_clock::now();
    if (auto elf = cache.known(files.kernel)) {
      auto head = read_head(files.kernel, 64 * 1024);
      BzImage image;
      if (head && check_header(head->bytes, head->size, what, image.header)) {
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
        log::info("boot", "{}: booting its vmlinux ({} MiB, from the kernel cache in {} ms, the file unchanged) at the 64-bit entry",
                  what, elf->span().size() >> 20, ms);
        return load_elf_kernel(image, elf->span(), what, files, layout, memory);
      }
    }
  }
  AV_TRY_ASSIGN(auto file, read_all(files.kernel, "-kernel"));
  if (is_elf(file)) {
    AV_TRY_ASSIGN(Vmlinux k, parse_vmlinux(file, what));
    BzImage image;
    image.header = vmlinux_setup_header(k.end());
    return load_elf_kernel(image, file, what, files, layout, memory);
  }
  AV_TRY_ASSIGN(BzImage image, parse_bzimage(std::move(file), what));
  if (files.extract) {
    KernelCache cache(files.cache_dirs);
    bool hit = false;
    auto t0 = std::chrono::steady_clock::now();
    if (auto elf = cache.vmlinux(image, what, &hit); elf) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
      log::info("boot", "{}: booting its vmlinux ({} MiB, {} in {} ms) at the 64-bit entry", what,
                elf->span().size() >> 20, hit ? "from the kernel cache" : "extracted", ms);
      cache.remember(files.kernel, image);
      return load_elf_kernel(image, elf->span(), what, files, layout, memory);
    } else {
      log::warn("boot", "{}; booting through the bzImage's own decompressor", elf.error().message());
    }
  }
  uint64_t need = 16 * MiB + image.header.init_size;
  if (layout.low_ram_end() < need)
    return fail("-kernel '{}' needs {} MiB of low memory to decompress; give the guest more memory (-m)", files.kernel,
                need / MiB + 1);
  if (auto s = memory.write(kKernelAddress, image.kernel); !s)
    return std::unexpected(s.error().context(fmt::format("loading -kernel '{}' at 1 MiB", files.kernel)));
  AV_TRY(load_rest(image, files, layout, memory));
  return kKernelAddress + 0x200;  // boot.rst, "64-bit boot protocol": the 64-bit entry
}

// The bzImage's header only: reading a whole kernel here (8 MiB, over a network file system where
// every read is a round trip) cost 0.15-0.25 s before anything started, in the test host; the
// load reads it once more anyway and checks the rest.
Status check_kernel_file(const std::string& path, std::string_view what) {
  auto head = read_head(path, 64 * 1024);
  if (!head) return fail("{} cannot be read: {}", what, head.error().message());
  if (is_elf(head->bytes)) {
    AV_TRY_ASSIGN(auto file, read_all(path, "-kernel"));
    AV_TRY(parse_vmlinux(file, what));
  } else {
    setup_header h;
    AV_TRY(check_header(head->bytes, head->size, what, h));
  }
  return ok();
}

}  // namespace altovirt::boot

// Fuzz target: the kernel loader's parsers (src/boot), which read a file the user names and trust
// nothing in it: a bzImage's setup header (Documentation/arch/x86/boot.rst), the initrd placement and
// zero page made from it, the payload extraction (xz, gzip) that feeds the kernel cache, and an ELF
// vmlinux's program headers. Input: one byte of options (bit 0: try extraction), four bytes of
// initrd size, then the file. Beyond "no crash": an accepted vmlinux has every segment inside the
// file and its entry inside a segment; an accepted initrd placement lies in low RAM.
#include <vector>

#include "altovirt/base/log.h"
#include "altovirt/boot/bzimage.h"
#include "altovirt/boot/kernel_cache.h"
#include "altovirt/boot/vmlinux.h"
#include "fuzz_input.h"

using namespace altovirt;

namespace {
void check_vmlinux(const boot::Vmlinux& k, size_t file_size) {
  bool entry_inside = false;
  for (const auto& s : k.segments) {
    if (s.offset > file_size || s.filesz > file_size - s.offset || s.filesz > s.memsz) __builtin_trap();
    if (k.entry >= s.paddr && k.entry - s.paddr < s.memsz) entry_inside = true;
  }
  if (!entry_inside) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  log::set_level(log::Level::error);
  fuzz::FuzzInput in(data, size);
  uint8_t options = in.take<uint8_t>();
  uint32_t initrd_size = in.take<uint32_t>();
  auto bytes = in.rest();
  std::vector<uint8_t> file(bytes.begin(), bytes.end());
  if (boot::is_elf(file)) {
    if (auto k = boot::parse_vmlinux(file, "fuzz")) check_vmlinux(*k, file.size());
    return 0;
  }
  auto image = boot::parse_bzimage(file, "fuzz");
  if (!image) return 0;
  static const auto layout = boot::MemoryLayout::make(256u << 20, 40);
  if (!layout) __builtin_trap();
  auto placed = boot::place_initrd(*image, *layout, initrd_size);
  if (placed) {
    if (placed->address + placed->size > layout->low_ram_end() || placed->address % 4096 != 0) __builtin_trap();
    (void)boot::make_boot_params(*image, *layout, "console=ttyS0", *placed);
  }
  if (options & 1) {
    if (auto out = boot::extract_vmlinux(*image, "fuzz")) {
      auto k = boot::parse_vmlinux(*out, "fuzz");
      if (!k) __builtin_trap();  // extract_vmlinux promises a vmlinux that parses
      check_vmlinux(*k, out->size());
    }
  }
  return 0;
}

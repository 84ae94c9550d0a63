// Loading a Linux bzImage for a 64-bit direct boot, following the Linux x86 boot protocol
// (Documentation/arch/x86/boot.rst): the setup header is checked ("HdrS", protocol >= 2.06, a
// 64-bit entry point), the protected-mode kernel goes to 1 MiB, the initrd to the top of low memory
// below initrd_addr_max, and boot_params (the "zero page") carries the header, the command line, the
// initrd and the e820 map.
//
// Threading: pure functions plus writes into guest memory before any vCPU runs.
#pragma once

#include <asm/bootparam.h>

#include <cstdint>
#include <string>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/boot/layout.h"
#include "altovirt/kvm/guest_memory.h"

namespace altovirt::boot {

struct BzImage {
  setup_header header{};       // as found in the file
  std::vector<uint8_t> kernel;  // the protected-mode part, loaded at 1 MiB
};

// Checks and splits a bzImage. `what` names the file in errors.
Result<BzImage> parse_bzimage(const std::vector<uint8_t>& file, std::string_view what);
// The same, keeping the file's buffer for the kernel (no second allocation of a kernel's size).
Result<BzImage> parse_bzimage(std::vector<uint8_t>&& file, std::string_view what);

struct InitrdPlacement {
  uint64_t address = 0;
  uint64_t size = 0;
};
// Where the initrd goes: page aligned, as high as possible below min(low RAM end, initrd_addr_max).
Result<InitrdPlacement> place_initrd(const BzImage& image, const MemoryLayout& layout, uint64_t size);

// The zero page for `image`; cmdline at kCmdlineAddress, RSDP at kAcpiBase.
Result<boot_params> make_boot_params(const BzImage& image, const MemoryLayout& layout, const std::string& cmdline,
                                     InitrdPlacement initrd);

// The setup header altovirt gives a kernel that comes as a bare vmlinux (no bzImage header of its
// own): protocol 2.15 fields a 64-bit entry needs, as Firecracker and Cloud Hypervisor fill them.
setup_header vmlinux_setup_header(uint64_t kernel_end);

struct KernelFiles {
  std::string kernel;   // a bzImage, or an uncompressed ELF vmlinux
  std::string initrd;   // empty: none
  std::string cmdline;
  // bzImage only: boot the vmlinux inside it, extracted on the host and cached in these directories
  // (kernel_cache.h), instead of running its decompressor in the guest. Falls back to the
  // decompressor, with a warning, when the payload cannot be extracted.
  bool extract = true;
  std::vector<std::string> cache_dirs;
  // Guest RAM as allocated (all zero, no guest ran on it); false after a guest reset (load_vmlinux).
  bool ram_fresh = true;
};
// Reads the files, writes kernel, initrd, command line and boot_params into guest memory. Returns
// the physical address where the boot CPU starts in long mode (with RSI = kBootParamsAddress).
Result<uint64_t> load_linux(const KernelFiles& files, const MemoryLayout& layout, const kvm::GuestMemory& memory);

// Checks that `path` is a kernel altovirt can boot (a bzImage or an ELF vmlinux), for early errors.
Status check_kernel_file(const std::string& path, std::string_view what);

}  // namespace altovirt::boot

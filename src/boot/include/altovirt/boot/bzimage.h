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

struct InitrdPlacement {
  uint64_t address = 0;
  uint64_t size = 0;
};
// Where the initrd goes: page aligned, as high as possible below min(low RAM end, initrd_addr_max).
Result<InitrdPlacement> place_initrd(const BzImage& image, const MemoryLayout& layout, uint64_t size);

// The zero page for `image`; cmdline at kCmdlineAddress, RSDP at kAcpiBase.
Result<boot_params> make_boot_params(const BzImage& image, const MemoryLayout& layout, const std::string& cmdline,
                                     InitrdPlacement initrd);

struct KernelFiles {
  std::string kernel;
  std::string initrd;  // empty: none
  std::string cmdline;
};
// Reads the files, writes kernel, initrd, command line and boot_params into guest memory.
Status load_linux(const KernelFiles& files, const MemoryLayout& layout, const kvm::GuestMemory& memory);

}  // namespace altovirt::boot

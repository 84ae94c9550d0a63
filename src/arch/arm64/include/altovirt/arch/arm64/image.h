// The arm64 Linux boot protocol (Documentation/arch/arm64/booting.rst): the kernel `Image` is
// copied to a 2 MiB aligned base plus its header's text_offset, the initrd after it, and the device
// tree (at most 2 MiB, 8-byte aligned) where the kernel will not overwrite it; the boot CPU starts
// at the image's first byte with x0 = the device tree's address, MMU and caches off (KVM's reset
// state), the others waiting for PSCI CPU_ON.
//
// Threading: a function of its arguments.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "altovirt/base/error.h"
#include "altovirt/kvm/guest_memory.h"

namespace altovirt::arch::arm64 {

struct LoadedKernel {
  uint64_t entry = 0;  // the first instruction (the image's start)
  std::optional<std::pair<uint64_t, uint64_t>> initrd;  // [start, end)
  uint64_t dtb = 0;    // where the device tree goes
};

// Loads `kernel` (and `initrd`, if not empty) into RAM at [ram_base, ram_base + ram_size) and says
// where the device tree belongs (its last 2 MiB). A gzip-compressed Image.gz and an x86 bzImage
// are refused with what to do.
Result<LoadedKernel> load_image(const std::string& kernel, const std::string& initrd, const kvm::GuestMemory& memory,
                                uint64_t ram_base, uint64_t ram_size);

}  // namespace altovirt::arch::arm64

#include "altovirt/boot/e820.h"

#include <asm/e820.h>

namespace altovirt::boot {

std::vector<boot_e820_entry> build_e820(const MemoryLayout& l) {
  std::vector<boot_e820_entry> m;
  auto add = [&](uint64_t addr, uint64_t size, uint32_t type) { m.push_back(boot_e820_entry{addr, size, type}); };
  add(0, kEbdaStart, E820_RAM);
  add(kEbdaStart, 0xa0000 - kEbdaStart, E820_RESERVED);
  add(kAcpiBase, kAcpiSize, E820_RESERVED);
  add(kKernelAddress, l.low_ram_end() - kKernelAddress, E820_RAM);
  add(l.ecam_base, kEcamSize, E820_RESERVED);
  if (l.high_ram > 0) add(kHighRamBase, l.high_ram, E820_RAM);
  return m;
}

}  // namespace altovirt::boot

#include "altovirt/boot/layout.h"

namespace altovirt::boot {

Result<MemoryLayout> MemoryLayout::make(uint64_t ram, unsigned phys_bits, Boot boot) {
  // The kernel decompresses itself at 16 MiB and up; below 64 MiB a distribution kernel cannot boot.
  if (ram < 64 * MiB) return fail("-m {} MiB is too small: a Linux guest needs at least 64M", ram / MiB);
  if (ram % (2 * MiB) != 0) return fail("-m {} KiB is not a multiple of 2 MiB", ram / KiB);
  MemoryLayout l;
  l.boot = boot;
  l.ram = ram;
  const uint64_t hole = boot == Boot::firmware ? kFirmwareHoleStart : kHoleStart;
  l.low_ram = ram < hole ? ram : hole;
  l.high_ram = ram - l.low_ram;
  const uint64_t limit = phys_bits >= 64 ? UINT64_MAX : (uint64_t{1} << phys_bits);
  if (boot == Boot::firmware) {
    l.ecam_base = kFirmwareEcamBase;
    l.mmio32_base = kFirmwareMmio32Base;
    l.mmio32_size = kFirmwareMmio32Size;
    // From above RAM (1 GiB aligned) to the end of the address space: the firmware chooses.
    l.mmio64_base = (l.high_ram_end() + GiB - 1) & ~(GiB - 1);
    if (l.mmio64_base + GiB > limit)
      return fail("-m {} MiB leaves no room for a 64-bit PCI window in the guest's {}-bit physical address space",
                  ram / MiB, phys_bits);
    l.mmio64_size = limit - l.mmio64_base;
    return l;
  }
  // 64-bit window: 32 GiB, or less when the guest's address width is small, aligned to its size.
  for (uint64_t size = 32 * GiB; size >= 1 * GiB; size /= 2) {
    uint64_t base = (l.high_ram_end() + size - 1) & ~(size - 1);
    if (base + size <= limit) {
      l.mmio64_base = base;
      l.mmio64_size = size;
      return l;
    }
  }
  return fail("-m {} MiB leaves no room for a 64-bit PCI window in the guest's {}-bit physical address space",
              ram / MiB, phys_bits);
}

}  // namespace altovirt::boot

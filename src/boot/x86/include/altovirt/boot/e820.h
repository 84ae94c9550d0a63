// The e820 memory map handed to the kernel in boot_params (Linux x86 boot protocol,
// Documentation/arch/x86/zero-page.rst): RAM, the reserved low areas, the ECAM window (Linux checks
// that MMCONFIG is reserved before it trusts the MCFG table) and RAM above 4 GiB.
//
// Threading: pure function.
#pragma once

#include <asm/bootparam.h>

#include <vector>

#include "altovirt/boot/layout.h"

namespace altovirt::boot {

std::vector<boot_e820_entry> build_e820(const MemoryLayout& layout);

}  // namespace altovirt::boot

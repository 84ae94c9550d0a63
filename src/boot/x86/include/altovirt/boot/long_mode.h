// Entering the kernel directly in 64-bit mode (Linux boot protocol, "64-bit boot protocol"): flat
// __BOOT_CS (0x10) / __BOOT_DS (0x18) segments, paging on with an identity map covering the kernel,
// the zero page and the command line (we map the low 4 GiB with 2 MiB pages), rsi = &boot_params,
// rip = the protected-mode kernel's load address + 0x200 (startup_64).
//
// Threading: call before the vCPU runs, from the thread that owns it.
#pragma once

#include "altovirt/base/error.h"
#include "altovirt/kvm/guest_memory.h"
#include "altovirt/kvm/vcpu.h"

namespace altovirt::boot {

// Writes the GDT and page tables into guest memory.
Status write_long_mode_tables(const kvm::GuestMemory& memory);
// Puts the boot vCPU at the kernel's 64-bit entry point.
Status enter_long_mode(kvm::Vcpu& vcpu, uint64_t entry);
// x87/SSE state every vCPU starts with (FCW 0x37f, MXCSR 0x1f80: the power-on values, SDM 9.1.1).
Status init_fpu(kvm::Vcpu& vcpu);

}  // namespace altovirt::boot

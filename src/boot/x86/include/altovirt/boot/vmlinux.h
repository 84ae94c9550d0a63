// An uncompressed x86-64 Linux kernel (vmlinux, an ELF executable) for a direct 64-bit boot, as
// Firecracker and Cloud Hypervisor boot it: every PT_LOAD segment goes to its physical address
// (p_paddr), and the vCPU starts at e_entry (the physical address of startup_64 in
// arch/x86/kernel/head_64.S) in long mode with RSI pointing at boot_params. That entry needs no
// decompressor: the kernel fixes up its own page tables for wherever it runs, and clears its BSS.
//
// Threading: pure functions plus writes into guest memory before any vCPU runs.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/kvm/guest_memory.h"

namespace altovirt::boot {

struct ElfSegment {
  uint64_t paddr = 0;
  uint64_t offset = 0;  // in the file
  uint64_t filesz = 0;
  uint64_t memsz = 0;   // the rest up to memsz is zero (BSS)
};

struct Vmlinux {
  uint64_t entry = 0;  // physical
  std::vector<ElfSegment> segments;
  uint64_t start() const;  // lowest physical address loaded
  uint64_t end() const;    // one past the highest
};

// True when `file` starts with the ELF magic.
bool is_elf(std::span<const uint8_t> file);

// Checks a 64-bit little-endian x86-64 ELF executable whose segments lie inside the file and above
// 1 MiB, and whose entry point is inside a loaded segment. `what` names the file in errors.
Result<Vmlinux> parse_vmlinux(std::span<const uint8_t> file, std::string_view what);

// What a load did, in pages: written, and (RAM not fresh) found to hold the file's bytes already.
struct VmlinuxLoad {
  size_t written = 0;
  size_t unchanged = 0;
};

// Copies every segment to its physical address and zeroes its BSS. `ram_fresh`: guest RAM is as
// allocated (all zero, no guest ran on it), so a page is not compared before it is written; either
// way the result is the same, the flag only picks the cheaper way.
Result<VmlinuxLoad> load_vmlinux(const Vmlinux& kernel, std::span<const uint8_t> file, const kvm::GuestMemory& memory,
                                 bool ram_fresh = true);

}  // namespace altovirt::boot

// What the x86 board (pc_board.cpp, firmware_boot.cpp) keeps in Machine::arch_ between its build steps.
#pragma once

#include <linux/kvm.h>

#include <memory>
#include <vector>

#include "altovirt/boot/layout.h"

namespace altovirt::vmm {

struct PcState {
  boot::MemoryLayout layout;
  std::vector<kvm_cpuid_entry2> supported;  // KVM's CPUID, the base of every vCPU's
  unsigned phys_bits = 0;
  uint64_t entry = 0;  // the kernel's 64-bit entry point (direct boot)
};
inline PcState& pc_state(const std::shared_ptr<void>& p) { return *static_cast<PcState*>(p.get()); }

}  // namespace altovirt::vmm

// MSR values a vCPU starts with: the MTRRs (default type write-back, the PCI holes uncachable) and
// IA32_MISC_ENABLE.
//
// Why MTRRs matter: with a VFIO device that is not cache-coherent, KVM honours the guest's MTRRs
// (it cannot force write-back), so a guest whose MTRRs are all disabled runs RAM uncached and boots
// many times slower (Cloud Hypervisor issue #3163). Firmware normally programs them; with a direct
// kernel boot the VMM has to.
//
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/kvm/vcpu.h"

namespace altovirt::kvm {

// Not in the kernel's UAPI headers (asm/msr-index.h is kernel-internal); values from the Intel SDM
// vol. 4, table 2-2 (IA32 architectural MSRs) and vol. 3A 11.11 (MTRRs).
inline constexpr uint32_t kMsrIa32MiscEnable = 0x1a0;
inline constexpr uint64_t kMiscEnableFastStrings = 1u << 0;
inline constexpr uint32_t kMsrMtrrDefType = 0x2ff;
inline constexpr uint64_t kMtrrDefTypeEnable = 1u << 11;  // E: MTRRs enabled
inline constexpr uint64_t kMtrrPhysMaskValid = 1u << 11;  // V: variable range in use
inline constexpr unsigned kMaxVariableMtrrs = 8;           // what KVM's IA32_MTRRCAP.VCNT reports

struct UncachedRange {
  uint64_t base;
  uint64_t size;  // a power of two, base aligned to it (variable MTRRs can only describe such ranges)
};

// The MTRR MSRs: default WB, each range UC through one variable MTRR.
Result<MsrList> mtrr_msrs(const std::vector<UncachedRange>& uncached, unsigned phys_bits);
// Everything a vCPU gets at boot: mtrr_msrs() plus IA32_MISC_ENABLE.fast-strings.
Result<MsrList> boot_msrs(const std::vector<UncachedRange>& uncached, unsigned phys_bits);

}  // namespace altovirt::kvm

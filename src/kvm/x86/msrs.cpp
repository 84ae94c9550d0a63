#include "altovirt/kvm/msrs.h"

#include <asm/mtrr.h>

#include <bit>

namespace altovirt::kvm {

Result<MsrList> mtrr_msrs(const std::vector<UncachedRange>& uncached, unsigned phys_bits) {
  if (uncached.size() > kMaxVariableMtrrs)
    return fail("{} uncachable ranges need more than the {} variable MTRRs", uncached.size(), kMaxVariableMtrrs);
  if (phys_bits < 32 || phys_bits > 52) return fail("implausible physical address width {}", phys_bits);
  const uint64_t phys_mask = (uint64_t{1} << phys_bits) - 1;
  MsrList msrs;
  msrs.emplace_back(kMsrMtrrDefType, kMtrrDefTypeEnable | MTRR_TYPE_WRBACK);
  for (unsigned i = 0; i < uncached.size(); ++i) {
    auto [base, size] = uncached[i];
    if (!std::has_single_bit(size) || size < 4096 || (base & (size - 1)) != 0)
      return fail("uncachable range {:#x} (+{:#x}) is not a naturally aligned power of two", base, size);
    if (base + size - 1 > phys_mask)
      return fail("uncachable range {:#x} (+{:#x}) is beyond the {}-bit physical address space", base, size, phys_bits);
    // SDM vol. 3A 11.11.2.3: PhysBase holds the base and the type, PhysMask the mask of the address
    // bits that must match, and V.
    msrs.emplace_back(MTRRphysBase_MSR(i), base | MTRR_TYPE_UNCACHABLE);
    msrs.emplace_back(MTRRphysMask_MSR(i), (~(size - 1) & phys_mask) | kMtrrPhysMaskValid);
  }
  return msrs;
}

Result<MsrList> boot_msrs(const std::vector<UncachedRange>& uncached, unsigned phys_bits) {
  AV_TRY_ASSIGN(MsrList msrs, mtrr_msrs(uncached, phys_bits));
  msrs.emplace_back(kMsrIa32MiscEnable, kMiscEnableFastStrings);
  return msrs;
}

}  // namespace altovirt::kvm

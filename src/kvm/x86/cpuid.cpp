#include "altovirt/kvm/cpuid.h"

#include <algorithm>
#include <bit>

namespace altovirt::kvm {

namespace {
// Bits in CPUID leaf 1 (Intel SDM vol. 2A, CPUID, tables 3-10 and 3-11).
constexpr uint32_t kLeaf1EcxHypervisor = 1u << 31;  // "reserved for use by hypervisors" to say so
constexpr uint32_t kLeaf1EdxHtt = 1u << 28;         // EBX[23:16] is valid
constexpr uint32_t kLeaf1EcxTscDeadline = 1u << 24;
// Leaf 0xB/0x1F level types (SDM: CPUID leaf 0BH, ECX[15:8]).
constexpr uint32_t kLevelSmt = 1, kLevelCore = 2;

unsigned id_bits(unsigned count) { return count <= 1 ? 0 : static_cast<unsigned>(std::bit_width(count - 1)); }

kvm_cpuid_entry2 topology_entry(uint32_t function, uint32_t subleaf, unsigned apic_id, unsigned count) {
  kvm_cpuid_entry2 e{};
  e.function = function;
  e.index = subleaf;
  e.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
  e.edx = apic_id;  // x2APIC id of this logical processor
  if (subleaf == 0) {  // SMT level: one thread per core
    e.eax = 0;
    e.ebx = 1;
    e.ecx = subleaf | (kLevelSmt << 8);
  } else if (subleaf == 1) {  // core level: `count` cores in the package
    e.eax = id_bits(count);
    e.ebx = count;
    e.ecx = subleaf | (kLevelCore << 8);
  } else {  // invalid level ends the enumeration
    e.ecx = subleaf;
  }
  return e;
}
}  // namespace

const kvm_cpuid_entry2* find_cpuid(const std::vector<kvm_cpuid_entry2>& cpuid, uint32_t function, uint32_t index) {
  for (auto& e : cpuid) {
    if (e.function != function) continue;
    if ((e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e.index != index) continue;
    return &e;
  }
  return nullptr;
}

unsigned phys_address_bits(const std::vector<kvm_cpuid_entry2>& cpuid) {
  auto* e = find_cpuid(cpuid, 0x80000008);
  if (e == nullptr || (e->eax & 0xff) == 0) return 36;
  return e->eax & 0xff;
}

std::vector<kvm_cpuid_entry2> vcpu_cpuid(std::vector<kvm_cpuid_entry2> cpuid, unsigned index, unsigned count) {
  const unsigned apic_id = index;
  const unsigned addressable = 1u << id_bits(count);
  bool had_1f = false;
  for (auto& e : cpuid) {
    switch (e.function) {
      case 1:
        // EBX[31:24] initial APIC id, EBX[23:16] addressable logical processors in the package.
        e.ebx = (e.ebx & 0x0000ffff) | (apic_id << 24) | ((addressable & 0xff) << 16);
        e.ecx |= kLeaf1EcxHypervisor;
        if (count > 1) e.edx |= kLeaf1EdxHtt;
        else e.edx &= ~kLeaf1EdxHtt;
        break;
      case 4:
        // Deterministic cache parameters: EAX[31:26] cores per package - 1; EAX[25:14] threads
        // sharing this cache - 1 (all cores share the last level, nothing else is shared).
        if ((e.eax & 0x1f) != 0) {
          unsigned level = (e.eax >> 5) & 7;
          unsigned sharing = level >= 3 ? addressable - 1 : 0;
          e.eax = (e.eax & 0x3fff) | ((addressable - 1) << 26) | (sharing << 14);
        }
        break;
      case 0x80000008:
        // AMD: ECX[7:0] NC = cores - 1, ECX[15:12] ApicIdCoreIdSize (AMD APM vol. 3, CPUID Fn8000_0008).
        e.ecx = (e.ecx & ~0xf0ffu) | ((count - 1) & 0xff) | (id_bits(count) << 12);
        break;
      case 0x8000001e:
        // AMD extended APIC id / core id / node id.
        e.eax = apic_id;
        e.ebx = (e.ebx & ~0xffffu) | (index & 0xff);
        e.ecx = 0;
        break;
      default:
        break;
    }
    if (e.function == 0x1f) had_1f = true;
  }
  // Leaves 0xB (and 0x1F when present) are rebuilt from scratch: the host's describe the host.
  std::erase_if(cpuid, [](const kvm_cpuid_entry2& e) { return e.function == 0xb || e.function == 0x1f; });
  for (uint32_t sub = 0; sub < 3; ++sub) cpuid.push_back(topology_entry(0xb, sub, apic_id, count));
  if (had_1f)
    for (uint32_t sub = 0; sub < 3; ++sub) cpuid.push_back(topology_entry(0x1f, sub, apic_id, count));
  return cpuid;
}

void enable_tsc_deadline(std::vector<kvm_cpuid_entry2>& cpuid) {
  for (auto& e : cpuid)
    if (e.function == 1) e.ecx |= kLeaf1EcxTscDeadline;
}

}  // namespace altovirt::kvm

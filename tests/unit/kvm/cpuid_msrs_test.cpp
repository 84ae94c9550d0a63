// CPUID topology, MTRR MSRs, the default irqchip routes, guest memory regions and the C layout of
// the flexible-array ioctl arguments. No /dev/kvm needed.
#include <gtest/gtest.h>

#include <asm/mtrr.h>

#include "altovirt/kvm/cpuid.h"
#include "altovirt/kvm/flex_ioctl.h"
#include "altovirt/kvm/gsi.h"
#include "altovirt/kvm/guest_memory.h"
#include "altovirt/kvm/msrs.h"

using namespace altovirt::kvm;

namespace {
kvm_cpuid_entry2 entry(uint32_t fn, uint32_t idx, uint32_t eax, uint32_t ebx, uint32_t ecx, uint32_t edx, uint32_t flags = 0) {
  kvm_cpuid_entry2 e{};
  e.function = fn;
  e.index = idx;
  e.flags = flags;
  e.eax = eax;
  e.ebx = ebx;
  e.ecx = ecx;
  e.edx = edx;
  return e;
}
std::vector<kvm_cpuid_entry2> host() {
  return {entry(0, 0, 0xd, 0, 0, 0), entry(1, 0, 0x800f12, 0x00ff0800, 0x7ed8320b, 0x178bfbff),
          entry(0xb, 0, 1, 2, 0x100, 77, KVM_CPUID_FLAG_SIGNIFCANT_INDEX),
          entry(0x80000008, 0, 0x3030, 0, 0x7007, 0)};
}
}  // namespace

TEST(Cpuid, ApicIdAndCountInLeaf1) {
  auto c = vcpu_cpuid(host(), 2, 3);
  auto* l1 = find_cpuid(c, 1);
  ASSERT_NE(l1, nullptr);
  EXPECT_EQ(l1->ebx >> 24, 2u) << "initial APIC id";
  EXPECT_EQ((l1->ebx >> 16) & 0xff, 4u) << "addressable ids: next power of two of 3";
  EXPECT_EQ(l1->ebx & 0xffff, 0x0800u) << "brand/CLFLUSH kept";
  EXPECT_TRUE(l1->edx & (1u << 28)) << "HTT";
  EXPECT_TRUE(l1->ecx & (1u << 31)) << "hypervisor";
  auto one = vcpu_cpuid(host(), 0, 1);
  EXPECT_FALSE(find_cpuid(one, 1)->edx & (1u << 28));
}

TEST(Cpuid, Leaf0xBDescribesCoresNotTheHost) {
  auto c = vcpu_cpuid(host(), 1, 4);
  auto* smt = find_cpuid(c, 0xb, 0);
  auto* core = find_cpuid(c, 0xb, 1);
  auto* end = find_cpuid(c, 0xb, 2);
  ASSERT_TRUE(smt && core && end);
  EXPECT_EQ(smt->ebx, 1u);
  EXPECT_EQ(smt->edx, 1u) << "x2APIC id";
  EXPECT_EQ((smt->ecx >> 8) & 0xff, 1u);
  EXPECT_EQ(core->ebx, 4u);
  EXPECT_EQ(core->eax, 2u) << "shift: 2 bits of core id";
  EXPECT_EQ((core->ecx >> 8) & 0xff, 2u);
  EXPECT_EQ((end->ecx >> 8) & 0xff, 0u);
  auto* amd = find_cpuid(c, 0x80000008);
  EXPECT_EQ(amd->ecx & 0xff, 3u) << "NC = cores - 1";
  EXPECT_EQ((amd->ecx >> 12) & 0xf, 2u);
}

TEST(Cpuid, TscDeadlineBitOnlyInLeaf1) {
  auto c = host();
  auto before = c;
  enable_tsc_deadline(c);
  ASSERT_EQ(c.size(), before.size());
  for (size_t i = 0; i < c.size(); ++i) {
    if (c[i].function == 1) {
      EXPECT_EQ(c[i].ecx, before[i].ecx | (1u << 24));
      EXPECT_EQ(c[i].edx, before[i].edx);
    } else {
      EXPECT_EQ(c[i].ecx, before[i].ecx);
    }
  }
}

TEST(Cpuid, PhysAddressBits) {
  EXPECT_EQ(phys_address_bits(host()), 0x30u);
  EXPECT_EQ(phys_address_bits({}), 36u);
}

TEST(Mtrr, DefaultWriteBackAndUncachedHoles) {
  auto m = mtrr_msrs({{0xc0000000, 0x40000000}, {uint64_t{32} << 30, uint64_t{32} << 30}}, 40);
  ASSERT_TRUE(m);
  ASSERT_EQ(m->size(), 5u);
  EXPECT_EQ((*m)[0].first, kMsrMtrrDefType);
  EXPECT_EQ((*m)[0].second, kMtrrDefTypeEnable | MTRR_TYPE_WRBACK);
  EXPECT_EQ((*m)[1], std::make_pair(uint32_t{0x200}, uint64_t{0xc0000000} | MTRR_TYPE_UNCACHABLE));
  EXPECT_EQ((*m)[2], std::make_pair(uint32_t{0x201}, uint64_t{0xffc0000000} | kMtrrPhysMaskValid));
  EXPECT_EQ((*m)[3].first, 0x202u);
  EXPECT_EQ((*m)[4].second, uint64_t{0xf800000000} | kMtrrPhysMaskValid);
}

TEST(Mtrr, RejectsRangesMtrrsCannotDescribe) {
  EXPECT_FALSE(mtrr_msrs({{0xc0000000, 0x30000000}}, 40)) << "not a power of two";
  EXPECT_FALSE(mtrr_msrs({{0xd0000000, 0x20000000}}, 40)) << "misaligned";
  EXPECT_FALSE(mtrr_msrs({{uint64_t{1} << 40, 1 << 30}}, 40)) << "beyond the address width";
  EXPECT_FALSE(mtrr_msrs(std::vector<UncachedRange>(9, {0, 4096}), 40));
}

TEST(IrqchipRoutes, TimerOnPin2AndNoCascade) {
  auto t = irqchip_routes();
  bool gsi0_to_pin2 = false, pic2 = false;
  unsigned ioapic = 0;
  for (auto& e : t) {
    if (e.u.irqchip.irqchip == KVM_IRQCHIP_IOAPIC) {
      ++ioapic;
      if (e.gsi == 0) gsi0_to_pin2 = e.u.irqchip.pin == 2;
      else EXPECT_EQ(e.u.irqchip.pin, e.gsi);
    } else if (e.gsi == 2) {
      pic2 = true;
    }
  }
  EXPECT_EQ(ioapic, 24u);
  EXPECT_TRUE(gsi0_to_pin2);
  EXPECT_FALSE(pic2);
}

TEST(FlexIoctl, CLayoutHeaderIsEightBytes) {
  std::vector<kvm_msr_entry> e(2);
  e[1].index = 0x2ff;
  flex::Buffer<kvm_msr_entry> b(e);
  auto* words = static_cast<uint32_t*>(b.data());
  EXPECT_EQ(words[0], 2u);
  EXPECT_EQ(words[2 + 4], 0x2ffu) << "entry 1 starts at byte 8 + 16";
  EXPECT_EQ(b.entries()[1].index, 0x2ffu);
  EXPECT_EQ(flex::kSetGsiRouting, 0x4008ae6aul) << "the value C code gets for KVM_SET_GSI_ROUTING";
  EXPECT_EQ(flex::kGetSupportedCpuid, 0xc008ae05ul);
}

TEST(GuestMemory, SliceStaysInsideOneRegion) {
  GuestMemory m;
  ASSERT_TRUE(m.add(0, 0x10000, "low"));
  ASSERT_TRUE(m.add(0x100000, 0x10000, "high"));
  EXPECT_FALSE(m.add(0x8000, 0x10000, "overlap"));
  EXPECT_EQ(m.total(), 0x20000u);
  EXPECT_TRUE(m.slice(0xff00, 0x100));
  EXPECT_FALSE(m.slice(0xff00, 0x101));
  EXPECT_FALSE(m.slice(0x20000, 1));
  uint8_t data[4] = {1, 2, 3, 4};
  ASSERT_TRUE(m.write(0x100000, data));
  EXPECT_EQ(m.regions()[1].host[3], 4);
}

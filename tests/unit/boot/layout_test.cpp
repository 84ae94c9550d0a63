// Guest memory layout and the e820 map built from it.
#include <gtest/gtest.h>

#include <asm/e820.h>

#include "altovirt/boot/e820.h"

using namespace altovirt::boot;

TEST(Layout, SmallGuestIsAllBelowTheHole) {
  auto l = MemoryLayout::make(256 * MiB, 40);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->low_ram, 256 * MiB);
  EXPECT_EQ(l->high_ram, 0u);
  EXPECT_EQ(l->mmio64_base % l->mmio64_size, 0u);
  EXPECT_GE(l->mmio64_base, 4 * GiB);
}

TEST(Layout, LargeGuestSplitsAroundTheHole) {
  auto l = MemoryLayout::make(6 * GiB, 40);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->low_ram, 3 * GiB);
  EXPECT_EQ(l->high_ram, 3 * GiB);
  EXPECT_GE(l->mmio64_base, l->high_ram_end()) << "the 64-bit window is above RAM";
  EXPECT_EQ(l->mmio64_base % l->mmio64_size, 0u) << "one MTRR must cover it";
}

TEST(Layout, WindowShrinksToFitThePhysicalAddressWidth) {
  auto l = MemoryLayout::make(2 * GiB, 36);  // 64 GiB of address space
  ASSERT_TRUE(l);
  EXPECT_LE(l->mmio64_base + l->mmio64_size, uint64_t{1} << 36);
  EXPECT_FALSE(MemoryLayout::make(63 * GiB, 36)) << "RAM ends at 64 GiB: no room for a window";
}

TEST(Layout, FirmwareBootHasQ35sFirmwareMap) {
  // RAM stops at 0xB0000000 (ECAM is there), the 32-bit window is OVMF's fixed aperture, and the
  // 64-bit window runs from above RAM to the end of the address space.
  auto l = MemoryLayout::make(3 * GiB, 40, Boot::firmware);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->low_ram, 0xb0000000u);
  EXPECT_EQ(l->high_ram, 3 * GiB - 0xb0000000u);
  EXPECT_EQ(l->ecam_base, 0xb0000000u);
  EXPECT_EQ(l->mmio32_base, 0xc0000000u);
  EXPECT_EQ(l->mmio32_base + l->mmio32_size, 0xfc000000u);
  EXPECT_EQ(l->mmio64_base, 5 * GiB) << "1 GiB aligned above RAM's end (4.25 GiB)";
  EXPECT_EQ(l->mmio64_base + l->mmio64_size, uint64_t{1} << 40);
  auto d = MemoryLayout::make(3 * GiB, 40);
  EXPECT_EQ(d->low_ram, 3 * GiB) << "a direct boot keeps its 3 GiB";
  EXPECT_EQ(d->ecam_base, kEcamBase);
  EXPECT_FALSE(MemoryLayout::make(63 * GiB, 36, Boot::firmware));
}

TEST(Layout, RejectsTooLittleOrOddMemory) {
  EXPECT_FALSE(MemoryLayout::make(0, 40));
  EXPECT_FALSE(MemoryLayout::make(32 * MiB, 40));
  EXPECT_FALSE(MemoryLayout::make(257 * MiB, 40));
}

TEST(E820, SaysWhatIsRamAndWhatIsReserved) {
  auto l = MemoryLayout::make(6 * GiB, 40);
  ASSERT_TRUE(l);
  auto m = build_e820(*l);
  uint64_t ram = 0;
  for (size_t i = 0; i < m.size(); ++i) {
    if (m[i].type == E820_RAM) ram += m[i].size;
    if (i > 0) {
      EXPECT_GE(m[i].addr, m[i - 1].addr + m[i - 1].size) << "entries are sorted and disjoint";
    }
  }
  // All RAM but the reserved EBDA, legacy and ACPI areas in the first MiB.
  EXPECT_EQ(ram, 6 * GiB - (kKernelAddress - kEbdaStart));
  auto covers = [&](uint64_t addr, uint32_t type) {
    for (auto& e : m)
      if (addr >= e.addr && addr < e.addr + e.size) return e.type == type;
    return false;
  };
  EXPECT_TRUE(covers(0, E820_RAM));
  EXPECT_TRUE(covers(kAcpiBase, E820_RESERVED));
  EXPECT_TRUE(covers(kKernelAddress, E820_RAM));
  EXPECT_TRUE(covers(kEcamBase, E820_RESERVED)) << "Linux only trusts MMCONFIG that e820 reserves";
  EXPECT_TRUE(covers(kEcamBase + kEcamSize - 1, E820_RESERVED));
  EXPECT_FALSE(covers(kMmio32Base, E820_RAM));
  EXPECT_TRUE(covers(4 * GiB, E820_RAM));
  EXPECT_TRUE(covers(7 * GiB - 1, E820_RAM));
  EXPECT_FALSE(covers(7 * GiB, E820_RAM));
}

// Capability scanning and hiding over a hand-built config space, and BAR planning around MSI-X pages.
#include <linux/pci_regs.h>

#include <array>
#include <cstring>

#include <gtest/gtest.h>

#include "altovirt/vfio/bar_layout.h"
#include "altovirt/vfio/pci_caps.h"

namespace altovirt::vfio {
namespace {

struct Config {
  std::array<uint8_t, 4096> b{};
  void w16(size_t off, uint16_t v) { std::memcpy(&b[off], &v, 2); }
  void w32(size_t off, uint32_t v) { std::memcpy(&b[off], &v, 4); }
  void cap(uint8_t off, uint8_t id, uint8_t next) {
    b[off] = id;
    b[off + 1] = next;
  }
  void ext(uint16_t off, uint16_t id, uint16_t next) { w32(off, id | (1u << 16) | (uint32_t{next} << 20)); }
};

// PM 0x40 -> MSI 0x50 -> PCIe 0x70 -> MSI-X 0xb0; extended SR-IOV 0x100 -> AER 0x140 -> ARI 0x180 -> ReBAR 0x1c0.
Config nvme_like() {
  Config c;
  c.w16(PCI_STATUS, PCI_STATUS_CAP_LIST);
  c.b[PCI_CAPABILITY_LIST] = 0x40;
  c.cap(0x40, PCI_CAP_ID_PM, 0x50);
  c.cap(0x50, PCI_CAP_ID_MSI, 0x70);
  c.w16(0x50 + PCI_MSI_FLAGS, PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT | (2 << 1));  // 4 vectors capable
  c.cap(0x70, PCI_CAP_ID_EXP, 0xb0);
  c.cap(0xb0, PCI_CAP_ID_MSIX, 0x00);
  c.w16(0xb0 + PCI_MSIX_FLAGS, 64);  // 65 entries
  c.w32(0xb0 + PCI_MSIX_TABLE, 0x2000 | 4);
  c.w32(0xb0 + PCI_MSIX_PBA, 0x3000 | 4);
  c.ext(0x100, PCI_EXT_CAP_ID_SRIOV, 0x140);
  c.ext(0x140, PCI_EXT_CAP_ID_ERR, 0x180);
  c.ext(0x180, PCI_EXT_CAP_ID_ARI, 0x1c0);
  c.ext(0x1c0, PCI_EXT_CAP_ID_REBAR, 0);
  return c;
}

TEST(Caps, ScansStandardAndExtendedLists) {
  auto c = nvme_like();
  auto caps = scan_capabilities(c.b);
  ASSERT_TRUE(caps) << caps.error().message();
  ASSERT_EQ(caps->standard.size(), 4u);
  EXPECT_EQ(caps->standard[3].id, PCI_CAP_ID_MSIX);
  ASSERT_TRUE(caps->msi);
  EXPECT_EQ(caps->msi->offset, 0x50);
  EXPECT_TRUE(caps->msi->is_64bit);
  EXPECT_TRUE(caps->msi->per_vector_mask);
  EXPECT_EQ(caps->msi->max_vectors, 4u);
  ASSERT_TRUE(caps->msix);
  EXPECT_EQ(caps->msix->table_size, 65u);
  EXPECT_EQ(caps->msix->table_bar, 4u);
  EXPECT_EQ(caps->msix->table_offset, 0x2000u);
  EXPECT_EQ(caps->msix->pba_offset, 0x3000u);
  EXPECT_EQ(caps->msix->table_bytes(), 65u * 16);
  EXPECT_EQ(caps->msix->pba_bytes(), 16u);  // 65 bits -> two qwords
  EXPECT_EQ(caps->pcie, 0x70);
  ASSERT_EQ(caps->extended.size(), 4u);
  EXPECT_EQ(caps->extended[2].id, PCI_EXT_CAP_ID_ARI);
  EXPECT_EQ(caps->extended[2].offset, 0x180);
}

TEST(Caps, ConventionalSnapshotHasNoExtendedList) {
  auto c = nvme_like();
  auto caps = scan_capabilities(std::span<const uint8_t>(c.b.data(), 256));
  ASSERT_TRUE(caps);
  EXPECT_TRUE(caps->extended.empty());
  EXPECT_FALSE(scan_capabilities(std::span<const uint8_t>(c.b.data(), 64)));
}

TEST(Caps, LoopsAndBadPointersEndTheWalk) {
  auto c = nvme_like();
  c.cap(0xb0, PCI_CAP_ID_MSIX, 0x50);  // back to MSI: a loop
  c.ext(0x1c0, PCI_EXT_CAP_ID_REBAR, 0x100);
  auto caps = scan_capabilities(c.b);
  ASSERT_TRUE(caps);
  EXPECT_EQ(caps->standard.size(), 4u);
  EXPECT_EQ(caps->extended.size(), 4u);
  Config d;
  d.w16(PCI_STATUS, PCI_STATUS_CAP_LIST);
  d.b[PCI_CAPABILITY_LIST] = 0x10;  // inside the header: no capabilities
  EXPECT_TRUE(scan_capabilities(d.b)->standard.empty());
}

TEST(Caps, HidingSriovAriRebarRelinksTheChain) {
  auto c = nvme_like();
  auto caps = scan_capabilities(c.b).value();
  auto headers = hide_extended_caps(caps, c.b, {PCI_EXT_CAP_ID_SRIOV, PCI_EXT_CAP_ID_ARI, PCI_EXT_CAP_ID_REBAR});
  // 0x100 becomes a null capability pointing at AER; AER ends the chain.
  ASSERT_EQ(headers.size(), 2u);
  EXPECT_EQ(headers.at(0x100), 0x140u << 20);
  EXPECT_EQ(PCI_EXT_CAP_ID(headers.at(0x140)), PCI_EXT_CAP_ID_ERR);
  EXPECT_EQ(PCI_EXT_CAP_NEXT(headers.at(0x140)), 0u);
  EXPECT_EQ(PCI_EXT_CAP_VER(headers.at(0x140)), 1u);
}

TEST(Caps, HidingNothingChangesNothing) {
  auto c = nvme_like();
  auto caps = scan_capabilities(c.b).value();
  EXPECT_TRUE(hide_extended_caps(caps, c.b, {}).empty());
  EXPECT_TRUE(hide_extended_caps(caps, c.b, {PCI_EXT_CAP_ID_DPC}).empty());
}

TEST(BarLayout, MsixPagesTrapTheRestIsDirect) {
  // 16 KiB BAR, all mmappable, MSI-X table at 0x2000 (65 entries), PBA at 0x3000.
  auto plan = plan_bar(0x4000, {{0, 0x4000}}, {{0x2000, 65 * 16}, {0x3000, 16}}, 0x1000);
  EXPECT_EQ(plan.direct, (std::vector<BarRange>{{0, 0x2000}}));
  EXPECT_EQ(plan.trapped, (std::vector<BarRange>{{0x2000, 0x2000}}));
}

TEST(BarLayout, SparseAreasAndUnalignedPieces) {
  // The kernel left 0x1000-0x1fff out; a tail smaller than a page cannot be a memory slot.
  auto plan = plan_bar(0x5800, {{0, 0x1000}, {0x2000, 0x3800}}, {}, 0x1000);
  EXPECT_EQ(plan.direct, (std::vector<BarRange>{{0, 0x1000}, {0x2000, 0x3000}}));
  EXPECT_EQ(plan.trapped, (std::vector<BarRange>{{0x1000, 0x1000}, {0x5000, 0x800}}));
}

TEST(BarLayout, NotMmappableOrTinyTrapsWhole) {
  auto none = plan_bar(0x20000, {}, {}, 0x1000);
  EXPECT_TRUE(none.direct.empty());
  EXPECT_EQ(none.trapped, (std::vector<BarRange>{{0, 0x20000}}));
  auto tiny = plan_bar(0x100, {{0, 0x100}}, {}, 0x1000);
  EXPECT_TRUE(tiny.direct.empty());
  EXPECT_EQ(tiny.trapped, (std::vector<BarRange>{{0, 0x100}}));
}

TEST(BarLayout, TableInTheMiddleSplitsTheDirectPart) {
  auto plan = plan_bar(0x10000, {{0, 0x10000}}, {{0x8000, 0x40}}, 0x1000);
  EXPECT_EQ(plan.direct, (std::vector<BarRange>{{0, 0x8000}, {0x9000, 0x7000}}));
  EXPECT_EQ(plan.trapped, (std::vector<BarRange>{{0x8000, 0x1000}}));
}

}  // namespace
}  // namespace altovirt::vfio

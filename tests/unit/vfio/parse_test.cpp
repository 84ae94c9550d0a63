// The VFIO layer decodes what the kernel returns; these tests feed it hand-made buffers laid out as
// include/uapi/linux/vfio.h says.
#include <linux/vfio.h>

#include <cstring>

#include <gtest/gtest.h>

#include "altovirt/vfio/container.h"
#include "altovirt/vfio/device.h"
#include "altovirt/vfio/sysfs.h"

namespace altovirt::vfio {
namespace {

template <class T>
void put(std::vector<uint8_t>& buf, size_t off, const T& v) {
  if (buf.size() < off + sizeof v) buf.resize(off + sizeof v);
  std::memcpy(buf.data() + off, &v, sizeof v);
}

std::vector<uint8_t> region(uint32_t flags, uint64_t size, uint32_t cap_offset = 0) {
  vfio_region_info r{};
  r.argsz = sizeof r;
  r.flags = flags;
  r.index = VFIO_PCI_BAR0_REGION_INDEX;
  r.cap_offset = cap_offset;
  r.size = size;
  r.offset = 0x10000000000ULL;
  std::vector<uint8_t> buf;
  put(buf, 0, r);
  return buf;
}

TEST(RegionInfo, MmappableWithoutCapsIsOneWholeArea) {
  auto r = parse_region_info(region(VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE | VFIO_REGION_INFO_FLAG_MMAP, 0x20000));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->size, 0x20000u);
  EXPECT_EQ(r->offset, 0x10000000000ULL);
  ASSERT_EQ(r->mmap_areas.size(), 1u);
  EXPECT_EQ(r->mmap_areas[0].offset, 0u);
  EXPECT_EQ(r->mmap_areas[0].size, 0x20000u);
}

TEST(RegionInfo, NotMmappableHasNoAreas) {
  auto r = parse_region_info(region(VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE, 0x100));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->mmap_areas.empty());
  EXPECT_FALSE(r->mmappable());
}

// A BAR whose middle page holds the MSI-X table: the kernel reports the parts around it as sparse
// areas, and the VMM must trap the hole.
TEST(RegionInfo, SparseMmapAreasAroundMsixTable) {
  uint32_t flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE | VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS;
  auto buf = region(flags, 0x4000, sizeof(vfio_region_info));
  vfio_region_info_cap_sparse_mmap cap{};
  cap.header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
  cap.header.version = 1;
  cap.header.next = 0;
  cap.nr_areas = 3;
  size_t off = sizeof(vfio_region_info);
  put(buf, off, cap);
  vfio_region_sparse_mmap_area a0{0, 0x1000}, empty{0x1000, 0}, a1{0x2000, 0x2000};
  put(buf, off + sizeof cap, a0);
  put(buf, off + sizeof cap + sizeof a0, empty);
  put(buf, off + sizeof cap + 2 * sizeof a0, a1);
  auto r = parse_region_info(buf);
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->mmap_areas.size(), 2u);  // the empty area is dropped
  EXPECT_EQ(r->mmap_areas[0].offset, 0u);
  EXPECT_EQ(r->mmap_areas[0].size, 0x1000u);
  EXPECT_EQ(r->mmap_areas[1].offset, 0x2000u);
  EXPECT_EQ(r->mmap_areas[1].size, 0x2000u);
}

TEST(RegionInfo, RejectsAreasOutsideTheRegionAndBrokenChains) {
  uint32_t flags = VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS;
  auto buf = region(flags, 0x1000, sizeof(vfio_region_info));
  vfio_region_info_cap_sparse_mmap cap{};
  cap.header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
  cap.nr_areas = 1;
  put(buf, sizeof(vfio_region_info), cap);
  vfio_region_sparse_mmap_area a{0x800, 0x1000};
  put(buf, sizeof(vfio_region_info) + sizeof cap, a);
  auto r = parse_region_info(buf);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("outside the region"), std::string::npos);

  auto loop = region(flags, 0x1000, sizeof(vfio_region_info));
  vfio_info_cap_header self{};
  self.id = 99;
  self.next = sizeof(vfio_region_info);  // points at itself
  put(loop, sizeof(vfio_region_info), self);
  EXPECT_FALSE(parse_region_info(loop));

  auto dangling = region(flags, 0x1000, 4096);
  EXPECT_FALSE(parse_region_info(dangling));
  EXPECT_FALSE(parse_region_info(std::vector<uint8_t>(4)));
}

TEST(IommuInfo, IovaRangesFromCapability) {
  vfio_iommu_type1_info head{};
  head.argsz = 0;
  head.flags = VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS;
  head.iova_pgsizes = 0x40201000;
  head.cap_offset = sizeof head;
  std::vector<uint8_t> buf;
  put(buf, 0, head);
  vfio_iommu_type1_info_cap_iova_range cap{};
  cap.header.id = VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE;
  cap.nr_iovas = 2;
  put(buf, sizeof head, cap);
  vfio_iova_range r0{0, 0xfedfffff}, r1{0xfef00000, (1ULL << 39) - 1};
  put(buf, sizeof head + sizeof cap, r0);
  put(buf, sizeof head + sizeof cap + sizeof r0, r1);
  auto ranges = parse_iommu_info_iova_ranges(buf);
  ASSERT_TRUE(ranges) << ranges.error().message();
  ASSERT_EQ(ranges->size(), 2u);
  EXPECT_EQ((*ranges)[0].end, 0xfedfffffu);
  EXPECT_EQ((*ranges)[1].start, 0xfef00000u);

  // Too few bytes for the ranges it announces.
  buf.resize(sizeof head + sizeof cap + sizeof r0);
  EXPECT_FALSE(parse_iommu_info_iova_ranges(buf));
}

TEST(ReservedRegions, ParsesKernelFormat) {
  auto r = parse_reserved_regions("0x00000000fee00000 0x00000000feefffff msi\n0x00000000000a0000 0x00000000000bffff direct-relaxable\n", "rr");
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].start, 0xfee00000u);
  EXPECT_EQ((*r)[0].end, 0xfeefffffu);
  EXPECT_EQ((*r)[0].type, "msi");
  EXPECT_EQ((*r)[1].type, "direct-relaxable");
  EXPECT_TRUE(parse_reserved_regions("", "rr")->empty());
  auto bad = parse_reserved_regions("0xfee00000 msi\n", "/sys/kernel/iommu_groups/3/reserved_regions");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("/sys/kernel/iommu_groups/3/reserved_regions line 1"), std::string::npos);
  EXPECT_FALSE(parse_reserved_regions("0x2000 0x1000 msi\n", "rr"));
}

}  // namespace
}  // namespace altovirt::vfio

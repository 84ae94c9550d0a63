// Dispatch of trapped accesses: ranges, overlaps, all-ones for nothing, counters that survive moves.
#include <gtest/gtest.h>

#include "altovirt/vmm/io_bus.h"

using namespace altovirt::vmm;

namespace {
struct Echo : altovirt::devices::IoHandler {
  uint64_t last_offset = ~0ull;
  void io_read(uint64_t offset, std::span<uint8_t> data) override {
    last_offset = offset;
    for (auto& b : data) b = static_cast<uint8_t>(offset);
  }
  void io_write(uint64_t offset, std::span<const uint8_t>) override { last_offset = offset; }
};
}  // namespace

TEST(IoBus, DispatchesByRangeWithOffsets) {
  IoBus bus("pio");
  auto a = std::make_shared<Echo>();
  ASSERT_TRUE(bus.add(0x3f8, 8, "serial", a));
  uint8_t d[1];
  bus.read(0x3fd, d);
  EXPECT_EQ(a->last_offset, 5u);
  EXPECT_EQ(d[0], 5);
  bus.read(0x400, d);
  EXPECT_EQ(d[0], 0xff) << "nothing there reads all ones";
  bus.write(0x3f7, d);
  EXPECT_EQ(a->last_offset, 5u);
}

TEST(IoBus, RefusesOverlaps) {
  IoBus bus("mmio");
  ASSERT_TRUE(bus.add(0x1000, 0x1000, "a", std::make_shared<Echo>()));
  EXPECT_FALSE(bus.add(0x1800, 0x1000, "b", std::make_shared<Echo>()));
  EXPECT_FALSE(bus.add(0x0800, 0x1000, "c", std::make_shared<Echo>()));
  EXPECT_FALSE(bus.add(0x1000, 0, "d", std::make_shared<Echo>()));
  EXPECT_TRUE(bus.add(0x2000, 0x1000, "e", std::make_shared<Echo>()));
}

TEST(IoBus, CountersPerRegionSurviveRemoval) {
  IoBus bus("mmio");
  auto h = std::make_shared<Echo>();
  ASSERT_TRUE(bus.add(0x1000, 0x100, "dev BAR0", h));
  uint8_t d[4];
  bus.read(0x1000, d);
  bus.write(0x1004, d);
  bus.write(0x1008, d);
  EXPECT_TRUE(bus.remove(0x1000));
  EXPECT_FALSE(bus.remove(0x1000));
  ASSERT_TRUE(bus.add(0x8000, 0x100, "dev BAR0", h));  // the BAR moved
  bus.read(0x8000, d);
  bus.read(0x9000, d);
  auto stats = bus.stats();
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_EQ(stats[0].name, "dev BAR0");
  EXPECT_EQ(stats[0].reads, 2u);
  EXPECT_EQ(stats[0].writes, 2u);
  EXPECT_EQ(stats[0].base, 0x8000u);
  EXPECT_EQ(stats[1].name, "unassigned");
  EXPECT_EQ(stats[1].reads, 1u);
}

TEST(IoBus, CoalescedWritesReachTheDeviceButAreCountedApartFromExits) {
  IoBus bus("pio");
  auto h = std::make_shared<Echo>();
  ASSERT_TRUE(bus.add(0xcf8, 8, "pci-config 0xcf8", h));
  uint8_t d[4] = {};
  bus.write_coalesced(0xcf8, d);
  EXPECT_EQ(h->last_offset, 0u);
  bus.write(0xcfc, d);
  EXPECT_EQ(h->last_offset, 4u);
  bus.write_coalesced(0x80, d);  // nothing there: counted as unassigned, still not an exit
  auto stats = bus.stats();
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_EQ(stats[0].writes, 1u);
  EXPECT_EQ(stats[0].coalesced, 1u);
  EXPECT_EQ(stats[1].name, "unassigned");
  EXPECT_EQ(stats[1].writes, 0u);
  EXPECT_EQ(stats[1].coalesced, 1u);
}

// A guest-moved region (ECAM by PCIEXBAR, the PM block by PMBASE): it follows the register, stops
// decoding when disabled, and a move onto another device is refused without that device being
// taken away by the next move.
TEST(MovableRegion, FollowsTheRegisterAndNeverRemovesAnotherDevice) {
  IoBus bus("pio");
  auto pm = std::make_shared<Echo>();
  auto serial = std::make_shared<Echo>();
  ASSERT_TRUE(bus.add(0x600, 0xc, "acpi-pm", pm));
  ASSERT_TRUE(bus.add(0x3f8, 8, "serial", serial));
  MovableRegion region(bus, "acpi-pm", "the ACPI PM block", pm, 0x600);
  uint8_t d[1];
  EXPECT_TRUE(region.move(0x700, 0xc));
  bus.read(0x600, d);
  EXPECT_EQ(d[0], 0xff) << "the old base no longer decodes";
  bus.read(0x704, d);
  EXPECT_EQ(pm->last_offset, 4u);
  EXPECT_FALSE(region.move(0x3f8, 0xc)) << "over the serial port: refused";
  EXPECT_FALSE(region.mapped());
  EXPECT_FALSE(region.move(std::nullopt, 0));
  bus.read(0x3f9, d);
  EXPECT_EQ(serial->last_offset, 1u) << "the serial port is still there after the next move";
  EXPECT_TRUE(region.move(0x600, 0xc));
  EXPECT_EQ(region.mapped(), 0x600u);
}

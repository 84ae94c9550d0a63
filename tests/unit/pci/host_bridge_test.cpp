// The q35 host bridge's PCIEXBAR, written the way OVMF's PciExBarInitialization writes it, and the
// ECAM window following it through a PciBus's config mechanism #1 (how firmware reaches it).
#include <gtest/gtest.h>

#include <vector>

#include "altovirt/pci/pci_bus.h"

using namespace altovirt::pci;

namespace {

constexpr uint64_t MiB = 1024 * 1024;

void cf8_write32(PciBus& bus, unsigned reg, uint32_t value) {
  uint32_t addr = 0x80000000u | reg;  // bus 0, 00.0
  uint8_t a[4] = {uint8_t(addr), uint8_t(addr >> 8), uint8_t(addr >> 16), uint8_t(addr >> 24)};
  bus.cf8_write(0, a);
  uint8_t v[4] = {uint8_t(value), uint8_t(value >> 8), uint8_t(value >> 16), uint8_t(value >> 24)};
  bus.cf8_write(4, v);
}

struct Moves {
  std::vector<std::pair<std::optional<EcamWindow>, std::optional<EcamWindow>>> seen;
  void attach(HostBridge& hb) {
    hb.set_ecam_listener([this](auto old, auto now) { seen.emplace_back(old, now); });
  }
};

}  // namespace

TEST(HostBridge, StartsWhereTheMachinePutEcam) {
  PciBus bus;
  bus.host_bridge().set_ecam(0xe0000000);
  EXPECT_EQ(bus.config_read({}, HostBridge::kPciexbar, 4), 0xe0000001u);
  EXPECT_EQ(bus.config_read({}, HostBridge::kPciexbar + 4, 4), 0u);
  ASSERT_TRUE(bus.host_bridge().ecam());
  EXPECT_EQ(*bus.host_bridge().ecam(), (EcamWindow{0xe0000000, 256 * MiB}));
}

TEST(HostBridge, OvmfRelocationSequenceMovesTheWindowOnce) {
  PciBus bus;
  bus.host_bridge().set_ecam(0xe0000000);
  Moves m;
  m.attach(bus.host_bridge());
  cf8_write32(bus, HostBridge::kPciexbar, 0);       // low: disabled
  cf8_write32(bus, HostBridge::kPciexbar + 4, 0);   // high
  cf8_write32(bus, HostBridge::kPciexbar, 0xb0000001);  // 256 MiB at 0xB0000000, enabled
  ASSERT_EQ(m.seen.size(), 2u);
  EXPECT_EQ(m.seen[0].first, (EcamWindow{0xe0000000, 256 * MiB}));
  EXPECT_FALSE(m.seen[0].second) << "disabling unmaps";
  EXPECT_FALSE(m.seen[1].first);
  EXPECT_EQ(m.seen[1].second, (EcamWindow{0xb0000000, 256 * MiB}));
  EXPECT_EQ(bus.config_read({}, HostBridge::kPciexbar, 4), 0xb0000001u);
}

TEST(HostBridge, LengthCodesAndAddressMasks) {
  PciBus bus;
  HostBridge& hb = bus.host_bridge();
  cf8_write32(bus, HostBridge::kPciexbar + 4, 0x3);  // base bits 35:32
  cf8_write32(bus, HostBridge::kPciexbar, 0xbc000000 | 1 << 1 | 1);  // 128 MiB: bit 26 ignored
  EXPECT_EQ(hb.ecam(), (EcamWindow{0x3b8000000, 128 * MiB}));
  cf8_write32(bus, HostBridge::kPciexbar, 0xbc000000 | 2 << 1 | 1);  // 64 MiB: bit 26 counts
  EXPECT_EQ(hb.ecam(), (EcamWindow{0x3bc000000, 64 * MiB}));
  cf8_write32(bus, HostBridge::kPciexbar, 0xbc000000 | 3 << 1 | 1);  // reserved length
  EXPECT_FALSE(hb.ecam());
  cf8_write32(bus, HostBridge::kPciexbar + 4, 0xfffffff3);  // bits above 35 are read-only zero
  EXPECT_EQ(bus.config_read({}, HostBridge::kPciexbar + 4, 4), 0x3u);
}

TEST(HostBridge, OtherRegistersNeverMoveTheWindow) {
  PciBus bus;
  bus.host_bridge().set_ecam(0xb0000000);
  Moves m;
  m.attach(bus.host_bridge());
  cf8_write32(bus, HostBridge::kPam0, 0xffffffff);
  cf8_write32(bus, 0x9c, 0xffffffff);  // SMRAM / ESMRAMC: no SMM, read zero
  cf8_write32(bus, HostBridge::kPciexbar, 0xb0000001);  // the same value again
  EXPECT_TRUE(m.seen.empty());
  EXPECT_EQ(bus.config_read({}, HostBridge::kPam0, 4), 0x33333330u);
  EXPECT_EQ(bus.config_read({}, 0x9c, 4), 0u);
}

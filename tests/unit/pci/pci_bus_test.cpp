// The root bus: host bridge, config mechanism #1 and ECAM addressing, absent functions, placement
// and multifunction rules, firmware-style BAR assignment.
#include <gtest/gtest.h>
#include <linux/pci_regs.h>

#include <cstring>

#include "altovirt/pci/pci_bus.h"

using namespace altovirt::pci;

namespace {

class Dev : public PciDevice {
 public:
  explicit Dev(std::string n = "dev") : PciDevice(std::move(n), 0x1af4, 0x1000, 0x020000, 0) {}
  using PciDevice::define_bar;
};

uint32_t cf8_read32(PciBus& bus, unsigned bus_nr, unsigned slot, unsigned fn, unsigned reg) {
  uint32_t addr = 0x80000000u | bus_nr << 16 | slot << 11 | fn << 8 | reg;
  uint8_t a[4];
  std::memcpy(a, &addr, 4);
  bus.cf8_write(0, a);
  uint8_t d[4];
  bus.cf8_read(4, d);
  uint32_t v;
  std::memcpy(&v, d, 4);
  return v;
}

uint32_t ecam_read32(PciBus& bus, unsigned bus_nr, unsigned slot, unsigned fn, unsigned reg) {
  uint8_t d[4];
  bus.ecam_read(uint64_t{bus_nr} << 20 | slot << 15 | fn << 12 | reg, d);
  uint32_t v;
  std::memcpy(&v, d, 4);
  return v;
}

}  // namespace

TEST(PciBus, HostBridgeAtZero) {
  PciBus bus;
  EXPECT_EQ(cf8_read32(bus, 0, 0, 0, 0), 0x29c08086u);
  EXPECT_EQ(ecam_read32(bus, 0, 0, 0, 0), 0x29c08086u);
  EXPECT_EQ(ecam_read32(bus, 0, 0, 0, PCI_CLASS_REVISION) >> 8, 0x060000u);
}

TEST(PciBus, AbsentFunctionsReadAllOnes) {
  PciBus bus;
  EXPECT_EQ(cf8_read32(bus, 0, 5, 0, 0), 0xffffffffu);
  EXPECT_EQ(ecam_read32(bus, 0, 31, 7, 0), 0xffffffffu);
  EXPECT_EQ(ecam_read32(bus, 3, 0, 0, 0), 0xffffffffu) << "no bus 3";
  uint8_t one[1];
  bus.ecam_read(0x100 | (5 << 15), one);
  EXPECT_EQ(one[0], 0xff);
  uint8_t v[4] = {1, 2, 3, 4};
  bus.ecam_write(5 << 15, v);  // dropped, no crash
}

TEST(PciBus, Cf8DisabledOrByteAccessIsNotAConfigCycle) {
  PciBus bus;
  uint32_t addr = 0;  // enable bit clear
  uint8_t a[4];
  std::memcpy(a, &addr, 4);
  bus.cf8_write(0, a);
  uint8_t d[4];
  bus.cf8_read(4, d);
  EXPECT_EQ(d[0], 0xff);
  uint8_t b[1] = {0};
  bus.cf8_read(1, b);
  EXPECT_EQ(b[0], 0xff);
}

TEST(PciBus, ConfigAddressRegisterReadsBack) {
  PciBus bus;
  cf8_read32(bus, 0, 3, 1, 0x10);
  uint8_t d[4];
  bus.cf8_read(0, d);
  uint32_t v;
  std::memcpy(&v, d, 4);
  EXPECT_EQ(v, 0x80001910u);
}

TEST(PciBus, ExtendedConfigSpaceOnlyThroughEcam) {
  PciBus bus;
  auto dev = std::make_shared<Dev>();
  ASSERT_TRUE(dev->config().add_ext_capability(PCI_EXT_CAP_ID_DSN, 1, 12));
  ASSERT_TRUE(bus.add(dev, 2, 0, false));
  EXPECT_EQ(ecam_read32(bus, 0, 2, 0, 0x100) & 0xffff, unsigned{PCI_EXT_CAP_ID_DSN});
}

TEST(PciBus, PlacementAndConflicts) {
  PciBus bus;
  auto a = bus.add(std::make_shared<Dev>("a"), std::nullopt, 0, false);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->str(), "0000:00:01.0");
  auto b = bus.add(std::make_shared<Dev>("b"), 1, 0, false);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message().find("already taken by a"), std::string::npos) << b.error().message();
  EXPECT_FALSE(bus.add(std::make_shared<Dev>("c"), 32, 0, false));
  EXPECT_FALSE(bus.add(std::make_shared<Dev>("c"), 4, 8, false));
}

TEST(PciBus, MultifunctionRules) {
  PciBus bus;
  ASSERT_TRUE(bus.add(std::make_shared<Dev>("f1"), 3, 1, false));
  EXPECT_FALSE(bus.check_topology()) << "function 1 without function 0";
  ASSERT_TRUE(bus.add(std::make_shared<Dev>("f0"), 3, 0, false));
  auto s = bus.check_topology();
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("multifunction=on"), std::string::npos);
  PciBus good;
  ASSERT_TRUE(good.add(std::make_shared<Dev>("f0"), 3, 0, true));
  ASSERT_TRUE(good.add(std::make_shared<Dev>("f1"), 3, 1, false));
  EXPECT_TRUE(good.check_topology());
  EXPECT_EQ(ecam_read32(good, 0, 3, 0, PCI_CACHE_LINE_SIZE) >> 16 & 0x80, 0x80u);
  EXPECT_EQ(ecam_read32(good, 0, 3, 1, 0), 0x10001af4u);
}

TEST(PciBus, AssignResourcesPlacesBarsInTheirWindows) {
  PciBus bus;
  auto d = std::make_shared<Dev>();
  ASSERT_TRUE(d->define_bar(0, {BarKind::mem32, 0x1000, false}));
  ASSERT_TRUE(d->define_bar(2, {BarKind::mem64, 0x100000, true}));
  ASSERT_TRUE(d->define_bar(4, {BarKind::io, 0x40, false}));
  ASSERT_TRUE(bus.add(d, std::nullopt, 0, false));
  PciWindows w{0xc0000000, 0x20000000, uint64_t{32} << 30, uint64_t{32} << 30, 0xc000, 0x4000};
  ASSERT_TRUE(bus.assign_resources(w));
  EXPECT_EQ(d->bar_address(0), uint64_t{0xc0000000});
  EXPECT_EQ(d->bar_address(2), uint64_t{32} << 30);
  EXPECT_EQ(d->bar_address(4), uint64_t{0xc000});
  EXPECT_TRUE(d->config().get16(PCI_COMMAND) & PCI_COMMAND_MEMORY);
  EXPECT_TRUE(d->config().get16(PCI_COMMAND) & PCI_COMMAND_IO);
}

TEST(PciAddress, ParseSlotFunction) {
  auto a = parse_slot_function("1f.7");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->slot, 0x1f);
  EXPECT_EQ(a->function, 7);
  EXPECT_TRUE(parse_slot_function("0x3"));
  EXPECT_FALSE(parse_slot_function("20"));
  EXPECT_FALSE(parse_slot_function("3.8"));
  EXPECT_FALSE(parse_slot_function("x"));
}

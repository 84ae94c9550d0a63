// Root ports and the buses behind them: type 1 routing by the live bus registers, device 0 only
// behind a port, the slot a cold-plugged or empty port shows, firmware-style bus numbers and
// windows, and the INTx swizzle.
#include <gtest/gtest.h>
#include <linux/pci_regs.h>

#include <cstring>

#include "altovirt/pci/pci_bus.h"
#include "altovirt/pci/root_port.h"

using namespace altovirt::pci;

namespace {

class Dev : public PciDevice {
 public:
  explicit Dev(std::string n = "dev", uint16_t id = 0x1000) : PciDevice(std::move(n), 0x1af4, id, 0x020000, 0) {}
  using PciDevice::define_bar;
};

std::shared_ptr<RootPort> port(std::string name, uint16_t slot_number = 1) {
  RootPortOptions o;
  o.name = std::move(name);
  o.port = 0x10;
  o.slot_number = slot_number;
  auto p = RootPort::create(o, nullptr);
  EXPECT_TRUE(p) << p.error().message();
  return *p;
}

uint32_t cf8_read(PciBus& bus, unsigned b, unsigned slot, unsigned fn, unsigned reg, unsigned size = 4) {
  uint32_t addr = 0x80000000u | b << 16 | slot << 11 | fn << 8 | (reg & 0xfc);
  uint8_t a[4];
  std::memcpy(a, &addr, 4);
  bus.cf8_write(0, a);
  uint8_t d[4] = {};
  bus.cf8_read(4 + (reg & 3), std::span<uint8_t>(d, size));
  uint32_t v = 0;
  std::memcpy(&v, d, size);
  return v;
}

uint32_t ecam_read(PciBus& bus, unsigned b, unsigned slot, unsigned fn, unsigned reg, unsigned size = 4) {
  uint8_t d[4] = {};
  bus.ecam_read(uint64_t{b} << 20 | slot << 15 | fn << 12 | reg, std::span<uint8_t>(d, size));
  uint32_t v = 0;
  std::memcpy(&v, d, size);
  return v;
}

void ecam_write(PciBus& bus, unsigned b, unsigned slot, unsigned fn, unsigned reg, uint32_t v, unsigned size = 4) {
  uint8_t d[4];
  std::memcpy(d, &v, 4);
  bus.ecam_write(uint64_t{b} << 20 | slot << 15 | fn << 12 | reg, std::span<const uint8_t>(d, size));
}

PciWindows windows() { return PciWindows{0xc0000000, 512 << 20, 0x800000000, 32ull << 30, 0xc000, 0x4000}; }

}  // namespace

TEST(RootPort, IdentityAndType1Header) {
  PciBus bus;
  ASSERT_TRUE(bus.add(port("rp1"), 3, 0, false));
  EXPECT_EQ(ecam_read(bus, 0, 3, 0, 0), 0x000c1b36u);
  EXPECT_EQ(ecam_read(bus, 0, 3, 0, PCI_CLASS_REVISION) >> 8, 0x060400u);
  EXPECT_EQ(ecam_read(bus, 0, 3, 0, PCI_HEADER_TYPE, 1), unsigned{PCI_HEADER_TYPE_BRIDGE});
  // The first bridge gets bus 1, as firmware would number it.
  EXPECT_EQ(ecam_read(bus, 0, 3, 0, PCI_PRIMARY_BUS, 1), 0u);
  EXPECT_EQ(ecam_read(bus, 0, 3, 0, PCI_SECONDARY_BUS, 1), 1u);
  EXPECT_EQ(ecam_read(bus, 0, 3, 0, PCI_SUBORDINATE_BUS, 1), 1u);
  // 64-bit prefetchable window type, read-only.
  EXPECT_EQ(ecam_read(bus, 0, 3, 0, PCI_PREF_MEMORY_BASE, 2) & 0xf, unsigned{PCI_PREF_RANGE_TYPE_64});
  ecam_write(bus, 0, 3, 0, PCI_PREF_MEMORY_BASE, 0xffff, 2);
  EXPECT_EQ(ecam_read(bus, 0, 3, 0, PCI_PREF_MEMORY_BASE, 2), 0xfff1u);
  // BARs 0/1 of a bridge: none.
  ecam_write(bus, 0, 3, 0, PCI_BASE_ADDRESS_0, 0xffffffff);
  EXPECT_EQ(ecam_read(bus, 0, 3, 0, PCI_BASE_ADDRESS_0), 0u);
}

TEST(RootPort, ConfigCyclesFollowTheLiveBusNumbers) {
  PciBus bus;
  auto rp = port("rp1");
  ASSERT_TRUE(bus.add(rp, 2, 0, false));
  auto a = bus.add_behind(*rp, std::make_shared<Dev>("nic", 0x1234), 0, false);
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(*a, (PciAddress{1, 0, 0}));
  EXPECT_EQ(cf8_read(bus, 1, 0, 0, 0), 0x12341af4u);
  EXPECT_EQ(ecam_read(bus, 1, 0, 0, 0), 0x12341af4u);
  // The guest renumbers the bridge: the device moves to bus 5, bus 1 is empty.
  ecam_write(bus, 0, 2, 0, PCI_SECONDARY_BUS, 5, 1);
  ecam_write(bus, 0, 2, 0, PCI_SUBORDINATE_BUS, 5, 1);
  EXPECT_EQ(ecam_read(bus, 1, 0, 0, 0), 0xffffffffu);
  EXPECT_EQ(ecam_read(bus, 5, 0, 0, 0), 0x12341af4u);
  EXPECT_EQ(cf8_read(bus, 5, 0, 0, 0), 0x12341af4u);
  // A bus inside the range but past the secondary: no bridge behind this one, master abort.
  ecam_write(bus, 0, 2, 0, PCI_SUBORDINATE_BUS, 7, 1);
  EXPECT_EQ(ecam_read(bus, 6, 0, 0, 0), 0xffffffffu);
  // Secondary 0 (a reset bridge) forwards nothing.
  ecam_write(bus, 0, 2, 0, PCI_SECONDARY_BUS, 0, 1);
  EXPECT_EQ(ecam_read(bus, 5, 0, 0, 0), 0xffffffffu);
  ecam_write(bus, 5, 0, 0, PCI_COMMAND, 0x6, 2);  // dropped, no crash
}

TEST(RootPort, OnlyDeviceZeroExistsBehindAPort) {
  PciBus bus;
  auto rp = port("rp1");
  ASSERT_TRUE(bus.add(rp, 2, 0, false));
  ASSERT_TRUE(bus.add_behind(*rp, std::make_shared<Dev>("nic"), 0, false));
  for (unsigned dev = 1; dev < 32; ++dev) {
    EXPECT_EQ(ecam_read(bus, 1, dev, 0, 0), 0xffffffffu) << "device " << dev;
    EXPECT_EQ(cf8_read(bus, 1, dev, 0, 0), 0xffffffffu) << "device " << dev;
  }
  EXPECT_EQ(ecam_read(bus, 1, 0, 1, 0), 0xffffffffu) << "function 1 is empty";
  auto second = bus.add_behind(*rp, std::make_shared<Dev>("second"), 0, false);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message().find("already has nic"), std::string::npos) << second.error().message();
}

TEST(RootPort, ColdPluggedSlotReadsPresentPoweredAndLinkedUp) {
  auto rp = port("rp1", 7);
  unsigned exp = rp->pcie_cap();
  ASSERT_EQ(rp->config().find_capability(PCI_CAP_ID_EXP), exp);
  const ConfigSpace& c = rp->config();
  uint16_t flags = c.get16(exp + PCI_EXP_FLAGS);
  EXPECT_EQ(flags & PCI_EXP_FLAGS_VERS, 2);
  EXPECT_EQ((flags & PCI_EXP_FLAGS_TYPE) >> 4, PCI_EXP_TYPE_ROOT_PORT);
  EXPECT_TRUE(flags & PCI_EXP_FLAGS_SLOT);
  uint32_t sltcap = c.get32(exp + PCI_EXP_SLTCAP);
  for (uint32_t bit : {PCI_EXP_SLTCAP_HPC, PCI_EXP_SLTCAP_HPS, PCI_EXP_SLTCAP_ABP, PCI_EXP_SLTCAP_PCP,
                       PCI_EXP_SLTCAP_AIP, PCI_EXP_SLTCAP_PIP})
    EXPECT_TRUE(sltcap & bit) << std::hex << bit;
  EXPECT_EQ(sltcap >> 19, 7u);
  EXPECT_TRUE(c.get32(exp + PCI_EXP_LNKCAP) & PCI_EXP_LNKCAP_DLLLARC);
  EXPECT_EQ(c.get32(exp + PCI_EXP_LNKCAP) >> 24, 0x10u);
  // Empty: not present, link down, power off.
  EXPECT_FALSE(c.get16(exp + PCI_EXP_SLTSTA) & PCI_EXP_SLTSTA_PDS);
  EXPECT_FALSE(c.get16(exp + PCI_EXP_LNKSTA) & PCI_EXP_LNKSTA_DLLLA);
  EXPECT_EQ(c.get16(exp + PCI_EXP_SLTCTL) & PCI_EXP_SLTCTL_PCC, PCI_EXP_SLTCTL_PWR_OFF);
  EXPECT_EQ(c.get16(exp + PCI_EXP_SLTCTL) & PCI_EXP_SLTCTL_PIC, PCI_EXP_SLTCTL_PWR_IND_OFF);
  // Cold-plugged: present, link active, powered, power indicator on.
  PciBus bus;
  ASSERT_TRUE(bus.add(rp, 4, 0, false));
  ASSERT_TRUE(bus.add_behind(*rp, std::make_shared<Dev>(), 0, false));
  EXPECT_TRUE(ecam_read(bus, 0, 4, 0, exp + PCI_EXP_SLTSTA, 2) & PCI_EXP_SLTSTA_PDS);
  EXPECT_TRUE(ecam_read(bus, 0, 4, 0, exp + PCI_EXP_LNKSTA, 2) & PCI_EXP_LNKSTA_DLLLA);
  uint32_t ctl = ecam_read(bus, 0, 4, 0, exp + PCI_EXP_SLTCTL, 2);
  EXPECT_EQ(ctl & PCI_EXP_SLTCTL_PCC, PCI_EXP_SLTCTL_PWR_ON);
  EXPECT_EQ(ctl & PCI_EXP_SLTCTL_PIC, PCI_EXP_SLTCTL_PWR_IND_ON);
}

TEST(RootPort, SlotControlWritesCompleteAndPresenceIsReadOnly) {
  PciBus bus;
  auto rp = port("rp1");
  ASSERT_TRUE(bus.add(rp, 4, 0, false));
  ASSERT_TRUE(bus.add_behind(*rp, std::make_shared<Dev>(), 0, false));
  unsigned exp = rp->pcie_cap();
  EXPECT_FALSE(ecam_read(bus, 0, 4, 0, exp + PCI_EXP_SLTSTA, 2) & PCI_EXP_SLTSTA_CC);
  // What pciehp writes at init: the event enables.
  uint16_t ctl = static_cast<uint16_t>(ecam_read(bus, 0, 4, 0, exp + PCI_EXP_SLTCTL, 2));
  ecam_write(bus, 0, 4, 0, exp + PCI_EXP_SLTCTL,
             ctl | PCI_EXP_SLTCTL_DLLSCE | PCI_EXP_SLTCTL_ABPE | PCI_EXP_SLTCTL_HPIE | PCI_EXP_SLTCTL_CCIE, 2);
  uint32_t sta = ecam_read(bus, 0, 4, 0, exp + PCI_EXP_SLTSTA, 2);
  EXPECT_TRUE(sta & PCI_EXP_SLTSTA_CC);
  EXPECT_TRUE(sta & PCI_EXP_SLTSTA_PDS);
  EXPECT_TRUE(ecam_read(bus, 0, 4, 0, exp + PCI_EXP_SLTCTL, 2) & PCI_EXP_SLTCTL_HPIE);
  // CC is RW1C; writing PDS does nothing.
  ecam_write(bus, 0, 4, 0, exp + PCI_EXP_SLTSTA, PCI_EXP_SLTSTA_CC | PCI_EXP_SLTSTA_PDS, 2);
  sta = ecam_read(bus, 0, 4, 0, exp + PCI_EXP_SLTSTA, 2);
  EXPECT_FALSE(sta & PCI_EXP_SLTSTA_CC);
  EXPECT_TRUE(sta & PCI_EXP_SLTSTA_PDS);
}

TEST(RootPort, BusNumbersRunOutWithTheEcamWindow) {
  PciBus bus(2);
  ASSERT_TRUE(bus.add(port("a", 1), 1, 0, false));
  ASSERT_TRUE(bus.add(port("b", 2), 2, 0, false));
  auto third = bus.add(port("c", 3), 3, 0, false);
  ASSERT_FALSE(third);
  EXPECT_NE(third.error().message().find("buses 0..2"), std::string::npos) << third.error().message();
}

TEST(RootPort, ResourcesGiveEachPortWindowsHoldingItsDevices) {
  PciBus bus;
  auto rp1 = port("rp1", 1), rp2 = port("rp2", 2), rp3 = port("rp3", 3);
  ASSERT_TRUE(bus.add(rp1, 2, 0, false));
  ASSERT_TRUE(bus.add(rp2, 3, 0, false));
  ASSERT_TRUE(bus.add(rp3, 4, 0, false));  // stays empty
  auto nic = std::make_shared<Dev>("nic");
  ASSERT_TRUE(nic->define_bar(0, {BarKind::mem32, 128 << 10, false}));
  ASSERT_TRUE(nic->define_bar(2, {BarKind::io, 32, false}));
  ASSERT_TRUE(nic->define_bar(3, {BarKind::mem32, 16 << 10, false}));
  auto gpu = std::make_shared<Dev>("gpu");
  ASSERT_TRUE(gpu->define_bar(0, {BarKind::mem64, 256 << 20, true}));
  ASSERT_TRUE(gpu->define_bar(2, {BarKind::mem64, 16 << 20, false}));  // 64-bit non-prefetchable: 32-bit window
  auto root_dev = std::make_shared<Dev>("root");
  ASSERT_TRUE(root_dev->define_bar(0, {BarKind::mem32, 4 << 20, false}));
  ASSERT_TRUE(bus.add_behind(*rp1, nic, 0, false));
  ASSERT_TRUE(bus.add_behind(*rp2, gpu, 0, false));
  ASSERT_TRUE(bus.add(root_dev, 5, 0, false));
  PciWindows w = windows();
  ASSERT_TRUE(bus.assign_resources(w));

  auto inside = [](BridgeWindow win, uint64_t addr, uint64_t size) { return addr >= win.base && addr + size - 1 <= win.limit; };
  // Every BAR decodes inside its port's window of the right kind.
  EXPECT_TRUE(inside(rp1->mem_window(), *nic->bar_address(0), 128 << 10));
  EXPECT_TRUE(inside(rp1->mem_window(), *nic->bar_address(3), 16 << 10));
  EXPECT_TRUE(inside(rp1->io_window(), *nic->bar_address(2), 32));
  EXPECT_TRUE(inside(rp2->pref_window(), *gpu->bar_address(0), 256 << 20));
  EXPECT_GE(*gpu->bar_address(0), w.mmio64_base) << "prefetchable 64-bit above 4 GiB";
  EXPECT_TRUE(inside(rp2->mem_window(), *gpu->bar_address(2), 16 << 20));
  EXPECT_EQ(*gpu->bar_address(0) % (256 << 20), 0u) << "naturally aligned";
  // The empty port has room for a hot-added device, and no I/O window; nor has rp2 (no I/O BARs).
  EXPECT_GE(rp3->mem_window().limit - rp3->mem_window().base + 1, uint64_t{2} << 20);
  EXPECT_GE(rp3->pref_window().limit - rp3->pref_window().base + 1, uint64_t{2} << 20);
  EXPECT_TRUE(rp3->io_window().empty());
  EXPECT_TRUE(rp2->io_window().empty());
  // No two windows (nor the root device's BAR) overlap, and all sit in the machine's windows.
  std::vector<BridgeWindow> all;
  for (auto* rp : {rp1.get(), rp2.get(), rp3.get()})
    for (BridgeWindow win : {rp->io_window(), rp->mem_window(), rp->pref_window()})
      if (!win.empty()) all.push_back(win);
  all.push_back({*root_dev->bar_address(0), *root_dev->bar_address(0) + (4 << 20) - 1});
  for (size_t i = 0; i < all.size(); ++i) {
    bool in_io = all[i].base >= w.io_base && all[i].limit < uint64_t{w.io_base} + w.io_size;
    bool in_32 = all[i].base >= w.mmio32_base && all[i].limit < w.mmio32_base + w.mmio32_size;
    bool in_64 = all[i].base >= w.mmio64_base && all[i].limit < w.mmio64_base + w.mmio64_size;
    EXPECT_TRUE(in_io || in_32 || in_64) << std::hex << all[i].base;
    for (size_t j = i + 1; j < all.size(); ++j)
      EXPECT_TRUE(all[i].limit < all[j].base || all[j].limit < all[i].base)
          << std::hex << all[i].base << "-" << all[i].limit << " and " << all[j].base << "-" << all[j].limit;
  }
  // Memory windows are 1 MiB granular, as the registers can only say.
  for (auto& win : all)
    if (win.base >= w.mmio32_base) {
      EXPECT_EQ(win.base % (1 << 20), 0u);
    }
  // Decode is on: the ports forward memory, rp1 I/O too.
  EXPECT_TRUE(rp1->config().get16(PCI_COMMAND) & PCI_COMMAND_IO);
  EXPECT_TRUE(rp2->config().get16(PCI_COMMAND) & PCI_COMMAND_MEMORY);
  EXPECT_FALSE(rp2->config().get16(PCI_COMMAND) & PCI_COMMAND_IO);
}

TEST(RootPort, ABarTooLargeForTheWindowsIsNamed) {
  PciBus bus;
  auto rp = port("rp1");
  ASSERT_TRUE(bus.add(rp, 2, 0, false));
  auto big = std::make_shared<Dev>("big");
  ASSERT_TRUE(big->define_bar(0, {BarKind::mem32, 1u << 30, false}));
  ASSERT_TRUE(bus.add_behind(*rp, big, 0, false));
  auto s = bus.assign_resources(windows());
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("rp1"), std::string::npos) << s.error().message();
}

TEST(RootPort, IntxIsSwizzledThroughThePort) {
  PciBus bus;
  auto rp = port("rp1");
  ASSERT_TRUE(bus.add(rp, 6, 0, false));
  auto a = bus.add_behind(*rp, std::make_shared<Dev>(), 0, false);
  ASSERT_TRUE(a);
  // Device 0 behind the port: its pins pass unchanged, then the root bus's _PRT for slot 6.
  for (unsigned pin = 0; pin < 4; ++pin) {
    auto gsi = bus.intx_gsi(*a, pin);
    ASSERT_TRUE(gsi);
    EXPECT_EQ(*gsi, intx_gsi(6, pin));
  }
  auto root = bus.intx_gsi(PciAddress{0, 9, 0}, 1);
  ASSERT_TRUE(root);
  EXPECT_EQ(*root, intx_gsi(9, 1));
  EXPECT_FALSE(bus.intx_gsi(PciAddress{4, 0, 0}, 0)) << "no bridge leads to bus 4";
  // The bridge rule itself (PCI-to-PCI Bridge spec 9.1): device 1's INTA shows as INTB, device 3's INTB as INTA.
  EXPECT_EQ(swizzle_pin(0, 2), 2u);
  EXPECT_EQ(swizzle_pin(1, 0), 1u);
  EXPECT_EQ(swizzle_pin(3, 1), 0u);
}

TEST(RootPort, TopologyChecksFunctionsBehindAPort) {
  PciBus bus;
  auto rp = port("rp1");
  ASSERT_TRUE(bus.add(rp, 2, 0, false));
  ASSERT_TRUE(bus.add_behind(*rp, std::make_shared<Dev>("f0"), 0, false));
  ASSERT_TRUE(bus.add_behind(*rp, std::make_shared<Dev>("f1"), 1, false));
  auto s = bus.check_topology();
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("multifunction=on"), std::string::npos) << s.error().message();
  EXPECT_FALSE(bus.add_behind(*rp, port("nested"), 2, false)) << "no bridges behind a root port";
}

TEST(RootPort, DevicesListsEachBus) {
  PciBus bus;
  auto rp = port("rp1");
  ASSERT_TRUE(bus.add(rp, 2, 0, false));
  auto nic = std::make_shared<Dev>("nic");
  ASSERT_TRUE(bus.add_behind(*rp, nic, 0, false));
  auto on1 = bus.devices(1);
  ASSERT_EQ(on1.size(), 1u);
  EXPECT_EQ(on1[0].first, (PciAddress{1, 0, 0}));
  EXPECT_EQ(on1[0].second, nic);
  EXPECT_EQ(bus.devices(0).size(), 2u);  // host bridge and the port
  EXPECT_TRUE(bus.devices(3).empty());
}

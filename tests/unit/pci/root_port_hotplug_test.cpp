// Native hot-plug on a root port as Linux's pciehp drives it (PCIe 5.0 6.7.3): hot-add raises
// presence/link events, the attention button asks for a removal, the guest's power-off hands the
// device back, and every event reaches the guest as the port's MSI only when enabled, once per
// edge.
#include <gtest/gtest.h>
#include <linux/pci_regs.h>

#include <cstring>

#include "altovirt/pci/pci_bus.h"
#include "altovirt/pci/root_port.h"

using namespace altovirt::pci;

namespace {

class Dev : public PciDevice {
 public:
  Dev() : PciDevice("nic", 0x8086, 0x10d3, 0x020000, 0) {}
};

struct Sink : MsiSink {
  int injected = 0;
  void enable_changed(bool, unsigned) override {}
  void vector_changed(unsigned, const MsiMessage&, bool) override {}
  void inject(unsigned, const MsiMessage&) override { ++injected; }
};

void write(PciBus& bus, unsigned reg, uint32_t v, unsigned size = 2) {
  uint8_t d[4];
  std::memcpy(d, &v, 4);
  bus.ecam_write(uint64_t{4} << 15 | reg, std::span<const uint8_t>(d, size));
}

uint32_t read(PciBus& bus, unsigned reg, unsigned size = 2, unsigned b = 0, unsigned slot = 4) {
  uint8_t d[4] = {};
  bus.ecam_read(uint64_t{b} << 20 | slot << 15 | reg, std::span<uint8_t>(d, size));
  uint32_t v = 0;
  std::memcpy(&v, d, size);
  return v;
}

// A root port at 00:04.0 (bus 1 behind it) whose MSI the "guest" has enabled, with the slot
// control pciehp writes at probe (all events enabled, interrupt on). `ejects` counts the handler.
struct Fixture {
  PciBus bus;
  Sink* sink = nullptr;
  std::shared_ptr<RootPort> rp;
  unsigned exp = 0;
  int ejects = 0;

  explicit Fixture(bool enable_events = true) {
    auto s = std::make_unique<Sink>();
    sink = s.get();
    RootPortOptions o;
    o.name = "rp1";
    o.slot_number = 1;
    auto p = RootPort::create(o, std::move(s));
    EXPECT_TRUE(p) << p.error().message();
    rp = *p;
    rp->set_eject_handler([this] { ++ejects; });
    EXPECT_TRUE(bus.add(rp, 4, 0, false));
    exp = rp->pcie_cap();
    unsigned msi = rp->config().find_capability(PCI_CAP_ID_MSI).value_or(0);
    write(bus, msi + PCI_MSI_ADDRESS_LO, 0xfee00000, 4);
    write(bus, msi + PCI_MSI_DATA_64, 0x41, 2);
    write(bus, msi + PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE, 2);
    if (enable_events) {
      slot_control(PCI_EXP_SLTCTL_ABPE | PCI_EXP_SLTCTL_PDCE | PCI_EXP_SLTCTL_CCIE | PCI_EXP_SLTCTL_HPIE |
                   PCI_EXP_SLTCTL_DLLSCE | PCI_EXP_SLTCTL_PWR_OFF | PCI_EXP_SLTCTL_PWR_IND_OFF | PCI_EXP_SLTCTL_ATTN_IND_OFF);
      ack(PCI_EXP_SLTSTA_CC);
    }
    sink->injected = 0;
  }
  uint16_t status() { return static_cast<uint16_t>(read(bus, exp + PCI_EXP_SLTSTA)); }
  uint16_t control() { return static_cast<uint16_t>(read(bus, exp + PCI_EXP_SLTCTL)); }
  void slot_control(uint16_t v) { write(bus, exp + PCI_EXP_SLTCTL, v); }
  void ack(uint16_t events) { write(bus, exp + PCI_EXP_SLTSTA, events); }
  // The power controller and indicator as pciehp sets them, keeping the event enables.
  void power(bool on) {
    uint16_t ctl = control() & ~(PCI_EXP_SLTCTL_PCC | PCI_EXP_SLTCTL_PIC);
    slot_control(ctl | (on ? PCI_EXP_SLTCTL_PWR_ON | PCI_EXP_SLTCTL_PWR_IND_ON : PCI_EXP_SLTCTL_PWR_OFF | PCI_EXP_SLTCTL_PWR_IND_OFF));
  }
};

}  // namespace

TEST(RootPortHotplug, HotAddSignalsPresenceAndLinkOnceAndTheDeviceAnswers) {
  Fixture f;
  EXPECT_EQ(read(f.bus, PCI_VENDOR_ID, 2, 1, 0), 0xffffu);  // empty
  auto a = f.bus.hot_add(*f.rp, std::make_shared<Dev>(), 0);
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->bus, 1);
  uint16_t sta = f.status();
  EXPECT_TRUE(sta & PCI_EXP_SLTSTA_PDS);
  EXPECT_TRUE(sta & PCI_EXP_SLTSTA_PDC);
  EXPECT_TRUE(sta & PCI_EXP_SLTSTA_DLLSC);
  EXPECT_TRUE(read(f.bus, f.exp + PCI_EXP_LNKSTA) & PCI_EXP_LNKSTA_DLLLA);
  EXPECT_EQ(f.sink->injected, 1);  // two events, one edge
  EXPECT_EQ(read(f.bus, PCI_VENDOR_ID, 2, 1, 0), 0x8086u);
  // The guest acknowledges, then powers the slot on: each Slot Control write completes (CC), and
  // CC is its own edge.
  f.ack(PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC);
  EXPECT_EQ(f.status() & (PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC), 0);
  f.power(true);
  EXPECT_TRUE(f.status() & PCI_EXP_SLTSTA_CC);
  EXPECT_EQ(f.sink->injected, 2);
  EXPECT_TRUE(f.rp->powered());
  EXPECT_EQ(f.ejects, 0);
  // An occupied slot takes nothing more.
  auto again = f.bus.hot_add(*f.rp, std::make_shared<Dev>(), 0);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message().find("rp1 is not empty: it holds nic"), std::string::npos) << again.error().message();
}

TEST(RootPortHotplug, RemovalIsTheAttentionButtonThenTheGuestsPowerOff) {
  Fixture f;
  ASSERT_TRUE(f.bus.hot_add(*f.rp, std::make_shared<Dev>(), 0));
  f.ack(PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC);
  f.power(true);
  f.ack(PCI_EXP_SLTSTA_CC);
  int before = f.sink->injected;
  ASSERT_TRUE(f.bus.request_unplug(*f.rp));
  EXPECT_TRUE(f.status() & PCI_EXP_SLTSTA_ABP);
  EXPECT_EQ(f.sink->injected, before + 1);
  EXPECT_EQ(f.ejects, 0);  // the guest still holds it
  f.ack(PCI_EXP_SLTSTA_ABP);
  // pciehp blinks the power indicator (no eject), then powers off with the indicator off.
  f.slot_control((f.control() & ~PCI_EXP_SLTCTL_PIC) | PCI_EXP_SLTCTL_PWR_IND_BLINK);
  EXPECT_EQ(f.ejects, 0);
  // pciehp powers off first, then (a second later) turns the indicator off: that write lets go.
  f.slot_control((f.control() & ~PCI_EXP_SLTCTL_PCC) | PCI_EXP_SLTCTL_PWR_OFF);
  EXPECT_EQ(f.ejects, 0);
  EXPECT_TRUE(f.status() & PCI_EXP_SLTSTA_PDS);
  f.power(false);
  EXPECT_EQ(f.ejects, 1);
  // In that same write the device left the slot, which reads empty with presence and link
  // events (pciehp looks at presence right away and would power an occupied slot on again).
  uint16_t sta = f.status();
  EXPECT_FALSE(sta & PCI_EXP_SLTSTA_PDS);
  EXPECT_TRUE(sta & PCI_EXP_SLTSTA_PDC);
  EXPECT_TRUE(sta & PCI_EXP_SLTSTA_DLLSC);
  EXPECT_FALSE(read(f.bus, f.exp + PCI_EXP_LNKSTA) & PCI_EXP_LNKSTA_DLLLA);
  EXPECT_EQ(read(f.bus, PCI_VENDOR_ID, 2, 1, 0), 0xffffu);
  // The owner takes it for teardown, once.
  auto gone = f.bus.take_ejected(*f.rp);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].first, 0u);
  EXPECT_EQ(gone[0].second->name(), "nic");
  EXPECT_TRUE(f.bus.take_ejected(*f.rp).empty());
  EXPECT_EQ(f.bus.hot_remove(*f.rp, 0), nullptr);
  // Writing the powered-off control again is no second eject.
  f.power(false);
  EXPECT_EQ(f.ejects, 1);
  // Empty and powered off: the slot takes a new device.
  EXPECT_TRUE(f.bus.hot_add(*f.rp, std::make_shared<Dev>(), 0));
}

TEST(RootPortHotplug, ASlotTheGuestNeverPoweredOnIsEmptiedAtOnce) {
  Fixture f;
  ASSERT_TRUE(f.bus.hot_add(*f.rp, std::make_shared<Dev>(), 0));
  ASSERT_TRUE(f.bus.request_unplug(*f.rp));
  EXPECT_EQ(f.ejects, 1);
  EXPECT_FALSE(f.status() & PCI_EXP_SLTSTA_ABP);
  EXPECT_FALSE(f.status() & PCI_EXP_SLTSTA_PDS);
  EXPECT_EQ(f.bus.take_ejected(*f.rp).size(), 1u);
}

TEST(RootPortHotplug, APoweredEmptySlotAndAnEmptyUnplugAreRefused) {
  Fixture f;
  auto u = f.bus.request_unplug(*f.rp);
  ASSERT_FALSE(u);
  EXPECT_NE(u.error().message().find("rp1 is empty"), std::string::npos);
  // A guest that left the slot powered (it was removing the last device): wait for its power-off.
  f.power(true);
  auto a = f.bus.hot_add(*f.rp, std::make_shared<Dev>(), 0);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message().find("not powered its slot off"), std::string::npos) << a.error().message();
}

TEST(RootPortHotplug, EventsInterruptOnlyWhenEnabledAndOncePerEdge) {
  Fixture f(/*enable_events=*/false);
  ASSERT_TRUE(f.bus.hot_add(*f.rp, std::make_shared<Dev>(), 0));
  EXPECT_EQ(f.sink->injected, 0);  // HPIE off: the guest polls, no interrupt
  // Enabling CCIE+HPIE is itself a command: CC is set and is enabled, and so is nothing else yet.
  f.slot_control(PCI_EXP_SLTCTL_CCIE | PCI_EXP_SLTCTL_HPIE | PCI_EXP_SLTCTL_PWR_OFF | PCI_EXP_SLTCTL_PWR_IND_OFF);
  EXPECT_EQ(f.sink->injected, 1);
  // PDC is pending but not enabled; enabling it while CC is still pending is no new edge.
  f.slot_control(f.control() | PCI_EXP_SLTCTL_PDCE);
  EXPECT_EQ(f.sink->injected, 1);
  // Acknowledging CC alone leaves PDC pending: still no edge; acknowledging both, then a new event is.
  f.ack(PCI_EXP_SLTSTA_CC);
  EXPECT_EQ(f.sink->injected, 1);
  f.ack(PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_CC | PCI_EXP_SLTSTA_DLLSC);
  f.power(true);
  EXPECT_EQ(f.sink->injected, 2);
}

TEST(RootPortHotplug, OnlyABridgeOfTheRootBusTakesADevice) {
  Fixture f;
  RootPortOptions o;
  o.name = "loose";
  auto other = RootPort::create(o, nullptr);
  ASSERT_TRUE(other);
  auto a = f.bus.hot_add(**other, std::make_shared<Dev>(), 0);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message().find("loose is not a bridge on pcie.0"), std::string::npos);
}

TEST(RootPortHotplug, ASecondUnplugRequestIsRefusedWhileTheFirstRuns) {
  Fixture f;
  ASSERT_TRUE(f.bus.hot_add(*f.rp, std::make_shared<Dev>(), 0));
  f.power(true);
  ASSERT_TRUE(f.bus.request_unplug(*f.rp));
  f.ack(PCI_EXP_SLTSTA_ABP);
  // A second press within pciehp's 5 s would cancel the removal.
  auto again = f.bus.request_unplug(*f.rp);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message().find("already under way"), std::string::npos) << again.error().message();
  EXPECT_FALSE(f.status() & PCI_EXP_SLTSTA_ABP);
}

TEST(RootPortHotplug, UnplugAndRemovalFindTheDeviceWhereverTheGuestNumberedTheBus) {
  Fixture f;
  auto dev = std::make_shared<Dev>();
  ASSERT_TRUE(f.bus.hot_add(*f.rp, dev, 0));
  f.power(true);
  // The guest renumbers the port's secondary bus: lookups go by device, not by bus number.
  write(f.bus, PCI_SECONDARY_BUS, 5, 1);
  write(f.bus, PCI_SUBORDINATE_BUS, 5, 1);
  EXPECT_EQ(read(f.bus, PCI_VENDOR_ID, 2, 5, 0), 0x8086u);
  Dev other;
  auto r = f.bus.request_unplug_of(*f.rp, &other);
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
  r = f.bus.request_unplug_of(*f.rp, dev.get());
  ASSERT_TRUE(r);
  EXPECT_TRUE(*r);
  // A hot-add that fails half-way takes its device back off the bus; the slot reads empty.
  EXPECT_TRUE(f.bus.remove_device(dev.get()));
  EXPECT_FALSE(f.bus.remove_device(dev.get()));
  EXPECT_FALSE(f.status() & PCI_EXP_SLTSTA_PDS);
  EXPECT_EQ(read(f.bus, PCI_VENDOR_ID, 2, 5, 0), 0xffffu);
}

namespace {
class BarDev : public PciDevice {
 public:
  BarDev() : PciDevice("bars", 0x8086, 0x10d3, 0x020000, 0) { EXPECT_TRUE(define_bar(0, {BarKind::mem32, 0x1000, false})); }
};
struct Listener : BarListener {
  std::vector<std::pair<std::optional<uint64_t>, std::optional<uint64_t>>> calls;
  void bar_mapping_changed(PciDevice&, unsigned, std::optional<uint64_t> o, std::optional<uint64_t> n) override {
    calls.emplace_back(o, n);
  }
};
}  // namespace

// A hot-removed device's BARs must leave the VMM's dispatch: Linux leaves Memory Space on when it
// lets go, and the next device hot-added gets the same addresses.
TEST(RootPortHotplug, DisablingDecodeTakesTheBarsAway) {
  BarDev d;
  Listener l;
  d.set_bar_listener(&l);
  d.program_bar(0, 0xc0000000);
  d.enable_decode(false, true);
  ASSERT_EQ(l.calls.size(), 1u);
  EXPECT_EQ(l.calls[0].second, std::optional<uint64_t>(0xc0000000));
  d.disable_decode();
  ASSERT_EQ(l.calls.size(), 2u);
  EXPECT_EQ(l.calls[1].first, std::optional<uint64_t>(0xc0000000));
  EXPECT_EQ(l.calls[1].second, std::nullopt);
  EXPECT_EQ(d.config().get16(PCI_COMMAND) & (PCI_COMMAND_IO | PCI_COMMAND_MEMORY), 0);
}

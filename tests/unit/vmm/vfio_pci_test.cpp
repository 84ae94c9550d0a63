// The VFIO device model against a fake VFIO device and a fake machine: the guest's config-space view,
// BAR sizing and relocation (memory slots follow the BAR), MSI-X table writes producing routes and
// masks, MSI enable/mask/disable producing and dropping routes, hidden extended capabilities, the ROM
// BAR, INTx switching, reset (function or hot) and teardown.
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <sys/eventfd.h>

#include <array>
#include <functional>
#include <cstring>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "altovirt/pci/pci_bus.h"
#include "altovirt/vmm/vfio_pci.h"
#include "fake_vfio.h"

namespace altovirt::vmm {
namespace {

using testing::FakeDevice;
using testing::FakeHost;
using testing::RouteEvent;
using testing::kMsiCap;
using testing::kMsixCap;


class VfioPciTest : public ::testing::Test {
 protected:
  void SetUp() override { make(true); }
  void make(bool rombar, bool function_reset = true, vfio::OwnedGroupFd owned = {},
            std::function<void(FakeDevice&)> tweak = {}) {
    dev.reset();
    fake = std::make_shared<FakeDevice>();
    fake->function_reset = function_reset;
    if (tweak) tweak(*fake);
    auto d = VfioPciDevice::create(host, fake, "nic0", VfioPciDevice::Options{rombar, std::move(owned)});
    ASSERT_TRUE(d) << d.error().message();
    dev = *d;
  }
  void table_write(unsigned entry, unsigned field, uint32_t v) {
    uint8_t b[4];
    std::memcpy(b, &v, 4);
    dev->bar_write(0, 0x2000 + entry * 16 + field, b);
  }
  void msi_write(unsigned rel, unsigned size, uint32_t v) { dev->config_write(kMsiCap + rel, size, v); }
  std::vector<RouteEvent> msi_routes() const {
    std::vector<RouteEvent> out;
    for (auto& r : host.routes)
      if (r.owner == "nic0 MSI") out.push_back(r);
    return out;
  }
  uint16_t command() { return static_cast<uint16_t>(dev->config_read(PCI_COMMAND, 2)); }

  FakeHost host;
  std::shared_ptr<FakeDevice> fake;
  std::shared_ptr<VfioPciDevice> dev;
};

TEST_F(VfioPciTest, HeaderIsTheDevicesOwnAndTheDeviceWasReset) {
  EXPECT_EQ(dev->config_read(PCI_VENDOR_ID, 4), 0x10d38086u);
  EXPECT_EQ(dev->config_read(PCI_CLASS_REVISION, 4), 0x02000003u);
  EXPECT_EQ(dev->config_read(PCI_CAPABILITY_LIST, 1), 0x40u);
  EXPECT_EQ(dev->config_read(PCI_INTERRUPT_PIN, 1), 1u);
  EXPECT_EQ(fake->resets, 1);
}

TEST_F(VfioPciTest, OtherCapabilitiesPassThroughToTheDevice) {
  EXPECT_EQ(dev->config_read(0x60, 1), uint32_t{PCI_CAP_ID_EXP});
  dev->config_write(0x68, 2, 0x2810);  // PCIe Device Control
  EXPECT_EQ(fake->r16(0x68), 0x2810);
  EXPECT_EQ(dev->config_read(0x68, 2), 0x2810u);
}

TEST_F(VfioPciTest, BarSizingFollowsRegionSizesAndDeviceTypes) {
  dev->config_write(PCI_BASE_ADDRESS_0, 4, 0xffffffff);
  EXPECT_EQ(dev->config_read(PCI_BASE_ADDRESS_0, 4), 0xffffc000u);  // 16 KiB, mem32
  dev->config_write(PCI_BASE_ADDRESS_2, 4, 0xffffffff);
  dev->config_write(PCI_BASE_ADDRESS_3, 4, 0xffffffff);
  EXPECT_EQ(dev->config_read(PCI_BASE_ADDRESS_2, 4), 0xfff0000cu);  // 1 MiB, 64-bit, prefetchable
  EXPECT_EQ(dev->config_read(PCI_BASE_ADDRESS_3, 4), 0xffffffffu);
  dev->config_write(PCI_BASE_ADDRESS_4, 4, 0xffffffff);
  // 32 bytes of I/O; the upper 16 bits read 0, as for a device that decodes 16-bit I/O addresses.
  EXPECT_EQ(dev->config_read(PCI_BASE_ADDRESS_4, 4), 0x0000ffe1u);
  // The BAR writes never reach the device: the guest's addresses are not host addresses.
  EXPECT_EQ(fake->r32(PCI_BASE_ADDRESS_0), 0u);
}

TEST_F(VfioPciTest, DirectPartsFollowTheBarAndItsDecode) {
  EXPECT_EQ(dev->direct_bytes(0), 0x2000u);  // the MSI-X table and PBA pages trap
  EXPECT_EQ(dev->direct_bytes(2), 0x100000u);
  EXPECT_EQ(dev->direct_bytes(4), 0u);
  dev->config_write(PCI_BASE_ADDRESS_0, 4, 0xc0000000);
  EXPECT_TRUE(host.live.empty());  // decode is still off
  dev->config_write(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
  EXPECT_EQ(host.live, (std::set<std::pair<uint64_t, uint64_t>>{{0xc0000000, 0x2000}}));
  EXPECT_EQ(fake->r16(PCI_COMMAND) & (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER), PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
  dev->config_write(PCI_BASE_ADDRESS_0, 4, 0xd0000000);  // the guest moves the BAR
  EXPECT_EQ(host.live, (std::set<std::pair<uint64_t, uint64_t>>{{0xd0000000, 0x2000}}));
  dev->config_write(PCI_COMMAND, 2, 0);
  EXPECT_TRUE(host.live.empty());
}

TEST_F(VfioPciTest, MsixTableWritesProduceRoutesAndMasks) {
  table_write(0, 0, 0xfee00000);
  table_write(0, 4, 0);
  table_write(0, 8, 0x4041);
  table_write(0, 12, 0);  // unmask
  EXPECT_TRUE(fake->irq_sets.empty() || fake->irq_sets.back().index != VFIO_PCI_MSIX_IRQ_INDEX);
  dev->config_write(kMsixCap + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
  EXPECT_EQ(dev->config_read(kMsixCap + PCI_MSIX_FLAGS, 2), uint32_t{PCI_MSIX_FLAGS_ENABLE | 7});
  // Every vector of the table gets its eventfd at once (vfio-pci on Linux 6.1 cannot add vectors later).
  ASSERT_FALSE(fake->irq_sets.empty());
  auto last = fake->irq_sets.back();
  EXPECT_EQ(last.index, uint32_t{VFIO_PCI_MSIX_IRQ_INDEX});
  EXPECT_EQ(last.count, 8u);
  auto unmasked = std::find_if(host.routes.begin(), host.routes.end(), [](auto& r) { return r.vector == 0 && !r.masked; });
  ASSERT_NE(unmasked, host.routes.end());
  EXPECT_EQ(unmasked->msg, (pci::MsiMessage{0xfee00000, 0x4041}));
  EXPECT_EQ(unmasked->owner, "nic0 MSI-X");
  host.routes.clear();
  table_write(0, 12, PCI_MSIX_ENTRY_CTRL_MASKBIT);
  ASSERT_FALSE(host.routes.empty());
  EXPECT_EQ(host.routes.back().vector, 0u);
  EXPECT_TRUE(host.routes.back().masked);
  // The table lives in the model: the device's BAR storage never sees the guest's addresses.
  uint32_t in_device;
  std::memcpy(&in_device, fake->storage[VFIO_PCI_BAR0_REGION_INDEX].data() + 0x2000, 4);
  EXPECT_EQ(in_device, 0u);
  uint8_t back[4];
  dev->bar_read(0, 0x2000, back);
  uint32_t v;
  std::memcpy(&v, back, 4);
  EXPECT_EQ(v, 0xfee00000u);
}

TEST_F(VfioPciTest, TrappedBarAccessesOutsideMsixGoToTheDevice) {
  uint8_t data[4] = {1, 2, 3, 4};
  dev->bar_write(4, 8, data);
  EXPECT_EQ(fake->storage[VFIO_PCI_BAR4_REGION_INDEX][8], 1);
  uint8_t back[4] = {};
  dev->bar_read(4, 8, back);
  EXPECT_EQ(back[3], 4);
  EXPECT_NE(dev->trap_stats().find("other 1/1"), std::string::npos) << dev->trap_stats();
}

TEST_F(VfioPciTest, SriovIsHiddenFromTheExtendedCapabilityChain) {
  EXPECT_EQ(dev->config_read(0x100, 4), 0x140u << 20);  // a null capability pointing on to AER
  EXPECT_EQ(dev->config_read(0x108, 4), 0u);
  dev->config_write(0x108, 4, 0xffffffff);
  EXPECT_EQ(fake->r32(0x108), 0x1234u);  // the guest cannot touch SR-IOV registers
  EXPECT_EQ(dev->config_read(0x140, 4) & 0xffff, uint32_t{PCI_EXT_CAP_ID_ERR});
}

TEST_F(VfioPciTest, RomBarIsSizedAndMapsOnlyWhileEnabled) {
  dev->config_write(PCI_ROM_ADDRESS, 4, 0xffffffff);
  EXPECT_EQ(dev->config_read(PCI_ROM_ADDRESS, 4), 0xffff0001u);  // 64 KiB
  dev->config_write(PCI_ROM_ADDRESS, 4, 0xc1000000 | PCI_ROM_ADDRESS_ENABLE);
  EXPECT_TRUE(host.mmio.empty());  // memory decode off
  dev->config_write(PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
  EXPECT_EQ(host.mmio.count(0xc1000000), 1u);
  dev->config_write(PCI_ROM_ADDRESS, 4, 0xc1000000);
  EXPECT_TRUE(host.mmio.empty());
}

// The guest reads the ROM from a read-only copy (no exit per read); writes still reach the trapped
// handler and change nothing.
TEST_F(VfioPciTest, AnEnabledRomIsACopyInAReadOnlySlotAndWritesAreDropped) {
  auto& rom = fake->storage[VFIO_PCI_ROM_REGION_INDEX];
  for (size_t i = 0; i < rom.size(); ++i) rom[i] = static_cast<uint8_t>(i * 7 + 1);
  dev->config_write(PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
  dev->config_write(PCI_ROM_ADDRESS, 4, 0xc1000000 | PCI_ROM_ADDRESS_ENABLE);
  EXPECT_EQ(host.live.count({0xc1000000, 0x10000}), 1u);
  EXPECT_EQ(host.read_only_seen[0xc1000000], rom);
  ASSERT_EQ(host.handlers.count(0xc1000000), 1u);
  std::vector<uint8_t> w(4, 0);
  host.handlers[0xc1000000]->io_write(0, w);
  EXPECT_EQ(rom[0], 1u);
  dev->config_write(PCI_COMMAND, 2, 0);  // memory decode off: the ROM leaves the guest
  EXPECT_EQ(host.live.count({0xc1000000, 0x10000}), 0u);
  EXPECT_TRUE(host.mmio.empty());
}

// vfio-pci serves only the ROM's images: what cannot be read reads as 0xff, as through the trap.
TEST_F(VfioPciTest, ARomPartThatCannotBeReadIsAllOnesInTheCopy) {
  auto& rom = fake->storage[VFIO_PCI_ROM_REGION_INDEX];
  rom.assign(0x8000, 0x55);  // the region says 64 KiB, reads past 32 KiB fail
  dev->config_write(PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
  dev->config_write(PCI_ROM_ADDRESS, 4, 0xc1000000 | PCI_ROM_ADDRESS_ENABLE);
  auto& seen = host.read_only_seen[0xc1000000];
  ASSERT_EQ(seen.size(), 0x10000u);
  EXPECT_EQ(seen[0x7fff], 0x55);
  EXPECT_EQ(seen[0x8000], 0xff);
  EXPECT_EQ(seen[0xffff], 0xff);
}

// A slot KVM refuses (e.g. the guest put the ROM over another mapping) leaves the ROM trapped.
TEST_F(VfioPciTest, ARomWhoseSlotIsRefusedIsStillReadThroughTheTrap) {
  auto& rom = fake->storage[VFIO_PCI_ROM_REGION_INDEX];
  rom[0] = 0x55;
  rom[1] = 0xaa;
  host.read_only_ok = false;
  dev->config_write(PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
  dev->config_write(PCI_ROM_ADDRESS, 4, 0xc1000000 | PCI_ROM_ADDRESS_ENABLE);
  EXPECT_EQ(host.live.count({0xc1000000, 0x10000}), 0u);
  ASSERT_EQ(host.handlers.count(0xc1000000), 1u);
  std::vector<uint8_t> sig(2);
  host.handlers[0xc1000000]->io_read(0, sig);
  EXPECT_EQ(sig, (std::vector<uint8_t>{0x55, 0xaa}));
}

TEST_F(VfioPciTest, RombarOffHidesTheRom) {
  make(false);
  dev->config_write(PCI_ROM_ADDRESS, 4, 0xffffffff);
  EXPECT_EQ(dev->config_read(PCI_ROM_ADDRESS, 4), 0u);
}

TEST_F(VfioPciTest, IntxUntilMsixIsEnabledAndAgainAfter) {
  ASSERT_TRUE(dev->attach_intx(pci::PciBus(), pci::PciAddress{0, 3, 0}));
  EXPECT_EQ(host.intx_gsi, pci::intx_gsi(3, 0));
  EXPECT_EQ(dev->config_read(PCI_INTERRUPT_LINE, 1), *host.intx_gsi);
  EXPECT_TRUE(host.intx_connected);
  dev->config_write(kMsixCap + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
  EXPECT_FALSE(host.intx_connected);  // vfio-pci runs one interrupt type at a time
  dev->config_write(kMsixCap + PCI_MSIX_FLAGS, 2, 0);
  EXPECT_TRUE(host.intx_connected);
}

TEST_F(VfioPciTest, TeardownStopsTheDevice) {
  dev->config_write(PCI_BASE_ADDRESS_0, 4, 0xc0000000);
  dev->config_write(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
  ASSERT_FALSE(host.live.empty());
  auto keep = fake;
  dev.reset();
  EXPECT_TRUE(host.live.empty());
  EXPECT_EQ(keep->r16(PCI_COMMAND) & (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER), 0);
  EXPECT_EQ(keep->resets, 1);  // at start only: the next build, or vfio-pci on release, resets it
}

TEST_F(VfioPciTest, BusMasteringWaitsForTheDmaMapOnlyWhenItTurnsOn) {
  EXPECT_EQ(fake->r16(PCI_COMMAND) & PCI_COMMAND_MASTER, 0);
  dev->config_write(PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
  EXPECT_EQ(host.dma_ready_calls, 0);  // decode alone reaches no memory
  dev->config_write(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
  EXPECT_EQ(host.dma_ready_calls, 1);
  EXPECT_EQ(fake->r16(PCI_COMMAND) & PCI_COMMAND_MASTER, PCI_COMMAND_MASTER);
  dev->config_write(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
  EXPECT_EQ(host.dma_ready_calls, 1);  // already a master: no second wait
}

TEST_F(VfioPciTest, AFailedDmaMapKeepsBusMasteringOffInTheDevice) {
  host.dma_ready_result = fail("pinning guest RAM: Cannot allocate memory");
  dev->config_write(PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
  EXPECT_EQ(fake->r16(PCI_COMMAND) & PCI_COMMAND_MASTER, 0);
  EXPECT_EQ(fake->r16(PCI_COMMAND) & PCI_COMMAND_MEMORY, PCI_COMMAND_MEMORY);
  EXPECT_EQ(command(), PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);  // the guest reads back what it wrote
}

TEST_F(VfioPciTest, ADeviceLeftMasteringByTheHostStartsWithoutIt) {
  // No function reset and no hot reset possible: the command bits the host left are cleared anyway.
  make(true, false, {}, [](FakeDevice& f) { f.w16(PCI_COMMAND, PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY); });
  EXPECT_EQ(fake->r16(PCI_COMMAND) & (PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY | PCI_COMMAND_IO), 0);
}

TEST_F(VfioPciTest, NoFunctionResetMeansAHotResetWithTheOwnedGroup) {
  make(true, false, [](unsigned group) { return group == 5 ? 50 : -1; });
  EXPECT_EQ(fake->resets, 0);
  ASSERT_EQ(fake->hot_resets.size(), 1u);
  EXPECT_EQ(fake->hot_resets[0], std::vector<int>{50});
}

TEST_F(VfioPciTest, NoHotResetWhenItsGroupIsNotOwned) {
  make(true, false, [](unsigned) { return -1; });
  EXPECT_EQ(fake->resets, 0);
  EXPECT_TRUE(fake->hot_resets.empty());
  EXPECT_EQ(dev->config_read(PCI_VENDOR_ID, 2), 0x8086u);  // the device is still usable
}

TEST_F(VfioPciTest, MsiControlShowsTheDevicesLayout) {
  EXPECT_EQ(dev->config_read(kMsiCap, 1), uint32_t{PCI_CAP_ID_MSI});
  EXPECT_EQ(dev->config_read(kMsiCap + PCI_MSI_FLAGS, 2), uint32_t{PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT | (2 << 1)});
}

TEST_F(VfioPciTest, MsiEnableProducesARouteAndArmsVfio) {
  ASSERT_TRUE(dev->attach_intx(pci::PciBus(), pci::PciAddress{0, 3, 0}));
  msi_write(PCI_MSI_ADDRESS_LO, 4, 0xfee01000);
  msi_write(PCI_MSI_ADDRESS_HI, 4, 0);
  msi_write(PCI_MSI_DATA_64, 2, 0x4052);
  EXPECT_TRUE(msi_routes().empty() || msi_routes().back().masked);  // nothing unmasked before enable
  msi_write(PCI_MSI_FLAGS, 2, PCI_MSI_FLAGS_ENABLE);
  EXPECT_EQ(dev->config_read(kMsiCap + PCI_MSI_FLAGS, 2) & PCI_MSI_FLAGS_ENABLE, uint32_t{PCI_MSI_FLAGS_ENABLE});
  ASSERT_FALSE(fake->irq_sets.empty());
  auto last = fake->irq_sets.back();
  EXPECT_EQ(last.index, uint32_t{VFIO_PCI_MSI_IRQ_INDEX});
  EXPECT_EQ(last.count, 1u);  // MME 0: one vector
  EXPECT_FALSE(host.intx_connected);  // one interrupt type at a time
  ASSERT_FALSE(host.enables.empty());
  EXPECT_TRUE(host.enables.back().on);
  EXPECT_EQ(host.enables.back().vectors, 1u);
  auto routes = msi_routes();
  ASSERT_FALSE(routes.empty());
  EXPECT_EQ(routes.back().vector, 0u);
  EXPECT_FALSE(routes.back().masked);
  EXPECT_EQ(routes.back().msg, (pci::MsiMessage{0xfee01000, 0x4052}));
  // The guest reads back what it wrote; the device's own MSI registers never see guest addresses.
  EXPECT_EQ(dev->config_read(kMsiCap + PCI_MSI_ADDRESS_LO, 4), 0xfee01000u);
  EXPECT_EQ(dev->config_read(kMsiCap + PCI_MSI_DATA_64, 2), 0x4052u);
  EXPECT_EQ(fake->r32(kMsiCap + PCI_MSI_ADDRESS_LO), 0u);
}

TEST_F(VfioPciTest, MsiMultipleMessagesGetOneRoutePerVector) {
  msi_write(PCI_MSI_ADDRESS_LO, 4, 0xfee00000);
  msi_write(PCI_MSI_DATA_64, 2, 0x4060);
  msi_write(PCI_MSI_FLAGS, 2, PCI_MSI_FLAGS_ENABLE | (2 << 4));  // MME: 4 vectors
  EXPECT_EQ(fake->irq_sets.back().index, uint32_t{VFIO_PCI_MSI_IRQ_INDEX});
  EXPECT_EQ(fake->irq_sets.back().count, 4u);
  std::map<unsigned, pci::MsiMessage> live;
  for (auto& r : msi_routes())
    if (!r.masked) live[r.vector] = r.msg;
  ASSERT_EQ(live.size(), 4u);
  for (unsigned v = 0; v < 4; ++v) EXPECT_EQ(live[v].data, 0x4060u | v);  // PCI 3.0 6.8.1.6
}

TEST_F(VfioPciTest, MsiPerVectorMaskBitMasksTheRoute) {
  msi_write(PCI_MSI_ADDRESS_LO, 4, 0xfee00000);
  msi_write(PCI_MSI_DATA_64, 2, 0x4041);
  msi_write(PCI_MSI_FLAGS, 2, PCI_MSI_FLAGS_ENABLE);
  ASSERT_FALSE(msi_routes().back().masked);
  host.routes.clear();
  msi_write(PCI_MSI_MASK_64, 4, 1);
  ASSERT_EQ(msi_routes().size(), 1u);
  EXPECT_TRUE(msi_routes().back().masked);
  EXPECT_EQ(dev->config_read(kMsiCap + PCI_MSI_MASK_64, 4), 1u);
  host.routes.clear();
  msi_write(PCI_MSI_MASK_64, 4, 0);
  ASSERT_EQ(msi_routes().size(), 1u);
  EXPECT_FALSE(msi_routes().back().masked);
}

TEST_F(VfioPciTest, MsiDisableTearsTheRouteDownAndBringsIntxBack) {
  ASSERT_TRUE(dev->attach_intx(pci::PciBus(), pci::PciAddress{0, 3, 0}));
  msi_write(PCI_MSI_ADDRESS_LO, 4, 0xfee00000);
  msi_write(PCI_MSI_DATA_64, 2, 0x4041);
  msi_write(PCI_MSI_FLAGS, 2, PCI_MSI_FLAGS_ENABLE);
  ASSERT_FALSE(msi_routes().back().masked);
  host.routes.clear();
  msi_write(PCI_MSI_FLAGS, 2, 0);
  auto last = fake->irq_sets.back();
  EXPECT_EQ(last.index, uint32_t{VFIO_PCI_INTX_IRQ_INDEX});  // INTx armed again after...
  bool msi_disabled = false;
  for (auto& set : fake->irq_sets) msi_disabled |= set.index == VFIO_PCI_MSI_IRQ_INDEX && set.count == 0;
  EXPECT_TRUE(msi_disabled);  // ...VFIO's MSI vectors were disabled
  ASSERT_FALSE(host.enables.empty());
  EXPECT_EQ(host.enables.back().owner, "nic0 MSI");
  EXPECT_FALSE(host.enables.back().on);  // the routes drop their irqfds and GSIs
  ASSERT_FALSE(msi_routes().empty());
  EXPECT_TRUE(msi_routes().back().masked);  // the irqfd goes
  EXPECT_TRUE(host.intx_connected);
}

TEST_F(VfioPciTest, Msi32BitWithoutMaskBitsKeepsTheDevicesLayout) {
  // 32-bit address, no per-vector masking: control 0x72, address 0x74, data 0x78, 10 bytes in all
  // (PCI 3.0 6.8.1); the byte after it is the device's own again.
  make(true, true, {}, [](FakeDevice& f) {
    f.w16(kMsiCap + PCI_MSI_FLAGS, 0);
    f.cfg[kMsiCap + 10] = 0x5a;
  });
  EXPECT_EQ(dev->config_read(kMsiCap + PCI_MSI_FLAGS, 2), 0u);  // not 64-bit, no mask bits, 1 vector
  msi_write(PCI_MSI_ADDRESS_LO, 4, 0xfee02000);
  msi_write(PCI_MSI_DATA_32, 2, 0x4071);
  msi_write(PCI_MSI_FLAGS, 2, PCI_MSI_FLAGS_ENABLE);
  EXPECT_EQ(dev->config_read(kMsiCap + PCI_MSI_DATA_32, 2), 0x4071u);
  EXPECT_EQ(dev->config_read(kMsiCap + 10, 1), 0x5au);
  auto routes = msi_routes();
  ASSERT_FALSE(routes.empty());
  EXPECT_FALSE(routes.back().masked);
  EXPECT_EQ(routes.back().msg, (pci::MsiMessage{0xfee02000, 0x4071}));
  EXPECT_EQ(fake->irq_sets.back().index, uint32_t{VFIO_PCI_MSI_IRQ_INDEX});
}

}  // namespace
}  // namespace altovirt::vmm

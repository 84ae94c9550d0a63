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

namespace altovirt::vmm {
namespace {

constexpr uint32_t kMsixCap = 0x50;
constexpr uint32_t kMsiCap = 0x70;

// A PCIe NIC-like function: PM 0x40 -> MSI-X 0x50 (8 vectors, table BAR0+0x2000, PBA BAR0+0x3000)
// -> PCIe 0x60 -> MSI 0x70 (64-bit, per-vector masking, 4 vectors); extended SR-IOV 0x100 -> AER 0x140. BAR0 16 KiB mem32, BAR2 1 MiB mem64 prefetchable,
// BAR4 32 bytes I/O, a 64 KiB ROM, INTA.
class FakeDevice : public vfio::Device {
 public:
  FakeDevice() : Device("0000:01:00.0", UniqueFd()) {
    w16(PCI_VENDOR_ID, 0x8086);
    w16(PCI_DEVICE_ID, 0x10d3);
    w32(PCI_CLASS_REVISION, 0x02000003);
    w16(PCI_STATUS, PCI_STATUS_CAP_LIST);
    cfg[PCI_CAPABILITY_LIST] = 0x40;
    cfg[0x40] = PCI_CAP_ID_PM;
    cfg[0x41] = kMsixCap;
    cfg[kMsixCap] = PCI_CAP_ID_MSIX;
    cfg[kMsixCap + 1] = 0x60;
    w16(kMsixCap + PCI_MSIX_FLAGS, 7);
    w32(kMsixCap + PCI_MSIX_TABLE, 0x2000);
    w32(kMsixCap + PCI_MSIX_PBA, 0x3000);
    cfg[0x60] = PCI_CAP_ID_EXP;
    cfg[0x61] = kMsiCap;
    cfg[kMsiCap] = PCI_CAP_ID_MSI;
    cfg[kMsiCap + 1] = 0;
    w16(kMsiCap + PCI_MSI_FLAGS, PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT | (2 << 1));  // MMC: 4 vectors
    w32(0x100, PCI_EXT_CAP_ID_SRIOV | (1u << 16) | (0x140u << 20));
    w32(0x108, 0x1234);  // inside the SR-IOV capability
    w32(0x140, PCI_EXT_CAP_ID_ERR | (1u << 16));
    w32(PCI_BASE_ADDRESS_0, 0);
    w32(PCI_BASE_ADDRESS_2, PCI_BASE_ADDRESS_MEM_TYPE_64 | PCI_BASE_ADDRESS_MEM_PREFETCH);
    w32(PCI_BASE_ADDRESS_4, PCI_BASE_ADDRESS_SPACE_IO);
    cfg[PCI_INTERRUPT_PIN] = 1;
    add_region(VFIO_PCI_BAR0_REGION_INDEX, 0x4000, true);
    add_region(VFIO_PCI_BAR2_REGION_INDEX, 0x100000, true);
    add_region(VFIO_PCI_BAR4_REGION_INDEX, 0x20, false);
    add_region(VFIO_PCI_ROM_REGION_INDEX, 0x10000, false);
    add_region(VFIO_PCI_CONFIG_REGION_INDEX, 4096, false);
  }

  void w16(unsigned o, uint16_t v) { std::memcpy(&cfg[o], &v, 2); }
  void w32(unsigned o, uint32_t v) { std::memcpy(&cfg[o], &v, 4); }
  uint16_t r16(unsigned o) const { uint16_t v; std::memcpy(&v, &cfg[o], 2); return v; }
  uint32_t r32(unsigned o) const { uint32_t v; std::memcpy(&v, &cfg[o], 4); return v; }

  void add_region(uint32_t index, uint64_t size, bool mmap) {
    vfio::RegionInfo r;
    r.index = index;
    r.size = size;
    r.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE | (mmap ? VFIO_REGION_INFO_FLAG_MMAP : 0);
    if (mmap) r.mmap_areas.push_back({0, size});
    regions[index] = r;
    storage[index].assign(size, 0);
  }

  bool can_reset() const override { return function_reset; }
  Result<vfio::RegionInfo> region_info(uint32_t index) const override {
    auto it = regions.find(index);
    if (it == regions.end()) {
      vfio::RegionInfo none;
      none.index = index;
      return none;
    }
    return it->second;
  }
  Result<vfio::IrqInfo> irq_info(uint32_t index) const override {
    uint32_t count = index == VFIO_PCI_MSIX_IRQ_INDEX ? 8 : (index == VFIO_PCI_INTX_IRQ_INDEX ? 1 : 0);
    return vfio::IrqInfo{index, VFIO_IRQ_INFO_EVENTFD, count};
  }
  Status read(const vfio::RegionInfo& region, uint64_t offset, std::span<uint8_t> out) const override {
    if (region.index == VFIO_PCI_CONFIG_REGION_INDEX) {
      std::memcpy(out.data(), &cfg[offset], out.size());
      return ok();
    }
    auto& s = storage.at(region.index);
    std::memcpy(out.data(), s.data() + offset, out.size());
    return ok();
  }
  Status write(const vfio::RegionInfo& region, uint64_t offset, std::span<const uint8_t> data) const override {
    auto& s = const_cast<std::vector<uint8_t>&>(storage.at(region.index));
    std::memcpy(s.data() + offset, data.data(), data.size());
    return ok();
  }
  Result<uint32_t> config_read(uint32_t offset, unsigned size) const override {
    uint32_t v = 0;
    std::memcpy(&v, &cfg[offset], size);
    return v;
  }
  Status config_write(uint32_t offset, unsigned size, uint32_t value) const override {
    std::memcpy(const_cast<uint8_t*>(&cfg[offset]), &value, size);
    return ok();
  }
  Result<Mapping> map(const vfio::RegionInfo&, uint64_t, uint64_t size) const override {
    return Mapping::anonymous(size, 0, "fake BAR");
  }
  Status set_irq_eventfds(uint32_t index, uint32_t start, std::span<const int> fds) override {
    irq_sets.push_back({index, start, static_cast<uint32_t>(fds.size())});
    return ok();
  }
  Status disable_irqs(uint32_t index) override {
    irq_sets.push_back({index, 0, 0});
    return ok();
  }
  Status unmask_intx() override { return ok(); }
  Status set_intx_unmask_eventfd(int) override { return ok(); }
  Status reset() override {
    ++resets;
    return ok();
  }
  Result<std::vector<vfio::DependentDevice>> hot_reset_info() const override {
    return std::vector<vfio::DependentDevice>{{5, 0, 1, 0}};  // alone on its bus, in group 5
  }
  Status hot_reset(std::span<const int> fds) override {
    hot_resets.push_back(std::vector<int>(fds.begin(), fds.end()));
    return ok();
  }

  struct IrqSet {
    uint32_t index, start, count;
  };
  std::array<uint8_t, 4096> cfg{};
  std::map<uint32_t, vfio::RegionInfo> regions;
  std::map<uint32_t, std::vector<uint8_t>> storage;
  std::vector<IrqSet> irq_sets;
  int resets = 0;
  bool function_reset = true;
  std::vector<std::vector<int>> hot_resets;
};

struct RouteEvent {
  std::string owner;
  unsigned vector;
  pci::MsiMessage msg;
  bool masked;
};

class FakeHost : public PassthroughHost {
 public:
  class Range : public MappedRange {
   public:
    Range(FakeHost& h, uint64_t gpa, uint64_t size) : h_(h), key_{gpa, size} { h_.live.insert(key_); }
    ~Range() override { h_.live.erase(key_); }

   private:
    FakeHost& h_;
    std::pair<uint64_t, uint64_t> key_;
  };
  class Routes : public VectorRoutes {
   public:
    Routes(FakeHost& h, std::string owner) : h_(h), owner_(std::move(owner)) {}
    ~Routes() override {
      for (auto& [v, fd] : fds_) ::close(fd);
    }
    Result<int> eventfd(unsigned v) override {
      if (!fds_.contains(v)) fds_[v] = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      return fds_[v];
    }
    void enable_changed(bool on, unsigned n) override { h_.enables.push_back({owner_, on, n}); }
    void vector_changed(unsigned v, const pci::MsiMessage& m, bool masked) override {
      h_.routes.push_back({owner_, v, m, masked});
    }
    void inject(unsigned, const pci::MsiMessage&) override {}

   private:
    FakeHost& h_;
    std::string owner_;
    std::map<unsigned, int> fds_;
  };
  class Intx : public IntxRoute {
   public:
    Intx(FakeHost& h) : h_(h) { h_.intx_connected = true; }
    ~Intx() override { h_.intx_connected = false; }

   private:
    FakeHost& h_;
  };

  Result<std::unique_ptr<MappedRange>> map_device_memory(uint64_t gpa, uint64_t size, void*, std::string_view) override {
    return std::make_unique<Range>(*this, gpa, size);
  }
  Status add_mmio(uint64_t base, uint64_t size, std::string, std::shared_ptr<devices::IoHandler>) override {
    mmio[base] = size;
    return ok();
  }
  void remove_mmio(uint64_t base) override { mmio.erase(base); }
  std::unique_ptr<VectorRoutes> make_routes(std::string owner) override { return std::make_unique<Routes>(*this, owner); }
  Result<std::unique_ptr<IntxRoute>> connect_intx(uint32_t gsi, int, int) override {
    intx_gsi = gsi;
    return std::make_unique<Intx>(*this);
  }

  std::set<std::pair<uint64_t, uint64_t>> live;
  std::map<uint64_t, uint64_t> mmio;
  std::vector<RouteEvent> routes;
  struct Enable {
    std::string owner;
    bool on;
    unsigned vectors;
  };
  std::vector<Enable> enables;
  std::optional<uint32_t> intx_gsi;
  bool intx_connected = false;
};

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
  EXPECT_EQ(keep->resets, 2);  // at start and at teardown
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

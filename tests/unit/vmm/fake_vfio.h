// Test doubles for the VFIO device model, shared by its unit tests and its fuzz target: a fake VFIO
// device (a PCIe NIC-like function with config space, regions, IRQ info and reset, all in memory)
// and a fake machine (PassthroughHost) recording memory slots, MMIO handlers, MSI routes and INTx.
// Region and config accesses outside the device's regions fail as the kernel's vfio-pci fails them
// (-EINVAL), so a model bug that computes a wrong offset shows up as a failed access, not as
// corruption of the fake.
//
// Threading: single-threaded, as the tests drive the model.
#pragma once

#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "altovirt/vmm/vfio_pci.h"

namespace altovirt::vmm::testing {

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
  // vfio-pci's pread/pwrite: -EINVAL outside the region (vfio_pci_core_rw).
  static Status check(uint64_t offset, uint64_t len, uint64_t size) {
    if (offset > size || len > size - offset) return fail_errno(EINVAL, "access {:#x}+{} outside {:#x}", offset, len, size);
    return ok();
  }
  Status read(const vfio::RegionInfo& region, uint64_t offset, std::span<uint8_t> out) const override {
    if (region.index == VFIO_PCI_CONFIG_REGION_INDEX) {
      AV_TRY(check(offset, out.size(), cfg.size()));
      std::memcpy(out.data(), &cfg[offset], out.size());
      return ok();
    }
    auto it = storage.find(region.index);
    if (it == storage.end()) return fail_errno(EINVAL, "no region {}", region.index);
    AV_TRY(check(offset, out.size(), it->second.size()));
    std::memcpy(out.data(), it->second.data() + offset, out.size());
    return ok();
  }
  Status write(const vfio::RegionInfo& region, uint64_t offset, std::span<const uint8_t> data) const override {
    auto it = storage.find(region.index);
    if (it == storage.end()) return fail_errno(EINVAL, "no region {}", region.index);
    auto& s = const_cast<std::vector<uint8_t>&>(it->second);
    AV_TRY(check(offset, data.size(), s.size()));
    std::memcpy(s.data() + offset, data.data(), data.size());
    return ok();
  }
  Result<uint32_t> config_read(uint32_t offset, unsigned size) const override {
    if (size > 4) return fail_errno(EINVAL, "config read of {} bytes", size);
    AV_TRY(check(offset, size, cfg.size()));
    uint32_t v = 0;
    std::memcpy(&v, &cfg[offset], size);
    return v;
  }
  Status config_write(uint32_t offset, unsigned size, uint32_t value) const override {
    if (size > 4) return fail_errno(EINVAL, "config write of {} bytes", size);
    AV_TRY(check(offset, size, cfg.size()));
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
  Result<std::unique_ptr<MappedRange>> map_read_only_memory(uint64_t gpa, uint64_t size, void* host, std::string_view) override {
    if (!read_only_ok) return fail("read-only slot refused (test)");
    read_only_seen[gpa] = std::vector<uint8_t>(static_cast<uint8_t*>(host), static_cast<uint8_t*>(host) + size);
    return std::make_unique<Range>(*this, gpa, size);
  }
  Status add_mmio(uint64_t base, uint64_t size, std::string, std::shared_ptr<devices::IoHandler> handler) override {
    mmio[base] = size;
    handlers[base] = std::move(handler);
    return ok();
  }
  void remove_mmio(uint64_t base) override {
    mmio.erase(base);
    handlers.erase(base);
  }
  std::unique_ptr<VectorRoutes> make_routes(std::string owner, const pci::PciDevice*) override { return std::make_unique<Routes>(*this, owner); }
  Result<std::unique_ptr<IntxRoute>> connect_intx(uint32_t gsi, int, int) override {
    intx_gsi = gsi;
    return std::make_unique<Intx>(*this);
  }

  Status dma_ready() override {
    ++dma_ready_calls;
    return dma_ready_result;
  }

  std::set<std::pair<uint64_t, uint64_t>> live;
  std::map<uint64_t, uint64_t> mmio;
  std::map<uint64_t, std::shared_ptr<devices::IoHandler>> handlers;
  bool read_only_ok = true;                            // map_read_only_memory succeeds
  std::map<uint64_t, std::vector<uint8_t>> read_only_seen;  // what each read-only slot held when mapped
  int dma_ready_calls = 0;
  Status dma_ready_result;  // ok: guest RAM is mapped
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

}  // namespace altovirt::vmm::testing

// VfioPciDevice: a host PCI function bound to vfio-pci, presented to the guest on altovirt's PCI bus.
//
// What the guest sees (as QEMU's hw/vfio and the VFIO documentation describe the split):
//   - config space: the standard header is emulated from the device's own values (IDs, class,
//     subsystem, interrupt pin, capability pointer), with BARs emulated at the sizes VFIO reports and
//     the types the device declares (I/O, 32/64-bit, prefetchable); the expansion ROM BAR is emulated
//     (or reads 0 with rombar=0); the MSI and MSI-X capabilities are emulated at the device's own
//     offsets (their addresses are guest addresses, which only KVM can route); the SR-IOV, ARI and
//     Resizable BAR extended capabilities are unlinked from the chain and their registers ignore
//     writes; every other byte is the device's own, read and written through VFIO.
//   - BARs: the mmappable parts are mapped straight into guest memory as KVM memory slots while
//     memory decode is on, at wherever the guest puts the BAR; the MSI-X table and PBA pages, what
//     VFIO cannot mmap, and I/O BARs trap and are served by the MSI-X model or by pread/pwrite.
//   - interrupts: MSI-X and MSI vectors are eventfds that VFIO signals and KVM irqfds inject; no
//     interrupt goes through altovirt's threads.
//
// Threading: config_read/config_write follow PciDevice's contract (bus config lock held).
// bar_read/bar_write come from any vCPU thread; the MSI-X model locks itself and VFIO's pread/pwrite
// are positional, so they need no further lock. VFIO_DEVICE_SET_IRQS calls are made from the MSI
// sinks, which the capability models call with their own lock held (one model per index).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "altovirt/base/log.h"
#include "altovirt/base/mapping.h"
#include "altovirt/kvm/gsi.h"
#include "altovirt/pci/msi.h"
#include "altovirt/pci/msix.h"
#include "altovirt/pci/pci_bus.h"
#include "altovirt/pci/pci_device.h"
#include "altovirt/vfio/bar_layout.h"
#include "altovirt/vfio/device.h"
#include "altovirt/vfio/pci_caps.h"
#include "altovirt/vfio/reset.h"
#include "altovirt/vmm/passthrough_host.h"

namespace altovirt::vmm {

class VfioPciDevice : public pci::PciDevice {
 public:
  struct Options {
    bool rombar = true;
    // The IOMMU groups this VM owns, for a hot reset when the device has no function reset
    // (vfio/reset.h); without it such a device is not reset.
    vfio::OwnedGroupFd owned_groups;
  };

  // Builds the guest view of `device` (already opened through the machine's VFIO manager) and
  // resets the device (function reset, else hot reset), so the guest starts from a clean function.
  static Result<std::shared_ptr<VfioPciDevice>> create(PassthroughHost& host, std::shared_ptr<vfio::Device> device,
                                                       std::string name, Options options);
  ~VfioPciDevice() override;

  uint32_t config_read(unsigned offset, unsigned size) override;
  void config_write(unsigned offset, unsigned size, uint32_t value) override;
  void bar_read(unsigned bar, uint64_t offset, std::span<uint8_t> data) override;
  void bar_write(unsigned bar, uint64_t offset, std::span<const uint8_t> data) override;

  const vfio::Device& device() const { return *device_; }
  // Connects the device's INTx (when it has a pin) to the IOAPIC input its pin reaches from address
  // `at` of `bus` (swizzled through a root port, then the DSDT's _PRT: PciBus::intx_gsi), through an
  // irqfd with a resample fd that VFIO uses to unmask the line once the guest has acknowledged it
  // (the level-triggered protocol of Documentation/virt/kvm/api.rst, KVM_IRQFD). Called once the
  // device has its place on the bus.
  Status attach_intx(const pci::PciBus& bus, const pci::PciAddress& at);
  // How many bytes of each BAR are mapped straight into the guest (for reports and tests).
  uint64_t direct_bytes(unsigned bar) const;
  // "trapped BAR accesses: MSI-X table R/W, PBA R, other R/W; direct: BARn X KiB ..."
  std::string trap_stats() const;

 protected:
  void bar_mapping_changed(unsigned bar, std::optional<uint64_t> old_addr, std::optional<uint64_t> new_addr) override;

 private:
  // Forwards one capability model's sink calls to KVM (routes, irqfds) and arms VFIO's eventfds.
  class IrqSink : public pci::MsiSink {
   public:
    IrqSink(VfioPciDevice& owner, uint32_t index, VectorRoutes& routes) : owner_(owner), index_(index), routes_(routes) {}
    void enable_changed(bool enabled, unsigned vectors) override;
    void vector_changed(unsigned vector, const pci::MsiMessage& msg, bool masked) override;
    void inject(unsigned vector, const pci::MsiMessage& msg) override;

   private:
    VfioPciDevice& owner_;
    uint32_t index_;
    VectorRoutes& routes_;
  };

  struct DirectPart {
    vfio::BarRange range;
    Mapping map;
  };

  enum class ByteKind : uint8_t { passthrough, emulated, msi, msix, ext_header, hidden };

  VfioPciDevice(PassthroughHost& host, std::shared_ptr<vfio::Device> device, std::string name, uint16_t vendor,
                uint16_t device_id, uint32_t class_code, uint8_t revision);
  Status build(Options options);
  Status build_header();
  Status build_bars();
  Status build_rom(bool rombar);
  Status build_capabilities();
  void classify(unsigned from, unsigned len, ByteKind kind);
  uint8_t read_byte(unsigned offset);
  void write_run(ByteKind kind, unsigned offset, unsigned size, uint32_t value);
  void sync_command();
  void rom_changed();
  void map_rom_copy(uint64_t addr, uint64_t size);
  void unmap_rom();
  void log_error(const Error& e);
  // An info line about something the guest did (MSI enabled...): rate-limited, since the guest
  // decides how often it happens.
  void log_event(const std::string& message);
  // vfio-pci runs one interrupt type at a time: INTx is on unless the guest enabled MSI or MSI-X.
  Status intx_on();
  void intx_off();

  PassthroughHost& host_;
  std::shared_ptr<vfio::Device> device_;
  std::vector<uint8_t> phys_;  // the device's config space at start (RO fields, capability layout)
  vfio::DeviceCaps caps_;
  std::array<ByteKind, pci::ConfigSpace::kSize> kinds_{};
  std::map<uint16_t, uint32_t> ext_headers_;
  std::array<std::optional<vfio::RegionInfo>, pci::kNumBars> regions_;
  std::optional<vfio::RegionInfo> rom_;
  std::optional<uint64_t> rom_mapped_at_;  // where the ROM decodes (its handler on the MMIO bus)
  // While the ROM decodes: a copy of it the guest reads without exits, and its read-only slot
  // (slot before copy in destruction order: the slot leaves the guest before the memory goes).
  std::optional<Mapping> rom_copy_;
  std::unique_ptr<MappedRange> rom_slot_;

  std::unique_ptr<VectorRoutes> msix_routes_;
  std::unique_ptr<VectorRoutes> msi_routes_;
  IrqSink msix_sink_;
  IrqSink msi_sink_;
  std::unique_ptr<pci::MsixCapability> msix_;
  std::unique_ptr<pci::MsiCapability> msi_;
  unsigned msix_virt_ = 0;  // where the models put their capability in config_
  unsigned msi_virt_ = 0;

  std::optional<uint32_t> intx_gsi_;
  std::optional<kvm::EventFd> intx_trigger_, intx_unmask_;
  std::unique_ptr<IntxRoute> intx_route_;
  bool intx_active_ = false;

  // Mappings before slots: slots are removed from the guest before the memory they map goes away.
  std::array<std::vector<DirectPart>, pci::kNumBars> direct_;
  std::array<std::vector<std::unique_ptr<MappedRange>>, pci::kNumBars> slots_;

  // Trapped BAR accesses by kind, to show that the data path (direct-mapped) never exits.
  std::atomic<uint64_t> table_reads_{0}, table_writes_{0}, pba_reads_{0}, other_reads_{0}, other_writes_{0};

  std::mutex log_mutex_;
  log::RateLimiter log_limit_{10, std::chrono::seconds(1)};
  log::RateLimiter event_limit_{10, std::chrono::seconds(1)};
};

}  // namespace altovirt::vmm

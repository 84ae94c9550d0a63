// VFIO device: one PCI function opened through its group. Gives access to the regions (BARs, ROM,
// config space) by pread/pwrite and mmap, to the interrupts (INTx, MSI, MSI-X) by eventfds, and to
// reset. See the kernel's include/uapi/linux/vfio.h for the ioctl contracts.
//
// The access methods are virtual so that unit tests can put a fake device where the kernel would be.
//
// Threading: the ioctl-based calls (set_irqs, reset) are made by one thread at a time (the caller
// serialises them: the device model's lock); config/region pread/pwrite are positional and may be
// called from several vCPU threads at once.
#pragma once

#include <linux/vfio.h>

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/base/fd.h"
#include "altovirt/base/mapping.h"
#include "altovirt/vfio/hot_reset_layout.h"

namespace altovirt::vfio {

struct SparseArea {
  uint64_t offset = 0;  // within the region
  uint64_t size = 0;
};

struct RegionInfo {
  uint32_t index = 0;
  uint32_t flags = 0;   // VFIO_REGION_INFO_FLAG_*
  uint64_t size = 0;
  uint64_t offset = 0;  // of the region within the device fd
  // The parts that may be mmapped. When the region is mmappable and has no sparse-mmap capability,
  // this is the whole region; when it is not mmappable, it is empty (MSI-X table pages are typically
  // left out here by the kernel so that the VMM traps them).
  std::vector<SparseArea> mmap_areas;

  bool readable() const { return (flags & VFIO_REGION_INFO_FLAG_READ) != 0; }
  bool writable() const { return (flags & VFIO_REGION_INFO_FLAG_WRITE) != 0; }
  bool mmappable() const { return (flags & VFIO_REGION_INFO_FLAG_MMAP) != 0; }
};

// Decodes what VFIO_DEVICE_GET_REGION_INFO returned (struct vfio_region_info plus its capability
// chain). Pure, so that it can be tested with hand-made buffers.
Result<RegionInfo> parse_region_info(const std::vector<uint8_t>& bytes);

struct IrqInfo {
  uint32_t index = 0;
  uint32_t flags = 0;  // VFIO_IRQ_INFO_*
  uint32_t count = 0;
};

class Device {
 public:
  Device(std::string address, UniqueFd fd) : address_(std::move(address)), fd_(std::move(fd)) {}
  virtual ~Device() = default;
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  // Reads VFIO_DEVICE_GET_INFO and checks that this is a vfio-pci device.
  Status load_info();
  const std::string& address() const { return address_; }
  int fd() const { return fd_.get(); }
  uint32_t num_regions() const { return info_.num_regions; }
  uint32_t num_irqs() const { return info_.num_irqs; }
  virtual bool can_reset() const { return (info_.flags & VFIO_DEVICE_FLAGS_RESET) != 0; }
  // Manager::open_device calls this on a device it has just opened: vfio-pci reset the function in
  // that open when can_reset() (see vfio/reset.h). take_reset_at_open() says so once, and only then.
  void opened_now() { reset_at_open_ = can_reset(); }
  bool take_reset_at_open() { return std::exchange(reset_at_open_, false); }

  virtual Result<RegionInfo> region_info(uint32_t index) const;
  virtual Result<IrqInfo> irq_info(uint32_t index) const;

  // Positional access to a region (config space, or a BAR part that is not mmapped).
  virtual Status read(const RegionInfo& region, uint64_t offset, std::span<uint8_t> out) const;
  virtual Status write(const RegionInfo& region, uint64_t offset, std::span<const uint8_t> data) const;
  // Config space shortcuts (region VFIO_PCI_CONFIG_REGION_INDEX, loaded by load_info()).
  virtual Result<uint32_t> config_read(uint32_t offset, unsigned size) const;
  virtual Status config_write(uint32_t offset, unsigned size, uint32_t value) const;

  // Maps `size` bytes of a region at `offset` (which must lie in one of its mmap areas) shared.
  virtual Result<Mapping> map(const RegionInfo& region, uint64_t offset, uint64_t size) const;

  // Connects eventfds to vectors [start, start + fds.size()) of an IRQ index (MSI, MSI-X, INTx);
  // -1 disconnects a vector. The kernel enables the capability in the device as needed.
  virtual Status set_irq_eventfds(uint32_t index, uint32_t start, std::span<const int> fds);
  // Disables every vector of an IRQ index (VFIO_IRQ_SET_DATA_NONE with count 0).
  virtual Status disable_irqs(uint32_t index);
  // INTx is level-triggered: VFIO masks it when it fires, and the VMM unmasks it once the guest has
  // acknowledged it (or lets KVM do so through a resample irqfd: set_intx_unmask_eventfd).
  virtual Status unmask_intx();
  virtual Status set_intx_unmask_eventfd(int fd);

  // VFIO_DEVICE_RESET: a function-level reset (FLR, PM reset, or a bus reset when the device is alone
  // on its bus), available when can_reset().
  virtual Status reset();
  // The functions a slot or bus reset of this device would also reset, with their IOMMU groups
  // (VFIO_DEVICE_GET_PCI_HOT_RESET_INFO); an error when the kernel can do neither reset (ENODEV).
  virtual Result<std::vector<DependentDevice>> hot_reset_info() const;
  // Resets the device's slot or bus (VFIO_DEVICE_PCI_HOT_RESET). `group_fds` must hold the fd of
  // every group hot_reset_info() names: the kernel checks that the caller owns all of them.
  virtual Status hot_reset(std::span<const int> group_fds);

 private:
  std::string address_;
  UniqueFd fd_;
  vfio_device_info info_{};
  RegionInfo config_{};
  bool reset_at_open_ = false;
};

}  // namespace altovirt::vfio

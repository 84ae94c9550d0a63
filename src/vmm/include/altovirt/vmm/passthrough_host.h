// PassthroughHost: what a passed-through device needs from the machine it sits in, as an interface,
// so that the VFIO device model can be tested without KVM:
//   - guest-physical mappings of host memory (a BAR's mmappable parts; KVM memory slots);
//   - read-only guest-physical mappings of host memory (a copy of the expansion ROM; writes exit);
//   - MMIO regions that trap to a handler (the expansion ROM's writes, or all of it when unmapped);
//   - per-vector MSI routes with their eventfds (KVM GSI routes and irqfds);
//   - an INTx line fed by an eventfd with a resample fd (a resampling KVM irqfd).
// Every handle it returns undoes itself when destroyed.
//
// Threading: the machine's implementation is thread-safe (KVM serialises its ioctls; the buses and
// the routing table lock themselves); calls come from config writes on vCPU threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "altovirt/base/error.h"
#include "altovirt/devices/io_handler.h"
#include "altovirt/pci/msi_sink.h"
#include "altovirt/pci/pci_device.h"

namespace altovirt::vmm {

// A range of guest physical memory backed by host memory; gone from the guest when destroyed.
class MappedRange {
 public:
  virtual ~MappedRange() = default;
};

// The KVM side of one capability's vectors: an MsiSink that also owns each vector's eventfd, which
// the VFIO device signals and KVM injects from.
class VectorRoutes : public pci::MsiSink {
 public:
  virtual Result<int> eventfd(unsigned vector) = 0;
};

// An interrupt line driven by an eventfd, lowered on EOI with the resample fd signalled.
class IntxRoute {
 public:
  virtual ~IntxRoute() = default;
};

class PassthroughHost {
 public:
  virtual ~PassthroughHost() = default;
  virtual Result<std::unique_ptr<MappedRange>> map_device_memory(uint64_t gpa, uint64_t size, void* host,
                                                                 std::string_view what) = 0;
  // As map_device_memory, but the guest can only read: its writes exit as MMIO (KVM_MEM_READONLY).
  virtual Result<std::unique_ptr<MappedRange>> map_read_only_memory(uint64_t gpa, uint64_t size, void* host,
                                                                     std::string_view what) = 0;
  virtual Status add_mmio(uint64_t base, uint64_t size, std::string name, std::shared_ptr<devices::IoHandler> handler) = 0;
  virtual void remove_mmio(uint64_t base) = 0;
  // `device`: whose requester id the MSIs carry (PciDevice::requester_id), for a GICv3 ITS.
  virtual std::unique_ptr<VectorRoutes> make_routes(std::string owner, const pci::PciDevice* device) = 0;
  virtual Result<std::unique_ptr<IntxRoute>> connect_intx(uint32_t gsi, int trigger_fd, int resample_fd) = 0;
  // Blocks until guest RAM is DMA-mapped for the device (DmaMapJob); its error when that failed. The
  // device's Bus Master Enable reaches the hardware only after this returned ok.
  virtual Status dma_ready() { return ok(); }
};

}  // namespace altovirt::vmm

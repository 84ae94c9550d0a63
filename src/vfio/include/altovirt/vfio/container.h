// VFIO container (the legacy /dev/vfio/vfio API, as on Linux 6.1): one IOMMU address space shared by
// every group of a VM. Guest RAM is DMA-mapped into it with IOVA = guest physical address, so that a
// device's DMA to a guest physical address lands in the right guest page (VFIO, kernel
// Documentation/driver-api/vfio.rst, "VFIO Usage Example").
//
// Threading: not synchronised. The VMM sets the container up and maps guest RAM before vCPUs run, and
// tears it down after they stop; nothing here is called from vCPU threads.
#pragma once

#include <cstdint>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/base/fd.h"

namespace altovirt::vfio {

struct IovaRange {
  uint64_t start = 0;
  uint64_t end = 0;  // inclusive
};

// Decodes the capability chain of VFIO_IOMMU_GET_INFO (struct vfio_iommu_type1_info followed by
// capabilities) into the usable IOVA ranges; empty when the kernel reports no IOVA-range capability.
// A pure function over the bytes the kernel returned, so that it can be tested without a kernel.
Result<std::vector<IovaRange>> parse_iommu_info_iova_ranges(const std::vector<uint8_t>& info);

class Container {
 public:
  // Opens /dev/vfio/vfio (under `dev_vfio`, normally "/dev/vfio/") and checks the API version and
  // that the Type1 IOMMU backend is there.
  static Result<Container> open(const std::string& dev_vfio = "/dev/vfio/");

  int fd() const { return fd_.get(); }
  // Selects the Type1 (v2 when available) IOMMU model. Allowed only after the first group has been
  // added (VFIO_GROUP_SET_CONTAINER); Group::attach calls it once.
  Status set_iommu_once();
  bool iommu_set() const { return iommu_set_; }

  // Maps [vaddr, vaddr+size) at `iova` for device reads and writes. The pages are pinned and count
  // against RLIMIT_MEMLOCK.
  Status map_dma(uint64_t iova, uint64_t size, void* vaddr);
  Status unmap_dma(uint64_t iova, uint64_t size);
  // The IOVA ranges the IOMMU can translate (VFIO_IOMMU_GET_INFO), valid after set_iommu_once().
  Result<std::vector<IovaRange>> iova_ranges() const;
  // Supported IOMMU page sizes (bitmap), valid after set_iommu_once().
  Result<uint64_t> page_sizes() const;

  // Bytes currently mapped (the amount of guest memory pinned).
  uint64_t mapped_bytes() const { return mapped_bytes_; }

 private:
  explicit Container(UniqueFd fd) : fd_(std::move(fd)) {}
  Result<std::vector<uint8_t>> iommu_info() const;

  UniqueFd fd_;
  bool iommu_set_ = false;
  uint64_t mapped_bytes_ = 0;
};

}  // namespace altovirt::vfio

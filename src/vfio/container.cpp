#include "altovirt/vfio/container.h"

#include <fcntl.h>
#include <linux/vfio.h>
#include <sys/ioctl.h>

#include <cstring>

namespace altovirt::vfio {

Result<std::vector<IovaRange>> parse_iommu_info_iova_ranges(const std::vector<uint8_t>& info) {
  if (info.size() < sizeof(vfio_iommu_type1_info)) return fail("VFIO IOMMU info is truncated ({} bytes)", info.size());
  vfio_iommu_type1_info head{};
  std::memcpy(&head, info.data(), sizeof head);
  std::vector<IovaRange> out;
  if ((head.flags & VFIO_IOMMU_INFO_CAPS) == 0) return out;
  uint32_t off = head.cap_offset;
  unsigned hops = 0;
  while (off != 0) {
    if (++hops > 64) return fail("VFIO IOMMU info capability chain loops");
    if (off + sizeof(vfio_info_cap_header) > info.size()) return fail("VFIO IOMMU info capability at {} is out of bounds", off);
    vfio_info_cap_header cap{};
    std::memcpy(&cap, info.data() + off, sizeof cap);
    if (cap.id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
      vfio_iommu_type1_info_cap_iova_range ranges{};
      if (off + sizeof ranges > info.size()) return fail("VFIO IOVA range capability is truncated");
      std::memcpy(&ranges, info.data() + off, sizeof ranges);
      size_t need = off + sizeof ranges + size_t{ranges.nr_iovas} * sizeof(vfio_iova_range);
      if (need > info.size()) return fail("VFIO IOVA range capability lists {} ranges past its end", ranges.nr_iovas);
      for (uint32_t i = 0; i < ranges.nr_iovas; ++i) {
        vfio_iova_range r{};
        std::memcpy(&r, info.data() + off + sizeof ranges + i * sizeof r, sizeof r);
        out.push_back({r.start, r.end});
      }
    }
    off = cap.next;
  }
  return out;
}

Result<Container> Container::open(const std::string& dev_vfio) {
  std::string path = dev_vfio + "vfio";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) {
    int err = errno;
    if (err == ENOENT)
      return fail_errno(err, "opening {} (load the vfio-pci module: modprobe vfio-pci, or altoctl host-validate --load-modules)", path);
    return fail_errno(err, "opening {}", path);
  }
  int version = ::ioctl(fd.get(), VFIO_GET_API_VERSION);
  if (version != VFIO_API_VERSION) return fail("{} speaks VFIO API version {}, altovirt needs {}", path, version, VFIO_API_VERSION);
  if (::ioctl(fd.get(), VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) <= 0)
    return fail("the VFIO Type1 IOMMU backend is missing (modprobe vfio_iommu_type1)");
  return Container(std::move(fd));
}

Status Container::set_iommu_once() {
  if (iommu_set_) return ok();
  // Type1v2 has the clean unmap semantics (no splitting of mappings); prefer it, as QEMU does.
  int type = ::ioctl(fd_.get(), VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0 ? VFIO_TYPE1v2_IOMMU : VFIO_TYPE1_IOMMU;
  if (::ioctl(fd_.get(), VFIO_SET_IOMMU, type) != 0) return fail_errno(errno, "selecting the VFIO Type1 IOMMU model");
  iommu_set_ = true;
  return ok();
}

Status Container::map_dma(uint64_t iova, uint64_t size, void* vaddr) {
  vfio_iommu_type1_dma_map map{};
  map.argsz = sizeof map;
  map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
  map.vaddr = reinterpret_cast<uint64_t>(vaddr);
  map.iova = iova;
  map.size = size;
  if (::ioctl(fd_.get(), VFIO_IOMMU_MAP_DMA, &map) != 0) {
    int err = errno;
    if (err == ENOMEM)
      return fail_errno(err, "pinning {} MiB of guest RAM at IOVA {:#x} for DMA (raise the locked-memory limit: "
                        "ulimit -l unlimited, or LimitMEMLOCK=infinity in a systemd unit)", size >> 20, iova);
    return fail_errno(err, "mapping {} MiB of guest RAM at IOVA {:#x} for DMA", size >> 20, iova);
  }
  mapped_bytes_ += size;
  return ok();
}

Status Container::unmap_dma(uint64_t iova, uint64_t size) {
  vfio_iommu_type1_dma_unmap unmap{};
  unmap.argsz = sizeof unmap;
  unmap.iova = iova;
  unmap.size = size;
  if (::ioctl(fd_.get(), VFIO_IOMMU_UNMAP_DMA, &unmap) != 0) return fail_errno(errno, "unmapping IOVA {:#x}+{:#x}", iova, size);
  mapped_bytes_ -= std::min<uint64_t>(mapped_bytes_, unmap.size);
  return ok();
}

Result<std::vector<uint8_t>> Container::iommu_info() const {
  // The kernel says how much room the capability chain needs by raising argsz; ask twice.
  std::vector<uint8_t> buf(sizeof(vfio_iommu_type1_info));
  for (int attempt = 0; attempt < 2; ++attempt) {
    vfio_iommu_type1_info head{};
    head.argsz = static_cast<uint32_t>(buf.size());
    std::memcpy(buf.data(), &head, sizeof head);
    if (::ioctl(fd_.get(), VFIO_IOMMU_GET_INFO, buf.data()) != 0) return fail_errno(errno, "VFIO_IOMMU_GET_INFO");
    std::memcpy(&head, buf.data(), sizeof head);
    if (head.argsz <= buf.size()) return buf;
    buf.assign(head.argsz, 0);
  }
  return buf;
}

Result<std::vector<IovaRange>> Container::iova_ranges() const {
  AV_TRY_ASSIGN(auto info, iommu_info());
  return parse_iommu_info_iova_ranges(info);
}

Result<uint64_t> Container::page_sizes() const {
  AV_TRY_ASSIGN(auto info, iommu_info());
  vfio_iommu_type1_info head{};
  std::memcpy(&head, info.data(), sizeof head);
  return head.iova_pgsizes;
}

}  // namespace altovirt::vfio

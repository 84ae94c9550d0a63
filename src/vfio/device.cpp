#include "altovirt/vfio/device.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>

namespace altovirt::vfio {

Result<RegionInfo> parse_region_info(const std::vector<uint8_t>& bytes) {
  if (bytes.size() < sizeof(vfio_region_info)) return fail("VFIO region info is truncated ({} bytes)", bytes.size());
  vfio_region_info head{};
  std::memcpy(&head, bytes.data(), sizeof head);
  RegionInfo r;
  r.index = head.index;
  r.flags = head.flags;
  r.size = head.size;
  r.offset = head.offset;
  bool sparse_seen = false;
  if ((head.flags & VFIO_REGION_INFO_FLAG_CAPS) != 0) {
    uint32_t off = head.cap_offset;
    unsigned hops = 0;
    while (off != 0) {
      if (++hops > 64) return fail("VFIO region {} capability chain loops", head.index);
      if (off + sizeof(vfio_info_cap_header) > bytes.size())
        return fail("VFIO region {} capability at {} is out of bounds", head.index, off);
      vfio_info_cap_header cap{};
      std::memcpy(&cap, bytes.data() + off, sizeof cap);
      if (cap.id == VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
        vfio_region_info_cap_sparse_mmap sparse{};
        if (off + sizeof sparse > bytes.size()) return fail("VFIO region {} sparse-mmap capability is truncated", head.index);
        std::memcpy(&sparse, bytes.data() + off, sizeof sparse);
        size_t need = off + sizeof sparse + size_t{sparse.nr_areas} * sizeof(vfio_region_sparse_mmap_area);
        if (need > bytes.size()) return fail("VFIO region {} sparse-mmap capability lists {} areas past its end", head.index, sparse.nr_areas);
        sparse_seen = true;
        for (uint32_t i = 0; i < sparse.nr_areas; ++i) {
          vfio_region_sparse_mmap_area a{};
          std::memcpy(&a, bytes.data() + off + sizeof sparse + i * sizeof a, sizeof a);
          if (a.size == 0) continue;
          if (a.offset + a.size > head.size || a.offset + a.size < a.offset)
            return fail("VFIO region {} sparse-mmap area {:#x}+{:#x} lies outside the region (size {:#x})", head.index, a.offset, a.size, head.size);
          r.mmap_areas.push_back({a.offset, a.size});
        }
      }
      off = cap.next;
    }
  }
  if (r.mmappable() && !sparse_seen && r.size > 0) r.mmap_areas.push_back({0, r.size});
  if (!r.mmappable()) r.mmap_areas.clear();
  return r;
}

Status Device::load_info() {
  info_ = {};
  info_.argsz = sizeof info_;
  if (::ioctl(fd_.get(), VFIO_DEVICE_GET_INFO, &info_) != 0) return fail_errno(errno, "VFIO_DEVICE_GET_INFO on {}", address_);
  if ((info_.flags & VFIO_DEVICE_FLAGS_PCI) == 0) return fail("{} is not a vfio-pci device", address_);
  if (info_.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX)
    return fail("{} reports only {} VFIO regions, fewer than a PCI device has", address_, info_.num_regions);
  AV_TRY_ASSIGN(config_, region_info(VFIO_PCI_CONFIG_REGION_INDEX));
  return ok();
}

Result<RegionInfo> Device::region_info(uint32_t index) const {
  std::vector<uint8_t> buf(sizeof(vfio_region_info));
  for (int attempt = 0; attempt < 2; ++attempt) {
    vfio_region_info head{};
    head.argsz = static_cast<uint32_t>(buf.size());
    head.index = index;
    std::memcpy(buf.data(), &head, sizeof head);
    if (::ioctl(fd_.get(), VFIO_DEVICE_GET_REGION_INFO, buf.data()) != 0)
      return fail_errno(errno, "VFIO_DEVICE_GET_REGION_INFO {} on {}", index, address_);
    std::memcpy(&head, buf.data(), sizeof head);
    if (head.argsz <= buf.size()) break;
    buf.assign(head.argsz, 0);  // room for the capability chain; ask again
  }
  auto r = parse_region_info(buf);
  if (!r) r.error().context(address_);
  return r;
}

Result<IrqInfo> Device::irq_info(uint32_t index) const {
  vfio_irq_info info{};
  info.argsz = sizeof info;
  info.index = index;
  if (::ioctl(fd_.get(), VFIO_DEVICE_GET_IRQ_INFO, &info) != 0)
    return fail_errno(errno, "VFIO_DEVICE_GET_IRQ_INFO {} on {}", index, address_);
  return IrqInfo{info.index, info.flags, info.count};
}

Status Device::read(const RegionInfo& region, uint64_t offset, std::span<uint8_t> out) const {
  if (offset + out.size() > region.size) return fail("read of {} bytes at {:#x} is outside region {} of {}", out.size(), offset, region.index, address_);
  ssize_t n = ::pread(fd_.get(), out.data(), out.size(), static_cast<off_t>(region.offset + offset));
  if (n < 0) return fail_errno(errno, "reading region {} of {} at {:#x}", region.index, address_, offset);
  if (static_cast<size_t>(n) != out.size()) return fail("short read of region {} of {} at {:#x}", region.index, address_, offset);
  return ok();
}

Status Device::write(const RegionInfo& region, uint64_t offset, std::span<const uint8_t> data) const {
  if (offset + data.size() > region.size) return fail("write of {} bytes at {:#x} is outside region {} of {}", data.size(), offset, region.index, address_);
  ssize_t n = ::pwrite(fd_.get(), data.data(), data.size(), static_cast<off_t>(region.offset + offset));
  if (n < 0) return fail_errno(errno, "writing region {} of {} at {:#x}", region.index, address_, offset);
  if (static_cast<size_t>(n) != data.size()) return fail("short write to region {} of {} at {:#x}", region.index, address_, offset);
  return ok();
}

Result<uint32_t> Device::config_read(uint32_t offset, unsigned size) const {
  if (size != 1 && size != 2 && size != 4) return fail("config read of size {} (must be 1, 2 or 4)", size);
  uint8_t b[4] = {};
  AV_TRY(read(config_, offset, std::span<uint8_t>(b, size)));
  // Config space is little-endian (PCI Local Bus spec 3.0, 6.1); so is x86.
  uint32_t v = 0;
  std::memcpy(&v, b, size);
  return v;
}

Status Device::config_write(uint32_t offset, unsigned size, uint32_t value) const {
  if (size != 1 && size != 2 && size != 4) return fail("config write of size {} (must be 1, 2 or 4)", size);
  uint8_t b[4];
  std::memcpy(b, &value, 4);
  return write(config_, offset, std::span<const uint8_t>(b, size));
}

Result<Mapping> Device::map(const RegionInfo& region, uint64_t offset, uint64_t size) const {
  bool inside = false;
  for (auto& a : region.mmap_areas)
    if (offset >= a.offset && offset + size <= a.offset + a.size) inside = true;
  if (!inside) return fail("{:#x}+{:#x} of region {} of {} is not mmappable", offset, size, region.index, address_);
  int prot = (region.readable() ? PROT_READ : 0) | (region.writable() ? PROT_WRITE : 0);
  return Mapping::map_fd(fd_.get(), size, prot, MAP_SHARED, static_cast<off_t>(region.offset + offset),
                         fmt::format("region {} of {}", region.index, address_));
}

Status Device::set_irq_eventfds(uint32_t index, uint32_t start, std::span<const int> fds) {
  std::vector<uint8_t> buf(sizeof(vfio_irq_set) + fds.size() * sizeof(int32_t));
  vfio_irq_set set{};
  set.argsz = static_cast<uint32_t>(buf.size());
  set.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
  set.index = index;
  set.start = start;
  set.count = static_cast<uint32_t>(fds.size());
  std::memcpy(buf.data(), &set, sizeof set);
  for (size_t i = 0; i < fds.size(); ++i) {
    int32_t fd = fds[i];
    std::memcpy(buf.data() + sizeof set + i * sizeof fd, &fd, sizeof fd);
  }
  if (::ioctl(fd_.get(), VFIO_DEVICE_SET_IRQS, buf.data()) != 0)
    return fail_errno(errno, "connecting {} eventfds to IRQ index {} of {}", fds.size(), index, address_);
  return ok();
}

Status Device::disable_irqs(uint32_t index) {
  vfio_irq_set set{};
  set.argsz = sizeof set;
  set.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
  set.index = index;
  set.start = 0;
  set.count = 0;
  if (::ioctl(fd_.get(), VFIO_DEVICE_SET_IRQS, &set) != 0) return fail_errno(errno, "disabling IRQ index {} of {}", index, address_);
  return ok();
}

Status Device::unmask_intx() {
  vfio_irq_set set{};
  set.argsz = sizeof set;
  set.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK;
  set.index = VFIO_PCI_INTX_IRQ_INDEX;
  set.count = 1;
  if (::ioctl(fd_.get(), VFIO_DEVICE_SET_IRQS, &set) != 0) return fail_errno(errno, "unmasking INTx of {}", address_);
  return ok();
}

Status Device::set_intx_unmask_eventfd(int fd) {
  uint8_t buf[sizeof(vfio_irq_set) + sizeof(int32_t)];
  vfio_irq_set set{};
  set.argsz = sizeof buf;
  set.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK;
  set.index = VFIO_PCI_INTX_IRQ_INDEX;
  set.count = 1;
  std::memcpy(buf, &set, sizeof set);
  int32_t v = fd;
  std::memcpy(buf + sizeof set, &v, sizeof v);
  if (::ioctl(fd_.get(), VFIO_DEVICE_SET_IRQS, buf) != 0) return fail_errno(errno, "connecting the INTx unmask eventfd of {}", address_);
  return ok();
}

Status Device::reset() {
  if (!can_reset()) return fail("{} has no reset method VFIO can use (VFIO_DEVICE_FLAGS_RESET is not set)", address_);
  if (::ioctl(fd_.get(), VFIO_DEVICE_RESET) != 0) return fail_errno(errno, "resetting {}", address_);
  return ok();
}

Result<std::vector<DependentDevice>> Device::hot_reset_info() const {
  // First with room for no entry: the kernel answers ENOSPC and how many there are; then with room
  // for them all. A device hot-plugged onto the bus in between makes the second call ENOSPC too.
  std::vector<uint8_t> buf = hot_reset_info_request(0);
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (::ioctl(fd_.get(), VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, buf.data()) == 0) {
      auto r = parse_hot_reset_info(buf);
      if (!r) r.error().context(address_);
      return r;
    }
    int err = errno;
    if (err == ENODEV) return fail_errno(err, "{} can be reset neither by its slot nor by its bus", address_);
    if (err != ENOSPC) return fail_errno(err, "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO on {}", address_);
    AV_TRY_ASSIGN(uint32_t count, hot_reset_info_count(buf));
    buf = hot_reset_info_request(count);
  }
  return fail("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO on {}: the number of affected devices keeps changing", address_);
}

Status Device::hot_reset(std::span<const int> group_fds) {
  std::vector<uint8_t> buf = hot_reset_request(group_fds);
  if (::ioctl(fd_.get(), VFIO_DEVICE_PCI_HOT_RESET, buf.data()) != 0)
    return fail_errno(errno, "hot reset (VFIO_DEVICE_PCI_HOT_RESET) of {} with {} group(s)", address_, group_fds.size());
  return ok();
}

}  // namespace altovirt::vfio

#include "altovirt/vfio/hot_reset_layout.h"

#include <linux/vfio.h>

#include <cstring>

namespace altovirt::vfio {
namespace {

// The UAPI element types keep their sizes in C++ (only the flexible arrays are a problem).
static_assert(sizeof(vfio_pci_dependent_device) == kDependentDeviceSize);
static_assert(sizeof(int32_t) == sizeof(int));

// Appends a little-endian (x86) 32-bit value byte by byte.
void append32(std::vector<uint8_t>& buf, uint32_t v) {
  for (int i = 0; i < 4; ++i) buf.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

uint32_t get32(std::span<const uint8_t> buf, size_t at) {
  uint32_t v;
  std::memcpy(&v, buf.data() + at, 4);
  return v;
}

}  // namespace

std::string DependentDevice::address() const {
  // devfn packs the device (bits 7:3) and function (bits 2:0) numbers (PCI 3.0, 3.2.2.3.1).
  return fmt::format("{:04x}:{:02x}:{:02x}.{:x}", segment, bus, devfn >> 3, devfn & 7);
}

std::vector<uint8_t> hot_reset_info_request(uint32_t capacity) {
  size_t size = kHotResetHeaderSize + size_t{capacity} * kDependentDeviceSize;
  std::vector<uint8_t> buf;
  buf.reserve(size);
  append32(buf, static_cast<uint32_t>(size));  // argsz; flags and count are outputs
  append32(buf, 0);
  append32(buf, 0);
  buf.resize(size, 0);
  return buf;
}

Result<uint32_t> hot_reset_info_count(std::span<const uint8_t> bytes) {
  if (bytes.size() < kHotResetHeaderSize) return fail("VFIO hot reset info is truncated ({} bytes)", bytes.size());
  return get32(bytes, 8);
}

Result<std::vector<DependentDevice>> parse_hot_reset_info(std::span<const uint8_t> bytes) {
  AV_TRY_ASSIGN(uint32_t count, hot_reset_info_count(bytes));
  if (kHotResetHeaderSize + uint64_t{count} * kDependentDeviceSize > bytes.size())
    return fail("VFIO hot reset info lists {} devices but holds room for only {}", count,
                (bytes.size() - kHotResetHeaderSize) / kDependentDeviceSize);
  std::vector<DependentDevice> out;
  for (uint32_t i = 0; i < count; ++i) {
    vfio_pci_dependent_device d{};
    std::memcpy(&d, bytes.data() + kHotResetHeaderSize + i * kDependentDeviceSize, sizeof d);
    out.push_back({d.group_id, d.segment, d.bus, d.devfn});
  }
  return out;
}

std::vector<uint8_t> hot_reset_request(std::span<const int> group_fds) {
  std::vector<uint8_t> buf;
  buf.reserve(kHotResetHeaderSize + group_fds.size() * sizeof(int32_t));
  append32(buf, static_cast<uint32_t>(kHotResetHeaderSize + group_fds.size() * sizeof(int32_t)));  // argsz
  append32(buf, 0);  // flags: none defined
  append32(buf, static_cast<uint32_t>(group_fds.size()));
  for (int fd : group_fds) append32(buf, static_cast<uint32_t>(fd));
  return buf;
}

}  // namespace altovirt::vfio

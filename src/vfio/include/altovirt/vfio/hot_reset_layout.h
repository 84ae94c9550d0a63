// The byte layout of the two VFIO hot-reset ioctls (linux/vfio.h):
//   VFIO_DEVICE_GET_PCI_HOT_RESET_INFO takes struct vfio_pci_hot_reset_info: argsz, flags, count
//   (three __u32) followed by count struct vfio_pci_dependent_device {__u32 group_id; __u16 segment;
//   __u8 bus; __u8 devfn;}, the functions a slot or bus reset of the device also resets;
//   VFIO_DEVICE_PCI_HOT_RESET takes struct vfio_pci_hot_reset: argsz, flags, count followed by count
//   __s32 group fds, one for every group those functions are in.
// Both end in a flexible array member, which ISO C++ does not have (g++ accepts it as an extension,
// and the kvm layer's flex_ioctl.h explains how such UAPI structs go wrong in C++), so the buffers
// are built and read here byte by byte at the offsets the C layout has: the array starts right after
// the 12-byte header (every member is 4-byte aligned, so there is no padding).
//
// Threading: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "altovirt/base/error.h"

namespace altovirt::vfio {

inline constexpr size_t kHotResetHeaderSize = 3 * sizeof(uint32_t);  // argsz, flags, count
inline constexpr size_t kDependentDeviceSize = 8;                     // group_id, segment, bus, devfn

// One function that a hot reset of a device also resets, and the IOMMU group it is in.
struct DependentDevice {
  uint32_t group = 0;
  uint16_t segment = 0;
  uint8_t bus = 0;
  uint8_t devfn = 0;

  std::string address() const;  // "0000:01:00.0"
  bool operator==(const DependentDevice&) const = default;
};

// The first argument to VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: a header with room for `capacity`
// entries (argsz says how much room; the kernel answers ENOSPC and the count when it is too little).
std::vector<uint8_t> hot_reset_info_request(uint32_t capacity);
// The count field of a returned header (what the ENOSPC answer carries).
Result<uint32_t> hot_reset_info_count(std::span<const uint8_t> bytes);
// The entries of a filled-in vfio_pci_hot_reset_info; an error when count runs past the buffer.
Result<std::vector<DependentDevice>> parse_hot_reset_info(std::span<const uint8_t> bytes);

// The argument to VFIO_DEVICE_PCI_HOT_RESET: the header (flags 0) and the group fds.
std::vector<uint8_t> hot_reset_request(std::span<const int> group_fds);

}  // namespace altovirt::vfio

// What sysfs says about one PCI device (/sys/bus/pci/devices/DDDD:BB:SS.F), and the VFIO group
// viability rule.
//
// Threading: functions read sysfs through the given SysfsRoot (see its contract); PciDevice is a value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/host/pci_address.h"
#include "altovirt/host/sysfs.h"

namespace altovirt::host {

inline constexpr std::string_view kVfioPci = "vfio-pci";

struct PciDevice {
  PciAddress address;
  uint16_t vendor = 0;
  uint16_t device = 0;
  uint16_t subsystem_vendor = 0;
  uint16_t subsystem_device = 0;
  uint32_t class_code = 0;            // 24 bits: base class, subclass, programming interface
  std::string driver;                 // "" when no driver is bound
  std::string driver_override;        // "" when not set
  std::optional<unsigned> iommu_group;
  std::vector<PciAddress> group_members;  // every device in the group, this one included
  // SR-IOV physical function: sriov_totalvfs is present.
  std::optional<unsigned> sriov_totalvfs;
  std::optional<unsigned> sriov_numvfs;
  std::optional<bool> sriov_drivers_autoprobe;
  std::vector<PciAddress> virtfns;        // virtfn0, virtfn1, ... in VF index order
  std::optional<PciAddress> physfn;       // set for a VF
  bool has_reset = false;                 // the "reset" attribute exists
  std::vector<std::string> reset_methods; // from "reset_method", e.g. {"flr", "bus"}

  // PCI-to-PCI bridge (class 06 04) or semi-transparent bridge (06 09), per the PCI Code and ID
  // Assignment spec. A bridge is infrastructure: it is never passed to a guest.
  bool is_bridge() const;
  bool is_pf() const { return sriov_totalvfs.has_value(); }
  bool is_vf() const { return physfn.has_value(); }
};

std::string pci_device_dir(const PciAddress& a);  // "/sys/bus/pci/devices/0000:03:00.0"

// Every device under /sys/bus/pci/devices, sorted by address.
Result<std::vector<PciAddress>> list_pci_devices(const SysfsRoot& sys);
// Reads one device. A missing device is an error that names it and points to nodedev-list.
Result<PciDevice> read_pci_device(const SysfsRoot& sys, const PciAddress& a);
// The driver currently bound ("" for none).
std::string current_driver(const SysfsRoot& sys, const PciAddress& a);
// The IOMMU group of a device (its iommu_group link); nullopt when it has none (no IOMMU, or a
// device the IOMMU does not translate, such as a host bridge).
Result<std::optional<unsigned>> iommu_group_of(const SysfsRoot& sys, const PciAddress& a);
// Every device in IOMMU group `group` (/sys/kernel/iommu_groups/N/devices), sorted.
Result<std::vector<PciAddress>> iommu_group_members(const SysfsRoot& sys, unsigned group);

// The VFIO group viability rule. VFIO hands a group to user space only when no other device in it can
// do DMA under a host driver: each must be unbound, bound to a vfio driver, or bound to a driver that
// manages DMA itself and does none (pci-stub, pcieport: the kernel's driver_managed_dma drivers since
// Linux 5.19, see pci_dma_configure() and iommu_device_use_default_domain()). Bridges are allowed
// whatever their driver (vfio_dev_driver_allowed() in older kernels: non-normal header types are
// interconnect, not DMA masters). Documentation/driver-api/vfio.rst: "the group is viable only when
// all devices in the group are bound to a vfio bus driver, or unbound".
bool driver_keeps_group_viable(std::string_view driver);
bool keeps_group_viable(const PciDevice& d);

struct GroupBlocker {
  PciAddress address;
  std::string driver;
};
// The other devices of `d`'s group that make it non-viable, ignoring those in `also_detaching`.
Result<std::vector<GroupBlocker>> group_blockers(const SysfsRoot& sys, const PciDevice& d,
                                                 const std::vector<PciAddress>& also_detaching = {});

}  // namespace altovirt::host

// The firmware's boot order: the fw_cfg file "bootorder" that QEMU writes and OVMF reads
// (OvmfPkg/Library/QemuBootOrderLib), one OpenFirmware device path per boot device, in ascending
// bootindex order.
//
// The path of a PCI function is QEMU's (hw/core/qdev-fw.c, hw/pci/pci.c pcibus_get_fw_dev_path):
// "/pci@i0cf8" for the q35 host bridge (named "pci", first I/O port 0xcf8), then one node per PCI
// level "NAME@SLOT[,FN]" (lower-case hex, ",FN" only when the function is not 0), NAME from the class
// code (pci_dev_fw_name: "pci-bridge" for a root port, "scsi" for virtio-blk, "ethernet", ... or
// "pciVVVV,DDDD"), then the device's own suffix ("/disk@0,0" for virtio-blk, "/ethernet-phy@0" for
// a NIC). OVMF translates the PCI part to PciRoot(0x0)/Pci(..)/..., connects only those devices, puts
// the boot options under them first and drops other disk and network options; "pci-bridge" is the
// only bridge name it knows, so a device behind a root port must have the port's node before it.
//
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace altovirt::boot {

struct PciNode {
  uint32_t class_code = 0;  // base class, subclass, programming interface (config bytes 0x0b..0x09)
  uint16_t vendor = 0, device = 0;
  unsigned slot = 0, function = 0;
};

// "scsi@5", "pci-bridge@1c,3", "pci144d,a808@0".
std::string ofw_pci_node(const PciNode& node);

// The whole path of a function on the root bus (no port) or behind a root port, with the device's
// suffix: "/pci@i0cf8/pci-bridge@1c/scsi@0/disk@0,0".
std::string ofw_path(const std::optional<PciNode>& port, const PciNode& function, const std::string& suffix);

// The file's bytes: the paths by bootindex, separated by '\n', the last ending in '\0' (QEMU's
// get_boot_devices_list; OVMF rejects a file whose last byte is not NUL).
std::vector<uint8_t> bootorder_file(const std::map<unsigned, std::string>& paths_by_index);

}  // namespace altovirt::boot

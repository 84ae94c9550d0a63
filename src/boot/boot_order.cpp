#include "altovirt/boot/boot_order.h"

#include <fmt/format.h>

namespace altovirt::boot {

namespace {

// The class codes QEMU's pci_class_descriptions gives an OpenFirmware name (by base class and
// subclass); every other class is named by its vendor and device ids.
const char* class_name(uint32_t class_code) {
  switch (class_code >> 8) {
    case 0x0100: return "scsi";
    case 0x0101: return "ide";
    case 0x0200: return "ethernet";
    case 0x0300: return "display";
    case 0x0604: return "pci-bridge";
    case 0x0c03: return "usb";
    default: return nullptr;
  }
}

}  // namespace

std::string ofw_pci_node(const PciNode& n) {
  std::string name = class_name(n.class_code) ? class_name(n.class_code) : fmt::format("pci{:04x},{:04x}", n.vendor, n.device);
  if (n.function != 0) return fmt::format("{}@{:x},{:x}", name, n.slot, n.function);
  return fmt::format("{}@{:x}", name, n.slot);
}

std::string ofw_path(const std::optional<PciNode>& port, const PciNode& function, const std::string& suffix) {
  std::string path = "/pci@i0cf8";
  if (port) path += "/" + ofw_pci_node(*port);
  return path + "/" + ofw_pci_node(function) + suffix;
}

std::vector<uint8_t> bootorder_file(const std::map<unsigned, std::string>& paths_by_index) {
  std::string text;
  for (const auto& [index, path] : paths_by_index) {
    if (!text.empty()) text += '\n';
    text += path;
  }
  std::vector<uint8_t> bytes(text.begin(), text.end());
  bytes.push_back(0);
  return bytes;
}

}  // namespace altovirt::boot

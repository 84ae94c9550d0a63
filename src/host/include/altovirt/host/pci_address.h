// PCI addresses as users type them: "0000:03:00.0", "03:00.0" (domain 0) or virsh's node-device name
// "pci_0000_03_00_0". Everything else is refused with an error that shows the accepted forms.
//
// Threading: plain values; stateless functions.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "altovirt/base/error.h"

namespace altovirt::host {

struct PciAddress {
  uint32_t domain = 0;
  uint8_t bus = 0;
  uint8_t slot = 0;      // 0..31
  uint8_t function = 0;  // 0..7

  // Canonical sysfs form, "0000:03:00.0".
  std::string str() const;
  // virsh node-device name, "pci_0000_03_00_0".
  std::string node_name() const;
  auto operator<=>(const PciAddress&) const = default;
};

Result<PciAddress> parse_pci_address(std::string_view text);

}  // namespace altovirt::host

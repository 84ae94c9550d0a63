#include "altovirt/vfio/pci_caps.h"

#include <linux/pci_regs.h>

#include <cstring>

namespace altovirt::vfio {
namespace {

uint16_t rd16(std::span<const uint8_t> c, size_t off) { return static_cast<uint16_t>(c[off] | (c[off + 1] << 8)); }
uint32_t rd32(std::span<const uint8_t> c, size_t off) {
  uint32_t v;
  std::memcpy(&v, c.data() + off, 4);
  return v;
}

}  // namespace

Result<DeviceCaps> scan_capabilities(std::span<const uint8_t> config) {
  if (config.size() < PCI_CFG_SPACE_SIZE) return fail("config space snapshot has {} bytes, fewer than 256", config.size());
  DeviceCaps caps;
  if ((rd16(config, PCI_STATUS) & PCI_STATUS_CAP_LIST) != 0) {
    std::set<uint8_t> seen;
    uint8_t off = config[PCI_CAPABILITY_LIST] & 0xfc;
    // Capabilities live above the 64-byte header (PCI 3.0, 6.7); each is visited at most once.
    while (off >= 0x40 && seen.insert(off).second) {
      uint8_t id = config[off];
      caps.standard.push_back({id, off, false});
      if (id == PCI_CAP_ID_MSI) {
        uint16_t flags = rd16(config, off + PCI_MSI_FLAGS);
        caps.msi = MsiInfo{off, (flags & PCI_MSI_FLAGS_64BIT) != 0, (flags & PCI_MSI_FLAGS_MASKBIT) != 0,
                           1u << ((flags & PCI_MSI_FLAGS_QMASK) >> 1)};
      } else if (id == PCI_CAP_ID_MSIX) {
        uint16_t flags = rd16(config, off + PCI_MSIX_FLAGS);
        uint32_t table = rd32(config, off + PCI_MSIX_TABLE);
        uint32_t pba = rd32(config, off + PCI_MSIX_PBA);
        caps.msix = MsixInfo{off, (flags & PCI_MSIX_FLAGS_QSIZE) + 1u, table & PCI_MSIX_TABLE_BIR,
                             table & PCI_MSIX_TABLE_OFFSET, pba & PCI_MSIX_PBA_BIR, pba & PCI_MSIX_PBA_OFFSET};
      } else if (id == PCI_CAP_ID_EXP) {
        caps.pcie = off;
      }
      off = config[off + PCI_CAP_LIST_NEXT] & 0xfc;
    }
  }
  if (caps.pcie && config.size() >= PCI_CFG_SPACE_EXP_SIZE) {
    std::set<uint16_t> seen;
    uint16_t off = PCI_CFG_SPACE_SIZE;
    while (off >= PCI_CFG_SPACE_SIZE && off <= PCI_CFG_SPACE_EXP_SIZE - 4 && seen.insert(off).second) {
      uint32_t header = rd32(config, off);
      // An all-zero header at 0x100 means no extended capabilities (PCIe 4.0, 7.6.3); all ones means none readable.
      if (header == 0 || header == 0xffffffff) break;
      caps.extended.push_back({static_cast<uint16_t>(PCI_EXT_CAP_ID(header)), off, true});
      off = static_cast<uint16_t>(PCI_EXT_CAP_NEXT(header));
    }
  }
  return caps;
}

std::map<uint16_t, uint32_t> hide_extended_caps(const DeviceCaps& caps, std::span<const uint8_t> config,
                                                const std::set<uint16_t>& ids) {
  std::map<uint16_t, uint32_t> headers;
  const auto& ext = caps.extended;
  if (ext.empty()) return headers;
  // The first kept capability after index i, or 0 for the end of the chain.
  auto next_kept = [&](size_t i) -> uint16_t {
    for (size_t j = i + 1; j < ext.size(); ++j)
      if (!ids.contains(ext[j].id)) return ext[j].offset;
    return 0;
  };
  for (size_t i = 0; i < ext.size(); ++i) {
    bool hidden = ids.contains(ext[i].id);
    uint32_t header = rd32(config, ext[i].offset);
    uint16_t next = next_kept(i);
    if (hidden && i == 0) {
      headers[ext[i].offset] = static_cast<uint32_t>(next) << 20;  // null capability, ID 0 version 0
    } else if (!hidden && PCI_EXT_CAP_NEXT(header) != next) {
      headers[ext[i].offset] = (header & 0x000fffff) | (static_cast<uint32_t>(next) << 20);
    }
  }
  return headers;
}

}  // namespace altovirt::vfio

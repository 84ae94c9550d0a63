// The capabilities of a physical PCI function, read from its config space, as the VFIO device model
// needs them: where MSI and MSI-X live (both are emulated), where the MSI-X table and PBA are, and
// how to unlink extended capabilities that must be hidden from the guest (SR-IOV, ARI, Resizable BAR:
// the guest must not create VFs, change the routing interpretation or resize BARs behind the host's
// back).
//
// Pure functions over a config-space snapshot; no state, no threads.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <vector>

#include "altovirt/base/error.h"

namespace altovirt::vfio {

struct CapInfo {
  uint16_t id = 0;
  uint16_t offset = 0;
  bool extended = false;
};

struct MsiInfo {
  uint16_t offset = 0;
  bool is_64bit = false;
  bool per_vector_mask = false;
  unsigned max_vectors = 1;  // from Multiple Message Capable (PCI 3.0, 6.8.1.3)
};

struct MsixInfo {
  uint16_t offset = 0;
  unsigned table_size = 0;  // entries (Table Size field + 1)
  unsigned table_bar = 0;
  uint32_t table_offset = 0;
  unsigned pba_bar = 0;
  uint32_t pba_offset = 0;

  uint64_t table_bytes() const { return uint64_t{table_size} * 16; }
  uint64_t pba_bytes() const { return ((table_size + 63) / 64) * 8; }
};

struct DeviceCaps {
  std::vector<CapInfo> standard;
  std::vector<CapInfo> extended;
  std::optional<MsiInfo> msi;
  std::optional<MsixInfo> msix;
  std::optional<uint16_t> pcie;  // offset of the PCI Express capability
};

// Walks the standard list (from 0x34, PCI 3.0 6.7) and, when `config` holds 4096 bytes and the device
// is PCIe, the extended list (from 0x100, PCIe 4.0 7.6). Malformed lists (pointers into the header,
// loops) are cut where they go wrong, as a guest driver would see them: the error is only for a
// config snapshot shorter than 256 bytes.
Result<DeviceCaps> scan_capabilities(std::span<const uint8_t> config);

// The extended capability headers to present instead of the device's, so that the capabilities with
// the given IDs disappear from the chain: dword offset -> header value. A hidden capability in the
// middle is skipped by its predecessor's next pointer; one at 0x100 (the chain cannot start anywhere
// else) is replaced by a null header (ID 0, version 0) that points on.
std::map<uint16_t, uint32_t> hide_extended_caps(const DeviceCaps& caps, std::span<const uint8_t> config,
                                                const std::set<uint16_t>& ids);

}  // namespace altovirt::vfio

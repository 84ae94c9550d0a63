// MsixCapability: the MSI-X capability structure, vector table and pending-bit array of one
// function, as the PCI Local Bus spec 3.0 section 6.8.2 defines them:
//   - Message Control: enable (bit 15) and function mask (bit 14) writable, table size read-only;
//   - Table: 16 bytes per vector (address low, address high, data, vector control whose bit 0 is
//     the mask), accessed with aligned dword or qword accesses;
//   - PBA: one read-only bit per vector, set while the vector has a message it could not send
//     because it was masked; when the vector is unmasked the message is sent and the bit cleared.
// Every change that matters (enable, masks, a new address/data) goes to the MsiSink, so the same
// model serves an emulated device and a VFIO passthrough device.
//
// Threading: table/PBA accesses come from any vCPU thread and config writes from the config path;
// all state is behind one internal mutex. Sink calls are made with it held.
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/pci/config_space.h"
#include "altovirt/pci/msi_sink.h"

namespace altovirt::pci {

class MsixCapability {
 public:
  static constexpr unsigned kEntrySize = 16;
  // Adds the capability to `config`. The table lives at `table_offset` of BAR `table_bar`, the PBA
  // at `pba_offset` of BAR `pba_bar` (offsets 8-byte aligned). `vectors` in 1..2048.
  static Result<std::unique_ptr<MsixCapability>> create(ConfigSpace& config, MsiSink& sink, unsigned vectors,
                                                        unsigned table_bar, uint32_t table_offset, unsigned pba_bar,
                                                        uint32_t pba_offset);

  unsigned offset() const { return cap_; }
  unsigned vectors() const { return static_cast<unsigned>(entries_.size()); }
  unsigned table_bar() const { return table_bar_; }
  uint32_t table_offset() const { return table_offset_; }
  uint32_t table_size() const { return vectors() * kEntrySize; }
  unsigned pba_bar() const { return pba_bar_; }
  uint32_t pba_offset() const { return pba_offset_; }
  uint32_t pba_size() const { return ((vectors() + 63) / 64) * 8; }

  // True when [offset, offset+len) of BAR `bar` touches the table / the PBA.
  bool in_table(unsigned bar, uint64_t offset, uint64_t len) const;
  bool in_pba(unsigned bar, uint64_t offset, uint64_t len) const;
  // Accesses relative to the table / PBA start. Misaligned or odd-sized accesses read as ones and
  // are dropped when written, as the spec leaves them undefined.
  void table_read(uint64_t offset, std::span<uint8_t> data);
  void table_write(uint64_t offset, std::span<const uint8_t> data);
  void pba_read(uint64_t offset, std::span<uint8_t> data);

  // Call after any guest write to config space that overlaps [offset(), offset() + 12).
  void control_written();
  // The device raises `vector`: delivered now, or left pending while masked or disabled.
  void signal(unsigned vector);
  // For a passthrough device whose hardware reports a pending vector.
  void set_pending(unsigned vector, bool pending);
  bool pending(unsigned vector) const;
  bool enabled() const;
  bool function_masked() const;
  bool vector_masked(unsigned vector) const;
  MsiMessage message(unsigned vector) const;

 private:
  struct Entry {
    uint32_t addr_lo = 0, addr_hi = 0, data = 0, control = 1;  // masked at reset (6.8.2.9)
  };
  MsixCapability(ConfigSpace& config, MsiSink& sink, unsigned cap, unsigned vectors, unsigned table_bar,
                 uint32_t table_offset, unsigned pba_bar, uint32_t pba_offset)
      : config_(config), sink_(sink), cap_(cap), entries_(vectors), pending_((vectors + 63) / 64),
        table_bar_(table_bar), table_offset_(table_offset), pba_bar_(pba_bar), pba_offset_(pba_offset) {}
  bool masked_locked(unsigned v) const;
  void deliver_if_pending_locked(unsigned v);

  ConfigSpace& config_;
  MsiSink& sink_;
  unsigned cap_;
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
  std::vector<uint64_t> pending_;
  bool was_enabled_ = false;
  bool was_fmasked_ = false;
  unsigned table_bar_;
  uint32_t table_offset_;
  unsigned pba_bar_;
  uint32_t pba_offset_;
};

}  // namespace altovirt::pci

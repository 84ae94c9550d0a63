// IoBus: the dispatch of trapped guest accesses (port I/O or MMIO exits) to the device handling an
// address range, with per-region exit counters. An access to no region reads all ones and is
// counted under "unassigned"; it never reaches a device and never fails.
//
// Counters are kept per region name and survive the region's removal (a BAR that moves keeps its
// counts), so stats() can show, e.g. over QMP, which accesses trapped and how often.
//
// Threading: any thread may dispatch, add and remove concurrently. The range map is behind a
// shared_mutex that is NOT held while a handler runs, so a handler may add or remove regions
// (a BAR moved by a config write); the handler's shared_ptr keeps it alive for the call.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <span>
#include <optional>
#include <string>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/base/log.h"
#include "altovirt/devices/io_handler.h"

namespace altovirt::vmm {

struct RegionStats {
  std::string name;
  uint64_t base = 0, size = 0;  // where the region was last registered
  uint64_t reads = 0, writes = 0;
  uint64_t coalesced = 0;  // writes KVM queued without an exit and altovirt replayed (kvm::CoalescedIo)
};

class IoBus {
 public:
  explicit IoBus(std::string kind) : kind_(std::move(kind)) {}

  // Fails (changing nothing) when [base, base+size) overlaps a registered region.
  Status add(uint64_t base, uint64_t size, std::string name, std::shared_ptr<devices::IoHandler> handler);
  // Removes the region starting at `base`; false when there is none.
  bool remove(uint64_t base);

  void read(uint64_t addr, std::span<uint8_t> data);
  void write(uint64_t addr, std::span<const uint8_t> data);
  // A write that reached altovirt through KVM's coalesced ring rather than an exit: the same
  // dispatch, counted apart (it cost the guest no exit).
  void write_coalesced(uint64_t addr, std::span<const uint8_t> data);

  // Every region ever registered (and "unassigned"), with its counts, sorted by name.
  std::vector<RegionStats> stats() const;
  const std::string& kind() const { return kind_; }

 private:
  struct Counter {
    std::atomic<uint64_t> reads{0}, writes{0}, coalesced{0};
    uint64_t base = 0, size = 0;
  };
  struct Region {
    uint64_t size;
    std::string name;
    std::shared_ptr<devices::IoHandler> handler;
    std::shared_ptr<Counter> counter;
  };
  // What one access needs of its region, without a copy of its name (a heap allocation for most
  // names, on every exit; altovirt's own time per exit in the test host went from 14 to 11 us).
  struct Hit {
    std::shared_ptr<devices::IoHandler> handler;  // null: no region
    Counter* counter = nullptr;  // counters_ never drops an entry, so it outlives the region
    uint64_t offset = 0;
  };
  void dispatch_write(uint64_t addr, std::span<const uint8_t> data, bool coalesced);
  // The handler for addr and the offset in its region, or a null handler.
  Hit lookup(uint64_t addr) const;

  std::string kind_;
  mutable std::shared_mutex mutex_;
  std::map<uint64_t, Region> regions_;                       // by base
  std::map<std::string, std::shared_ptr<Counter>> counters_;  // by name
  Counter unassigned_;
};

// A region the guest moves by programming a register (ECAM through PCIEXBAR, the ACPI PM block
// through the LPC's PMBASE). move() takes the region away from where this object put it and adds it
// at the new base; it never removes what it did not add, so a guest that first points the register
// at another device's address (refused) cannot take that device away with its next move. Refusals
// are logged, rate-limited. Threading: not synchronised; its caller serialises moves (the PCI bus's
// config lock).
class MovableRegion {
 public:
  // `name`: the region's on the bus (exit counters); `what`: in log lines ("PCI ECAM").
  MovableRegion(IoBus& bus, std::string name, std::string what, std::shared_ptr<devices::IoHandler> handler,
                std::optional<uint64_t> mapped)
      : bus_(bus), name_(std::move(name)), what_(std::move(what)), handler_(std::move(handler)), mapped_(mapped) {}
  // nullopt: the region stops decoding. Returns whether it decodes at `base` now.
  bool move(std::optional<uint64_t> base, uint64_t size);
  std::optional<uint64_t> mapped() const { return mapped_; }

 private:
  IoBus& bus_;
  std::string name_, what_;
  std::shared_ptr<devices::IoHandler> handler_;
  std::optional<uint64_t> mapped_;
  log::RateLimiter limit_{4, std::chrono::seconds(10)};
};

}  // namespace altovirt::vmm

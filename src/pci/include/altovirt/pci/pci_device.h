// PciDevice: the base of every PCI function on an altovirt bus, emulated or passed through.
//
// The base class owns the ConfigSpace, the standard type-0 header, the BAR definitions and their
// decoding. A subclass customises it through virtual hooks:
//   - config_read/config_write: the whole config space (a VFIO device forwards most of it to the
//     real device and calls the base for the emulated parts: BARs, command, MSI/MSI-X);
//   - bar_read/bar_write: accesses to trapped BAR regions (all of an emulated BAR; the MSI-X pages
//     and unmappable remainder of a passed-through one);
//   - bar_mapping_changed: a BAR's decoded guest address changed (moved, or memory/IO decode was
//     switched in the command register). A VFIO device maps its mmappable BAR parts as KVM memory
//     slots here. The BarListener (the VMM's dispatch bus) is told the same thing afterwards.
//
// Threading: config_* is called with the owning bus's config lock held, so config state needs no
// lock of its own. bar_read/bar_write are called from any vCPU thread concurrently; a device locks
// its own BAR-side state. bar_mapping_changed and the listener are called from config_write (same
// lock held).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>

#include "altovirt/base/error.h"
#include "altovirt/pci/config_space.h"

namespace altovirt::pci {

inline constexpr unsigned kNumBars = 6;

enum class BarKind { none, io, mem32, mem64 };

struct BarSpec {
  BarKind kind = BarKind::none;
  uint64_t size = 0;  // a power of two; at least 16 for memory, 4 for I/O (PCI 3.0 6.2.5.1)
  bool prefetchable = false;
};

class PciDevice;

class BarListener {
 public:
  virtual ~BarListener() = default;
  // `old_addr`/`new_addr`: the guest address the BAR decoded at before and after, nullopt when it
  // did not decode (decode disabled, or not programmed).
  virtual void bar_mapping_changed(PciDevice& device, unsigned bar, std::optional<uint64_t> old_addr,
                                   std::optional<uint64_t> new_addr) = 0;
};

// Devices live in shared_ptrs (the bus holds them); the VMM's BAR dispatch keeps weak references.
class PciDevice : public std::enable_shared_from_this<PciDevice> {
 public:
  PciDevice(std::string name, uint16_t vendor, uint16_t device, uint32_t class_code, uint8_t revision);
  virtual ~PciDevice() = default;
  PciDevice(const PciDevice&) = delete;
  PciDevice& operator=(const PciDevice&) = delete;

  const std::string& name() const { return name_; }

  // The function's requester id (bus << 8 | devfn, PCIe 5.0 2.2.6.2) as the guest numbers buses
  // now, which its MSIs carry to a GICv3 ITS; nullopt while it is not on a bus. The machine sets
  // how to find it when it places the function (behind a root port it follows the port's
  // secondary bus number, which the guest may renumber). Any thread.
  std::optional<uint32_t> requester_id() const;
  void set_requester_resolver(std::function<std::optional<uint32_t>()> resolver);

  virtual uint32_t config_read(unsigned offset, unsigned size);
  virtual void config_write(unsigned offset, unsigned size, uint32_t value);
  // Trapped BAR accesses; `offset` is from the BAR's start. The default reads all ones, drops writes.
  virtual void bar_read(unsigned bar, uint64_t offset, std::span<uint8_t> data);
  virtual void bar_write(unsigned bar, uint64_t offset, std::span<const uint8_t> data);

  const BarSpec& bar(unsigned index) const { return bars_[index]; }
  // Where BAR `index` decodes now: its address when it is programmed and its decode (command
  // register I/O or memory space bit) is on, else nullopt.
  std::optional<uint64_t> bar_address(unsigned index) const;
  // Programs a BAR as firmware would (the guest may move it later). Does not enable decode.
  void program_bar(unsigned index, uint64_t address);
  // Sets the command register's decode bits (as firmware would), telling listeners.
  void enable_decode(bool io, bool memory);
  // Clears both decode bits, telling listeners: a hot-removed device's BARs leave the guest's
  // address space (Linux leaves Memory Space on when it lets go of a device).
  void disable_decode();

  void set_bar_listener(BarListener* listener) { listener_ = listener; }
  void set_multifunction(bool on);
  ConfigSpace& config() { return config_; }
  const ConfigSpace& config() const { return config_; }

 protected:
  // Declares BAR `index` (a 64-bit BAR also takes index + 1). Call from the constructor.
  Status define_bar(unsigned index, BarSpec spec);
  virtual void bar_mapping_changed(unsigned /*bar*/, std::optional<uint64_t> /*old_addr*/,
                                   std::optional<uint64_t> /*new_addr*/) {}
  // Applies a guest config write to config_ and reports BAR decode changes; for subclasses that
  // override config_write and still want the standard behaviour for part of the space.
  void standard_config_write(unsigned offset, unsigned size, uint32_t value);

  ConfigSpace config_;

 private:
  mutable std::mutex requester_mutex_;
  std::function<std::optional<uint32_t>()> requester_;
  std::array<std::optional<uint64_t>, kNumBars> decoded() const;
  std::string name_;
  std::array<BarSpec, kNumBars> bars_{};
  BarListener* listener_ = nullptr;
};

}  // namespace altovirt::pci

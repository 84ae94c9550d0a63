// MsiCapability: the MSI capability (PCI Local Bus spec 3.0 section 6.8.1) with 64-bit addresses
// and per-vector masking: Message Control (enable and Multiple Message Enable writable, Multiple
// Message Capable read-only), address, data, mask bits (RW) and pending bits (RO). Vector i of an
// MME-enabled block sends data | i in the low bits (6.8.1.6).
//
// Threading: everything, signal() included, runs on the config path (the bus's config lock held, or
// before the VM runs): the mask and pending bits live in config space, which only that path may
// touch. An emulated device that raises MSI from its own thread must take the bus's config lock.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>

#include "altovirt/base/error.h"
#include "altovirt/pci/config_space.h"
#include "altovirt/pci/msi_sink.h"

namespace altovirt::pci {

class MsiCapability {
 public:
  // `vectors`: 1, 2, 4, 8, 16 or 32.
  static Result<std::unique_ptr<MsiCapability>> create(ConfigSpace& config, MsiSink& sink, unsigned vectors);

  unsigned offset() const { return cap_; }
  static constexpr unsigned kSize = 24;  // 64-bit, per-vector masking layout
  // Call after any guest config write overlapping [offset(), offset() + kSize).
  void config_written();
  void signal(unsigned vector);
  bool enabled() const;
  unsigned enabled_vectors() const;
  MsiMessage message(unsigned vector) const;

 private:
  MsiCapability(ConfigSpace& config, MsiSink& sink, unsigned cap) : config_(config), sink_(sink), cap_(cap) {}
  bool masked_locked(unsigned v) const;
  ConfigSpace& config_;
  MsiSink& sink_;
  unsigned cap_;
  mutable std::mutex mutex_;
  bool was_enabled_ = false;
  unsigned was_vectors_ = 0;
  MsiMessage last_[32];
  bool last_masked_[32] = {};
};

}  // namespace altovirt::pci

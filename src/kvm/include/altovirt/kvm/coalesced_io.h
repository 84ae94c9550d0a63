// CoalescedIo: KVM's coalesced I/O ring (Documentation/virt/kvm/api.rst: KVM_REGISTER_COALESCED_MMIO,
// KVM_CAP_COALESCED_MMIO, KVM_CAP_COALESCED_PIO). A guest write into a registered zone does not exit
// to userspace: KVM appends it to a ring in one page of every vCPU's kvm_run mapping and lets the
// vCPU run on. Userspace replays the ring, oldest first, before it handles any exit, so a device
// sees each such write before any later access that does exit. Only for registers whose writes have
// no effect until a later access (the PCI configuration address register 0xCF8: its effect is what
// the next 0xCFC access reads or writes), as QEMU does for 0xCF8.
//
// Threading: drain() may be called from every vCPU thread at once; it serialises them (the ring is
// one per VM) and replays each entry exactly once, on the thread that took it.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>

#include "altovirt/base/error.h"
#include "altovirt/kvm/kvm.h"
#include "altovirt/kvm/vm.h"

namespace altovirt::kvm {

struct CoalescedWrite {
  bool pio;       // port I/O (else MMIO)
  uint64_t addr;  // port or guest physical address
  std::span<const uint8_t> data;
};

class CoalescedIo {
 public:
  // The ring's page offset in a vCPU's kvm_run mapping, when this KVM coalesces port I/O writes
  // (KVM_CAP_COALESCED_MMIO answers the offset; KVM_CAP_COALESCED_PIO says ports are allowed).
  static std::optional<unsigned> ring_page(const Kvm& kvm);
  // Registers [base, base + size) of port I/O (pio) or MMIO as coalesced on `vm`.
  static Status register_zone(Vm& vm, uint64_t base, uint32_t size, bool pio);

  // The ring page at `page`, inside a vCPU's kvm_run mapping (or a test's page), laid out as the
  // kernel lays it out: u32 first, u32 last, then the entries at kEntriesOffset.
  CoalescedIo(void* page, size_t page_size);

  // Where the entries start. Not offsetof(kvm_coalesced_mmio_ring, coalesced_mmio): Linux 6.1's
  // header declares them with __DECLARE_FLEX_ARRAY, whose C++ expansion (an empty struct, size 1 in
  // C++) moves them to offset 16 in a C++ program, while the kernel (C) puts them at 8.
  static constexpr size_t kEntriesOffset = 2 * sizeof(uint32_t);

  // Replays every queued write, oldest first, and frees its slot. Entries are the kernel's, but an
  // index or length out of range is never followed: the ring is then dropped as corrupt.
  // Returns the number replayed.
  size_t drain(const std::function<void(const CoalescedWrite&)>& replay);

 private:
  uint32_t* first_;  // advanced by us
  uint32_t* last_;   // advanced by KVM
  kvm_coalesced_mmio* entries_;
  uint32_t max_;  // entries that fit the page: the kernel's KVM_COALESCED_MMIO_MAX
  std::mutex mutex_;
};

}  // namespace altovirt::kvm

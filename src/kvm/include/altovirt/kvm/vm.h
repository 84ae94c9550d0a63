// Vm: one KVM virtual machine (the fd from KVM_CREATE_VM) with its in-kernel interrupt controllers
// (PIC, IOAPIC, local APICs) and PIT, and the memory slots that map host memory into guest physical
// address space.
//
// MemorySlot is the RAII handle of one KVM memory slot: the slot number comes from the Vm's slot
// allocator and the mapping is removed (memory_size 0) when the handle is destroyed, so device
// memory (a passed-through BAR) disappears from the guest exactly when its owner lets go of it.
//
// Threading: every Vm method may be called from any thread (the kernel serialises the ioctls; the
// slot allocator has its own lock). A MemorySlot must not outlive its Vm.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/base/fd.h"
#include "altovirt/kvm/gsi.h"
#include "altovirt/kvm/kvm.h"

namespace altovirt::kvm {

class Vm;

class MemorySlot {
 public:
  MemorySlot() = default;
  ~MemorySlot() { reset(); }
  MemorySlot(const MemorySlot&) = delete;
  MemorySlot& operator=(const MemorySlot&) = delete;
  MemorySlot(MemorySlot&& o) noexcept { *this = std::move(o); }
  MemorySlot& operator=(MemorySlot&& o) noexcept;

  bool valid() const { return vm_ != nullptr; }
  uint32_t slot() const { return slot_; }
  uint64_t gpa() const { return gpa_; }
  uint64_t size() const { return size_; }
  // Removes the mapping from the guest and frees the slot number.
  void reset();

 private:
  friend class Vm;
  Vm* vm_ = nullptr;
  uint32_t slot_ = 0;
  uint64_t gpa_ = 0;
  uint64_t size_ = 0;
};

class Vm {
 public:
  // Heap-allocated because MemorySlots point back at it: a Vm never moves.
  static Result<std::unique_ptr<Vm>> create(const Kvm& kvm);
  Vm(Vm&&) = delete;
  Vm& operator=(Vm&&) = delete;
  Vm(const Vm&) = delete;
  ~Vm();

  int fd() const { return fd_.get(); }

#if defined(__x86_64__)
  // The in-kernel PIC + IOAPIC + local APICs and the PIT (with the PC speaker port emulated as a
  // dummy so that port 0x61 never exits). Must be called before any vCPU is created.
  // (src/kvm/x86/vm_x86.cpp)
  Status create_irqchip_and_pit();
#endif

  // Maps `size` bytes at `host` to guest physical `gpa`. Both must be page aligned.
  Result<MemorySlot> map_memory(uint64_t gpa, uint64_t size, void* host, bool read_only, std::string_view what);

  // Drives an irqchip input to `level`: x86, an IOAPIC/PIC input (an ISA IRQ or a GSI); arm64, the
  // GIC's shared peripheral interrupt `gsi` (INTID 32 + gsi). (src/kvm/<arch>/vm_<arch>.cpp)
  Status set_irq_line(uint32_t gsi, bool level);
  // Injects one MSI (KVM_SIGNAL_MSI), for emulated devices' interrupts.
  // `devid`: the requester, when the irqchip needs it (see set_msi_devid_required).
  Status signal_msi(const MsiMessage& msg, std::optional<uint32_t> devid = std::nullopt);

  // MSIs carry their requester id (KVM_MSI_VALID_DEVID): set once, by the board, when its
  // irqchip has a GICv3 ITS, before any route exists.
  void set_msi_devid_required(bool required) { msi_devid_ = required; }
  bool msi_devid_required() const { return msi_devid_; }

  unsigned max_slots() const { return max_slots_; }
  unsigned slots_in_use() const;

 private:
  friend class MemorySlot;
  Vm(UniqueFd fd, unsigned max_slots) : fd_(std::move(fd)), max_slots_(max_slots), used_(max_slots, false) {}
  void release_slot(uint32_t slot, uint64_t gpa);

  UniqueFd fd_;
  unsigned max_slots_;
  bool msi_devid_ = false;
  mutable std::mutex slots_mutex_;
  std::vector<bool> used_;
};

}  // namespace altovirt::kvm

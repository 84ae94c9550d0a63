#include "altovirt/kvm/vm.h"

#include <sys/ioctl.h>

#include "altovirt/base/log.h"

namespace altovirt::kvm {

MemorySlot& MemorySlot::operator=(MemorySlot&& o) noexcept {
  if (this != &o) {
    reset();
    vm_ = std::exchange(o.vm_, nullptr);
    slot_ = o.slot_;
    gpa_ = o.gpa_;
    size_ = o.size_;
  }
  return *this;
}

void MemorySlot::reset() {
  if (vm_ != nullptr) vm_->release_slot(slot_, gpa_);
  vm_ = nullptr;
}

Result<std::unique_ptr<Vm>> Vm::create(const Kvm& kvm) {
  UniqueFd fd(::ioctl(kvm.fd(), KVM_CREATE_VM, 0));
  if (!fd) return fail_errno(errno, "KVM_CREATE_VM");
  int slots = kvm.check(KVM_CAP_NR_MEMSLOTS);
  if (slots <= 0) slots = 32;  // the documented minimum before the capability existed
  return std::unique_ptr<Vm>(new Vm(std::move(fd), static_cast<unsigned>(slots)));
}

Vm::~Vm() = default;

Result<MemorySlot> Vm::map_memory(uint64_t gpa, uint64_t size, void* host, bool read_only, std::string_view what) {
  if ((gpa | size | reinterpret_cast<uint64_t>(host)) & 0xfff)
    return fail("mapping {} at {:#x} (+{:#x}): address, size and host memory must be 4 KiB aligned", what, gpa, size);
  uint32_t slot = 0;
  {
    std::lock_guard lock(slots_mutex_);
    while (slot < max_slots_ && used_[slot]) ++slot;
    if (slot == max_slots_) return fail("mapping {} at {:#x}: all {} KVM memory slots are in use", what, gpa, max_slots_);
    used_[slot] = true;
  }
  kvm_userspace_memory_region r{};
  r.slot = slot;
  r.flags = read_only ? KVM_MEM_READONLY : 0;
  r.guest_phys_addr = gpa;
  r.memory_size = size;
  r.userspace_addr = reinterpret_cast<uint64_t>(host);
  if (::ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &r) != 0) {
    int err = errno;
    std::lock_guard lock(slots_mutex_);
    used_[slot] = false;
    return fail_errno(err, "mapping {} at guest address {:#x} (+{:#x}) as KVM memory slot {}", what, gpa, size, slot);
  }
  MemorySlot s;
  s.vm_ = this;
  s.slot_ = slot;
  s.gpa_ = gpa;
  s.size_ = size;
  return s;
}

void Vm::release_slot(uint32_t slot, uint64_t gpa) {
  kvm_userspace_memory_region r{};
  r.slot = slot;
  r.guest_phys_addr = gpa;
  r.memory_size = 0;  // "deleting a slot is done by passing zero for memory_size" (KVM API doc 4.35)
  if (::ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &r) != 0)
    log::error("kvm", "removing KVM memory slot {} at {:#x}: {}", slot, gpa, strerrordesc_np(errno));
  std::lock_guard lock(slots_mutex_);
  used_[slot] = false;
}

unsigned Vm::slots_in_use() const {
  std::lock_guard lock(slots_mutex_);
  unsigned n = 0;
  for (bool b : used_) n += b;
  return n;
}

Status Vm::signal_msi(const MsiMessage& msg, std::optional<uint32_t> devid) {
  kvm_msi m{};
  m.address_lo = static_cast<uint32_t>(msg.address);
  m.address_hi = static_cast<uint32_t>(msg.address >> 32);
  m.data = msg.data;
  if (msi_devid_ && devid) {
    m.flags = KVM_MSI_VALID_DEVID;
    m.devid = *devid;
  }
  // Returns >0 when delivered, 0 when the guest blocked it: both fine.
  if (::ioctl(fd_.get(), KVM_SIGNAL_MSI, &m) < 0) return fail_errno(errno, "KVM_SIGNAL_MSI");
  return ok();
}

}  // namespace altovirt::kvm

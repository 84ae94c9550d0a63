#include "altovirt/kvm/coalesced_io.h"

#include <sys/ioctl.h>

#include <algorithm>
#include <array>
#include <cerrno>

namespace altovirt::kvm {

std::optional<unsigned> CoalescedIo::ring_page(const Kvm& kvm) {
  int page = kvm.check(KVM_CAP_COALESCED_MMIO);
  if (page <= 0 || kvm.check(KVM_CAP_COALESCED_PIO) <= 0) return std::nullopt;
  return static_cast<unsigned>(page);
}

Status CoalescedIo::register_zone(Vm& vm, uint64_t base, uint32_t size, bool pio) {
  kvm_coalesced_mmio_zone zone{};
  zone.addr = base;
  zone.size = size;
  zone.pio = pio ? 1 : 0;
  if (::ioctl(vm.fd(), KVM_REGISTER_COALESCED_MMIO, &zone) != 0)
    return fail_errno(errno, "KVM_REGISTER_COALESCED_MMIO {} {:#x}+{:#x}", pio ? "port" : "MMIO", base, size);
  return ok();
}

CoalescedIo::CoalescedIo(void* page, size_t page_size)
    : first_(static_cast<uint32_t*>(page)),
      last_(static_cast<uint32_t*>(page) + 1),
      entries_(reinterpret_cast<kvm_coalesced_mmio*>(static_cast<uint8_t*>(page) + kEntriesOffset)),
      max_(static_cast<uint32_t>((page_size - kEntriesOffset) / sizeof(kvm_coalesced_mmio))) {}

size_t CoalescedIo::drain(const std::function<void(const CoalescedWrite&)>& replay) {
  std::lock_guard lock(mutex_);
  size_t n = 0;
  // The kernel writes an entry, then publishes it by advancing `last` (smp_wmb in
  // coalesced_mmio_write); we read `last` with acquire, the entry, then give the slot back by
  // advancing `first` with release, so the kernel never overwrites an entry being read.
  for (;;) {
    uint32_t first = __atomic_load_n(first_, __ATOMIC_RELAXED);
    uint32_t last = __atomic_load_n(last_, __ATOMIC_ACQUIRE);
    if (first == last) break;
    if (first >= max_ || last >= max_) {  // not a ring the kernel keeps: never index with it
      __atomic_store_n(first_, last < max_ ? last : 0, __ATOMIC_RELEASE);
      break;
    }
    const kvm_coalesced_mmio& e = entries_[first];
    std::array<uint8_t, 8> data{};
    uint32_t len = std::min<uint32_t>(e.len, data.size());
    std::copy_n(e.data, len, data.begin());
    CoalescedWrite w{e.pio != 0, e.phys_addr, std::span<const uint8_t>(data.data(), len)};
    __atomic_store_n(first_, (first + 1) % max_, __ATOMIC_RELEASE);
    replay(w);
    ++n;
  }
  return n;
}

}  // namespace altovirt::kvm

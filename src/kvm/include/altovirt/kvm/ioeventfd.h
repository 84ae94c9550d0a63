// IoEventFd: a KVM ioeventfd (KVM_IOEVENTFD): the kernel signals an eventfd when the guest writes to
// an MMIO address, without leaving KVM, which is how a virtio queue notify reaches the device's I/O
// thread. Registered with length 0 (any write length, KVM_CAP_IOEVENTFD_ANY_LENGTH, Linux 4.5+),
// which is also KVM's fast MMIO path. RAII: deassigned when destroyed.
//
// Threading: a move-only handle; create/destroy from any thread (KVM serialises the ioctls).
#pragma once

#include <cstdint>

#include "altovirt/base/error.h"

namespace altovirt::kvm {

class Vm;

class IoEventFd {
 public:
  IoEventFd() = default;
  ~IoEventFd() { reset(); }
  IoEventFd(const IoEventFd&) = delete;
  IoEventFd& operator=(const IoEventFd&) = delete;
  IoEventFd(IoEventFd&& o) noexcept { *this = std::move(o); }
  IoEventFd& operator=(IoEventFd&& o) noexcept;

  static Result<IoEventFd> assign_mmio(Vm& vm, uint64_t gpa, int eventfd);
  bool valid() const { return vm_fd_ >= 0; }
  void reset();

 private:
  int vm_fd_ = -1;
  int eventfd_ = -1;
  uint64_t gpa_ = 0;
};

}  // namespace altovirt::kvm

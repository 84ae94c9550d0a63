#include "altovirt/kvm/ioeventfd.h"

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <utility>

#include "altovirt/base/log.h"
#include "altovirt/kvm/vm.h"

namespace altovirt::kvm {

IoEventFd& IoEventFd::operator=(IoEventFd&& o) noexcept {
  if (this != &o) {
    reset();
    vm_fd_ = std::exchange(o.vm_fd_, -1);
    eventfd_ = o.eventfd_;
    gpa_ = o.gpa_;
  }
  return *this;
}

Result<IoEventFd> IoEventFd::assign_mmio(Vm& vm, uint64_t gpa, int eventfd) {
  kvm_ioeventfd e{};
  e.addr = gpa;
  e.len = 0;
  e.fd = eventfd;
  if (::ioctl(vm.fd(), KVM_IOEVENTFD, &e) != 0) return fail_errno(errno, "KVM_IOEVENTFD at {:#x}", gpa);
  IoEventFd r;
  r.vm_fd_ = vm.fd();
  r.eventfd_ = eventfd;
  r.gpa_ = gpa;
  return r;
}

void IoEventFd::reset() {
  if (vm_fd_ < 0) return;
  kvm_ioeventfd e{};
  e.addr = gpa_;
  e.len = 0;
  e.fd = eventfd_;
  e.flags = KVM_IOEVENTFD_FLAG_DEASSIGN;
  if (::ioctl(vm_fd_, KVM_IOEVENTFD, &e) != 0)
    log::error("kvm", "deassigning the ioeventfd at {:#x}: {}", gpa_, strerrordesc_np(errno));
  vm_fd_ = -1;
}

}  // namespace altovirt::kvm

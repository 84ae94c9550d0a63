// The arm64 parts of a Vm: the input lines of the in-kernel GIC.
#include <sys/ioctl.h>

#include "altovirt/kvm/vm.h"

namespace altovirt::kvm {

// KVM_IRQ_LINE on arm64 takes (type << 24) | (vcpu << 16) | INTID; a shared peripheral interrupt
// (type 1) names its INTID, 32 and up (Documentation/virt/kvm/api.rst, KVM_IRQ_LINE).
Status Vm::set_irq_line(uint32_t gsi, bool level) {
  kvm_irq_level l{};
  l.irq = (KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT) | (gsi + 32);
  l.level = level ? 1 : 0;
  if (::ioctl(fd_.get(), KVM_IRQ_LINE, &l) != 0) return fail_errno(errno, "KVM_IRQ_LINE SPI {} {}", gsi, level);
  return ok();
}

}  // namespace altovirt::kvm

// The arm64 register interface of a Vcpu: KVM_ARM_VCPU_INIT and the ONE_REG accessors
// (Documentation/virt/kvm/api.rst 4.82/4.68; register ids from asm/kvm.h).
#include <sys/ioctl.h>

#include <cstddef>

#include "altovirt/kvm/vcpu.h"

namespace altovirt::kvm {

Status Vcpu::arm_init(const Vm& vm, bool powered_off) {
  kvm_vcpu_init init{};
  if (::ioctl(vm.fd(), KVM_ARM_PREFERRED_TARGET, &init) != 0)
    return fail_errno(errno, "KVM_ARM_PREFERRED_TARGET (does this host's KVM run arm64 guests?)");
  init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
  if (powered_off) init.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF;
  if (::ioctl(fd_.get(), KVM_ARM_VCPU_INIT, &init) != 0) return fail_errno(errno, "KVM_ARM_VCPU_INIT on vCPU {}", index_);
  return ok();
}

Status Vcpu::set_one_reg(uint64_t id, uint64_t value) {
  kvm_one_reg r{.id = id, .addr = reinterpret_cast<uint64_t>(&value)};
  if (::ioctl(fd_.get(), KVM_SET_ONE_REG, &r) != 0) return fail_errno(errno, "KVM_SET_ONE_REG {:#x} on vCPU {}", id, index_);
  return ok();
}

Result<uint64_t> Vcpu::one_reg(uint64_t id) const {
  uint64_t value = 0;
  kvm_one_reg r{.id = id, .addr = reinterpret_cast<uint64_t>(&value)};
  if (::ioctl(fd_.get(), KVM_GET_ONE_REG, &r) != 0) return fail_errno(errno, "KVM_GET_ONE_REG {:#x} on vCPU {}", id, index_);
  return value;
}

Result<uint64_t> Vcpu::pc() const {
  return one_reg(KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE |
                 (offsetof(kvm_regs, regs.pc) / sizeof(uint32_t)));
}

}  // namespace altovirt::kvm

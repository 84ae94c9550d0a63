// The x86 register interface of a Vcpu (CPUID, MSRs, general, segment and FPU registers), and the
// CPUID KVM supports.
#include <sys/ioctl.h>

#include "altovirt/kvm/flex_ioctl.h"
#include "altovirt/kvm/vcpu.h"

namespace altovirt::kvm {

Status Vcpu::set_cpuid(const std::vector<kvm_cpuid_entry2>& entries) {
  flex::Buffer<kvm_cpuid_entry2> buf(entries);
  if (::ioctl(fd_.get(), flex::kSetCpuid2, buf.data()) != 0) return fail_errno(errno, "KVM_SET_CPUID2 on vCPU {}", index_);
  return ok();
}

Status Vcpu::set_msrs(const MsrList& msrs) {
  std::vector<kvm_msr_entry> entries(msrs.size());
  for (size_t i = 0; i < msrs.size(); ++i) {
    entries[i].index = msrs[i].first;
    entries[i].data = msrs[i].second;
  }
  flex::Buffer<kvm_msr_entry> buf(entries);
  // KVM_SET_MSRS returns how many it set; a short count names the first one refused.
  int r = ::ioctl(fd_.get(), flex::kSetMsrs, buf.data());
  if (r < 0) return fail_errno(errno, "KVM_SET_MSRS on vCPU {}", index_);
  if (static_cast<size_t>(r) != msrs.size())
    return fail("KVM_SET_MSRS on vCPU {}: MSR {:#x} was refused", index_, msrs[static_cast<size_t>(r)].first);
  return ok();
}

Result<kvm_regs> Vcpu::regs() const {
  kvm_regs r{};
  if (::ioctl(fd_.get(), KVM_GET_REGS, &r) != 0) return fail_errno(errno, "KVM_GET_REGS on vCPU {}", index_);
  return r;
}
Status Vcpu::set_regs(const kvm_regs& r) {
  if (::ioctl(fd_.get(), KVM_SET_REGS, &r) != 0) return fail_errno(errno, "KVM_SET_REGS on vCPU {}", index_);
  return ok();
}
Result<kvm_sregs> Vcpu::sregs() const {
  kvm_sregs s{};
  if (::ioctl(fd_.get(), KVM_GET_SREGS, &s) != 0) return fail_errno(errno, "KVM_GET_SREGS on vCPU {}", index_);
  return s;
}
Status Vcpu::set_sregs(const kvm_sregs& s) {
  if (::ioctl(fd_.get(), KVM_SET_SREGS, &s) != 0) return fail_errno(errno, "KVM_SET_SREGS on vCPU {}", index_);
  return ok();
}
Status Vcpu::set_fpu(const kvm_fpu& f) {
  if (::ioctl(fd_.get(), KVM_SET_FPU, &f) != 0) return fail_errno(errno, "KVM_SET_FPU on vCPU {}", index_);
  return ok();
}

Result<std::vector<kvm_cpuid_entry2>> Kvm::supported_cpuid() const {
  // The kernel says E2BIG when the buffer is too small; grow until it fits.
  for (unsigned n = 128; n <= 4096; n *= 2) {
    flex::Buffer<kvm_cpuid_entry2> buf(n);
    if (::ioctl(fd_.get(), flex::kGetSupportedCpuid, buf.data()) == 0) return buf.entries();
    if (errno != E2BIG) return fail_errno(errno, "KVM_GET_SUPPORTED_CPUID");
  }
  return fail("KVM_GET_SUPPORTED_CPUID: more than 4096 entries");
}

}  // namespace altovirt::kvm

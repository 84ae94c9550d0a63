#include "altovirt/kvm/vcpu.h"

#include <sys/ioctl.h>

#include <memory>

#include "altovirt/kvm/flex_ioctl.h"

namespace altovirt::kvm {

Result<Vcpu> Vcpu::create(const Kvm& kvm, Vm& vm, unsigned index) {
  UniqueFd fd(::ioctl(vm.fd(), KVM_CREATE_VCPU, index));
  if (!fd) return fail_errno(errno, "KVM_CREATE_VCPU {}", index);
  AV_TRY_ASSIGN(size_t size, kvm.vcpu_mmap_size());
  AV_TRY_ASSIGN(Mapping run, Mapping::map_fd(fd.get(), size, PROT_READ | PROT_WRITE, MAP_SHARED, 0, "kvm_run"));
  return Vcpu(index, std::move(fd), std::move(run));
}

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
Result<uint32_t> Vcpu::mp_state() const {
  kvm_mp_state m{};
  if (::ioctl(fd_.get(), KVM_GET_MP_STATE, &m) != 0) return fail_errno(errno, "KVM_GET_MP_STATE on vCPU {}", index_);
  return m.mp_state;
}
Status Vcpu::set_fpu(const kvm_fpu& f) {
  if (::ioctl(fd_.get(), KVM_SET_FPU, &f) != 0) return fail_errno(errno, "KVM_SET_FPU on vCPU {}", index_);
  return ok();
}

Status Vcpu::run() {
  if (::ioctl(fd_.get(), KVM_RUN, 0) != 0) {
    int err = errno;
    if (err == EINTR) __atomic_store_n(&run_state()->immediate_exit, 0, __ATOMIC_SEQ_CST);
    return fail_errno(err, "KVM_RUN on vCPU {}", index_);
  }
  return ok();
}

}  // namespace altovirt::kvm

#include "altovirt/kvm/vcpu.h"

#include <sys/ioctl.h>

#include <memory>


namespace altovirt::kvm {

Result<Vcpu> Vcpu::create(const Kvm& kvm, Vm& vm, unsigned index) {
  UniqueFd fd(::ioctl(vm.fd(), KVM_CREATE_VCPU, index));
  if (!fd) return fail_errno(errno, "KVM_CREATE_VCPU {}", index);
  AV_TRY_ASSIGN(size_t size, kvm.vcpu_mmap_size());
  AV_TRY_ASSIGN(Mapping run, Mapping::map_fd(fd.get(), size, PROT_READ | PROT_WRITE, MAP_SHARED, 0, "kvm_run"));
  return Vcpu(index, std::move(fd), std::move(run));
}

Result<uint32_t> Vcpu::mp_state() const {
  kvm_mp_state m{};
  if (::ioctl(fd_.get(), KVM_GET_MP_STATE, &m) != 0) return fail_errno(errno, "KVM_GET_MP_STATE on vCPU {}", index_);
  return m.mp_state;
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

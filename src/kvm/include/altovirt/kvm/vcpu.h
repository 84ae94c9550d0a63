// Vcpu: one KVM virtual CPU (fd from KVM_CREATE_VCPU) and its shared kvm_run area.
//
// Threading: created on any thread, then owned by one vCPU thread that calls run() and the
// register accessors. request_exit() is the one method meant for other threads: it sets
// kvm_run.immediate_exit, which the owner's next (or current, after a signal) KVM_RUN honours.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/base/fd.h"
#include "altovirt/base/mapping.h"
#include "altovirt/kvm/kvm.h"
#include "altovirt/kvm/vm.h"

namespace altovirt::kvm {

using MsrList = std::vector<std::pair<uint32_t, uint64_t>>;

class Vcpu {
 public:
  static Result<Vcpu> create(const Kvm& kvm, Vm& vm, unsigned index);

  unsigned index() const { return index_; }
  int fd() const { return fd_.get(); }
  kvm_run* run_state() const { return static_cast<kvm_run*>(run_.addr()); }

#if defined(__x86_64__)
  // The x86 register interface (src/kvm/x86/vcpu_x86.cpp).
  Status set_cpuid(const std::vector<kvm_cpuid_entry2>& entries);
  Status set_msrs(const MsrList& msrs);
  Result<kvm_regs> regs() const;
  Status set_regs(const kvm_regs& regs);
  Result<kvm_sregs> sregs() const;
  Status set_sregs(const kvm_sregs& sregs);
  Status set_fpu(const kvm_fpu& fpu);
#elif defined(__aarch64__)
  // The arm64 register interface (src/kvm/arm64/vcpu_arm64.cpp). arm_init: KVM_ARM_VCPU_INIT with
  // the host's preferred target and PSCI 0.2 (KVM implements PSCI: CPU_ON, SYSTEM_OFF/RESET reach
  // user space as KVM_EXIT_SYSTEM_EVENT); `powered_off` starts a secondary CPU waiting for CPU_ON.
  Status arm_init(const Vm& vm, bool powered_off);
  Status set_one_reg(uint64_t id, uint64_t value);
  Result<uint64_t> one_reg(uint64_t id) const;
  // The program counter, for diagnosis (regs.pc).
  Result<uint64_t> pc() const;
#endif
  // KVM_MP_STATE_* (runnable, halted, ...); meaningful while the owner is outside KVM_RUN.
  Result<uint32_t> mp_state() const;

  // One KVM_RUN. An error with sys_errno() EINTR means a signal (or immediate_exit) interrupted it.
  Status run();
  // Makes the current or next KVM_RUN return EINTR. Pair with a signal to the vCPU thread.
  void request_exit() { __atomic_store_n(&run_state()->immediate_exit, 1, __ATOMIC_SEQ_CST); }

 private:
  Vcpu(unsigned index, UniqueFd fd, Mapping run) : index_(index), fd_(std::move(fd)), run_(std::move(run)) {}
  unsigned index_;
  UniqueFd fd_;
  Mapping run_;
};

}  // namespace altovirt::kvm

// Kvm: the /dev/kvm system file descriptor and the questions asked of it (API version, capabilities,
// supported CPUID, size of the per-vCPU kvm_run area).
//
// Threading: immutable after open(); every method may be called from any thread.
#pragma once

#include <linux/kvm.h>

#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/base/fd.h"

namespace altovirt::kvm {

class Kvm {
 public:
  // Opens /dev/kvm and checks the API version and the capabilities altovirt cannot run without.
  static Result<Kvm> open();

  int fd() const { return fd_.get(); }
  // KVM_CHECK_EXTENSION; 0 when the capability is missing.
  int check(int capability) const;
  Result<size_t> vcpu_mmap_size() const;
#if defined(__x86_64__)
  // KVM_GET_SUPPORTED_CPUID: what this host's KVM can show a guest, the base of every vCPU's CPUID
  // (src/kvm/x86/vcpu_x86.cpp).
  Result<std::vector<kvm_cpuid_entry2>> supported_cpuid() const;
#endif

 private:
  explicit Kvm(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace altovirt::kvm

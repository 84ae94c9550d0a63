#include "altovirt/kvm/kvm.h"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <memory>


namespace altovirt::kvm {

Result<Kvm> Kvm::open() {
  UniqueFd fd(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
  if (!fd) {
    int err = errno;
    return fail_errno(err, "opening /dev/kvm (is the kvm_intel or kvm_amd module loaded, and may this user open it?)");
  }
  int version = ::ioctl(fd.get(), KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION) return fail("/dev/kvm speaks KVM API version {}, altovirt needs {}", version, KVM_API_VERSION);
  Kvm kvm(std::move(fd));
  // Each of these is used unconditionally by the VMM; a kernel without one cannot run it.
  struct Needed {
    int cap;
    const char* name;
  };
  for (auto [cap, name] : {Needed{KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"}, Needed{KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING"},
                           Needed{KVM_CAP_IRQFD, "KVM_CAP_IRQFD"}, Needed{KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
                           Needed{KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
#if defined(__x86_64__)
                           Needed{KVM_CAP_PIT2, "KVM_CAP_PIT2"}, Needed{KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
#elif defined(__aarch64__)
                           Needed{KVM_CAP_ARM_PSCI_0_2, "KVM_CAP_ARM_PSCI_0_2"}, Needed{KVM_CAP_ONE_REG, "KVM_CAP_ONE_REG"},
                           Needed{KVM_CAP_DEVICE_CTRL, "KVM_CAP_DEVICE_CTRL"},
#endif
                       }) {
    if (kvm.check(cap) <= 0) return fail("this kernel's KVM lacks {}, which altovirt needs", name);
  }
  return kvm;
}

int Kvm::check(int capability) const {
  int r = ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, capability);
  return r < 0 ? 0 : r;
}

Result<size_t> Kvm::vcpu_mmap_size() const {
  int r = ::ioctl(fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (r <= 0) return fail_errno(errno, "KVM_GET_VCPU_MMAP_SIZE");
  return static_cast<size_t>(r);
}

}  // namespace altovirt::kvm

// kvm_hlt_probe: proves that /dev/kvm can create a VM and run a vCPU: one page of real-mode guest
// code (`mov $0x2a, %al; out %al, $0x10; hlt`) must exit first with the port write and then with
// KVM_EXIT_HLT. Exits 0 on success, 1 with a message naming the failed step otherwise.
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cstdio>
#include <cstring>

#include "altovirt/base/fd.h"
#include "altovirt/base/mapping.h"

using altovirt::Mapping;
using altovirt::UniqueFd;

static int die(const char* step) {
  std::fprintf(stderr, "kvm_hlt_probe: %s: %s\n", step, std::strerror(errno));
  return 1;
}

int main() {
  UniqueFd kvm(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
  if (!kvm) return die("opening /dev/kvm");
  if (::ioctl(kvm.get(), KVM_GET_API_VERSION, 0) != KVM_API_VERSION) return die("KVM_GET_API_VERSION");
  UniqueFd vm(::ioctl(kvm.get(), KVM_CREATE_VM, 0));
  if (!vm) return die("KVM_CREATE_VM");

  auto mem = Mapping::anonymous(0x1000, 0, "guest memory");
  if (!mem) return die("allocating guest memory");
  const unsigned char code[] = {0xb0, 0x2a, 0xe6, 0x10, 0xf4};  // mov al,42; out 0x10,al; hlt
  std::memcpy(mem->bytes(), code, sizeof code);
  kvm_userspace_memory_region region{};
  region.slot = 0;
  region.guest_phys_addr = 0x1000;
  region.memory_size = 0x1000;
  region.userspace_addr = reinterpret_cast<uint64_t>(mem->addr());
  if (::ioctl(vm.get(), KVM_SET_USER_MEMORY_REGION, &region) != 0) return die("KVM_SET_USER_MEMORY_REGION");

  UniqueFd vcpu(::ioctl(vm.get(), KVM_CREATE_VCPU, 0));
  if (!vcpu) return die("KVM_CREATE_VCPU");
  int run_size = ::ioctl(kvm.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size <= 0) return die("KVM_GET_VCPU_MMAP_SIZE");
  auto run_map = Mapping::map_fd(vcpu.get(), static_cast<size_t>(run_size), PROT_READ | PROT_WRITE, MAP_SHARED, 0, "kvm_run");
  if (!run_map) return die("mapping kvm_run");
  auto* run = static_cast<kvm_run*>(run_map->addr());

  kvm_sregs sregs{};
  if (::ioctl(vcpu.get(), KVM_GET_SREGS, &sregs) != 0) return die("KVM_GET_SREGS");
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  if (::ioctl(vcpu.get(), KVM_SET_SREGS, &sregs) != 0) return die("KVM_SET_SREGS");
  kvm_regs regs{};
  regs.rip = 0x1000;
  regs.rflags = 0x2;
  if (::ioctl(vcpu.get(), KVM_SET_REGS, &regs) != 0) return die("KVM_SET_REGS");

  bool saw_out = false;
  for (int i = 0; i < 16; ++i) {
    if (::ioctl(vcpu.get(), KVM_RUN, 0) != 0) return die("KVM_RUN");
    if (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_OUT && run->io.port == 0x10) {
      unsigned char v = *(reinterpret_cast<unsigned char*>(run) + run->io.data_offset);
      if (v != 42) {
        std::fprintf(stderr, "kvm_hlt_probe: guest wrote %u to port 0x10, expected 42\n", v);
        return 1;
      }
      saw_out = true;
      continue;
    }
    if (run->exit_reason == KVM_EXIT_HLT) {
      if (!saw_out) {
        std::fprintf(stderr, "kvm_hlt_probe: HLT before the port write\n");
        return 1;
      }
      std::printf("kvm_hlt_probe: vCPU ran guest code to HLT\n");
      return 0;
    }
    std::fprintf(stderr, "kvm_hlt_probe: unexpected exit reason %u\n", run->exit_reason);
    return 1;
  }
  std::fprintf(stderr, "kvm_hlt_probe: no HLT after 16 exits\n");
  return 1;
}

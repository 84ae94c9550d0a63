// The x86 parts of a Vm: the in-kernel PIC, IOAPIC and PIT, and their input lines.
#include <sys/ioctl.h>

#include "altovirt/kvm/vm.h"

namespace altovirt::kvm {

namespace {
// Addresses inside the 32-bit PCI hole that no device uses. VMX needs three pages for the real-mode
// TSS and one for the EPT identity map; QEMU uses the same addresses, below the 16 MiB under 4 GiB that
// UEFI firmware flash may take (OVMF_CODE_4M + VARS start at 0xFFC00000).
constexpr uint64_t kTssAddress = 0xfeffd000;
constexpr uint64_t kIdentityMapAddress = 0xfeffc000;
}  // namespace

Status Vm::create_irqchip_and_pit() {
  if (::ioctl(fd_.get(), KVM_SET_TSS_ADDR, kTssAddress) != 0) return fail_errno(errno, "KVM_SET_TSS_ADDR");
  uint64_t idmap = kIdentityMapAddress;
  if (::ioctl(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, &idmap) != 0) return fail_errno(errno, "KVM_SET_IDENTITY_MAP_ADDR");
  if (::ioctl(fd_.get(), KVM_CREATE_IRQCHIP, 0) != 0) return fail_errno(errno, "KVM_CREATE_IRQCHIP");
  kvm_pit_config pit{};
  pit.flags = KVM_PIT_SPEAKER_DUMMY;
  if (::ioctl(fd_.get(), KVM_CREATE_PIT2, &pit) != 0) return fail_errno(errno, "KVM_CREATE_PIT2");
  return ok();
}

Status Vm::set_irq_line(uint32_t gsi, bool level) {
  kvm_irq_level l{};
  l.irq = gsi;
  l.level = level ? 1 : 0;
  if (::ioctl(fd_.get(), KVM_IRQ_LINE, &l) != 0) return fail_errno(errno, "KVM_IRQ_LINE {} {}", gsi, level);
  return ok();
}

}  // namespace altovirt::kvm

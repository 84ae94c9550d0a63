// Gic: the in-kernel GICv3 (KVM_DEV_TYPE_ARM_VGIC_V3: distributor and one redistributor per vCPU)
// and its ITS (KVM_DEV_TYPE_ARM_VGIC_ITS), which turns PCI MSI writes into LPIs; KVM emulates both
// (Documentation/virt/kvm/devices/arm-vgic-v3.rst, arm-vgic-its.rst). The addresses are layout.h's.
//
// KVM's order: the GIC device is created and placed before the vCPUs exist; its number of lines
// and its initialisation (CTRL_INIT) come after every vCPU is created, then the ITS.
//
// Threading: built and finished on the machine's main thread; the fds live as long as the machine.
#pragma once

#include "altovirt/base/error.h"
#include "altovirt/base/fd.h"
#include "altovirt/kvm/vm.h"

namespace altovirt::arch::arm64 {

class Gic {
 public:
  static Result<Gic> create(kvm::Vm& vm, unsigned cpus);
  // After the vCPUs: the lines, CTRL_INIT, then the ITS (a host whose KVM has no ITS gets none:
  // then MSI-capable devices fall back to INTx, and has_its() says so).
  Status finish(kvm::Vm& vm);
  bool has_its() const { return its_.valid(); }

 private:
  explicit Gic(UniqueFd gic) : gic_(std::move(gic)) {}
  UniqueFd gic_;
  UniqueFd its_;
};

}  // namespace altovirt::arch::arm64

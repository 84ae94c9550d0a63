#include "altovirt/arch/arm64/gic.h"

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include "altovirt/arch/arm64/layout.h"
#include "altovirt/base/log.h"

namespace altovirt::arch::arm64 {

namespace {

Result<UniqueFd> create_device(kvm::Vm& vm, uint32_t type, const char* what) {
  kvm_create_device d{.type = type, .fd = 0, .flags = 0};
  if (::ioctl(vm.fd(), KVM_CREATE_DEVICE, &d) != 0) return fail_errno(errno, "KVM_CREATE_DEVICE ({})", what);
  return UniqueFd(static_cast<int>(d.fd));
}

Status set_attr(int fd, uint32_t group, uint64_t attr, const void* value, const char* what) {
  kvm_device_attr a{.flags = 0, .group = group, .attr = attr, .addr = reinterpret_cast<uint64_t>(value)};
  if (::ioctl(fd, KVM_SET_DEVICE_ATTR, &a) != 0) return fail_errno(errno, "setting the {}", what);
  return ok();
}

}  // namespace

Result<Gic> Gic::create(kvm::Vm& vm, unsigned cpus) {
  if (cpus > kMaxCpus) return fail("-smp {}: the arm64 virt board has room for {} redistributors", cpus, kMaxCpus);
  auto fd = create_device(vm, KVM_DEV_TYPE_ARM_VGIC_V3, "GICv3");
  if (!fd)
    return fail("this host's KVM cannot emulate a GICv3 ({}); altovirt's arm64 board needs one (a GICv3 host, "
                "or a GICv2 host with the vGICv3 compatibility of its CPU interface)",
                fd.error().message());
  const uint64_t dist = kGicDistBase, redist = kGicRedistBase;
  AV_TRY(set_attr(fd->get(), KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &dist, "GICv3 distributor address"));
  AV_TRY(set_attr(fd->get(), KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, &redist, "GICv3 redistributor address"));
  return Gic(std::move(*fd));
}

Status Gic::finish(kvm::Vm& vm) {
  const uint32_t lines = kGicIrqs;
  AV_TRY(set_attr(gic_.get(), KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &lines, "GICv3 number of interrupts"));
  AV_TRY(set_attr(gic_.get(), KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, nullptr, "GICv3 initialisation"));
  auto its = create_device(vm, KVM_DEV_TYPE_ARM_VGIC_ITS, "GICv3 ITS");
  if (!its) {
    log::warn("gic", "{}: no ITS, so no MSIs; PCI devices use INTx", its.error().message());
    return ok();
  }
  const uint64_t base = kGicItsBase;
  AV_TRY(set_attr(its->get(), KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE, &base, "ITS address"));
  AV_TRY(set_attr(its->get(), KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, nullptr, "ITS initialisation"));
  its_ = std::move(*its);
  return ok();
}

}  // namespace altovirt::arch::arm64

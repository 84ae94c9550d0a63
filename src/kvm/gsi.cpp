#include "altovirt/kvm/gsi.h"

#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include <memory>

#include "altovirt/base/log.h"
#include "altovirt/kvm/flex_ioctl.h"
#include "altovirt/kvm/vm.h"

namespace altovirt::kvm {

std::vector<kvm_irq_routing_entry> GsiRouter::table_locked() const {
  auto t = irqchip_routes();
  for (auto& [gsi, route] : msi_) {
    const MsiMessage& msg = route.msg;
    kvm_irq_routing_entry e{};
    e.gsi = gsi;
    e.type = KVM_IRQ_ROUTING_MSI;
    e.u.msi.address_lo = static_cast<uint32_t>(msg.address);
    e.u.msi.address_hi = static_cast<uint32_t>(msg.address >> 32);
    e.u.msi.data = msg.data;
    if (vm_.msi_devid_required() && route.devid) {  // an ITS finds the device's table by it (KVM_CAP_MSI_DEVID)
      e.flags = KVM_MSI_VALID_DEVID;
      e.u.msi.devid = *route.devid;
    }
    t.push_back(e);
  }
  return t;
}

std::vector<kvm_irq_routing_entry> GsiRouter::table() const {
  std::lock_guard lock(mutex_);
  return table_locked();
}

Status GsiRouter::commit_locked() {
  auto t = table_locked();
  flex::Buffer<kvm_irq_routing_entry> buf(t);
  if (::ioctl(vm_.fd(), flex::kSetGsiRouting, buf.data()) != 0) return fail_errno(errno, "KVM_SET_GSI_ROUTING ({} routes)", t.size());
  return ok();
}

Status GsiRouter::install() {
  std::lock_guard lock(mutex_);
  return commit_locked();
}

Result<uint32_t> GsiRouter::add_msi(const MsiMessage& msg, std::optional<uint32_t> devid) {
  std::lock_guard lock(mutex_);
  uint32_t gsi = kFirstMsiGsi;
  while (msi_.contains(gsi)) ++gsi;
  if (gsi >= max_routes_) return fail("no free GSI for an MSI route: all {} are in use", max_routes_);
  msi_[gsi] = Route{msg, devid};
  if (auto s = commit_locked(); !s) {
    msi_.erase(gsi);
    return std::unexpected(s.error());
  }
  return gsi;
}

Status GsiRouter::update_msi(uint32_t gsi, const MsiMessage& msg, std::optional<uint32_t> devid) {
  std::lock_guard lock(mutex_);
  auto it = msi_.find(gsi);
  if (it == msi_.end()) return fail("GSI {} is not an MSI route", gsi);
  if (it->second.msg == msg && it->second.devid == devid) return ok();
  it->second = Route{msg, devid};
  return commit_locked();
}

Status GsiRouter::remove(uint32_t gsi) {
  std::lock_guard lock(mutex_);
  if (msi_.erase(gsi) == 0) return fail("GSI {} is not an MSI route", gsi);
  return commit_locked();
}

Result<EventFd> EventFd::create() {
  UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!fd) return fail_errno(errno, "eventfd");
  return EventFd(std::move(fd));
}

Status EventFd::signal() const {
  uint64_t one = 1;
  if (::write(fd_.get(), &one, sizeof one) != sizeof one) return fail_errno(errno, "signalling an eventfd");
  return ok();
}

uint64_t EventFd::drain() const {
  uint64_t v = 0;
  if (::read(fd_.get(), &v, sizeof v) != sizeof v) return 0;
  return v;
}

Irqfd& Irqfd::operator=(Irqfd&& o) noexcept {
  if (this != &o) {
    reset();
    vm_fd_ = std::exchange(o.vm_fd_, -1);
    eventfd_ = o.eventfd_;
    gsi_ = o.gsi_;
  }
  return *this;
}

Result<Irqfd> Irqfd::assign(Vm& vm, int eventfd, uint32_t gsi, int resample_fd) {
  kvm_irqfd f{};
  f.fd = static_cast<uint32_t>(eventfd);
  f.gsi = gsi;
  if (resample_fd >= 0) {
    f.flags = KVM_IRQFD_FLAG_RESAMPLE;
    f.resamplefd = static_cast<uint32_t>(resample_fd);
  }
  if (::ioctl(vm.fd(), KVM_IRQFD, &f) != 0) return fail_errno(errno, "KVM_IRQFD for GSI {}", gsi);
  Irqfd i;
  i.vm_fd_ = vm.fd();
  i.eventfd_ = eventfd;
  i.gsi_ = gsi;
  return i;
}

void Irqfd::reset() {
  if (vm_fd_ < 0) return;
  kvm_irqfd f{};
  f.fd = static_cast<uint32_t>(eventfd_);
  f.gsi = gsi_;
  f.flags = KVM_IRQFD_FLAG_DEASSIGN;
  if (::ioctl(vm_fd_, KVM_IRQFD, &f) != 0) log::error("kvm", "deassigning the irqfd of GSI {}: {}", gsi_, strerrordesc_np(errno));
  vm_fd_ = -1;
}

}  // namespace altovirt::kvm

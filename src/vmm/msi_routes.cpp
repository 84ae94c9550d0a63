#include "altovirt/vmm/msi_routes.h"

#include "altovirt/base/log.h"

namespace altovirt::vmm {

MsiRoutes::~MsiRoutes() {
  std::lock_guard lock(mutex_);
  for (auto& v : vectors_) {
    v.irqfd.reset();
    if (v.gsi) (void)router_.remove(*v.gsi);
  }
}

std::optional<uint32_t> MsiRoutes::requester() const {
  return vm_.msi_devid_required() && device_ != nullptr ? device_->requester_id() : std::nullopt;
}

MsiRoutes::Vector& MsiRoutes::slot_locked(unsigned v) {
  if (v >= vectors_.size()) vectors_.resize(v + 1);
  return vectors_[v];
}

Status MsiRoutes::ensure_eventfd_locked(Vector& v) {
  if (v.event) return ok();
  AV_TRY_ASSIGN(kvm::EventFd e, kvm::EventFd::create());
  v.event = std::move(e);
  return ok();
}

Result<int> MsiRoutes::eventfd(unsigned vector) {
  std::lock_guard lock(mutex_);
  Vector& v = slot_locked(vector);
  AV_TRY(ensure_eventfd_locked(v));
  return v.event->fd();
}

std::optional<uint32_t> MsiRoutes::gsi(unsigned vector) const {
  std::lock_guard lock(mutex_);
  return vector < vectors_.size() ? vectors_[vector].gsi : std::nullopt;
}

void MsiRoutes::enable_changed(bool enabled, unsigned vectors) {
  log::debug("msi", "{}: {} with {} vectors", owner_, enabled ? "enabled" : "disabled", vectors);
  if (enabled) return;
  // The capability is off: no vector may be delivered, and its GSIs go back to the router (the
  // guest may enable it again with other messages; the vectors then get new routes).
  std::lock_guard lock(mutex_);
  for (auto& v : vectors_) {
    v.irqfd.reset();
    if (v.gsi)
      if (auto s = router_.remove(*v.gsi); !s) log::error("msi", "{}: {}", owner_, s.error().message());
    v.gsi.reset();
  }
}

void MsiRoutes::vector_changed(unsigned vector, const pci::MsiMessage& msg, bool masked) {
  std::lock_guard lock(mutex_);
  Vector& v = slot_locked(vector);
  auto report = [&](const Error& e) { log::error("msi", "{} vector {}: {}", owner_, vector, e.message()); };
  if (masked) {
    v.irqfd.reset();
    return;
  }
  if (auto s = ensure_eventfd_locked(v); !s) return report(s.error());
  if (!v.gsi) {
    auto g = router_.add_msi(msg, requester());
    if (!g) return report(g.error());
    v.gsi = *g;
  } else if (auto s = router_.update_msi(*v.gsi, msg, requester()); !s) {
    return report(s.error());
  }
  if (!v.irqfd.valid()) {
    auto f = kvm::Irqfd::assign(vm_, v.event->fd(), *v.gsi);
    if (!f) return report(f.error());
    v.irqfd = std::move(*f);
  }
}

void MsiRoutes::inject(unsigned vector, const pci::MsiMessage& msg) {
  if (auto s = vm_.signal_msi(msg, requester()); !s) log::error("msi", "{} vector {}: {}", owner_, vector, s.error().message());
}

}  // namespace altovirt::vmm

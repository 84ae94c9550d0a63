// MsiRoutes: the KVM side of one device's MSI or MSI-X vectors, as an MsiSink. Each vector gets an
// eventfd, a GSI with an MSI route, and an irqfd while the vector is unmasked, so that whoever
// signals the eventfd (a VFIO device's interrupt, or an emulated device) interrupts the guest
// without going through altovirt. A masked vector's irqfd is removed; events that arrive meanwhile
// stay counted in the eventfd, and KVM delivers them when the irqfd is attached again on unmask
// (which is the pending-bit behaviour the PCI spec asks for). Disabling the capability removes
// every vector's irqfd and GSI route.
//
// Threading: called by the capability models with their lock held (any vCPU thread); one internal
// mutex. eventfd() may be called from any thread.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "altovirt/kvm/gsi.h"
#include "altovirt/kvm/vm.h"
#include "altovirt/pci/msi_sink.h"
#include "altovirt/vmm/passthrough_host.h"

namespace altovirt::vmm {

class MsiRoutes : public VectorRoutes {
 public:
  // `device` (may be set later, before the guest runs): whose requester id the MSIs carry, which
  // a GICv3 ITS needs (kvm::Vm::msi_devid_required); it outlives these routes (it owns them).
  MsiRoutes(kvm::Vm& vm, kvm::GsiRouter& router, std::string owner, const pci::PciDevice* device = nullptr)
      : vm_(vm), router_(router), owner_(std::move(owner)), device_(device) {}
  void set_device(const pci::PciDevice* device) { device_ = device; }
  ~MsiRoutes() override;

  // The eventfd of `vector`, created on first use.
  Result<int> eventfd(unsigned vector) override;
  // The GSI routed for `vector`, when one is.
  std::optional<uint32_t> gsi(unsigned vector) const;

  void enable_changed(bool enabled, unsigned vectors) override;
  void vector_changed(unsigned vector, const pci::MsiMessage& msg, bool masked) override;
  void inject(unsigned vector, const pci::MsiMessage& msg) override;

 private:
  struct Vector {
    std::optional<kvm::EventFd> event;
    std::optional<uint32_t> gsi;
    kvm::Irqfd irqfd;
  };
  Vector& slot_locked(unsigned v);
  std::optional<uint32_t> requester() const;
  Status ensure_eventfd_locked(Vector& v);
  kvm::Vm& vm_;
  kvm::GsiRouter& router_;
  std::string owner_;
  const pci::PciDevice* device_;
  mutable std::mutex mutex_;
  std::vector<Vector> vectors_;
};

}  // namespace altovirt::vmm

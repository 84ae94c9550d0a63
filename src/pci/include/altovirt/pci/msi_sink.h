// MsiSink: where the MSI and MSI-X capability models send what the guest programs. The VMM's KVM
// implementation turns it into GSI routes and irqfds (vmm/msi_routes.h); a VFIO device also arms
// VFIO_DEVICE_SET_IRQS from enable_changed(). Unit tests record the calls.
//
// Threading: called from vCPU threads (config writes, MSI-X table writes) with the capability's
// lock held; implementations must not call back into the capability.
#pragma once

#include "altovirt/kvm/gsi.h"

namespace altovirt::pci {

using kvm::MsiMessage;

class MsiSink {
 public:
  virtual ~MsiSink() = default;
  // MSI/MSI-X as a whole was switched on or off; `vectors` is how many the guest enabled.
  virtual void enable_changed(bool enabled, unsigned vectors) = 0;
  // Vector `vector` now has message `msg`; `masked` is true when it must not be delivered
  // (vector mask, function mask, or the capability disabled).
  virtual void vector_changed(unsigned vector, const MsiMessage& msg, bool masked) = 0;
  // Deliver `vector` now (an emulated device's interrupt, or a pending one being unmasked).
  virtual void inject(unsigned vector, const MsiMessage& msg) = 0;
};

}  // namespace altovirt::pci

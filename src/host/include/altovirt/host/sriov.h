// SR-IOV virtual functions through the PF's sriov_numvfs attribute
// (Documentation/PCI/pci-iov-howto.rst): the kernel refuses to change a non-zero VF count to another
// non-zero count (EBUSY), so the count goes to 0 first. sriov_drivers_autoprobe decides whether host
// drivers probe new VFs (Documentation/ABI/testing/sysfs-bus-pci).
//
// Threading: callers hold the StateDir for the whole operation.
#pragma once

#include <optional>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/host/binding.h"

namespace altovirt::host {

struct SriovOptions {
  // Sets sriov_drivers_autoprobe (kept from then on); unset leaves it as it is.
  std::optional<bool> autoprobe;
  // Binds every VF to vfio-pci. Host drivers never see them: autoprobe is off while they are created
  // (and restored afterwards unless `autoprobe` says otherwise).
  bool vfio = false;
  BindOptions bind;
};

struct SriovOutcome {
  unsigned previous = 0;
  std::vector<PciAddress> vfs;  // the VFs now present
};

// Sets the VF count of PF `pf` to `count`. Refuses, changing nothing, when `pf` does not exist, is not
// an SR-IOV PF, `count` is above sriov_totalvfs, or (when existing VFs go away) one of them is in use by
// a running VM.
Result<SriovOutcome> sriov_set(SysfsRoot& sys, StateDir& state, const PciAddress& pf, unsigned count,
                               const SriovOptions& opts = {});

// The PF itself, checked to be one.
Result<PciDevice> read_pf(const SysfsRoot& sys, const PciAddress& pf);

}  // namespace altovirt::host

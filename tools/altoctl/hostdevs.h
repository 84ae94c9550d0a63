// Host devices of a domain, before and after the VM runs (libvirt's managed='yes|no' semantics):
//   - prepare_hostdevs(): first checks every device (no other live VM claims it; a managed='no'
//     device is on vfio-pci already), then detaches each managed='yes' device from its host driver
//     to vfio-pci (the host layer's detach_device with all its checks) and claims every device for
//     the VM. Any failure undoes what was done (reattach, release) before returning, so a failed
//     start changes nothing on the host.
//   - release_hostdevs(): gives each managed='yes' device back to its original driver and drops
//     the VM's claims; it carries on past a device that fails and reports all failures together.
//
// Threading: the caller holds the StateDir (the host-wide lock) for the whole call.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "altovirt/config/domain.h"
#include "altovirt/host/binding.h"
#include "altovirt/host/state.h"
#include "altovirt/host/sysfs.h"

namespace altoctl {

altovirt::Status prepare_hostdevs(altovirt::host::SysfsRoot& sys, altovirt::host::StateDir& state,
                                  const altovirt::config::DomainConfig& config, pid_t pid,
                                  const altovirt::host::BindOptions& opts = {});

altovirt::Status release_hostdevs(altovirt::host::SysfsRoot& sys, altovirt::host::StateDir& state,
                                  const altovirt::config::DomainConfig& config,
                                  const altovirt::host::BindOptions& opts = {});

}  // namespace altoctl

// Moving PCI devices between host drivers and vfio-pci, and resetting them, the way the kernel asks:
// driver_override (Documentation/ABI/testing/sysfs-bus-pci: it makes only the named driver match this
// one device, unlike new_id which captures every device with the same ids), unbind, drivers_probe.
// Every refusal happens before the first write, so a refused request changes nothing.
//
// Threading: callers hold the StateDir (and with it the host-wide lock) for the whole operation.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/host/pci_device.h"
#include "altovirt/host/state.h"
#include "altovirt/host/sysfs.h"

namespace altovirt::host {

struct BindOptions {
  // How long to wait for the kernel to bind a driver after drivers_probe/bind. Probing is synchronous for
  // most drivers, but a driver may probe asynchronously.
  std::chrono::milliseconds timeout{5000};
  std::chrono::milliseconds poll{20};
};

// Makes sure the vfio-pci driver is registered (/sys/bus/pci/drivers/vfio-pci), loading the module when
// it is not.
Status ensure_vfio_pci(SysfsRoot& sys);

struct DetachOutcome {
  PciAddress address;
  std::string previous_driver;  // "" when it had none
  bool already = false;         // it was on vfio-pci already
};

// Binds `a` to vfio-pci, recording its original driver in `state` first. Refuses, changing nothing, when
// the device does not exist, is a bridge, has no IOMMU group, is in use by a running VM, or its group is
// not viable. With `whole_group`, every other endpoint of the group is detached too.
Result<std::vector<DetachOutcome>> detach_device(SysfsRoot& sys, StateDir& state, const PciAddress& a,
                                                 bool whole_group, const BindOptions& opts = {});

// Gives `a` back to its recorded original driver (or lets the kernel probe one when none is recorded)
// and returns the driver it ended on ("" for none).
Result<std::string> reattach_device(SysfsRoot& sys, StateDir& state, const PciAddress& a,
                                    const BindOptions& opts = {});

// Resets `a` through its sysfs "reset" attribute (the kernel picks the first of its reset_method list)
// and returns the methods available, e.g. "flr bus".
Result<std::string> reset_device(SysfsRoot& sys, const StateDir& state, const PciAddress& a);

}  // namespace altovirt::host

// Host checks for device passthrough, in the spirit of virt-host-validate: each check says PASS, WARN
// or FAIL, what it found, and for anything short of PASS the fix a user should apply.
//
// Threading: reads through the given SysfsRoot (see its contract).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/host/pci_address.h"
#include "altovirt/host/sysfs.h"

namespace altovirt::host {

enum class CheckStatus { pass, warn, fail };
std::string_view to_string(CheckStatus s);

struct Check {
  std::string name;
  CheckStatus status = CheckStatus::pass;
  std::string detail;  // what was found
  std::string fix;     // what to do (empty on PASS)
};

struct ValidateOptions {
  std::optional<PciAddress> device;  // also check this device: group, its other members, reset
  bool load_modules = false;         // load vfio-pci when it is not loaded
  // The host's architecture ("x86_64" or "aarch64"; empty: this machine's, from uname): which
  // IOMMU (VT-d/AMD-Vi or SMMUv3) and MSI isolation (interrupt remapping or the GICv3 ITS) to
  // look for, and which fixes to print.
  std::string arch;
};

std::vector<Check> validate_host(SysfsRoot& sys, const ValidateOptions& opts);
// Passthrough can work when no check failed.
bool passthrough_possible(const std::vector<Check>& checks);

}  // namespace altovirt::host

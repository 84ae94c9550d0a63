// Reconciling altoctl's records with the host after a crash or a reboot (`altoctl recover`, run by
// the boot unit; every altoctl verb also runs the first part before it looks at a domain):
//  1. reconcile(): a record that says a domain runs (or starts) but whose supervisor is gone (killed,
//     or the host rebooted with a state directory that survives): its altovirt is stopped if it
//     still runs, its devices are given back (managed='yes' to their host driver), the taps its
//     supervisor created are deleted, and the domain is recorded shut off with the reason.
//  2. recover(): also every device claim whose process is gone but that no record explains (a
//     supervisor killed before it wrote its record): the claim is dropped, and the device goes back
//     to its host driver when the domain XML that claimed it says managed='yes'. A device with no
//     such XML stays where it is (it may have been detached by hand); the outcome says so.
// Devices detached by hand (`nodedev-detach`, no claim) and devices of live domains are left alone.
//
// Threading: the caller holds the StateDir (the host-wide lock) for the whole call.
#pragma once

#include <string>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/config/domain.h"
#include "altovirt/host/binding.h"
#include "altovirt/host/state.h"
#include "altovirt/host/sysfs.h"
#include "vm_store.h"

namespace altoctl {

// True when some record says a domain runs whose supervisor is gone (a cheap check without the lock).
bool needs_reconcile(const VmStore& store);

// The domain a VM record was last started with (<state>/vms/NAME/domain.xml), else its definition.
altovirt::Result<altovirt::config::DomainConfig> last_config(const VmStore& store, const std::string& name);

// Step 1 for one record: stops a lingering altovirt (only a process whose command line names this
// VM's QMP socket: a pid reused after a reboot is not killed), gives the devices back and records the
// domain shut off with `why`.
altovirt::Status cleanup_orphan(altovirt::host::SysfsRoot& sys, altovirt::host::StateDir& state, const VmStore& store,
                                VmStatus s, const std::string& why, const altovirt::host::BindOptions& opts = {});

// Step 1 for every record; `done` gets one line per domain cleaned up.
altovirt::Status reconcile(altovirt::host::SysfsRoot& sys, altovirt::host::StateDir& state, const VmStore& store,
                           std::vector<std::string>& done, const altovirt::host::BindOptions& opts = {});

struct RecoverOutcome {
  std::vector<std::string> done;      // what was fixed, one line each
  std::vector<std::string> problems;  // what could not be (the message says what to do)
};

// Steps 1 and 2.
RecoverOutcome recover(altovirt::host::SysfsRoot& sys, altovirt::host::StateDir& state, const VmStore& store,
                       const altovirt::host::BindOptions& opts = {});

}  // namespace altoctl

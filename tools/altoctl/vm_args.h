// The altovirt command line of a domain as altoctl runs it: config::to_altovirt_args() with the VM's
// runtime paths, adapted to what this altovirt build implements (checked here so that `create`
// fails with a message naming the XML element before anything on the host changes).
#pragma once

#include <string>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/config/domain.h"
#include "vm_store.h"

namespace altoctl {

// Refuses, naming each element, what the domain XML layer accepts but altovirt cannot run yet
// (a machine type other than q35).
altovirt::Status check_runnable(const altovirt::config::DomainConfig& config);

// The arguments (without argv[0]): the serial port as the XML says (none when it has no serial:
// a daemon has no terminal), the QMP socket, the log file and the pid file under the VM's
// directory. ACPI is always on in altovirt (the power button needs it), so -no-acpi is dropped.
altovirt::Result<std::vector<std::string>> altovirt_args(const altovirt::config::DomainConfig& config,
                                                         const VmPaths& paths);

// The altovirt binary: <emulator> when the XML names one, else the altovirt next to altoctl's own
// binary (`self_exe`), else "altovirt" (looked up in PATH).
std::string emulator_path(const altovirt::config::DomainConfig& config, const std::string& self_exe);

}  // namespace altoctl

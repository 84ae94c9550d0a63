// The altovirt command line of a domain as altoctl runs it: config::to_altovirt_args() with the VM's
// runtime paths, adapted to what this altovirt build implements (checked here so that `create`
// fails with a message naming the XML element before anything on the host changes).
#pragma once

#include <string>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/config/domain.h"
#include "altovirt/host/firmware_descriptor.h"
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

// Where a hugepage-backed domain's RAM file goes: its own directory on the mount of its page size
// (/dev/hugepages, or /dev/hugepages1G for 1 GiB pages), altovirt/NAME, which the supervisor makes
// (owned by the user altovirt runs as) and removes; libvirt does the same under libvirt/qemu.
std::string hugepage_dir(const altovirt::config::DomainConfig& config);
// That the mount hugepage_dir() is on is a hugetlbfs (else the supervisor would make the directory
// on /dev's tmpfs and altovirt's RAM would be ordinary pages).
altovirt::Status check_hugetlbfs(const altovirt::config::DomainConfig& config);

// The altovirt binary: <emulator> when the XML names one, else the altovirt next to altoctl's own
// binary (`self_exe`), else "altovirt" (looked up in PATH).
// UEFI firmware's variable store (<os><nvram>): the path <nvram> names, else NAME_VARS.fd in
// $ALTOVIRT_NVRAM_DIR or /var/lib/altovirt/nvram (libvirt's /var/lib/libvirt/qemu/nvram). "" when the
// domain has no <nvram>.
std::string nvram_file(const altovirt::config::DomainConfig& config);
// The domain with its <nvram> path filled in (as libvirt writes it at define time), so that its
// running XML and altovirt's -drive name the file. An aarch64 domain's <loader> without <nvram>
// gets one, its template from the loader's firmware descriptor (looked for in `descriptor_dirs`).
altovirt::config::DomainConfig with_nvram_path(altovirt::config::DomainConfig config,
                                               const std::vector<std::string>& descriptor_dirs =
                                                   altovirt::host::firmware_descriptor_dirs());
// Before a start: a variable store that does not exist yet is copied from <nvram template=...>
// (mode 0600, its directory made); a missing template, or none given, is an error naming both, as
// is an aarch64 <loader> left without a store (no descriptor named its template).
altovirt::Status prepare_nvram(const altovirt::config::DomainConfig& config);

std::string emulator_path(const altovirt::config::DomainConfig& config, const std::string& self_exe);

// Where the supervisor writes <graphics passwd> for altovirt (-object secret,file=).
std::string vnc_password_file(const VmPaths& p);

}  // namespace altoctl

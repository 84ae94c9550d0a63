// The user altovirt runs as under altoctl, and what it is given for one domain (libvirt's DAC
// security driver does the same for QEMU as libvirt-qemu):
//   - resolve_vm_user(): `--user NAME` (or $ALTOVIRT_USER); without either, the system user
//     "altovirt" when it exists, else root (as before; the supervisor's log says so). "root" keeps
//     altovirt root.
//   - grant(): for the domain's life, the user owns what is the domain's alone: its /dev/vfio/N
//     groups, its image files and block devices, its serial log file and its state directory
//     (<state>/vms/NAME: QMP socket, -D log, pidfile). Each change is recorded with the owner and mode
//     before it (in the domain's state directory, so that `recover` restores them after a crash).
//     What all domains share stays shared: /dev/kvm, /dev/vhost-net and /dev/vhost-vsock are given to
//     group kvm, mode 0660 (what udev's rules do on a desktop install), and the user is in that group.
//   - restore(): puts every recorded owner and mode back (after the VM, and from recover).
//   - become(): in the child, before exec: RLIMIT_MEMLOCK raised to guest RAM + 1 GiB (libvirt's
//     allowance for VFIO's pinning), supplementary groups, gid, uid (which drops every capability),
//     and no_new_privs.
//
// Threading: single-threaded (the supervisor; become() in a forked child).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/config/domain.h"
#include "altovirt/host/sysfs.h"

namespace altoctl {

struct VmUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary: kvm when the host has it
};

// nullopt: altovirt stays root.
altovirt::Result<std::optional<VmUser>> resolve_vm_user(const std::string& asked);

// One change grant() made: a file's owner and mode, or (tap non-empty) a tap's TUNSETOWNER/GROUP.
struct OwnerChange {
  std::string path;
  uid_t uid = 0;  // before the change
  gid_t gid = 0;
  mode_t mode = 0;
  std::string tap;         // a tap: path is empty; uid/gid are its owner and group before (-1: none)
  bool multi_queue = false;
  int64_t tap_uid = -1, tap_gid = -1;
};

// Gives `user` one more path (a hot-added device's /dev/vfio/N, a disk image) and records it.
altovirt::Status take_for(std::vector<OwnerChange>& changes, const VmUser& user, const std::string& path);
// The same for a tap.
altovirt::Status take_tap(std::vector<OwnerChange>& changes, const VmUser& user, const std::string& tap, bool multi_queue);
// The user a running domain's altovirt runs as: the owner of its state directory (grant() gives it
// to the user); nullopt for root.
std::optional<VmUser> user_of_domain(const std::string& dir);

// Gives `user` what domain `c` needs (see above); `dir` is the domain's state directory; its taps
// (named by then) get the user as owner, and with hugepages <mount>/altovirt/NAME is made the
// user's. On an error everything changed so far is restored.
altovirt::Result<std::vector<OwnerChange>> grant(const altovirt::host::SysfsRoot& sys, const VmUser& user,
                                                 const altovirt::config::DomainConfig& c, const std::string& dir);

// Restores each change (newest first); a path that is gone is skipped. Problems are returned, not thrown.
std::vector<std::string> restore(const std::vector<OwnerChange>& changes);

// The recorded changes of a domain: <dir>/owners.json.
altovirt::Status save_owner_changes(const std::string& dir, const std::vector<OwnerChange>& changes);
altovirt::Result<std::vector<OwnerChange>> load_owner_changes(const std::string& dir);

// In the forked child, before exec; returns -errno's message on failure (the child then exits).
altovirt::Status become(const VmUser& user, uint64_t memlock_bytes);

}  // namespace altoctl

// The user altovirt runs as under altoctl, and what it is given for one domain (libvirt's DAC
// security driver does the same for QEMU as libvirt-qemu):
//   - resolve_vm_user(): `--user NAME` (or $ALTOVIRT_USER); without either, the system user
//     "altovirt" when it exists, else root (as before; the supervisor's log says so). "root" keeps
//     altovirt root. A user whose group is root's (gid 0) is refused.
//   - make_vmm_dir(): the domain's <state>/vms/NAME/vmm, made afresh and the user's: altovirt's QMP
//     socket, -D log and pidfile. Everything root reads or acts on (status.json, owners.json,
//     domain.xml) stays in NAME/, which stays root's: a compromised altovirt cannot forge it.
//   - grant(): for the domain's life, the user owns what is the domain's alone: its /dev/vfio/N
//     groups, its image files and block devices, its serial log file, its taps (TUNSETOWNER) and
//     its hugepage directory. Each change is written to owners.json *before* it is made (persist),
//     so that `recover` restores it after a crash at any point. A path the user already owns is
//     left alone and not recorded (a second domain of the same user must not record the user as
//     the owner "before" and leave it so). Every path must be reachable by the user (each directory
//     on the way searchable), else the error names the directory.
//     What all domains share stays shared: /dev/kvm, /dev/vhost-net and /dev/vhost-vsock are given to
//     group kvm, mode 0660 (what udev's default rules do on a desktop install; not taken back), and
//     the user is in that group.
//   - restore(): puts every recorded owner and mode back, on the same file only: the path is opened
//     without following a symbolic link, its device and inode must be the ones recorded and its
//     owner still the user (a file the user replaced, e.g. by a link to /etc/shadow, or that
//     somebody else took meanwhile is left alone and reported).
//   - become(): in the child, before exec: RLIMIT_MEMLOCK raised to guest RAM + 1 GiB (libvirt's
//     allowance for VFIO's pinning), supplementary groups, gid, uid (which drops every capability),
//     and no_new_privs.
// Domains that run as the same user are not isolated from each other by file ownership (as libvirt's
// DAC driver without sVirt); give each its own with --user for that.
//
// Threading: single-threaded (the supervisor, altoctl's verbs; become() in a forked child).
#pragma once

#include <sys/types.h>

#include <functional>
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
  uint64_t dev = 0, ino = 0;  // the file changed (restore() touches only this one)
  int64_t given_uid = -1;     // whom it was given to: restore() leaves it if somebody else owns it since
  std::string tap;            // a tap: path is empty; tap_uid/tap_gid its owner and group before (-1: none)
  bool multi_queue = false;
  int64_t tap_uid = -1, tap_gid = -1;
};

// Writes the changes so far (owners.json); called before each change is made.
using PersistChanges = std::function<altovirt::Status(const std::vector<OwnerChange>&)>;

// Makes `vmm` (see above) anew: what a previous run left in it is removed (without following links),
// then the directory is made 0700 and given to `user` (root's when nullopt).
altovirt::Status make_vmm_dir(const std::string& vmm, const std::optional<VmUser>& user);

// Gives `user` one more path (a hot-added device's /dev/vfio/N, a disk image) and records it.
altovirt::Status take_for(std::vector<OwnerChange>& changes, const VmUser& user, const std::string& path,
                          const PersistChanges& persist);
// The same for a tap.
altovirt::Status take_tap(std::vector<OwnerChange>& changes, const VmUser& user, const std::string& tap,
                          bool multi_queue, const PersistChanges& persist);
// The user a running domain's altovirt runs as: the owner of its vmm directory (make_vmm_dir; the
// user cannot give it to anybody else); nullopt for root.
std::optional<VmUser> user_of_domain(const std::string& vmm_dir);

// Whether `user` can open `path` (`write`: for writing): every directory on the way searchable and
// the file itself readable (writable). The error names the first directory or file in the way.
altovirt::Status check_reachable(const VmUser& user, const std::string& path, bool write);

// Gives `user` what domain `c` needs (see above); its taps (named by then) get the user as owner,
// and with hugepages hugepage_dir(c) is made the user's. On an error everything changed so far is
// restored.
altovirt::Result<std::vector<OwnerChange>> grant(const altovirt::host::SysfsRoot& sys, const VmUser& user,
                                                 const altovirt::config::DomainConfig& c,
                                                 const PersistChanges& persist);

// Restores each change (newest first); a path that is gone is skipped. Problems are returned, not thrown.
std::vector<std::string> restore(const std::vector<OwnerChange>& changes);

// The recorded changes of a domain: <dir>/owners.json (dir: the domain's root-owned directory).
altovirt::Status save_owner_changes(const std::string& dir, const std::vector<OwnerChange>& changes);
altovirt::Result<std::vector<OwnerChange>> load_owner_changes(const std::string& dir);

// In the forked child, before exec; returns -errno's message on failure (the child then exits).
altovirt::Status become(const VmUser& user, uint64_t memlock_bytes);

}  // namespace altoctl

#include "vm_user.h"

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "altovirt/base/files.h"
#include "altovirt/host/pci_address.h"
#include "altovirt/host/net_tap.h"
#include "altovirt/host/pci_device.h"
#include "vm_args.h"

namespace altoctl {

using namespace altovirt;
using json = nlohmann::json;

namespace {

constexpr const char* kDefaultUser = "altovirt";

std::optional<gid_t> group_id(const char* name) {
  if (const group* g = ::getgrnam(name)) return g->gr_gid;
  return std::nullopt;
}

// Records `path`'s owner and mode, then gives it to uid:gid with `mode` (0: keep the mode).
Status take(std::vector<OwnerChange>& changes, const std::string& path, uid_t uid, gid_t gid, mode_t mode) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fail_errno(errno, "{}", path);
  changes.push_back({path, st.st_uid, st.st_gid, static_cast<mode_t>(st.st_mode & 07777)});
  if (::chown(path.c_str(), uid, gid) != 0) return fail_errno(errno, "giving {} to uid {}", path, uid);
  if (mode != 0 && ::chmod(path.c_str(), mode) != 0) return fail_errno(errno, "chmod {} {:o}", path, mode);
  return ok();
}

// A node all domains share: group kvm, group read-write (never taken back: other VMs use it).
Status share(const std::string& path, gid_t kvm) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return ok();  // not on this host: the device kind says so if needed
  if (st.st_gid == kvm && (st.st_mode & 060) == 060) return ok();
  if (::chown(path.c_str(), static_cast<uid_t>(-1), kvm) != 0) return fail_errno(errno, "chgrp kvm {}", path);
  if (::chmod(path.c_str(), (st.st_mode & 07777) | 060) != 0) return fail_errno(errno, "chmod g+rw {}", path);
  return ok();
}

// /sys/class/net/TAP/owner or group: a number, -1 for none.
int64_t tap_attr(const std::string& tap, const char* attr) {
  auto text = read_file(fmt::format("/sys/class/net/{}/{}", tap, attr));
  if (!text) return -1;
  try {
    return std::stoll(*text);
  } catch (...) {
    return -1;
  }
}

}  // namespace

Status take_for(std::vector<OwnerChange>& changes, const VmUser& user, const std::string& path) {
  return take(changes, path, user.uid, user.gid, 0);
}

Status take_tap(std::vector<OwnerChange>& changes, const VmUser& user, const std::string& tap, bool multi_queue) {
  OwnerChange c;
  c.tap = tap;
  c.multi_queue = multi_queue;
  c.tap_uid = tap_attr(tap, "owner");
  c.tap_gid = tap_attr(tap, "group");
  AV_TRY(host::set_tap_owner(tap, multi_queue, user.uid, user.gid));
  changes.push_back(c);
  return ok();
}

std::optional<VmUser> user_of_domain(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || st.st_uid == 0) return std::nullopt;
  VmUser u;
  u.uid = st.st_uid;
  u.gid = st.st_gid;
  if (const passwd* pw = ::getpwuid(st.st_uid)) u.name = pw->pw_name;
  if (auto kvm = group_id("kvm")) u.groups.push_back(*kvm);
  return u;
}

Result<std::optional<VmUser>> resolve_vm_user(const std::string& asked) {
  std::string name = asked;
  if (name.empty())
    if (const char* env = std::getenv("ALTOVIRT_USER")) name = env;
  bool explicit_user = !name.empty();
  if (name.empty()) name = kDefaultUser;
  if (name == "root") return std::optional<VmUser>();
  const passwd* pw = ::getpwnam(name.c_str());
  if (pw == nullptr) {
    if (!explicit_user) return std::optional<VmUser>();  // no such system user: root, as before
    return fail("user '{}' does not exist; create it (useradd --system --no-create-home --shell /usr/sbin/nologin {}) "
                "or name another with --user",
                name, name);
  }
  if (pw->pw_uid == 0) return std::optional<VmUser>();
  VmUser u{name, pw->pw_uid, pw->pw_gid, {}};
  if (auto kvm = group_id("kvm")) u.groups.push_back(*kvm);
  return std::optional<VmUser>(u);
}

Result<std::vector<OwnerChange>> grant(const host::SysfsRoot& sys, const VmUser& user, const config::DomainConfig& c,
                                       const std::string& dir) {
  std::vector<OwnerChange> changes;
  auto undo = [&](Error e) -> Result<std::vector<OwnerChange>> {
    restore(changes);
    return std::unexpected(std::move(e));
  };
  if (auto kvm = group_id("kvm")) {
    for (const char* node : {"/dev/kvm", "/dev/vhost-net", "/dev/vhost-vsock", "/dev/net/tun"})
      if (auto s = share(node, *kvm); !s) return undo(s.error());
  }
  if (auto s = take(changes, dir, user.uid, user.gid, 0700); !s) return undo(s.error());
  for (const auto& h : c.hostdevs) {
    auto a = host::parse_pci_address(h.source.to_string());
    if (!a) return undo(a.error());
    auto group = host::iommu_group_of(sys, *a);
    if (!group) return undo(group.error());
    if (!*group) return undo(Error(fmt::format("<hostdev> {} has no IOMMU group", a->str())));
    if (auto s = take(changes, fmt::format("/dev/vfio/{}", **group), user.uid, user.gid, 0); !s) return undo(s.error());
  }
  for (const auto& d : c.disks)
    if (auto s = take(changes, d.source, user.uid, user.gid, 0); !s) return undo(s.error());
  for (const auto& n : c.interfaces)
    if (auto s = take_tap(changes, user, n.target, n.queues > 1); !s) return undo(s.error());
  if (c.memory_backing && c.memory_backing->hugepages) {
    // altovirt makes its RAM file in the domain's own directory on the hugetlbfs mount (as libvirt
    // does for QEMU under <mount>/libvirt/qemu); vm_args.h names the same directory.
    std::string d = hugepage_dir(c);
    if (auto m = make_dirs(d); !m) return undo(m.error());
    if (auto s = take(changes, d, user.uid, user.gid, 0700); !s) return undo(s.error());
  }
  if (c.serial && c.serial->type == config::Serial::Type::file) {
    if (!path_exists(c.serial->path))
      if (auto w = write_file_atomic(c.serial->path, ""); !w) return undo(w.error());
    if (auto s = take(changes, c.serial->path, user.uid, user.gid, 0); !s) return undo(s.error());
  }
  return changes;
}

std::vector<std::string> restore(const std::vector<OwnerChange>& changes) {
  std::vector<std::string> problems;
  for (auto it = changes.rbegin(); it != changes.rend(); ++it) {
    if (!it->tap.empty()) {
      if (host::is_tap(it->tap))
        if (auto s = host::set_tap_owner(it->tap, it->multi_queue, it->tap_uid, it->tap_gid); !s)
          problems.push_back(s.error().message());
      continue;
    }
    if (::chown(it->path.c_str(), it->uid, it->gid) != 0 && errno != ENOENT)
      problems.push_back(fmt::format("{}: chown back to {}:{}: {}", it->path, it->uid, it->gid, std::strerror(errno)));
    else if (::chmod(it->path.c_str(), it->mode) != 0 && errno != ENOENT)
      problems.push_back(fmt::format("{}: chmod back to {:o}: {}", it->path, it->mode, std::strerror(errno)));
  }
  return problems;
}

Status save_owner_changes(const std::string& dir, const std::vector<OwnerChange>& changes) {
  json j = json::array();
  for (const auto& c : changes)
    j.push_back({{"path", c.path}, {"uid", c.uid}, {"gid", c.gid}, {"mode", c.mode}, {"tap", c.tap},
                 {"multi_queue", c.multi_queue}, {"tap_uid", c.tap_uid}, {"tap_gid", c.tap_gid}});
  return write_file_atomic(dir + "/owners.json", j.dump(1) + "\n");
}

Result<std::vector<OwnerChange>> load_owner_changes(const std::string& dir) {
  std::string file = dir + "/owners.json";
  if (!path_exists(file)) return std::vector<OwnerChange>();
  AV_TRY_ASSIGN(std::string text, read_file(file));
  std::vector<OwnerChange> out;
  try {
    for (const auto& e : json::parse(text))
      out.push_back({e.at("path").get<std::string>(), e.at("uid").get<uid_t>(), e.at("gid").get<gid_t>(),
                     e.at("mode").get<mode_t>(), e.value("tap", std::string()), e.value("multi_queue", false),
                     e.value("tap_uid", int64_t{-1}), e.value("tap_gid", int64_t{-1})});
  } catch (const json::exception& e) {
    return fail("{}: {}", file, e.what());
  }
  return out;
}

Status become(const VmUser& user, uint64_t memlock_bytes) {
  // As root, before giving it up: VFIO accounts the pinned guest RAM against RLIMIT_MEMLOCK.
  rlimit lim{memlock_bytes, memlock_bytes};
  if (::setrlimit(RLIMIT_MEMLOCK, &lim) != 0) return fail_errno(errno, "setrlimit(RLIMIT_MEMLOCK, {})", memlock_bytes);
  if (::setgroups(user.groups.size(), user.groups.data()) != 0) return fail_errno(errno, "setgroups");
  if (::setresgid(user.gid, user.gid, user.gid) != 0) return fail_errno(errno, "setresgid({})", user.gid);
  // All three uids non-zero: the kernel clears every capability (capabilities(7)).
  if (::setresuid(user.uid, user.uid, user.uid) != 0) return fail_errno(errno, "setresuid({})", user.uid);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return fail_errno(errno, "PR_SET_NO_NEW_PRIVS");
  return ok();
}

}  // namespace altoctl

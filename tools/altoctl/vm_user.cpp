#include "vm_user.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "altovirt/base/fd.h"
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

// The permission class the kernel applies to `u` for a file (owner, else group, else other; only
// the first that matches counts) and whether it grants all of `bits` (4 read, 2 write, 1 search).
bool permits(const struct stat& st, const VmUser& u, unsigned bits) {
  unsigned shift = 0;
  if (st.st_uid == u.uid)
    shift = 6;
  else if (st.st_gid == u.gid || std::find(u.groups.begin(), u.groups.end(), st.st_gid) != u.groups.end())
    shift = 3;
  return ((st.st_mode >> shift) & bits) == bits;
}

// Records `path`'s owner and mode (persisted before anything changes), then gives it to the user
// with `mode` (0: keep the mode). The file is opened without following a symbolic link in its
// last component and changed through that fd, so that a link swapped in cannot redirect root's
// chown (O_PATH, fchownat(AT_EMPTY_PATH)); only regular files, directories and character/block
// devices are taken. A path the user owns already is left alone and not recorded.
Status take(std::vector<OwnerChange>& changes, const std::string& path, const VmUser& u, mode_t mode,
            const PersistChanges& persist) {
  UniqueFd fd(::open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return fail_errno(errno, "{}", path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail_errno(errno, "{}", path);
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) && !S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
    return fail("{}: not a file, directory or device (a symbolic link?); give the real path", path);
  if (st.st_uid == u.uid) return ok();
  OwnerChange c;
  c.path = path;
  c.uid = st.st_uid;
  c.gid = st.st_gid;
  c.mode = static_cast<mode_t>(st.st_mode & 07777);
  c.dev = st.st_dev;
  c.ino = st.st_ino;
  c.given_uid = u.uid;
  changes.push_back(c);
  if (auto w = persist(changes); !w) {
    changes.pop_back();
    return w;
  }
  if (::fchownat(fd.get(), "", u.uid, u.gid, AT_EMPTY_PATH) != 0) return fail_errno(errno, "giving {} to uid {}", path, u.uid);
  if (mode != 0 && ::chmod(fmt::format("/proc/self/fd/{}", fd.get()).c_str(), mode) != 0)
    return fail_errno(errno, "chmod {} {:o}", path, mode);
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

// Removes what is in directory fd `dir` (one level: altovirt makes no directories), never following a link.
void clear_directory(int dir) {
  int copy = ::dup(dir);
  if (copy < 0) return;
  DIR* d = ::fdopendir(copy);
  if (d == nullptr) {
    ::close(copy);
    return;
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d))
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.emplace_back(e->d_name);
  ::closedir(d);
  for (const auto& n : names)
    if (::unlinkat(dir, n.c_str(), 0) != 0 && errno == EISDIR) (void)::unlinkat(dir, n.c_str(), AT_REMOVEDIR);
}

}  // namespace

Status make_vmm_dir(const std::string& vmm, const std::optional<VmUser>& user) {
  UniqueFd old(::open(vmm.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (old) {
    clear_directory(old.get());
    old.reset();
    if (::rmdir(vmm.c_str()) != 0) return fail_errno(errno, "removing {} (left by the domain's last run); remove it by hand", vmm);
  } else if (errno == ENOTDIR || errno == ELOOP) {
    (void)::unlink(vmm.c_str());  // a file or link in its place
  }
  // Made by root inside root's directory: nobody can have swapped anything in between.
  if (::mkdir(vmm.c_str(), 0700) != 0) return fail_errno(errno, "creating {}", vmm);
  if (user && ::chown(vmm.c_str(), user->uid, user->gid) != 0) return fail_errno(errno, "giving {} to {}", vmm, user->name);
  return ok();
}

Status take_for(std::vector<OwnerChange>& changes, const VmUser& user, const std::string& path,
                const PersistChanges& persist) {
  return take(changes, path, user, 0, persist);
}

Status take_tap(std::vector<OwnerChange>& changes, const VmUser& user, const std::string& tap, bool multi_queue,
                const PersistChanges& persist) {
  OwnerChange c;
  c.tap = tap;
  c.multi_queue = multi_queue;
  c.tap_uid = tap_attr(tap, "owner");
  c.tap_gid = tap_attr(tap, "group");
  changes.push_back(c);
  if (auto w = persist(changes); !w) {
    changes.pop_back();
    return w;
  }
  return host::set_tap_owner(tap, multi_queue, user.uid, user.gid);
}

std::optional<VmUser> user_of_domain(const std::string& vmm_dir) {
  struct stat st {};
  if (::lstat(vmm_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid == 0) return std::nullopt;
  VmUser u;
  u.uid = st.st_uid;
  u.gid = st.st_gid;
  if (const passwd* pw = ::getpwuid(st.st_uid)) u.name = pw->pw_name;
  if (auto kvm = group_id("kvm")) u.groups.push_back(*kvm);
  return u;
}

Status check_reachable(const VmUser& u, const std::string& path, bool write) {
  std::string full = path;
  if (!full.starts_with('/')) {
    std::error_code ec;
    full = std::filesystem::absolute(path, ec).string();
  }
  auto blocked = [&](const std::string& what, const std::string& fix) {
    return fail("altovirt runs as user '{}' (uid {}), which cannot {}; {}, or run it as root (--user root)", u.name, u.uid,
                what, fix);
  };
  for (size_t slash = full.find('/'); slash != std::string::npos; slash = full.find('/', slash + 1)) {
    std::string dir = slash == 0 ? "/" : full.substr(0, slash);
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return ok();  // missing: opening it says so
    if (!permits(st, u, 1))
      return blocked(fmt::format("reach {}: directory {} is not searchable by it", path, dir),
                     fmt::format("let it search the directory (chmod o+x {}), move the file", dir));
  }
  struct stat st {};
  if (::stat(full.c_str(), &st) != 0) return ok();
  unsigned bits = write ? 6 : 4;
  if (!permits(st, u, bits))
    return blocked(fmt::format("{} {}", write ? "read and write" : "read", path),
                   fmt::format("give it access (chown or chmod {} {})", write ? "o+rw" : "o+r", path));
  return ok();
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
  if (pw->pw_gid == 0)
    return fail("user '{}' has root's group (gid 0) as its group, which would give altovirt every file of group root; "
                "give it a group of its own (usermod -g GROUP {})",
                name, name);
  VmUser u{name, pw->pw_uid, pw->pw_gid, {}};
  if (auto kvm = group_id("kvm")) u.groups.push_back(*kvm);
  return std::optional<VmUser>(u);
}

Result<std::vector<OwnerChange>> grant(const host::SysfsRoot& sys, const VmUser& user, const config::DomainConfig& c,
                                       const PersistChanges& persist) {
  std::vector<OwnerChange> changes;
  auto undo = [&](Error e) -> Result<std::vector<OwnerChange>> {
    restore(changes);
    (void)persist({});
    return std::unexpected(std::move(e));
  };
#define AV_GRANT(expr)                          \
  if (auto s_ = (expr); !s_) return undo(s_.error())
  if (auto kvm = group_id("kvm")) {
    for (const char* node : {"/dev/kvm", "/dev/vhost-net", "/dev/vhost-vsock", "/dev/net/tun"}) AV_GRANT(share(node, *kvm));
  }
  for (const auto& h : c.hostdevs) {
    auto a = host::parse_pci_address(h.source.to_string());
    if (!a) return undo(a.error());
    auto group = host::iommu_group_of(sys, *a);
    if (!group) return undo(group.error());
    if (!*group) return undo(Error(fmt::format("<hostdev> {} has no IOMMU group", a->str())));
    AV_GRANT(take(changes, fmt::format("/dev/vfio/{}", **group), user, 0, persist));
  }
  for (const auto& d : c.disks) {
    // A read-only image the user can read already (a shared base image) stays as it is: several
    // domains may use it at once, and none should take it from the others at its end.
    struct stat st {};
    bool readable = d.readonly && ::stat(d.source.c_str(), &st) == 0 && permits(st, user, 4);
    if (!readable) AV_GRANT(take(changes, d.source, user, 0, persist));
    AV_GRANT(check_reachable(user, d.source, !d.readonly));
  }
  for (const auto& n : c.interfaces) AV_GRANT(take_tap(changes, user, n.target, n.queues > 1, persist));
  if (c.memory_backing && c.memory_backing->hugepages) {
    // altovirt makes its RAM file in the domain's own directory on the hugetlbfs mount (as libvirt
    // does for QEMU under <mount>/libvirt/qemu); vm_args.h names the same directory. The
    // supervisor made it (and checked the mount).
    AV_GRANT(take(changes, hugepage_dir(c), user, 0700, persist));
  }
  if (c.serial && c.serial->type == config::Serial::Type::file) {
    if (!path_exists(c.serial->path)) AV_GRANT(write_file_atomic(c.serial->path, ""));
    AV_GRANT(take(changes, c.serial->path, user, 0, persist));
    AV_GRANT(check_reachable(user, c.serial->path, true));
  }
  // The firmware's variable store is the domain's own and written by the firmware.
  if (c.firmware && c.firmware->nvram && !c.firmware->nvram_path.empty()) {
    AV_GRANT(take(changes, c.firmware->nvram_path, user, 0, persist));
    AV_GRANT(check_reachable(user, c.firmware->nvram_path, true));
  }
  // Shared and only read: the user must be able to read them as they are.
  if (c.firmware) AV_GRANT(check_reachable(user, c.firmware->loader, false));
  if (!c.kernel.empty()) AV_GRANT(check_reachable(user, c.kernel, false));
  if (!c.initrd.empty()) AV_GRANT(check_reachable(user, c.initrd, false));
#undef AV_GRANT
  return changes;
}

std::vector<std::string> restore(const std::vector<OwnerChange>& changes) {
  std::vector<std::string> problems;
  for (auto it = changes.rbegin(); it != changes.rend(); ++it) {
    if (!it->tap.empty()) {
      // A tap cannot be given "no owner" back (the kernel refuses an invalid uid): root's, which
      // allows the same, only root (CAP_NET_ADMIN), to attach.
      if (host::is_tap(it->tap))
        if (auto s = host::set_tap_owner(it->tap, it->multi_queue, std::max<int64_t>(it->tap_uid, 0),
                                         std::max<int64_t>(it->tap_gid, 0));
            !s)
          problems.push_back(s.error().message());
      continue;
    }
    UniqueFd fd(::open(it->path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
      if (errno != ENOENT) problems.push_back(fmt::format("{}: {}", it->path, std::strerror(errno)));
      continue;
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) continue;
    if ((it->ino != 0 && (st.st_dev != it->dev || st.st_ino != it->ino)) ||
        (it->given_uid >= 0 && st.st_uid != static_cast<uid_t>(it->given_uid))) {
      problems.push_back(fmt::format("{} is not the file that was given to altovirt's user, or no longer the user's "
                                     "(replaced or changed while the domain ran); left as it is: check it",
                                     it->path));
      continue;
    }
    if (::fchownat(fd.get(), "", it->uid, it->gid, AT_EMPTY_PATH) != 0)
      problems.push_back(fmt::format("{}: chown back to {}:{}: {}", it->path, it->uid, it->gid, std::strerror(errno)));
    else if (::chmod(fmt::format("/proc/self/fd/{}", fd.get()).c_str(), it->mode) != 0)
      problems.push_back(fmt::format("{}: chmod back to {:o}: {}", it->path, it->mode, std::strerror(errno)));
  }
  return problems;
}

Status save_owner_changes(const std::string& dir, const std::vector<OwnerChange>& changes) {
  json j = json::array();
  for (const auto& c : changes)
    j.push_back({{"path", c.path}, {"uid", c.uid}, {"gid", c.gid}, {"mode", c.mode}, {"dev", c.dev}, {"ino", c.ino},
                 {"given_uid", c.given_uid}, {"tap", c.tap},
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
                     e.at("mode").get<mode_t>(), e.value("dev", uint64_t{0}), e.value("ino", uint64_t{0}),
                     e.value("given_uid", int64_t{-1}),
                     e.value("tap", std::string()), e.value("multi_queue", false), e.value("tap_uid", int64_t{-1}),
                     e.value("tap_gid", int64_t{-1})});
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

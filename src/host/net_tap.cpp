#include "altovirt/host/net_tap.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "altovirt/base/fd.h"

namespace altovirt::host {
namespace {

// Opens (creating when missing) tap `name`; the name the kernel gave it goes to `actual` (the same,
// unless `name` is a template such as "vnet%d", for which the kernel picks the first free number).
Result<UniqueFd> open_tun(const std::string& name, bool multi_queue, std::string* actual = nullptr) {
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
  if (!fd) {
    int err = errno;
    if (err == ENOENT) return fail("tap {}: /dev/net/tun does not exist: load the tun module (modprobe tun)", name);
    return fail_errno(err, "tap {}: cannot open /dev/net/tun", name);
  }
  struct ifreq ifr {};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (multi_queue ? IFF_MULTI_QUEUE : 0);
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) < 0) {
    int err = errno;
    if (err == EBUSY) return fail("tap {}: in use by another process, or opened with another queue mode", name);
    return fail_errno(err, "tap {}: TUNSETIFF", name);
  }
  if (actual) *actual = ifr.ifr_name;
  return fd;
}

Result<UniqueFd> inet_socket() {
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) return fail_errno(errno, "socket(AF_INET)");
  return s;
}

}  // namespace

bool net_interface_exists(const std::string& name, const std::string& sysfs_root) {
  return !name.empty() && std::filesystem::exists(sysfs_root + "/class/net/" + name);
}

bool is_bridge(const std::string& name, const std::string& sysfs_root) {
  return !name.empty() && std::filesystem::exists(sysfs_root + "/class/net/" + name + "/bridge");
}

bool is_tap(const std::string& name, const std::string& sysfs_root) {
  return !name.empty() && std::filesystem::exists(sysfs_root + "/class/net/" + name + "/tun_flags");
}

Result<std::string> create_tap(const std::string& name, bool multi_queue) {
  std::string actual;
  AV_TRY_ASSIGN(UniqueFd fd, open_tun(name, multi_queue, &actual));
  if (::ioctl(fd.get(), TUNSETPERSIST, 1) < 0) return fail_errno(errno, "tap {}: TUNSETPERSIST", actual);
  return actual;
}

Status delete_tap(const std::string& name, bool multi_queue) {
  AV_TRY_ASSIGN(UniqueFd fd, open_tun(name, multi_queue));
  // Not persistent any more: the interface goes with this (last) fd.
  if (::ioctl(fd.get(), TUNSETPERSIST, 0) < 0) return fail_errno(errno, "tap {}: TUNSETPERSIST 0", name);
  return ok();
}

Status set_tap_owner(const std::string& name, bool multi_queue, int64_t uid, int64_t gid) {
  AV_TRY_ASSIGN(UniqueFd fd, open_tun(name, multi_queue));
  if (::ioctl(fd.get(), TUNSETOWNER, static_cast<unsigned long>(uid)) < 0)
    return fail_errno(errno, "tap {}: TUNSETOWNER {}", name, uid);
  if (::ioctl(fd.get(), TUNSETGROUP, static_cast<unsigned long>(gid)) < 0)
    return fail_errno(errno, "tap {}: TUNSETGROUP {}", name, gid);
  return ok();
}

Status set_link_up(const std::string& name) {
  AV_TRY_ASSIGN(UniqueFd s, inet_socket());
  struct ifreq ifr {};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (::ioctl(s.get(), SIOCGIFFLAGS, &ifr) < 0) return fail_errno(errno, "{}: SIOCGIFFLAGS", name);
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) < 0) return fail_errno(errno, "{}: cannot set the link up", name);
  return ok();
}

Status add_to_bridge(const std::string& bridge, const std::string& name) {
  unsigned index = ::if_nametoindex(name.c_str());
  if (index == 0) return fail("{}: no such interface", name);
  AV_TRY_ASSIGN(UniqueFd s, inet_socket());
  struct ifreq ifr {};
  std::strncpy(ifr.ifr_name, bridge.c_str(), IFNAMSIZ - 1);
  ifr.ifr_ifindex = static_cast<int>(index);
  if (::ioctl(s.get(), SIOCBRADDIF, &ifr) < 0) return fail_errno(errno, "cannot add {} to bridge {}", name, bridge);
  return ok();
}

}  // namespace altovirt::host

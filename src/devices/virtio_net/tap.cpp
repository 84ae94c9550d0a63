#include "altovirt/virtio_net/tap.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include "altovirt/virtio_net/uapi.h"
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "altovirt/base/log.h"

namespace altovirt::virtio_net {
namespace {

constexpr const char* kTunDevice = "/dev/net/tun";

uint64_t bit(unsigned b) { return 1ull << b; }

}  // namespace

Result<std::unique_ptr<Tap>> Tap::open(const std::string& ifname, unsigned queues) {
  if (ifname.empty() || ifname.size() > kMaxNameLength)
    return fail("tap name '{}': 1..{} characters (IFNAMSIZ)", ifname, kMaxNameLength);
  if (queues == 0) return fail("tap {}: queues must be at least 1", ifname);
  bool existed = ::if_nametoindex(ifname.c_str()) != 0;
  std::vector<UniqueFd> fds;
  for (unsigned q = 0; q < queues; ++q) {
    UniqueFd fd(::open(kTunDevice, O_RDWR | O_NONBLOCK | O_CLOEXEC));
    if (!fd) {
      int err = errno;
      if (err == ENOENT) return fail("tap {}: {} does not exist: load the tun module (modprobe tun)", ifname, kTunDevice);
      return fail_errno(err, "tap {}: cannot open {} (altovirt needs CAP_NET_ADMIN)", ifname, kTunDevice);
    }
    struct ifreq ifr {};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (queues > 1 ? IFF_MULTI_QUEUE : 0);
    std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
    if (::ioctl(fd.get(), TUNSETIFF, &ifr) < 0) {
      int err = errno;
      if (err == EBUSY)
        return fail("tap {}: in use by another process, or its queue mode differs (queues={})", ifname, queues);
      if (err == EPERM) return fail("tap {}: not permitted (altovirt needs CAP_NET_ADMIN, or the tap's owner)", ifname);
      if (err == EINVAL && existed) {
        // tun_set_iff refuses an existing tap opened in the other queue mode with EINVAL too; a
        // tun/tap has /sys/class/net/NAME/tun_flags, any other interface does not.
        if (::access(fmt::format("/sys/class/net/{}/tun_flags", ifname).c_str(), F_OK) != 0)
          return fail("tap {}: the interface exists and is not a tap", ifname);
        if (queues > 1)
          return fail("tap {} exists as a single-queue tap: queues>1 needs one made with 'ip tuntap add dev {} mode tap multi_queue'",
                      ifname, ifname);
        return fail("tap {} exists as a multi-queue tap: give queues=N (N>1), or recreate it without multi_queue", ifname);
      }
      return fail_errno(err, "tap {}: TUNSETIFF", ifname);
    }
    int hdr = kVnetHeaderSize;
    if (::ioctl(fd.get(), TUNSETVNETHDRSZ, &hdr) < 0) return fail_errno(errno, "tap {}: TUNSETVNETHDRSZ {}", ifname, hdr);
    fds.push_back(std::move(fd));
  }
  // Which offloads the kernel takes: all of them, or all but UFO (removed in 4.14, back as a
  // compatibility path since); none is always accepted.
  unsigned supported = 0;
  for (unsigned candidate : {TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_UFO,
                             TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN, TUN_F_CSUM}) {
    if (::ioctl(fds[0].get(), TUNSETOFFLOAD, candidate) == 0) {
      supported = candidate;
      break;
    }
  }
  // Until the guest says otherwise, hand it plain frames only.
  for (auto& fd : fds) (void)::ioctl(fd.get(), TUNSETOFFLOAD, 0u);
  auto tap = std::unique_ptr<Tap>(new Tap(ifname, std::move(fds), supported, !existed));
  tap->active_ = queues;
  return tap;
}

uint64_t Tap::offload_features() const {
  // What the guest may send (HOST_*: the tap takes GSO frames and partial checksums from any
  // writer) and what it may be given (GUEST_*: only what TUNSETOFFLOAD accepts).
  uint64_t f = bit(VIRTIO_NET_F_CSUM) | bit(VIRTIO_NET_F_HOST_TSO4) | bit(VIRTIO_NET_F_HOST_TSO6) |
               bit(VIRTIO_NET_F_HOST_ECN);
  if (supported_ & TUN_F_UFO) f |= bit(VIRTIO_NET_F_HOST_UFO);
  if (supported_ & TUN_F_CSUM) f |= bit(VIRTIO_NET_F_GUEST_CSUM);
  if (supported_ & TUN_F_TSO4) f |= bit(VIRTIO_NET_F_GUEST_TSO4);
  if (supported_ & TUN_F_TSO6) f |= bit(VIRTIO_NET_F_GUEST_TSO6);
  if (supported_ & TUN_F_TSO_ECN) f |= bit(VIRTIO_NET_F_GUEST_ECN);
  if (supported_ & TUN_F_UFO) f |= bit(VIRTIO_NET_F_GUEST_UFO);
  return f;
}

unsigned Tap::tun_offloads(uint64_t g) {
  // 5.1.3.1: the GUEST_TSO/ECN/UFO bits require GUEST_CSUM; without it nothing is offloaded.
  if (!(g & bit(VIRTIO_NET_F_GUEST_CSUM))) return 0;
  unsigned flags = TUN_F_CSUM;
  if (g & bit(VIRTIO_NET_F_GUEST_TSO4)) flags |= TUN_F_TSO4;
  if (g & bit(VIRTIO_NET_F_GUEST_TSO6)) flags |= TUN_F_TSO6;
  if (g & bit(VIRTIO_NET_F_GUEST_ECN)) flags |= TUN_F_TSO_ECN;
  if (g & bit(VIRTIO_NET_F_GUEST_UFO)) flags |= TUN_F_UFO;
  return flags;
}

Status Tap::set_offloads(uint64_t guest_features) {
  unsigned flags = tun_offloads(guest_features) & supported_;
  for (auto& fd : fds_)
    if (::ioctl(fd.get(), TUNSETOFFLOAD, flags) < 0) return fail_errno(errno, "tap {}: TUNSETOFFLOAD {:#x}", name_, flags);
  return ok();
}

Status Tap::set_active_pairs(unsigned pairs) {
  // A detached queue gets no frames from the kernel's flow steering (which would otherwise wait
  // in a queue the guest does not serve); single-queue taps have nothing to switch.
  if (fds_.size() < 2 || pairs == active_) return ok();
  for (unsigned q = 0; q < fds_.size(); ++q) {
    struct ifreq ifr {};
    ifr.ifr_flags = q < pairs ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
    if (::ioctl(fds_[q].get(), TUNSETQUEUE, &ifr) < 0 && errno != EINVAL)
      return fail_errno(errno, "tap {}: TUNSETQUEUE queue {}", name_, q);
  }
  active_ = pairs;
  return ok();
}

}  // namespace altovirt::virtio_net

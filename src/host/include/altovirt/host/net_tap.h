// Host network interfaces for a VM's NICs: persistent taps that altoctl creates before altovirt
// starts and deletes when the domain ends, and host bridges they are put on (libvirt's
// <interface type='ethernet'|'bridge'>). Plain kernel interfaces: /dev/net/tun (TUNSETIFF,
// TUNSETPERSIST), SIOCSIFFLAGS and SIOCBRADDIF on an AF_INET socket, /sys/class/net.
//
// Threading: stateless functions; every fd is closed before a function returns.
#pragma once

#include <cstdint>
#include <string>

#include "altovirt/base/error.h"

namespace altovirt::host {

bool net_interface_exists(const std::string& name, const std::string& sysfs_root = "/sys");
bool is_bridge(const std::string& name, const std::string& sysfs_root = "/sys");
bool is_tap(const std::string& name, const std::string& sysfs_root = "/sys");
// Creates tap `name` persistent (it outlives the fd), with a vnet header and, when
// `multi_queue`, IFF_MULTI_QUEUE (altovirt opens it the same way); returns its name. `name` may be a
// template such as "vnet%d": the kernel then picks the first free number in the same call that
// creates the tap, so two callers at once never get the same name.
Result<std::string> create_tap(const std::string& name, bool multi_queue);
// Removes a persistent tap created with the same `multi_queue`.
Status delete_tap(const std::string& name, bool multi_queue);
// Gives a persistent tap to uid/gid (TUNSETOWNER, TUNSETGROUP; -1 leaves one as it is): that user
// may then attach to it without CAP_NET_ADMIN (the kernel's tun_not_capable()).
Status set_tap_owner(const std::string& name, bool multi_queue, int64_t uid, int64_t gid);
// Sets IFF_UP.
Status set_link_up(const std::string& name);
// Enslaves `name` to bridge `bridge` (SIOCBRADDIF).
Status add_to_bridge(const std::string& bridge, const std::string& name);

}  // namespace altovirt::host

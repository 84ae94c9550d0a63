// altoctl's commands: each takes parsed options, does the work through the host layer, prints what
// virsh would (plus details) and returns the process exit status (0 ok, 1 the operation failed).
//
// Threading: single-threaded tool.
#pragma once

#include <optional>
#include <string>

#include "altovirt/base/error.h"

namespace altoctl {

inline constexpr int kExitOk = 0;
// Domain XML files (definitions, running domains' XML, kept edits) are root's alone, as libvirt keeps
// /etc/libvirt/qemu/*.xml: they may hold a <graphics passwd>.
inline constexpr unsigned kDomainXmlMode = 0600;
inline constexpr int kExitFailed = 1;

// Prints "error: MESSAGE" on stderr and returns kExitFailed: how every verb reports a failed operation.
int report(const altovirt::Error& e);
inline constexpr int kExitUsage = 2;

struct Global {
  std::string state_dir;   // "" = default (ALTOVIRT_STATE_DIR or /run/altovirt)
  std::string sysfs_root = "/";
  std::string config_dir;  // "" = default (ALTOVIRT_CONFIG_DIR or /etc/altovirt/domains)
  std::string vm_user;     // "" = default ($ALTOVIRT_USER, else the user "altovirt" if it exists, else root)
};

int host_validate(const Global& g, const std::string& device, bool load_modules, bool json);
int nodedev_list(const Global& g, const std::string& cap, bool json);
int nodedev_detach(const Global& g, const std::string& device, const std::string& driver, bool group);
int nodedev_reattach(const Global& g, const std::string& device);
int nodedev_reset(const Global& g, const std::string& device);
int sriov_set(const Global& g, const std::string& pf, unsigned count, const std::string& autoprobe, bool vfio);
int sriov_list(const Global& g, const std::string& pf, bool json);

}  // namespace altoctl

// SysfsRoot: the host as the host layer sees it. Every path is an absolute host path ("/sys/bus/pci",
// "/proc/interrupts", "/dev/vfio/vfio") resolved under a configurable root: "/" on a real host, a
// temporary directory laid out like sysfs in unit tests.
//
// Every change the host layer makes to the kernel goes through the two virtual functions write() and
// load_module(). On a real host they write the sysfs attribute and run modprobe; a unit test's fake
// kernel overrides them and applies the effect the kernel would (bind, unbind, create VFs), because the
// real kernel reacts to these writes synchronously and a plain directory does not.
//
// Threading: not synchronised; use one SysfsRoot per thread. Concurrent processes are serialised by
// StateDir's lock, not here.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "altovirt/base/error.h"

namespace altovirt::host {

class SysfsRoot {
 public:
  explicit SysfsRoot(std::string root = "/");
  virtual ~SysfsRoot() = default;
  SysfsRoot(const SysfsRoot&) = delete;
  SysfsRoot& operator=(const SysfsRoot&) = delete;

  const std::string& root() const { return root_; }
  // True on the real host: only then may the host layer run programs (modprobe) or trust /dev nodes.
  bool is_system_root() const { return root_ == "/"; }
  // `host_path` ("/sys/...") under the root.
  std::string path(std::string_view host_path) const;

  bool exists(std::string_view host_path) const;
  // The attribute without its trailing newline.
  Result<std::string> read(std::string_view host_path) const;
  // The last component of a symlink's target (the driver of ".../driver", the group of ".../iommu_group").
  Result<std::string> link_name(std::string_view host_path) const;
  Result<std::vector<std::string>> list(std::string_view host_path) const;

  // One write of `data` to a sysfs attribute; the kernel acts on it.
  virtual Status write(std::string_view host_path, std::string_view data);
  // Loads a kernel module by running /sbin/modprobe (only on the real host: with any other root it
  // fails, since a module loaded for a test tree would change the real machine).
  virtual Status load_module(std::string_view module);

 private:
  std::string root_;
};

}  // namespace altovirt::host

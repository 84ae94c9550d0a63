// The VMs altoctl knows: running ones (and those that ran: their record stays, shut off) under the
// state directory, defined ones as XML files in the config directory.
//
// Layout:
//   <state>/vms/NAME/status.json   {"id", "name", "state", "supervisor_pid", "altovirt_pid", "pty",
//                                   "persistent", "message"} (written atomically)
//   <state>/vms/NAME/domain.xml    the domain as it was started (dumpxml of a running VM)
//   <state>/vms/NAME/owners.json   what the user altovirt runs as was given (vm_user.h)
//   <state>/vms/NAME/supervisor.log  the supervisor's own log
//   <state>/vms/NAME/vmm/          altovirt's own directory, the only one it may write (it runs as
//                                  the domain's user, vm_user.h; everything root acts on stays in
//                                  NAME/, root's): qmp.sock (QMP), altovirt.log (-D), altovirt.pid
//   <state>/next-id                the next domain id (virsh numbers running domains 1, 2, ...)
//   <config>/NAME.xml              defined (persistent) domains
//   <config>/autostart/NAME.xml    a symlink to ../NAME.xml: start NAME at host boot (as libvirt's
//                                  /etc/libvirt/qemu/autostart/); `altoctl recover --autostart` does
//
// Threading: plain functions; callers that change records hold the StateDir lock.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/host/state.h"

namespace altoctl {

enum class VmState { starting, running, paused, shutoff };
std::string state_name(VmState s);  // virsh's words: "running", "paused", "shut off"

// A tap the supervisor created for a NIC (libvirt's <interface> without an existing <target dev>):
// deleted when the domain ends, or by recover when the supervisor died first.
struct CreatedTap {
  std::string name;
  bool multi_queue = false;
};

struct VmStatus {
  unsigned id = 0;  // 0: none (shut off)
  std::string name;
  VmState state = VmState::shutoff;
  pid_t supervisor_pid = 0;
  pid_t altovirt_pid = 0;
  std::string pty;
  std::string vnc;  // where altovirt's VNC server listens ("127.0.0.1:5901", "unix:PATH"), "" for none
  bool persistent = false;
  std::string message;  // why it ended, for the log and domstate --reason
  std::vector<CreatedTap> taps;  // the taps its supervisor created, while the domain runs
};

struct VmPaths {
  std::string dir, status, xml, qmp, log, supervisor_log, pidfile;
  std::string vmm;  // altovirt's directory: qmp, log and pidfile are in it
};

class VmStore {
 public:
  VmStore(std::string state_dir, std::string config_dir)
      : state_dir_(std::move(state_dir)), config_dir_(std::move(config_dir)) {}
  const std::string& state_dir() const { return state_dir_; }
  const std::string& config_dir() const { return config_dir_; }

  VmPaths paths(const std::string& name) const;
  std::string defined_xml(const std::string& name) const { return config_dir_ + "/" + name + ".xml"; }

  altovirt::Result<std::optional<VmStatus>> load(const std::string& name) const;
  altovirt::Status save(const VmStatus& s) const;
  // Every VM with a record or a definition, sorted: running ones by id, then the others by name.
  altovirt::Result<std::vector<VmStatus>> all() const;
  // Looks a VM up by name or by id (as virsh does: a number is an id first).
  altovirt::Result<std::optional<VmStatus>> find(const std::string& name_or_id) const;
  // Hands out the next id (kept in <state>/next-id).
  altovirt::Result<unsigned> next_id() const;
  bool defined(const std::string& name) const;
  std::string autostart_link(const std::string& name) const { return config_dir_ + "/autostart/" + name + ".xml"; }
  // True when a defined domain is marked to start at host boot.
  bool autostart(const std::string& name) const;
  // Marks or unmarks a defined domain (`altoctl autostart [--disable]`).
  altovirt::Status set_autostart(const std::string& name, bool on) const;

 private:
  std::string state_dir_, config_dir_;
};

struct Global;
// The state and config directories as --state-dir/--config-dir, the environment or the defaults
// say, and the store over them.
std::string state_dir_of(const Global& g);
std::string config_dir_of(const Global& g);
VmStore store_of(const Global& g);
// The host-wide StateDir (its lock held while the object lives).
altovirt::Result<altovirt::host::StateDir> open_state(const Global& g);

// True when `pid` is a live process that is not a zombie.
bool process_running(pid_t pid);
// True when the record says the VM runs and its supervisor is alive.
bool is_active(const VmStatus& s);

// `virsh list` output: " Id   Name   State", a rule, one row per VM ("-" for the id of a VM that
// is not running).
std::string format_list(const std::vector<VmStatus>& vms);

// A domain name must be usable as a directory name.
altovirt::Status check_vm_name(const std::string& name);

}  // namespace altoctl

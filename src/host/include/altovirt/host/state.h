// StateDir: altovirt's record of what it changed on the host, in one directory (default /run/altovirt;
// ALTOVIRT_STATE_DIR or --state-dir override it).
//
//  - state.json: per device, the driver it had before altoctl first took it (so that reattach can give it
//    back), and which VM holds it (a claim: VM name and the pid of the process running it).
//  - lock: flock()ed exclusively for as long as a StateDir is open, so that two altoctl (or altovirt)
//    processes never interleave read-modify-write of state.json or of the devices themselves.
//
// Every change is written at once with write_file_atomic (temporary file, fsync, rename), so a crash
// leaves the old or the new state, never a mix. Callers record a device's original driver *before*
// touching the device, so a crash in the middle of a detach never loses it.
//
// A claim counts only while its pid is alive: a VM process that died without releasing its devices
// does not block them forever.
//
// Threading: one StateDir per process at a time (flock is per open file description: a second StateDir
// in the same process would block on the first). Not synchronised within the process.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "altovirt/base/error.h"
#include "altovirt/base/fd.h"
#include "altovirt/host/pci_address.h"

namespace altovirt::host {

struct DeviceClaim {
  std::string vm;
  pid_t pid = 0;
};

// ALTOVIRT_STATE_DIR if set and not empty, else /run/altovirt.
std::string default_state_dir();
// True when `pid` names a live process (kill(pid, 0) succeeds or fails only with EPERM).
bool pid_alive(pid_t pid);

class StateDir {
 public:
  // Creates the directory if needed, takes the lock (waiting for another holder) and loads state.json.
  // A state.json that is not valid is an error naming the file (nothing is overwritten).
  static Result<StateDir> open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  std::string state_file() const { return dir_ + "/state.json"; }

  // The driver recorded for `a` before altoctl first changed it ("" = it had none).
  std::optional<std::string> original_driver(const PciAddress& a) const;
  // Records `driver` as `a`'s original driver and saves, unless a record exists already and
  // `driver` is one altoctl itself may have put there ("" or a vfio driver, e.g. after an interrupted
  // detach): then the older record is the true original and is kept.
  Status record_original_driver(const PciAddress& a, const std::string& driver);
  // Drops the original-driver record of `a` (after a reattach) and saves.
  Status forget_device(const PciAddress& a);

  // The live claim on `a`, if any.
  std::optional<DeviceClaim> claim_of(const PciAddress& a) const;
  // Claims `a` for VM `vm` running as `pid`. Refused when another live VM holds it.
  Status claim(const PciAddress& a, const std::string& vm, pid_t pid);
  // Releases `vm`'s claim on `a` (no error when there is none).
  Status release(const PciAddress& a, const std::string& vm);
  // Claims whose process is gone (a VM that died without releasing its devices), for `altoctl
  // recover`. Their addresses are canonical.
  std::vector<std::pair<PciAddress, DeviceClaim>> stale_claims() const;
  // Refuses with an error naming the VM when `a` is claimed by a live VM. `what` is the verb ("detach").
  Status check_not_in_use(const PciAddress& a, std::string_view what) const;

 private:
  StateDir(std::string dir, UniqueFd lock) : dir_(std::move(dir)), lock_(std::move(lock)) {}
  Status load();
  Status save() const;

  struct Entry {
    std::optional<std::string> original_driver;
    std::optional<DeviceClaim> claim;
  };
  std::string dir_;
  UniqueFd lock_;
  std::map<std::string, Entry> devices_;  // by canonical address
};

}  // namespace altovirt::host

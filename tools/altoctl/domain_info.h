// What `dominfo`, `domblklist` and `domhostdev` print, as pure functions of a domain's record and XML (the verbs
// gather the live parts: state from QMP, CPU time from /proc, drivers from sysfs).
//
// Threading: plain values and stateless functions.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "altovirt/config/domain.h"
#include "vm_store.h"

namespace altoctl {

struct DomInfo {
  std::optional<unsigned> id;  // none when shut off ("-")
  std::string name;
  std::string uuid;  // "" when the domain has none (a transient domain created before UUIDs were given)
  VmState state = VmState::shutoff;
  unsigned vcpus = 1;
  uint64_t max_memory_kib = 0;
  uint64_t used_memory_kib = 0;
  std::optional<double> cpu_time_s;  // the VMM's CPU time, while it runs
  bool persistent = false;
  bool autostart = false;
};

// The fields from the record (`s`, with its live state `state`) and the domain XML (`c`).
DomInfo dominfo_of(const VmStatus& s, VmState state, const altovirt::config::DomainConfig& c, bool autostart);

// virsh's layout: "Key:" padded to 15 columns, then the value; a blank line at the end.
//   Id / Name / UUID / OS Type / State / CPU(s) / [CPU time] / Max memory / Used memory /
//   Persistent / Autostart
std::string format_dominfo(const DomInfo& info);

// One row per <hostdev>: " Type   Source   Managed   Alias   Host driver", in the style of virsh's
// domiflist/domblklist tables. `driver_of` names the driver a host address is bound to ("" none).
std::string format_hostdevs(const altovirt::config::DomainConfig& c,
                            const std::function<std::string(const std::string&)>& driver_of);

// virsh's domblklist: " Target   Source", a rule, one row per <disk> (target dev, image path).
std::string format_blklist(const altovirt::config::DomainConfig& c);

// The CPU time of process `pid` in seconds (utime + stime of /proc/PID/stat), if it can be read.
std::optional<double> process_cpu_seconds(pid_t pid);

}  // namespace altoctl

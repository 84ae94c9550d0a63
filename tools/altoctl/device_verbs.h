// attach-device and detach-device (virsh's verbs): FILE is one <hostdev>, <disk> or <interface>
// element; device_verbs.cpp says what changes where.
//
// Threading: single-threaded tool.
#pragma once

#include <string>

#include "commands.h"

namespace altoctl {

// virsh's --live, --config, --persistent (--current: none of them).
struct DeviceFlags {
  bool live = false;
  bool config = false;
  bool persistent = false;
};

int vm_attach_device(const Global& g, const std::string& name, const std::string& file, const DeviceFlags& flags);
int vm_detach_device(const Global& g, const std::string& name, const std::string& file, const DeviceFlags& flags);

}  // namespace altoctl
